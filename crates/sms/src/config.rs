//! The `[sms]` section of the server's configuration, and [`build`], which turns it
//! into a sender.
//!
//! The doc comments on the fields are the user documentation. A complete example:
//!
//! ```toml
//! [sms]
//! gateway = "twilio"          # "outbox" (default), "http" or "twilio"
//! timeout_secs = 10           # per attempt
//! max_attempts = 8            # then the message is marked failed
//! backoff_first_secs = 2
//! backoff_max_secs = 600
//!
//! [sms.http]
//! url = "https://sms.example.com/v1/messages"
//! auth_header = "Authorization: Bearer abc123"
//!
//! [sms.twilio]
//! account_sid = "ACxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
//! auth_token = "..."
//! from = "+447700900000"      # or messaging_service_sid = "MG..."
//! ```
//!
//! Secrets (`auth_header`, `auth_token`, a URL's password or query) never appear
//! in `Debug` output, so the whole config can be logged at start-up. `Serialize`
//! does write them: it exists to write a config file back, not to show one.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{HttpGateway, Outbox, SmsSender, Twilio};

/// Which sender [`build`] makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GatewayKind {
    /// Send nothing; keep messages in the server's outbox table (the default).
    #[default]
    Outbox,
    /// A generic JSON-over-HTTP gateway (`[sms.http]`).
    Http,
    /// Twilio Programmable Messaging (`[sms.twilio]`).
    Twilio,
}

impl GatewayKind {
    /// The name used in the config file and by [`SmsSender::kind`].
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Outbox => "outbox",
            Self::Http => "http",
            Self::Twilio => "twilio",
        }
    }
}

/// `[sms]`: how the server sends text messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmsConfig {
    /// `"outbox"` (default: send nothing, list with `frontdesk sms outbox`),
    /// `"http"` or `"twilio"`.
    pub gateway: GatewayKind,
    /// Settings for `gateway = "http"`.
    pub http: HttpConfig,
    /// Settings for `gateway = "twilio"`.
    pub twilio: TwilioConfig,
    /// Seconds one attempt may take, connecting included, before it counts as a
    /// retryable failure. At least 1; default 10.
    pub timeout_secs: u64,
    /// Attempts per message before it is marked failed. At least 1; default 8.
    pub max_attempts: u32,
    /// Nominal wait before the first retry, doubled for each later one. At least
    /// 1; default 2.
    pub backoff_first_secs: u64,
    /// Longest nominal wait between two attempts. At least `backoff_first_secs`;
    /// default 600.
    pub backoff_max_secs: u64,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            gateway: GatewayKind::Outbox,
            http: HttpConfig::default(),
            twilio: TwilioConfig::default(),
            timeout_secs: 10,
            max_attempts: 8,
            backoff_first_secs: 2,
            backoff_max_secs: 600,
        }
    }
}

impl SmsConfig {
    /// Checks the settings every gateway uses (timeout, attempts, back-off). The
    /// gateway's own section is checked when [`build`] makes the sender.
    ///
    /// # Errors
    /// [`ConfigError::Invalid`] naming the first bad key.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.timeout_secs == 0 {
            return Err(invalid("sms.timeout_secs", "must be at least 1"));
        }
        if self.max_attempts == 0 {
            return Err(invalid("sms.max_attempts", "must be at least 1"));
        }
        if self.backoff_first_secs == 0 {
            return Err(invalid("sms.backoff_first_secs", "must be at least 1"));
        }
        if self.backoff_max_secs < self.backoff_first_secs {
            return Err(invalid(
                "sms.backoff_max_secs",
                format!(
                    "must be at least sms.backoff_first_secs ({}); it is {}",
                    self.backoff_first_secs, self.backoff_max_secs
                ),
            ));
        }
        Ok(())
    }

    /// The per-attempt timeout.
    #[must_use]
    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.timeout_secs)
    }
}

/// `[sms.http]`: a generic gateway that takes `{"id", "to", "body"}` as JSON.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Where to `POST` each message (`http` or `https`). Required.
    pub url: Option<String>,
    /// One whole header line sent with every request, e.g.
    /// `"Authorization: Bearer abc123"` or `"X-Api-Key: abc123"`. Optional.
    pub auth_header: Option<String>,
}

impl fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The header's name helps when debugging a 401; its value is the secret.
        let auth_header = self
            .auth_header
            .as_deref()
            .map(|line| match line.split_once(':') {
                Some((name, _)) => format!("{}: <redacted>", name.trim()),
                None => "<redacted>".to_owned(),
            });
        f.debug_struct("HttpConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("auth_header", &auth_header)
            .finish()
    }
}

/// `[sms.twilio]`: Twilio Programmable Messaging.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TwilioConfig {
    /// The account SID (`AC…`), the user name of HTTP basic auth. Required.
    pub account_sid: Option<String>,
    /// The account's auth token, the password of HTTP basic auth. Required.
    pub auth_token: Option<String>,
    /// The sending number in E.164 (or an alphanumeric sender id). This or
    /// `messaging_service_sid` is required; with both, both are sent and Twilio's
    /// own rules decide.
    pub from: Option<String>,
    /// A Messaging Service (`MG…`) that picks the sender.
    pub messaging_service_sid: Option<String>,
    /// The API's address; default `https://api.twilio.com`. Tests point it at a
    /// local server.
    pub base_url: Option<String>,
}

