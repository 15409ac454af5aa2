//! The customer WebSocket (`/ws`): one task per connection runs the consultation.
//!
//! The task reads one frame at a time and handles it to the end before reading the
//! next: answer (step 5), record durably (claim 2), acknowledge. Handling requests
//! strictly in order is what makes the request numbers meaningful and lets a
//! resumed connection take over cleanly: when a customer resumes on a new
//! connection, the old one is told to stop ([`Registry`]) and the new one waits
//! until it has, so no request is ever half-handled by two tasks.
//!
//! See `PROTOCOL.md` for the messages. The bot conversation is in [`bot`].

mod bot;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use frontdesk_domain::consultation::{
    Consultation, ConsultationError, EndReason, Outcome, Request, Step,
};
use frontdesk_domain::menu::{ItemKind, Menu};
use frontdesk_domain::phone::Phone;
use frontdesk_domain::rate::TokenBucket;
use frontdesk_domain::tier::Tier;
use frontdesk_protocol::{
    ClientMessage, Content, Crumb, Entry, ErrorCode, Limits, Notice, PROTOCOL_VERSION, Screen,
    ServerMessage,
};
use frontdesk_store::{NewConsultation, NewServiceItem, QueueWrite, StepWrite};
use tokio::sync::{mpsc, oneshot};

use crate::AppState;
use crate::desk::{Phase, Push, Side};
use crate::metrics::Kind;
use crate::secret::{RESUME_PREFIX, new_token, token_hash};
use crate::time::now_ms;

/// `GET /ws`: upgrades to the customer protocol.
pub async fn upgrade(ws: WebSocketUpgrade, State(app): State<AppState>) -> Response {
    let limits = &app.config.limits;
    ws
        // Frames above max_frame_bytes are refused by the WebSocket layer itself
        // (close 1009) before they are buffered; messages between
        // max_message_bytes and that get a protocol error and the connection stays.
        .max_message_size(limits.max_frame_bytes as usize)
        .max_frame_size(limits.max_frame_bytes as usize)
        // tungstenite's default 128 KiB read buffer per connection would dominate
        // memory with many idle customers (axum#3178); our messages are small.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let tasks = app.tasks.clone();
            app.metrics.connections.inc();
            // Tracked so shutdown waits for every session to close cleanly.
            let _ = tasks.spawn(Session::new(app.clone(), socket).run()).await;
            app.metrics.connections.dec();
        })
}

/// Live consultations: which connection holds each one, and how to ask it to stop.
#[derive(Debug, Default)]
pub struct Registry {
    inner: Mutex<HashMap<String, Holder>>,
}

#[derive(Debug)]
struct Holder {
    conn: u64,
    /// Sending a `oneshot::Sender` asks the holder to stop; it answers when stopped.
    stop: mpsc::Sender<oneshot::Sender<()>>,
}

impl Registry {
    /// Makes `conn` the holder of `consultation`; returns the previous holder's stop handle.
    fn claim(
        &self,
        consultation: &str,
        conn: u64,
        stop: mpsc::Sender<oneshot::Sender<()>>,
    ) -> Option<mpsc::Sender<oneshot::Sender<()>>> {
        self.lock()
            .insert(consultation.to_owned(), Holder { conn, stop })
            .map(|old| old.stop)
    }

    /// Forgets `consultation` if `conn` still holds it.
    fn release(&self, consultation: &str, conn: u64) {
        let mut map = self.lock();
        if map.get(consultation).is_some_and(|h| h.conn == conn) {
            map.remove(consultation);
        }
    }

    /// Whether a connection holds `consultation` now.
    #[must_use]
    pub fn is_live(&self, consultation: &str) -> bool {
        self.lock().contains_key(consultation)
    }

