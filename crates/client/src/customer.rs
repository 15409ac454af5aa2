//! [`CustomerClient`]: one customer's consultation, surviving dropped connections.
//!
//! Two outboxes make a flaky network harmless. Numbered requests (`select`,
//! `back`, `home`, `end`, `cancel`) wait in the request outbox until `ack` or
//! `error`; after a reconnect the `welcome` says which the server applied
//! (`last_req`) and the rest are resent in order. Chat messages wait in the say
//! outbox until `said` or an `error` with their id, and are resent under the same
//! id (the server stores a message once, whatever number of times it arrives).
//!
//! The server also pushes messages at any time (`queued`, `agent_joined`, `chat`,
//! `agent_status`, `service_ended`), even between a request's answer and its
//! `ack`. Every incoming message goes through [`CustomerClient::take_in`], which
//! is synchronous and updates the client's state (screen, queue place, chat,
//! transcript, outboxes); pushes become [`CustomerEvent`]s kept in a buffer until
//! read with [`CustomerClient::next_event`] or [`CustomerClient::events`].

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Duration;

use frontdesk_protocol::{
    AgentCard, BotReply, BotTurn, ChatLine, ClientMessage, Content, ErrorCode, Notice, Screen,
    ServerMessage,
};
use tokio::time::Instant;

use crate::chat::{PendingSay, Said, merge_line, new_message_id};
use crate::link::{Link, SayOutcome};
use crate::{ClientError, Connection, RATE_LIMIT_RETRIES, RECONNECT_ATTEMPTS, Result, backoff};

/// What the server answered to a menu request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The screen now shown.
    pub screen: Screen,
    /// Content served, if any.
    pub content: Option<Content>,
    /// A notice, if any.
    pub notice: Option<Notice>,
    /// The request was a resend and changed nothing.
    pub duplicate: bool,
}

/// The customer's place in the waiting queue, from the last `queued`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStatus {
    /// 1 for the next customer served.
    pub position: u32,
    /// Customers waiting in all.
    pub waiting: u32,
    /// Estimated wait until an agent takes them, in milliseconds; `None` while no
    /// agent is taking customers.
    pub estimated_wait_ms: Option<u64>,
    /// Agents taking customers now.
    pub agents_available: u32,
    /// True when they were put back at the head because their agent vanished.
    pub requeued: bool,
    /// The agent they wait for first (they came through that agent's link).
    pub waiting_for: Option<AgentCard>,
}

/// The bot's answer to a question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BotAnswered {
    /// The question's id.
    pub id: String,
    /// Its number in the conversation.
    pub seq: i64,
    /// The answer; `None` when the bot had none.
    pub answer: Option<BotReply>,
    /// A human is on offer ([`CustomerClient::human`] accepts,
    /// [`CustomerClient::decline`] declines).
    pub offer: bool,
    /// The question had been answered before (a resend).
    pub duplicate: bool,
}

/// The chat with an agent, while one serves the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatSession {
    /// The service's id.
    pub service: String,
    /// Who serves them.
    pub agent: AgentCard,
    /// False while the agent's connection is down (from `agent_status`).
    pub agent_online: bool,
}

/// Something the server told the customer without being asked, or the outcome of
/// a chat message nobody was waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerEvent {
    /// Waiting for an agent; sent again whenever the place or the estimate changes.
    Queued(QueueStatus),
    /// The agent they waited for (through the agent's link) did not come free in
    /// time; the next available agent takes them.
    FellBack {
        /// The agent they waited for.
        agent: AgentCard,
    },
    /// An agent took the customer (again after a resume during a chat, with the
    /// whole chat so far in `messages`).
    AgentJoined {
        /// The service's id.
        service: String,
        /// Who serves them.
        agent: AgentCard,
        /// The chat so far, oldest first, as the server sent it (lines the client
        /// knew already included; [`CustomerClient::transcript`] has them merged).
        messages: Vec<ChatLine>,
    },
    /// A message from the agent. Only lines new to the client become events: a
    /// line with a `seq` already in the transcript is not reported twice.
    Chat {
        /// The service.
        service: String,
        /// The message.
        line: ChatLine,
    },
    /// The agent's connection dropped or came back.
    AgentStatus {
        /// The service.
        service: String,
        /// Whether the agent is connected.
        online: bool,
        /// While offline: how long the server waits for them.
        grace_ms: Option<u64>,
    },
    /// The chat is over; the customer is back at the menu (`screen`).
    ServiceEnded {
        /// The service.
        service: String,
        /// `agent` or `agent_lost` (a `queued` with `requeued` follows).
        reason: String,
        /// The screen shown now.
        screen: Screen,
    },
    /// The answer bot opened (after choosing a bot item, or on a resume), with the
    /// conversation so far.
    BotOpened {
        /// The bot item.
        item: String,
        /// Questions and answers so far.
        turns: Vec<BotTurn>,
        /// Whether a human is on offer.
        offer: bool,
    },
    /// A bot answer nobody was waiting for (to a question resent after a reconnect).
    BotAnswered(BotAnswered),
    /// A chat message resent after a reconnect (not the one a `say` call was
    /// waiting for) is stored.
    Said(Said),
    /// A chat message resent after a reconnect was refused (e.g. `not_in_chat`:
    /// the chat ended meanwhile). It left the outbox.
    SayRefused {
        /// The message's id.
        id: String,
        /// Stable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
}

