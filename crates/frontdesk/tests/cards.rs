//! After the service (seed 004): the agent's card sent by SMS, the agent's page at
//! the link, ratings, profiles, and coming back to the same agent. Over the real
//! protocols, HTTP and a real local SMS gateway.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use common::TestServer;
use frontdesk_client::{AgentClient, ApiClient, ClientError, CustomerClient, CustomerEvent};
use frontdesk_protocol::agent::{AgentServerMessage, PresenceChoice, ServiceView};
use frontdesk_protocol::{ErrorCode, ServerMessage};
use frontdesk_server::config::Config;
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(10);

fn phone(i: usize) -> String {
    format!("+1201555{:04}", 3000 + i)
}

/// Waits for `agent_joined`.
async fn joined(c: &mut CustomerClient) -> String {
    loop {
        if let CustomerEvent::AgentJoined { service, .. } = c.next_event(WAIT).await.unwrap() {
            return service;
        }
    }
}

/// Customer `i` chats with idle agent `a` (who has no other customer).
async fn chat(ts: &TestServer, a: &mut AgentClient, i: usize) -> (CustomerClient, ServiceView) {
    let mut c = CustomerClient::start(&ts.url(), &phone(i)).await.unwrap();
    c.select("chat").await.unwrap();
    let s = a.wait_assigned(WAIT).await.unwrap();
    joined(&mut c).await;
    (c, s)
}

/// The SMS log for `phone`, newest first.
async fn sms_log(admin: &ApiClient, phone: &str) -> Vec<Value> {
    let (status, body) = admin
        .get_json(&format!("/api/sms?phone={}", phone.replace('+', "%2B")))
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    body.as_array().unwrap().clone()
}

