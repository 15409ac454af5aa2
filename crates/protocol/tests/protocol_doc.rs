//! PROTOCOL.md documents every message type and error code.

use frontdesk_protocol::agent::AgentClientMessage;
use frontdesk_protocol::{ClientMessage, ErrorCode};

const DOC: &str = include_str!("../../../PROTOCOL.md");

#[test]
fn every_client_message_type_is_documented() {
    for t in ClientMessage::TYPES {
        assert!(
            DOC.contains(&format!("| `{t}` |")),
            "PROTOCOL.md has no row for client message `{t}`"
        );
    }
}

#[test]
fn every_agent_message_type_is_documented() {
    for t in AgentClientMessage::TYPES {
        assert!(
            DOC.contains(&format!("| `{t}` |")),
            "PROTOCOL.md has no row for agent message `{t}`"
        );
    }
}

#[test]
fn every_server_message_type_is_documented() {
    for t in [
        "welcome",
        "screen",
        "ack",
        "ended",
        "queued",
        "agent_joined",
        "chat",
        "said",
        "agent_status",
        "service_ended",
        "bot_opened",
        "bot_answer",
        "offer_declined",
        "noted",
        "fell_back",
        "pong",
        "error",
        // agent protocol
        "state",
        "queue",
        "assigned",
        "customer_status",
        "card_sent",
    ] {
        assert!(
            DOC.contains(&format!("| `{t}` |")),
            "PROTOCOL.md has no row for server message `{t}`"
        );
    }
}

#[test]
fn every_error_code_is_documented() {
    for code in ErrorCode::ALL {
        assert!(
            DOC.contains(&format!("`{}`", code.as_str())),
            "PROTOCOL.md does not mention `{code}`"
        );
    }
}
