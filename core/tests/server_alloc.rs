//! What the server really retains per idle WebSocket connection: heap bytes counted by a counting
//! allocator while 10,000 raw clients (std sockets in this process, no heap of their own) hold
//! subscribed connections open (fewer when the open-file limit cannot be raised that far). Budget:
//! 6 KiB of heap per connection, under the 8 KB of RSS per idle connection that bench/server
//! measures (RSS adds the allocator's own overhead and what the handshakes left behind).

mod alloc_support;
mod server_support;

use alloc_support::{Counting, LIVE};
use dashfeed::server::ServerConfig;
use server_support::{data, hub, start};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap per idle subscribed connection, at most.
const BUDGET: usize = 6 << 10;
/// Connections measured, when the open-file limit allows (two descriptors each, client and server).
const CONNECTIONS: usize = 10_000;

/// Raises the soft open-file limit to the hard one; returns how many connections fit.
fn connections_that_fit() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed by reference.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        }
    }
    let fds = usize::try_from(lim.rlim_cur).unwrap_or(usize::MAX);
    CONNECTIONS.min(fds.saturating_sub(256) / 2)
}

/// Opens a WebSocket to `/dashboard/room` by hand and reads until the snapshot frame has arrived.
fn open(port: u16) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /dashboard/room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
          Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
          Sec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut buf = [0u8; 4096];
    let mut got = 0;
    // The 101 answer, then the snapshot: a text frame (0x81) after the header's blank line.
    loop {
        let n = s.read(&mut buf[got..]).unwrap();
        assert!(n > 0, "closed before the snapshot");
        got += n;
        if let Some(end) = buf[..got].windows(4).position(|w| w == b"\r\n\r\n") {
            assert!(buf.starts_with(b"HTTP/1.1 101"), "upgrade refused");
            if got > end + 4 + 2 {
                assert_eq!(buf[end + 4], 0x81, "a text frame");
                return s;
            }
        }
        assert!(got < buf.len(), "no snapshot in the first 4 KiB");
    }
}

#[test]
fn an_idle_subscribed_connection_retains_at_most_6_kib_of_heap() {
    let n = connections_that_fit();
    assert!(n >= 100, "open-file limit too low for 100 connections");
    let hub = hub();
    let config = ServerConfig {
        max_connections: 2 * CONNECTIONS,
        ..ServerConfig::default()
    };
    let server = start(&hub, config);
    let port = server.local_addr().port();
    hub.publish("room", data(&[("cpu", 1.0), ("mem", 2.0)]))
        .unwrap();
    // Warm-up: runtime threads, the topic, lazily built wire bytes, metric families.
    let warm: Vec<TcpStream> = (0..20).map(|_| open(port)).collect();
    let settle = |want: usize| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while server.stats().connections != want {
            assert!(
                Instant::now() < deadline,
                "connections did not settle at {want}"
            );
            std::thread::yield_now();
        }
    };
    settle(warm.len());
    let before = LIVE.load(Relaxed);
    let clients: Vec<TcpStream> = (0..n).map(|_| open(port)).collect();
    settle(warm.len() + n);
    let after = LIVE.load(Relaxed);
    let per = after.saturating_sub(before) / n;
    eprintln!("heap per idle subscribed connection: {per} bytes ({n} connections)");
    assert!(
        per <= BUDGET,
        "{per} bytes per idle connection (budget {BUDGET})"
    );
    // Still connected and subscribed: the topic counts every client.
    let stats = hub.topic_stats("room").unwrap();
    assert_eq!(stats.subscribers, warm.len() + n);
    drop(clients);
    settle(warm.len());
}
