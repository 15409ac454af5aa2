//! [`Twilio`]: Twilio Programmable Messaging, through its REST API.
//!
//! `POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`, HTTP basic
//! auth with the account SID and auth token, form-encoded `To`, `Body` and `From`
//! and/or `MessagingServiceSid`. A 201 answer is the new Message resource (`sid`,
//! `status`: `queued`, or `accepted` through a Messaging Service); an error is
//! `{"code": 21211, "message": "…", "more_info": "…", "status": 400}`.
//!
//! Twilio's message API takes no idempotency key, so unlike [`crate::HttpGateway`]
//! a crash between Twilio's answer and the server's record can send twice (see the
//! crate docs).

use std::fmt;

use async_trait::async_trait;

use crate::config::{self, ConfigError, GatewayKind, SmsConfig};
use crate::transport::{self, Class};
use crate::{SendError, Sent, Sms, SmsSender};

const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// Sends through Twilio (`sms.gateway = "twilio"`).
#[derive(Clone)]
pub struct Twilio {
    client: reqwest::Client,
    /// `…/2010-04-01/Accounts/{AccountSid}/Messages.json`, built once.
    messages_url: url::Url,
    account_sid: String,
    auth_token: String,
    from: Option<String>,
    messaging_service_sid: Option<String>,
}

impl Twilio {
    /// Makes the sender from `[sms.twilio]` and `sms.timeout_secs` (whatever
    /// `sms.gateway` says).
    ///
    /// # Errors
    /// [`ConfigError`] when the account SID or auth token is missing, neither
    /// `from` nor `messaging_service_sid` is set, or `base_url` is not an `http(s)` URL.
    pub fn from_config(config: &SmsConfig) -> Result<Self, ConfigError> {
        let t = &config.twilio;
        let kind = GatewayKind::Twilio;
        let account_sid =
            config::required(t.account_sid.as_deref(), "sms.twilio.account_sid", kind)?;
        let auth_token = config::required(t.auth_token.as_deref(), "sms.twilio.auth_token", kind)?;
        let from = config::optional(t.from.as_deref()).map(str::to_owned);
        let messaging_service_sid =
            config::optional(t.messaging_service_sid.as_deref()).map(str::to_owned);
        if from.is_none() && messaging_service_sid.is_none() {
            return Err(ConfigError::Missing {
                key: "sms.twilio.from or sms.twilio.messaging_service_sid",
                gateway: kind.as_str(),
            });
        }
        let base = config::optional(t.base_url.as_deref()).unwrap_or(DEFAULT_BASE_URL);
        let mut messages_url = config::http_url("sms.twilio.base_url", base)?;
        // Path segments, not string formatting: the SID is escaped, and a base URL
        // with or without a trailing slash (or a path prefix) both work.
        messages_url
            .path_segments_mut()
            .map_err(|()| config::invalid("sms.twilio.base_url", "cannot take a path"))?
            .pop_if_empty()
            .extend(["2010-04-01", "Accounts", account_sid, "Messages.json"]);
        Ok(Self {
            client: transport::client(config.timeout())?,
            messages_url,
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            from,
            messaging_service_sid,
        })
    }
}

impl fmt::Debug for Twilio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Twilio")
            .field(
                "messages_url",
                &config::redact_url(self.messages_url.as_str()),
            )
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .field("messaging_service_sid", &self.messaging_service_sid)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SmsSender for Twilio {
    fn kind(&self) -> &'static str {
        "twilio"
    }

    async fn send(&self, sms: &Sms) -> Result<Sent, SendError> {
        let mut form = vec![("To", sms.to.as_str()), ("Body", sms.body.as_str())];
        if let Some(from) = &self.from {
            form.push(("From", from));
        }
        if let Some(service) = &self.messaging_service_sid {
            form.push(("MessagingServiceSid", service));
        }
        let request = self
            .client
            .post(self.messages_url.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form);
        let result = transport::exchange("twilio", request)
            .await
            .and_then(|answer| judge(&answer));
        match &result {
            Ok(sent) => tracing::debug!(
                sms_id = sms.id,
                gateway = "twilio",
                sid = sent.provider_id.as_deref().unwrap_or(""),
                status = %sent.status,
                "sms accepted"
            ),
            Err(e) => {
                tracing::debug!(sms_id = sms.id, gateway = "twilio", error = %e, "sms attempt failed")
            }
        }
        result
    }
}

/// What Twilio's answer means for the message.
fn judge(answer: &transport::Answer) -> Result<Sent, SendError> {
    let json = answer.json();
    let text = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(serde_json::Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let class = transport::classify(answer.status);
    if class == Class::Accepted {
        return Ok(Sent {
            provider_id: text("sid"),
            // Only a body that could not be read lacks a status: Twilio said yes.
            status: text("status").unwrap_or_else(|| "accepted".to_owned()),
        });
    }
    let code = json
        .as_ref()
        .and_then(|j| j.get("code"))
        .and_then(serde_json::Value::as_i64);
    let message = match (code, text("message")) {
        (Some(code), Some(message)) => format!("twilio error {code}: {message}"),
        (Some(code), None) => format!("twilio error {code} (HTTP {})", answer.status),
        (None, _) => format!("twilio answered {}: {}", answer.status, answer.excerpt()),
    };
    Err(match class {
        Class::Retryable => SendError::Retryable {
            message,
            retry_after: answer.retry_after,
        },
        Class::Permanent | Class::Accepted => SendError::Permanent { message },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    fn judged(status: u16, body: &str) -> Result<Sent, SendError> {
        judge(&transport::Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn errors_quote_code_and_message() {
        let body = r#"{"code": 21211, "message": "The 'To' number +1 is not a valid phone number.", "status": 400}"#;
        assert_eq!(
            judged(400, body),
            Err(SendError::Permanent {
                message: "twilio error 21211: The 'To' number +1 is not a valid phone number."
                    .into()
            })
        );
        let busy = r#"{"code": 20429, "message": "Too Many Requests", "status": 429}"#;
        assert!(judged(429, busy).is_err_and(|e| e.is_retryable()));
        assert!(judged(502, "<html>bad gateway</html>").is_err_and(|e| {
            e.is_retryable()
                && e.to_string() == "twilio answered 502 Bad Gateway: <html>bad gateway</html>"
        }));
    }

    #[test]
    fn base_url_with_a_prefix_and_an_escaped_sid() -> Result<(), ConfigError> {
        let mut c = SmsConfig::default();
        c.twilio.account_sid = Some("AC 1/2".into());
        c.twilio.auth_token = Some("secret".into());
        c.twilio.from = Some("+15005550006".into());
        c.twilio.base_url = Some("http://127.0.0.1:9/twilio/".into());
        let t = Twilio::from_config(&c)?;
        assert_eq!(
            t.messages_url.as_str(),
            "http://127.0.0.1:9/twilio/2010-04-01/Accounts/AC%201%2F2/Messages.json"
        );
        assert!(!format!("{t:?}").contains("secret"));
        Ok(())
    }
}