    /// Number of live consultations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no consultation is live.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Holder>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// A consultation attached to this connection.
struct Attached {
    id: String,
    phone: String,
    menu: Arc<Menu>,
    state: Consultation,
    /// The bot conversation, once a bot item was chosen.
    bot: Option<bot::BotState>,
    /// The agent whose link (`hello` with `link`) this consultation came through.
    link_agent: Option<i64>,
}

/// Why the session loop stops.
enum Stop {
    /// The client closed or the connection broke.
    Gone,
    /// We close, telling the client why.
    Close(ErrorCode, String, u16),
    /// The consultation ended normally.
    Ended,
}

struct Session {
    app: AppState,
    socket: WebSocket,
    conn: u64,
    bucket: TokenBucket,
    attached: Option<Attached>,
    stop_tx: mpsc::Sender<oneshot::Sender<()>>,
    stop_rx: mpsc::Receiver<oneshot::Sender<()>>,
    /// Set when another connection took over: answer it once we are out.
    stopped_for: Option<oneshot::Sender<()>>,
    /// What the desk tells this consultation (queue places, the agent's messages).
    push_tx: mpsc::UnboundedSender<Push>,
    push_rx: mpsc::UnboundedReceiver<Push>,
}

impl Session {
    fn new(app: AppState, socket: WebSocket) -> Self {
        let l = &app.config.limits;
        let bucket = TokenBucket::new(l.messages_per_sec, l.burst, Instant::now());
        let (stop_tx, stop_rx) = mpsc::channel(1);
        let (push_tx, push_rx) = mpsc::unbounded_channel();
        Self {
            push_tx,
            push_rx,
            app,
            socket,
            conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            bucket,
            attached: None,
            stop_tx,
            stop_rx,
            stopped_for: None,
        }
    }

    async fn run(mut self) {
        let idle = Duration::from_secs(u64::from(self.app.config.limits.idle_timeout_secs));
        let shutdown = self.app.shutdown.clone();
        // The idle timeout counts from the last frame received; pushes to the
        // customer do not keep a silent connection open.
        let mut deadline = tokio::time::Instant::now() + idle;
        let stop = loop {
            let frame = tokio::select! {
                biased;
                () = shutdown.cancelled() => {
                    break Stop::Close(ErrorCode::ShuttingDown, "the server is restarting; reconnect and resume".into(), close_code::AWAY);
                }
                Some(done) = self.stop_rx.recv() => {
                    self.stopped_for = Some(done);
                    break Stop::Close(ErrorCode::Superseded, "this consultation was resumed on another connection".into(), close_code::POLICY);
                }
                Some(push) = self.push_rx.recv() => {
                    match self.deliver(push).await {
                        Ok(()) => continue,
                        Err(stop) => break stop,
                    }
                }
                frame = tokio::time::timeout_at(deadline, self.socket.recv()) => frame,
            };
            deadline = tokio::time::Instant::now() + idle;
            let msg = match frame {
                Err(_) => {
                    break Stop::Close(
                        ErrorCode::IdleTimeout,
                        format!(
                            "no message for {} s; send a ping every 20 s",
                            idle.as_secs()
                        ),
                        close_code::POLICY,
                    );
                }
                Ok(None) => break Stop::Gone,
                Ok(Some(Err(e))) => {
                    // An over-size frame is tungstenite's capacity error (the
                    // message or frame limit set in `upgrade`); anything else is
                    // a broken connection.
                    let e = e.into_inner();
                    let too_large = matches!(
                        e.downcast_ref::<tokio_tungstenite::tungstenite::Error>(),
                        Some(tokio_tungstenite::tungstenite::Error::Capacity(_))
                    );
                    if too_large {
                        break Stop::Close(
                            ErrorCode::MessageTooLarge,
                            format!(
                                "frame larger than {} bytes",
                                self.app.config.limits.max_frame_bytes
                            ),
                            close_code::SIZE,
                        );
                    }
                    tracing::debug!(conn = self.conn, error = %e, "websocket read failed");
                    break Stop::Gone;
                }
                Ok(Some(Ok(m))) => m,
            };
            let text = match msg {
                Message::Text(t) => t,
                Message::Binary(_) => {
                    if self.limited().await {
                        continue;
                    }
                    self.error(
                        None,
                        ErrorCode::BinaryNotSupported,
                        "send JSON text frames".into(),
                    )
                    .await;
                    continue;
                }
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Close(_) => break Stop::Gone,
            };
            match self.frame(&text).await {
                Ok(()) => {}
                Err(stop) => break stop,
            }
        };
        self.finish(stop).await;
    }

    /// Applies the rate limit to one incoming frame; true when it was refused.
    async fn limited(&mut self) -> bool {
        self.limited_req(None, None).await
    }

