//! The answer bot over the real customer protocol: answers, the offer of a human,
//! hand-off into the queue with the transcript, thresholds that follow the agents.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::TestServer;

use frontdesk_client::{
    AgentClient, ApiClient, ClientError, Connection, CustomerClient, CustomerEvent,
};
use frontdesk_domain::answers::Library;
use frontdesk_protocol::agent::PresenceChoice;
use frontdesk_protocol::{ClientMessage, ErrorCode, ServerMessage};

const WAIT: Duration = Duration::from_secs(10);

fn phone(i: usize) -> String {
    format!("+1201555{:04}", 2000 + i)
}

/// An agent holding one chat.
async fn agent(ts: &TestServer, admin: &ApiClient, name: &str) -> AgentClient {
    common::agent(ts, admin, name, 1).await
}

/// A server with the demo menu and the demo answer library in effect.
async fn server() -> TestServer {
    let ts = TestServer::start().await;
    load_demo_library(&ts).await;
    ts
}

async fn load_demo_library(ts: &TestServer) {
    let state = ts.server.state();
    let library = Library::parse_yaml(frontdesk_server::demo::ANSWERS.as_bytes()).unwrap();
    let rows: Vec<_> = library.iter().map(frontdesk_server::bot::row_of).collect();
    state.store.replace_answers(&rows, 1).await.unwrap();
    state.bot.reload().await.unwrap();
}

/// A customer who opened the bot ("ask" in the demo menu).
async fn asking(ts: &TestServer, i: usize) -> CustomerClient {
    let mut c = CustomerClient::start(&ts.url(), &phone(i)).await.unwrap();
    c.select("ask").await.unwrap();
    match c.next_event(WAIT).await.unwrap() {
        CustomerEvent::BotOpened { turns, offer, .. } => {
            assert!(turns.is_empty() && !offer);
        }
        other => panic!("expected bot_opened, got {other:?}"),
    }
    c
}

fn refused(e: ClientError) -> ErrorCode {
    match e {
        ClientError::Server { code, .. } => code,
        other => panic!("expected a refusal, got {other}"),
    }
}

#[tokio::test]
async fn a_good_question_gets_its_answer_and_no_offer() {
    let ts = server().await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "ann").await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    let mut c = asking(&ts, 1).await;

    let got = c.ask("When is my bill due?").await.unwrap();
    let answer = got.answer.expect("an answer");
    assert_eq!(answer.entry, "bill-due");
    assert!(answer.text.contains("15th"), "{}", answer.text);
    assert!(!got.offer, "a good answer is not offered a human");
    assert_eq!(got.seq, 1);

    c.helped(&got.id).await.unwrap();
    c.helped(&got.id).await.unwrap(); // said twice, counted once
    let stats = ts.server.state().store.answer_stats().await.unwrap();
    let bill = stats.iter().find(|s| s.answer_id == "bill-due").unwrap();
    assert_eq!((bill.given, bill.accepted, bill.handed_off), (1, 1, 0));
    let e = c.helped("never-asked").await.unwrap_err();
    assert_eq!(refused(e), ErrorCode::UnknownQuestion);
}

#[tokio::test]
async fn an_unrelated_question_is_offered_a_human_who_may_be_declined() {
    let ts = server().await;
    let mut c = asking(&ts, 1).await;

    let got = c.ask("Recommend a good pizza recipe").await.unwrap();
    assert!(got.offer, "a question the library does not cover: {got:?}");
    c.decline().await.unwrap();
    let e = c.decline().await.unwrap_err();
    assert_eq!(refused(e), ErrorCode::NoOffer, "nothing left to decline");

    // A question in a language the library has no entries for: no answer, offer.
    let got = c.ask("Где мой счёт за телефон?").await.unwrap();
    assert_eq!(got.answer, None);
    assert!(
        got.offer,
        "a new weak answer is offered again after a decline"
    );

    let turns = ts
        .server
        .state()
        .store
        .bot_turns(&c.consultation)
        .await
        .unwrap();
    assert_eq!(turns.len(), 2);
    assert!(turns[0].offered && turns[0].declined);
    assert_eq!(turns[1].degree, 0.0);
}

#[tokio::test]
async fn accepting_the_offer_queues_the_customer_with_the_transcript() {
    let ts = server().await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "ann").await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    let mut c = asking(&ts, 1).await;
    let good = c.ask("When is my bill due?").await.unwrap();
    assert!(!good.offer);
    let weak = c.ask("I was charged twice").await.unwrap();
    assert!(weak.offer, "a weak match with an idle agent: {weak:?}");

    c.human().await.unwrap();
    let service = a.wait_assigned(WAIT).await.unwrap();
    assert_eq!(service.consultation, c.consultation);
    loop {
        if let CustomerEvent::AgentJoined { .. } = c.next_event(WAIT).await.unwrap() {
            break;
        }
    }
    let e = c.human().await.unwrap_err();
    assert_eq!(
        refused(e),
        ErrorCode::AlreadyWaiting,
        "asking again while served queues nothing"
    );
    let questions: Vec<&str> = service.bot.iter().map(|t| t.question.as_str()).collect();
    assert_eq!(questions, ["When is my bill due?", "I was charged twice"]);
    assert_eq!(service.bot[0].entry.as_deref(), Some("bill-due"));
    assert!(service.bot[0].degree > service.bot[1].degree);
    assert!(service.bot[1].offered && !service.bot[0].offered);
    let mean = (service.bot[0].degree + service.bot[1].degree) / 2.0;
    assert!((service.bot_mean.unwrap() - mean).abs() < 1e-9);

    let stats = ts.server.state().store.answer_stats().await.unwrap();
    let weak_entry = weak.answer.unwrap().entry;
    let s = stats.iter().find(|s| s.answer_id == weak_entry).unwrap();
    assert_eq!(
        s.handed_off, 1,
        "the hand-off counts against the last answer"
    );
}

