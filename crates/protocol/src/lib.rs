//! The frontdesk wire protocol, shared by the server and every client.
//!
//! Customers speak JSON over a WebSocket at `/ws`: one [`ClientMessage`] or
//! [`ServerMessage`] per text frame, tagged by `type`. REST bodies live in [`rest`].
//! `PROTOCOL.md` at the repository root documents every message with examples; a
//! test there keeps the two in step.
//!
//! Errors have one shape everywhere: a stable snake_case [`ErrorCode`] under
//! `error` and an English `message`. Clients translate by code, never by message.

pub mod agent;
pub mod rest;

use serde::{Deserialize, Serialize};

/// The protocol version this build speaks. A client says which it speaks in
/// [`ClientMessage::Hello`]; a mismatch is refused with
/// [`ErrorCode::UnsupportedProtocol`].
pub const PROTOCOL_VERSION: u32 = 1;

/// Messages from a customer's device to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// First message on every connection: start a consultation (with `phone`) or
    /// resume one (with `resume`, the token from a previous [`ServerMessage::Welcome`]).
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The customer's phone number, any common format; required to start.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phone: Option<String>,
        /// A resume token; when present the consultation it names is resumed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume: Option<String>,
        /// The code of an agent's link (`/a/CODE`, sent by SMS after a service):
        /// starts a consultation as the link's phone number (no `phone` needed), and
        /// `reach_agent` then asks for that agent. May come with `resume` too.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        link: Option<String>,
    },
    /// Choose an item on the current screen.
    Select {
        /// Request number: grows by at least one with every request of a consultation.
        req: u64,
        /// The item's id.
        item: String,
    },
    /// Go up one menu level.
    Back {
        /// Request number.
        req: u64,
    },
    /// Go to the top menu.
    Home {
        /// Request number.
        req: u64,
    },
    /// End the consultation.
    End {
        /// Request number.
        req: u64,
    },
    /// Leave the waiting queue (after choosing a chat item).
    Cancel {
        /// Request number.
        req: u64,
    },
    /// A chat message to the agent serving this consultation. Not a numbered
    /// request: it is acknowledged by [`ServerMessage::Said`] once stored, and a
    /// resend with the same `id` is recognised and not stored twice.
    Say {
        /// The client's id for this message (1 to 64 characters, unique within
        /// the consultation): what makes a resend recognisable.
        id: String,
        /// The text (plain text; at most 4000 characters).
        text: String,
    },
    /// A question to the answer bot (after choosing a bot item). Not a numbered
    /// request: answered by [`ServerMessage::BotAnswer`] once stored; a resend with
    /// the same `id` gets the same answer and is not stored or counted twice.
    Ask {
        /// The client's id for this question (1 to 64 characters, unique within the
        /// consultation).
        id: String,
        /// The question (plain text; at most 2000 characters are read).
        text: String,
    },
    /// Be served by a human: accept the bot's offer, or ask outright. Answered like
    /// choosing a chat item: a screen, then [`ServerMessage::Queued`] (or
    /// [`ServerMessage::AgentJoined`]), then `ack`. The bot conversation goes to the
    /// agent with the customer.
    Human {
        /// Request number.
        req: u64,
    },
    /// Be served by the agent of the link given in `hello`: queued like a chat
    /// item, but that agent takes them first (at once if idle); after the
    /// configured wait anyone may ([`ServerMessage::FellBack`]). Refused with
    /// `no_link` without a link.
    ReachAgent {
        /// Request number.
        req: u64,
    },
    /// Decline the human the bot offered; answered by
    /// [`ServerMessage::OfferDeclined`], or `no_offer` when none is open.
    Decline {},
    /// The bot's answer to question `id` helped; answered by
    /// [`ServerMessage::Noted`].
    Helped {
        /// The question's id.
        id: String,
    },
    /// Heartbeat; answered with [`ServerMessage::Pong`].
    Ping {
        /// Echoed back.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
}

