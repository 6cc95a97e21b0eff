// Types of dashfeed/client (web/client/index.js): the browser client of a dashfeed server.

/** Connection status. */
export type Status = 'connecting' | 'live' | 'reconnecting' | 'offline';

/** Wire format of server messages (client messages are always JSON text frames). */
export type Format = 'json' | 'msgpack';

/** A series' value: usually a window result, or a plain number for events ingested as `{metric: value}`. */
export type SeriesValue = WindowResult | number;

/** A dashboard's data: series name → latest value. Objects without a prototype. */
export type DashboardData = Record<string, SeriesValue>;

/** One window's aggregate as published by dashfeed's aggregator. */
export interface WindowResult {
  dashboard: string;
  metric: string;
  tags: Record<string, string>;
  /** Window start, ms since the Unix epoch. */
  start: number;
  /** Window end (exclusive), ms since the Unix epoch. */
  end: number;
  count: number;
  sum: number;
  min: number;
  max: number;
  mean: number;
  first: number;
  last: number;
  /** Requested quantiles, e.g. `{p50: 12.1, p99: 80.4}`. */
  quantiles?: Record<string, number>;
  /** False for a partial result (emit mode `updates`). */
  final: boolean;
}

/** Backoff of reconnect attempts: delay = random() * min(cap, base * 2^attempt). */
export interface BackoffOptions {
  /** First delay bound in ms. Default 500. */
  base?: number;
  /** Largest delay bound in ms. Default 30000. */
  cap?: number;
  /** Reconnect attempts before giving up ('offline' + 'unreachable' error). Default Infinity. */
  maxAttempts?: number;
  /** A connection open this long (ms) resets the attempt counter. Default 5000. */
  stableAfter?: number;
}

/** Application heartbeat: after `interval` ms without a message, send a ping; no answer in `timeout` ms
 * means a dead connection (closed with 4000 and reconnected). `interval: 0` turns it off. */
export interface HeartbeatOptions {
  /** Default 15000. */
  interval?: number;
  /** Default 10000. */
  timeout?: number;
}

/** The subset of the browser WebSocket the client uses (injectable: the `ws` package, a test fake). */
export interface WebSocketLike {
  readonly readyState: number;
  binaryType: string;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: string | ArrayBuffer | ArrayBufferView }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** A WebSocket constructor. */
export type WebSocketConstructor = new (url: string, protocols?: string[]) => WebSocketLike;

/** Options of `connect`. */
export interface ConnectOptions {
  /** Dashboards to follow from the start. */
  dashboards?: string[];
  /** A JWT. Without `getToken` it is never renewed. */
  token?: string;
  /** Returns a fresh JWT: called before connecting without a usable token, shortly before `exp`
   * (the new token is sent as `refresh`), after close 4401/4001, and after a handshake that failed. */
  getToken?: () => Promise<string>;
  /** How the token travels: a `dashfeed.token.<jwt>` subprotocol entry (default: stays out of URLs and
   * logs) or the `?token=` query parameter. */
  tokenIn?: 'protocol' | 'query';
  /** Ask for a new token this many ms before `exp` (at most half the remaining lifetime). Default 30000. */
  refreshBefore?: number;
  /** Default 'json'. */
  format?: Format;
  /** Ask the server for batch frames (`?batch=1`): the messages ready together arrive as one WebSocket
   * message. Default true; a URL that already has `batch=` keeps it. */
  batch?: boolean;
  /** MessagePack decoder, required for `format: 'msgpack'` (e.g. msgpackr's `unpack`). */
  decode?: (bytes: Uint8Array) => unknown;
  /** Gzip inflater. Default: `inflateGzip` (DecompressionStream). */
  inflate?: (bytes: Uint8Array, maxBytes: number) => Promise<Uint8Array> | Uint8Array;
  /** Largest inflated message in bytes. Default 16 MiB. */
  maxMessageBytes?: number;
  backoff?: BackoffOptions;
  heartbeat?: HeartbeatOptions;
  /** Least delay before reconnecting after close 4029 (rate limited), ms. Default 5000. */
  rateLimitedDelay?: number;
  /** On an unexplained seq gap: resubscribe with `since` (default) or accept the jump (servers whose
   * slow-consumer policy is `conflate`, where a jump carries the newest values). */
  gaps?: 'resync' | 'accept';
  /** Least time between two resumes of one dashboard; a gap sooner is accepted. Default 5000 ms. */
  resyncCooldown?: number;
  /** WebSocket constructor. Default `globalThis.WebSocket`. */
  WebSocket?: WebSocketConstructor;
  /** Runs `cb` before the next paint. Default requestAnimationFrame, else setTimeout 16 ms. */
  scheduleFrame?: (cb: () => void) => void;
  /** Uniform [0, 1) source for jitter. Default Math.random. */
  random?: () => number;
  /** Wall clock in ms (token expiry, heartbeat, stats). Default Date.now. */
  now?: () => number;
}

