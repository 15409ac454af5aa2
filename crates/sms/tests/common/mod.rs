//! A scripted SMS gateway on 127.0.0.1:0 that records every request: the senders
//! are tested over real HTTP, with no mock of the client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use frontdesk_sms::{Sms, SmsConfig};

/// One request as the gateway saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: Method,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    pub fn form(&self) -> Vec<(String, String)> {
        url::form_urlencoded::parse(&self.body)
            .into_owned()
            .collect()
    }
}

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    delay: Duration,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// Answers only after `delay` (the request is recorded at once).
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct Shared {
    recorded: Mutex<Vec<Recorded>>,
    script: Mutex<VecDeque<Reply>>,
}

/// The running gateway; stops when dropped.
pub struct Gateway {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Gateway {
    /// Starts a gateway that gives `replies` in order, then 500s.
    pub async fn start(replies: impl IntoIterator<Item = Reply>) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        shared.script.lock().unwrap().extend(replies);
        let app = Router::new()
            .fallback(answer)
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self { addr, shared, task })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.recorded.lock().unwrap().clone()
    }

    /// The one request the test expects.
    pub fn only_request(&self) -> Recorded {
        let mut all = self.requests();
        assert_eq!(all.len(), 1, "expected exactly one request: {all:?}");
        all.remove(0)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.recorded.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    });
    let reply = shared.script.lock().unwrap().pop_front();
    let Some(reply) = reply else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no scripted reply").into_response();
    };
    tokio::time::sleep(reply.delay).await;
    let mut response = (StatusCode::from_u16(reply.status).unwrap(), reply.body).into_response();
    for (name, value) in reply.headers {
        response.headers_mut().insert(name, value.parse().unwrap());
    }
    response
}

/// A message the tests send.
pub fn sms() -> Sms {
    Sms {
        id: 42,
        to: "+447700900123".into(),
        body: "Your agent is ready: café ☕ & more".into(),
    }
}

/// `[sms]` with a generic gateway at `url`.
pub fn http_config(url: String) -> SmsConfig {
    let mut config = SmsConfig {
        gateway: frontdesk_sms::GatewayKind::Http,
        ..SmsConfig::default()
    };
    config.http.url = Some(url);
    config.http.auth_header = Some("Authorization: Bearer s3cr3t-token".into());
    config
}

/// `[sms]` with Twilio at `base_url`, sending from a number.
pub fn twilio_config(base_url: String) -> SmsConfig {
    let mut config = SmsConfig {
        gateway: frontdesk_sms::GatewayKind::Twilio,
        ..SmsConfig::default()
    };
    config.twilio.account_sid = Some("AC0123456789abcdef0123456789abcdef".into());
    config.twilio.auth_token = Some("tw1l10-s3cr3t".into());
    config.twilio.from = Some("+15005550006".into());
    config.twilio.base_url = Some(base_url);
    config
}