    /// The rate limit for a frame that is request `req` or chat message `id`:
    /// the refusal names it, so the client knows what to send again.
    async fn limited_req(&mut self, req: Option<u64>, id: Option<&str>) -> bool {
        match self.bucket.take(Instant::now()) {
            Ok(()) => false,
            Err(wait) => {
                let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
                if let (Some(req), Some(att)) = (req, self.attached.as_mut()) {
                    att.state.refuse(req);
                }
                let _ = self
                    .send(&ServerMessage::Error {
                        req,
                        id: id.map(str::to_owned),
                        error: ErrorCode::RateLimited,
                        message: format!("too many messages; not applied: send it again in {ms} ms (a request under a new number)"),
                        retry_after_ms: Some(ms),
                    })
                    .await;
                true
            }
        }
    }

    /// Handles one text frame. `Err` stops the session.
    async fn frame(&mut self, text: &Utf8Bytes) -> Result<(), Stop> {
        let max = self.app.config.limits.max_message_bytes as usize;
        if text.len() > max {
            if !self.limited().await {
                self.error(
                    None,
                    ErrorCode::MessageTooLarge,
                    format!("message of {} bytes; the limit is {max}", text.len()),
                )
                .await;
            }
            return Ok(());
        }
        let parsed = ClientMessage::parse(text.as_str());
        let req = match &parsed {
            Ok(m) => m.req(),
            Err((_, _, req)) => *req,
        };
        let say_id = match &parsed {
            Ok(ClientMessage::Say { id, .. } | ClientMessage::Ask { id, .. }) => Some(id.as_str()),
            _ => None,
        };
        if self.limited_req(req, say_id).await {
            return Ok(());
        }
        let msg = match parsed {
            Ok(m) => m,
            Err((code, message, req)) => {
                self.error(req, code, message).await;
                return Ok(());
            }
        };
        match msg {
            ClientMessage::Ping { nonce } => self.send(&ServerMessage::Pong { nonce }).await,
            ClientMessage::Hello {
                protocol,
                phone,
                resume,
                link,
            } => self.hello(protocol, phone, resume, link).await,
            ClientMessage::Select { req, item } => self.request(req, Request::Select(item)).await,
            ClientMessage::Back { req } => self.request(req, Request::Back).await,
            ClientMessage::Home { req } => self.request(req, Request::Home).await,
            ClientMessage::End { req } => self.request(req, Request::End).await,
            ClientMessage::Cancel { req } => self.request(req, Request::Cancel).await,
            ClientMessage::Say { id, text } => self.say(id, text).await,
            ClientMessage::Human { req } => self.request(req, Request::Human).await,
            ClientMessage::ReachAgent { req } => self.reach_agent(req).await,
            ClientMessage::Ask { id, text } => self.ask(id, text).await,
            ClientMessage::Decline {} => self.decline().await,
            ClientMessage::Helped { id } => self.helped(id).await,
        }
    }

    async fn hello(
        &mut self,
        protocol: u32,
        phone: Option<String>,
        resume: Option<String>,
        link: Option<String>,
    ) -> Result<(), Stop> {
        if protocol != PROTOCOL_VERSION {
            return Err(Stop::Close(
                ErrorCode::UnsupportedProtocol,
                format!("this server speaks protocol {PROTOCOL_VERSION}, not {protocol}"),
                close_code::PROTOCOL,
            ));
        }
        if self.attached.is_some() {
            self.error(
                None,
                ErrorCode::AlreadyStarted,
                "this connection already has a consultation".into(),
            )
            .await;
            return Ok(());
        }
        // A link stands for a phone number: the customer's, proven by the SMS.
        let link = match link {
            None => None,
            Some(code) => match self.app.cards.resolve(&code).await {
                Ok(Some(row)) => Some(row),
                Ok(None) => {
                    self.error(
                        None,
                        ErrorCode::UnknownLink,
                        "this link is not valid".into(),
                    )
                    .await;
                    return Ok(());
                }
                Err(e) => {
                    let (code, message) = internal(e);
                    self.error(None, code, message).await;
                    return Ok(());
                }
            },
        };
        let phone = link.as_ref().map(|l| l.phone.clone()).or(phone);
        let outcome = match (resume, phone) {
            (Some(token), _) => self.resume(&token).await,
            (None, Some(phone)) => self.start(&phone).await,
            (None, None) => Err((
                ErrorCode::InvalidMessage,
                "hello needs `phone`, `link` or `resume`".into(),
            )),
        };
        if let (Some(l), Some(att)) = (&link, self.attached.as_mut())
            && att.phone == l.phone
        {
            att.link_agent = Some(l.agent_id);
        }
        match outcome {
            Ok(welcome) => {
                self.send(&welcome).await?;
                let resumed = matches!(welcome, ServerMessage::Welcome { resumed: true, .. });
                if let Some(att) = &self.attached {
                    let id = att.id.clone();
                    if resumed {
                        self.reopen_bot().await?;
                    }
                    self.app
                        .desk
                        .customer_attached(&id, self.conn, self.push_tx.clone())
                        .await;
                }
                Ok(())
            }
            Err((code, message)) => {
                self.error(None, code, message).await;
                Ok(())
            }
        }
    }