impl ClientMessage {
    /// `hello` starting a consultation as the customer with `phone`.
    #[must_use]
    pub fn start(phone: &str) -> Self {
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            phone: Some(phone.to_owned()),
            resume: None,
            link: None,
        }
    }

    /// `hello` starting a consultation through an agent's link.
    #[must_use]
    pub fn through_link(code: &str) -> Self {
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            phone: None,
            resume: None,
            link: Some(code.to_owned()),
        }
    }

    /// `hello` resuming the consultation of `token`.
    #[must_use]
    pub fn resume(token: &str) -> Self {
        ClientMessage::Hello {
            protocol: PROTOCOL_VERSION,
            phone: None,
            resume: Some(token.to_owned()),
            link: None,
        }
    }

    /// Every `type` a client may send, for error messages and documentation.
    pub const TYPES: [&'static str; 13] = [
        "hello",
        "select",
        "back",
        "home",
        "end",
        "cancel",
        "say",
        "ask",
        "human",
        "reach_agent",
        "decline",
        "helped",
        "ping",
    ];

    /// The request number, for messages that are numbered requests.
    #[must_use]
    pub fn req(&self) -> Option<u64> {
        match self {
            ClientMessage::Select { req, .. }
            | ClientMessage::Back { req }
            | ClientMessage::Home { req }
            | ClientMessage::End { req }
            | ClientMessage::Cancel { req }
            | ClientMessage::Human { req }
            | ClientMessage::ReachAgent { req } => Some(*req),
            ClientMessage::Hello { .. }
            | ClientMessage::Say { .. }
            | ClientMessage::Ask { .. }
            | ClientMessage::Decline {}
            | ClientMessage::Helped { .. }
            | ClientMessage::Ping { .. } => None,
        }
    }

    /// Reads one text frame, telling apart the ways it can be wrong.
    ///
    /// # Errors
    /// [`ErrorCode::MalformedJson`] when the text is not a JSON object,
    /// [`ErrorCode::UnknownMessageType`] when `type` is missing or unknown, and
    /// [`ErrorCode::InvalidMessage`] when the fields do not fit the type. The
    /// `Option<u64>` is the request number when one could be read, so the error can
    /// answer that request.
    pub fn parse(text: &str) -> Result<Self, (ErrorCode, String, Option<u64>)> {
        parse_tagged(text, &Self::TYPES)
    }
}

/// Reads one text frame as a message tagged by `type`, one of `types`: the
/// parser of both WebSocket protocols. The `Option<u64>` of an error is the
/// frame's `req` when one could be read.
pub(crate) fn parse_tagged<T: serde::de::DeserializeOwned>(
    text: &str,
    types: &[&str],
) -> Result<T, (ErrorCode, String, Option<u64>)> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        (
            ErrorCode::MalformedJson,
            format!("not valid JSON: {e}"),
            None,
        )
    })?;
    let Some(obj) = value.as_object() else {
        return Err((
            ErrorCode::MalformedJson,
            "a message must be a JSON object".into(),
            None,
        ));
    };
    let req = obj.get("req").and_then(serde_json::Value::as_u64);
    match obj.get("type").and_then(serde_json::Value::as_str) {
        None => {
            return Err((
                ErrorCode::UnknownMessageType,
                "a message needs a string field `type`".into(),
                req,
            ));
        }
        Some(t) if !types.contains(&t) => {
            let shown: String = t.chars().take(40).collect();
            return Err((
                ErrorCode::UnknownMessageType,
                format!(
                    "unknown message type '{shown}' (known: {})",
                    types.join(", ")
                ),
                req,
            ));
        }
        Some(_) => {}
    }
    serde_json::from_value(value).map_err(|e| (ErrorCode::InvalidMessage, e.to_string(), req))
}

