//! What both clients keep around their socket, and how they read from it.
//!
//! [`crate::CustomerClient`] and [`crate::AgentClient`] differ in what messages
//! mean (each applies them in its own synchronous `take_in`), not in how they are
//! carried. Both hold the connection while it lasts, the chat messages not yet
//! stored and the events no call was waiting for; both read one message at a time
//! by a deadline, treat a broken connection alike (dropped, with every chat message
//! due again on the next one) and handle a chat message's outcome alike. That part
//! is a [`Link`], written once.

use std::collections::VecDeque;
use std::ops::ControlFlow;
use std::time::Duration;

use frontdesk_protocol::ErrorCode;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::chat::{PendingSay, Said, SayOutbox};
use crate::{ClientError, RATE_LIMIT_RETRIES, Result, Socket};

/// How waiting for a chat message's `said` ended (connection errors aside).
pub(crate) enum SayOutcome {
    /// Stored.
    Said(Said),
    /// Refused for good, with the server's code and message.
    Refused(ErrorCode, String),
    /// Refused as `rate_limited`: not stored, to be sent again after the wait.
    Limited(Duration),
}

/// A client's connection (none while broken) with its chat outbox and its buffer
/// of events (`Event`); `Out` and `In` are the protocol's messages.
#[derive(Debug)]
pub(crate) struct Link<Out, In, Event> {
    conn: Option<Socket<Out, In>>,
    /// How a chat message is sent in this protocol.
    say: fn(PendingSay) -> Out,
    /// Chat messages sent and not yet stored.
    pub says: SayOutbox,
    /// Events not yet read, oldest first.
    pub events: VecDeque<Event>,
}

impl<Out: Serialize, In: DeserializeOwned, Event> Link<Out, In, Event> {
    /// No connection yet; chat messages go as `say` makes them.
    pub fn new(say: fn(PendingSay) -> Out) -> Self {
        Self {
            conn: None,
            say,
            says: SayOutbox::default(),
            events: VecDeque::new(),
        }
    }

    /// Uses a new connection, on which nothing has been sent yet (chat messages
    /// included: they are due again).
    pub fn attach(&mut self, conn: Socket<Out, In>) {
        self.says.connection_lost();
        self.conn = Some(conn);
    }

    /// Drops the connection without a close handshake, as a lost network would.
    /// What was sent on it must go again on the next one.
    pub fn drop_connection(&mut self) {
        if let Some(c) = self.conn.take() {
            c.drop_abruptly();
        }
        self.says.connection_lost();
    }

    /// Sends on the current connection; one that fails to send is dropped.
    ///
    /// # Errors
    /// [`ClientError::Closed`] when there is no connection; the send's error.
    pub async fn send(&mut self, msg: &Out) -> Result<()> {
        let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
        let sent = conn.send(msg).await;
        if sent.is_err() {
            self.drop_connection();
        }
        sent
    }

    /// Sends the chat messages due on the current connection.
    ///
    /// # Errors
    /// As [`Link::send`].
    pub async fn send_due_says(&mut self) -> Result<()> {
        if self.conn.is_none() {
            return Err(ClientError::Closed);
        }
        for say in self.says.take_due(Instant::now().into_std()) {
            self.send(&(self.say)(say)).await?;
        }
        Ok(())
    }

    /// Reads the next message, by `deadline`. A connection that breaks is dropped.
    /// Cancel-safe.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing came; [`ClientError::Closed`] when
    /// there is no connection; the connection's error when it broke.
    pub async fn recv_by(&mut self, deadline: Instant) -> Result<In> {
        let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
        let msg = tokio::time::timeout_at(deadline, conn.recv())
            .await
            .map_err(|_| ClientError::Timeout)?;
        if msg.is_err() {
            self.drop_connection();
        }
        msg
    }

    /// What follows the `outcome` of chat message `id`: `Break` with the answer
    /// once it is stored or refused, `Continue` once a rate limit's wait is over
    /// (the message is due again, under its id). After [`RATE_LIMIT_RETRIES`]
    /// limits (counted in `limited`) it gives up, and the message leaves the outbox.
    pub async fn settle_say(
        &mut self,
        id: &str,
        outcome: SayOutcome,
        limited: &mut u32,
    ) -> ControlFlow<Result<Said>> {
        match outcome {
            SayOutcome::Said(said) => ControlFlow::Break(Ok(said)),
            SayOutcome::Limited(wait) if *limited < RATE_LIMIT_RETRIES => {
                // Not stored: the same id goes again after the wait.
                *limited += 1;
                self.says
                    .rate_limited(id, Instant::now().into_std(), Duration::ZERO);
                tokio::time::sleep(wait).await;
                ControlFlow::Continue(())
            }
            SayOutcome::Limited(_) => {
                self.says.remove(id);
                ControlFlow::Break(Err(ClientError::Server {
                    code: ErrorCode::RateLimited,
                    message: "too many messages; gave up".into(),
                }))
            }
            SayOutcome::Refused(code, message) => {
                ControlFlow::Break(Err(ClientError::Server { code, message }))
            }
        }
    }
}