    async fn start(&mut self, phone: &str) -> Result<ServerMessage, (ErrorCode, String)> {
        let phone = Phone::parse(phone, self.app.region)
            .map_err(|e| (ErrorCode::InvalidPhone, e.to_string()))?;
        let Some((version, menu)) = self.app.menus.current().await.map_err(internal)? else {
            return Err((
                ErrorCode::NoMenu,
                "no service menu has been set up yet".into(),
            ));
        };
        let now = now_ms();
        let customer = self
            .app
            .store
            .upsert_customer(phone.as_str(), None, now)
            .await
            .map_err(internal)?;
        let id = uuid::Uuid::now_v7().to_string();
        let token = new_token(RESUME_PREFIX);
        let state = Consultation::start(&menu, version);
        self.app
            .store
            .create_consultation(&NewConsultation {
                id: &id,
                customer_id: customer,
                menu_version: version,
                resume_hash: &token_hash(&token),
                screen: state.screen().as_str(),
                now,
            })
            .await
            .map_err(internal)?;
        // A brand-new id cannot be held elsewhere; claiming registers us.
        let _ = self.app.live.claim(&id, self.conn, self.stop_tx.clone());
        self.app.metrics.consultations_started.inc();
        tracing::info!(consultation = %id, phone = %phone.masked(), menu_version = version, "consultation started");
        let welcome = self.welcome(&id, token, &menu, &state, false);
        self.attached = Some(Attached {
            id,
            phone: phone.as_str().to_owned(),
            menu,
            state,
            bot: None,
            link_agent: None,
        });
        Ok(welcome)
    }

