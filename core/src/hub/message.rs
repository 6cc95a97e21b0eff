//! [`Message`]: what a subscriber receives — a cheap handle (one `Arc`) on a shared publication, with
//! accessors for its fields, its pre-encoded wire bytes ([`Message::raw`]) and its wire map as a
//! [`Value`] ([`Message::to_value`]).

use super::publication::{self, Kind, Publication, Wire};
use crate::codec::{Format, Value};
use crate::error::Result;
use bytes::Bytes;
use std::fmt;
use std::sync::{Arc, Weak};

/// A received wire message: `snapshot`, `update` or `recovered`. Cloning it is cheap.
#[derive(Clone)]
pub struct Message {
    p: Arc<Publication>,
}

/// See [`Message::pin`]: a weak reference, which keeps the publication's allocation (a few hundred
/// bytes) and so its address, not its content.
#[derive(Clone)]
pub struct PublicationPin {
    _publication: Weak<Publication>,
}

impl fmt::Debug for PublicationPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PublicationPin")
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("kind", &self.kind())
            .field("dashboard", &self.dashboard())
            .field("epoch", &self.epoch())
            .field("seq", &self.seq())
            .field("recovered", &self.recovered())
            .field("missed", &self.missed())
            .field("data", &self.data())
            .finish()
    }
}

impl Message {
    pub(crate) fn new(p: Arc<Publication>) -> Self {
        Message { p }
    }

    /// The message kind (its `"type"`).
    pub fn kind(&self) -> Kind {
        self.p.kind
    }

    /// The dashboard id.
    pub fn dashboard(&self) -> &str {
        &self.p.dashboard
    }

    /// The epoch of the topic history this message belongs to.
    pub fn epoch(&self) -> &str {
        &self.p.epoch
    }

    /// The seq: of the publication (update), of the latest publication included (snapshot), or the
    /// latest seq at resume time (recovered). 0 for the snapshot of a topic without publications.
    pub fn seq(&self) -> u64 {
        self.p.seq
    }

    /// The metric map: the publication's data (update), the latest value per metric (snapshot), or an
    /// empty map (recovered, which carries no `data` field on the wire). Shared with the publisher for
    /// a live message; decoded from the wire bytes for one replayed from history (history keeps bytes
    /// only).
    pub fn data(&self) -> Result<Arc<Value>> {
        self.p.data()
    }

    /// `Some(true)` on a recovered header, `Some(false)` on a snapshot sent because a resume was
    /// impossible, `None` otherwise.
    pub fn recovered(&self) -> Option<bool> {
        self.p.recovered
    }

    /// On a recovered header: how many updates follow (the publications after the client's seq).
    pub fn missed(&self) -> Option<u64> {
        self.p.missed
    }

    /// The identity of the publication this message is a handle on: equal for the messages every
    /// subscriber of one publication receives, and distinct from any other publication's while one
    /// of these messages or a [`pin`](Message::pin) of it is alive (the address of the shared
    /// publication, which may be reused once every handle and pin is gone). A binding uses it to
    /// give the subscribers it wakes together one object.
    pub fn publication_key(&self) -> usize {
        Arc::as_ptr(&self.p) as usize
    }

    /// Keeps this message's [`publication_key`](Message::publication_key) from naming another
    /// publication for as long as the pin lives, without keeping the publication's content (its
    /// data and encoded bytes) alive: a cache keyed by publication holds one per entry.
    pub fn pin(&self) -> PublicationPin {
        PublicationPin {
            _publication: Arc::downgrade(&self.p),
        }
    }

    /// The wire bytes in `format` (gzipped when longer than the hub's `compress_over`). Encoded at most
    /// once per message and format; every subscriber of a publication shares the same bytes.
    pub fn raw(&self, format: Format) -> Result<Bytes> {
        self.p.bytes(Wire::compressed(format)).cloned()
    }

    /// The bytes of `wire`: [`raw`](Message::raw) when `wire.compress`, never gzipped otherwise.
    pub fn wire(&self, wire: Wire) -> Result<Bytes> {
        self.p.bytes(wire).cloned()
    }

    /// The wire map as a value, fields in wire order (what decoding [`raw`](Message::raw) gives).
    pub fn to_value(&self) -> Result<Value> {
        publication::to_value(&self.p)
    }
}
