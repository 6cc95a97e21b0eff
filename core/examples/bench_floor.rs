//! The physical-limit row of `bench/server` (contender `floor`): the least a WebSocket server can do
//! per delivery on this machine. One thread, blocking sockets, no framework: each publication is
//! encoded once into one pre-built text frame, then written with one `write` call per client socket,
//! as every server does at low rates where nothing is ready to coalesce. No read path, no
//! subscription, no queue, no timer: what is left is the kernel's cost of one small TCP write on
//! loopback, which is the floor the feed server's CPU per delivery is compared with.
//!
//! Speaks the control protocol of bench/server/servers/control.py on stdin/stdout (`stats`,
//! `publish`, `quit`; `{"ready": true, ...}` at start) and the WebSocket handshake by hand.
//!
//! Run (bench/server/run.sh builds it): `target/release/examples/bench_floor --port N`

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Publisher tick, as control.py's.
const TICK: Duration = Duration::from_millis(5);
/// Target size of one message, as control.py's.
const TARGET_BYTES: usize = 200;

type Clients = Arc<Mutex<Vec<TcpStream>>>;

/// The client list, also when a thread panicked while holding it.
fn lock(clients: &Clients) -> std::sync::MutexGuard<'_, Vec<TcpStream>> {
    clients.lock().unwrap_or_else(|e| e.into_inner())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let port: u16 = args
        .iter()
        .position(|a| a == "--port")
        .and_then(|i| args.get(i + 1))
        .and_then(|p| p.parse().ok())
        .ok_or("usage: bench_floor --port N")?;
    let listener = TcpListener::bind(("127.0.0.1", port))?;
    let clients: Clients = Arc::default();
    let accepted = clients.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            if let Some(s) = handshake(stream) {
                lock(&accepted).push(s);
            }
        }
    });
    send(&json!({"ready": true, "port": port, "pid": std::process::id()}));
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let Ok(msg) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let id = msg.get("id").cloned().unwrap_or(Value::Null);
        match msg.get("cmd").and_then(Value::as_str) {
            Some("stats") => {
                let subscribers = lock(&clients).len();
                send(
                    &json!({"id": id, "cpu_us": cpu_us(), "rss_kb": rss_kb(), "subscribers": subscribers}),
                );
            }
            Some("publish") => {
                let count = msg["count"].as_u64().unwrap_or(0);
                let rate = msg["rate"].as_f64().unwrap_or(1.0);
                let step = msg["step"].as_u64().unwrap_or(0);
                let elapsed = publish_step(&clients, count, rate, step);
                send(&json!({"id": id, "sent": count, "elapsed_s": elapsed}));
            }
            Some("quit") => {
                send(&json!({"id": id, "bye": true}));
                break;
            }
            other => send(&json!({"id": id, "error": format!("unknown cmd {other:?}")})),
        }
    }
    Ok(())
}

/// Answers the upgrade request of a new connection; `None` when it is not one.
fn handshake(mut s: TcpStream) -> Option<TcpStream> {
    s.set_nodelay(true).ok()?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.ends_with(b"\r\n\r\n") {
        let n = s.read(&mut buf).ok()?;
        if n == 0 || head.len() > 16 << 10 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head);
    let key = text.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim().to_owned())
    })?;
    let answer = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    s.write_all(answer.as_bytes()).ok()?;
    Some(s)
}

/// Publishes `count` updates at `rate`/s, each written to every client; returns the elapsed seconds.
fn publish_step(clients: &Clients, count: u64, rate: f64, step: u64) -> f64 {
    let pad = "x".repeat(TARGET_BYTES.saturating_sub(message(0, 0, "").len()));
    let t0 = Instant::now();
    let mut sent = 0;
    let mut socks = lock(clients);
    while sent < count {
        let due = count.min((t0.elapsed().as_secs_f64() * rate) as u64 + 1);
        while sent < due {
            sent += 1;
            let frame = text_frame(message(sent, step, &pad).as_bytes());
            // A client that went away is dropped from the list.
            socks.retain_mut(|s| s.write_all(&frame).is_ok());
        }
        if sent < count {
            std::thread::sleep(TICK);
        }
    }
    t0.elapsed().as_secs_f64()
}

/// The update the load generator reads: `{"seq", "step", "ts" (CLOCK_MONOTONIC µs), "pad"}`.
fn message(seq: u64, step: u64, pad: &str) -> String {
    json!({"seq": seq, "step": step, "ts": mono_us(), "pad": pad}).to_string()
}

/// An unmasked, final text frame (server to client).
fn text_frame(payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(payload.len() + 4);
    f.push(0x81);
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

fn send(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// CLOCK_MONOTONIC in µs (the load generator's clock).
fn mono_us() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given and nothing else.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1000
}

/// User + system CPU time of the process, µs.
fn cpu_us() -> u64 {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut r: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above; RUSAGE_SELF covers every thread.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut r) };
    let us = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
    us(r.ru_utime) + us(r.ru_stime)
}

/// VmRSS, kB.
fn rss_kb() -> i64 {
    let Ok(f) = std::fs::File::open("/proc/self/status") else {
        return -1;
    };
    BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.strip_prefix("VmRSS:")
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(-1)
}
