//! The agent protocol: JSON over a WebSocket at `/agent/ws`, one message per text
//! frame, tagged by `type`. The agent is known from the upgrade request (the
//! console's session cookie or an `Authorization: Bearer` login token), so there
//! is no `hello`: the server opens with [`AgentServerMessage::Welcome`].
//!
//! `PROTOCOL.md` documents every message.

use serde::{Deserialize, Serialize};

use crate::{ChatLine, ErrorCode, parse_tagged};

/// Messages from an agent to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentClientMessage {
    /// Take customers (`idle`: join the back of the idle queue) or stop taking
    /// new ones (`away`: leave it; customers in hand stay).
    Presence {
        /// `idle` or `away`.
        state: PresenceChoice,
    },
    /// A chat message to the customer of `service`.
    Say {
        /// The service.
        service: String,
        /// The client's id for this message (1 to 64 characters).
        id: String,
        /// Plain text, at most 4000 characters.
        text: String,
    },
    /// End the service: the customer goes back to the menu.
    EndService {
        /// The service.
        service: String,
    },
    /// Send the customer of this service the link to this agent's page by SMS
    /// ("send my card"). Once per service: answered by `card_sent`, with
    /// `duplicate` when the card went out before (by this button or at the end).
    SendCard {
        /// The service.
        service: String,
    },
    /// Heartbeat; answered with `pong`.
    Ping {
        /// Echoed back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}

/// What an agent may choose to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceChoice {
    /// Taking customers.
    Idle,
    /// Not taking new customers.
    Away,
}

impl AgentClientMessage {
    /// Every `type` an agent may send.
    pub const TYPES: [&'static str; 5] = ["presence", "say", "end_service", "send_card", "ping"];

    /// Reads one text frame, telling apart the ways it can be wrong (as
    /// [`crate::ClientMessage::parse`]).
    ///
    /// # Errors
    /// The code and an English message.
    pub fn parse(text: &str) -> Result<Self, (ErrorCode, String)> {
        parse_tagged(text, &Self::TYPES).map_err(|(code, message, _)| (code, message))
    }
}

/// Messages from the server to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentServerMessage {
    /// First message on every connection.
    Welcome {
        /// Who is logged in.
        agent: AgentInfo,
        /// `idle`, `busy`, `away` (or `offline`).
        state: String,
        /// Customers in hand, with their chats so far.
        services: Vec<ServiceView>,
        /// The waiting queue.
        queue: QueueView,
    },
    /// The agent's own state changed, or the answer to `presence`.
    State {
        /// `idle`, `busy`, `away` or `offline`.
        state: String,
        /// True when this answers a `presence` (in order); false when it was
        /// pushed (a customer was given or taken). A client waiting for its
        /// answer skips pushed ones sent before the request was handled.
        #[serde(default)]
        reply: bool,
    },
    /// The waiting queue changed.
    Queue {
        /// The queue now.
        queue: QueueView,
    },
    /// A customer was given to this agent.
    Assigned {
        /// The service, with the customer's context.
        service: ServiceView,
    },
    /// A chat message from the customer.
    Chat {
        /// The service.
        service: String,
        /// The message.
        line: ChatLine,
    },
    /// The agent's `say` is stored under `seq`.
    Said {
        /// The service.
        service: String,
        /// The client's message id.
        id: String,
        /// Its place in the consultation's chat.
        seq: u64,
        /// When it was stored (Unix ms).
        at_ms: i64,
        /// True when this id was stored before; nothing changed.
        #[serde(default)]
        duplicate: bool,
    },
    /// The customer's connection dropped (`online: false`) or came back.
    CustomerStatus {
        /// The service.
        service: String,
        /// Whether the customer is connected.
        online: bool,
    },
    /// The service is over.
    ServiceEnded {
        /// The service.
        service: String,
        /// `agent` (this agent ended it), `customer` (the customer ended the
        /// consultation), `abandoned` (the customer did not come back) or
        /// `agent_lost` (this agent's connection was gone too long).
        reason: String,
    },
    /// Answer to `send_card`: the card's SMS is stored and queued for sending.
    CardSent {
        /// The service.
        service: String,
        /// The SMS's id in the log (`GET /api/sms`).
        sms: i64,
        /// Its delivery status now: `pending`, `sent` or `failed`.
        status: String,
        /// True when this service's card had been issued before; nothing new.
        #[serde(default)]
        duplicate: bool,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's nonce.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Something was refused; the connection stays up unless the code says so.
    Error {
        /// The service it is about, when there is one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<String>,
        /// The chat message refused, when the error answers a `say`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Stable code.
        error: ErrorCode,
        /// English explanation.
        message: String,
        /// For `rate_limited`: when to try again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

/// The logged-in agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Account id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Most text chats at once.
    pub chat_capacity: u32,
}

/// A customer in the agent's hand.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceView {
    /// The service's id.
    pub id: String,
    /// The consultation it belongs to.
    pub consultation: String,
    /// The customer's phone number (E.164).
    pub phone: String,
    /// The customer's value tier.
    pub tier: String,
    /// `chat` or `voice`.
    pub need: String,
    /// When they asked for an agent (Unix ms).
    pub queued_ms: i64,
    /// When the agent got them (Unix ms).
    pub started_ms: i64,
    /// The service items they chose in this consultation, in order.
    pub viewed: Vec<Viewed>,
    /// The chat so far, oldest first.
    pub messages: Vec<ChatLine>,
    /// Whether the customer is connected now.
    pub customer_online: bool,
    /// Their conversation with the answer bot before they reached a human, oldest
    /// first, with the matching degree of every answer (empty when they came
    /// straight to an agent).
    #[serde(default)]
    pub bot: Vec<BotTurnView>,
    /// The mean of the bot's degrees in this consultation, when it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_mean: Option<f64>,
}

/// One question to the bot, as the agent sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BotTurnView {
    /// The question.
    pub question: String,
    /// The library entry answered with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<String>,
    /// The answer the customer saw, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<String>,
    /// The matching degree (0–1): how sure the bot was.
    pub degree: f64,
    /// A human was offered after it.
    pub offered: bool,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// When the bot offers a human right now: both thresholds and the pressure on the
/// agents that set them (see docs/bot.md).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct HandoffView {
    /// A human is offered when an answer's degree is under this.
    pub single: f64,
    /// … or when the conversation's mean degree is under this.
    pub mean: f64,
    /// The pressure on the agents, 0 (many idle) to 1 (swamped).
    pub pressure: f64,
}

