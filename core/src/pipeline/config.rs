//! [`PipelineConfig`]: the declarative file of `dashfeed serve --config dashfeed.toml` — sources →
//! dedupe → aggregator → hub → sinks, and the server.
//!
//! ```toml
//! [server]                     # every key optional
//! host = "0.0.0.0"
//! port = 8080
//! allowed_origins = ["https://dash.example.com"]
//! [server.auth]
//! hs256_secret_env = "DASHFEED_JWT_SECRET"   # or hs256_secret / rs256_public_key_file / es256_public_key_file
//!
//! [hub]
//! history = 1000
//!
//! [aggregator]                 # optional: without it each event is published as it arrives
//! window = { kind = "tumbling", size = "10s" }
//! quantiles = [0.5, 0.99]
//!
//! [[source]]
//! kind = "kafka"
//! brokers = "localhost:9092"
//! topics = ["dashboard-metrics"]
//!
//! [[sink]]
//! kind = "redis_cache"
//! url = "redis://localhost:6379"
//! ```
//!
//! Unknown keys and wrong types are errors naming the key and its line ([`PipelineConfig::parse`]).
//! Durations are text (`"250ms"`, `"10s"`) or integers of milliseconds. The same document, as a
//! dict / object, is accepted by the bindings ([`PipelineConfig::from_json`]).

use crate::codec::Value;
use crate::connect::{SinkSpec, SourceSpec, SpecError};
use crate::error::{Error, Result};
use crate::hub::{HubConfig, Policy};
use crate::server::{AuthConfig, ServerConfig, TlsConfig};
use crate::window::{parse_duration_ms, AggregatorConfig};
use serde::{Deserialize, Deserializer};
use std::path::PathBuf;
use std::time::Duration;

/// A duration given as text (`"10s"`) or as an integer of milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Millis(pub u64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(ms) => Ok(Millis(ms)),
            Raw::Text(t) => parse_duration_ms(&t)
                .map(Millis)
                .map_err(serde::de::Error::custom),
        }
    }
}

impl Millis {
    fn duration(self) -> Duration {
        Duration::from_millis(self.0)
    }
}

/// The whole file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// `[server]`.
    #[serde(default)]
    pub server: ServerSection,
    /// `[hub]`.
    #[serde(default)]
    pub hub: HubSection,
    /// `[aggregator]`, in the keys of `Aggregator.from_config`.
    #[serde(default)]
    pub aggregator: Option<toml::Value>,
    /// `[dedupe]`: event ids remembered before the aggregator.
    #[serde(default)]
    pub dedupe: DedupeSection,
    /// `[cluster]`: share the hub's dashboards with every node on the same Redis (see
    /// [`crate::cluster`]).
    #[serde(default)]
    pub cluster: Option<ClusterSection>,
    /// `[[source]]` entries.
    #[serde(skip)]
    pub sources: Vec<SourceSpec>,
    /// `[[sink]]` entries.
    #[serde(skip)]
    pub sinks: Vec<SinkSpec>,
    /// The `[[source]]` tables as written, read into `sources` by their kind (see [`Entries`]).
    #[serde(default, rename = "source")]
    raw_sources: Vec<serde_json::Value>,
    /// The `[[sink]]` tables as written.
    #[serde(default, rename = "sink")]
    raw_sinks: Vec<serde_json::Value>,
}

/// Where the `[[source]]` / `[[sink]]` tables of a TOML text start, to name the line of a key the
/// connector refused (each entry is read by its kind's settings type after the document parsed, so
/// toml's own spans are gone by then).
struct Entries<'a> {
    text: &'a str,
}

