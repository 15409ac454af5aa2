//! What the HTTP and Twilio senders share: one client per sender, the status
//! classes, `Retry-After`, and reading a bounded answer.

use std::error::Error as _;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use crate::SendError;
use crate::config::ConfigError;

/// How much of an answer is read. Gateways answer with a few hundred bytes; the
/// cap keeps a misbehaving one (or a wrong URL serving a big page) from using memory.
const MAX_BODY: usize = 64 * 1024;

/// How much of an error body goes into a [`SendError`] message.
const EXCERPT_CHARS: usize = 200;

/// The client for one sender: connections are reused across messages.
///
/// The timeout covers the whole attempt (connect, send, answer), so a gateway that
/// accepts the connection and then stalls is a retryable failure after
/// `sms.timeout_secs`, not a worker stuck forever. Redirects are not followed: a
/// redirected `POST` becomes a `GET` on most servers, so a 3xx means a wrong URL.
pub(crate) fn client(timeout: Duration) -> Result<reqwest::Client, ConfigError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("frontdesk-sms/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ConfigError::Client(describe(&e)))
}

/// What a status code means for the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    Accepted,
    Retryable,
    Permanent,
}

/// 2xx accepted; 408, 429 and 5xx worth another try; everything else (other 4xx,
/// and 3xx, see [`client`]) final.
pub(crate) fn classify(status: StatusCode) -> Class {
    if status.is_success() {
        Class::Accepted
    } else if status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
    {
        Class::Retryable
    } else {
        Class::Permanent
    }
}

/// A gateway's answer, once its status line has arrived.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    /// At most [`MAX_BODY`] bytes; empty if the body could not be read.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as loose JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The start of the body, for error messages.
    pub fn excerpt(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        let mut out: String = text.chars().take(EXCERPT_CHARS).collect();
        if out.len() < text.len() {
            out.push('…');
        }
        out
    }
}

/// Sends `request` and reads the answer.
///
/// Only a failure before the status line is an error. A body that fails to arrive
/// afterwards is read as empty: after a 2xx the gateway has accepted the message,
/// and calling that a failure would make the worker send it twice.
pub(crate) async fn exchange(
    gateway: &'static str,
    request: reqwest::RequestBuilder,
) -> Result<Answer, SendError> {
    let mut response = request
        .send()
        .await
        .map_err(|e| transport_error(gateway, e))?;
    let status = response.status();
    let retry_after = retry_after(response.headers());
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_BODY {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                tracing::debug!(gateway, %status, error = %describe(&e), "answer body lost");
                body.clear();
                break;
            }
        }
    }
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// `Retry-After` in its seconds form. The HTTP-date form is ignored: it needs a
/// clock, gateways rarely send it, and the back-off covers the case.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A failure before any answer: timeout, refused or reset connection, DNS.
fn transport_error(gateway: &'static str, error: reqwest::Error) -> SendError {
    // The URL can carry a key in its query string: keep it out of messages.
    let error = error.without_url();
    let message = format!("{gateway}: {}", describe(&error));
    if error.is_builder() {
        // The request could not even be formed; the same message will fail the same way.
        SendError::Permanent { message }
    } else {
        SendError::Retryable {
            message,
            retry_after: None,
        }
    }
}

/// An error with its causes ("error sending request: … : Connection refused"):
/// reqwest's own message alone rarely says what went wrong.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_classes() {
        let class = |code: u16| StatusCode::from_u16(code).map(classify).ok();
        assert_eq!(class(200), Some(Class::Accepted));
        assert_eq!(class(201), Some(Class::Accepted));
        assert_eq!(class(202), Some(Class::Accepted));
        for code in [408, 429, 500, 502, 503, 504] {
            assert_eq!(class(code), Some(Class::Retryable), "{code}");
        }
        for code in [301, 302, 400, 401, 403, 404, 422] {
            assert_eq!(class(code), Some(Class::Permanent), "{code}");
        }
    }

    #[test]
    fn retry_after_in_seconds_only() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(
            RETRY_AFTER,
            reqwest::header::HeaderValue::from_static(" 7 "),
        );
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn excerpt_is_the_first_200_chars() {
        let answer = |body: &str| Answer {
            status: StatusCode::BAD_REQUEST,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        };
        assert_eq!(answer("  short \n").excerpt(), "short");
        let long = "é".repeat(300);
        let excerpt = answer(&long).excerpt();
        assert_eq!(excerpt.chars().count(), 201);
        assert!(excerpt.ends_with('…'));
    }
}