/// Messages from the server to a customer's device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`: the consultation is open (step 2: the menu is sent).
    Welcome {
        /// The protocol version the server speaks.
        protocol: u32,
        /// The consultation's id.
        consultation: String,
        /// Keep this to resume after a dropped connection; it also reads the
        /// consultation's service record over REST. Secret: never log it.
        resume_token: String,
        /// The menu version this consultation uses until it ends.
        menu_version: u32,
        /// True when an existing consultation was resumed.
        resumed: bool,
        /// The highest request number already applied: resend only requests above it.
        last_req: u64,
        /// The screen to show.
        screen: Screen,
        /// Limits the client should respect.
        limits: Limits,
    },
    /// Answer to `select`, `back` and `home`: what to show now.
    Screen {
        /// The request answered.
        req: u64,
        /// The menu to show (step 8: after content, the menu is shown again).
        screen: Screen,
        /// The content served, when a content item was chosen.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content>,
        /// A notice, e.g. that a service is not available yet.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        notice: Option<Notice>,
        /// True when the request was a resend of one already applied; nothing changed.
        #[serde(default)]
        duplicate: bool,
    },
    /// The request (and everything before it) is durably recorded.
    Ack {
        /// The request acknowledged.
        req: u64,
    },
    /// Answer to `end`: the consultation is over; its service record is stored.
    Ended {
        /// The request answered.
        req: u64,
        /// The consultation's id.
        consultation: String,
        /// How many service items the record holds.
        items_recorded: u32,
    },
    /// The customer is waiting for an agent: sent on joining the queue and again
    /// whenever their place or the estimate changes.
    Queued {
        /// 1 for the next customer served.
        position: u32,
        /// Customers waiting in all.
        waiting: u32,
        /// Estimated wait until an agent takes them, in milliseconds; absent while
        /// no agent is taking customers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        estimated_wait_ms: Option<u64>,
        /// Agents taking customers now (idle or busy).
        agents_available: u32,
        /// True when they were put back at the head because their agent vanished.
        #[serde(default)]
        requeued: bool,
        /// The agent they wait for first (they came through that agent's link),
        /// while that lasts.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        waiting_for: Option<AgentCard>,
    },
    /// The agent the customer waited for (`reach_agent`) did not come free in
    /// time: the next available agent takes them; a `queued` follows.
    FellBack {
        /// The agent they waited for.
        agent: AgentCard,
    },
    /// The answer bot is open (after choosing a bot item, and after a resume when it
    /// was open): the conversation so far.
    BotOpened {
        /// The bot item chosen.
        item: String,
        /// Every question and answer so far, oldest first.
        turns: Vec<BotTurn>,
        /// Whether a human is on offer now.
        offer: bool,
    },
    /// The bot's answer to question `id`, stored.
    BotAnswer {
        /// The question's id.
        id: String,
        /// The turn's number in the conversation (1, 2, …).
        seq: i64,
        /// The answer; absent when the bot found none (the client says it does not
        /// know, and a human is offered).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        answer: Option<BotReply>,
        /// True when the customer is offered a human now (accept with `human`,
        /// decline with `decline`).
        offer: bool,
        /// True when this answers a resend of a question already answered.
        #[serde(default)]
        duplicate: bool,
    },
    /// The offer of a human was declined.
    OfferDeclined {},
    /// Feedback on question `id`'s answer was recorded (`duplicate` when it had
    /// been before).
    Noted {
        /// The question's id.
        id: String,
        /// True when it had been recorded before.
        #[serde(default)]
        duplicate: bool,
    },
    /// An agent has taken the customer: the chat is open. Also sent after a resume
    /// during a chat, with every message so far.
    AgentJoined {
        /// The service's id.
        service: String,
        /// Who serves them.
        agent: AgentCard,
        /// The chat so far, oldest first.
        messages: Vec<ChatLine>,
    },
    /// A chat message from the agent.
    Chat {
        /// The service.
        service: String,
        /// The message.
        line: ChatLine,
    },
    /// The customer's `say` is stored under `seq`.
    Said {
        /// The client's message id.
        id: String,
        /// The service.
        service: String,
        /// Its place in the consultation's chat.
        seq: u64,
        /// When it was stored (Unix ms).
        at_ms: i64,
        /// True when this id was stored before (a resend); nothing changed.
        #[serde(default)]
        duplicate: bool,
    },
    /// The agent's connection dropped (`online: false`) or came back.
    AgentStatus {
        /// The service.
        service: String,
        /// Whether the agent is connected.
        online: bool,
        /// While offline: how long the server waits for them before putting the
        /// customer back at the head of the queue.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        grace_ms: Option<u64>,
    },
    /// The service with the agent is over; the customer is back at the menu.
    ServiceEnded {
        /// The service.
        service: String,
        /// `agent` (the agent ended it) or `agent_lost` (the agent did not come
        /// back; a `queued` with `requeued: true` follows).
        reason: String,
        /// The screen to show.
        screen: Screen,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's nonce.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<u64>,
    },
    /// Something was refused. Unless the code says the connection closes, it stays up.
    Error {
        /// The request refused, when the error answers one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req: Option<u64>,
        /// The chat message refused, when the error answers a `say`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<String>,
        /// Stable machine-readable code.
        error: ErrorCode,
        /// English explanation for people and logs.
        message: String,
        /// For `rate_limited`: when to try again.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

/// An answer from the bot, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotReply {
    /// The library entry's id.
    pub entry: String,
    /// The answer text (plain text or Markdown).
    pub text: String,
}