impl Entries<'_> {
    /// 1-based line of `key` (a dotted path) in the `index`-th `[[section]]` table, or of the
    /// table's header when the key is not on a line of its own.
    fn line(&self, section: &str, index: usize, key: Option<&str>) -> Option<usize> {
        let header = format!("[[{section}]]");
        let lines: Vec<&str> = self.text.lines().collect();
        let start = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| l.trim_start().starts_with(&header))
            .nth(index)
            .map(|(n, _)| n)?;
        let Some(key) = key else {
            return Some(start + 1);
        };
        let leaf = key.rsplit('.').next().unwrap_or(key);
        let found = lines[start + 1..]
            .iter()
            .take_while(|l| !l.trim_start().starts_with('['))
            .position(|l| {
                let t = l.trim_start();
                t.strip_prefix(leaf)
                    .is_some_and(|r| r.trim_start().starts_with('='))
                    || t.contains(&format!("{leaf} ="))
                    || t.contains(&format!("{leaf}="))
            });
        Some(found.map_or(start + 1, |n| start + 2 + n))
    }
}

/// `[cluster]`: the settings of [`crate::cluster::Cluster`] (`redis = "redis://..."` and optional
/// bounds).
#[cfg(feature = "redis")]
pub type ClusterSection = crate::cluster::ClusterConfig;
/// `[cluster]` needs the `redis` feature; without it the section is refused.
#[cfg(not(feature = "redis"))]
pub type ClusterSection = toml::Value;

/// `[server]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// Interface. Default `127.0.0.1`.
    pub host: Option<String>,
    /// Port; 0 picks a free one. Default 8080.
    pub port: Option<u16>,
    /// Most streaming connections.
    pub max_connections: Option<usize>,
    /// Largest client message, bytes.
    pub max_message_bytes: Option<usize>,
    /// Largest ingest body, bytes.
    pub max_body_bytes: Option<usize>,
    /// Allowed `Origin`s (`"*"`: any).
    pub allowed_origins: Option<Vec<String>>,
    /// Ping period.
    pub ping_interval: Option<Millis>,
    /// Idle timeout.
    pub idle_timeout: Option<Millis>,
    /// Hold a connection's updates this long to write them together (default 0: off).
    pub write_delay: Option<Millis>,
    /// Directory served at `/`.
    pub static_dir: Option<PathBuf>,
    /// Serve the demo page and browser client at `/` (when no `static_dir`). Default false.
    #[serde(default)]
    pub demo_page: bool,
    /// TLS files.
    pub tls: Option<TlsSection>,
    /// JWT authentication.
    pub auth: Option<AuthSection>,
    /// Ingested events per dashboard per second.
    pub ingest_rate: Option<f64>,
    /// Ingest burst.
    pub ingest_burst: Option<u32>,
}

/// `[server.tls]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    /// Certificate chain (PEM).
    pub cert: PathBuf,
    /// Private key (PEM).
    pub key: PathBuf,
}

/// `[server.auth]`: exactly one key source.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// HS256 shared secret (prefer `hs256_secret_env`: a config file is not a secret store).
    pub hs256_secret: Option<String>,
    /// Name of the environment variable holding the HS256 secret.
    pub hs256_secret_env: Option<String>,
    /// RS256 public key file (PEM).
    pub rs256_public_key_file: Option<PathBuf>,
    /// ES256 public key file (PEM).
    pub es256_public_key_file: Option<PathBuf>,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required `aud`.
    pub audience: Option<String>,
    /// Clock skew allowed.
    pub leeway: Option<Millis>,
}

/// `[hub]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HubSection {
    /// Publications kept per dashboard for resume.
    pub history: Option<usize>,
    /// Oldest publication kept.
    pub history_age: Option<Millis>,
    /// Slow-consumer policy: `conflate`, `drop_oldest` or `disconnect`.
    pub policy: Option<String>,
    /// Queue cap per subscription, messages.
    pub queue_messages: Option<usize>,
    /// Queue cap per subscription, bytes.
    pub queue_bytes: Option<usize>,
    /// Gzip wire messages over this many bytes (`0`: never).
    pub compress_over: Option<usize>,
}

/// `[dedupe]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DedupeSection {
    /// Event ids remembered. Default 100 000.
    pub capacity: usize,
    /// How long an id is remembered. Default 10 minutes.
    pub horizon: Millis,
}

