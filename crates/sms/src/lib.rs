//! The SMS sending edge of frontdesk: hand one text message to a gateway, once.
//!
//! The server calls one [`SmsSender`] (held as `Arc<dyn SmsSender>`, built by
//! [`build`] from the `[sms]` section of its configuration). A sender makes **one
//! attempt** and says how it went:
//! - `Ok(`[`Sent`]`)`: the gateway accepted the message (its id and status, if it
//!   gave them). Accepted is not delivered: handsets can be off for days.
//! - [`SendError::Retryable`]: worth trying again later (timeout, connection
//!   refused, 408, 429, 5xx; for the HTTP gateway also 409, "the first request with
//!   this idempotency key is still running"), with the gateway's `Retry-After` if
//!   it sent one.
//! - [`SendError::Permanent`]: will never succeed as it is (a bad number, bad
//!   credentials, another 4xx): give up and record why.
//!
//! # The three senders
//! - [`Outbox`] (the default) sends nothing and answers `status = "outbox"`. The
//!   server keeps the messages in its database and `frontdesk sms outbox` lists
//!   them, so the demo works with no gateway and no account anywhere.
//! - [`HttpGateway`] posts `{"id", "to", "body"}` as JSON to one URL, with one
//!   configured header for authentication and an `Idempotency-Key`. Most SMS
//!   aggregators, or a ten-line adapter in front of one, can take that.
//! - [`Twilio`] speaks Twilio's Programmable Messaging REST API (form-encoded
//!   `POST .../Messages.json`, HTTP basic auth).
//!
//! # Who guarantees what
//! This crate has no state and no loop: retries, and the rule that one trigger
//! (one hand-off, one reminder) sends **at most one** SMS, belong to the server. It
//! writes the message to its outbox table first, and a worker sends pending rows,
//! records each outcome and schedules the next attempt with [`Backoff`] (a pure
//! function here, so the worker's timing is testable without a clock or sockets).
//!
//! The one gap the table cannot close is a crash between "the gateway accepted it"
//! and "the row says so": the worker will send that row again. For that case the
//! HTTP sender puts `Idempotency-Key: frontdesk-sms-<id>` on every attempt, with
//! `<id>` the server's message id (the same on every retry), so a gateway that
//! honours the header drops the resend. Twilio's message API has no such key: with
//! Twilio that crash window (milliseconds wide) can still mean a duplicate SMS,
//! which is judged better than a lost one.
//!
//! For the same reason a 2xx whose body cannot be read is still [`Sent`]: the
//! gateway said yes, and retrying would risk sending twice.
//!
//! # Layout
//! - the trait and the message types: this file.
//! - [`config`]: [`SmsConfig`] as it appears under `[sms]`, and [`build`].
//! - `http.rs`: [`HttpGateway`]; `twilio.rs`: [`Twilio`]; `transport.rs`: what the
//!   two share (status classes, `Retry-After`, reading a bounded body).
//! - `backoff.rs`: [`Backoff`], the retry delays.
//!
//! # Logging
//! One `tracing::debug!` per attempt with the message id and the outcome. Message
//! bodies, phone numbers and credentials are never logged.

mod backoff;
pub mod config;
mod http;
mod transport;
mod twilio;

pub use backoff::Backoff;
pub use config::{ConfigError, GatewayKind, HttpConfig, SmsConfig, TwilioConfig, build};
pub use http::HttpGateway;
pub use twilio::Twilio;

use std::time::Duration;

use async_trait::async_trait;

/// One text message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sms {
    /// The server's message id, stable across retries (it makes the idempotency key).
    pub id: i64,
    /// The recipient in E.164, e.g. `+447700900123`.
    pub to: String,
    /// The text.
    pub body: String,
}

/// What the gateway said when it accepted a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// The gateway's id for the message, if it gave one (Twilio's `SM…` sid).
    pub provider_id: Option<String>,
    /// `"outbox"` for the [`Outbox`], else the gateway's status, e.g. `"queued"`,
    /// `"accepted"` or `"sent"`.
    pub status: String,
}

/// Why one attempt did not hand the message over.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth trying again later (timeout, connection refused, 408, 429, 5xx).
    /// `retry_after` comes from a `Retry-After` header in seconds form, if any; it
    /// is passed on as the gateway said it, so the caller decides how far to trust it.
    #[error("{message}")]
    Retryable {
        /// What happened, for the outbox row and the logs.
        message: String,
        /// How long the gateway asked us to wait.
        retry_after: Option<Duration>,
    },
    /// Will never succeed as it is (another 4xx: a bad number, bad credentials):
    /// give up and record why.
    #[error("{message}")]
    Permanent {
        /// What happened, for the outbox row and the logs.
        message: String,
    },
}

impl SendError {
    /// Whether trying again later could help.
    #[must_use]
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Retryable { .. })
    }
}

/// Something that can hand an SMS to the outside world, one attempt per call.
#[async_trait]
pub trait SmsSender: Send + Sync + std::fmt::Debug {
    /// `"outbox"`, `"http"` or `"twilio"` (for logs, metrics, the admin API).
    fn kind(&self) -> &'static str;

    /// Makes one attempt to send `sms`.
    ///
    /// # Errors
    /// [`SendError::Retryable`] when a later attempt may succeed,
    /// [`SendError::Permanent`] when none will.
    async fn send(&self, sms: &Sms) -> Result<Sent, SendError>;
}

/// Sends nothing: every message stays in the server's outbox table, where
/// `frontdesk sms outbox` lists it. The default, so a demo needs no gateway.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outbox;

#[async_trait]
impl SmsSender for Outbox {
    fn kind(&self) -> &'static str {
        "outbox"
    }

    async fn send(&self, sms: &Sms) -> Result<Sent, SendError> {
        tracing::debug!(
            sms_id = sms.id,
            gateway = "outbox",
            "sms kept in the outbox"
        );
        Ok(Sent {
            provider_id: None,
            status: "outbox".to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outbox_accepts_everything_and_sends_nothing() -> Result<(), SendError> {
        let sms = Sms {
            id: 7,
            to: "+447700900123".into(),
            body: "hello".into(),
        };
        let sent = Outbox.send(&sms).await?;
        assert_eq!(sent.provider_id, None);
        assert_eq!(sent.status, "outbox");
        assert_eq!(Outbox.kind(), "outbox");
        Ok(())
    }
}