/// One service item a customer chose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewed {
    /// Menu item id.
    pub item: String,
    /// Its title.
    pub title: String,
    /// Its kind.
    pub kind: String,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// The waiting queue as agents see it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QueueView {
    /// Customers waiting in all.
    pub length: u32,
    /// The first customers in serving order (at most 50).
    pub waiting: Vec<WaitingView>,
    /// Agents idle (available, nothing in hand).
    pub idle: u32,
    /// Agents busy.
    pub busy: u32,
    /// Agents away (logged in, not taking customers).
    pub away: u32,
    /// The answer bot's thresholds for offering a human, as they stand.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handoff: Option<HandoffView>,
}

/// One waiting customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WaitingView {
    /// The consultation.
    pub consultation: String,
    /// The customer's phone, masked but for the last four digits.
    pub phone: String,
    /// Their tier.
    pub tier: String,
    /// `chat` or `voice`.
    pub need: String,
    /// When they asked for an agent (Unix ms).
    pub since_ms: i64,
    /// The agent they wait for first (they came through that agent's link).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_agent: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_agent_message() {
        let msgs = [
            AgentClientMessage::Presence {
                state: PresenceChoice::Idle,
            },
            AgentClientMessage::Say {
                service: "s".into(),
                id: "m1".into(),
                text: "hello".into(),
            },
            AgentClientMessage::EndService {
                service: "s".into(),
            },
            AgentClientMessage::SendCard {
                service: "s".into(),
            },
            AgentClientMessage::Ping { nonce: None },
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(AgentClientMessage::parse(&text).unwrap(), m, "{text}");
        }
        let code = |t: &str| AgentClientMessage::parse(t).unwrap_err().0;
        assert_eq!(code("{"), ErrorCode::MalformedJson);
        assert_eq!(code(r#"{"type":"select"}"#), ErrorCode::UnknownMessageType);
        assert_eq!(
            code(r#"{"type":"presence","state":"asleep"}"#),
            ErrorCode::InvalidMessage
        );
    }
}
