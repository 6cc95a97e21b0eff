//! Redis connectors (crate `redis`, tokio, `ConnectionManager` reconnecting in the background):
//!
//! - [`RedisCache`]: the latest value per metric in the reference notes' layout,
//!   `HSET dashboard:{id} {metric} {"value", "timestamp", "metadata"}`, pipelined, optional TTL;
//!   [`RedisCache::load`] / [`RedisCache::seed`] give it back as hub snapshots after a restart, and a
//!   Redis restarted empty (new `run_id`) is re-seeded from the hub;
//! - [`RedisStreamSource`]: a consumer group (`XREADGROUP`), `XACK` after the event was applied, this
//!   consumer's pending entries re-read at start, a dead consumer's claimed with `XAUTOCLAIM`;
//! - [`RedisStreamSink`]: `XADD ... MAXLEN ~ N`, pipelined;
//! - [`RedisPubSubSource`] / [`RedisPubSubSink`]: channels (at-most-once, as pub/sub is).

mod cache;
mod pubsub;
mod stream_sink;
mod stream_source;

pub(crate) use cache::{from_entry as cache_value, to_entry as cache_entry};
pub use cache::{RedisCache, RedisCacheConfig};
pub use pubsub::{
    RedisPubSubSink, RedisPubSubSinkConfig, RedisPubSubSource, RedisPubSubSourceConfig,
};
pub use stream_sink::{RedisStreamSink, RedisStreamSinkConfig};
pub use stream_source::{RedisStreamSource, RedisStreamSourceConfig};

use crate::error::{Error, Result};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::time::Duration;

/// The error of a Redis call, as dashfeed reports it (`io_error`, or `timeout`).
pub(crate) fn redis_err(e: redis::RedisError) -> Error {
    if e.is_timeout() {
        return Error::Timeout(Duration::from_secs(0));
    }
    Error::Io(format!("redis: {e}"))
}

/// A client for `url` (`redis://host:port/db`); `invalid_input` when the URL does not parse.
pub(crate) fn client(url: &str) -> Result<redis::Client> {
    redis::Client::open(url).map_err(|e| Error::invalid(format!("redis url {url:?}: {e}")))
}

/// A connection manager that connects on first use and reconnects in the background; requests time
/// out after `response` (longer than any `BLOCK` the caller uses).
pub(crate) fn manager(client: &redis::Client, response: Duration) -> Result<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(response))
        .set_number_of_retries(4)
        .set_max_delay(Duration::from_secs(2));
    client
        .get_connection_manager_lazy(config)
        .map_err(redis_err)
}

/// Redis's `run_id` (changes at every restart: how a connector notices a Redis that lost its data).
pub(crate) async fn run_id(con: &mut ConnectionManager) -> Result<String> {
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(con)
        .await
        .map_err(redis_err)?;
    info.lines()
        .find_map(|l| l.strip_prefix("run_id:"))
        .map(|s| s.trim().to_owned())
        .ok_or_else(|| Error::Io("redis: INFO server has no run_id".into()))
}

fn default_url() -> String {
    "redis://127.0.0.1:6379".into()
}
