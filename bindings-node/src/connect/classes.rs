//! The named connector classes of the Node module, one per kind, made by two macros over
//! [`SourceState`] / [`SinkState`] so that every class has the same methods and docs.

use super::{Done, LinkStats, SinkState, SourceState};
use crate::error::{guard, Code};
use crate::job::Job;
use dashfeed::codec::Value;
use napi::bindgen_prelude::{AsyncTask, Object, This, Unknown};
use napi_derive::napi;

macro_rules! source_class {
    ($name:ident, $kind:literal, $doc:literal) => {
        #[doc = $doc]
        ///
        /// `attach(hubOrAggregator)` starts it: each event is published to the `Hub`, or added to the
        /// `Aggregator` (results left for `poll()`), without becoming a JS object. `stop()` resolves
        /// once what was applied is acknowledged / committed.
        #[napi]
        pub struct $name {
            state: SourceState,
        }

        #[napi]
        impl $name {
            /// Options: the keys of a `[[source]]` entry of `dashfeed serve --config` (snake_case;
            /// durations in ms). Unknown keys and wrong types throw `invalid_input` naming the key.
            #[napi(
                constructor,
                catch_unwind,
                ts_args_type = "options?: Record<string, unknown>"
            )]
            pub fn new(options: Option<Unknown<'_>>) -> napi::Result<Self, Code> {
                guard(|| {
                    Ok($name {
                        state: SourceState::new($kind, options)?,
                    })
                })
            }

            /// Starts reading into `target` (a `Hub` or an `Aggregator`); returns this source.
            #[napi(
                catch_unwind,
                ts_args_type = "target: Hub | Aggregator",
                ts_return_type = "this"
            )]
            pub fn attach<'env>(
                &self,
                this: This<'env>,
                target: Unknown<'_>,
            ) -> napi::Result<Object<'env>, Code> {
                guard(|| self.state.attach(&target))?;
                Ok(this.object)
            }

            /// Stops: what was applied is acknowledged / committed (waits at most `timeoutMs`,
            /// default 10 000; rejects with `timeout` after it).
            #[napi(ts_return_type = "Promise<void>")]
            pub fn stop(&self, timeout_ms: Option<f64>) -> Done {
                self.state.stop(timeout_ms)
            }

            /// The link's figures (messages, events, rejected by code, retries, lag, breaker).
            /// Throws `closed` before `attach()`.
            #[napi(catch_unwind)]
            pub fn stats(&self) -> napi::Result<LinkStats, Code> {
                guard(|| self.state.stats())
            }
        }
    };
}

macro_rules! sink_class {
    ($name:ident, $kind:literal, $doc:literal) => {
        sink_class!($name, $kind, $doc, {});
    };
    ($name:ident, $kind:literal, $doc:literal, { $($extra:tt)* }) => {
        #[doc = $doc]
        ///
        /// `attach(hub)` taps every publication of the hub; a full queue makes `hub.publish` throw
        /// `slow_consumer` before anything is applied. `close()` detaches, flushes and stops.
        #[napi]
        pub struct $name {
            state: SinkState,
        }

        #[napi]
        impl $name {
            /// Options: the keys of a `[[sink]]` entry of `dashfeed serve --config` (snake_case;
            /// durations in ms). Unknown keys and wrong types throw `invalid_input` naming the key.
            #[napi(constructor, catch_unwind, ts_args_type = "options?: Record<string, unknown>")]
            pub fn new(options: Option<Unknown<'_>>) -> napi::Result<Self, Code> {
                guard(|| {
                    Ok($name {
                        state: SinkState::new($kind, options)?,
                    })
                })
            }

            /// Taps `hub`: every publication from now on is written; returns this sink.
            #[napi(catch_unwind, ts_args_type = "hub: Hub", ts_return_type = "this")]
            pub fn attach<'env>(
                &self,
                this: This<'env>,
                hub: Unknown<'_>,
            ) -> napi::Result<Object<'env>, Code> {
                guard(|| self.state.attach(&hub))?;
                Ok(this.object)
            }

            /// Resolves once everything queued is written (rejects with `timeout` after
            /// `timeoutMs`, default 10 000).
            #[napi(ts_return_type = "Promise<void>")]
            pub fn flush(&self, timeout_ms: Option<f64>) -> Done {
                self.state.flush(timeout_ms)
            }

            /// Detaches from every hub, flushes and stops the writer.
            #[napi(ts_return_type = "Promise<void>")]
            pub fn close(&self, timeout_ms: Option<f64>) -> Done {
                self.state.close(timeout_ms)
            }

            /// The link's figures (records queued and written, retries, refusals when full,
            /// breaker state).
            #[napi(catch_unwind)]
            pub fn stats(&self) -> napi::Result<LinkStats, Code> {
                guard(|| Ok(self.state.inner.link().stats().into()))
            }

            $($extra)*
        }
    };
}

source_class!(
    RedisStreamSource,
    "redis_stream",
    "Reads a Redis stream in a consumer group (`XREADGROUP`), `XACK`s each entry after it was applied and claims a dead consumer's pending entries (`XAUTOCLAIM`)."
);
source_class!(
    RedisPubSubSource,
    "redis_pubsub",
    "Subscribes to Redis channels (`SUBSCRIBE` / `PSUBSCRIBE` patterns); at-most-once, as pub/sub is."
);
source_class!(
    KafkaSource,
    "kafka",
    "Reads Kafka topics in a consumer group, at least once: an offset is stored only after its event was applied."
);
sink_class!(
    RedisStreamSink,
    "redis_stream",
    "Writes each publication to a Redis stream (`XADD ... MAXLEN ~ N`), pipelined."
);
sink_class!(
    RedisPubSubSink,
    "redis_pubsub",
    "Publishes each publication on a Redis channel (`PUBLISH`), pipelined."
);
sink_class!(
    KafkaSink,
    "kafka",
    "Writes each publication to a Kafka topic (default `dashboard-updates`) with an idempotent producer, keyed by dashboard."
);

sink_class!(
    RedisCache,
    "redis_cache",
    "The latest value per metric in Redis: `HSET dashboard:{id} {metric} {value, timestamp, metadata}` (pipelined, one round trip per flush), optional TTL. `load(id)` gives a hash back; `seed(hub)` fills a restarted node's snapshots from it.",
    {
        #[doc = "The cached hash of `dashboard` as `{series: value}` (a series with tags or metadata keeps `{value, timestamp, metadata}`; empty when nothing is cached)."]
        #[napi(ts_return_type = "Promise<Record<string, unknown>>")]
        pub fn load(&self, dashboard: String) -> AsyncTask<Job<Value>> {
            self.state.load(dashboard)
        }

        #[doc = "Seeds `hub`'s snapshots from the cache; resolves with how many dashboards."]
        #[napi(catch_unwind, ts_args_type = "hub: Hub", ts_return_type = "Promise<number>")]
        pub fn seed(&self, hub: Unknown<'_>) -> napi::Result<AsyncTask<Job<f64>>, Code> {
            guard(|| self.state.seed(&hub))
        }
    }
);
