//! The Twilio sender against a real local HTTP server speaking Twilio's API shape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error;
use std::time::Duration;

use base64::Engine as _;
use common::{Gateway, Recorded, Reply, sms, twilio_config};
use frontdesk_sms::{SendError, Sent, build};

type TestResult = Result<(), Box<dyn Error>>;

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";

/// A trimmed 201 answer of Twilio's Message resource.
fn created(status: &str) -> Reply {
    Reply::new(
        201,
        format!(
            r#"{{"sid": "SM1234567890abcdef1234567890abcdef", "status": "{status}", "to": "+447700900123", "error_code": null}}"#
        ),
    )
    .header("content-type", "application/json")
}

fn basic_auth(req: &Recorded) -> String {
    let value = req
        .header("authorization")
        .expect("an Authorization header");
    let encoded = value.strip_prefix("Basic ").expect("basic auth");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    String::from_utf8(decoded).unwrap()
}

#[tokio::test]
async fn sends_the_documented_form_with_basic_auth() -> TestResult {
    let gw = Gateway::start([created("queued")]).await?;
    let sender = build(&twilio_config(gw.url("")))?;
    assert_eq!(sender.kind(), "twilio");

    let sent = sender.send(&sms()).await?;
    assert_eq!(
        sent,
        Sent {
            provider_id: Some("SM1234567890abcdef1234567890abcdef".into()),
            status: "queued".into()
        }
    );

    let req = gw.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, MESSAGES_PATH);
    assert_eq!(
        basic_auth(&req),
        "AC0123456789abcdef0123456789abcdef:tw1l10-s3cr3t"
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        req.form(),
        pairs(&[
            ("To", "+447700900123"),
            ("Body", "Your agent is ready: café ☕ & more"),
            ("From", "+15005550006"),
        ])
    );
    Ok(())
}

#[tokio::test]
async fn messaging_service_instead_of_a_number() -> TestResult {
    let gw = Gateway::start([created("accepted")]).await?;
    let mut config = twilio_config(format!("{}/", gw.url("")));
    config.twilio.from = None;
    config.twilio.messaging_service_sid = Some("MG0123456789abcdef0123456789abcdef".into());

    let sent = build(&config)?.send(&sms()).await?;
    assert_eq!(sent.status, "accepted");

    let req = gw.only_request();
    assert_eq!(
        req.path, MESSAGES_PATH,
        "a trailing slash in base_url is harmless"
    );
    let form = req.form();
    assert!(form.iter().all(|(k, _)| k != "From"), "{form:?}");
    assert!(
        form.contains(&(
            "MessagingServiceSid".into(),
            "MG0123456789abcdef0123456789abcdef".into()
        )),
        "{form:?}"
    );
    Ok(())
}

#[tokio::test]
async fn invalid_number_is_permanent_with_code_and_message() -> TestResult {
    let gw = Gateway::start([Reply::new(
        400,
        r#"{"code": 21211, "message": "The 'To' number +4477 is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}"#,
    )])
    .await?;
    let err = build(&twilio_config(gw.url("")))?
        .send(&sms())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        SendError::Permanent {
            message: "twilio error 21211: The 'To' number +4477 is not a valid phone number."
                .into()
        }
    );
    Ok(())
}

#[tokio::test]
async fn bad_credentials_are_permanent() -> TestResult {
    let gw = Gateway::start([Reply::new(
        401,
        r#"{"code": 20003, "message": "Authenticate", "status": 401}"#,
    )])
    .await?;
    let err = build(&twilio_config(gw.url("")))?
        .send(&sms())
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "twilio error 20003: Authenticate");
    assert!(!err.is_retryable());
    Ok(())
}

#[tokio::test]
async fn rate_limit_and_outage_are_retryable() -> TestResult {
    let gw = Gateway::start([
        Reply::new(
            429,
            r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#,
        )
        .header("retry-after", "3"),
        Reply::new(503, "<html>Service Unavailable</html>"),
    ])
    .await?;
    let sender = build(&twilio_config(gw.url("")))?;
    assert_eq!(
        sender.send(&sms()).await.unwrap_err(),
        SendError::Retryable {
            message: "twilio error 20429: Too Many Requests".into(),
            retry_after: Some(Duration::from_secs(3)),
        }
    );
    let err = sender.send(&sms()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("503"), "{err}");
    Ok(())
}

#[tokio::test]
async fn timeout_is_retryable() -> TestResult {
    let gw = Gateway::start([created("queued").after(Duration::from_secs(30))]).await?;
    let mut config = twilio_config(gw.url(""));
    config.timeout_secs = 1;
    let err = build(&config)?.send(&sms()).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    Ok(())
}
