//! [`AgentClient`]: an agent on `/agent/ws`.
//!
//! Built like [`crate::CustomerClient`]: every incoming message goes through a
//! synchronous `take_in` that keeps the client's view (state, queue, customers in
//! hand with their chats) and the outbox of chat messages; what nobody waits for
//! is buffered as an event (the protocol's own [`AgentServerMessage`]: the agent
//! protocol has no numbered requests to tell apart from pushes).
//!
//! Unlike the customer client it never reconnects by itself: tests drop and
//! restore agents' connections on purpose ([`AgentClient::drop_connection`],
//! [`AgentClient::reconnect`]) to see what customers are told meanwhile. A chat
//! message whose `said` was lost is resent, under its id, by the next reconnect.

use std::ops::ControlFlow;
use std::time::Duration;

use frontdesk_protocol::agent::{
    AgentClientMessage, AgentInfo, AgentServerMessage, PresenceChoice, QueueView, ServiceView,
};
use frontdesk_protocol::{ChatLine, ErrorCode};
use tokio::time::Instant;

use crate::chat::{PendingSay, Said, merge_line, new_message_id};
use crate::link::{Link, SayOutcome};
use crate::{AgentConnection, ApiClient, ClientError, Result};

/// What the server said when the agent connected.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentWelcome {
    /// Who is logged in.
    pub agent: AgentInfo,
    /// `idle`, `busy`, `away` (or `offline`).
    pub state: String,
    /// Customers in hand (after a reconnect), with their chats so far.
    pub services: Vec<ServiceView>,
    /// The waiting queue.
    pub queue: QueueView,
}

/// The answer to [`AgentClient::send_card`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardSent {
    /// The SMS's id in the log.
    pub sms: i64,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// The card had been issued before (by the button or at the end).
    pub duplicate: bool,
}

/// What one incoming message meant, once applied.
// A transient value per message read (never stored in bulk): boxing the large
// variant would cost an allocation per message for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
enum Incoming {
    /// For whoever waits for it, else the event buffer.
    Event(AgentServerMessage),
    /// A heartbeat answer.
    Pong,
    /// Nothing for anyone (a chat line known already, a stray welcome).
    Nothing,
}

/// An agent's connection, with their customers in hand and an outbox of chat
/// messages.
#[derive(Debug)]
pub struct AgentClient {
    base: String,
    token: String,
    /// The connection, the chat outbox and the events nobody waited for.
    link: Link<AgentClientMessage, AgentServerMessage, AgentServerMessage>,
    welcome: AgentWelcome,
    state: String,
    queue: QueueView,
    services: Vec<ServiceView>,
    /// How long to wait for any one answer.
    pub timeout: Duration,
}

impl AgentClient {
    /// Connects to the server at `base` as the agent whose login token this is
    /// (`Authorization: Bearer`), and reads the `welcome`.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `unauthorized` for a bad token; connection
    /// errors when the server cannot be reached.
    pub async fn connect(base: &str, token: &str) -> Result<Self> {
        let mut client = Self::detached(base, token);
        client.reconnect().await?;
        Ok(client)
    }

