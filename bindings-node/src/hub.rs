//! Node face of `dashfeed::hub`: the `Hub` class (publish, snapshot, subscribe, resetEpoch, remove,
//! dashboards, stats; `publishResults`, which feeds window results in, is `crate::pipeline`'s),
//! `Subscription` (`for await`, listeners, non-blocking receives; woken by the core through a
//! threadsafe function, never by polling) and `Message` (fields, lazily built `data`, the
//! pre-encoded wire bytes).
//!
//! Raw Node-API only in `hub_publish`, which replaces napi-rs's glue of `Hub.prototype.publish`
//! when the module loads (`crate::fast`: no per-call borrow table; bench row: `node bench/hub.js`,
//! the one-subscriber rows, where publishing is most of the cost).

mod buffer;
pub(crate) use buffer::HUB;
mod feed;
mod message;
mod options;
mod share;
mod subscription;
mod timer;
mod waiter;
mod waker;

pub(crate) use subscription::subscription_next;

use crate::error::{guard, Code};
use crate::napi::args::{is_nullish, string, with_text};
use crate::napi::{convert, glue, js};
use crate::walk;
use dashfeed::codec::Limits;
use dashfeed::hub::Hub as CoreHub;
use feed::Feed;
use napi::bindgen_prelude::{Env, JavaScriptClassExt, ObjectFinalize, Unknown};
use napi::{sys, JsValue};
use napi_derive::napi;
use std::cell::Cell;
use std::collections::BTreeMap;
use subscription::Subscription;

/// Figures of one dashboard's topic.
#[napi(object)]
pub struct TopicStats {
    /// Current epoch.
    pub epoch: String,
    /// Latest seq (0 before the first publication).
    pub seq: f64,
    /// Open subscriptions.
    pub subscribers: f64,
    /// Publications held in history.
    pub history: f64,
    /// Metrics in the snapshot.
    pub metrics: f64,
}

/// Figures of the whole hub.
#[napi(object)]
pub struct HubStats {
    /// Open subscriptions over all dashboards.
    pub subscribers: f64,
    /// Publications accepted.
    pub publications: f64,
    /// Messages handed to subscriber queues.
    pub deliveries: f64,
    /// Messages dropped by the `drop_oldest` policy.
    pub dropped_oldest: f64,
    /// Queued messages merged away by the `conflate` policy.
    pub conflated: f64,
    /// Subscriptions ended by the `disconnect` policy.
    pub disconnected: f64,
    /// Publications refused as duplicates (same id within the dedupe horizon).
    pub dedupe_dropped: f64,
    /// Wire encodes performed: at most one per message and format, whatever the subscriber count.
    pub encodes: f64,
    /// Each dashboard's topic, by dashboard id.
    pub topics: BTreeMap<String, TopicStats>,
}

/// A fan-out hub: a topic per dashboard with sequence numbers, epochs, history, a latest-value
/// snapshot, and subscriptions with bounded queues.
#[napi(js_name = "Hub", custom_finalize)]
pub struct Hub {
    inner: CoreHub,
    /// The token of `share()`, 0 before.
    token: Cell<u64>,
}

impl Hub {
    /// The core hub (for the server binding).
    pub(crate) fn core(&self) -> &CoreHub {
        &self.inner
    }

    /// A JS `Hub` over an existing core hub (the hub of a `Pipeline`).
    pub(crate) fn from_core(inner: CoreHub) -> Hub {
        Hub {
            inner,
            token: Cell::new(0),
        }
    }
}

impl ObjectFinalize for Hub {
    fn finalize(self, _env: Env) -> napi::Result<()> {
        if self.token.get() != 0 {
            share::unshare(self.token.get());
        }
        Ok(())
    }
}

#[napi]
impl Hub {
    /// `new Hub({ history: 1000, policy: 'conflate', queue: 1024, ... })`; all options optional.
    #[napi(constructor, catch_unwind, ts_args_type = "options?: HubOptions")]
    pub fn new(env: Env, options: Option<Unknown<'_>>) -> napi::Result<Self, Code> {
        guard(|| {
            let (config, clock) = options::hub_config(&env, options)?;
            Ok(Hub {
                inner: CoreHub::with_clock(config, clock)?,
                token: Cell::new(0),
            })
        })
    }

