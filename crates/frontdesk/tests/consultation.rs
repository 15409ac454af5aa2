//! The digital service menu end to end: a real server, a real WebSocket, the
//! client library, the service record read back over REST.

mod common;

use std::time::Duration;

use common::TestServer;
use frontdesk_client::{ApiClient, Connection, CustomerClient};
use frontdesk_protocol::{ClientMessage, ErrorCode, ServerMessage};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

fn items(record: &frontdesk_protocol::rest::ServiceRecord) -> Vec<(&str, &str)> {
    record
        .items
        .iter()
        .map(|i| (i.item.as_str(), i.served.as_str()))
        .collect()
}

#[tokio::test]
async fn a_consultation_is_served_and_recorded() -> Result {
    let ts = TestServer::start().await;
    let mut c = CustomerClient::start(&ts.url(), "(201) 555-0123").await?;
    // Step 2: the menu arrives with the welcome.
    assert_eq!(c.screen.menu, "main");
    assert!(
        c.screen
            .items
            .iter()
            .any(|e| e.id == "billing" && e.kind == "submenu")
    );

    let r = c.select("billing").await?;
    assert_eq!(r.screen.title, "Bills and payments");
    assert_eq!(r.screen.path.len(), 2);
    // Step 5: content is served, and (step 8) the menu is shown again.
    let r = c.select("bill-due").await?;
    let content = r.content.expect("content");
    assert!(
        content.text.contains("due 21 days later"),
        "{}",
        content.text
    );
    assert_eq!(r.screen.menu, "billing");
    // A voice item answers "not available yet" and is still recorded.
    c.home().await?;
    let r = c.select("call").await?;
    assert_eq!(r.notice.expect("notice").code, "not_available_yet");
    assert_eq!(c.end().await?, 3);

    let record = ts.admin().await.service_record(&c.consultation).await?;
    assert_eq!(record.phone, "+12015550123");
    assert_eq!(
        items(&record),
        [
            ("billing", "opened"),
            ("bill-due", "shown"),
            ("call", "unavailable")
        ]
    );
    assert_eq!(record.end_reason.as_deref(), Some("customer"));
    assert!(record.ended_at.is_some());
    assert!(
        record
            .items
            .iter()
            .all(|i| i.menu_version == record.menu_version)
    );
    Ok(())
}

#[tokio::test]
async fn customers_read_only_their_own_record() -> Result {
    let ts = TestServer::start().await;
    let mut a = CustomerClient::start(&ts.url(), "+12015550123").await?;
    a.select("billing").await?;
    let b = CustomerClient::start(&ts.url(), "+14155550188").await?;

    let as_a = ApiClient::new(&ts.url())?.with_token(a.resume_token());
    assert_eq!(as_a.service_record(&a.consultation).await?.items.len(), 1);
    // B's id with A's token: indistinguishable from an id that does not exist.
    let e = as_a.service_record(&b.consultation).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::NotFound));
    let e = ApiClient::new(&ts.url())?
        .service_record(&a.consultation)
        .await
        .unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
    // Customers cannot list consultations, and cannot touch menus.
    let (status, _) = as_a.get_json("/api/consultations").await?;
    assert_eq!(status, 403);
    let (status, _) = as_a.get_json("/api/menus").await?;
    assert_eq!(status, 403);
    Ok(())
}

#[tokio::test]
async fn a_dropped_connection_resumes_without_losing_or_doubling_anything() -> Result {
    let ts = TestServer::start().await;
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    c.select("billing").await?;
    c.drop_connection();
    // The next request finds the connection gone, resumes, and is applied once.
    let r = c.select("bill-due").await?;
    assert!(r.content.is_some());
    c.drop_connection();
    c.back().await?;
    assert_eq!(c.screen.menu, "main");
    c.end().await?;
    let record = ts.admin().await.service_record(&c.consultation).await?;
    assert_eq!(
        items(&record),
        [("billing", "opened"), ("bill-due", "shown")]
    );
    Ok(())
}

