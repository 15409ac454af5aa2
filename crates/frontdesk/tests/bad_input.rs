//! Bad input gets a clear error with a code, the connection stays up where that
//! makes sense, and nothing already recorded is lost.

mod common;

use std::time::Duration;

use common::TestServer;
use frontdesk_client::{ApiClient, Connection, CustomerClient};
use frontdesk_protocol::{ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// A connection with a started consultation, and the consultation id.
async fn started(ts: &TestServer) -> Result<(Connection, String)> {
    let s = common::started(ts).await?;
    Ok((s.conn, s.consultation))
}

/// Reads until an error arrives (skipping screens and acks) and returns its code and req.
async fn next_error(conn: &mut Connection) -> Result<(ErrorCode, Option<u64>)> {
    loop {
        if let ServerMessage::Error { error, req, .. } =
            conn.recv_within(Duration::from_secs(5)).await?
        {
            return Ok((error, req));
        }
    }
}

/// Selects `item` as request `req` and waits for its ack: proves the connection works.
async fn select_ok(conn: &mut Connection, req: u64, item: &str) -> Result {
    conn.send(&ClientMessage::Select {
        req,
        item: item.into(),
    })
    .await?;
    loop {
        match conn.recv_within(Duration::from_secs(5)).await? {
            ServerMessage::Ack { req: r } if r == req => return Ok(()),
            ServerMessage::Error { error, message, .. } => {
                return Err(format!("{error}: {message}").into());
            }
            _ => {}
        }
    }
}

#[tokio::test]
async fn malformed_frames_get_a_code_and_the_connection_stays_up() -> Result {
    let ts = TestServer::start().await;
    let (mut conn, id) = started(&ts).await?;
    select_ok(&mut conn, 1, "billing").await?;

    let cases: [(&str, ErrorCode, Option<u64>); 6] = [
        ("{this is not json", ErrorCode::MalformedJson, None),
        ("[1, 2, 3]", ErrorCode::MalformedJson, None),
        (r#"{"req": 2}"#, ErrorCode::UnknownMessageType, Some(2)),
        (
            r#"{"type": "teleport", "req": 2}"#,
            ErrorCode::UnknownMessageType,
            Some(2),
        ),
        (
            r#"{"type": "select", "req": 2}"#,
            ErrorCode::InvalidMessage,
            Some(2),
        ),
        (
            r#"{"type": "select", "req": "two", "item": "x"}"#,
            ErrorCode::InvalidMessage,
            None,
        ),
    ];
    for (text, code, req) in cases {
        conn.send_text(text).await?;
        assert_eq!(next_error(&mut conn).await?, (code, req), "for {text}");
    }
    conn.send_binary(vec![1, 2, 3]).await?;
    assert_eq!(
        next_error(&mut conn).await?.0,
        ErrorCode::BinaryNotSupported
    );

    // Still up, and what was recorded before is intact.
    select_ok(&mut conn, 3, "bill-due").await?;
    let record = ts.admin().await.service_record(&id).await?;
    let got: Vec<_> = record.items.iter().map(|i| i.item.as_str()).collect();
    assert_eq!(got, ["billing", "bill-due"]);
    Ok(())
}

#[tokio::test]
async fn unknown_and_stale_items_are_refused_without_recording() -> Result {
    let ts = TestServer::start().await;
    let (mut conn, id) = started(&ts).await?;
    conn.send(&ClientMessage::Select {
        req: 1,
        item: "no-such-item".into(),
    })
    .await?;
    assert_eq!(
        next_error(&mut conn).await?,
        (ErrorCode::UnknownItem, Some(1))
    );
    // `bill-due` exists, but under Billing: choosing it from the root is a stale screen.
    conn.send(&ClientMessage::Select {
        req: 2,
        item: "bill-due".into(),
    })
    .await?;
    assert_eq!(
        next_error(&mut conn).await?,
        (ErrorCode::ItemNotOnScreen, Some(2))
    );
    select_ok(&mut conn, 3, "billing").await?;
    let record = ts.admin().await.service_record(&id).await?;
    assert_eq!(record.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn requests_before_hello_and_second_hellos_are_refused() -> Result {
    let ts = TestServer::start().await;
    let mut conn = Connection::open(&ts.url()).await?;
    conn.send(&ClientMessage::Select {
        req: 1,
        item: "billing".into(),
    })
    .await?;
    assert_eq!(
        next_error(&mut conn).await?,
        (ErrorCode::NotStarted, Some(1))
    );
    conn.send(&ClientMessage::Hello {
        protocol: PROTOCOL_VERSION,
        phone: None,
        resume: None,
        link: None,
    })
    .await?;
    assert_eq!(next_error(&mut conn).await?.0, ErrorCode::InvalidMessage);
    conn.send(&ClientMessage::start("+12015550123")).await?;
    assert!(matches!(conn.recv().await?, ServerMessage::Welcome { .. }));
    conn.send(&ClientMessage::start("+12015550123")).await?;
    assert_eq!(next_error(&mut conn).await?.0, ErrorCode::AlreadyStarted);
    select_ok(&mut conn, 1, "billing").await
}

#[tokio::test]
async fn bad_phone_numbers_are_refused_and_may_be_corrected() -> Result {
    let ts = TestServer::start().await;
    for bad in [
        "",
        "hello",
        "12",
        "+1 000",
        "+999 1234567",
        &"9".repeat(500),
    ] {
        let e = CustomerClient::start(&ts.url(), bad).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::InvalidPhone), "{bad:?}: {e}");
    }
    // The same connection can try again with a good number.
    let mut conn = Connection::open(&ts.url()).await?;
    conn.send(&ClientMessage::start("555")).await?;
    assert_eq!(next_error(&mut conn).await?.0, ErrorCode::InvalidPhone);
    conn.send(&ClientMessage::start("+44 7911 123456")).await?;
    assert!(matches!(conn.recv().await?, ServerMessage::Welcome { .. }));
    Ok(())
}

#[tokio::test]
async fn bad_resume_tokens_and_other_protocol_versions_are_refused() -> Result {
    let ts = TestServer::start().await;
    for token in ["fdc_made-up", "something-else", ""] {
        let e = CustomerClient::resume(&ts.url(), token).await.unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::UnknownResumeToken), "{token:?}");
    }
    let mut conn = Connection::open(&ts.url()).await?;
    conn.send(&ClientMessage::Hello {
        protocol: 99,
        phone: Some("+12015550123".into()),
        resume: None,
        link: None,
    })
    .await?;
    assert_eq!(
        next_error(&mut conn).await?.0,
        ErrorCode::UnsupportedProtocol
    );
    assert_eq!(conn.close_code().await, Some(1002));
    Ok(())
}