/// Polls the log until `phone` has `n` messages whose statuses are all final (or
/// `pending` when `settled` is false).
async fn wait_for_sms(admin: &ApiClient, phone: &str, n: usize, settled: bool) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let log = sms_log(admin, phone).await;
        let done = log.len() >= n && (!settled || log.iter().all(|m| m["status"] != "pending"));
        if done {
            assert_eq!(log.len(), n, "{log:#?}");
            return log;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no {n} settled SMS for {phone}: {log:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn code_of(sms: &Value) -> String {
    sms["link"]
        .as_str()
        .unwrap()
        .strip_prefix("/a/")
        .unwrap()
        .to_owned()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn get(ts: &TestServer, path: &str) -> (u16, String) {
    let r = http()
        .get(format!("{}{path}", ts.url()))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn rate(
    ts: &TestServer,
    code: &str,
    service: &str,
    stars: &str,
    comment: &str,
) -> (u16, String) {
    let r = http()
        .post(format!("{}/a/{code}/rating", ts.url()))
        .form(&[("service", service), ("stars", stars), ("comment", comment)])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let to = r
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = r.text().await.unwrap();
    (status, if status == 303 { to } else { body })
}

#[tokio::test]
async fn ending_a_chat_sends_exactly_one_card_with_the_agents_link() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();

    let (_c, s) = chat(&ts, &mut ann, 1).await;
    assert_eq!(ann.end_service(&s.id).await.unwrap(), "agent");
    let log = wait_for_sms(&admin, &phone(1), 1, true).await;
    let m = &log[0];
    assert_eq!(m["status"], "sent", "{m}");
    assert_eq!(m["gateway"], "outbox");
    assert_eq!(m["provider_status"], "outbox");
    assert_eq!(m["service"], s.id.as_str());
    assert_eq!(m["agent"], ann.info().id);
    assert_eq!(m["trigger"], format!("service:{}", s.id));
    let code = code_of(m);
    assert_eq!(code.len(), 16, "96 bits in URL-safe base64");
    let body = m["body"].as_str().unwrap();
    assert!(body.contains(&format!("{}/a/{code}", ts.url())), "{body}");
    assert!(body.contains("Agent ann"), "{body}");

    // The same customer served by the same agent again: a second card, the same link.
    let (mut c, s2) = chat(&ts, &mut ann, 1).await;
    // This time the customer ends the consultation.
    c.end().await.unwrap();
    let log = wait_for_sms(&admin, &phone(1), 2, true).await;
    assert_eq!(log[0]["service"], s2.id.as_str());
    assert_eq!(code_of(&log[0]), code, "same pair, same link");

    // Another customer: another link; the log is searched by phone.
    let (_c3, s3) = chat(&ts, &mut ann, 2).await;
    ann.end_service(&s3.id).await.unwrap();
    let other = wait_for_sms(&admin, &phone(2), 1, true).await;
    assert_ne!(code_of(&other[0]), code);
    assert_eq!(sms_log(&admin, &phone(1)).await.len(), 2);
    let (status, all) = admin.get_json("/api/sms").await.unwrap();
    assert_eq!((status, all.as_array().unwrap().len()), (200, 3));
    // A bad phone is refused, and the log is for admins only.
    let (status, _) = admin.get_json("/api/sms?phone=12").await.unwrap();
    assert_eq!(status, 422);
    let mut as_agent = ApiClient::new(&ts.url()).unwrap();
    as_agent.login("ann", common::AGENT_PASSWORD).await.unwrap();
    assert_eq!(as_agent.get_json("/api/sms").await.unwrap().0, 403);
    let (_, metrics) = admin.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains("frontdesk_cards_issued_total{kind=\"end\"} 3"),
        "{metrics}"
    );

    // The CLI reads the same log from the database, by phone.
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_frontdesk"))
            .args(args)
            .args(["--data-dir", ts.dir.path().to_str().unwrap()])
            .env_remove("FRONTDESK_CONFIG")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listed: Value = serde_json::from_str(&cli(&[
        "sms",
        "outbox",
        "--phone",
        "(201) 555-3001",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        listed,
        sms_log(&admin, &phone(1))
            .await
            .into_iter()
            .collect::<Value>()
    );
    let text = cli(&["sms", "outbox"]);
    assert_eq!(
        text.matches("sent (outbox, 1 attempt)").count(),
        3,
        "{text}"
    );
    assert!(text.contains(body), "{text}");
}

#[tokio::test]
async fn the_send_my_card_button_sends_once_per_service() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    let mut bob = common::agent(&ts, &admin, "bob", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (_c, s) = chat(&ts, &mut ann, 1).await;

    let first = ann.send_card(&s.id).await.unwrap();
    assert!(!first.duplicate);
    let again = ann.send_card(&s.id).await.unwrap();
    assert!(again.duplicate, "pressed twice: one card");
    assert_eq!(again.sms, first.sms);
    // Not bob's customer.
    match bob.send_card(&s.id).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotYourCustomer),
        other => panic!("expected not_your_customer, got {other:?}"),
    }
    // The end of the service does not send a second card.
    ann.end_service(&s.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let log = wait_for_sms(&admin, &phone(1), 1, true).await;
    assert_eq!(log[0]["id"], first.sms);
    // Over: the button has nothing to act on.
    match ann.send_card(&s.id).await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NotYourCustomer),
        other => panic!("expected not_your_customer, got {other:?}"),
    }
    let (_, metrics) = admin.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains("frontdesk_cards_issued_total{kind=\"button\"} 1"),
        "{metrics}"
    );
}

/// Ends a chat of customer `i` with `a` and returns the card's code.
async fn card(
    ts: &TestServer,
    admin: &ApiClient,
    a: &mut AgentClient,
    i: usize,
) -> (String, String) {
    let n = sms_log(admin, &phone(i)).await.len() + 1;
    let (_c, s) = chat(ts, a, i).await;
    a.end_service(&s.id).await.unwrap();
    let log = wait_for_sms(admin, &phone(i), n, false).await;
    (code_of(&log[0]), s.id)
}