/** Full state of a dashboard: its first message, or a fresh start when a resume was impossible. */
export interface SnapshotEvent {
  dashboard: string;
  epoch: string;
  seq: number;
  /** `false` when a resume (`since`) could not be honoured: history lost, state replaced. Absent on a
   * first subscription. */
  recovered?: boolean;
  /** The whole state (stale series dropped), including updates that arrived in the same frame. */
  data: DashboardData;
}

/** Updates of one frame, coalesced: the latest value of every series that changed. */
export interface UpdateEvent {
  dashboard: string;
  epoch: string;
  /** Seq of the newest update applied. */
  seq: number;
  data: DashboardData;
}

/** A successful resume: `missed` updates follow (delivered through 'update'). */
export interface ResumeEvent {
  dashboard: string;
  epoch: string;
  /** The seq the client resumed from. */
  from: number;
  /** The server's seq at the resume. */
  seq: number;
  missed: number;
}

/** A seq jump within an epoch. */
export interface GapEvent {
  dashboard: string;
  from: number;
  to: number;
  /** Whether the client resubscribes with `since` (else it accepted the jump). */
  resync: boolean;
}

/** A status change, or a new reconnect delay. */
export interface StatusEvent {
  status: Status;
  /** Reconnect attempts since the last stable connection. */
  attempt: number;
  /** With 'reconnecting': the wait before the next attempt, ms. */
  delay?: number;
  /** With 'reconnecting': when the next attempt starts (`now()` clock). */
  retryAt?: number;
  /** The close code of the connection that ended, if any. */
  closeCode?: number;
  reason?: string;
}

/** Server errors (`forbidden`, `rate_limited`, …, see docs/protocol.md) and client ones: `decode_error`,
 * `too_large`, `token_error`, `connect_error`, `connection_closed` (a close reconnecting cannot fix),
 * `unreachable` (maxAttempts reached). */
export interface ErrorEvent {
  code: string;
  message: string;
  dashboard?: string;
  retry_after_ms?: number;
  closeCode?: number;
}

/** Once a second. */
export interface StatsEvent {
  messagesPerSecond: number;
  bytesPerSecond: number;
  /** Messages received since the client started. */
  messages: number;
}

export interface EventMap {
  update: UpdateEvent;
  snapshot: SnapshotEvent;
  resume: ResumeEvent;
  gap: GapEvent;
  status: StatusEvent;
  error: ErrorEvent;
  stats: StatsEvent;
}

/** A dashfeed connection that survives disconnects. */
export declare class DashfeedClient {
  constructor(url: string, options?: ConnectOptions);
  readonly status: Status;
  readonly messagesPerSecond: number;
  readonly dashboards: string[];
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof EventMap>(event: K, cb: (ev: EventMap[K]) => void): () => void;
  off<K extends keyof EventMap>(event: K, cb: (ev: EventMap[K]) => void): void;
  subscribe(dashboard: string): void;
  unsubscribe(dashboard: string): void;
  /** Current merged data (a copy), or undefined if the dashboard is not followed. */
  state(dashboard: string): DashboardData | undefined;
  /** Last applied position, or undefined before the first snapshot. */
  position(dashboard: string): { epoch: string; seq: number } | undefined;
  /** Connects now: skips a backoff wait, or reopens a closed or offline client. */
  reconnect(): void;
  /** Closes for good (1000); status 'offline'. */
  close(): void;
}

/** Opens a client; it starts connecting in a microtask. */
export declare function connect(url: string, options?: ConnectOptions): DashfeedClient;

/** The JWT's `exp` in ms, or undefined. */
export declare function jwtExpiry(token: string | undefined): number | undefined;

/** random() * min(cap, base * 2^attempt). */
export declare function backoffDelay(
  attempt: number,
  backoff?: { base?: number; cap?: number },
  random?: () => number,
): number;

export declare function isGzip(bytes: Uint8Array): boolean;

/** Inflates gzip bytes with DecompressionStream; rejects with code `too_large` past `maxBytes`. */
export declare function inflateGzip(bytes: Uint8Array, maxBytes?: number): Promise<Uint8Array>;

export declare const CloseCode: Readonly<{
  NORMAL: 1000;
  GOING_AWAY: 1001;
  PROTOCOL_ERROR: 1002;
  INVALID_PAYLOAD: 1007;
  POLICY: 1008;
  TOO_BIG: 1009;
  INTERNAL: 1011;
  HEARTBEAT_TIMEOUT: 4000;
  UNAUTHORIZED: 4001;
  FORBIDDEN: 4003;
  SLOW_CONSUMER: 4008;
  RATE_LIMITED: 4029;
  TOKEN_EXPIRED: 4401;
  IDLE_TIMEOUT: 4408;
}>;
