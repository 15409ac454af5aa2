//! Client SDK for frontdesk.
//!
//! - [`CustomerClient`]: a customer's consultation over the WebSocket. It numbers
//!   requests, keeps every unacknowledged one in an outbox, and after a dropped
//!   connection resumes the consultation and resends what the server had not
//!   applied, so a flaky network never loses or doubles a choice.
//! - [`ApiClient`]: the REST API (login, menus, service records).
//! - [`Connection`]: the raw socket, for tests that speak the protocol by hand.
//!
//! The terminal client, the integration tests and the load generator all use this
//! crate, so the protocol is exercised the same way everywhere.

use std::collections::VecDeque;
use std::time::Duration;

use frontdesk_protocol::rest::{
    CustomerInfo, CustomerUpdate, CustomersImported, LoginRequest, LoginResponse, MenuImported,
    ServiceRecord,
};
use frontdesk_protocol::{ClientMessage, Content, ErrorCode, Notice, Screen, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What can go wrong for a client.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not usable.
    #[error("bad server URL '{0}'")]
    Url(String),
    /// The connection failed or broke.
    #[error("connection: {0}")]
    Connection(#[from] tokio_tungstenite::tungstenite::Error),
    /// The server refused something, with its error code.
    #[error("{code}: {message}")]
    Server {
        /// Stable code.
        code: ErrorCode,
        /// Explanation.
        message: String,
    },
    /// The server said something that does not fit the protocol.
    #[error("protocol: {0}")]
    Protocol(String),
    /// The connection closed.
    #[error("the connection closed")]
    Closed,
    /// An HTTP request failed.
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// Waited too long.
    #[error("timed out waiting for the server")]
    Timeout,
}

impl ClientError {
    /// The server's error code, if this is a server refusal.
    #[must_use]
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Server { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// True when reconnecting may help (the connection broke, or the server restarts).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClientError::Connection(_) | ClientError::Closed | ClientError::Timeout
        ) || matches!(
            self.code(),
            Some(ErrorCode::ShuttingDown | ErrorCode::IdleTimeout)
        )
    }
}

/// Shorthand.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// Turns `http://host:port`, `ws://host:port` or either with `/ws` into the socket URL.
///
/// # Errors
/// [`ClientError::Url`] when it is not an http(s) or ws(s) URL.
pub fn ws_url(base: &str) -> Result<String> {
    let mut url = url::Url::parse(base).map_err(|_| ClientError::Url(base.to_owned()))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "ws",
        "https" | "wss" => "wss",
        _ => return Err(ClientError::Url(base.to_owned())),
    };
    url.set_scheme(scheme)
        .map_err(|()| ClientError::Url(base.to_owned()))?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path("/ws");
    }
    Ok(url.to_string())
}

/// Turns any of the forms [`ws_url`] takes into the HTTP base URL (no trailing `/`).
///
/// # Errors
/// [`ClientError::Url`] when it is not an http(s) or ws(s) URL.
pub fn http_url(base: &str) -> Result<String> {
    let mut url = url::Url::parse(base).map_err(|_| ClientError::Url(base.to_owned()))?;
    let scheme = match url.scheme() {
        "http" | "ws" => "http",
        "https" | "wss" => "https",
        _ => return Err(ClientError::Url(base.to_owned())),
    };
    url.set_scheme(scheme)
        .map_err(|()| ClientError::Url(base.to_owned()))?;
    url.set_path("");
    Ok(url.to_string().trim_end_matches('/').to_owned())
}