    /// A client with no connection yet, knowing nothing.
    fn detached(base: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            token: token.to_owned(),
            link: Link::new(say_message),
            welcome: AgentWelcome {
                agent: AgentInfo {
                    id: 0,
                    username: String::new(),
                    name: String::new(),
                    chat_capacity: 0,
                },
                state: String::new(),
                services: Vec::new(),
                queue: QueueView::default(),
            },
            state: String::new(),
            queue: QueueView::default(),
            services: Vec::new(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Logs in over REST (`POST /api/login`) and connects with the token.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `unauthorized` on a wrong password; as
    /// [`AgentClient::connect`].
    pub async fn login(base: &str, username: &str, password: &str) -> Result<Self> {
        let login = ApiClient::new(base)?.login(username, password).await?;
        Self::connect(base, &login.token).await
    }

    /// Opens a new connection, reads its `welcome` (customers in hand, the queue),
    /// and resends every chat message not yet stored, under its id.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses the login.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.drop_connection();
        let mut conn = AgentConnection::open(&self.base, Some(&self.token)).await?;
        let msg = conn.recv_within(self.timeout).await?;
        self.take_welcome(msg)?;
        self.link.attach(conn);
        self.link.send_due_says().await
    }

    /// Drops the connection without a close handshake, as a lost network would.
    /// Nothing is sent until [`AgentClient::reconnect`].
    pub fn drop_connection(&mut self) {
        self.link.drop_connection();
    }

    /// The last `welcome` as received (after [`AgentClient::reconnect`], the new one).
    #[must_use]
    pub fn welcome(&self) -> &AgentWelcome {
        &self.welcome
    }

    /// Who is logged in.
    #[must_use]
    pub fn info(&self) -> &AgentInfo {
        &self.welcome.agent
    }

    /// The agent's state as last told: `idle`, `busy`, `away` or `offline`.
    #[must_use]
    pub fn state(&self) -> &str {
        &self.state
    }

    /// The waiting queue as last told.
    #[must_use]
    pub fn queue(&self) -> &QueueView {
        &self.queue
    }

    /// Customers in hand, each with its chat so far (kept up to date by `chat`
    /// and `said`, merged by `seq`), in the order they were assigned.
    #[must_use]
    pub fn services(&self) -> &[ServiceView] {
        &self.services
    }

    /// One customer in hand.
    #[must_use]
    pub fn service(&self, id: &str) -> Option<&ServiceView> {
        self.services.iter().find(|s| s.id == id)
    }

    /// The chat of a service in hand, by `seq`, each line once.
    #[must_use]
    pub fn transcript(&self, service: &str) -> Option<&[ChatLine]> {
        self.service(service).map(|s| s.messages.as_slice())
    }

    /// Chat messages sent but not yet stored.
    #[must_use]
    pub fn unacknowledged_says(&self) -> usize {
        self.link.says.len()
    }

    /// The ids of the chat messages not yet stored, oldest first.
    pub fn pending_say_ids(&self) -> impl Iterator<Item = &str> {
        self.link.says.ids()
    }

    /// Takes every buffered event, oldest first, without waiting.
    pub fn events(&mut self) -> std::collections::vec_deque::Drain<'_, AgentServerMessage> {
        self.link.events.drain(..)
    }

    /// The next event: a buffered one, else the next to arrive within `within`.
    /// `pong` is never an event, and a `chat` line already known is not one
    /// twice. Cancel-safe between messages.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing came; [`ClientError::Closed`] when
    /// there is no connection.
    pub async fn next_event(&mut self, within: Duration) -> Result<AgentServerMessage> {
        if let Some(e) = self.link.events.pop_front() {
            return Ok(e);
        }
        let deadline = Instant::now() + within;
        self.link.send_due_says().await?;
        loop {
            if let Incoming::Event(e) = self.recv_until(deadline).await? {
                return Ok(e);
            }
        }
    }

    /// Waits until a customer is assigned, skipping `queue` and `state` events,
    /// buffered ones included (their news is in [`AgentClient::queue`] and
    /// [`AgentClient::state`]); other events stay buffered.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when no customer came within `within`.
    pub async fn wait_assigned(&mut self, within: Duration) -> Result<ServiceView> {
        self.link.events.retain(|e| {
            !matches!(
                e,
                AgentServerMessage::Queue { .. } | AgentServerMessage::State { .. }
            )
        });
        if let Some(at) = self
            .link
            .events
            .iter()
            .position(|e| matches!(e, AgentServerMessage::Assigned { .. }))
            && let Some(AgentServerMessage::Assigned { service }) = self.link.events.remove(at)
        {
            return Ok(service);
        }
        let deadline = Instant::now() + within;
        loop {
            match self.recv_until(deadline).await? {
                Incoming::Event(AgentServerMessage::Assigned { service }) => return Ok(service),
                Incoming::Event(
                    AgentServerMessage::Queue { .. } | AgentServerMessage::State { .. },
                ) => {}
                Incoming::Event(e) => self.link.events.push_back(e),
                _ => {}
            }
        }
    }