#[tokio::test]
async fn an_ended_consultation_accepts_nothing_more() -> Result {
    let ts = TestServer::start().await;
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    c.select("billing").await?;
    let token = c.resume_token().to_owned();
    c.end().await?;
    let e = CustomerClient::resume(&ts.url(), &token).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ConsultationEnded));
    Ok(())
}

#[tokio::test]
async fn oversized_messages_are_refused_and_giant_frames_close_the_connection() -> Result {
    let ts = TestServer::start().await;
    let (mut conn, id) = started(&ts).await?;
    select_ok(&mut conn, 1, "billing").await?;
    // Over max_message_bytes (8 KiB) but under max_frame_bytes: an error, still connected.
    let big = format!(
        r#"{{"type":"select","req":2,"item":"{}"}}"#,
        "x".repeat(10_000)
    );
    conn.send_text(&big).await?;
    assert_eq!(next_error(&mut conn).await?.0, ErrorCode::MessageTooLarge);
    select_ok(&mut conn, 3, "bill-due").await?;
    // Over max_frame_bytes (64 KiB): not read at all; the connection closes with 1009.
    let giant = format!(
        r#"{{"type":"select","req":4,"item":"{}"}}"#,
        "x".repeat(100_000)
    );
    conn.send_text(&giant).await?;
    assert_eq!(conn.close_code().await, Some(1009));
    // Nothing recorded was lost, and the consultation resumes.
    let record = ts.admin().await.service_record(&id).await?;
    assert_eq!(record.items.len(), 2);
    Ok(())
}