#[tokio::test]
async fn with_every_agent_busy_the_same_weak_match_is_not_offered() {
    let ts = server().await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "ann").await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    assert!(
        a.queue().handoff.is_some(),
        "the console shows the thresholds"
    );
    let (idle, pressure) = ts.server.state().desk.handoff();
    assert_eq!(pressure, 0.0, "one agent, idle");

    // One idle agent: the bar is high, a weak match is offered a human.
    let mut first = asking(&ts, 1).await;
    let got = first.ask("I was charged twice").await.unwrap();
    assert!(got.offer, "idle agents: {got:?}");

    // The agent busy with one customer and two more waiting.
    first.human().await.unwrap();
    a.wait_assigned(WAIT).await.unwrap();
    for i in 2..4 {
        let mut w = CustomerClient::start(&ts.url(), &phone(i)).await.unwrap();
        w.select("chat").await.unwrap();
        std::mem::forget(w); // keep them waiting for the rest of the test
    }
    let busy = loop {
        let h = ts.server.state().desk.handoff();
        if h.1 >= 1.0 {
            break h.0;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(busy.single < idle.single && busy.mean < idle.mean);

    let mut later = asking(&ts, 9).await;
    let got = later.ask("I was charged twice").await.unwrap();
    assert!(!got.offer, "all busy, queue long: the same match is served");
    assert_eq!(got.answer.unwrap().entry, "bill-dispute");

    let metrics = reqwest::get(format!("{}/metrics", ts.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(&format!(
            "frontdesk_bot_threshold{{kind=\"single\"}} {}",
            busy.single
        )),
        "{metrics}"
    );
    assert!(metrics.contains("frontdesk_bot_pressure 1"), "{metrics}");
}

#[tokio::test]
async fn chinese_questions_match_chinese_entries() {
    let ts = server().await;
    let mut c = asking(&ts, 1).await;
    let got = c.ask("手机丢了怎么办").await.unwrap();
    assert_eq!(got.answer.unwrap().entry, "zh-lost-phone");
    assert!(!got.offer);
    let got = c.ask("每月几号交话费").await.unwrap();
    assert_eq!(got.answer.unwrap().entry, "zh-bill-due");
}

#[tokio::test]
async fn a_resumed_customer_keeps_the_conversation_and_a_resent_question_is_answered_once() {
    let ts = server().await;
    let mut c = asking(&ts, 1).await;
    let first = c.ask_with_id("q-1", "Где мой счёт?").await.unwrap();
    assert!(first.offer);
    c.drop_connection();
    c.reconnect().await.unwrap();
    match c.next_event(WAIT).await.unwrap() {
        CustomerEvent::BotOpened { turns, offer, .. } => {
            assert_eq!(turns.len(), 1);
            assert_eq!(turns[0].question, "Где мой счёт?");
            assert!(offer, "the offer is still open");
        }
        other => panic!("expected bot_opened, got {other:?}"),
    }
    let again = c.ask_with_id("q-1", "Где мой счёт?").await.unwrap();
    assert!(again.duplicate);
    assert_eq!((again.seq, again.answer), (first.seq, first.answer));
    let turns = ts
        .server
        .state()
        .store
        .bot_turns(&c.consultation)
        .await
        .unwrap();
    assert_eq!(turns.len(), 1, "stored once");
}

#[tokio::test]
async fn bad_questions_get_clear_errors_and_the_session_goes_on() {
    let ts = server().await;
    let mut c = CustomerClient::start(&ts.url(), &phone(1)).await.unwrap();
    let e = c.ask("When is my bill due?").await.unwrap_err();
    assert_eq!(refused(e), ErrorCode::BotNotOpen);
    c.select("ask").await.unwrap();

    for empty in ["", "   ", "\u{0}\u{7}\n"] {
        let e = c.ask(empty).await.unwrap_err();
        assert_eq!(refused(e), ErrorCode::InvalidMessage, "{empty:?}");
    }
    let long = "bill ".repeat(1_000);
    let e = c.ask(&long).await.unwrap_err();
    assert_eq!(refused(e), ErrorCode::InvalidMessage, "5,000 characters");
    // Control characters separate words.
    let got = c.ask("when\u{1b}is my\u{0}bill\tdue?").await.unwrap();
    assert_eq!(got.answer.unwrap().entry, "bill-due");

    // 10 MB: not even read; the connection closes (1009), nothing is lost and
    // the consultation resumes with the conversation.
    let token = c.resume_token().to_owned();
    let mut raw = Connection::open(&ts.url()).await.unwrap();
    raw.send(&ClientMessage::resume(&token)).await.unwrap();
    assert!(matches!(
        raw.recv().await.unwrap(),
        ServerMessage::Welcome { .. }
    ));
    let huge = format!(
        r#"{{"type":"ask","id":"big","text":"{}"}}"#,
        "x".repeat(10 * 1024 * 1024)
    );
    // The server closes (1009) without reading it; the client may still be
    // writing when it does, and then sees the reset instead of the close frame.
    if raw.send_text(&huge).await.is_ok() {
        assert_eq!(raw.close_code().await, Some(1009));
    }
    let mut c = CustomerClient::resume(&ts.url(), &token).await.unwrap();
    let got = c.ask("When is my bill due?").await.unwrap();
    assert_eq!(got.answer.unwrap().entry, "bill-due");
    assert_eq!(
        got.seq, 2,
        "the earlier answer is kept, the giant one never stored"
    );
}

#[tokio::test]
async fn an_empty_library_offers_a_human_for_everything() {
    let ts = TestServer::start().await;
    let mut c = asking(&ts, 1).await;
    let got = c.ask("When is my bill due?").await.unwrap();
    assert_eq!(got.answer, None);
    assert!(got.offer);
}

#[tokio::test]
async fn a_customer_may_ask_for_a_human_without_an_offer() {
    let ts = server().await;
    let mut c = asking(&ts, 1).await;
    let got = c.ask("When is my bill due?").await.unwrap();
    assert!(!got.offer);
    c.human().await.unwrap();
    loop {
        if let CustomerEvent::Queued(q) = c.next_event(WAIT).await.unwrap() {
            assert_eq!(q.position, 1);
            break;
        }
    }
}

/// The library's info as an admin sees it (`GET /api/answers`).
async fn library_info(ts: &TestServer) -> serde_json::Value {
    let (status, body) = ts.admin().await.get_json("/api/answers").await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_missing_or_corrupt_model_is_reported_and_the_bot_answers_with_bm25() {
    let models = tempfile::tempdir().unwrap();
    let missing = models.path().join("no-such-model");
    let corrupt = models.path().join("corrupt");
    std::fs::create_dir(&corrupt).unwrap();
    std::fs::write(corrupt.join("config.json"), "{").unwrap();
    std::fs::write(corrupt.join("tokenizer.json"), "not a tokenizer").unwrap();
    std::fs::write(corrupt.join("model.safetensors"), b"\x00\x01junk").unwrap();
    for dir in [missing, corrupt] {
        let ts = TestServer::start_with(|c| c.bot.model_dir = Some(dir.clone())).await;
        load_demo_library(&ts).await;
        let info = library_info(&ts).await;
        assert_eq!(info["matching"], "bm25", "{info}");
        let problem = info["model_error"].as_str().expect("the problem is shown");
        assert!(
            problem.contains(&dir.display().to_string()),
            "the message names the path: {problem}"
        );
        let mut c = asking(&ts, 1).await;
        let got = c.ask("When is my bill due?").await.unwrap();
        assert_eq!(got.answer.unwrap().entry, "bill-due", "BM25 still answers");
    }
}

/// The real model, when `FRONTDESK_TEST_MODEL_DIR` names it (`.ci/run` fetches it and
/// sets `FRONTDESK_TEST_MODEL_REQUIRED`, so this cannot skip in CI).
fn test_model() -> Option<std::path::PathBuf> {
    match std::env::var_os("FRONTDESK_TEST_MODEL_DIR") {
        Some(dir) => Some(dir.into()),
        None => {
            assert!(
                std::env::var_os("FRONTDESK_TEST_MODEL_REQUIRED").is_none(),
                "FRONTDESK_TEST_MODEL_REQUIRED is set but FRONTDESK_TEST_MODEL_DIR is not"
            );
            eprintln!("skipped: FRONTDESK_TEST_MODEL_DIR is not set (semantic model tests)");
            None
        }
    }
}

#[tokio::test]
async fn with_the_model_the_bot_matches_paraphrases_that_share_no_words() {
    let Some(model) = test_model() else {
        return;
    };
    let ts = TestServer::start_with(|c| c.bot.model_dir = Some(model)).await;
    load_demo_library(&ts).await;
    let info = library_info(&ts).await;
    assert_eq!(info["matching"], "bm25+semantic", "{info}");
    assert!(info.get("model_error").is_none(), "{info}");
    let mut c = asking(&ts, 1).await;
    let got = c.ask("When is my bill due?").await.unwrap();
    assert_eq!(got.answer.unwrap().entry, "bill-due");
    assert!(!got.offer);
    let got = c.ask("Somebody pinched my handset").await.unwrap();
    assert_eq!(got.answer.as_ref().unwrap().entry, "lost-phone", "{got:?}");
    let got = c.ask("手机被偷了").await.unwrap();
    assert_eq!(got.answer.unwrap().entry, "zh-lost-phone");
}