#[tokio::test]
async fn a_request_resent_after_a_lost_reply_is_not_recorded_twice() -> Result {
    let ts = TestServer::start().await;
    let common::Started {
        mut conn,
        consultation,
        resume_token,
    } = common::started(&ts).await?;
    conn.send(&ClientMessage::Select {
        req: 1,
        item: "billing".into(),
    })
    .await?;
    conn.send(&ClientMessage::Select {
        req: 2,
        item: "bill-due".into(),
    })
    .await?;
    // Wait until both are durable, then lose the connection without reading more.
    let mut acked = 0;
    while acked < 2 {
        if let ServerMessage::Ack { .. } = conn.recv_within(Duration::from_secs(5)).await? {
            acked += 1;
        }
    }
    conn.drop_abruptly();

    // The client did not see the acks; it resumes and resends both.
    let mut conn = Connection::open(&ts.url()).await?;
    conn.send(&ClientMessage::resume(&resume_token)).await?;
    match conn.recv().await? {
        ServerMessage::Welcome {
            resumed,
            last_req,
            screen,
            consultation: id,
            ..
        } => {
            assert!(resumed);
            assert_eq!(id, consultation);
            assert_eq!(last_req, 2, "the server says what it already has");
            assert_eq!(screen.menu, "billing", "and resumes on the same screen");
        }
        other => return Err(format!("expected welcome, got {other:?}").into()),
    }
    conn.send(&ClientMessage::Select {
        req: 2,
        item: "bill-due".into(),
    })
    .await?;
    match conn.recv().await? {
        ServerMessage::Screen {
            req: 2,
            duplicate: true,
            ..
        } => {}
        other => return Err(format!("expected a duplicate screen, got {other:?}").into()),
    }
    assert!(matches!(conn.recv().await?, ServerMessage::Ack { req: 2 }));
    let record = ts.admin().await.service_record(&consultation).await?;
    assert_eq!(
        items(&record),
        [("billing", "opened"), ("bill-due", "shown")]
    );
    Ok(())
}

#[tokio::test]
async fn resuming_elsewhere_supersedes_the_old_connection() -> Result {
    let ts = TestServer::start().await;
    let mut first = CustomerClient::start(&ts.url(), "+12015550123").await?;
    first.select("billing").await?;
    let mut second = CustomerClient::resume(&ts.url(), first.resume_token()).await?;
    assert_eq!(second.screen.menu, "billing");
    second.select("bill-due").await?;
    // The first connection was told and closed; it must not act on the consultation.
    let e = first.select("pay-methods").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::Superseded), "{e}");
    second.end().await?;
    let record = ts
        .admin()
        .await
        .service_record(&second.consultation)
        .await?;
    assert_eq!(
        items(&record),
        [("billing", "opened"), ("bill-due", "shown")]
    );
    Ok(())
}

#[tokio::test]
async fn a_restarted_server_keeps_records_and_resumes_consultations() -> Result {
    let ts = TestServer::start().await;
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    c.select("internet").await?;
    c.select("slow-data").await?;
    c.select("restart").await?;
    let token = c.resume_token().to_owned();
    let id = c.consultation.clone();
    drop(c);

    let ts = ts.restart().await;
    let mut c = CustomerClient::resume(&ts.url(), &token).await?;
    assert_eq!(c.consultation, id);
    assert_eq!(c.screen.menu, "slow-data");
    c.back().await?;
    c.select("roaming").await?;
    c.end().await?;
    let record = ts.admin().await.service_record(&id).await?;
    assert_eq!(
        items(&record),
        [
            ("internet", "opened"),
            ("slow-data", "opened"),
            ("restart", "shown"),
            ("roaming", "shown")
        ]
    );
    Ok(())
}

#[tokio::test]
async fn a_server_shutting_down_tells_customers_to_come_back() -> Result {
    let ts = TestServer::start().await;
    let mut conn = common::started(&ts).await?.conn;
    let stopping = tokio::spawn(async move { ts.server.stop().await.map(|()| ts.dir) });
    match conn.recv_within(Duration::from_secs(5)).await? {
        ServerMessage::Error {
            error: ErrorCode::ShuttingDown,
            ..
        } => {}
        other => return Err(format!("expected shutting_down, got {other:?}").into()),
    }
    assert_eq!(conn.close_code().await, Some(1001));
    stopping.await??;
    Ok(())
}