#[tokio::test]
async fn a_flood_is_rate_limited_and_the_connection_survives() -> Result {
    let ts = TestServer::start_with(|c| {
        c.limits.messages_per_sec = 5;
        c.limits.burst = 10;
    })
    .await;
    let (mut conn, id) = started(&ts).await?;
    for _ in 0..50 {
        conn.send(&ClientMessage::Ping { nonce: None }).await?;
    }
    let (mut pongs, mut limited) = (0, 0);
    while pongs + limited < 50 {
        match conn.recv_within(Duration::from_secs(5)).await? {
            ServerMessage::Pong { .. } => pongs += 1,
            ServerMessage::Error {
                error: ErrorCode::RateLimited,
                retry_after_ms,
                ..
            } => {
                assert!(retry_after_ms.is_some_and(|ms| ms > 0 && ms <= 1000));
                limited += 1;
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    // `hello` took one token of the burst of 10.
    assert!(
        (9..20).contains(&pongs),
        "the burst passes, then the rate: {pongs} passed"
    );
    assert!(limited > 30, "{limited} limited");

    // A limited request counts as answered: its resend is a duplicate, not applied.
    conn.send(&ClientMessage::Select {
        req: 1,
        item: "billing".into(),
    })
    .await?;
    let answered = loop {
        match conn.recv_within(Duration::from_secs(5)).await? {
            ServerMessage::Error {
                error: ErrorCode::RateLimited,
                req: Some(1),
                ..
            } => break false,
            ServerMessage::Ack { req: 1 } => break true,
            _ => {}
        }
    };
    // After a pause the bucket refills and a new request number goes through.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    select_ok(&mut conn, 2, if answered { "bill-due" } else { "billing" }).await?;
    let record = ts.admin().await.service_record(&id).await?;
    assert_eq!(record.items.len(), if answered { 2 } else { 1 });
    Ok(())
}

#[tokio::test]
async fn the_client_library_reissues_rate_limited_requests() -> Result {
    let ts = TestServer::start_with(|c| {
        c.limits.messages_per_sec = 2;
        c.limits.burst = 2;
    })
    .await;
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    for _ in 0..3 {
        c.select("billing").await?;
        c.back().await?;
    }
    c.end().await?;
    let record = ts.admin().await.service_record(&c.consultation).await?;
    assert_eq!(record.items.len(), 3, "each choice recorded exactly once");
    Ok(())
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_the_idle_timeout() -> Result {
    let ts = TestServer::start_with(|c| c.limits.idle_timeout_secs = 1).await;
    let (mut conn, _) = started(&ts).await?;
    assert_eq!(next_error(&mut conn).await?.0, ErrorCode::IdleTimeout);
    assert_eq!(conn.close_code().await, Some(1008));
    Ok(())
}

#[tokio::test]
async fn no_menu_yet_is_a_clear_error() -> Result {
    let ts = TestServer::start_empty().await;
    let e = CustomerClient::start(&ts.url(), "+12015550123")
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NoMenu));
    Ok(())
}

#[tokio::test]
async fn an_invalid_menu_import_lists_every_problem_and_changes_nothing() -> Result {
    let ts = TestServer::start().await;
    let api = ts.admin().await;
    let cyclic = r#"title = "Broken"
root = "main"

[[item]]
id = "main"
kind = "submenu"
title = "Main"
children = ["a"]

[[item]]
id = "a"
kind = "submenu"
title = "A"
children = ["b"]

[[item]]
id = "b"
kind = "submenu"
title = "B"
children = ["a"]

[[item]]
id = "c"
kind = "hologram"
title = "C"

[[item]]
id = "x"
kind = "submenu"
title = "X"
children = ["y"]

[[item]]
id = "y"
kind = "submenu"
title = "Y"
children = ["x"]
"#;
    let hologram_line = cyclic
        .lines()
        .position(|l| l.contains("hologram"))
        .ok_or("line")?
        + 1;
    let resp = api
        .post_raw("/api/menus", "application/toml", cyclic)
        .await?;
    assert_eq!(resp.0, 422);
    assert_eq!(resp.1["error"], "invalid_menu");
    let problems: Vec<String> = resp.1["problems"]
        .as_array()
        .ok_or("problems")?
        .iter()
        .map(|p| {
            format!(
                "line {}: {}",
                p["line"],
                p["message"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        problems
            .iter()
            .any(|p| p.contains("'a' is listed under both 'main' and 'b'")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("cycle") && p.contains('x') && p.contains('y')),
        "{problems:?}"
    );
    let hologram = format!("line {hologram_line}:");
    assert!(
        problems
            .iter()
            .any(|p| p.starts_with(&hologram) && p.contains("hologram")),
        "{problems:?}"
    );
    // Nothing changed: still version 1, still the demo menu.
    let (_, versions) = api.get_json("/api/menus").await?;
    assert_eq!(versions.as_array().map(Vec::len), Some(1));
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    assert_eq!(c.menu_version, 1);
    c.select("billing").await?;
    Ok(())
}

#[tokio::test]
async fn admin_endpoints_need_an_admin_and_wrong_passwords_fail() -> Result {
    let ts = TestServer::start().await;
    let mut api = ApiClient::new(&ts.url())?;
    let e = api.login("admin", "wrong-password").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    let e = api.login("nobody", "wrong-password").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    let (status, body) = api.get_json("/api/menus").await?;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    let forged = ApiClient::new(&ts.url())?.with_token("fds_forged");
    assert_eq!(forged.get_json("/api/menus").await?.0, 401);
    let e = forged
        .import_menu(frontdesk_server::demo::MENU)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    let admin = ts.admin().await;
    assert_eq!(
        admin.get_json("/api/consultations/not-a-real-id").await?.0,
        404
    );
    assert_eq!(admin.get_json("/api/menus/999").await?.0, 404);
    assert_eq!(admin.get_json("/api/menus/abc").await?.0, 404);
    Ok(())
}

/// Logs in over raw HTTP; returns the status, the `Retry-After` and `Set-Cookie` headers.
async fn raw_login(
    ts: &TestServer,
    user: &str,
    password: &str,
) -> Result<(u16, Option<String>, Option<String>)> {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/login", ts.url()))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await?;
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok((
        resp.status().as_u16(),
        header("retry-after"),
        header("set-cookie"),
    ))
}

#[tokio::test]
async fn wrong_passwords_are_refused_and_then_throttled_per_username() -> Result {
    let ts = TestServer::start().await;
    for _ in 0..5 {
        let (status, _, cookie) = raw_login(&ts, "admin", "wrong-password").await?;
        assert_eq!(status, 401);
        assert!(cookie.is_none(), "no session for a failure");
    }
    let (status, retry, _) = raw_login(&ts, "admin", "wrong-password").await?;
    assert_eq!(status, 429);
    let secs: u64 = retry.expect("Retry-After").parse()?;
    assert!((1..=60).contains(&secs), "{secs}");
    // Even the right password waits: guessing gains nothing by getting lucky.
    let (status, _, _) = raw_login(&ts, common::ADMIN.0, common::ADMIN.1).await?;
    assert_eq!(status, 429);
    // Other usernames are not locked out.
    let (status, _, _) = raw_login(&ts, "nobody", "wrong-password").await?;
    assert_eq!(status, 401);
    Ok(())
}

#[tokio::test]
async fn a_login_sets_an_http_only_same_site_session_cookie() -> Result {
    let ts = TestServer::start().await;
    let (status, _, cookie) = raw_login(&ts, common::ADMIN.0, common::ADMIN.1).await?;
    assert_eq!(status, 200);
    let cookie = cookie.expect("Set-Cookie");
    assert!(cookie.starts_with("fd_session=fds_"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    Ok(())
}

/// Opens `/agent/ws` with the given headers; returns the HTTP status of a refusal,
/// or 101 when it was upgraded.
async fn agent_ws_status(ts: &TestServer, headers: &[(&str, String)]) -> Result<u16> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let url = frontdesk_client::agent_ws_url(&ts.url())?;
    let mut req = url.into_client_request()?;
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes())?,
            http::HeaderValue::from_str(v)?,
        );
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((_, resp)) => Ok(resp.status().as_u16()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Ok(resp.status().as_u16()),
        Err(e) => Err(e.into()),
    }
}

#[tokio::test]
async fn the_agent_socket_needs_a_login_from_the_servers_own_origin() -> Result {
    let ts = TestServer::start().await;
    assert_eq!(agent_ws_status(&ts, &[]).await?, 401);
    let bogus = [("authorization", "Bearer fds_made-up".to_owned())];
    assert_eq!(agent_ws_status(&ts, &bogus).await?, 401);
    // A customer's resume token is not a staff login.
    let s = common::started(&ts).await?;
    let customer = [("authorization", format!("Bearer {}", s.resume_token))];
    assert_eq!(agent_ws_status(&ts, &customer).await?, 401);
    let token = admin_token(&ts).await?;
    let cookie = ("cookie", format!("theme=dark; fd_session={token}"));
    let host = ts.url().trim_start_matches("http://").to_owned();
    assert_eq!(
        agent_ws_status(&ts, &[cookie.clone(), ("origin", format!("http://{host}"))]).await?,
        101,
        "the console: cookie, same origin"
    );
    assert_eq!(
        agent_ws_status(&ts, &[cookie, ("origin", "http://evil.example".into())]).await?,
        403,
        "another site's page using the agent's cookie"
    );
    Ok(())
}

#[tokio::test]
async fn chat_outside_a_chat_and_bad_chat_messages_are_refused() -> Result {
    let ts = TestServer::start().await;
    let mut conn = Connection::open(&ts.url()).await?;
    let say = |id: &str, text: &str| ClientMessage::Say {
        id: id.into(),
        text: text.into(),
    };
    let refusal = |m: ServerMessage| match m {
        ServerMessage::Error { error, id, .. } => (error, id),
        other => panic!("expected an error, got {other:?}"),
    };
    conn.send(&say("m1", "hi")).await?;
    assert_eq!(
        refusal(conn.recv().await?),
        (ErrorCode::NotStarted, Some("m1".into()))
    );
    let s = common::started(&ts).await?;
    let mut conn = s.conn;
    conn.send(&say("m1", "hi")).await?;
    assert_eq!(
        refusal(conn.recv().await?),
        (ErrorCode::NotInChat, Some("m1".into()))
    );
    conn.send(&ClientMessage::Cancel { req: 1 }).await?;
    assert_eq!(
        next_error(&mut conn).await?,
        (ErrorCode::NotQueued, Some(1))
    );
    // Waiting is not chatting.
    select_ok(&mut conn, 2, "chat").await?;
    conn.send(&say("m2", "anyone?")).await?;
    loop {
        if let ServerMessage::Error { error, id, .. } = conn.recv().await? {
            assert_eq!((error, id.as_deref()), (ErrorCode::NotInChat, Some("m2")));
            break;
        }
    }
    for (id, text) in [("", "x"), (&"i".repeat(65)[..], "x"), ("m3", "   ")] {
        conn.send(&say(id, text)).await?;
        assert_eq!(
            next_error(&mut conn).await?.0,
            ErrorCode::InvalidMessage,
            "{id:?} {text:?}"
        );
    }
    let long = "x".repeat(4001);
    conn.send(&say("m4", &long)).await?;
    assert_eq!(next_error(&mut conn).await?.0, ErrorCode::InvalidMessage);
    // Still waiting, in first place, after all that.
    conn.send(&ClientMessage::Cancel { req: 3 }).await?;
    loop {
        match conn.recv().await? {
            ServerMessage::Screen { req: 3, notice, .. } => {
                assert_eq!(notice.map(|n| n.code).as_deref(), Some("left_queue"));
                break;
            }
            ServerMessage::Error { error, .. } => panic!("{error}"),
            _ => {}
        }
    }
    Ok(())
}

#[tokio::test]
async fn malformed_agent_frames_get_a_code_and_the_connection_stays_up() -> Result {
    let ts = TestServer::start().await;
    let token = admin_token(&ts).await?;
    let mut conn = frontdesk_client::AgentConnection::open(&ts.url(), Some(&token)).await?;
    assert!(matches!(
        conn.recv().await?,
        frontdesk_protocol::agent::AgentServerMessage::Welcome { .. }
    ));
    for (text, code) in [
        ("{oops", ErrorCode::MalformedJson),
        (r#"{"type":"teleport"}"#, ErrorCode::UnknownMessageType),
        (
            r#"{"type":"presence","state":"asleep"}"#,
            ErrorCode::InvalidMessage,
        ),
        (
            r#"{"type":"end_service","service":"nope"}"#,
            ErrorCode::NotYourCustomer,
        ),
    ] {
        conn.send_text(text).await?;
        loop {
            match conn.recv().await? {
                frontdesk_protocol::agent::AgentServerMessage::Error { error, .. } => {
                    assert_eq!(error, code, "{text}");
                    break;
                }
                frontdesk_protocol::agent::AgentServerMessage::Queue { .. } => {}
                other => panic!("{text}: {other:?}"),
            }
        }
    }
    conn.send_text(r#"{"type":"ping","nonce":3}"#).await?;
    loop {
        match conn.recv().await? {
            frontdesk_protocol::agent::AgentServerMessage::Pong { nonce } => {
                assert_eq!(nonce, Some(3));
                break;
            }
            frontdesk_protocol::agent::AgentServerMessage::Queue { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    Ok(())
}

async fn admin_token(ts: &TestServer) -> Result<String> {
    let mut api = ApiClient::new(&ts.url())?;
    Ok(api.login(common::ADMIN.0, common::ADMIN.1).await?.token)
}