    async fn resume(&mut self, token: &str) -> Result<ServerMessage, (ErrorCode, String)> {
        let unknown = || {
            (
                ErrorCode::UnknownResumeToken,
                "no consultation has this resume token".to_owned(),
            )
        };
        if !token.starts_with(RESUME_PREFIX) {
            return Err(unknown());
        }
        let hash = token_hash(token);
        let row = self
            .app
            .store
            .consultation_by_resume(&hash)
            .await
            .map_err(internal)?
            .ok_or_else(unknown)?;
        if row.ended_at.is_some() {
            return Err((
                ErrorCode::ConsultationEnded,
                "this consultation has ended; start a new one".into(),
            ));
        }
        // Take over from a connection that may still hold it, and wait until it has
        // finished the request it is handling, so the state read below is final.
        if let Some(old) = self
            .app
            .live
            .claim(&row.id, self.conn, self.stop_tx.clone())
        {
            let (done_tx, done_rx) = oneshot::channel();
            if old.send(done_tx).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(10), done_rx).await;
            }
        }
        let row = self
            .app
            .store
            .consultation(&row.id)
            .await
            .map_err(internal)?
            .ok_or_else(unknown)?;
        let menu = self
            .app
            .menus
            .get(row.menu_version)
            .await
            .map_err(internal)?;
        let ended = row.end_reason.as_deref().and_then(EndReason::parse);
        if ended.is_some() {
            self.app.live.release(&row.id, self.conn);
            return Err((
                ErrorCode::ConsultationEnded,
                "this consultation has ended; start a new one".into(),
            ));
        }
        let state = Consultation::restore(&menu, row.menu_version, &row.screen, row.last_req, None);
        tracing::info!(consultation = %row.id, last_req = row.last_req, "consultation resumed");
        let welcome = self.welcome(&row.id, token.to_owned(), &menu, &state, true);
        self.attached = Some(Attached {
            id: row.id,
            phone: row.phone,
            menu,
            state,
            bot: None,
            link_agent: None,
        });
        Ok(welcome)
    }

    fn welcome(
        &self,
        id: &str,
        token: String,
        menu: &Menu,
        state: &Consultation,
        resumed: bool,
    ) -> ServerMessage {
        let l = &self.app.config.limits;
        ServerMessage::Welcome {
            protocol: PROTOCOL_VERSION,
            consultation: id.to_owned(),
            resume_token: token,
            menu_version: state.menu_version(),
            resumed,
            last_req: state.last_req(),
            screen: screen(menu, state),
            limits: Limits {
                max_message_bytes: l.max_message_bytes,
                messages_per_sec: l.messages_per_sec,
                burst: l.burst,
                idle_timeout_secs: l.idle_timeout_secs,
            },
        }
    }

    /// Steps 4, 5 and 8: judge the request, answer, record, acknowledge.
    async fn request(&mut self, req: u64, request: Request) -> Result<(), Stop> {
        self.timed_request(req, request, None).await
    }

    /// A request, timed into `request_seconds`; `prefer_agent` for `reach_agent`.
    async fn timed_request(
        &mut self,
        req: u64,
        request: Request,
        prefer_agent: Option<i64>,
    ) -> Result<(), Stop> {
        let started = Instant::now();
        let result = self.handle_request(req, request, prefer_agent).await;
        self.app.metrics.request_took(started.elapsed());
        result
    }

    /// `reach_agent`: like asking for a human, but the link's agent takes them
    /// first, for up to `cards.reach_wait_secs`.
    async fn reach_agent(&mut self, req: u64) -> Result<(), Stop> {
        let Some(att) = self.attached.as_mut() else {
            self.error(Some(req), ErrorCode::NotStarted, "send hello first".into())
                .await;
            return Ok(());
        };
        let Some(agent) = att.link_agent else {
            if req > att.state.last_req() {
                att.state.refuse(req);
            }
            self.error(
                Some(req),
                ErrorCode::NoLink,
                "this consultation did not come through an agent's link".into(),
            )
            .await;
            return Ok(());
        };
        self.timed_request(req, Request::Human, Some(agent)).await
    }

    async fn handle_request(
        &mut self,
        req: u64,
        request: Request,
        prefer_agent: Option<i64>,
    ) -> Result<(), Stop> {
        let Some(att) = self.attached.as_mut() else {
            self.error(Some(req), ErrorCode::NotStarted, "send hello first".into())
                .await;
            return Ok(());
        };
        let (id, menu, phone) = (att.id.clone(), att.menu.clone(), att.phone.clone());
        let phase = self.app.desk.phase(&id);
        if request == Request::Cancel && req > att.state.last_req() && phase != Phase::Waiting {
            att.state.refuse(req);
            self.error(
                Some(req),
                ErrorCode::NotQueued,
                "you are not waiting for an agent".into(),
            )
            .await;
            return Ok(());
        }
        if request == Request::Human && req > att.state.last_req() && phase != Phase::Menu {
            att.state.refuse(req);
            self.error(
                Some(req),
                ErrorCode::AlreadyWaiting,
                "you are already waiting for, or talking with, an agent".into(),
            )
            .await;
            return Ok(());
        }
        let mut next = att.state.clone();
        let mut step = match next.apply(&menu, req, &request) {
            Ok(step) => step,
            Err(e) => {
                att.state = next; // the refusal answers `req`; a resend is a duplicate
                let code = match e {
                    ConsultationError::Ended => ErrorCode::ConsultationEnded,
                    ConsultationError::UnknownItem(_) => ErrorCode::UnknownItem,
                    ConsultationError::NotOnScreen { .. } => ErrorCode::ItemNotOnScreen,
                };
                self.error(Some(req), code, e.to_string()).await;
                return Ok(());
            }
        };
        if step.duplicate {
            // Applied and recorded before (requests are handled in order, so it is
            // durable): answer again and acknowledge, change nothing.
            self.send(&reply(&id, &menu, req, &step, &next, None))
                .await?;
            return self.send(&ServerMessage::Ack { req }).await;
        }
        // A chat item while already waiting or chatting: say so, queue nothing.
        let already = matches!(step.outcome, Outcome::AskAgent(_)) && phase != Phase::Menu;
        if already {
            step.record = None;
        }
        let now = now_ms();
        let joins = matches!(step.outcome, Outcome::AskAgent(_)) && !already
            || step.outcome == Outcome::HandOff;
        let tier = if joins {
            Self::tier_of(&self.app, &phone).await
        } else {
            Tier::New
        };
        let prefer = prefer_agent.map(|a| {
            let wait = i64::from(self.app.config.cards.reach_wait_secs) * 1000;
            (a, now + wait)
        });
        let queue = match &step.outcome {
            _ if joins => Some(QueueWrite::Join {
                tier: tier.as_str(),
                need: "chat",
                prefer,
            }),
            Outcome::LeftQueue => Some(QueueWrite::Leave),
            Outcome::Ended if phase != Phase::Menu => Some(QueueWrite::Leave),
            _ => None,
        };
        let ending = step.outcome == Outcome::Ended;
        // Claim 2: the content goes out first, then it is recorded. An ending is
        // recorded first: `ended` reports the stored record.
        if !ending {
            let mut answer = reply(&id, &menu, req, &step, &next, None);
            if already && let ServerMessage::Screen { notice, .. } = &mut answer {
                *notice = Some(Notice {
                    code: "already_waiting".into(),
                    item: match &step.outcome {
                        Outcome::AskAgent(item) => item.to_string(),
                        _ => String::new(),
                    },
                    message: "You are already waiting for, or talking with, an agent.".into(),
                });
            }
            self.send(&answer).await?;
        }
        let write = StepWrite {
            consultation: &id,
            last_req: req,
            screen: next.screen().as_str(),
            item: step.record.as_ref().map(|r| NewServiceItem {
                item_id: r.item.as_str(),
                kind: r.kind.as_str(),
                title: &r.title,
                served: r.served.as_str(),
            }),
            ended: next.ended().map(EndReason::as_str),
            queue,
            now,
        };
        match self.app.store.save_step(&write).await {
            Ok(items) => {
                if let Some(r) = &step.record {
                    self.app
                        .metrics
                        .service_items
                        .get_or_create(&Kind {
                            kind: r.served.as_str(),
                        })
                        .inc();
                }
                match &step.outcome {
                    Outcome::HandOff => {
                        if prefer.is_none() {
                            self.count_handoff().await;
                        }
                        let queued = self.app.desk.enqueue(&id, &phone, tier, now, prefer).await;
                        self.send(&queued).await?;
                    }
                    Outcome::AskAgent(_) if !already => {
                        let queued = self.app.desk.enqueue(&id, &phone, tier, now, None).await;
                        self.send(&queued).await?;
                    }
                    Outcome::OpenBot(item) => {
                        let item = item.to_string();
                        if let Some(att) = self.attached.as_mut() {
                            att.state = next.clone();
                        }
                        self.open_bot(item).await?;
                    }
                    Outcome::LeftQueue => self.app.desk.customer_left(&id, "cancelled").await,
                    Outcome::Ended if phase != Phase::Menu => {
                        self.app.desk.customer_left(&id, "ended").await;
                    }
                    _ => {}
                }
                if ending {
                    self.send(&reply(&id, &menu, req, &step, &next, Some(items)))
                        .await?;
                    self.send(&ServerMessage::Ack { req }).await?;
                    self.app
                        .metrics
                        .consultations_ended
                        .get_or_create(&Kind { kind: "customer" })
                        .inc();
                    tracing::info!(consultation = %id, items, "consultation ended by customer");
                    return Err(Stop::Ended);
                }
                if let Some(att) = self.attached.as_mut() {
                    att.state = next;
                }
                self.send(&ServerMessage::Ack { req }).await
            }
            Err(e) => {
                // Not recorded: keep the old state so the client's resend is applied anew.
                tracing::error!(consultation = %id, req, error = %e, "could not record a service step");
                self.error(
                    Some(req),
                    ErrorCode::Internal,
                    "could not record this request; send it again".into(),
                )
                .await;
                Ok(())
            }
        }
    }

    /// The customer's value tier (`new` when they are not known).
    async fn tier_of(app: &AppState, phone: &str) -> Tier {
        match app.store.customer_by_phone(phone).await {
            Ok(Some(c)) => c.tier.parse().unwrap_or(Tier::New),
            Ok(None) => Tier::New,
            Err(e) => {
                tracing::warn!(error = %e, "could not read a customer's tier; serving as new");
                Tier::New
            }
        }
    }

    /// A chat message to the agent: stored, acknowledged, relayed.
    async fn say(&mut self, msg_id: String, text: String) -> Result<(), Stop> {
        let Some(att) = &self.attached else {
            return self
                .error_for(msg_id, ErrorCode::NotStarted, "send hello first".into())
                .await;
        };
        let consultation = att.id.clone();
        if let Err(problem) = check_chat(&msg_id, &text) {
            return self
                .error_for(msg_id, ErrorCode::InvalidMessage, problem)
                .await;
        }
        let Some(service) = self.app.desk.service_of(&consultation) else {
            return self
                .error_for(
                    msg_id,
                    ErrorCode::NotInChat,
                    "no agent is serving you; choose a chat item first".into(),
                )
                .await;
        };
        match self
            .app
            .desk
            .say(&service, Side::Customer, &msg_id, &text)
            .await
        {
            Ok(stored) => {
                self.send(&ServerMessage::Said {
                    id: msg_id,
                    service: stored.row.service,
                    seq: stored.row.seq,
                    at_ms: stored.row.at,
                    duplicate: stored.duplicate,
                })
                .await
            }
            Err(e) => {
                tracing::error!(consultation = %consultation, error = %e, "could not store a chat message");
                self.error_for(
                    msg_id,
                    ErrorCode::Internal,
                    "could not store this message; send it again".into(),
                )
                .await
            }
        }
    }

    /// Sends what the desk pushed.
    async fn deliver(&mut self, push: Push) -> Result<(), Stop> {
        match push {
            Push::Send(msg) => self.send(&msg).await,
            Push::ServiceEnded { service, reason } => {
                let Some(att) = &self.attached else {
                    return Ok(());
                };
                let msg = ServerMessage::ServiceEnded {
                    service,
                    reason: reason.to_owned(),
                    screen: screen(&att.menu, &att.state),
                };
                self.send(&msg).await
            }
        }
    }

    async fn error_for(
        &mut self,
        id: String,
        error: ErrorCode,
        message: String,
    ) -> Result<(), Stop> {
        self.send(&ServerMessage::Error {
            req: None,
            id: Some(id),
            error,
            message,
            retry_after_ms: None,
        })
        .await
    }

    async fn error(&mut self, req: Option<u64>, error: ErrorCode, message: String) {
        let _ = self
            .send(&ServerMessage::Error {
                req,
                id: None,
                error,
                message,
                retry_after_ms: None,
            })
            .await;
    }

    async fn send(&mut self, msg: &ServerMessage) -> Result<(), Stop> {
        if let ServerMessage::Error { error, .. } = msg {
            self.app.metrics.error(*error);
        }
        let text = match serde_json::to_string(msg) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "could not encode a server message");
                return Err(Stop::Gone);
            }
        };
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Stop::Gone)
    }

    async fn finish(mut self, stop: Stop) {
        match stop {
            Stop::Close(code, message, close) => {
                let _ = self
                    .send(&ServerMessage::Error {
                        req: None,
                        id: None,
                        error: code,
                        message,
                        retry_after_ms: None,
                    })
                    .await;
                close_and_drain(&mut self.socket, close, code).await;
            }
            Stop::Ended => {
                let _ = self
                    .socket
                    .send(Message::Close(Some(CloseFrame {
                        code: close_code::NORMAL,
                        reason: "ended".into(),
                    })))
                    .await;
            }
            Stop::Gone => {}
        }
        if let Some(att) = &self.attached {
            self.app.live.release(&att.id, self.conn);
            self.app.desk.customer_detached(&att.id, self.conn);
            if let Err(e) = self.app.store.touch_consultation(&att.id, now_ms()).await {
                tracing::warn!(consultation = %att.id, error = %e, "could not note the disconnect");
            }
            tracing::debug!(consultation = %att.id, conn = self.conn, "connection closed");
        }
        if let Some(done) = self.stopped_for.take() {
            let _ = done.send(());
        }
    }
}

