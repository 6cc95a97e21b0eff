//! WebSocket fan-out benchmark of the feed server: `C` clients subscribed to one dashboard over `/ws`,
//! `M` publications; reports end-to-end throughput, deliveries per second and socket writes per
//! delivered message (coalescing).
//!
//! `cargo run --release -p dashfeed --example bench_server -- [clients] [messages] [json|msgpack]`

use dashfeed::codec::Value;
use dashfeed::hub::{Hub, HubConfig, Policy};
use dashfeed::server::{Server, ServerConfig};
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;

fn arg<T: std::str::FromStr>(i: usize, default: T) -> T {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let clients: usize = arg(1, 100);
    let messages: u64 = arg(2, 20_000);
    let format: String = arg(3, "json".to_string());
    let protocol = format!("dashfeed.v1.{format}");
    let hub = Hub::new(HubConfig {
        // Every message must arrive: no conflation, queues large enough for the burst.
        policy: Policy::DropOldest,
        queue_messages: 1 << 20,
        queue_bytes: 1 << 30,
        ..HubConfig::default()
    })?;
    let config = ServerConfig {
        message_rate: dashfeed::limit::LimiterConfig::new(1e6, 1_000_000),
        ..ServerConfig::ephemeral()
    };
    let server = Server::start(hub.clone(), config)?;
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let url = format!("{}/ws", server.ws_url());
    let started = client_rt.block_on(async {
        let mut tasks = Vec::new();
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(clients);
        for _ in 0..clients {
            let mut req = url.as_str().into_client_request()?;
            req.headers_mut()
                .insert("sec-websocket-protocol", HeaderValue::from_str(&protocol)?);
            let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
            let sub = r#"{"op":"subscribe","dashboard":"bench"}"#;
            ws.send(Message::Text(sub.into())).await?;
            let ready = ready_tx.clone();
            tasks.push(tokio::spawn(async move {
                let mut seen = 0u64;
                let mut first = true;
                while let Some(Ok(m)) = ws.next().await {
                    if m.is_text() || m.is_binary() {
                        if first {
                            first = false;
                            let _ = ready.send(()).await;
                            continue;
                        }
                        seen += 1;
                        if seen == messages {
                            break;
                        }
                    }
                }
                seen
            }));
        }
        for _ in 0..clients {
            ready_rx.recv().await;
        }
        Ok::<_, Box<dyn std::error::Error>>(tasks)
    })?;
    let before = server.stats();
    let t0 = Instant::now();
    for i in 0..messages {
        let data = Value::Map(vec![
            ("cpu".into(), Value::Float(i as f64 * 0.001)),
            ("seq".into(), Value::UInt(i)),
        ]);
        hub.publish("bench", data)?;
    }
    let published = t0.elapsed();
    let received: u64 = client_rt.block_on(async {
        let mut total = 0;
        for t in started {
            total += tokio::time::timeout(Duration::from_secs(120), t).await??;
        }
        Ok::<_, Box<dyn std::error::Error>>(total)
    })?;
    let elapsed = t0.elapsed();
    let after = server.stats();
    let writes = after.socket_writes - before.socket_writes;
    println!(
        "{clients} clients x {messages} messages ({format}): publish {:.0} msg/s, \
         end-to-end {:.2} s, {:.0} deliveries/s, {:.3} socket writes per delivery",
        messages as f64 / published.as_secs_f64(),
        elapsed.as_secs_f64(),
        received as f64 / elapsed.as_secs_f64(),
        writes as f64 / received.max(1) as f64,
    );
    server.shutdown_blocking(Duration::from_secs(10))?;
    Ok(())
}