#[tokio::test]
async fn the_agents_page_shows_the_agent_and_takes_one_rating_per_service() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let mut ann_api = ApiClient::new(&ts.url()).unwrap();
    ann_api.login("ann", common::AGENT_PASSWORD).await.unwrap();
    let ann_id = ann.info().id;
    let (status, _) = ann_api
        .put_raw(
            &format!("/api/agents/{ann_id}/profile"),
            "application/json",
            r#"{"slogan": "Here to <help> & more", "contact_phone": "+1 201 555 0100"}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 200);
    let (code, service) = card(&ts, &admin, &mut ann, 1).await;
    let (_, other_service) = card(&ts, &admin, &mut ann, 2).await;

    let (status, page) = get(&ts, &format!("/a/{code}")).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<h1 id=\"agent-name\">Agent ann</h1>"),
        "{page}"
    );
    assert!(page.contains(&format!("#{ann_id}")));
    assert!(
        page.contains("Here to &lt;help&gt; &amp; more"),
        "escaped: {page}"
    );
    assert!(page.contains("href=\"tel:+12015550100\""));
    assert!(page.contains("<b id=\"served\">2</b>"), "{page}");
    assert!(page.contains("no ratings yet"));
    assert!(
        page.contains(&format!("value=\"{service}\"")),
        "the form rates their service"
    );
    assert!(
        !page.contains(&other_service),
        "another customer's service is not shown"
    );
    assert!(page.contains(&format!("href=\"/?link={code}\"")));

    // Bad ratings change nothing.
    assert_eq!(rate(&ts, &code, &service, "9", "").await.0, 422);
    assert_eq!(rate(&ts, &code, &service, "", "").await.0, 422);
    let (status, body) = rate(&ts, &code, &other_service, "1", "").await;
    assert_eq!(status, 404, "not their service: {body}");
    assert!(body.contains("not one of yours"));
    // A good one, once.
    let (status, to) = rate(&ts, &code, &service, "4", "Quick <b>and</b> kind").await;
    assert_eq!(
        (status, to.as_str()),
        (303, format!("/a/{code}?rated=1").as_str())
    );
    let (status, _) = rate(&ts, &code, &service, "5", "again").await;
    assert_eq!(status, 409, "a service is rated once");
    let (_, page) = get(&ts, &format!("/a/{code}?rated=1")).await;
    assert!(page.contains("Thank you for your rating."));
    assert!(page.contains("<b id=\"score\">4.0</b>"), "{page}");
    assert!(page.contains("1 rating<"), "{page}");
    assert!(page.contains("Quick &lt;b&gt;and&lt;/b&gt; kind"), "{page}");
    let (_, profile) = admin
        .get_json(&format!("/api/agents/{ann_id}/profile"))
        .await
        .unwrap();
    assert_eq!(profile["satisfaction"], 4.0);
    assert_eq!(
        (profile["ratings"].as_u64(), profile["served"].as_u64()),
        (Some(1), Some(2))
    );

    // Made-up, tampered and malformed codes: the same 404 page.
    let (s1, made_up) = get(&ts, "/a/AAAAAAAAAAAAAAAA").await;
    let mut tampered: Vec<char> = code.chars().collect();
    tampered[3] = if tampered[3] == 'x' { 'y' } else { 'x' };
    let tampered: String = tampered.into_iter().collect();
    let (s2, tampered_page) = get(&ts, &format!("/a/{tampered}")).await;
    let (s3, malformed) = get(&ts, "/a/short").await;
    assert_eq!((s1, s2, s3), (404, 404, 404));
    assert_eq!(made_up, tampered_page);
    assert_eq!(made_up, malformed);
    assert_eq!(rate(&ts, &tampered, &service, "5", "").await.0, 404);
    assert_eq!(get(&ts, &format!("/a/{tampered}/photo")).await.0, 404);
}

