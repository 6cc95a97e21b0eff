//! Real brokers for the connector tests: a `redis-server` process on a spare loopback port (killed
//! with the test), and a collecting [`Ingest`] target that can refuse batches.

#![allow(dead_code)]

use dashfeed::connect::Ingest;
use dashfeed::{Error, Event, Result};
use parking_lot::Mutex;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A spare loopback port (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` child; `persist` keeps an append-only file (fsync always) across restarts.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    persist: bool,
}

impl Redis {
    pub fn start(persist: bool) -> Redis {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("dashfeed-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Redis {
            port,
            child: None,
            dir,
            persist,
        };
        r.spawn();
        r
    }

    fn spawn(&mut self) {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--save")
            .arg("")
            .arg("--dir")
            .arg(&self.dir);
        if self.persist {
            cmd.args(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            cmd.args(["--appendonly", "no"]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (scripts/setup.sh)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut c) = self.client().get_connection() {
                if redis::cmd("PING").query::<String>(&mut c).is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn client(&self) -> redis::Client {
        redis::Client::open(self.url()).unwrap()
    }

    pub fn con(&self) -> redis::Connection {
        self.client().get_connection().unwrap()
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts again on the same port (empty unless `persist`).
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A target that records every event it accepts; it refuses (`slow_consumer`) the first
/// `refuse_first` calls, and every call from the moment `refuse_after` events were recorded
/// (recording that last batch: "applied, then crashed before the acknowledgement").
#[derive(Default)]
pub struct Collect {
    pub events: Mutex<Vec<Event>>,
    pub refuse_first: AtomicUsize,
    pub refuse_after: AtomicUsize,
    pub calls: AtomicUsize,
}

impl Collect {
    pub fn new() -> Self {
        Collect {
            refuse_after: AtomicUsize::new(usize::MAX),
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.events.lock().len()
    }

    /// Distinct event ids recorded.
    pub fn unique_ids(&self) -> std::collections::BTreeSet<String> {
        self.events
            .lock()
            .iter()
            .map(|e| e.id.clone().unwrap_or_default())
            .collect()
    }

    /// Waits (bounded) until `pred` holds.
    pub fn wait_for(&self, what: &str, timeout: Duration, pred: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        while !pred(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} ({} events)",
                self.len()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Ingest for Collect {
    fn ingest(&self, events: Vec<Event>) -> Result<usize> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if self.refuse_first.load(Ordering::SeqCst) > 0 {
            self.refuse_first.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::SlowConsumer);
        }
        let mut all = self.events.lock();
        if all.len() >= self.refuse_after.load(Ordering::SeqCst) {
            return Err(Error::SlowConsumer);
        }
        let n = events.len();
        all.extend(events);
        if all.len() >= self.refuse_after.load(Ordering::SeqCst) {
            return Err(Error::SlowConsumer);
        }
        Ok(n)
    }
}

/// Waits (bounded) until `pred` holds, polling.
pub fn wait_until(what: &str, timeout: Duration, mut pred: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !pred() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