/// What one incoming message meant, once [`CustomerClient::take_in`] applied it.
#[derive(Debug, PartialEq, Eq)]
enum Incoming {
    /// A push, or a chat outcome: for whoever waits for it, else the event buffer.
    Event(CustomerEvent),
    /// The answer to request `req` (not yet acknowledged).
    Screen(u64, Reply),
    /// `end` was answered: the consultation is over, with this many items.
    Ended(u64, u32),
    /// Request `req` and every one before it are durable.
    Ack(u64),
    /// Request `req` was refused; nothing changed.
    Refused(u64, ErrorCode, String),
    /// A chat message was refused as `rate_limited` (`None`: an error that names
    /// no message, which may be one): send it again after the wait.
    SayLimited(Option<String>, Duration),
    /// A heartbeat answer.
    Pong,
    /// `decline` was answered.
    Declined,
    /// `helped` was recorded.
    Noted(String),
    /// An error that names neither a request nor a message (e.g. `no_offer`).
    Unattributed(ErrorCode, String),
    /// Nothing for anyone (a stray welcome, a line known already, a logged error).
    Nothing,
}

/// A customer's consultation, surviving dropped connections.
#[derive(Debug)]
pub struct CustomerClient {
    base: String,
    /// The connection, the chat messages sent and not yet stored, and the pushes
    /// not yet read.
    link: Link<ClientMessage, ServerMessage, CustomerEvent>,
    /// The consultation id.
    pub consultation: String,
    resume_token: String,
    /// The menu version in use.
    pub menu_version: u32,
    /// The screen last shown.
    pub screen: Screen,
    next_req: u64,
    /// Requests sent and not yet acknowledged, oldest first.
    outbox: VecDeque<ClientMessage>,
    /// The chat so far, by `seq`.
    transcript: Vec<ChatLine>,
    waiting: Option<QueueStatus>,
    chat: Option<ChatSession>,
    /// The agent's link this consultation came through, sent again on resume.
    link_code: Option<String>,
    /// How long to wait for any one answer.
    pub timeout: Duration,
}

/// What the last request was, for [`CustomerClient::request`].
enum Action {
    Select(String),
    Back,
    Home,
    End,
    Cancel,
    Human,
    ReachAgent,
}

impl CustomerClient {
    /// Starts a consultation as the customer with `phone`.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (e.g. `invalid_phone`).
    pub async fn start(base: &str, phone: &str) -> Result<Self> {
        Self::open(base, ClientMessage::start(phone), None).await
    }

    /// Starts a consultation through an agent's link (`/a/CODE`): as the phone
    /// the link was sent to; [`CustomerClient::reach_agent`] then asks for that
    /// agent.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (`unknown_link`).
    pub async fn through_link(base: &str, code: &str) -> Result<Self> {
        Self::open(
            base,
            ClientMessage::through_link(code),
            Some(code.to_owned()),
        )
        .await
    }

    async fn open(base: &str, hello: ClientMessage, link_code: Option<String>) -> Result<Self> {
        let mut conn = Connection::open(base).await?;
        conn.send(&hello).await?;
        let mut client = Self::detached(base, String::new());
        client.link_code = link_code;
        client.welcome(&mut conn).await?;
        client.link.attach(conn);
        Ok(client)
    }

    /// A client with no connection yet.
    fn detached(base: &str, resume_token: String) -> Self {
        Self {
            base: base.to_owned(),
            link: Link::new(say_message),
            consultation: String::new(),
            resume_token,
            menu_version: 0,
            screen: Screen {
                menu: String::new(),
                title: String::new(),
                path: vec![],
                items: vec![],
            },
            next_req: 1,
            outbox: VecDeque::new(),
            transcript: Vec::new(),
            waiting: None,
            chat: None,
            link_code: None,
            timeout: Duration::from_secs(10),
        }
    }

    /// Resumes a consultation from its token (e.g. after the program restarted).
    ///
    /// # Errors
    /// When the server cannot be reached or the token is unknown or ended.
    pub async fn resume(base: &str, token: &str) -> Result<Self> {
        let mut client = Self::detached(base, token.to_owned());
        client.reconnect().await?;
        Ok(client)
    }

    /// The secret that resumes this consultation and reads its record.
    #[must_use]
    pub fn resume_token(&self) -> &str {
        &self.resume_token
    }

    /// Requests sent but not yet acknowledged.
    #[must_use]
    pub fn unacknowledged(&self) -> usize {
        self.outbox.len()
    }

    /// Chat messages sent but not yet stored (they are resent after a reconnect).
    #[must_use]
    pub fn unacknowledged_says(&self) -> usize {
        self.link.says.len()
    }

    /// The ids of the chat messages not yet stored, oldest first.
    pub fn pending_say_ids(&self) -> impl Iterator<Item = &str> {
        self.link.says.ids()
    }

    /// The chat lines known to the client, by `seq`, each once: both sides'
    /// messages of every chat of this consultation.
    #[must_use]
    pub fn transcript(&self) -> &[ChatLine] {
        &self.transcript
    }

    /// The place in the waiting queue, while waiting for an agent.
    #[must_use]
    pub fn waiting(&self) -> Option<&QueueStatus> {
        self.waiting.as_ref()
    }

    /// The chat with an agent, while one serves the customer.
    #[must_use]
    pub fn chat(&self) -> Option<&ChatSession> {
        self.chat.as_ref()
    }

