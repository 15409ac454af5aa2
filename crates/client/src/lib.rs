//! Client SDK for frontdesk.
//!
//! - [`CustomerClient`]: a customer's consultation over the WebSocket. It numbers
//!   requests, keeps every unacknowledged one in an outbox, and after a dropped
//!   connection resumes the consultation and resends what the server had not
//!   applied, so a flaky network never loses or doubles a choice. It also waits in
//!   the queue and chats with an agent: pushes from the server are kept as
//!   [`CustomerEvent`]s, chat messages stay in an outbox until stored and are
//!   resent under their own id after a reconnect.
//! - [`AgentClient`]: an agent on `/agent/ws` (presence, chat, ending services),
//!   with the same resend-by-id guarantee for chat messages.
//! - [`ApiClient`]: the REST API (login, menus, service records).
//! - [`Connection`], [`AgentConnection`]: the raw sockets, for tests that speak the
//!   protocols by hand; both are the one generic [`Socket`].
//!
//! The terminal client, the integration tests and the load generator all use this
//! crate, so the protocol is exercised the same way everywhere.
//!
//! # Layout
//! - `connection.rs`: the raw typed socket and the URLs of both protocols.
//! - `link.rs`: what both clients keep around their socket (the connection while
//!   it lasts, the chat outbox, the event buffer) and how they read by a deadline.
//! - `customer.rs`: [`CustomerClient`]; its handling of incoming messages is
//!   synchronous (`take_in`) and tested without sockets.
//! - `agent.rs`: [`AgentClient`], built the same way.
//! - `chat.rs`: what both share and needs no I/O: the transcript merged by `seq`,
//!   the outbox of chat messages, message ids.
//! - `api.rs`: [`ApiClient`].

mod agent;
mod api;
mod chat;
mod connection;
mod customer;
mod link;

pub use agent::{AgentClient, AgentWelcome, CardSent};
pub use api::ApiClient;
pub use chat::{Said, merge_line, new_message_id};
pub use connection::{AgentConnection, Connection, Socket, agent_ws_url, http_url, ws_url};
pub use customer::{BotAnswered, ChatSession, CustomerClient, CustomerEvent, QueueStatus, Reply};

use frontdesk_protocol::ErrorCode;

/// What can go wrong for a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not usable.
    #[error("bad server URL '{0}'")]
    Url(String),
    /// The connection failed or broke.
    #[error("connection: {0}")]
    Connection(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused something, with its error code.
    #[error("{code}: {message}")]
    Server {
        /// Stable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// The server said something that does not fit the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The connection closed.
    #[error("the connection closed")]
    Closed,
    /// An HTTP request failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// Waited too long.
    #[error("timed out waiting for the server")]
    Timeout,
}

impl ClientError {
    /// The server's error code, if this is a server refusal.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// The HTTP status when a WebSocket upgrade was refused (e.g. 401 without a
    /// login, 403 from another origin).
    #[must_use]
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Connection(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                Some(resp.status().as_u16())
            }
            _ => None,
        }
    }

    /// True when reconnecting may help (the connection broke, or the server restarts).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        if let Some(status) = self.http_status() {
            // The server answered and refused the upgrade: trying again helps only
            // if it was busy or failing, not if it said no.
            return status == 429 || status >= 500;
        }
        matches!(
            self,
            ClientError::Connection(_) | ClientError::Closed | ClientError::Timeout
        ) || matches!(
            self.code(),
            Some(ErrorCode::ShuttingDown | ErrorCode::IdleTimeout)
        )
    }
}

/// Shorthand.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// How long to wait before reconnect attempt `attempt` (1, 2, …): doubling from
/// 200 ms, at most 3.2 s, so six attempts span about ten seconds.
fn backoff(attempt: u32) -> std::time::Duration {
    std::time::Duration::from_millis(100 * (1 << attempt.min(5)))
}

/// Reconnect attempts before a broken connection is reported to the caller.
const RECONNECT_ATTEMPTS: u32 = 6;

/// `rate_limited` answers re-issued before giving up.
const RATE_LIMIT_RETRIES: u32 = 20;