    /// A token (a number) with which `Hub.attach(token)` opens this same hub in another worker
    /// thread of the process: publications on either side reach the subscribers of both. Valid
    /// while this object lives; the same token on every call.
    #[napi(catch_unwind)]
    pub fn share(&self) -> f64 {
        if self.token.get() == 0 {
            self.token.set(share::share(&self.inner));
        }
        self.token.get() as f64
    }

    /// The hub a `share()` token names, in this thread (e.g. a worker given the token in
    /// `workerData`). `invalid_input` for an unknown token.
    #[napi(factory, catch_unwind, ts_args_type = "token: number")]
    pub fn attach(token: Unknown<'_>) -> napi::Result<Self, Code> {
        guard(|| {
            let n = crate::napi::args::integer(token.value().env, token.raw(), "token")?;
            let inner = share::attach(u64::try_from(n).unwrap_or(0))?;
            Ok(Hub {
                inner,
                token: Cell::new(0),
            })
        })
    }

    /// Publishes `data` (an object metric → value) to `dashboard` and returns its seq; with `id`,
    /// returns `null` when that id was already published within the dedupe horizon. The method that
    /// runs is a plain Node-API callback with this body, defined over this one when the module loads
    /// (without napi-rs's per-call borrow table; bench rows: `node bench/hub.js`).
    #[napi(
        catch_unwind,
        ts_args_type = "dashboard: string, data: Record<string, unknown>, id?: string | null"
    )]
    pub fn publish(
        &self,
        dashboard: Unknown<'_>,
        data: Unknown<'_>,
        id: Option<Unknown<'_>>,
    ) -> napi::Result<Option<f64>, Code> {
        guard(|| {
            let env = dashboard.value().env;
            let seq = self.publish_raw(env, dashboard.raw(), data.raw(), id.map(|i| i.raw()))?;
            Ok(seq.map(|s| s as f64))
        })
    }

    /// The latest value per metric as a `snapshot` message, or `null` for an unknown dashboard.
    #[napi(
        catch_unwind,
        ts_args_type = "dashboard: string",
        ts_return_type = "Message | null"
    )]
    pub fn snapshot<'env>(
        &self,
        env: &'env Env,
        dashboard: Unknown<'env>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let raw_env = env.raw();
            let snap = with_text(raw_env, dashboard.raw(), "dashboard", |d| {
                self.inner.snapshot(d)
            })??;
            let v = match snap {
                Some(m) => message::to_js(raw_env, m, None)?,
                None => crate::napi::js::null(raw_env)?,
            };
            Ok(convert::unknown(raw_env, v))
        })
    }

    /// Subscribes to `dashboard`. Without `since` the first message is the snapshot; with `since`
    /// the missed updates follow a `recovered` message, or a fresh snapshot has `recovered: false`.
    #[napi(
        catch_unwind,
        ts_args_type = "dashboard: string, options?: SubscribeOptions",
        ts_return_type = "Subscription"
    )]
    pub fn subscribe<'env>(
        &self,
        env: &'env Env,
        dashboard: Unknown<'env>,
        options: Option<Unknown<'env>>,
    ) -> napi::Result<Unknown<'env>, Code> {
        guard(|| {
            let raw_env = env.raw();
            let opts = options::subscribe_options(options)?;
            let sub = with_text(raw_env, dashboard.raw(), "dashboard", |d| {
                self.inner.subscribe(d, opts)
            })??;
            let feed = Feed::new(raw_env, sub)?;
            let instance = Subscription { feed: feed.clone() }.into_instance(env)?;
            feed.set_this(raw_env, instance.value)?;
            Ok(convert::unknown(raw_env, instance.value))
        })
    }

    /// Starts a new epoch for `dashboard` and returns it: history is forgotten, so resumes from
    /// the old epoch get a fresh snapshot. Seq and values carry on.
    #[napi(catch_unwind, ts_args_type = "dashboard: string")]
    pub fn reset_epoch(&self, dashboard: Unknown<'_>) -> napi::Result<String, Code> {
        guard(|| {
            let env = dashboard.value().env;
            Ok(with_text(env, dashboard.raw(), "dashboard", |d| {
                self.inner.reset_epoch(d)
            })??)
        })
    }

    /// Removes a dashboard's topic: its subscribers get what is queued, then end. Returns whether
    /// it existed.
    #[napi(catch_unwind, ts_args_type = "dashboard: string")]
    pub fn remove(&self, dashboard: Unknown<'_>) -> napi::Result<bool, Code> {
        guard(|| {
            let env = dashboard.value().env;
            let existed = with_text(env, dashboard.raw(), "dashboard", |d| self.inner.remove(d))?;
            // The ended subscriptions of this thread emit 'close' in the next pass: keep the
            // process alive for it.
            if let Some(waker) = waker::Waker::existing(env) {
                waker.hold_until_pass(env);
            }
            Ok(existed)
        })
    }

    /// The dashboards that have a topic, sorted.
    #[napi(catch_unwind)]
    pub fn dashboards(&self) -> Vec<String> {
        self.inner.dashboards()
    }

    /// Counters of the hub and of each topic.
    #[napi(getter, catch_unwind)]
    pub fn stats(&self) -> HubStats {
        let s = self.inner.stats();
        HubStats {
            subscribers: s.subscribers as f64,
            publications: s.publications as f64,
            deliveries: s.deliveries as f64,
            dropped_oldest: s.dropped_oldest as f64,
            conflated: s.conflated as f64,
            disconnected: s.disconnected as f64,
            dedupe_dropped: s.dedupe_dropped as f64,
            encodes: s.encodes as f64,
            topics: s
                .topics
                .into_iter()
                .map(|t| {
                    let stats = TopicStats {
                        epoch: t.epoch,
                        seq: t.seq as f64,
                        subscribers: t.subscribers as f64,
                        history: t.history as f64,
                        metrics: t.metrics as f64,
                    };
                    (t.dashboard, stats)
                })
                .collect(),
        }
    }
}