    /// Takes every buffered event, oldest first, without waiting.
    pub fn events(&mut self) -> std::collections::vec_deque::Drain<'_, CustomerEvent> {
        self.link.events.drain(..)
    }

    /// The next event: a buffered one, else the next to arrive within `within`.
    /// A broken connection is resumed (unacknowledged requests and chat messages
    /// are resent) while waiting. Cancel-safe between messages: dropping the
    /// future loses no event.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing came within `within`; a refused
    /// resume (e.g. `consultation_ended`) or `superseded`; a connection that
    /// could not be restored.
    pub async fn next_event(&mut self, within: Duration) -> Result<CustomerEvent> {
        if let Some(e) = self.link.events.pop_front() {
            return Ok(e);
        }
        let deadline = Instant::now() + within;
        let mut attempts = 0;
        loop {
            let step = async {
                self.link.send_due_says().await?;
                self.recv_until(deadline).await
            };
            match step.await {
                Ok(Incoming::Event(e)) => return Ok(e),
                Ok(_) => {}
                Err(ClientError::Timeout) if Instant::now() >= deadline => {
                    return Err(ClientError::Timeout);
                }
                Err(e) => {
                    // Resuming does not outlast the caller's patience.
                    self.recover(e, &mut attempts, Some(deadline)).await?;
                }
            }
        }
    }

    /// After `error`, resumes the consultation if that may help: the error is
    /// transient, fewer than [`RECONNECT_ATTEMPTS`] resumes were tried (`attempts`
    /// counts them), and the back-off is over before `deadline`. Resuming resends
    /// both outboxes. `Ok(false)` when the resume failed too (the caller may try
    /// again).
    ///
    /// # Errors
    /// `error` itself when resuming is not worth it.
    async fn recover(
        &mut self,
        error: ClientError,
        attempts: &mut u32,
        deadline: Option<Instant>,
    ) -> Result<bool> {
        if !error.is_transient() || *attempts >= RECONNECT_ATTEMPTS {
            return Err(error);
        }
        *attempts += 1;
        tracing::debug!(%error, attempts = *attempts, "connection lost; resuming");
        let wake = Instant::now() + backoff(*attempts);
        tokio::time::sleep_until(deadline.map_or(wake, |d| wake.min(d))).await;
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(error);
        }
        let resumed = self.reconnect().await;
        if let Err(e) = &resumed {
            tracing::debug!(error = %e, "resume failed");
        }
        Ok(resumed.is_ok())
    }

    async fn welcome(&mut self, conn: &mut Connection) -> Result<()> {
        let msg = conn.recv_within(self.timeout).await?;
        self.take_welcome(msg)
    }

    /// Applies the `welcome` (or the refusal) that answers `hello`.
    fn take_welcome(&mut self, msg: ServerMessage) -> Result<()> {
        match msg {
            ServerMessage::Welcome {
                consultation,
                resume_token,
                menu_version,
                resumed,
                last_req,
                screen,
                ..
            } => {
                self.consultation = consultation;
                self.resume_token = resume_token;
                self.menu_version = menu_version;
                self.screen = screen;
                self.next_req = self.next_req.max(last_req + 1);
                // Whatever the server applied is done; the rest is resent in order.
                self.outbox
                    .retain(|m| m.req().is_some_and(|r| r > last_req));
                if resumed {
                    // The server sends `agent_joined` again if the chat goes on;
                    // if it ended meanwhile, nothing says so. The queue place is
                    // kept: a `cancel` answered `not_queued` clears it.
                    self.chat = None;
                }
                Ok(())
            }
            ServerMessage::Error { error, message, .. } => Err(ClientError::Server {
                code: error,
                message,
            }),
            other => Err(ClientError::Protocol(format!(
                "expected welcome, got {other:?}"
            ))),
        }
    }

    /// Opens a new connection, resumes, and resends every unacknowledged request
    /// and chat message (the latter under their ids).
    ///
    /// # Errors
    /// When the server cannot be reached or refuses the resume.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.link.drop_connection();
        let mut conn = Connection::open(&self.base).await?;
        let mut hello = ClientMessage::resume(&self.resume_token);
        if let ClientMessage::Hello { link, .. } = &mut hello {
            link.clone_from(&self.link_code);
        }
        conn.send(&hello).await?;
        self.welcome(&mut conn).await?;
        self.link.attach(conn);
        for m in &self.outbox {
            self.link.send(m).await?;
        }
        self.link.send_due_says().await
    }

    /// Drops the connection abruptly (for tests of reconnecting).
    pub fn drop_connection(&mut self) {
        self.link.drop_connection();
    }

    /// Chooses an item on the current screen. On a `chat` item the reply is the
    /// screen (the menu stays usable) and a [`CustomerEvent::Queued`] follows.
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`unknown_item`, `item_not_on_screen`, …).
    pub async fn select(&mut self, item: &str) -> Result<Reply> {
        self.request(Action::Select(item.to_owned()))
            .await
            .map(|(r, _)| r)
    }

    /// Goes up one level.
    ///
    /// # Errors
    /// When refused or the server cannot be reached.
    pub async fn back(&mut self) -> Result<Reply> {
        self.request(Action::Back).await.map(|(r, _)| r)
    }

    /// Goes to the top menu.
    ///
    /// # Errors
    /// When refused or the server cannot be reached.
    pub async fn home(&mut self) -> Result<Reply> {
        self.request(Action::Home).await.map(|(r, _)| r)
    }

    /// Leaves the waiting queue; the reply carries the notice `left_queue`.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `not_queued` when not waiting.
    pub async fn cancel(&mut self) -> Result<Reply> {
        let (reply, _) = self.request(Action::Cancel).await?;
        self.waiting = None;
        Ok(reply)
    }

    /// Ends the consultation (leaving the queue or a chat too); returns how many
    /// items its record holds.
    ///
    /// # Errors
    /// When refused or the server cannot be reached.
    pub async fn end(&mut self) -> Result<u32> {
        let (_, items) = self.request(Action::End).await?;
        Ok(items.unwrap_or(0))
    }

    /// Sends a chat message to the agent under a new id, and waits until it is
    /// stored. A broken connection is resumed and the message resent with the same
    /// id; if that fails too the message stays in the outbox, to be resent by the
    /// next reconnect.
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`not_in_chat`, `invalid_message`);
    /// connection errors when the server cannot be reached.
    pub async fn say(&mut self, text: &str) -> Result<Said> {
        self.say_with_id(&new_message_id(), text).await
    }

    /// [`CustomerClient::say`] under a given id: an id the server stored before is
    /// answered `duplicate: true` with the original `seq` (tests use this to
    /// check that a resend is stored once).
    ///
    /// # Errors
    /// As [`CustomerClient::say`].
    pub async fn say_with_id(&mut self, id: &str, text: &str) -> Result<Said> {
        self.link.says.add(None, id, text);
        let mut attempts = 0;
        let mut limited = 0;
        loop {
            let step = async {
                self.link.send_due_says().await?;
                self.await_said(id).await
            };
            match step.await {
                Ok(outcome) => {
                    let settled = self.link.settle_say(id, outcome, &mut limited).await;
                    if let ControlFlow::Break(done) = settled {
                        return done;
                    }
                }
                Err(e) => {
                    // A successful resume resends the say outbox, this one included.
                    self.recover(e, &mut attempts, None).await?;
                }
            }
        }
    }

    /// Reads until the chat message `id` is stored or refused; other events are
    /// buffered.
    async fn await_said(&mut self, id: &str) -> Result<SayOutcome> {
        loop {
            let deadline = Instant::now() + self.timeout;
            match self.recv_until(deadline).await? {
                Incoming::Event(CustomerEvent::Said(said)) if said.id == id => {
                    return Ok(SayOutcome::Said(said));
                }
                Incoming::Event(CustomerEvent::SayRefused {
                    id: refused,
                    code,
                    message,
                }) if refused == id => return Ok(SayOutcome::Refused(code, message)),
                Incoming::SayLimited(limited, wait)
                    if limited.as_deref().is_none_or(|l| l == id) =>
                {
                    // An unattributed `rate_limited` may be this message's: sending
                    // it again is harmless, as the id makes a resend recognisable.
                    return Ok(SayOutcome::Limited(wait));
                }
                Incoming::Event(e) => self.link.events.push_back(e),
                _ => {}
            }
        }
    }

    /// Sends a request and waits until it is answered *and* acknowledged,
    /// reconnecting (a few times, with back-off) if the connection breaks.
    async fn request(&mut self, action: Action) -> Result<(Reply, Option<u32>)> {
        let mut rate_limit_retries = 0;
        loop {
            let req = self.next_req;
            self.next_req += 1;
            let msg = match &action {
                Action::Select(item) => ClientMessage::Select {
                    req,
                    item: item.clone(),
                },
                Action::Back => ClientMessage::Back { req },
                Action::Home => ClientMessage::Home { req },
                Action::End => ClientMessage::End { req },
                Action::Cancel => ClientMessage::Cancel { req },
                Action::Human => ClientMessage::Human { req },
                Action::ReachAgent => ClientMessage::ReachAgent { req },
            };
            self.outbox.push_back(msg.clone());
            match self.send_and_wait(&msg, req).await {
                Err(ClientError::Server {
                    code: ErrorCode::RateLimited,
                    ..
                }) if rate_limit_retries < RATE_LIMIT_RETRIES => {
                    // Refused unapplied; re-issue under a new number after the wait.
                    rate_limit_retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn send_and_wait(
        &mut self,
        msg: &ClientMessage,
        req: u64,
    ) -> Result<(Reply, Option<u32>)> {
        let mut attempts = 0;
        let mut sent = false;
        let result = loop {
            match self.exchange(msg, req, sent).await {
                // A successful resume resends the outbox, this request included.
                Err(e) => match self.recover(e, &mut attempts, None).await {
                    Ok(resumed) => sent = resumed,
                    Err(e) => break Err(e),
                },
                answered => break answered,
            }
        };
        self.outbox.retain(|m| m.req() != Some(req));
        result
    }

    /// One try: send (unless already resent by a reconnect) and read until the
    /// answer and the acknowledgement for `req` have both arrived. Pushes that
    /// come meanwhile are buffered as events.
    async fn exchange(
        &mut self,
        msg: &ClientMessage,
        req: u64,
        already_sent: bool,
    ) -> Result<(Reply, Option<u32>)> {
        if !already_sent {
            self.link.send(msg).await?;
        }
        let mut reply: Option<Reply> = None;
        let mut ended: Option<u32> = None;
        loop {
            let deadline = Instant::now() + self.timeout;
            match self.recv_until(deadline).await? {
                Incoming::Screen(r, answer) if r == req => reply = Some(answer),
                Incoming::Ended(r, items) if r == req => ended = Some(items),
                Incoming::Ack(r) if r == req => {
                    if let Some(items) = ended {
                        return Ok((self.screen_reply(), Some(items)));
                    }
                    let reply = reply.ok_or_else(|| {
                        ClientError::Protocol(format!("ack {req} before its answer"))
                    })?;
                    self.screen = reply.screen.clone();
                    return Ok((reply, None));
                }
                Incoming::Refused(r, code, message) if r == req => {
                    return Err(ClientError::Server { code, message });
                }
                Incoming::Event(e) => self.link.events.push_back(e),
                // Answers to earlier requests resent after a reconnect, pongs: skip.
                _ => {}
            }
        }
    }

    fn screen_reply(&self) -> Reply {
        Reply {
            screen: self.screen.clone(),
            content: None,
            notice: None,
            duplicate: false,
        }
    }

    /// Asks the answer bot (after choosing a bot item) and waits for its answer.
    /// After a dropped connection the question is resent under the same id: the
    /// server answers it once.
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`bot_not_open`, `invalid_message`, …).
    pub async fn ask(&mut self, text: &str) -> Result<BotAnswered> {
        self.ask_with_id(&new_message_id(), text).await
    }

    /// [`CustomerClient::ask`] under a given question id.
    ///
    /// # Errors
    /// As [`CustomerClient::ask`].
    pub async fn ask_with_id(&mut self, id: &str, text: &str) -> Result<BotAnswered> {
        let msg = ClientMessage::Ask {
            id: id.to_owned(),
            text: text.to_owned(),
        };
        let mut attempts = 0;
        let mut limited = 0;
        loop {
            let step = async {
                self.link.send(&msg).await?;
                loop {
                    let deadline = Instant::now() + self.timeout;
                    match self.recv_until(deadline).await? {
                        Incoming::Event(CustomerEvent::BotAnswered(a)) if a.id == id => {
                            return Ok(Ok(a));
                        }
                        Incoming::Event(CustomerEvent::SayRefused {
                            id: refused,
                            code,
                            message,
                        }) if refused == id => return Ok(Err((code, message))),
                        Incoming::SayLimited(l, wait) if l.as_deref().is_none_or(|l| l == id) => {
                            return Ok(Err((ErrorCode::RateLimited, format!("{wait:?}"))));
                        }
                        Incoming::Event(e) => self.link.events.push_back(e),
                        _ => {}
                    }
                }
            };
            match step.await {
                Ok(Ok(answer)) => return Ok(answer),
                Ok(Err((ErrorCode::RateLimited, _))) if limited < RATE_LIMIT_RETRIES => {
                    limited += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err((code, message))) => return Err(ClientError::Server { code, message }),
                Err(e) => {
                    self.recover(e, &mut attempts, None).await?;
                }
            }
        }
    }

    /// Asks for a human: accepts the bot's offer, or asks outright. The reply is
    /// the screen; a [`CustomerEvent::Queued`] (or `AgentJoined`) follows.
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`already_waiting`).
    pub async fn human(&mut self) -> Result<Reply> {
        self.request(Action::Human).await.map(|(r, _)| r)
    }

    /// Asks for the agent whose link this consultation came through
    /// ([`CustomerClient::through_link`]): that agent takes them first; after the
    /// server's wait, anyone ([`CustomerEvent::FellBack`]). Like
    /// [`CustomerClient::human`], the `queued` (or `agent_joined`) arrives as an
    /// event.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `no_link` without a link, `already_waiting`.
    pub async fn reach_agent(&mut self) -> Result<Reply> {
        self.request(Action::ReachAgent).await.map(|(r, _)| r)
    }

    /// Declines the human the bot offered.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `no_offer` when none is on offer.
    pub async fn decline(&mut self) -> Result<()> {
        self.link.send(&ClientMessage::Decline {}).await?;
        loop {
            let deadline = Instant::now() + self.timeout;
            match self.recv_until(deadline).await? {
                Incoming::Declined => return Ok(()),
                Incoming::Unattributed(code, message) => {
                    return Err(ClientError::Server { code, message });
                }
                Incoming::Event(e) => self.link.events.push_back(e),
                _ => {}
            }
        }
    }

    /// Says the answer to question `id` helped.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `unknown_question` when no such question was asked.
    pub async fn helped(&mut self, id: &str) -> Result<()> {
        self.link
            .send(&ClientMessage::Helped { id: id.to_owned() })
            .await?;
        loop {
            let deadline = Instant::now() + self.timeout;
            match self.recv_until(deadline).await? {
                Incoming::Noted(noted) if noted == id => return Ok(()),
                Incoming::Event(CustomerEvent::SayRefused {
                    id: refused,
                    code,
                    message,
                }) if refused == id => return Err(ClientError::Server { code, message }),
                Incoming::Event(e) => self.link.events.push_back(e),
                _ => {}
            }
        }
    }

    /// Sends a heartbeat and waits for its answer (events meanwhile are buffered).
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn ping(&mut self) -> Result<()> {
        self.link
            .send(&ClientMessage::Ping { nonce: Some(7) })
            .await?;
        loop {
            let deadline = Instant::now() + self.timeout;
            match self.recv_until(deadline).await? {
                Incoming::Pong => return Ok(()),
                Incoming::Event(e) => self.link.events.push_back(e),
                _ => {}
            }
        }
    }

    /// Reads one message (by `deadline`) and applies it.
    async fn recv_until(&mut self, deadline: Instant) -> Result<Incoming> {
        let msg = self.link.recv_by(deadline).await?;
        self.take_in(msg)
    }

    /// Applies one incoming message to the client's state and says what it was.
    /// No I/O: the same for any connection, and tested without one.
    ///
    /// `Err` for the errors that close the connection (`shutting_down`,
    /// `idle_timeout`, `superseded`).
    fn take_in(&mut self, msg: ServerMessage) -> Result<Incoming> {
        Ok(match msg {
            ServerMessage::Screen {
                req,
                screen,
                content,
                notice,
                duplicate,
            } => Incoming::Screen(
                req,
                Reply {
                    screen,
                    content,
                    notice,
                    duplicate,
                },
            ),
            ServerMessage::Ack { req } => {
                // Acknowledgements are cumulative: everything up to `req` is durable.
                self.outbox.retain(|m| m.req().is_some_and(|r| r > req));
                Incoming::Ack(req)
            }
            ServerMessage::Ended {
                req,
                items_recorded,
                ..
            } => {
                self.waiting = None;
                self.chat = None;
                Incoming::Ended(req, items_recorded)
            }
            ServerMessage::Queued {
                position,
                waiting,
                estimated_wait_ms,
                agents_available,
                requeued,
                waiting_for,
            } => {
                let status = QueueStatus {
                    position,
                    waiting,
                    estimated_wait_ms,
                    agents_available,
                    requeued,
                    waiting_for,
                };
                self.waiting = Some(status.clone());
                Incoming::Event(CustomerEvent::Queued(status))
            }
            ServerMessage::AgentJoined {
                service,
                agent,
                messages,
            } => {
                self.waiting = None;
                self.chat = Some(ChatSession {
                    service: service.clone(),
                    agent: agent.clone(),
                    agent_online: true,
                });
                for line in &messages {
                    merge_line(&mut self.transcript, line.clone());
                }
                Incoming::Event(CustomerEvent::AgentJoined {
                    service,
                    agent,
                    messages,
                })
            }
            ServerMessage::Chat { service, line } => {
                if merge_line(&mut self.transcript, line.clone()) {
                    Incoming::Event(CustomerEvent::Chat { service, line })
                } else {
                    Incoming::Nothing
                }
            }
            ServerMessage::Said {
                id,
                service,
                seq,
                at_ms,
                duplicate,
            } => {
                if let Some(say) = self.link.says.remove(&id) {
                    merge_line(
                        &mut self.transcript,
                        ChatLine {
                            seq,
                            from: "customer".into(),
                            text: say.text,
                            at_ms,
                            id: id.clone(),
                        },
                    );
                }
                Incoming::Event(CustomerEvent::Said(Said {
                    id,
                    service,
                    seq,
                    at_ms,
                    duplicate,
                }))
            }
            ServerMessage::AgentStatus {
                service,
                online,
                grace_ms,
            } => {
                if let Some(chat) = self.chat.as_mut().filter(|c| c.service == service) {
                    chat.agent_online = online;
                }
                Incoming::Event(CustomerEvent::AgentStatus {
                    service,
                    online,
                    grace_ms,
                })
            }
            ServerMessage::ServiceEnded {
                service,
                reason,
                screen,
            } => {
                if self.chat.as_ref().is_some_and(|c| c.service == service) {
                    self.chat = None;
                }
                self.screen = screen.clone();
                Incoming::Event(CustomerEvent::ServiceEnded {
                    service,
                    reason,
                    screen,
                })
            }
            ServerMessage::Pong { .. } => Incoming::Pong,
            ServerMessage::BotOpened { item, turns, offer } => {
                Incoming::Event(CustomerEvent::BotOpened { item, turns, offer })
            }
            ServerMessage::BotAnswer {
                id,
                seq,
                answer,
                offer,
                duplicate,
            } => Incoming::Event(CustomerEvent::BotAnswered(BotAnswered {
                id,
                seq,
                answer,
                offer,
                duplicate,
            })),
            ServerMessage::OfferDeclined {} => Incoming::Declined,
            ServerMessage::FellBack { agent } => Incoming::Event(CustomerEvent::FellBack { agent }),
            ServerMessage::Noted { id, .. } => Incoming::Noted(id),
            ServerMessage::Error {
                req,
                id,
                error,
                message,
                retry_after_ms,
            } => self.take_error(req, id, error, message, retry_after_ms)?,
            ServerMessage::Welcome { .. } => {
                tracing::warn!("a welcome in the middle of a connection; ignored");
                Incoming::Nothing
            }
        })
    }

    fn take_error(
        &mut self,
        req: Option<u64>,
        id: Option<String>,
        code: ErrorCode,
        message: String,
        retry_after_ms: Option<u64>,
    ) -> Result<Incoming> {
        let wait = Duration::from_millis(retry_after_ms.unwrap_or(100));
        if let Some(req) = req {
            // Refused: answered, not applied, never acknowledged.
            self.outbox.retain(|m| m.req() != Some(req));
            if code == ErrorCode::NotQueued {
                self.waiting = None;
            }
            return Ok(Incoming::Refused(req, code, message));
        }
        if let Some(id) = id {
            if code == ErrorCode::RateLimited {
                self.link
                    .says
                    .rate_limited(&id, Instant::now().into_std(), wait);
                return Ok(Incoming::SayLimited(Some(id), wait));
            }
            self.link.says.remove(&id);
            if code == ErrorCode::NotInChat {
                self.chat = None;
            }
            return Ok(Incoming::Event(CustomerEvent::SayRefused {
                id,
                code,
                message,
            }));
        }
        match code {
            ErrorCode::ShuttingDown | ErrorCode::IdleTimeout | ErrorCode::Superseded => {
                Err(ClientError::Server { code, message })
            }
            ErrorCode::RateLimited => Ok(Incoming::SayLimited(None, wait)),
            ErrorCode::NoOffer | ErrorCode::NotStarted => Ok(Incoming::Unattributed(code, message)),
            _ => {
                tracing::warn!(error = %code, %message, "server error");
                Ok(Incoming::Nothing)
            }
        }
    }
}

/// How the customer protocol carries a chat message.
fn say_message(say: PendingSay) -> ClientMessage {
    ClientMessage::Say {
        id: say.id,
        text: say.text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_protocol::{Crumb, Limits};

    fn screen(menu: &str) -> Screen {
        Screen {
            menu: menu.into(),
            title: menu.into(),
            path: vec![Crumb {
                id: menu.into(),
                title: menu.into(),
            }],
            items: vec![],
        }
    }

    fn line(seq: u64, from: &str, text: &str) -> ChatLine {
        ChatLine {
            seq,
            from: from.into(),
            text: text.into(),
            at_ms: 10 * i64::try_from(seq).unwrap(),
            id: format!("{from}-{seq}"),
        }
    }

    fn agent() -> AgentCard {
        AgentCard {
            id: 2,
            name: "Ada".into(),
        }
    }

    fn welcome(resumed: bool, last_req: u64) -> ServerMessage {
        ServerMessage::Welcome {
            protocol: 1,
            consultation: "c1".into(),
            resume_token: "fdc_x".into(),
            menu_version: 1,
            resumed,
            last_req,
            screen: screen("main"),
            limits: Limits {
                max_message_bytes: 8192,
                messages_per_sec: 20,
                burst: 40,
                idle_timeout_secs: 60,
            },
        }
    }

    fn client() -> CustomerClient {
        let mut c = CustomerClient::detached("http://127.0.0.1:1", String::new());
        c.take_welcome(welcome(false, 0)).unwrap();
        c
    }

    fn event(c: &mut CustomerClient, msg: ServerMessage) -> CustomerEvent {
        match c.take_in(msg).unwrap() {
            Incoming::Event(e) => e,
            other => panic!("expected an event, got {other:?}"),
        }
    }

    fn queued(position: u32) -> ServerMessage {
        ServerMessage::Queued {
            position,
            waiting: 3,
            estimated_wait_ms: Some(240_000),
            agents_available: 1,
            requeued: false,
            waiting_for: None,
        }
    }

    #[test]
    fn pushes_become_events_and_track_the_queue_and_the_chat() {
        let mut c = client();
        let e = event(&mut c, queued(2));
        assert!(matches!(
            e,
            CustomerEvent::Queued(QueueStatus { position: 2, .. })
        ));
        assert_eq!(c.waiting().map(|q| q.position), Some(2));
        event(
            &mut c,
            ServerMessage::AgentJoined {
                service: "s1".into(),
                agent: agent(),
                messages: vec![],
            },
        );
        assert_eq!(c.waiting(), None);
        assert_eq!(c.chat().map(|s| s.agent.name.as_str()), Some("Ada"));
        event(
            &mut c,
            ServerMessage::AgentStatus {
                service: "s1".into(),
                online: false,
                grace_ms: Some(30_000),
            },
        );
        assert_eq!(c.chat().map(|s| s.agent_online), Some(false));
        let e = event(
            &mut c,
            ServerMessage::ServiceEnded {
                service: "s1".into(),
                reason: "agent_lost".into(),
                screen: screen("main"),
            },
        );
        assert!(
            matches!(e, CustomerEvent::ServiceEnded { ref reason, .. } if reason == "agent_lost")
        );
        assert_eq!(c.chat(), None);
        let e = event(
            &mut c,
            ServerMessage::Queued {
                position: 1,
                waiting: 1,
                estimated_wait_ms: None,
                agents_available: 0,
                requeued: true,
                waiting_for: None,
            },
        );
        assert!(matches!(
            e,
            CustomerEvent::Queued(QueueStatus { requeued: true, .. })
        ));
    }

    #[test]
    fn the_transcript_merges_history_chat_and_own_lines_by_seq() {
        let mut c = client();
        c.link.says.add(None, "mine", "hello");
        let _ = c.link.says.take_due(std::time::Instant::now());
        event(
            &mut c,
            ServerMessage::AgentJoined {
                service: "s1".into(),
                agent: agent(),
                messages: vec![],
            },
        );
        let e = event(
            &mut c,
            ServerMessage::Said {
                id: "mine".into(),
                service: "s1".into(),
                seq: 1,
                at_ms: 5,
                duplicate: false,
            },
        );
        assert!(matches!(e, CustomerEvent::Said(Said { seq: 1, .. })));
        assert_eq!(c.unacknowledged_says(), 0);
        event(
            &mut c,
            ServerMessage::Chat {
                service: "s1".into(),
                line: line(2, "agent", "hi, how can I help?"),
            },
        );
        // The same line relayed again is not a new event.
        assert_eq!(
            c.take_in(ServerMessage::Chat {
                service: "s1".into(),
                line: line(2, "agent", "hi, how can I help?"),
            })
            .unwrap(),
            Incoming::Nothing
        );
        // After a resume: the whole history again, one line new.
        c.take_welcome(welcome(true, 0)).unwrap();
        assert_eq!(c.chat(), None, "until the server says the chat goes on");
        event(
            &mut c,
            ServerMessage::AgentJoined {
                service: "s1".into(),
                agent: agent(),
                messages: vec![
                    line(1, "customer", "hello"),
                    line(2, "agent", "hi, how can I help?"),
                    line(3, "agent", "are you there?"),
                ],
            },
        );
        let got: Vec<(u64, &str, &str)> = c
            .transcript()
            .iter()
            .map(|l| (l.seq, l.from.as_str(), l.text.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, "customer", "hello"),
                (2, "agent", "hi, how can I help?"),
                (3, "agent", "are you there?")
            ]
        );
        assert_eq!(c.transcript()[0].id, "mine");
    }

    #[test]
    fn request_answers_and_acks_are_told_apart_from_pushes() {
        let mut c = client();
        c.outbox.push_back(ClientMessage::Select {
            req: 1,
            item: "chat".into(),
        });
        c.outbox.push_back(ClientMessage::Home { req: 2 });
        assert!(matches!(
            c.take_in(ServerMessage::Screen {
                req: 1,
                screen: screen("main"),
                content: None,
                notice: None,
                duplicate: false,
            })
            .unwrap(),
            Incoming::Screen(1, _)
        ));
        // `queued` between the answer and the ack is an event, not an error.
        assert!(matches!(event(&mut c, queued(1)), CustomerEvent::Queued(_)));
        assert_eq!(
            c.take_in(ServerMessage::Ack { req: 1 }).unwrap(),
            Incoming::Ack(1)
        );
        assert_eq!(c.unacknowledged(), 1);
        assert_eq!(
            c.take_in(ServerMessage::Ack { req: 2 }).unwrap(),
            Incoming::Ack(2)
        );
        assert_eq!(c.unacknowledged(), 0);
        assert_eq!(
            c.take_in(ServerMessage::Pong { nonce: Some(7) }).unwrap(),
            Incoming::Pong
        );
    }

    #[test]
    fn errors_answer_a_request_a_message_or_the_connection() {
        let mut c = client();
        event(&mut c, queued(1));
        c.outbox.push_back(ClientMessage::Cancel { req: 3 });
        let refused = c
            .take_in(ServerMessage::Error {
                req: Some(3),
                id: None,
                error: ErrorCode::NotQueued,
                message: "not waiting".into(),
                retry_after_ms: None,
            })
            .unwrap();
        assert!(matches!(
            refused,
            Incoming::Refused(3, ErrorCode::NotQueued, _)
        ));
        assert_eq!(c.unacknowledged(), 0);
        assert_eq!(c.waiting(), None, "the server says so");

        c.link.says.add(None, "a", "hello?");
        c.link.says.add(None, "b", "anyone?");
        c.chat = Some(ChatSession {
            service: "s1".into(),
            agent: agent(),
            agent_online: true,
        });
        let limited = c
            .take_in(ServerMessage::Error {
                req: None,
                id: Some("a".into()),
                error: ErrorCode::RateLimited,
                message: "slow down".into(),
                retry_after_ms: Some(250),
            })
            .unwrap();
        assert_eq!(
            limited,
            Incoming::SayLimited(Some("a".into()), Duration::from_millis(250))
        );
        assert_eq!(c.unacknowledged_says(), 2, "kept, to be sent again");
        let e = event(
            &mut c,
            ServerMessage::Error {
                req: None,
                id: Some("b".into()),
                error: ErrorCode::NotInChat,
                message: "no agent".into(),
                retry_after_ms: None,
            },
        );
        assert!(
            matches!(e, CustomerEvent::SayRefused { ref id, code: ErrorCode::NotInChat, .. } if id == "b")
        );
        assert_eq!(c.pending_say_ids().collect::<Vec<_>>(), ["a"]);
        assert_eq!(c.chat(), None);

        let e = c
            .take_in(ServerMessage::Error {
                req: None,
                id: None,
                error: ErrorCode::Superseded,
                message: "resumed elsewhere".into(),
                retry_after_ms: None,
            })
            .unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::Superseded));
        assert_eq!(
            c.take_in(ServerMessage::Error {
                req: None,
                id: None,
                error: ErrorCode::MalformedJson,
                message: "?".into(),
                retry_after_ms: None,
            })
            .unwrap(),
            Incoming::Nothing
        );
    }

    #[test]
    fn a_resume_drops_applied_requests_and_keeps_unacknowledged_says() {
        let mut c = client();
        for req in 1..=3 {
            c.outbox.push_back(ClientMessage::Home { req });
        }
        c.next_req = 4;
        c.link.says.add(None, "a", "still there?");
        let _ = c.link.says.take_due(std::time::Instant::now());
        c.take_welcome(welcome(true, 2)).unwrap();
        assert_eq!(c.unacknowledged(), 1, "request 3 is resent");
        assert_eq!(c.next_req, 4, "and numbers keep growing");
        c.link.says.connection_lost();
        let resend = c.link.says.take_due(std::time::Instant::now());
        assert_eq!(resend.len(), 1);
        assert_eq!(
            resend[0].id, "a",
            "the same id, so the server stores it once"
        );
    }

    #[tokio::test]
    async fn next_event_returns_buffered_events_first() {
        let mut c = client();
        c.link.events.push_back(CustomerEvent::Queued(QueueStatus {
            position: 1,
            waiting: 1,
            estimated_wait_ms: None,
            agents_available: 1,
            requeued: false,
            waiting_for: None,
        }));
        let e = c.next_event(Duration::from_millis(10)).await.unwrap();
        assert!(matches!(e, CustomerEvent::Queued(_)));
        assert_eq!(c.events().count(), 0);
    }
}