impl fmt::Debug for TwilioConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioConfig")
            .field("account_sid", &self.account_sid)
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .field("base_url", &self.base_url.as_deref().map(redact_url))
            .finish()
    }
}

/// Why the `[sms]` section cannot make a sender. The message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A key the chosen gateway needs is absent or empty.
    #[error("{key} is required when sms.gateway = \"{gateway}\"")]
    Missing {
        /// The key, e.g. `sms.http.url`.
        key: &'static str,
        /// The configured gateway.
        gateway: &'static str,
    },
    /// A key has a value that cannot work. The reason never quotes a secret.
    #[error("{key} is invalid: {reason}")]
    Invalid {
        /// The key, e.g. `sms.http.auth_header`.
        key: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be made (e.g. the TLS backend failed to start).
    #[error("cannot create the HTTP client for sms: {0}")]
    Client(String),
}

/// Builds the configured sender.
///
/// # Errors
/// A [`ConfigError`] naming the missing or invalid key: `sms.http.url` absent or
/// not an `http(s)` URL, an `auth_header` without `:`, Twilio without credentials or
/// without `from`/`messaging_service_sid`, a zero timeout, and so on.
pub fn build(config: &SmsConfig) -> Result<Arc<dyn SmsSender>, ConfigError> {
    config.check()?;
    let sender: Arc<dyn SmsSender> = match config.gateway {
        GatewayKind::Outbox => Arc::new(Outbox),
        GatewayKind::Http => Arc::new(HttpGateway::from_config(config)?),
        GatewayKind::Twilio => Arc::new(Twilio::from_config(config)?),
    };
    tracing::debug!(gateway = sender.kind(), "sms sender ready");
    Ok(sender)
}

/// `value` trimmed, or [`ConfigError::Missing`] when it is absent or blank (an
/// environment variable set to "" means "not configured", not "empty string").
pub(crate) fn required<'a>(
    value: Option<&'a str>,
    key: &'static str,
    gateway: GatewayKind,
) -> Result<&'a str, ConfigError> {
    optional(value).ok_or(ConfigError::Missing {
        key,
        gateway: gateway.as_str(),
    })
}

/// `value` trimmed, with blank meaning absent.
pub(crate) fn optional(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Parses an `http`/`https` URL with a host.
pub(crate) fn http_url(key: &'static str, value: &str) -> Result<url::Url, ConfigError> {
    // The reason quotes the parser, not the value: the value may carry a key.
    let url = url::Url::parse(value).map_err(|e| invalid(key, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            key,
            format!("must be an http or https URL, not {}:", url.scheme()),
        ));
    }
    if url.host().is_none() {
        return Err(invalid(key, "the URL has no host"));
    }
    Ok(url)
}

pub(crate) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// A URL fit for logs: a password or a query string (where some gateways take
/// their API key) replaced by `redacted`.
pub(crate) fn redact_url(value: &str) -> String {
    let Ok(mut url) = url::Url::parse(value) else {
        return "<not a URL>".to_owned();
    };
    if url.password().is_some() {
        // Only fails for URLs that cannot have credentials, which `password()` rules out.
        let _ = url.set_password(Some("redacted"));
    }
    if url.query().is_some() {
        url.set_query(Some("redacted"));
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_outbox_and_documented_numbers() {
        let c = SmsConfig::default();
        assert_eq!(c.gateway, GatewayKind::Outbox);
        assert_eq!(
            (
                c.timeout_secs,
                c.max_attempts,
                c.backoff_first_secs,
                c.backoff_max_secs
            ),
            (10, 8, 2, 600)
        );
        assert_eq!(c.check(), Ok(()));
    }

    #[test]
    fn check_names_the_bad_key() {
        let bad = |f: fn(&mut SmsConfig)| {
            let mut c = SmsConfig::default();
            f(&mut c);
            c.check().err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(bad(|c| c.timeout_secs = 0).starts_with("sms.timeout_secs"));
        assert!(bad(|c| c.max_attempts = 0).starts_with("sms.max_attempts"));
        assert!(bad(|c| c.backoff_first_secs = 0).starts_with("sms.backoff_first_secs"));
        assert!(bad(|c| c.backoff_max_secs = 1).starts_with("sms.backoff_max_secs"));
    }

    #[test]
    fn blank_counts_as_missing() {
        assert_eq!(optional(Some("  ")), None);
        assert_eq!(optional(Some(" x ")), Some("x"));
        assert_eq!(
            required(Some(""), "sms.http.url", GatewayKind::Http)
                .err()
                .map(|e| e.to_string()),
            Some("sms.http.url is required when sms.gateway = \"http\"".to_owned())
        );
    }

    #[test]
    fn urls_in_logs_lose_passwords_and_queries() {
        assert_eq!(
            redact_url("https://u:secret@sms.example/send?key=secret"),
            "https://u:redacted@sms.example/send?redacted"
        );
        assert_eq!(
            redact_url("https://sms.example/send"),
            "https://sms.example/send"
        );
        assert_eq!(redact_url("secret"), "<not a URL>");
    }

    #[test]
    fn http_url_wants_http_and_a_host() {
        assert!(http_url("k", "https://sms.example/x").is_ok());
        assert!(http_url("k", "ftp://sms.example/x").is_err());
        assert!(http_url("k", "not a url").is_err());
        assert!(http_url("k", "http://").is_err());
    }
}
