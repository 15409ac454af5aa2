//! The baseline: a bare WebSocket echo server (tokio-tungstenite, in this
//! process, on 127.0.0.1:0) and round trips through it with the client SDK's own
//! socket type ([`frontdesk_client::Connection`]), so the baseline goes through
//! the same WebSocket client, JSON encoding and parsing as the real run.
//!
//! The echo server reads frames with the same 4 KiB read buffer the real server
//! uses. It echoes text back unchanged; the client sends a server message
//! (a `chat` line the size of the run's chat messages), so what comes back
//! parses as one, as the real server's answers do.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use frontdesk_client::Connection;
use frontdesk_protocol::{ChatLine, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::sim::rng_for;
use crate::stats::{Stats, Step};

/// A running echo server; dropping it stops the server and its connections.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    /// The accept loop and every connection: aborted on drop.
    _tasks: JoinSet<()>,
}

impl EchoServer {
    /// Starts one on 127.0.0.1 and a free port.
    ///
    /// # Errors
    /// When it cannot listen.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let mut tasks = JoinSet::new();
        tasks.spawn(accept(listener));
        Ok(Self {
            addr,
            _tasks: tasks,
        })
    }

    /// `http://127.0.0.1:PORT`: the form `Connection::open` takes.
    #[must_use]
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

async fn accept(listener: TcpListener) {
    // Connections live in this set, so they end with the accept loop.
    let mut conns = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        conns.spawn(echo(stream));
        while conns.try_join_next().is_some() {}
    }
}

/// Echoes text frames back until the client leaves.
async fn echo(stream: tokio::net::TcpStream) {
    let config = WebSocketConfig::default()
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(config)).await else {
        return;
    };
    while let Some(Ok(msg)) = ws.next().await {
        let back = match msg {
            Message::Text(_) | Message::Binary(_) => msg,
            Message::Close(_) => return,
            _ => continue,
        };
        if ws.send(back).await.is_err() {
            return;
        }
    }
}

/// The baseline: `clients` connections, each sending a chat-sized message,
/// waiting for it to come back, and pausing about `think_ms`, for `length`.
/// Round trips go to [`Step::Echo`] in `stats`; failures are counted under
/// `echo_*` codes.
///
/// # Errors
/// When the echo server cannot start.
pub async fn baseline(
    clients: usize,
    think_ms: u64,
    length: Duration,
    seed: u64,
    stats: Arc<Stats>,
) -> std::io::Result<()> {
    let server = EchoServer::start().await?;
    let url = server.url();
    let until = Instant::now() + length;
    let mut set = JoinSet::new();
    for i in 0..clients {
        let url = url.clone();
        let stats = stats.clone();
        set.spawn(async move {
            let mut rng = rng_for(seed ^ 0xEC40, i as u64);
            let mut conn = match Connection::open(&url).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "echo connection failed");
                    stats.error("echo_connect");
                    return;
                }
            };
            let msg = sample_message();
            while Instant::now() < until {
                crate::sim::think(&mut rng, think_ms).await;
                let at = Instant::now();
                let sent = conn.send_text(&msg).await;
                let back = match sent {
                    Ok(()) => conn.recv().await,
                    Err(e) => Err(e),
                };
                match back {
                    Ok(ServerMessage::Chat { .. }) => stats.record(Step::Echo, at.elapsed()),
                    Ok(_) => stats.error("echo_unexpected"),
                    Err(e) => {
                        tracing::warn!(error = %e, "echo round trip failed");
                        stats.error("echo_broken");
                        return;
                    }
                }
            }
        });
    }
    while set.join_next().await.is_some() {}
    drop(server);
    Ok(())
}

/// A `chat` message as the server relays it, the size of the run's chat lines.
fn sample_message() -> String {
    let line = ChatLine {
        seq: 3,
        from: "customer".into(),
        text: format!("lg 1/3 123456789 {}", crate::sim::CHAT_FILLER),
        at_ms: 1_700_000_000_000,
        id: "0190f3a0-0000-7000-8000-000000000000".into(),
    };
    let msg = ServerMessage::Chat {
        service: "0190f3a0-0000-7000-8000-000000000001".into(),
        line,
    };
    serde_json::to_string(&msg).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_baseline_measures_round_trips() {
        let stats = Arc::new(Stats::default());
        baseline(3, 1, Duration::from_millis(300), 1, stats.clone())
            .await
            .unwrap();
        let l = stats.latency(Step::Echo).unwrap();
        assert!(l.count > 3, "{l:?}");
        assert_eq!(stats.error_total(), 0, "{:?}", stats.errors());
    }
}