/// One question to the bot and its answer, as the customer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BotTurn {
    /// The question's id.
    pub id: String,
    /// 1, 2, … in the conversation.
    pub seq: i64,
    /// The question.
    pub question: String,
    /// The answer, absent when there was none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<BotReply>,
    /// When it was answered (Unix ms).
    pub at_ms: i64,
}

/// One chat message, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChatLine {
    /// Its place in the consultation's chat: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// `customer` or `agent`.
    pub from: String,
    /// Plain text; clients show it as text, never as HTML.
    pub text: String,
    /// When it was stored (Unix ms).
    pub at_ms: i64,
    /// The sender's client message id.
    pub id: String,
}

/// The agent serving a customer, as the customer sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AgentCard {
    /// The agent's id.
    pub id: i64,
    /// Their display name.
    pub name: String,
}

/// A menu screen: a submenu and its items, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Screen {
    /// The submenu's id.
    pub menu: String,
    /// The submenu's title (the menu's name on the root screen).
    pub title: String,
    /// From the root down to this submenu, for a breadcrumb. One entry at the root.
    pub path: Vec<Crumb>,
    /// The items to choose from, in order.
    pub items: Vec<Entry>,
}

/// One step of a breadcrumb.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Crumb {
    /// Submenu id.
    pub id: String,
    /// Submenu title.
    pub title: String,
}

/// One choosable item on a screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    /// Item id, sent back in `select`.
    pub id: String,
    /// The text to show.
    pub title: String,
    /// `submenu`, `content`, `voice`, `chat` or `bot`: lets a client show an icon.
    pub kind: String,
}

/// Service content (step 5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Content {
    /// The content item's id.
    pub item: String,
    /// Its title.
    pub title: String,
    /// Plain text; clients show it as text, never as HTML.
    pub text: String,
}

/// Something the customer should be told that is not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// Stable code: `not_available_yet`.
    pub code: String,
    /// The item it is about.
    pub item: String,
    /// English text.
    pub message: String,
}

/// Limits announced in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Largest text frame accepted, in bytes.
    pub max_message_bytes: u32,
    /// Sustained messages per second per connection.
    pub messages_per_sec: u32,
    /// Burst of messages allowed above the rate.
    pub burst: u32,
    /// Send a `ping` at least this often (seconds) or the server closes the connection.
    pub idle_timeout_secs: u32,
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Every error code, on the WebSocket and over HTTP.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as sent.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }
        }
    };
}