impl Default for DedupeSection {
    fn default() -> Self {
        DedupeSection {
            capacity: 100_000,
            horizon: Millis(600_000),
        }
    }
}

impl PipelineConfig {
    /// Parses TOML text: unknown keys and wrong types are `invalid_input` naming the key and line.
    pub fn parse(text: &str) -> Result<PipelineConfig> {
        let cfg: PipelineConfig = toml::from_str(text)
            .map_err(|e| Error::invalid(format!("config: {}", e.to_string().trim_end())))?;
        cfg.read_entries(Some(Entries { text }))
    }

    /// Reads the raw `[[source]]` / `[[sink]]` tables by their kinds, then checks every part.
    fn read_entries(mut self, entries: Option<Entries<'_>>) -> Result<PipelineConfig> {
        let refused = |section: &str, index: usize, e: SpecError| {
            let line = entries
                .as_ref()
                .and_then(|t| t.line(section, index, e.key.as_deref()))
                .map(|l| format!("line {l}: "))
                .unwrap_or_default();
            let key = e.key.map(|k| format!(" `{k}`")).unwrap_or_default();
            Error::invalid(format!(
                "config: {line}[[{section}]] #{}{key}: {}",
                index + 1,
                e.message
            ))
        };
        for (i, raw) in std::mem::take(&mut self.raw_sources)
            .into_iter()
            .enumerate()
        {
            let spec = SourceSpec::from_json_value(raw).map_err(|e| refused("source", i, e))?;
            self.sources.push(spec);
        }
        for (i, raw) in std::mem::take(&mut self.raw_sinks).into_iter().enumerate() {
            let spec = SinkSpec::from_json_value(raw).map_err(|e| refused("sink", i, e))?;
            self.sinks.push(spec);
        }
        self.check()?;
        Ok(self)
    }

