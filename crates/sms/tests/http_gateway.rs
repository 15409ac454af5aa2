//! The generic JSON gateway against a real local HTTP server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error;
use std::time::{Duration, Instant};

use common::{Gateway, Reply, http_config, sms};
use frontdesk_sms::{SendError, Sent, build};
use serde_json::json;

type TestResult = Result<(), Box<dyn Error>>;

#[tokio::test]
async fn success_sends_json_auth_and_idempotency_key() -> TestResult {
    let gw = Gateway::start([
        Reply::new(200, r#"{"message_id": 98765, "status": "queued"}"#)
            .header("content-type", "application/json"),
    ])
    .await?;
    let sender = build(&http_config(gw.url("/v1/send")))?;
    assert_eq!(sender.kind(), "http");

    let sent = sender.send(&sms()).await?;
    assert_eq!(
        sent,
        Sent {
            provider_id: Some("98765".into()),
            status: "queued".into()
        }
    );

    let req = gw.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/send");
    assert_eq!(req.header("authorization"), Some("Bearer s3cr3t-token"));
    assert_eq!(req.header("idempotency-key"), Some("frontdesk-sms-42"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"id": "42", "to": "+447700900123", "body": "Your agent is ready: café ☕ & more"})
    );
    Ok(())
}

#[tokio::test]
async fn the_same_key_on_every_attempt_and_any_auth_header() -> TestResult {
    let gw = Gateway::start([Reply::new(503, "busy"), Reply::new(202, "OK")]).await?;
    let mut config = http_config(gw.url("/"));
    config.http.auth_header = Some("X-Api-Key: k-123".into());
    let sender = build(&config)?;

    assert!(sender.send(&sms()).await.is_err());
    // A non-JSON 2xx is fine: accepted, no provider id.
    let sent = sender.send(&sms()).await?;
    assert_eq!(
        sent,
        Sent {
            provider_id: None,
            status: "accepted".into()
        }
    );
    let reqs = gw.requests();
    assert_eq!(reqs.len(), 2);
    for req in &reqs {
        assert_eq!(req.header("idempotency-key"), Some("frontdesk-sms-42"));
        assert_eq!(req.header("x-api-key"), Some("k-123"));
        assert_eq!(req.header("authorization"), None);
    }
    Ok(())
}

#[tokio::test]
async fn id_field_as_a_string() -> TestResult {
    let gw = Gateway::start([Reply::new(201, r#"{"id": "msg_1"}"#)]).await?;
    let sent = build(&http_config(gw.url("/")))?.send(&sms()).await?;
    assert_eq!(sent.provider_id.as_deref(), Some("msg_1"));
    assert_eq!(sent.status, "accepted");
    Ok(())
}

#[tokio::test]
async fn server_error_is_retryable() -> TestResult {
    let gw = Gateway::start([Reply::new(500, "database on fire")]).await?;
    let err = build(&http_config(gw.url("/")))?
        .send(&sms())
        .await
        .unwrap_err();
    match err {
        SendError::Retryable {
            message,
            retry_after,
        } => {
            assert!(message.contains("500"), "{message}");
            assert!(message.contains("database on fire"), "{message}");
            assert_eq!(retry_after, None);
        }
        other => panic!("expected retryable, got {other:?}"),
    }
    Ok(())
}

#[tokio::test]
async fn unavailable_with_retry_after_is_honoured() -> TestResult {
    let gw = Gateway::start([Reply::new(503, "later").header("retry-after", "7")]).await?;
    let err = build(&http_config(gw.url("/")))?
        .send(&sms())
        .await
        .unwrap_err();
    assert!(
        matches!(err, SendError::Retryable { retry_after: Some(d), .. } if d == Duration::from_secs(7)),
        "{err:?}"
    );
    Ok(())
}

#[tokio::test]
async fn too_many_requests_and_request_timeout_are_retryable() -> TestResult {
    let gw = Gateway::start([Reply::new(429, "slow down"), Reply::new(408, "")]).await?;
    let sender = build(&http_config(gw.url("/")))?;
    assert!(sender.send(&sms()).await.unwrap_err().is_retryable());
    assert!(sender.send(&sms()).await.unwrap_err().is_retryable());
    Ok(())
}

#[tokio::test]
async fn bad_request_is_permanent_with_a_body_excerpt() -> TestResult {
    let body = format!(
        r#"{{"error": "invalid number +44770090012"}}{}"#,
        "x".repeat(500)
    );
    let gw = Gateway::start([Reply::new(400, body)]).await?;
    let err = build(&http_config(gw.url("/")))?
        .send(&sms())
        .await
        .unwrap_err();
    let SendError::Permanent { message } = err else {
        panic!("expected permanent, got {err:?}");
    };
    assert!(message.contains("400"), "{message}");
    assert!(
        message.contains(r#"{"error": "invalid number +44770090012"}"#),
        "{message}"
    );
    // The first 200 characters, not the whole 540.
    assert!(message.len() < 300, "{message}");
    Ok(())
}

#[tokio::test]
async fn unauthorized_is_permanent() -> TestResult {
    let gw = Gateway::start([Reply::new(401, "bad key")]).await?;
    let err = build(&http_config(gw.url("/")))?
        .send(&sms())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    Ok(())
}

#[tokio::test]
async fn redirect_is_not_followed() -> TestResult {
    let gw = Gateway::start([Reply::new(301, "").header("location", "/elsewhere")]).await?;
    let err = build(&http_config(gw.url("/")))?
        .send(&sms())
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert_eq!(gw.requests().len(), 1);
    Ok(())
}

#[tokio::test]
async fn a_gateway_that_never_answers_times_out_as_retryable() -> TestResult {
    let gw = Gateway::start([Reply::new(200, "too late").after(Duration::from_secs(30))]).await?;
    let mut config = http_config(gw.url("/"));
    config.timeout_secs = 1;
    let sender = build(&config)?;

    let started = Instant::now();
    let err = sender.send(&sms()).await.unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let SendError::Retryable { message, .. } = &err else {
        panic!("expected retryable, got {err:?}");
    };
    assert!(message.contains("timed out"), "{message}");
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_retryable() -> TestResult {
    // A port that was free a moment ago and has nobody listening now.
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    drop(listener);

    let config = http_config(format!("http://{addr}/send?api_key=s3cr3t-in-url"));
    let err = build(&config)?.send(&sms()).await.unwrap_err();
    let SendError::Retryable { message, .. } = &err else {
        panic!("expected retryable, got {err:?}");
    };
    assert!(message.contains("connect"), "{message}");
    assert!(!message.contains("s3cr3t"), "the URL leaked: {message}");
    Ok(())
}
