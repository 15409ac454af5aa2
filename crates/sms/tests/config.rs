//! `[sms]` as the server reads it, and the errors `build` gives for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::error::Error;

use common::{http_config, twilio_config};
use frontdesk_sms::{ConfigError, GatewayKind, SmsConfig, build};

type TestResult = Result<(), Box<dyn Error>>;

fn build_error(config: &SmsConfig) -> String {
    build(config).expect_err("build should fail").to_string()
}

#[test]
fn the_default_is_the_outbox() -> TestResult {
    let sender = build(&SmsConfig::default())?;
    assert_eq!(sender.kind(), "outbox");
    Ok(())
}

#[test]
fn parsed_from_toml_with_defaults_and_lowercase_gateway() -> TestResult {
    let config: SmsConfig = toml::from_str(
        r#"
        gateway = "twilio"
        timeout_secs = 5
        [twilio]
        account_sid = "ACx"
        auth_token = "t"
        messaging_service_sid = "MGx"
        "#,
    )?;
    assert_eq!(config.gateway, GatewayKind::Twilio);
    assert_eq!(config.timeout_secs, 5);
    assert_eq!(config.max_attempts, 8);
    assert_eq!(config.twilio.messaging_service_sid.as_deref(), Some("MGx"));
    assert_eq!(build(&config)?.kind(), "twilio");

    let empty: SmsConfig = toml::from_str("")?;
    assert_eq!(empty, SmsConfig::default());

    // What Serialize writes reads back the same.
    let again: SmsConfig = toml::from_str(&toml::to_string(&config)?)?;
    assert_eq!(again, config);
    Ok(())
}

#[test]
fn unknown_keys_and_gateways_are_rejected() {
    assert!(toml::from_str::<SmsConfig>("gatway = \"http\"").is_err());
    assert!(toml::from_str::<SmsConfig>("gateway = \"HTTP\"").is_err());
    assert!(toml::from_str::<SmsConfig>("gateway = \"smpp\"").is_err());
    assert!(toml::from_str::<SmsConfig>("[http]\nurl = \"x\"\ntoken = \"y\"").is_err());
}

#[test]
fn http_without_url() {
    let mut config = http_config(String::new());
    assert_eq!(
        build_error(&config),
        "sms.http.url is required when sms.gateway = \"http\""
    );
    config.http.url = None;
    assert!(matches!(
        build(&config),
        Err(ConfigError::Missing {
            key: "sms.http.url",
            gateway: "http"
        })
    ));
}

#[test]
fn http_with_a_bad_url() {
    for url in [
        "sms.example.com/send",
        "ftp://sms.example.com/send",
        "http://",
    ] {
        let e = build_error(&http_config(url.into()));
        assert!(e.starts_with("sms.http.url is invalid"), "{url}: {e}");
    }
}

#[test]
fn http_with_a_header_line_without_colon() {
    let mut config = http_config("https://sms.example.com/send".into());
    config.http.auth_header = Some("Bearer s3cr3t-token".into());
    let e = build_error(&config);
    assert!(e.starts_with("sms.http.auth_header is invalid"), "{e}");
    assert!(e.contains("':'"), "{e}");
    assert!(!e.contains("s3cr3t"), "the secret leaked: {e}");
}

#[test]
fn twilio_without_a_sender() {
    let mut config = twilio_config("https://api.twilio.com".into());
    config.twilio.from = None;
    assert_eq!(
        build_error(&config),
        "sms.twilio.from or sms.twilio.messaging_service_sid is required when sms.gateway = \"twilio\""
    );
}

#[test]
fn twilio_without_credentials_or_with_a_bad_base_url() {
    let mut config = twilio_config("https://api.twilio.com".into());
    config.twilio.auth_token = Some("  ".into());
    assert_eq!(
        build_error(&config),
        "sms.twilio.auth_token is required when sms.gateway = \"twilio\""
    );
    let mut config = twilio_config("mailto:ops@example.com".into());
    config.twilio.account_sid = None;
    assert!(build_error(&config).starts_with("sms.twilio.account_sid"));
    config.twilio.account_sid = Some("ACx".into());
    assert!(build_error(&config).starts_with("sms.twilio.base_url is invalid"));
}

#[test]
fn twilio_base_url_defaults_to_twilio() -> TestResult {
    let mut config = twilio_config(String::new());
    config.twilio.base_url = None;
    let sender = build(&config)?;
    assert!(format!("{sender:?}").contains("https://api.twilio.com/2010-04-01/Accounts/"));
    Ok(())
}

#[test]
fn shared_settings_are_checked_for_every_gateway() {
    let config = SmsConfig {
        timeout_secs: 0,
        ..SmsConfig::default()
    };
    assert!(build_error(&config).starts_with("sms.timeout_secs is invalid"));
}

#[test]
fn debug_output_hides_the_secrets() -> TestResult {
    let mut config = http_config("https://user:pw-s3cr3t@sms.example.com/send?key=q-s3cr3t".into());
    config.twilio = twilio_config("https://api.twilio.com".into()).twilio;
    let shown = format!("{config:?} {config:#?}");
    for secret in ["s3cr3t-token", "tw1l10-s3cr3t", "pw-s3cr3t", "q-s3cr3t"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    // What is not secret is still there to debug with.
    assert!(shown.contains("Authorization: <redacted>"), "{shown}");
    assert!(
        shown.contains("AC0123456789abcdef0123456789abcdef"),
        "{shown}"
    );

    let http = build(&config)?;
    config.gateway = GatewayKind::Twilio;
    let twilio = build(&config)?;
    let shown = format!("{http:?} {twilio:?}");
    for secret in ["s3cr3t-token", "tw1l10-s3cr3t", "pw-s3cr3t", "q-s3cr3t"] {
        assert!(!shown.contains(secret), "{secret} leaked: {shown}");
    }
    Ok(())
}