    /// Reads and parses a TOML file.
    pub fn read(path: &std::path::Path) -> Result<PipelineConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        PipelineConfig::parse(&text).map_err(|e| match e {
            Error::InvalidInput(m) => Error::InvalidInput(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Parses the same document given as JSON (a Python dict / JS object from the bindings).
    pub fn from_json(json: &[u8]) -> Result<PipelineConfig> {
        let cfg: PipelineConfig =
            serde_json::from_slice(json).map_err(|e| Error::invalid(format!("config: {e}")))?;
        cfg.read_entries(None)
    }

    /// Builds every part once without starting anything (what `dashfeed serve --check` does).
    pub fn check(&self) -> Result<()> {
        self.hub_config()?.validate()?;
        self.server_config()?.validate()?;
        self.aggregator_config()?;
        if self.dedupe.capacity == 0 {
            return Err(Error::invalid(
                "config: [dedupe] capacity must be at least 1",
            ));
        }
        #[cfg(feature = "redis")]
        if let Some(c) = &self.cluster {
            c.validate()
                .map_err(|e| Error::invalid(format!("config: [cluster]: {e}")))?;
        }
        #[cfg(not(feature = "redis"))]
        if self.cluster.is_some() {
            return Err(Error::invalid(
                "config: [cluster] needs dashfeed built with the `redis` feature",
            ));
        }
        Ok(())
    }

    /// The hub settings.
    pub fn hub_config(&self) -> Result<HubConfig> {
        let h = &self.hub;
        let mut c = HubConfig::default();
        if let Some(n) = h.history {
            c.history = n;
        }
        c.history_age = h.history_age.map(Millis::duration);
        if let Some(p) = &h.policy {
            c.policy = p
                .parse::<Policy>()
                .map_err(|e| Error::invalid(format!("config: [hub] policy: {e}")))?;
        }
        if let Some(n) = h.queue_messages {
            c.queue_messages = n;
        }
        if let Some(n) = h.queue_bytes {
            c.queue_bytes = n;
        }
        if let Some(n) = h.compress_over {
            c.compress_over = (n > 0).then_some(n);
        }
        c.validate()
            .map_err(|e| Error::invalid(format!("config: [hub]: {e}")))?;
        Ok(c)
    }

    /// The aggregator settings, when `[aggregator]` is present.
    pub fn aggregator_config(&self) -> Result<Option<AggregatorConfig>> {
        let Some(section) = &self.aggregator else {
            return Ok(None);
        };
        AggregatorConfig::from_value(&toml_to_value(section))
            .map(Some)
            .map_err(|e| Error::invalid(format!("config: [aggregator]: {e}")))
    }

    /// The server settings (without the pipeline's ingest, health and metrics, which
    /// [`Pipeline`](super::Pipeline) adds).
    pub fn server_config(&self) -> Result<ServerConfig> {
        let s = &self.server;
        let mut c = ServerConfig::default();
        if let Some(h) = &s.host {
            c.host = h.clone();
        }
        if let Some(p) = s.port {
            c.port = p;
        }
        if let Some(n) = s.max_connections {
            c.max_connections = n;
        }
        if let Some(n) = s.max_message_bytes {
            c.max_message_bytes = n;
            c.max_frame_bytes = n;
        }
        if let Some(n) = s.max_body_bytes {
            c.max_body_bytes = n;
        }
        c.allowed_origins = s.allowed_origins.clone();
        if let Some(d) = s.ping_interval {
            c.ping_interval = d.duration();
        }
        if let Some(d) = s.idle_timeout {
            c.idle_timeout = d.duration();
        }
        if let Some(d) = s.write_delay {
            c.write_delay = d.duration();
        }
        c.static_dir = s.static_dir.clone();
        if let Some(t) = &s.tls {
            c.tls = Some(TlsConfig {
                cert_pem_path: t.cert.clone(),
                key_pem_path: t.key.clone(),
            });
        }
        if let Some(a) = &s.auth {
            c.auth = Some(auth_config(a)?);
        }
        if let Some(r) = s.ingest_rate {
            c.ingest_rate.rate = r;
        }
        if let Some(b) = s.ingest_burst {
            c.ingest_rate.burst = b;
        }
        c.validate()
            .map_err(|e| Error::invalid(format!("config: [server]: {e}")))?;
        Ok(c)
    }
}

fn auth_config(a: &AuthSection) -> Result<AuthConfig> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p)
            .map_err(|e| Error::invalid(format!("config: [server.auth] {}: {e}", p.display())))
    };
    let mut keys = Vec::new();
    if let Some(s) = &a.hs256_secret {
        keys.push(AuthConfig::hs256(s));
    }
    if let Some(var) = &a.hs256_secret_env {
        let s = std::env::var(var).map_err(|_| {
            Error::invalid(format!(
                "config: [server.auth] hs256_secret_env: ${var} is not set"
            ))
        })?;
        keys.push(AuthConfig::hs256(s));
    }
    if let Some(p) = &a.rs256_public_key_file {
        keys.push(AuthConfig::rs256_pem(read(p)?));
    }
    if let Some(p) = &a.es256_public_key_file {
        keys.push(AuthConfig::es256_pem(read(p)?));
    }
    if keys.len() != 1 {
        return Err(Error::invalid(
            "config: [server.auth] needs exactly one of hs256_secret, hs256_secret_env, rs256_public_key_file, es256_public_key_file",
        ));
    }
    let mut auth = keys.remove(0);
    auth.issuer = a.issuer.clone();
    auth.audience = a.audience.clone();
    if let Some(l) = a.leeway {
        auth.leeway = l.duration();
    }
    Ok(auth)
}