/// Closes a WebSocket with `close` and the error code as the reason, then
/// finishes the close handshake: reads (and ignores) until the client closes, for
/// at most a second. Dropping a socket with unread bytes makes the kernel send a
/// reset, which on Linux discards what the client has not read yet, so it would
/// never see our close frame. When the read side is broken (after an over-size
/// frame, the rest of it is still unread) the socket is held open until the
/// deadline instead, long enough for the client to read the close.
pub(crate) async fn close_and_drain(socket: &mut WebSocket, close: u16, code: ErrorCode) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code: close,
            reason: code.as_str().into(),
        })))
        .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    loop {
        match tokio::time::timeout_at(deadline, socket.recv()).await {
            Ok(Some(Ok(Message::Close(_)))) | Err(_) => return,
            Ok(Some(Ok(_))) => {}
            Ok(Some(Err(_)) | None) => {
                tokio::time::sleep_until(deadline).await;
                return;
            }
        }
    }
}

/// Longest chat message, in characters.
pub const MAX_CHAT_CHARS: usize = 4000;

/// Checks a chat message's id and text (for customers and agents alike).
///
/// # Errors
/// What is wrong, in English.
pub fn check_chat(id: &str, text: &str) -> Result<(), String> {
    check_id(id)?;
    if text.trim().is_empty() {
        return Err("a message needs some text".into());
    }
    let n = text.chars().count();
    if n > MAX_CHAT_CHARS {
        return Err(format!(
            "a message of {n} characters; the limit is {MAX_CHAT_CHARS}"
        ));
    }
    Ok(())
}

