//! Several nodes, one feed: a [`Cluster`] makes a [`Hub`] share its dashboards through Redis, so
//! that any number of dashfeed processes behind a load balancer serve the same feeds (no cluster of
//! dashfeed's own, only the Redis its users run; see the README's "Running several nodes").
//!
//! - **Numbering.** A publication on any node (a binding's `hub.publish`, HTTP ingest, a source,
//!   window results) is numbered by Redis: one Lua script takes the dashboard's next seq in its epoch,
//!   appends the publication to the shared history stream, updates the latest-value hash and
//!   broadcasts it on one pub/sub channel ([`script`]). Seqs are per dashboard and gap-free across
//!   nodes; Redis's script order is the order every node applies.
//! - **Mirrors.** Each node keeps local topics only for the dashboards asked of it (a subscriber, a
//!   snapshot request) and applies the broadcast publications to them in seq order; its subscribers get
//!   them exactly as from a single hub (encode once, policies, resume). A new mirror is read from
//!   Redis in one atomic step (epoch, seq, snapshot, the history tail), so a client that resumes on
//!   any node with `since=(epoch, seq)` gets every missed publication or a `recovered: false` snapshot.
//! - **Faults.** A gap in what the bus delivered (a dropped subscription, a slow reconnect) is filled
//!   from the shared history; when the history no longer holds it, or the epoch changed (Redis
//!   restarted empty: the next publication creates a new epoch), the mirror is reset and every live
//!   subscriber gets a `recovered: false` snapshot — never a silent gap. While Redis is unreachable
//!   the node keeps serving what it has, publishes fail with a coded error (`io_error`, `timeout`,
//!   then `circuit_open`), and `/healthz` names the links `cluster:redis` and `cluster:bus`.
//! - **Dedupe.** Publication ids are remembered in Redis (`SET NX PX`), cluster-wide: a window result
//!   published again after a Kafka rebalance is dropped ([`Hub::publish_windows`]).

mod bus;
mod config;
mod frame;
mod script;
mod sequencer;

pub use config::ClusterConfig;

use crate::connect::link::{default_breaker, Link};
use crate::connect::redis::{client, manager};
use crate::error::{Error, Result};
use crate::hub::Hub;
use redis::aio::ConnectionManager;
use script::Keys;
use sequencer::Sequencer;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the cluster's tasks share.
pub(crate) struct Shared {
    hub: Hub,
    config: ClusterConfig,
    keys: Keys,
    client: redis::Client,
    con: ConnectionManager,
    /// Script calls (publish, sync).
    link: Arc<Link>,
    /// The bus subscription.
    bus_link: Arc<Link>,
    publish_sha: String,
    sync_sha: String,
    /// Shared history stream length (`MAXLEN ~`).
    history: usize,
    id_horizon_ms: u64,
    /// Whether the bus is subscribed (mirrors are only made while it is).
    connected: AtomicBool,
}

/// A hub made part of a cluster (see the module docs). Dropping it [`stop`](Cluster::stop)s it.
pub struct Cluster {
    shared: Arc<Shared>,
    cancel: CancellationToken,
    tasks: parking_lot::Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("redis", &self.shared.config.redis)
            .field("connected", &self.is_connected())
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Makes `hub` a node of the cluster sharing `config.redis`, with its tasks on `rt`. From now on
    /// the hub's publications are numbered by Redis. `invalid_input` for bad settings or a hub that is
    /// already clustered. Redis need not be up yet: the links report it down until it is.
    pub fn start(config: ClusterConfig, hub: &Hub, rt: &Handle) -> Result<Cluster> {
        config.validate()?;
        if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            // Publish calls wait for the writer task: on a single-threaded runtime it could not run.
            return Err(Error::invalid(
                "cluster: start it on a multi-threaded runtime (dashfeed::runtime::handle())",
            ));
        }
        let _guard = rt.enter();
        let client = client(&config.redis)?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let con = manager(&client, timeout)?;
        let history = config.history.unwrap_or(hub.config().history).max(1);
        let id_horizon_ms = config
            .dedupe_horizon_ms
            .or_else(|| {
                hub.config()
                    .dedupe_horizon
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            })
            .unwrap_or(600_000)
            .max(1);
        let shared = Arc::new(Shared {
            hub: hub.clone(),
            keys: Keys::new(&config.prefix, &config.snapshot_prefix),
            client,
            con,
            link: Link::new("cluster:redis", default_breaker())?,
            bus_link: Link::new("cluster:bus", default_breaker())?,
            publish_sha: redis::Script::new(script::PUBLISH).get_hash().to_owned(),
            sync_sha: redis::Script::new(script::SYNC).get_hash().to_owned(),
            history,
            id_horizon_ms,
            connected: AtomicBool::new(false),
            config,
        });
        shared.bus_link.set_down("cluster bus: not subscribed yet");
        let (writes, write_rx) = mpsc::channel(shared.config.queue);
        let (asks, ask_rx) = mpsc::channel(1024);
        hub.set_route(Arc::new(Sequencer {
            writes,
            asks,
            timeout,
        }))?;
        let cancel = CancellationToken::new();
        let tasks = vec![
            rt.spawn(sequencer::write_loop(shared.clone(), write_rx)),
            rt.spawn(bus::run(shared.clone(), ask_rx, cancel.clone())),
        ];
        Ok(Cluster {
            shared,
            cancel,
            tasks: parking_lot::Mutex::new(tasks),
        })
    }

    /// The links `/healthz` and `/metrics` report: `cluster:redis` (script calls) and `cluster:bus`
    /// (the subscription every node receives publications on).
    pub fn links(&self) -> [Arc<Link>; 2] {
        [self.shared.link.clone(), self.shared.bus_link.clone()]
    }

    /// Whether the bus is subscribed now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Acquire)
    }

    /// Waits (bounded) until the bus is subscribed; returns whether it is.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let until = Instant::now() + timeout;
        while !self.is_connected() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.is_connected()
    }

    /// The settings.
    pub fn config(&self) -> &ClusterConfig {
        &self.shared.config
    }

    /// Stops the tasks: the hub keeps its local topics and subscribers, and its publishes fail with
    /// `closed` from now on.
    pub fn stop(&self) {
        self.cancel.cancel();
        for t in self.tasks.lock().drain(..) {
            t.abort();
        }
        self.shared.connected.store(false, Ordering::Release);
        self.shared.bus_link.set_down("cluster stopped");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}