/// A TOML value as a codec value (datetimes as their text).
pub fn toml_to_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::Str(s.clone()),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::Str(d.to_string()),
        toml::Value::Array(a) => Value::Array(a.iter().map(toml_to_value).collect()),
        toml::Value::Table(t) => Value::Map(
            t.iter()
                .map(|(k, v)| (Value::Str(k.clone()), toml_to_value(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_line() {
        let e = PipelineConfig::parse("[server]\nport = 80\nprot = 1\n").unwrap_err();
        assert_eq!(e.code(), "invalid_input");
        let m = e.to_string();
        assert!(m.contains("prot") && m.contains("line 3"), "{m}");
        let e = PipelineConfig::parse("[hub]\nhistory = \"many\"\n").unwrap_err();
        let m = e.to_string();
        assert!(m.contains("line 2") && m.contains("history"), "{m}");
        let e = PipelineConfig::parse(
            "[[source]]\nkind = \"redis_stream\"\nstream = \"s\"\nbogus = 1\n",
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("`bogus`: unknown field") && e.to_string().contains("line 4"),
            "{e}"
        );
        let text = "[server]\nport = 0\n[[sink]]\nkind = \"redis_cache\"\n[[source]]\nkind = \"redis_stream\"\nstream = \"s\"\n\n[[source]]\nkind = \"redis_stream\"\nstream = \"s\"\ncount = 5\nblock_ms = \"soon\"\n";
        let m = PipelineConfig::parse(text).unwrap_err().to_string();
        assert!(
            m.contains("line 13") && m.contains("[[source]] #2 `block_ms`"),
            "{m}"
        );
        let m = PipelineConfig::parse("[[sink]]\nkind = \"redis_stream\"\nmaxlen = \"5\"\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("line 3") && m.contains("`maxlen`"), "{m}");
        let m = PipelineConfig::parse("[[sink]]\nkind = \"redis_kettle\"\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("line 2") && m.contains("redis_kettle"), "{m}");
        let e = PipelineConfig::parse(
            "[aggregator]\nwindow = { kind = \"tumbling\", size = \"1s\" }\nlatenes = 5\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("latenes"), "{e}");
    }

    #[test]
    fn the_cluster_section_names_its_keys_and_bounds() {
        let m = PipelineConfig::parse("[cluster]\nredis = \"redis://h\"\nhistroy = 5\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("histroy") && m.contains("line 3"), "{m}");
        let m = PipelineConfig::parse("[cluster]\nredis = \"redis://h\"\nbatch = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            m.contains("[cluster]") && m.contains("cluster.batch"),
            "{m}"
        );
        let m = PipelineConfig::parse("[cluster]\nprefix = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(m.contains("redis"), "a cluster names its Redis: {m}");
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/cluster.toml"
        ))
        .unwrap();
        let cfg = PipelineConfig::parse(&text).unwrap();
        let cluster = cfg.cluster.unwrap();
        assert_eq!(cluster.redis, "redis://localhost:6379");
        assert_eq!(cfg.sources.len(), 1);
    }

    #[test]
    fn a_full_config_builds_every_part() {
        let cfg = PipelineConfig::parse(
            r#"
[server]
host = "127.0.0.1"
port = 0
idle_timeout = "30s"
[hub]
history = 50
policy = "drop_oldest"
[aggregator]
window = { kind = "tumbling", size = "1s" }
quantiles = [0.5]
[[source]]
kind = "kafka"
brokers = "127.0.0.1:9"
topics = ["dashboard-metrics"]
[[sink]]
kind = "redis_cache"
url = "redis://127.0.0.1:1"
ttl_s = 60
"#,
        )
        .unwrap();
        assert_eq!(
            cfg.server_config().unwrap().idle_timeout,
            Duration::from_secs(30)
        );
        assert_eq!(cfg.hub_config().unwrap().history, 50);
        assert!(cfg.aggregator_config().unwrap().is_some());
        assert_eq!(cfg.sources.len(), 1);
        assert_eq!(cfg.sinks.len(), 1);
        let json = br#"{"hub": {"history": 5}, "sink": [{"kind": "redis_stream", "stream": "x"}]}"#;
        assert_eq!(
            PipelineConfig::from_json(json).unwrap().hub.history,
            Some(5)
        );
    }
}