/// A raw protocol connection: typed send and receive, nothing else.
#[derive(Debug)]
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Connection {
    /// Opens the customer socket of the server at `base`.
    ///
    /// # Errors
    /// When the URL is bad or the connection fails.
    pub async fn open(base: &str) -> Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url(base)?).await?;
        Ok(Self { ws })
    }

    /// Sends a message.
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn send(&mut self, msg: &ClientMessage) -> Result<()> {
        let text = serde_json::to_string(msg).map_err(|e| ClientError::Protocol(e.to_string()))?;
        self.send_text(&text).await
    }

    /// Sends any text frame (tests send malformed ones).
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        Ok(self.ws.send(Message::Text(text.into())).await?)
    }

    /// Sends a binary frame (tests check it is refused).
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        Ok(self.ws.send(Message::Binary(bytes.into())).await?)
    }

    /// The next server message, skipping WebSocket control frames.
    ///
    /// # Errors
    /// [`ClientError::Closed`] when the server closed the connection.
    pub async fn recv(&mut self) -> Result<ServerMessage> {
        loop {
            match self.ws.next().await {
                None | Some(Ok(Message::Close(_))) => return Err(ClientError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(t.as_str())
                        .map_err(|e| ClientError::Protocol(format!("{e}: {}", t.as_str())));
                }
                Some(Ok(_)) => {}
            }
        }
    }

    /// Like [`Connection::recv`] but gives up after `within`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing came.
    pub async fn recv_within(&mut self, within: Duration) -> Result<ServerMessage> {
        tokio::time::timeout(within, self.recv())
            .await
            .map_err(|_| ClientError::Timeout)?
    }

    /// The close frame's code, after the server closed (reads until it does).
    pub async fn close_code(&mut self) -> Option<u16> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                None | Some(Err(_)) => return None,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Drops the TCP connection without a close handshake, as a lost network would.
    pub fn drop_abruptly(self) {
        drop(self.ws);
    }
}

/// What the server answered to a menu request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The screen now shown.
    pub screen: Screen,
    /// Content served, if any.
    pub content: Option<Content>,
    /// A notice, if any.
    pub notice: Option<Notice>,
    /// The request was a resend and changed nothing.
    pub duplicate: bool,
}

/// A customer's consultation, surviving dropped connections.
#[derive(Debug)]
pub struct CustomerClient {
    base: String,
    conn: Option<Connection>,
    /// The consultation id.
    pub consultation: String,
    resume_token: String,
    /// The menu version in use.
    pub menu_version: u32,
    /// The screen last shown.
    pub screen: Screen,
    next_req: u64,
    /// Requests sent and not yet acknowledged, oldest first.
    outbox: VecDeque<ClientMessage>,
    /// How long to wait for any one answer.
    pub timeout: Duration,
}

/// What the last request was, for [`CustomerClient::request`].
enum Action {
    Select(String),
    Back,
    Home,
    End,
}

impl CustomerClient {
    /// Starts a consultation as the customer with `phone`.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses (e.g. `invalid_phone`).
    pub async fn start(base: &str, phone: &str) -> Result<Self> {
        let mut conn = Connection::open(base).await?;
        conn.send(&ClientMessage::start(phone)).await?;
        let mut client = Self::detached(base, String::new());
        client.welcome(&mut conn).await?;
        client.conn = Some(conn);
        Ok(client)
    }

    /// A client with no connection yet.
    fn detached(base: &str, resume_token: String) -> Self {
        Self {
            base: base.to_owned(),
            conn: None,
            consultation: String::new(),
            resume_token,
            menu_version: 0,
            screen: Screen {
                menu: String::new(),
                title: String::new(),
                path: vec![],
                items: vec![],
            },
            next_req: 1,
            outbox: VecDeque::new(),
            timeout: Duration::from_secs(10),
        }
    }

    /// Resumes a consultation from its token (e.g. after the program restarted).
    ///
    /// # Errors
    /// When the server cannot be reached or the token is unknown or ended.
    pub async fn resume(base: &str, token: &str) -> Result<Self> {
        let mut client = Self::detached(base, token.to_owned());
        client.reconnect().await?;
        Ok(client)
    }

    /// The secret that resumes this consultation and reads its record.
    #[must_use]
    pub fn resume_token(&self) -> &str {
        &self.resume_token
    }

    /// Requests sent but not yet acknowledged.
    #[must_use]
    pub fn unacknowledged(&self) -> usize {
        self.outbox.len()
    }