/// Checks a client's id for a chat message or question.
fn check_id(id: &str) -> Result<(), String> {
    let id_len = id.chars().count();
    if id_len == 0 || id_len > 64 {
        return Err("a message id must be 1 to 64 characters".into());
    }
    Ok(())
}

/// The answer to an applied request.
fn reply(
    consultation: &str,
    menu: &Menu,
    req: u64,
    step: &Step,
    state: &Consultation,
    items: Option<u32>,
) -> ServerMessage {
    let (content, notice) = match &step.outcome {
        Outcome::Ended => {
            return ServerMessage::Ended {
                req,
                consultation: consultation.to_owned(),
                items_recorded: items.unwrap_or(0),
            };
        }
        Outcome::Content(id) => (
            menu.item(id).map(|it| Content {
                item: it.id.to_string(),
                title: it.title.clone(),
                text: it.text.clone().unwrap_or_default(),
            }),
            None,
        ),
        Outcome::Unavailable(id, kind) => (
            None,
            Some(Notice {
                code: "not_available_yet".into(),
                item: id.to_string(),
                message: unavailable_message(*kind).into(),
            }),
        ),
        Outcome::Menu | Outcome::AskAgent(_) | Outcome::OpenBot(_) | Outcome::HandOff => {
            (None, None)
        }
        Outcome::LeftQueue => (
            None,
            Some(Notice {
                code: "left_queue".into(),
                item: String::new(),
                message: "You left the queue.".into(),
            }),
        ),
    };
    ServerMessage::Screen {
        req,
        screen: screen(menu, state),
        content,
        notice,
        duplicate: step.duplicate,
    }
}

fn internal(e: impl std::fmt::Display) -> (ErrorCode, String) {
    tracing::error!(error = %e, "internal error in a customer session");
    (ErrorCode::Internal, "internal error; try again".into())
}

fn unavailable_message(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Voice => "Voice calls with an agent are not available yet.",
        ItemKind::Submenu | ItemKind::Content | ItemKind::Chat | ItemKind::Bot => {
            "This item is not available."
        }
    }
}

/// The screen for the consultation's current submenu (step 3 renders it as text).
fn screen(menu: &Menu, state: &Consultation) -> Screen {
    let at = state.screen();
    let path = menu
        .path_to(at)
        .iter()
        .filter_map(|id| menu.item(id))
        .map(|it| Crumb {
            id: it.id.to_string(),
            title: it.title.clone(),
        })
        .collect();
    let title = if at == menu.root() {
        menu.title().to_owned()
    } else {
        menu.item(at).map(|it| it.title.clone()).unwrap_or_default()
    };
    Screen {
        menu: at.to_string(),
        title,
        path,
        items: menu
            .children(at)
            .map(|it| Entry {
                id: it.id.to_string(),
                title: it.title.clone(),
                kind: it.kind.as_str().to_owned(),
            })
            .collect(),
    }
}