impl Hub {
    /// `publish(dashboard, data, id?)` on raw arguments (`id` absent, `undefined` or `null`: none).
    fn publish_raw(
        &self,
        env: sys::napi_env,
        dashboard: sys::napi_value,
        data: sys::napi_value,
        id: Option<sys::napi_value>,
    ) -> crate::error::Result<Option<u64>> {
        let value = walk::to_value(env, data, Limits::default().max_depth)?;
        let id = match id {
            Some(i) if !is_nullish(env, i)? => Some(string(env, i, "id")?),
            _ => None,
        };
        with_text(env, dashboard, "dashboard", |d| match &id {
            Some(id) => self.inner.publish_with_id(d, id, value),
            None => self.inner.publish(d, value).map(Some),
        })?
        .map_err(Into::into)
    }
}

thread_local! {
    /// The last `Hub` that `publish` ran on, in this thread's environment.
    static PUBLISH_RECEIVER: std::cell::RefCell<glue::ReceiverCache> =
        const { std::cell::RefCell::new(glue::ReceiverCache::new()) };
}

/// `Hub.prototype.publish` as it runs: a plain Node-API callback defined on the prototype when the
/// module loads (see `crate::fast`; bench row: `node bench/hub.js`, the one-subscriber rows).
///
/// # Safety
/// A Node-API callback: Node calls it with the environment and the info of the running call.
pub unsafe extern "C" fn hub_publish(
    env: sys::napi_env,
    info: sys::napi_callback_info,
) -> sys::napi_value {
    glue::run(env, || {
        // SAFETY: this call's info; the receiver is used only during the call.
        let (this, [dashboard, data, id], argc) = unsafe { glue::args::<3>(env, info)? };
        // SAFETY: as above; the cache serves only `Hub`.
        let hub =
            PUBLISH_RECEIVER.with(|c| unsafe { glue::receiver_cached::<Hub>(env, this, c) })?;
        let id = (argc > 2).then_some(id);
        match hub.publish_raw(env, dashboard, data, id)? {
            Some(seq) => js::number(env, seq as f64),
            None => js::null(env),
        }
    })
}