    async fn welcome(&mut self, conn: &mut Connection) -> Result<()> {
        match conn.recv_within(self.timeout).await? {
            ServerMessage::Welcome {
                consultation,
                resume_token,
                menu_version,
                last_req,
                screen,
                ..
            } => {
                self.consultation = consultation;
                self.resume_token = resume_token;
                self.menu_version = menu_version;
                self.screen = screen;
                self.next_req = self.next_req.max(last_req + 1);
                // Whatever the server applied is done; the rest is resent in order.
                self.outbox
                    .retain(|m| m.req().is_some_and(|r| r > last_req));
                Ok(())
            }
            ServerMessage::Error { error, message, .. } => Err(ClientError::Server {
                code: error,
                message,
            }),
            other => Err(ClientError::Protocol(format!(
                "expected welcome, got {other:?}"
            ))),
        }
    }

    /// Opens a new connection, resumes, and resends every unacknowledged request.
    ///
    /// # Errors
    /// When the server cannot be reached or refuses the resume.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.conn = None;
        let mut conn = Connection::open(&self.base).await?;
        conn.send(&ClientMessage::resume(&self.resume_token))
            .await?;
        self.welcome(&mut conn).await?;
        for m in &self.outbox {
            conn.send(m).await?;
        }
        self.conn = Some(conn);
        Ok(())
    }

    /// Drops the connection abruptly (for tests of reconnecting).
    pub fn drop_connection(&mut self) {
        if let Some(c) = self.conn.take() {
            c.drop_abruptly();
        }
    }

    /// Chooses an item on the current screen.
    ///
    /// # Errors
    /// [`ClientError::Server`] when refused (`unknown_item`, `item_not_on_screen`, …).
    pub async fn select(&mut self, item: &str) -> Result<Reply> {
        self.request(Action::Select(item.to_owned()))
            .await
            .map(|(r, _)| r)
    }

    /// Goes up one level.
    ///
    /// # Errors
    /// When refused or the server cannot be reached.
    pub async fn back(&mut self) -> Result<Reply> {
        self.request(Action::Back).await.map(|(r, _)| r)
    }

    /// Goes to the top menu.
    ///
    /// # Errors
    /// When refused or the server cannot be reached.
    pub async fn home(&mut self) -> Result<Reply> {
        self.request(Action::Home).await.map(|(r, _)| r)
    }

    /// Ends the consultation; returns how many items its record holds.
    ///
    /// # Errors
    /// When refused or the server cannot be reached.
    pub async fn end(&mut self) -> Result<u32> {
        let (_, items) = self.request(Action::End).await?;
        Ok(items.unwrap_or(0))
    }

    /// Sends a request and waits until it is answered *and* acknowledged,
    /// reconnecting (a few times, with back-off) if the connection breaks.
    async fn request(&mut self, action: Action) -> Result<(Reply, Option<u32>)> {
        let mut rate_limit_retries = 0;
        loop {
            let req = self.next_req;
            self.next_req += 1;
            let msg = match &action {
                Action::Select(item) => ClientMessage::Select {
                    req,
                    item: item.clone(),
                },
                Action::Back => ClientMessage::Back { req },
                Action::Home => ClientMessage::Home { req },
                Action::End => ClientMessage::End { req },
            };
            self.outbox.push_back(msg.clone());
            match self.send_and_wait(&msg, req).await {
                Err(ClientError::Server {
                    code: ErrorCode::RateLimited,
                    ..
                }) if rate_limit_retries < 20 => {
                    // Refused unapplied; re-issue under a new number after the wait.
                    rate_limit_retries += 1;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => return other,
            }
        }
    }

    async fn send_and_wait(
        &mut self,
        msg: &ClientMessage,
        req: u64,
    ) -> Result<(Reply, Option<u32>)> {
        let mut attempts = 0u32;
        let mut sent = false;
        loop {
            let result = self.exchange(msg, req, sent).await;
            match result {
                Err(e) if e.is_transient() && attempts < 6 => {
                    attempts += 1;
                    tracing::debug!(error = %e, attempts, "connection lost; resuming");
                    tokio::time::sleep(Duration::from_millis(100 * (1 << attempts.min(5)))).await;
                    // A successful reconnect resends the outbox, this request included.
                    sent = self.reconnect().await.is_ok();
                }
                other => {
                    self.outbox.retain(|m| m.req() != Some(req));
                    return other;
                }
            }
        }
    }

    /// One try: send (unless already resent by a reconnect) and read until the
    /// answer and the acknowledgement for `req` have both arrived.
    async fn exchange(
        &mut self,
        msg: &ClientMessage,
        req: u64,
        already_sent: bool,
    ) -> Result<(Reply, Option<u32>)> {
        let timeout = self.timeout;
        let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
        if !already_sent {
            conn.send(msg).await?;
        }
        let mut reply: Option<Reply> = None;
        let mut ended: Option<u32> = None;
        loop {
            match conn.recv_within(timeout).await? {
                ServerMessage::Screen {
                    req: r,
                    screen,
                    content,
                    notice,
                    duplicate,
                } if r == req => {
                    reply = Some(Reply {
                        screen,
                        content,
                        notice,
                        duplicate,
                    });
                }
                ServerMessage::Ended {
                    req: r,
                    items_recorded,
                    ..
                } if r == req => ended = Some(items_recorded),
                ServerMessage::Ack { req: r } if r == req => {
                    if let Some(items) = ended {
                        return Ok((self.screen_reply(), Some(items)));
                    }
                    let reply = reply.ok_or_else(|| {
                        ClientError::Protocol(format!("ack {req} before its answer"))
                    })?;
                    self.screen = reply.screen.clone();
                    return Ok((reply, None));
                }
                ServerMessage::Error {
                    req: Some(r),
                    error,
                    message,
                    ..
                } if r == req => {
                    return Err(ClientError::Server {
                        code: error,
                        message,
                    });
                }
                ServerMessage::Error {
                    req: None,
                    error,
                    message,
                    ..
                } => {
                    if matches!(
                        error,
                        ErrorCode::ShuttingDown | ErrorCode::IdleTimeout | ErrorCode::Superseded
                    ) {
                        return Err(ClientError::Server {
                            code: error,
                            message,
                        });
                    }
                    tracing::warn!(%error, %message, "server error");
                }
                // Answers to earlier requests resent after a reconnect, pongs: skip.
                _ => {}
            }
        }
    }

    fn screen_reply(&self) -> Reply {
        Reply {
            screen: self.screen.clone(),
            content: None,
            notice: None,
            duplicate: false,
        }
    }

    /// Sends a heartbeat and waits for its answer.
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn ping(&mut self) -> Result<()> {
        let timeout = self.timeout;
        let conn = self.conn.as_mut().ok_or(ClientError::Closed)?;
        conn.send(&ClientMessage::Ping { nonce: Some(7) }).await?;
        loop {
            if let ServerMessage::Pong { .. } = conn.recv_within(timeout).await? {
                return Ok(());
            }
        }
    }
}

