//! [`Route`]: how a clustered hub publishes. A hub with a route (see [`crate::cluster`]) does not
//! number its publications itself: each one goes to the shared sequencer (Redis), which assigns the
//! dashboard's next seq in its epoch, keeps it in the shared history and broadcasts it; every node —
//! the publishing one included — applies it to its local topic when it comes back on the bus
//! ([`Hub::mirror_apply`](super::Hub)). Local topics are then mirrors of the shared feed.

use crate::codec::Value;
use crate::error::Result;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// One publication to make (see [`Hub::publish_many`](super::Hub::publish_many)).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The dashboard id.
    pub dashboard: Arc<str>,
    /// Idempotency id (dedupe within the hub's dedupe horizon), when the publication has one.
    pub id: Option<String>,
    /// The data map (metric → value).
    pub data: Arc<Value>,
}

impl Outgoing {
    /// A publication of `data` to `dashboard`, with an optional idempotency `id`.
    pub fn new(dashboard: impl Into<Arc<str>>, id: Option<String>, data: Value) -> Self {
        Outgoing {
            dashboard: dashboard.into(),
            id,
            data: Arc::new(data),
        }
    }
}

/// Where a publication landed: its seq and the epoch it belongs to.
pub type Landed = (u64, Arc<str>);

/// The answer of [`Route::publish_async`], to await.
pub type Publishing = Pin<Box<dyn Future<Output = Result<Vec<Option<Landed>>>> + Send + 'static>>;

/// The shared sequencer behind a clustered hub.
pub trait Route: Send + Sync {
    /// Publishes `items` in order (validated); per item where it landed, or `None` when its id was
    /// already published within the dedupe horizon. Blocks until the sequencer answered (bounded by the
    /// route's timeout); an error means the outcome of the batch is unknown.
    fn publish(&self, items: &[Outgoing]) -> Result<Vec<Option<Landed>>>;

    /// Like [`publish`](Route::publish), for a caller on an async runtime: the returned future waits
    /// for the sequencer's answer (bounded by the route's timeout) without blocking a runtime thread.
    /// The default runs [`publish`](Route::publish) at once, blocking.
    fn publish_async(&self, items: Arc<[Outgoing]>) -> Publishing {
        let answer = self.publish(&items);
        Box::pin(std::future::ready(answer))
    }

    /// Makes the local topic of `dashboard` mirror the shared one (its epoch, seq, snapshot and
    /// history), creating the shared feed when `create`. `Ok(false)` when it does not exist and
    /// `create` is false.
    fn ensure(&self, dashboard: &str, create: bool) -> Result<bool>;

    /// Brings the local mirror of `dashboard` up to the shared feed now (a client resumes from a seq
    /// this node has not applied yet: the bus is a little behind the node it came from).
    fn catch_up(&self, dashboard: &str) -> Result<()>;
}
