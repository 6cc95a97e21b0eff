//! Publication taps: a [`Tap`] sees every publication of a hub right after it is made, whoever made
//! it (Python/Node `publish`, HTTP ingest, a source, window results). Sinks (Redis cache, streams,
//! Kafka) are taps.
//!
//! Before a publication is applied the hub asks each tap whether it has room
//! ([`Tap::ready`]); a tap that refuses (a full sink queue) fails the publish with its error
//! (`slow_consumer`) and nothing is applied, so a sink never misses a publication its subscribers got.

use crate::codec::Value;
use crate::error::Result;
use std::sync::Arc;

/// One publication as a tap sees it.
#[derive(Debug, Clone, Copy)]
pub struct Tapped<'a> {
    /// The dashboard id.
    pub dashboard: &'a Arc<str>,
    /// The topic's epoch.
    pub epoch: &'a Arc<str>,
    /// The publication's seq.
    pub seq: u64,
    /// Wall-clock time of the publication, ms since the Unix epoch.
    pub ts_ms: i64,
    /// The data map.
    pub data: &'a Arc<Value>,
}

/// Something that wants every publication of a hub. Called on the publisher's thread: it must not
/// block (queue the publication for a task).
pub trait Tap: Send + Sync {
    /// `Ok` when the tap can take one more publication; an error refuses the publish.
    fn ready(&self) -> Result<()>;
    /// A publication was made.
    fn published(&self, p: Tapped<'_>);
}

/// Identifies an added tap, for [`Hub::remove_tap`](super::Hub::remove_tap).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TapId(pub(crate) u64);