/// The REST API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

impl ApiClient {
    /// A client for the server at `base` (any form [`http_url`] takes).
    ///
    /// # Errors
    /// [`ClientError::Url`] when the URL is bad.
    pub fn new(base: &str) -> Result<Self> {
        Ok(Self {
            base: http_url(base)?,
            http: reqwest::Client::new(),
            token: None,
        })
    }

    /// Uses `token` for authenticated calls.
    #[must_use]
    pub fn with_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    /// Logs in and keeps the token.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `unauthorized` on a wrong password.
    pub async fn login(&mut self, username: &str, password: &str) -> Result<LoginResponse> {
        let resp = self
            .http
            .post(format!("{}/api/login", self.base))
            .json(&LoginRequest {
                username: username.into(),
                password: password.into(),
            })
            .send()
            .await?;
        let login: LoginResponse = Self::json(resp).await?;
        self.token = Some(login.token.clone());
        Ok(login)
    }

    /// A request to `path`, with the token if there is one.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::GET, path)
    }

    /// A POST of `body` as `content_type`.
    fn post(&self, path: &str, content_type: &str, body: &str) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_owned())
    }

    /// Any call with a raw body, answering the status and the body as JSON.
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, serde_json::Value)> {
        let resp = self
            .request(method, path)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(body.to_owned())
            .send()
            .await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or_default()))
    }

    async fn json<T: serde::de::DeserializeOwned>(resp: reqwest::Response) -> Result<T> {
        if resp.status().is_success() {
            return Ok(resp.json().await?);
        }
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        let code = serde_json::from_value(body["error"].clone()).unwrap_or(ErrorCode::Internal);
        let mut message = body["message"]
            .as_str()
            .map_or_else(|| status.to_string(), str::to_owned);
        // A file that failed validation: its problems, one a line, like the CLI.
        let problems: Vec<frontdesk_protocol::Problem> =
            serde_json::from_value(body["problems"].clone()).unwrap_or_default();
        for p in problems {
            message.push_str("\n  ");
            message.push_str(&p.to_string());
        }
        Err(ClientError::Server { code, message })
    }

    /// A consultation's service record.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `not_found` or `unauthorized`.
    pub async fn service_record(&self, consultation: &str) -> Result<ServiceRecord> {
        Self::json(
            self.get(&format!("/api/consultations/{consultation}"))
                .send()
                .await?,
        )
        .await
    }

    /// Imports a menu file.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_menu` and the problems in the message.
    pub async fn import_menu(&self, toml: &str) -> Result<MenuImported> {
        Self::json(
            self.post("/api/menus", "application/toml", toml)
                .send()
                .await?,
        )
        .await
    }

    /// Imports customers from a CSV file (`docs/tiers.md`).
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_request` and every bad row in the message.
    pub async fn import_customers(&self, csv: &str) -> Result<CustomersImported> {
        Self::json(
            self.post("/api/customers/import", "text/csv", csv)
                .send()
                .await?,
        )
        .await
    }

    /// One customer and their tier, by phone number.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `not_found` when there is no such customer.
    pub async fn customer(&self, phone: &str) -> Result<CustomerInfo> {
        Self::json(
            self.get(&format!("/api/customers/{}", encode(phone)))
                .send()
                .await?,
        )
        .await
    }

    /// Customers, optionally of one tier, by phone number.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_request` for an unknown tier.
    pub async fn customers(&self, tier: Option<&str>, limit: u32) -> Result<Vec<CustomerInfo>> {
        let mut rb = self
            .get("/api/customers")
            .query(&[("limit", limit.to_string())]);
        if let Some(t) = tier {
            rb = rb.query(&[("tier", t)]);
        }
        Self::json(rb.send().await?).await
    }

    /// Creates or replaces a customer's facts; answers the customer with their new tier.
    ///
    /// # Errors
    /// [`ClientError::Server`] with `invalid_request` and every problem in the message.
    pub async fn update_customer(
        &self,
        phone: &str,
        update: &CustomerUpdate,
    ) -> Result<CustomerInfo> {
        let path = format!("/api/customers/{}", encode(phone));
        Self::json(
            self.request(reqwest::Method::PUT, &path)
                .json(update)
                .send()
                .await?,
        )
        .await
    }

    /// Any PUT with a raw body, returning the status and the body as JSON.
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn put_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, serde_json::Value)> {
        self.raw(reqwest::Method::PUT, path, content_type, body)
            .await
    }

    /// Any POST with a raw body, returning the status and the body as JSON.
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, serde_json::Value)> {
        self.raw(reqwest::Method::POST, path, content_type, body)
            .await
    }

    /// Any GET, returning the status and the body as text (e.g. `/metrics`).
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn get_text(&self, path: &str) -> Result<(u16, String)> {
        let resp = self.get(path).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.text().await?))
    }

    /// Any GET, returning the status and the body as JSON (for tests and tools).
    ///
    /// # Errors
    /// When the request fails to be sent.
    pub async fn get_json(&self, path: &str) -> Result<(u16, serde_json::Value)> {
        let resp = self.get(path).send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or_default()))
    }
}

/// A phone number as one path segment: `+`, spaces and brackets are escaped.
fn encode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes())
        .collect::<String>()
        // form encoding writes a space as `+`; in a path that would be a literal `+`.
        .replace('+', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_any_common_form() {
        assert_eq!(
            ws_url("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/ws"
        );
        assert_eq!(
            ws_url("https://desk.example.com/").unwrap(),
            "wss://desk.example.com/ws"
        );
        assert_eq!(ws_url("ws://h:1/ws").unwrap(), "ws://h:1/ws");
        assert_eq!(http_url("ws://h:1/ws").unwrap(), "http://h:1");
        assert!(ws_url("ftp://h").is_err());
        assert!(ws_url("not a url").is_err());
    }
}