#[tokio::test]
async fn a_consultation_keeps_the_menu_version_it_started_with() -> Result {
    let ts = TestServer::start().await;
    let api = ts.admin().await;
    let mut old = CustomerClient::start(&ts.url(), "+12015550123").await?;
    let v1 = old.menu_version;

    let new_menu = frontdesk_server::demo::MENU
        .replace("When is my bill due?", "Bill due date")
        .replace("due 21 days later", "due 14 days later");
    let imported = api.import_menu(&new_menu).await?;
    assert!(imported.created);
    assert_eq!(imported.version, v1 + 1);
    // Importing the same menu again stores nothing.
    assert!(!api.import_menu(&new_menu).await?.created);

    old.select("billing").await?;
    let r = old.select("bill-due").await?;
    assert!(
        r.content.unwrap().text.contains("21 days"),
        "the old consultation keeps version {v1}"
    );
    let mut new = CustomerClient::start(&ts.url(), "+14155550188").await?;
    assert_eq!(new.menu_version, v1 + 1);
    new.select("billing").await?;
    let r = new.select("bill-due").await?;
    assert!(r.content.unwrap().text.contains("14 days"));
    let record = api.service_record(&old.consultation).await?;
    assert_eq!(record.items[1].title, "When is my bill due?");
    assert_eq!(record.items[1].menu_version, v1);
    Ok(())
}

#[tokio::test]
async fn abandoned_consultations_are_ended_after_the_resume_window() -> Result {
    let ts = TestServer::start_with(|c| c.limits.resume_window_secs = 1).await;
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    c.select("billing").await?;
    let token = c.resume_token().to_owned();
    let id = c.consultation.clone();
    drop(c);
    // The sweeper runs every second here; give it a few rounds.
    let api = ts.admin().await;
    let mut reason = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        reason = api.service_record(&id).await?.end_reason;
        if reason.is_some() {
            break;
        }
    }
    assert_eq!(reason.as_deref(), Some("abandoned"));
    let e = CustomerClient::resume(&ts.url(), &token).await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::ConsultationEnded));
    // The record kept what was served.
    assert_eq!(api.service_record(&id).await?.items.len(), 1);
    Ok(())
}

#[tokio::test]
async fn many_customers_at_once_each_get_their_own_record() -> Result {
    let ts = TestServer::start().await;
    let url = ts.url();
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let phone = format!("+1201555{:04}", 1000 + i);
            let mut c = CustomerClient::start(&url, &phone).await?;
            c.select("billing").await?;
            c.select(if i % 2 == 0 {
                "bill-due"
            } else {
                "pay-methods"
            })
            .await?;
            let n = c.end().await?;
            Ok::<_, frontdesk_client::ClientError>((c.consultation, i, n))
        }));
    }
    let api = ts.admin().await;
    for t in tasks {
        let (id, i, n) = t.await??;
        assert_eq!(n, 2);
        let record = api.service_record(&id).await?;
        let expected = if i % 2 == 0 {
            "bill-due"
        } else {
            "pay-methods"
        };
        assert_eq!(record.items[1].item, expected);
        assert_eq!(record.phone, format!("+1201555{:04}", 1000 + i));
    }
    Ok(())
}

#[tokio::test]
async fn metrics_count_what_happened_and_are_not_public() -> Result {
    let ts = TestServer::start().await;
    let mut c = CustomerClient::start(&ts.url(), "+12015550123").await?;
    c.select("billing").await?;
    c.select("bill-due").await?;
    let e = c.select("no-such-item").await.unwrap_err();
    assert_eq!(e.code(), Some(ErrorCode::UnknownItem));
    c.end().await?;

    // From loopback without a token: allowed.
    let (status, text) = ApiClient::new(&ts.url())?.get_text("/metrics").await?;
    assert_eq!(status, 200);
    for line in [
        "frontdesk_consultations_started_total 1",
        "frontdesk_consultations_ended_total{kind=\"customer\"} 1",
        "frontdesk_service_items_total{kind=\"opened\"} 1",
        "frontdesk_service_items_total{kind=\"shown\"} 1",
        "frontdesk_customer_errors_total{kind=\"unknown_item\"} 1",
        "frontdesk_request_seconds_count 4",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }

    // With a token configured, only the token opens it.
    let ts = TestServer::start_with(|c| c.metrics_token = Some("scrape-secret".into())).await;
    let (status, body) = ApiClient::new(&ts.url())?.get_json("/metrics").await?;
    assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")));
    let (status, _) = ApiClient::new(&ts.url())?
        .with_token("wrong")
        .get_text("/metrics")
        .await?;
    assert_eq!(status, 403);
    let (status, text) = ApiClient::new(&ts.url())?
        .with_token("scrape-secret")
        .get_text("/metrics")
        .await?;
    assert_eq!(status, 200);
    assert!(text.contains("frontdesk_customer_connections"), "{text}");
    Ok(())
}