    /// Says whether to take customers (`idle`) or not (`away`); returns the
    /// state the server answers with (the `state` marked `reply`; pushed ones
    /// before it are applied and skipped).
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused.
    pub async fn presence(&mut self, choice: PresenceChoice) -> Result<String> {
        self.link
            .send(&AgentClientMessage::Presence { state: choice })
            .await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.recv_until(deadline).await? {
                Incoming::Event(AgentServerMessage::State { state, reply: true }) => {
                    return Ok(state);
                }
                Incoming::Event(AgentServerMessage::Error {
                    service: None,
                    id: None,
                    error,
                    message,
                    ..
                }) => {
                    return Err(ClientError::Server {
                        code: error,
                        message,
                    });
                }
                Incoming::Event(e) => self.link.events.push_back(e),
                _ => {}
            }
        }
    }

    /// Ends a service (the customer goes back to the menu); returns the reason
    /// the server gives in its `service_ended`.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `not_your_customer` when the service is not
    /// this agent's or is over.
    pub async fn end_service(&mut self, service: &str) -> Result<String> {
        let msg = AgentClientMessage::EndService {
            service: service.to_owned(),
        };
        self.act_on(service, msg, |m| match m {
            AgentServerMessage::ServiceEnded { service: s, reason } if s == service => {
                Some(reason.clone())
            }
            _ => None,
        })
        .await
    }

    /// "Send my card": the customer of `service` gets this agent's link by SMS
    /// (once per service). Returns the SMS's id, its status, and whether it had
    /// been issued before.
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`not_your_customer`); connection errors.
    pub async fn send_card(&mut self, service: &str) -> Result<CardSent> {
        let msg = AgentClientMessage::SendCard {
            service: service.to_owned(),
        };
        self.act_on(service, msg, |m| match m {
            AgentServerMessage::CardSent {
                service: s,
                sms,
                status,
                duplicate,
            } if s == service => Some(CardSent {
                sms: *sms,
                status: status.clone(),
                duplicate: *duplicate,
            }),
            _ => None,
        })
        .await
    }

    /// Sends an action on `service` and waits for its answer: the message `answer`
    /// reads a result from, or an error about the service. Everything else read
    /// meanwhile is kept as an event.
    async fn act_on<T>(
        &mut self,
        service: &str,
        msg: AgentClientMessage,
        answer: impl Fn(&AgentServerMessage) -> Option<T>,
    ) -> Result<T> {
        self.link.send(&msg).await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let Incoming::Event(event) = self.recv_until(deadline).await? else {
                continue;
            };
            if let Some(result) = answer(&event) {
                return Ok(result);
            }
            match event {
                AgentServerMessage::Error {
                    service: about,
                    id: None,
                    error,
                    message,
                    ..
                } if about.as_deref().is_none_or(|s| s == service) => {
                    return Err(ClientError::Server {
                        code: error,
                        message,
                    });
                }
                other => self.link.events.push_back(other),
            }
        }
    }

    /// Sends a chat message to the customer of `service` under a new id, and
    /// waits until it is stored. If the connection breaks first the message stays
    /// in the outbox and [`AgentClient::reconnect`] resends it with the same id
    /// (its `said` then arrives as an event).
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`not_your_customer`,
    /// `invalid_message`); connection errors.
    pub async fn say(&mut self, service: &str, text: &str) -> Result<Said> {
        self.say_with_id(service, &new_message_id(), text).await
    }

    /// [`AgentClient::say`] under a given id: an id stored before is answered
    /// `duplicate: true` with the original `seq`.
    ///
    /// # Errors
    /// As [`AgentClient::say`].
    pub async fn say_with_id(&mut self, service: &str, id: &str, text: &str) -> Result<Said> {
        self.link.says.add(Some(service), id, text);
        let mut limited = 0;
        loop {
            self.link.send_due_says().await?;
            let outcome = self.await_said(id).await?;
            if let ControlFlow::Break(done) = self.link.settle_say(id, outcome, &mut limited).await
            {
                return done;
            }
        }
    }

    /// Sends a heartbeat and waits for its answer (events meanwhile are buffered).
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn ping(&mut self) -> Result<()> {
        self.link
            .send(&AgentClientMessage::Ping { nonce: Some(7) })
            .await?;
        let deadline = Instant::now() + self.timeout;
        loop {
            match self.recv_until(deadline).await? {
                Incoming::Pong => return Ok(()),
                Incoming::Event(e) => self.link.events.push_back(e),
                Incoming::Nothing => {}
            }
        }
    }

    async fn await_said(&mut self, id: &str) -> Result<SayOutcome> {
        loop {
            let deadline = Instant::now() + self.timeout;
            match self.recv_until(deadline).await? {
                Incoming::Event(AgentServerMessage::Said {
                    service,
                    id: said,
                    seq,
                    at_ms,
                    duplicate,
                }) if said == id => {
                    return Ok(SayOutcome::Said(Said {
                        id: said,
                        service,
                        seq,
                        at_ms,
                        duplicate,
                    }));
                }
                Incoming::Event(AgentServerMessage::Error {
                    id: Some(refused),
                    error,
                    message,
                    retry_after_ms,
                    ..
                }) if refused == id => {
                    return Ok(if error == ErrorCode::RateLimited {
                        SayOutcome::Limited(Duration::from_millis(retry_after_ms.unwrap_or(100)))
                    } else {
                        SayOutcome::Refused(error, message)
                    });
                }
                Incoming::Event(AgentServerMessage::Error {
                    id: None,
                    service: None,
                    error: ErrorCode::RateLimited,
                    retry_after_ms,
                    ..
                }) => {
                    // Names no message, so may be this one's: sending it again
                    // under its id is harmless.
                    return Ok(SayOutcome::Limited(Duration::from_millis(
                        retry_after_ms.unwrap_or(100),
                    )));
                }
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

    /// Applies the first message of a connection, which must be `welcome`.
    fn take_welcome(&mut self, msg: AgentServerMessage) -> Result<()> {
        match msg {
            AgentServerMessage::Welcome {
                agent,
                state,
                services,
                queue,
            } => {
                let mut merged = services.clone();
                for view in &mut merged {
                    // Lines known here and not (yet) in the server's list stay.
                    if let Some(old) = self.services.iter().find(|s| s.id == view.id) {
                        for line in &old.messages {
                            merge_line(&mut view.messages, line.clone());
                        }
                    }
                    sort_lines(&mut view.messages);
                }
                self.services = merged;
                self.state.clone_from(&state);
                self.queue = queue.clone();
                self.welcome = AgentWelcome {
                    agent,
                    state,
                    services,
                    queue,
                };
                Ok(())
            }
            AgentServerMessage::Error { error, message, .. } => Err(ClientError::Server {
                code: error,
                message,
            }),
            other => Err(ClientError::Protocol(format!(
                "expected welcome, got {other:?}"
            ))),
        }
    }

    /// Applies one incoming message to the client's view and says what it was.
    /// No I/O. `Err` for the errors that close the connection.
    fn take_in(&mut self, msg: AgentServerMessage) -> Result<Incoming> {
        Ok(match msg {
            AgentServerMessage::State { state, reply } => {
                self.state.clone_from(&state);
                Incoming::Event(AgentServerMessage::State { state, reply })
            }
            AgentServerMessage::Queue { queue } => {
                self.queue = queue.clone();
                Incoming::Event(AgentServerMessage::Queue { queue })
            }
            AgentServerMessage::Assigned { mut service } => {
                sort_lines(&mut service.messages);
                match self.services.iter_mut().find(|s| s.id == service.id) {
                    Some(known) => *known = service.clone(),
                    None => self.services.push(service.clone()),
                }
                Incoming::Event(AgentServerMessage::Assigned { service })
            }
            AgentServerMessage::Chat { service, line } => {
                let new = match self.services.iter_mut().find(|s| s.id == service) {
                    Some(view) => merge_line(&mut view.messages, line.clone()),
                    None => true,
                };
                if new {
                    Incoming::Event(AgentServerMessage::Chat { service, line })
                } else {
                    Incoming::Nothing
                }
            }
            AgentServerMessage::Said {
                service,
                id,
                seq,
                at_ms,
                duplicate,
            } => {
                // The text is known only from the outbox; the line joins the
                // service's chat once stored.
                if let Some(say) = self.link.says.remove(&id)
                    && let Some(view) = self.services.iter_mut().find(|s| s.id == service)
                {
                    merge_line(
                        &mut view.messages,
                        ChatLine {
                            seq,
                            from: "agent".into(),
                            text: say.text,
                            at_ms,
                            id: id.clone(),
                        },
                    );
                }
                Incoming::Event(AgentServerMessage::Said {
                    service,
                    id,
                    seq,
                    at_ms,
                    duplicate,
                })
            }
            AgentServerMessage::CustomerStatus { service, online } => {
                if let Some(view) = self.services.iter_mut().find(|s| s.id == service) {
                    view.customer_online = online;
                }
                Incoming::Event(AgentServerMessage::CustomerStatus { service, online })
            }
            AgentServerMessage::ServiceEnded { service, reason } => {
                self.services.retain(|s| s.id != service);
                Incoming::Event(AgentServerMessage::ServiceEnded { service, reason })
            }
            AgentServerMessage::Pong { .. } => Incoming::Pong,
            e @ AgentServerMessage::CardSent { .. } => Incoming::Event(e),
            AgentServerMessage::Error {
                service,
                id,
                error,
                message,
                retry_after_ms,
            } => {
                if let Some(id) = &id {
                    if error == ErrorCode::RateLimited {
                        self.link
                            .says
                            .rate_limited(id, Instant::now().into_std(), Duration::ZERO);
                    } else {
                        self.link.says.remove(id);
                    }
                } else if service.is_none()
                    && matches!(error, ErrorCode::ShuttingDown | ErrorCode::IdleTimeout)
                {
                    return Err(ClientError::Server {
                        code: error,
                        message,
                    });
                }
                Incoming::Event(AgentServerMessage::Error {
                    service,
                    id,
                    error,
                    message,
                    retry_after_ms,
                })
            }
            AgentServerMessage::Welcome { .. } => {
                tracing::warn!("a welcome in the middle of a connection; ignored");
                Incoming::Nothing
            }
        })
    }
}

/// How the agent protocol carries a chat message.
fn say_message(say: PendingSay) -> AgentClientMessage {
    AgentClientMessage::Say {
        service: say.service.unwrap_or_default(),
        id: say.id,
        text: say.text,
    }
}

/// Puts lines in `seq` order with no two of one `seq` (the server's lists should
/// be so already; [`merge_line`] relies on it).
fn sort_lines(lines: &mut Vec<ChatLine>) {
    lines.sort_by_key(|l| l.seq);
    lines.dedup_by_key(|l| l.seq);
}

#[cfg(test)]
mod tests {
    use super::*;
    use frontdesk_protocol::agent::Viewed;

    fn line(seq: u64, from: &str, text: &str) -> ChatLine {
        ChatLine {
            seq,
            from: from.into(),
            text: text.into(),
            at_ms: 0,
            id: format!("{from}-{seq}"),
        }
    }

    fn view(id: &str, messages: Vec<ChatLine>) -> ServiceView {
        ServiceView {
            id: id.into(),
            consultation: "c1".into(),
            phone: "+12015550123".into(),
            tier: "core".into(),
            need: "chat".into(),
            queued_ms: 1,
            started_ms: 2,
            viewed: vec![Viewed {
                item: "chat".into(),
                title: "Chat with us".into(),
                kind: "chat".into(),
                at_ms: 1,
            }],
            messages,
            customer_online: true,
            bot: vec![],
            bot_mean: None,
        }
    }

    fn welcome(services: Vec<ServiceView>) -> AgentServerMessage {
        AgentServerMessage::Welcome {
            agent: AgentInfo {
                id: 2,
                username: "ada".into(),
                name: "Ada".into(),
                chat_capacity: 2,
            },
            state: "away".into(),
            services,
            queue: QueueView::default(),
        }
    }

    /// A client that never connected, for feeding messages by hand.
    fn client() -> AgentClient {
        let mut c = AgentClient::detached("http://127.0.0.1:1", "t");
        c.timeout = Duration::from_secs(1);
        c.take_welcome(welcome(vec![])).unwrap();
        c
    }

    #[test]
    fn the_view_follows_assignments_chats_and_endings() {
        let mut c = client();
        assert_eq!(c.info().name, "Ada");
        assert_eq!(c.state(), "away");
        c.take_in(AgentServerMessage::State {
            state: "idle".into(),
            reply: false,
        })
        .unwrap();
        assert_eq!(c.state(), "idle");
        c.take_in(AgentServerMessage::Assigned {
            service: view("s1", vec![line(1, "customer", "hi")]),
        })
        .unwrap();
        assert_eq!(c.services().len(), 1);
        c.link.says.add(Some("s1"), "a1", "hello, I am Ada");
        let _ = c.link.says.take_due(std::time::Instant::now());
        c.take_in(AgentServerMessage::Said {
            service: "s1".into(),
            id: "a1".into(),
            seq: 2,
            at_ms: 3,
            duplicate: false,
        })
        .unwrap();
        assert_eq!(c.unacknowledged_says(), 0);
        let new = c
            .take_in(AgentServerMessage::Chat {
                service: "s1".into(),
                line: line(3, "customer", "my bill"),
            })
            .unwrap();
        assert!(matches!(
            new,
            Incoming::Event(AgentServerMessage::Chat { .. })
        ));
        let again = c
            .take_in(AgentServerMessage::Chat {
                service: "s1".into(),
                line: line(3, "customer", "my bill"),
            })
            .unwrap();
        assert_eq!(again, Incoming::Nothing);
        let got: Vec<(u64, &str)> = c
            .transcript("s1")
            .unwrap()
            .iter()
            .map(|l| (l.seq, l.from.as_str()))
            .collect();
        assert_eq!(got, [(1, "customer"), (2, "agent"), (3, "customer")]);
        c.take_in(AgentServerMessage::CustomerStatus {
            service: "s1".into(),
            online: false,
        })
        .unwrap();
        assert_eq!(c.service("s1").map(|s| s.customer_online), Some(false));
        c.take_in(AgentServerMessage::ServiceEnded {
            service: "s1".into(),
            reason: "customer".into(),
        })
        .unwrap();
        assert!(c.services().is_empty());
    }

    #[test]
    fn a_new_welcome_keeps_known_lines_and_the_outbox() {
        let mut c = client();
        c.take_in(AgentServerMessage::Assigned {
            service: view(
                "s1",
                vec![line(1, "customer", "hi"), line(2, "agent", "hello")],
            ),
        })
        .unwrap();
        c.link.says.add(Some("s1"), "a2", "one moment");
        let _ = c.link.says.take_due(std::time::Instant::now());
        // The connection drops; the server's welcome lists the service again.
        c.link.says.connection_lost();
        c.take_welcome(welcome(vec![view("s1", vec![line(1, "customer", "hi")])]))
            .unwrap();
        assert_eq!(c.welcome().services.len(), 1);
        assert_eq!(c.transcript("s1").map(<[ChatLine]>::len), Some(2));
        let resend = c.link.says.take_due(std::time::Instant::now());
        assert_eq!(resend.len(), 1);
        assert_eq!(
            (resend[0].id.as_str(), resend[0].service.as_deref()),
            ("a2", Some("s1"))
        );
    }

    #[test]
    fn refusals_leave_the_outbox_and_rate_limits_do_not() {
        let mut c = client();
        c.link.says.add(Some("s1"), "a", "x");
        c.link.says.add(Some("s9"), "b", "y");
        let _ = c.link.says.take_due(std::time::Instant::now());
        let e = c
            .take_in(AgentServerMessage::Error {
                service: Some("s9".into()),
                id: Some("b".into()),
                error: ErrorCode::NotYourCustomer,
                message: "no".into(),
                retry_after_ms: None,
            })
            .unwrap();
        assert!(matches!(
            e,
            Incoming::Event(AgentServerMessage::Error { .. })
        ));
        c.take_in(AgentServerMessage::Error {
            service: Some("s1".into()),
            id: Some("a".into()),
            error: ErrorCode::RateLimited,
            message: "slow".into(),
            retry_after_ms: None,
        })
        .unwrap();
        assert_eq!(c.pending_say_ids().collect::<Vec<_>>(), ["a"]);
        let e = c
            .take_in(AgentServerMessage::Error {
                service: None,
                id: None,
                error: ErrorCode::ShuttingDown,
                message: "bye".into(),
                retry_after_ms: None,
            })
            .unwrap_err();
        assert!(e.is_transient());
    }

    #[tokio::test]
    async fn wait_assigned_finds_a_buffered_assignment() {
        let mut c = client();
        c.link.events.push_back(AgentServerMessage::State {
            state: "busy".into(),
            reply: false,
        });
        c.link.events.push_back(AgentServerMessage::CustomerStatus {
            service: "s0".into(),
            online: true,
        });
        c.link.events.push_back(AgentServerMessage::Assigned {
            service: view("s1", vec![]),
        });
        let s = c.wait_assigned(Duration::from_millis(10)).await.unwrap();
        assert_eq!(s.id, "s1");
        let left: Vec<_> = c.events().collect();
        assert!(
            matches!(left[..], [AgentServerMessage::CustomerStatus { .. }]),
            "other events stay: {left:?}"
        );
        let e = c.next_event(Duration::from_millis(10)).await.unwrap_err();
        assert!(matches!(e, ClientError::Closed), "{e}");
    }
}
