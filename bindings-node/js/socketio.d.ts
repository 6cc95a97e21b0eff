// Types of `dashfeed/socketio` (bindings-node/js/socketio.js): the bridge from a dashfeed Hub to a
// socket.io 4 server.
import type { Auth, AuthOptions, Hub } from '../../index';

/** Options of `attachHub(io, hub, options)`. */
export interface BridgeOptions {
  /** JWT required: an `Auth`, or its options (`{ secret }` / `{ publicKey, algorithm }`). */
  auth?: Auth | AuthOptions;
  /** The namespace served when `io` is a Server (default `'/'`). */
  namespace?: string;
  /** Packets in a socket's engine.io buffer before the bridge waits for its 'drain' (default 64). */
  highWaterMark?: number;
  /** Unsent bytes in a socket's TCP socket before the bridge waits for its 'drain' (default 65 536). */
  highWaterBytes?: number;
  /** Client commands per socket: `[perSecond, burst]` (default [50, 100]; over it: `rate_limited`); `null`: unlimited. */
  messageRate?: [number, number] | null;
  /** Subscriptions per socket (default 64; one more is `too_many_subscriptions`). */
  maxSubscriptions?: number;
  /** Slow-consumer policy of each socket's hub subscription (default: the hub's). */
  policy?: 'conflate' | 'drop_oldest' | 'disconnect';
  /** Queue cap per subscription, messages (default: the hub's). */
  queue?: number;
  /** Queue cap per subscription, bytes (default: the hub's). */
  queueBytes?: number;
}

/** Counters of a bridge. */
export interface BridgeStats {
  /** Sockets connected since the bridge was attached. */
  sockets: number;
  /** Subscriptions made. */
  subscriptions: number;
  /** Hub messages written to sockets. */
  deliveries: number;
  /** socket.io packets encoded (once per message and series, whatever the number of sockets). */
  encodes: number;
  /** Times a socket's buffer reached the high-water mark (its messages then waited in the hub). */
  pauses: number;
  /** Direct socket writes (each carries every frame a socket got in one tick). */
  writes: number;
  /** Sockets connected now. */
  connected: number;
  /** Subscriptions open now. */
  open: number;
}

/** A bridge made by `attachHub`. */
export interface Bridge {
  readonly stats: BridgeStats;
  /** Ends every subscription of the bridge (sockets stay connected). */
  close(): void;
}

/** `initial-state`: the snapshot of a dashboard (`recovered: false` when a `since` could not be honoured). */
export interface InitialState {
  dashboard: string;
  epoch: string;
  seq: number;
  data: Record<string, unknown>;
  recovered?: false;
}

/**
 * `update`: one series of a publication, the reference notes' fields plus the resume point. A client
 * advances its resume point (`epoch`, `seq`) on the last part (`part === parts`).
 */
export interface Update {
  dashboard: string;
  metric: string;
  value: unknown;
  /** The event's own timestamp (reference layout), else the time it was sent, ms since the epoch. */
  timestamp: number;
  metadata: unknown;
  seq: number;
  epoch: string;
  /** Which series of the publication this is, from 1. */
  part: number;
  /** How many series the publication has. */
  parts: number;
}

/** `recovered`: a resume that lost nothing; `missed` publications follow. */
export interface Recovered {
  dashboard: string;
  epoch: string;
  seq: number;
  missed: number;
}

/** `error`: a command refused or a subscription ended (codes of docs/protocol.md). */
export interface BridgeError {
  code: string;
  message: string;
  dashboard?: string;
  retry_after_ms?: number;
}

/**
 * Serves `hub` on a socket.io `Server` (or a namespace): clients emit `subscribe` (id, { since }?, ack?),
 * `unsubscribe` (id, ack?) and `refresh` (token, ack?), and receive `initial-state`, `recovered`,
 * `update` and `error` ({ code, message, dashboard? }).
 */
export function attachHub(io: import('socket.io').Server | import('socket.io').Namespace, hub: Hub, options?: BridgeOptions): Bridge;

/** The socket.io events ([name, payload]) of one hub message. */
export function eventsOf(message: unknown): Array<[string, InitialState | Update | Recovered]>;