error_codes! {
    /// The frame is not a JSON object.
    MalformedJson = "malformed_json",
    /// `type` is missing or not one this server knows.
    UnknownMessageType = "unknown_message_type",
    /// The fields do not fit the message type.
    InvalidMessage = "invalid_message",
    /// The frame is larger than `max_message_bytes`.
    MessageTooLarge = "message_too_large",
    /// Binary frames are not part of the protocol.
    BinaryNotSupported = "binary_not_supported",
    /// Too many messages. The request was not applied but counts as answered:
    /// after `retry_after_ms`, send the action again under a new request number.
    RateLimited = "rate_limited",
    /// The client speaks another protocol version. The connection closes.
    UnsupportedProtocol = "unsupported_protocol",
    /// A request before `hello`.
    NotStarted = "not_started",
    /// A second `hello` on one connection.
    AlreadyStarted = "already_started",
    /// The phone number is not valid.
    InvalidPhone = "invalid_phone",
    /// The resume token names no consultation.
    UnknownResumeToken = "unknown_resume_token",
    /// The consultation has ended.
    ConsultationEnded = "consultation_ended",
    /// No such menu item in this consultation's menu.
    UnknownItem = "unknown_item",
    /// The item is not on the current screen (a stale screen).
    ItemNotOnScreen = "item_not_on_screen",
    /// The server has no service menu yet; an admin must import one.
    NoMenu = "no_menu",
    /// The consultation was resumed on another connection. This one closes.
    Superseded = "superseded",
    /// No message within the idle timeout. The connection closes.
    IdleTimeout = "idle_timeout",
    /// The server is shutting down. Reconnect and resume.
    ShuttingDown = "shutting_down",
    /// HTTP: no such resource.
    NotFound = "not_found",
    /// HTTP: missing or bad credentials.
    Unauthorized = "unauthorized",
    /// HTTP: the credentials do not allow this.
    Forbidden = "forbidden",
    /// HTTP: the request body is not acceptable.
    InvalidRequest = "invalid_request",
    /// HTTP: a menu file failed validation.
    InvalidMenu = "invalid_menu",
    /// HTTP: the thing exists already.
    Conflict = "conflict",
    /// Too many attempts; slow down.
    TooManyRequests = "too_many_requests",
    /// `cancel` while not in the waiting queue.
    NotQueued = "not_queued",
    /// A chat item chosen while already waiting or in a chat.
    AlreadyWaiting = "already_waiting",
    /// `say` while no agent serves this consultation.
    NotInChat = "not_in_chat",
    /// An agent acted on a service that is not theirs (or is over).
    NotYourCustomer = "not_your_customer",
    /// `ask` before a bot item was chosen in this consultation.
    BotNotOpen = "bot_not_open",
    /// `decline` while no human is on offer.
    NoOffer = "no_offer",
    /// `helped` for a question that was not asked.
    UnknownQuestion = "unknown_question",
    /// `reach_agent` on a consultation not started through an agent's link.
    NoLink = "no_link",
    /// The link's code in `hello` is not valid.
    UnknownLink = "unknown_link",
    /// HTTP: an answer library (file or entry) failed validation.
    InvalidLibrary = "invalid_library",
    /// Something failed inside the server; it is logged. Retry later.
    Internal = "internal",
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error body of every HTTP error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine-readable code.
    pub error: ErrorCode,
    /// English explanation.
    pub message: String,
    /// When a file or body failed validation (a menu, a customer CSV, a customer
    /// update): every problem found, each with its line where it has one. Absent
    /// otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One problem of a file or body that failed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// 1-based line in the file, when the problem has a place.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_client_message() {
        let msgs = [
            ClientMessage::Hello {
                protocol: 1,
                phone: Some("+12015550123".into()),
                resume: None,
                link: None,
            },
            ClientMessage::through_link("AbCdEfGhIjKlMnOp"),
            ClientMessage::ReachAgent { req: 9 },
            ClientMessage::Select {
                req: 1,
                item: "billing".into(),
            },
            ClientMessage::Back { req: 2 },
            ClientMessage::Home { req: 3 },
            ClientMessage::End { req: 4 },
            ClientMessage::Cancel { req: 5 },
            ClientMessage::Say {
                id: "c1".into(),
                text: "hi".into(),
            },
            ClientMessage::Ping { nonce: Some(9) },
        ];
        for m in msgs {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(ClientMessage::parse(&text).unwrap(), m, "{text}");
        }
        assert_eq!(
            ClientMessage::parse(r#"{"type":"select","req":5,"item":"x"}"#).unwrap(),
            ClientMessage::Select {
                req: 5,
                item: "x".into()
            }
        );
    }

    #[test]
    fn tells_apart_the_ways_a_frame_is_wrong() {
        let code = |t: &str| ClientMessage::parse(t).unwrap_err().0;
        assert_eq!(code("{not json"), ErrorCode::MalformedJson);
        assert_eq!(code("[1,2]"), ErrorCode::MalformedJson);
        assert_eq!(code(r#"{"req":1}"#), ErrorCode::UnknownMessageType);
        assert_eq!(
            code(r#"{"type":"teleport","req":1}"#),
            ErrorCode::UnknownMessageType
        );
        assert_eq!(
            code(r#"{"type":"select","req":1}"#),
            ErrorCode::InvalidMessage
        );
        assert_eq!(
            code(r#"{"type":"select","req":-1,"item":"x"}"#),
            ErrorCode::InvalidMessage
        );
        // The request number is kept so the error can answer that request.
        assert_eq!(
            ClientMessage::parse(r#"{"type":"select","req":7}"#)
                .unwrap_err()
                .2,
            Some(7)
        );
    }

    #[test]
    fn server_errors_use_the_shared_shape() {
        let m = ServerMessage::Error {
            req: Some(3),
            id: None,
            error: ErrorCode::UnknownItem,
            message: "no".into(),
            retry_after_ms: None,
        };
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"], "unknown_item");
        assert_eq!(v["req"], 3);
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }
}
