//! The raw sockets: typed send and receive of one protocol's messages, nothing
//! else. One generic [`Socket`] serves both protocols: [`Connection`] speaks the
//! customer protocol on `/ws`, [`AgentConnection`] the agent protocol on
//! `/agent/ws`.

use std::marker::PhantomData;
use std::time::Duration;

use frontdesk_protocol::agent::{AgentClientMessage, AgentServerMessage};
use frontdesk_protocol::{ClientMessage, ErrorBody, ErrorCode, ServerMessage};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::{ClientError, Result};

/// Turns `http://host:port`, `ws://host:port` or either with `/ws` into the socket URL.
///
/// # Errors
/// [`ClientError::Url`] when it is not an http(s) or ws(s) URL.
pub fn ws_url(base: &str) -> Result<String> {
    let mut url = with_scheme(base, "ws", "wss")?;
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
    let mut url = with_scheme(base, "http", "https")?;
    url.set_path("");
    Ok(url.to_string().trim_end_matches('/').to_owned())
}

/// The agent socket URL (`ws(s)://host:port/agent/ws`) of a server given in any
/// form [`ws_url`] takes. Any path of `base` is replaced.
///
/// # Errors
/// [`ClientError::Url`] when it is not an http(s) or ws(s) URL.
pub fn agent_ws_url(base: &str) -> Result<String> {
    let mut url = with_scheme(base, "ws", "wss")?;
    url.set_path("/agent/ws");
    Ok(url.to_string())
}

/// `base` parsed, its scheme made `plain` (for http or ws) or `secure` (for
/// https or wss).
fn with_scheme(base: &str, plain: &str, secure: &str) -> Result<url::Url> {
    let bad = || ClientError::Url(base.to_owned());
    let mut url = url::Url::parse(base).map_err(|_| bad())?;
    let scheme = match url.scheme() {
        "http" | "ws" => plain,
        "https" | "wss" => secure,
        _ => return Err(bad()),
    };
    url.set_scheme(scheme).map_err(|()| bad())?;
    Ok(url)
}

/// One WebSocket carrying one protocol's JSON messages: `Out` is what this side
/// sends, `In` what it receives. Typed send and receive, nothing else: reconnecting,
/// outboxes and events are the clients' business.
///
/// Both protocols' raw sockets are this type ([`Connection`], [`AgentConnection`]);
/// only opening them differs (the agent's upgrade carries a login).
#[derive(Debug)]
pub struct Socket<Out, In> {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// `fn(Out) -> In`: the socket holds no message, so it is `Send` and `Sync`
    /// whatever the message types are.
    protocol: PhantomData<fn(Out) -> In>,
}

/// A raw customer protocol connection (`/ws`).
pub type Connection = Socket<ClientMessage, ServerMessage>;

/// A raw agent protocol connection (`/agent/ws`).
pub type AgentConnection = Socket<AgentClientMessage, AgentServerMessage>;

impl<Out: Serialize, In: DeserializeOwned> Socket<Out, In> {
    fn new(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            ws,
            protocol: PhantomData,
        }
    }

    /// Sends a message.
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn send(&mut self, msg: &Out) -> Result<()> {
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

    /// The next message, skipping WebSocket control frames. Cancel-safe: a frame
    /// half read stays in the stream's buffer.
    ///
    /// # Errors
    /// [`ClientError::Closed`] when the server closed the connection.
    pub async fn recv(&mut self) -> Result<In> {
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

    /// Like [`Socket::recv`] but gives up after `within`.
    ///
    /// # Errors
    /// [`ClientError::Timeout`] when nothing came.
    pub async fn recv_within(&mut self, within: Duration) -> Result<In> {
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
        drop(self);
    }
}

impl Connection {
    /// Opens the customer socket of the server at `base`.
    ///
    /// # Errors
    /// When the URL is bad or the connection fails.
    pub async fn open(base: &str) -> Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(ws_url(base)?).await?;
        Ok(Self::new(ws))
    }

    /// Sends a binary frame (tests check it is refused).
    ///
    /// # Errors
    /// When the connection is broken.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        Ok(self.ws.send(Message::Binary(bytes.into())).await?)
    }
}

impl AgentConnection {
    /// Opens the agent socket of the server at `base`, logged in with `token`
    /// (`Authorization: Bearer`, from [`crate::ApiClient::login`]); `None` sends no
    /// credentials, for tests of the refusal. The server speaks first: read the
    /// `welcome` with [`Socket::recv`].
    ///
    /// # Errors
    /// [`ClientError::Server`] with `unauthorized` or `forbidden` when the server
    /// refuses the upgrade (the code from its error body, else from the HTTP
    /// status); other errors when the URL is bad or the connection fails.
    pub async fn open(base: &str, token: Option<&str>) -> Result<Self> {
        let mut request = agent_ws_url(base)?.into_client_request()?;
        if let Some(token) = token {
            let value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| ClientError::Protocol("the token is not a valid header".into()))?;
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Self::new(ws)),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(refused_upgrade(
                resp.status().as_u16(),
                resp.body().as_deref(),
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// The error for an upgrade the server answered with an HTTP error: its code
/// from the body when it is the shared error shape, else one from the status.
fn refused_upgrade(status: u16, body: Option<&[u8]>) -> ClientError {
    if let Some(parsed) = body.and_then(|b| serde_json::from_slice::<ErrorBody>(b).ok()) {
        return ClientError::Server {
            code: parsed.error,
            message: parsed.message,
        };
    }
    let code = match status {
        401 => ErrorCode::Unauthorized,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        429 => ErrorCode::TooManyRequests,
        _ => ErrorCode::Internal,
    };
    ClientError::Server {
        code,
        message: format!("the server refused the agent connection (HTTP {status})"),
    }
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

    #[test]
    fn agent_urls_replace_any_path() {
        assert_eq!(
            agent_ws_url("http://127.0.0.1:8080").unwrap(),
            "ws://127.0.0.1:8080/agent/ws"
        );
        assert_eq!(agent_ws_url("ws://h:1/ws").unwrap(), "ws://h:1/agent/ws");
        assert_eq!(
            agent_ws_url("https://desk.example.com/agent").unwrap(),
            "wss://desk.example.com/agent/ws"
        );
        assert!(agent_ws_url("ftp://h").is_err());
    }

    #[test]
    fn refused_upgrades_keep_the_servers_code() {
        let body = br#"{"error":"unauthorized","message":"log in first"}"#;
        let e = refused_upgrade(401, Some(body));
        assert_eq!(e.code(), Some(ErrorCode::Unauthorized));
        assert!(e.to_string().contains("log in first"), "{e}");
        assert_eq!(
            refused_upgrade(403, Some(b"nope")).code(),
            Some(ErrorCode::Forbidden)
        );
        assert_eq!(
            refused_upgrade(401, None).code(),
            Some(ErrorCode::Unauthorized)
        );
        assert!(!refused_upgrade(401, None).is_transient());
    }
}
