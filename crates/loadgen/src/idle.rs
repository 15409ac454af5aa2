//! Idle capacity: open N customer sessions, park each at the menu (or in the
//! queue), keep them alive with pings like a real client, and measure the
//! server's RSS as they accumulate.
//!
//! Sessions are raw sockets, not [`frontdesk_client::CustomerClient`]s: the SDK
//! connects from whatever address the kernel picks, and one source address has
//! only ~28,000 ephemeral ports. Here each socket is bound to 127.0.0.2, .3, …
//! in turn (`--per-source-ip` each) with tokio's `TcpSocket`, and the WebSocket
//! handshake runs over it with `tokio_tungstenite::client_async_with_config`.
//! The client's read buffer is 1 KiB: tungstenite's default (128 KiB) would make
//! the load generator, not the server, run out of memory first.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use frontdesk_protocol::{ClientMessage, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::options::{IdleOptions, Park};
use crate::procfs;
use crate::report::{IdleReport, RssPoint};
use crate::stats::Stats;

/// How long opening one session (connect, handshake, `welcome`) may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// What the sessions share.
#[derive(Debug)]
struct Shared {
    opts: IdleOptions,
    url: String,
    addr: SocketAddr,
    /// Bind sockets to 127.0.0.x (the server is on loopback IPv4).
    spread_sources: bool,
    stats: Stats,
    opened: AtomicU64,
    failed: AtomicU64,
    alive: AtomicU64,
}