#[tokio::test]
async fn photos_are_checked_and_only_the_agent_or_an_admin_changes_them() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    let _bob = common::agent(&ts, &admin, "bob", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (code, _) = card(&ts, &admin, &mut ann, 1).await;
    let ann_id = ann.info().id;
    let token = |name: &'static str| {
        let url = ts.url();
        async move {
            let mut api = ApiClient::new(&url).unwrap();
            api.login(name, common::AGENT_PASSWORD).await.unwrap().token
        }
    };
    let (ann_token, bob_token) = (token("ann").await, token("bob").await);
    let put = |token: String, body: Vec<u8>| {
        let url = format!("{}/api/agents/{ann_id}/photo", ts.url());
        async move {
            http()
                .put(url)
                .bearer_auth(token)
                .header("content-type", "image/png")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };

    // The default: initials drawn in SVG.
    let r = http()
        .get(format!("{}/a/{code}/photo", ts.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    assert!(
        r.text().await.unwrap().contains(">AA<"),
        "Agent ann's initials"
    );

    let png: Vec<u8> = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR fake but signed".to_vec();
    assert_eq!(put(bob_token.clone(), png.clone()).await, 403, "not bob's");
    assert_eq!(
        put(ann_token.clone(), b"<svg onload=alert(1)>".to_vec()).await,
        415
    );
    let mut big = png.clone();
    big.resize(512 * 1024 + 1, 0);
    assert_eq!(put(ann_token.clone(), big).await, 413);
    assert_eq!(put(ann_token.clone(), png.clone()).await, 200);
    let r = http()
        .get(format!("{}/a/{code}/photo", ts.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), png.as_slice());
    // Profiles: bad input is refused whole.
    let mut bob_api = ApiClient::new(&ts.url()).unwrap();
    bob_api.login("bob", common::AGENT_PASSWORD).await.unwrap();
    let path = format!("/api/agents/{ann_id}/profile");
    let (status, _) = bob_api
        .put_raw(&path, "application/json", r#"{"slogan": "hi"}"#)
        .await
        .unwrap();
    assert_eq!(status, 403);
    let (status, body) = admin
        .put_raw(
            &path,
            "application/json",
            &format!(r#"{{"slogan": "{}"}}"#, "x".repeat(141)),
        )
        .await
        .unwrap();
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin
        .put_raw(
            &path,
            "application/json",
            r#"{"slogan": "ok", "contact_phone": "12"}"#,
        )
        .await
        .unwrap();
    assert_eq!(status, 422, "{body}");
    let (status, body) = admin
        .put_raw(
            &path,
            "application/json",
            r#"{"slogan": "Set by the admin"}"#,
        )
        .await
        .unwrap();
    assert_eq!(
        (status, body["slogan"].as_str()),
        (200, Some("Set by the admin"))
    );
    assert_eq!(body["has_photo"], true);
    assert_eq!(
        admin.get_json("/api/agents/999/profile").await.unwrap().0,
        404
    );
}

/// A local SMS gateway: records every request and answers from a script (the
/// last answer repeats); an answer of 0 means "never answer in time".
#[derive(Clone, Default)]
struct Gateway {
    seen: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
    script: Arc<Mutex<Vec<u16>>>,
}

impl Gateway {
    async fn start(script: Vec<u16>) -> (Self, String) {
        let g = Gateway {
            seen: Arc::default(),
            script: Arc::new(Mutex::new(script)),
        };
        let state = g.clone();
        let app = axum::Router::new().route(
            "/send",
            axum::routing::post(|headers: HeaderMap, body: String| async move {
                let code = {
                    let mut script = state.script.lock().unwrap();
                    let code = script[0];
                    if script.len() > 1 {
                        script.remove(0);
                    }
                    code
                };
                state
                    .seen
                    .lock()
                    .unwrap()
                    .push((headers, serde_json::from_str(&body).unwrap()));
                if code == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                }
                let status = StatusCode::from_u16(code.max(200)).unwrap();
                (status, r#"{"id": "gw-1", "status": "queued"}"#)
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/send", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (g, url)
    }

    fn requests(&self) -> Vec<(HeaderMap, Value)> {
        self.seen.lock().unwrap().clone()
    }
}

fn gateway_config(url: String, max_attempts: u32) -> impl FnOnce(&mut Config) {
    move |c: &mut Config| {
        c.sms.gateway = frontdesk_sms::GatewayKind::Http;
        c.sms.http.url = Some(url);
        c.sms.http.auth_header = Some("Authorization: Bearer gw-secret".into());
        c.sms.timeout_secs = 1;
        c.sms.backoff_first_secs = 1;
        c.sms.backoff_max_secs = 1;
        c.sms.max_attempts = max_attempts;
    }
}

#[tokio::test]
async fn a_failing_then_recovering_gateway_gets_the_message_once_it_recovers() {
    let (gw, url) = Gateway::start(vec![500, 503, 200]).await;
    let ts = TestServer::start_with(gateway_config(url, 5)).await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (_c, s) = chat(&ts, &mut ann, 1).await;
    ann.end_service(&s.id).await.unwrap();

    let log = wait_for_sms(&admin, &phone(1), 1, true).await;
    let m = &log[0];
    assert_eq!(m["status"], "sent", "{m}");
    assert_eq!(
        (m["attempts"].as_u64(), m["gateway"].as_str()),
        (Some(3), Some("http"))
    );
    assert_eq!(m["provider_id"], "gw-1");
    assert!(m["last_error"].as_str().unwrap().contains("503"), "{m}");
    let seen = gw.requests();
    assert_eq!(seen.len(), 3, "two failures, one success, nothing after");
    for (headers, body) in &seen {
        assert_eq!(headers["authorization"], "Bearer gw-secret");
        assert_eq!(
            headers["idempotency-key"],
            format!("frontdesk-sms-{}", m["id"])
        );
        assert_eq!(body["to"], phone(1).as_str());
        assert_eq!(body["body"], m["body"]);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(gw.requests().len(), 3, "never sent twice");
    let (_, metrics) = admin.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains("frontdesk_sms_attempts_total{kind=\"retry\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_gateway_that_times_out_or_refuses_is_recorded_as_failed() {
    // Never answers in time: retried, then failed with the reason.
    let (gw, url) = Gateway::start(vec![0]).await;
    let ts = TestServer::start_with(gateway_config(url, 2)).await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (_c, s) = chat(&ts, &mut ann, 1).await;
    ann.end_service(&s.id).await.unwrap();
    let log = wait_for_sms(&admin, &phone(1), 1, true).await;
    assert_eq!(log[0]["status"], "failed", "{}", log[0]);
    assert_eq!(log[0]["attempts"], 2);
    let error = log[0]["last_error"].as_str().unwrap().to_ascii_lowercase();
    assert!(error.contains("time"), "{error}");
    assert_eq!(gw.requests().len(), 2);

    // Refuses for good (400): one attempt, failed at once.
    let (gw, url) = Gateway::start(vec![400]).await;
    let ts = TestServer::start_with(gateway_config(url, 5)).await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (_c, s) = chat(&ts, &mut ann, 1).await;
    ann.end_service(&s.id).await.unwrap();
    let log = wait_for_sms(&admin, &phone(1), 1, true).await;
    assert_eq!(
        (log[0]["status"].as_str(), log[0]["attempts"].as_u64()),
        (Some("failed"), Some(1))
    );
    assert!(log[0]["last_error"].as_str().unwrap().contains("400"));
    assert_eq!(gw.requests().len(), 1);
}

/// The next `queued` (skipping other events).
async fn next_queued(c: &mut CustomerClient) -> frontdesk_client::QueueStatus {
    loop {
        if let CustomerEvent::Queued(q) = c.next_event(WAIT).await.unwrap() {
            return q;
        }
    }
}

/// A server where customers wait `wait_secs` for their agent; agents ann (idle)
/// and bob (away); customer 1 was served by ann and holds her link's code.
struct Back {
    ts: TestServer,
    admin: ApiClient,
    ann: AgentClient,
    bob: AgentClient,
    code: String,
}

async fn came_back(wait_secs: u32) -> Back {
    let ts = TestServer::start_with(|c| c.cards.reach_wait_secs = wait_secs).await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    let bob = common::agent(&ts, &admin, "bob", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (code, _) = card(&ts, &admin, &mut ann, 1).await;
    Back {
        ts,
        admin,
        ann,
        bob,
        code,
    }
}

#[tokio::test]
async fn a_customer_from_the_link_reaches_that_agent_ahead_of_the_queue() {
    let Back {
        ts,
        admin,
        mut ann,
        mut bob,
        code,
    } = came_back(60).await;

    // Ann is busy with customer 2; customer 3 waits in the general queue.
    let (_c2, s2) = chat(&ts, &mut ann, 2).await;
    let mut c3 = CustomerClient::start(&ts.url(), &phone(3)).await.unwrap();
    c3.select("chat").await.unwrap();
    assert!(next_queued(&mut c3).await.waiting_for.is_none());

    // Customer 1 comes back through the link: no phone typed, the link's phone.
    let mut c1 = CustomerClient::through_link(&ts.url(), &code)
        .await
        .unwrap();
    c1.reach_agent().await.unwrap();
    let q = next_queued(&mut c1).await;
    let waiting_for = q.waiting_for.expect("waiting for ann");
    assert_eq!(
        (waiting_for.id, waiting_for.name.as_str()),
        (ann.info().id, "Agent ann")
    );
    let record = admin.service_record(&c1.consultation).await.unwrap();
    assert_eq!(record.phone, phone(1), "the link stands for the phone");
    // Bob comes free: he takes the general queue's customer, not ann's.
    bob.presence(PresenceChoice::Idle).await.unwrap();
    let got = bob.wait_assigned(WAIT).await.unwrap();
    assert_eq!(got.consultation, c3.consultation);
    // Ann ends her chat: customer 1 is hers at once.
    ann.end_service(&s2.id).await.unwrap();
    let got = ann.wait_assigned(WAIT).await.unwrap();
    assert_eq!(got.consultation, c1.consultation);
    joined(&mut c1).await;

    // Bad input: a link that is not one, and reach_agent without a link.
    match CustomerClient::through_link(&ts.url(), "AAAAAAAAAAAAAAAA").await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::UnknownLink),
        other => panic!("expected unknown_link, got {:?}", other.map(|_| ())),
    }
    let mut plain = CustomerClient::start(&ts.url(), &phone(4)).await.unwrap();
    match plain.reach_agent().await {
        Err(ClientError::Server { code, .. }) => assert_eq!(code, ErrorCode::NoLink),
        other => panic!("expected no_link, got {other:?}"),
    }
}

#[tokio::test]
async fn a_customer_waiting_for_a_busy_agent_falls_back_to_the_queue_after_the_wait() {
    let Back {
        ts,
        admin: _admin,
        mut ann,
        mut bob,
        code,
    } = came_back(1).await;
    let (_c2, _s2) = chat(&ts, &mut ann, 2).await;
    bob.presence(PresenceChoice::Idle).await.unwrap();

    let mut c1 = CustomerClient::through_link(&ts.url(), &code)
        .await
        .unwrap();
    c1.reach_agent().await.unwrap();
    assert!(next_queued(&mut c1).await.waiting_for.is_some());
    // Bob is idle, yet does not take them while they wait for ann.
    assert!(bob.wait_assigned(Duration::from_millis(500)).await.is_err());
    // After the wait: told, and bob takes them.
    let fell_back = loop {
        match c1.next_event(WAIT).await.unwrap() {
            CustomerEvent::FellBack { agent } => break agent,
            CustomerEvent::Queued(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(fell_back.name, "Agent ann");
    let got = bob.wait_assigned(WAIT).await.unwrap();
    assert_eq!(got.consultation, c1.consultation);
    joined(&mut c1).await;
}

#[tokio::test]
async fn a_card_owed_when_the_server_stopped_is_sent_after_the_restart() {
    let ts = TestServer::start_with(|c| c.cards.send_on_end = false).await;
    let admin = ts.admin().await;
    let mut ann = common::agent(&ts, &admin, "ann", 1).await;
    ann.presence(PresenceChoice::Idle).await.unwrap();
    let (_c, s) = chat(&ts, &mut ann, 1).await;
    ann.end_service(&s.id).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        sms_log(&admin, &phone(1)).await.is_empty(),
        "cards were off"
    );
    drop(ann);
    // As after a crash between the end of the service and its card.
    let ts = ts.restart_with(|c| c.cards.send_on_end = true).await;
    let admin = ts.admin().await;
    let log = wait_for_sms(&admin, &phone(1), 1, true).await;
    assert_eq!(log[0]["service"], s.id.as_str());
    // And only once, however often the server restarts.
    let ts = ts.restart().await;
    let admin = ts.admin().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sms_log(&admin, &phone(1)).await.len(), 1);
    let _ = ServerMessage::OfferDeclined {};
    let _ = AgentServerMessage::Pong { nonce: None };
}

#[tokio::test]
async fn a_customer_who_asks_for_their_agent_again_waits_the_full_time_again() {
    let Back {
        ts,
        admin: _admin,
        mut ann,
        bob: _bob,
        code,
    } = came_back(2).await;
    let (_c2, _s2) = chat(&ts, &mut ann, 2).await;

    let mut c1 = CustomerClient::through_link(&ts.url(), &code)
        .await
        .unwrap();
    c1.reach_agent().await.unwrap();
    assert!(next_queued(&mut c1).await.waiting_for.is_some());
    tokio::time::sleep(Duration::from_secs(1)).await;
    c1.cancel().await.unwrap();
    c1.reach_agent().await.unwrap();
    // The first wait's timer fires a second later: it must not end the second wait.
    let until = tokio::time::Instant::now() + Duration::from_millis(1600);
    while let Ok(event) = c1.next_event(until - tokio::time::Instant::now()).await {
        assert!(
            !matches!(event, CustomerEvent::FellBack { .. }),
            "the first wait's timer ended the second wait"
        );
    }
    // The second wait ends on its own time.
    loop {
        if let CustomerEvent::FellBack { .. } = c1.next_event(WAIT).await.unwrap() {
            break;
        }
    }
}
