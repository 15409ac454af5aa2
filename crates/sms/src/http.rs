//! [`HttpGateway`]: a generic JSON-over-HTTP gateway.
//!
//! The contract, for whoever writes the gateway (or an adapter in front of one):
//! - `POST <sms.http.url>` with `Content-Type: application/json` and the body
//!   `{"id": "42", "to": "+447700900123", "body": "…"}` (`id` as a string, so
//!   JavaScript gateways do not round it).
//! - the configured `sms.http.auth_header`, and
//!   `Idempotency-Key: frontdesk-sms-<id>`, the same on every attempt for one message.
//! - any 2xx means accepted; a JSON answer may give `"id"` or `"message_id"`
//!   (string or number) and `"status"`.
//! - 408, 409, 429 and 5xx mean "try later" (honouring `Retry-After: <seconds>`);
//!   any other status means the message will never go.

use std::fmt;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue};

use crate::config::{self, ConfigError, GatewayKind, SmsConfig};
use crate::transport::{self, Class};
use crate::{SendError, Sent, Sms, SmsSender};

/// Sends through a generic JSON gateway (`sms.gateway = "http"`).
#[derive(Clone)]
pub struct HttpGateway {
    client: reqwest::Client,
    url: url::Url,
    /// Marked sensitive, so reqwest's own logging leaves the value out too.
    auth: Option<(HeaderName, HeaderValue)>,
}

impl HttpGateway {
    /// Makes the sender from `[sms.http]` and `sms.timeout_secs` (whatever
    /// `sms.gateway` says).
    ///
    /// # Errors
    /// [`ConfigError`] when `sms.http.url` is missing or not an `http(s)` URL, or
    /// `sms.http.auth_header` is not a `Name: value` line.
    pub fn from_config(config: &SmsConfig) -> Result<Self, ConfigError> {
        let url = config::required(
            config.http.url.as_deref(),
            "sms.http.url",
            GatewayKind::Http,
        )?;
        let url = config::http_url("sms.http.url", url)?;
        let auth = config::optional(config.http.auth_header.as_deref())
            .map(parse_header_line)
            .transpose()?;
        Ok(Self {
            client: transport::client(config.timeout())?,
            url,
            auth,
        })
    }
}

impl fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpGateway")
            .field("url", &config::redact_url(self.url.as_str()))
            .field(
                "auth_header",
                &self
                    .auth
                    .as_ref()
                    .map(|(name, _)| format!("{name}: <redacted>")),
            )
            .finish_non_exhaustive()
    }
}

/// `"Name: value"` into a header. The messages never quote the value: it is the secret.
fn parse_header_line(line: &str) -> Result<(HeaderName, HeaderValue), ConfigError> {
    const KEY: &str = "sms.http.auth_header";
    let Some((name, value)) = line.split_once(':') else {
        return Err(config::invalid(
            KEY,
            "expected a header line \"Name: value\", e.g. \"Authorization: Bearer <token>\"; there is no ':'",
        ));
    };
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| config::invalid(KEY, format!("{:?} is not a header name", name.trim())))?;
    let value = value.trim();
    if value.is_empty() {
        return Err(config::invalid(
            KEY,
            format!("the {name} header has no value"),
        ));
    }
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        config::invalid(
            KEY,
            format!("the {name} header's value has characters a header cannot carry"),
        )
    })?;
    value.set_sensitive(true);
    Ok((name, value))
}

#[async_trait]
impl SmsSender for HttpGateway {
    fn kind(&self) -> &'static str {
        "http"
    }

    async fn send(&self, sms: &Sms) -> Result<Sent, SendError> {
        let payload = serde_json::json!({
            "id": sms.id.to_string(),
            "to": sms.to,
            "body": sms.body,
        });
        let mut request = self
            .client
            .post(self.url.clone())
            .header("Idempotency-Key", format!("frontdesk-sms-{}", sms.id))
            .json(&payload);
        if let Some((name, value)) = &self.auth {
            request = request.header(name.clone(), value.clone());
        }
        let result = transport::exchange("http gateway", request)
            .await
            .and_then(|answer| judge(&answer));
        match &result {
            Ok(sent) => {
                tracing::debug!(sms_id = sms.id, gateway = "http", status = %sent.status, "sms accepted")
            }
            Err(e) => {
                tracing::debug!(sms_id = sms.id, gateway = "http", error = %e, "sms attempt failed")
            }
        }
        result
    }
}

/// What an answer means for the message.
fn judge(answer: &transport::Answer) -> Result<Sent, SendError> {
    let message = || format!("gateway answered {}: {}", answer.status, answer.excerpt());
    let class = match transport::classify(answer.status) {
        // A 409 to a request with an Idempotency-Key means "the first request with
        // this key is still being processed" (IETF draft idempotency-key-header,
        // section 2.6): ask again later, when the gateway will know how it ended.
        Class::Permanent if answer.status == StatusCode::CONFLICT => Class::Retryable,
        class => class,
    };
    match class {
        Class::Accepted => Ok(accepted(answer)),
        Class::Retryable => Err(SendError::Retryable {
            message: message(),
            retry_after: answer.retry_after,
        }),
        Class::Permanent => Err(SendError::Permanent { message: message() }),
    }
}

/// A 2xx: the id and status from a JSON answer, if it has them.
fn accepted(answer: &transport::Answer) -> Sent {
    let json = answer.json();
    let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
    let provider_id = ["id", "message_id"]
        .into_iter()
        .filter_map(field)
        .find_map(|v| match v {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
    let status = field("status")
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("accepted")
        .to_owned();
    Sent {
        provider_id,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> transport::Answer {
        transport::Answer {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::IM_A_TEAPOT),
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn header_lines() {
        let ok = parse_header_line("X-Api-Key:  abc ").ok();
        assert_eq!(
            ok.as_ref().map(|(n, v)| (n.as_str(), v.as_bytes())),
            Some(("x-api-key", &b"abc"[..]))
        );
        assert!(ok.is_some_and(|(_, v)| v.is_sensitive()));
        for bad in [
            "Bearer abc",
            "Bad Name: abc",
            ": abc",
            "X-Api-Key:  ",
            "X: a\u{7f}b",
        ] {
            let e = parse_header_line(bad)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                e.starts_with("sms.http.auth_header is invalid"),
                "{bad}: {e}"
            );
            assert!(!e.contains("abc"), "the value leaked: {e}");
        }
    }

    #[test]
    fn accepted_reads_id_message_id_and_status() {
        let sent = |body| accepted(&answer(200, body));
        assert_eq!(
            sent(r#"{"id": "m-1", "status": "queued"}"#),
            Sent {
                provider_id: Some("m-1".into()),
                status: "queued".into()
            }
        );
        assert_eq!(
            sent(r#"{"message_id": 12345678901}"#).provider_id,
            Some("12345678901".into())
        );
        assert_eq!(
            sent(r#"{"id": null, "message_id": "b"}"#).provider_id,
            Some("b".into())
        );
        assert_eq!(
            sent("OK"),
            Sent {
                provider_id: None,
                status: "accepted".into()
            }
        );
        assert_eq!(sent("[1, 2]").status, "accepted");
    }

    #[test]
    fn conflict_means_later() {
        assert!(judge(&answer(409, "in progress")).is_err_and(|e| e.is_retryable()));
        assert!(judge(&answer(422, "bad")).is_err_and(|e| !e.is_retryable()));
    }
}