/// Opens and holds the sessions of `opts`, and reports.
///
/// # Errors
/// When the URL is unusable or its host does not resolve.
pub async fn run(opts: IdleOptions) -> anyhow::Result<IdleReport> {
    let fd_limit = crate::raise_fd_limit();
    let url = frontdesk_client::ws_url(&opts.target.url)?;
    let parsed = url::Url::parse(&url)?;
    let host = parsed.host_str().context("the URL has no host")?.to_owned();
    let port = parsed
        .port_or_known_default()
        .context("the URL has no port")?;
    let addr = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await?
        .next()
        .with_context(|| format!("{host} does not resolve"))?;
    let spread_sources = matches!(addr.ip(), IpAddr::V4(ip) if ip.is_loopback());
    if opts.sessions + 1000 > fd_limit {
        tracing::warn!(
            fd_limit,
            sessions = opts.sessions,
            "the open-file limit is below the sessions asked for: raise the hard limit (ulimit -Hn)"
        );
    }
    let server_pid = crate::run::server_pid(&opts.target.url, opts.target.server_pid);
    let self_pid = std::process::id();
    let server_before = server_pid.and_then(|p| procfs::sample(p).ok());
    let self_before = procfs::sample(self_pid).ok();

    let shared = Arc::new(Shared {
        opts: opts.clone(),
        url,
        addr,
        spread_sources,
        stats: Stats::default(),
        opened: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        alive: AtomicU64::new(0),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(opts.open_concurrency.max(1)));
    let bar = ProgressBar::new(opts.sessions);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {elapsed:>4} [{bar:30}] {pos}/{len} sessions  {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }

    let step = if opts.step == 0 {
        (opts.sessions / 10).max(1)
    } else {
        opts.step
    };
    let mut points = vec![point(0, server_before.as_ref(), self_before.as_ref())];
    let mut next_point = step;
    let start = Instant::now();
    let mut sessions = JoinSet::new();
    for i in 0..opts.sessions {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        sessions.spawn(session(shared.clone(), i, slot, stop_rx.clone()));
        let opened = shared.opened.load(Ordering::Relaxed);
        bar.set_position(opened);
        if opened >= next_point {
            points.push(sample_point(opened, server_pid, self_pid));
            next_point = opened + step;
        }
    }
    // The last ones finish opening.
    while shared.opened.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < opts.sessions
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
        bar.set_position(shared.opened.load(Ordering::Relaxed));
    }
    let open_secs = start.elapsed().as_secs_f64();
    let opened = shared.opened.load(Ordering::Relaxed);
    points.push(sample_point(opened, server_pid, self_pid));
    bar.set_message(format!("open; holding {} s", opts.hold));
    tracing::info!(opened, open_secs, "sessions open; holding");

    let hold_until = Instant::now() + Duration::from_secs(opts.hold);
    while Instant::now() < hold_until {
        tokio::time::sleep(Duration::from_secs(1).min(hold_until - Instant::now())).await;
        bar.set_message(format!(
            "holding: {} alive, {} errors",
            shared.alive.load(Ordering::Relaxed),
            shared.stats.error_total()
        ));
    }
    bar.finish_and_clear();
    let alive_at_end = shared.alive.load(Ordering::Relaxed);
    let server_after = server_pid.and_then(|p| procfs::sample(p).ok());
    let self_after = procfs::sample(self_pid).ok();
    points.push(point(
        alive_at_end,
        server_after.as_ref(),
        self_after.as_ref(),
    ));

    let _ = stop_tx.send(true);
    let closed = tokio::time::timeout(Duration::from_secs(60), async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if closed.is_err() {
        tracing::warn!("some sessions did not close within 60 s");
    }

    let per_session = |before: Option<&procfs::Sample>, after: Option<&procfs::Sample>| {
        let (b, a) = before.zip(after)?;
        (alive_at_end > 0).then(|| (a.rss_kib as f64 - b.rss_kib as f64) / alive_at_end as f64)
    };
    let mib = |s: Option<&procfs::Sample>| s.map(|s| s.rss_kib as f64 / 1024.0);
    // The points taken while opening (the last one is after the hold).
    let opening: Vec<(f64, f64)> = points[..points.len() - 1]
        .iter()
        .map(|p| (p.sessions as f64, p.server_rss_mib * 1024.0))
        .collect();
    let slope = crate::report::slope(&opening).filter(|_| server_pid.is_some());
    Ok(IdleReport {
        server_kib_per_session_slope: slope,
        opened,
        alive_at_end,
        open_secs,
        opened_per_sec: opened as f64 / open_secs.max(1e-3),
        server_rss_before_mib: mib(server_before.as_ref()),
        server_rss_after_mib: mib(server_after.as_ref()),
        server_kib_per_session: per_session(server_before.as_ref(), server_after.as_ref()),
        loadgen_kib_per_session: per_session(self_before.as_ref(), self_after.as_ref()),
        points,
        server: server_pid
            .zip(server_before.zip(server_after))
            .map(|(pid, (b, a))| procfs::usage(pid, &b, &a)),
        errors: shared.stats.errors(),
        fd_limit,
        options: opts,
    })
}

fn point(sessions: u64, server: Option<&procfs::Sample>, me: Option<&procfs::Sample>) -> RssPoint {
    let mib = |s: Option<&procfs::Sample>| s.map_or(0.0, |s| s.rss_kib as f64 / 1024.0);
    RssPoint {
        sessions,
        server_rss_mib: mib(server),
        loadgen_rss_mib: mib(me),
    }
}

fn sample_point(sessions: u64, server_pid: Option<u32>, self_pid: u32) -> RssPoint {
    let server = server_pid.and_then(|p| procfs::sample(p).ok());
    let me = procfs::sample(self_pid).ok();
    point(sessions, server.as_ref(), me.as_ref())
}

/// One session: open it (holding an opening slot), then hold it until stopped.
async fn session(
    shared: Arc<Shared>,
    i: u64,
    slot: OwnedSemaphorePermit,
    mut stop: watch::Receiver<bool>,
) {
    let opened = tokio::time::timeout(OPEN_TIMEOUT, open(&shared, i)).await;
    drop(slot);
    let mut ws = match opened {
        Ok(Ok(ws)) => ws,
        Ok(Err(code)) => {
            shared.stats.error(&code);
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        Err(_) => {
            shared.stats.error("open_timeout");
            shared.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    shared.opened.fetch_add(1, Ordering::Relaxed);
    shared.alive.fetch_add(1, Ordering::Relaxed);
    let every = Duration::from_secs(shared.opts.ping_secs.max(1));
    // Spread the pings over the interval instead of all at once.
    let offset = Duration::from_millis(i % u64::try_from(every.as_millis()).unwrap_or(1).max(1));
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + offset, every);
    let ping_text =
        serde_json::to_string(&ClientMessage::Ping { nonce: Some(i) }).unwrap_or_default();
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if ws.send(Message::Text(ping_text.clone().into())).await.is_err() {
                    shared.stats.error("closed");
                    break;
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => {
                    if let Ok(ServerMessage::Error { error, .. }) = serde_json::from_str(t.as_str()) {
                        shared.stats.error(&error.to_string());
                    }
                }
                Some(Ok(Message::Close(_))) | None => {
                    shared.stats.error("closed_by_server");
                    break;
                }
                Some(Err(_)) => {
                    shared.stats.error("connection");
                    break;
                }
                Some(Ok(_)) => {}
            },
            _ = stop.changed() => {
                let _ = ws.close(None).await;
                break;
            }
        }
    }
    shared.alive.fetch_sub(1, Ordering::Relaxed);
}

/// Connects (from 127.0.0.x when the server is on loopback), upgrades, starts
/// a consultation, and parks it. `Err` carries a code for the report.
async fn open(shared: &Shared, i: u64) -> Result<WebSocketStream<TcpStream>, String> {
    let socket = TcpSocket::new_v4().map_err(|_| "socket".to_owned())?;
    if shared.spread_sources {
        let n = shared.opts.first + i;
        let which = n / shared.opts.per_source_ip.max(1);
        // 127.0.0.2 … 127.0.0.254, then 127.0.1.1 …: all loopback.
        let host = u32::try_from(which).unwrap_or(0) + 2;
        let ip = Ipv4Addr::from(0x7F00_0000 | (host & 0x00FF_FFFF));
        socket
            .bind(SocketAddr::new(IpAddr::V4(ip), 0))
            .map_err(|_| "bind".to_owned())?;
    }
    let stream = socket
        .connect(shared.addr)
        .await
        .map_err(|_| "connect".to_owned())?;
    let _ = stream.set_nodelay(true);
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(0);
    let (mut ws, _) =
        tokio_tungstenite::client_async_with_config(shared.url.as_str(), stream, Some(config))
            .await
            .map_err(|_| "handshake".to_owned())?;
    let phone = crate::phone(shared.opts.first + i);
    send(&mut ws, &ClientMessage::start(&phone)).await?;
    wait(&mut ws, |m| matches!(m, ServerMessage::Welcome { .. })).await?;
    if shared.opts.park == Park::Queue {
        send(
            &mut ws,
            &ClientMessage::Select {
                req: 1,
                item: "chat".into(),
            },
        )
        .await?;
        wait(&mut ws, |m| matches!(m, ServerMessage::Ack { req: 1 })).await?;
    }
    Ok(ws)
}

async fn send(ws: &mut WebSocketStream<TcpStream>, msg: &ClientMessage) -> Result<(), String> {
    let text = serde_json::to_string(msg).map_err(|_| "encode".to_owned())?;
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|_| "closed".to_owned())
}

/// Reads until a message `want`s; an error message is the server's code.
async fn wait(
    ws: &mut WebSocketStream<TcpStream>,
    want: impl Fn(&ServerMessage) -> bool,
) -> Result<(), String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => match serde_json::from_str::<ServerMessage>(t.as_str()) {
                Ok(m) if want(&m) => return Ok(()),
                Ok(ServerMessage::Error { error, .. }) => return Err(error.to_string()),
                Ok(_) => {}
                Err(_) => return Err("protocol".into()),
            },
            Some(Ok(Message::Close(_))) | None => return Err("closed_by_server".into()),
            Some(Err(_)) => return Err("connection".into()),
            Some(Ok(_)) => {}
        }
    }
}
