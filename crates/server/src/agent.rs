//! The agent WebSocket (`/agent/ws`): one task per connection.
//!
//! The agent is known from the upgrade request (the console's session cookie or
//! a bearer token), so the server speaks first with `welcome`. The task reads
//! one frame at a time (presence, chat, end of service) and forwards what the
//! [`crate::desk::Desk`] pushes. A second connection of the same agent takes
//! over: the first is told `superseded` and closed.
//!
//! See `PROTOCOL.md`, "The agent protocol".

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::HeaderMap;
use axum::http::header::{HOST, ORIGIN};
use axum::response::{IntoResponse, Response};
use frontdesk_domain::rate::TokenBucket;
use frontdesk_protocol::ErrorCode;
use frontdesk_protocol::agent::{AgentClientMessage, AgentServerMessage};
use frontdesk_store::AccountRow;
use tokio::sync::mpsc;

use crate::AppState;
use crate::api::session_token;
use crate::customer::{check_chat, close_and_drain};
use crate::desk::Side;
use crate::error::ApiError;
use crate::secret::{LOGIN_PREFIX, token_hash};
use crate::time::now_ms;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// `GET /agent/ws`: checks the login, then upgrades to the agent protocol.
pub async fn upgrade(
    ws: WebSocketUpgrade,
    State(app): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Browsers send Origin on WebSocket upgrades; one from another site is a
    // page trying to act with the agent's cookie.
    if let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers
            .get(HOST)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
        if origin_host != host {
            return Err(ApiError::Forbidden(
                "WebSocket requests from other origins are refused".into(),
            ));
        }
    }
    let unauthorized =
        || ApiError::Unauthorized("log in first (session cookie or bearer token)".into());
    let token = session_token(&headers)
        .filter(|t| t.starts_with(LOGIN_PREFIX))
        .ok_or_else(unauthorized)?;
    let account = app
        .store
        .api_session(&token_hash(&token), now_ms())
        .await?
        .ok_or_else(unauthorized)?;
    let limits = &app.config.limits;
    Ok(ws
        .max_message_size(limits.max_frame_bytes as usize)
        .max_frame_size(limits.max_frame_bytes as usize)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_upgrade(move |socket| async move {
            let tasks = app.tasks.clone();
            let _ = tasks
                .spawn(AgentSession::new(app.clone(), socket, account).run())
                .await;
        })
        .into_response())
}

struct AgentSession {
    app: AppState,
    socket: WebSocket,
    account: AccountRow,
    conn: u64,
    bucket: TokenBucket,
}

impl AgentSession {
    fn new(app: AppState, socket: WebSocket, account: AccountRow) -> Self {
        let l = &app.config.limits;
        let bucket = TokenBucket::new(l.messages_per_sec, l.burst, Instant::now());
        Self {
            app,
            socket,
            account,
            conn: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
            bucket,
        }
    }

    async fn run(mut self) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let agent = self.account.id;
        tracing::info!(agent, user = %self.account.username, "agent connected");
        let welcome = self
            .app
            .desk
            .agent_attached(&self.account, self.conn, tx)
            .await;
        let idle = Duration::from_secs(u64::from(self.app.config.limits.idle_timeout_secs));
        let shutdown = self.app.shutdown.clone();
        let mut close = None;
        if self.send(&welcome).await.is_ok() {
            let mut deadline = tokio::time::Instant::now() + idle;
            close = loop {
                let frame = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => break Some((ErrorCode::ShuttingDown, close_code::AWAY)),
                    pushed = rx.recv() => match pushed {
                        Some(msg) => {
                            if self.send(&msg).await.is_err() {
                                break None;
                            }
                            continue;
                        }
                        // The desk dropped our channel: another connection took over.
                        None => break Some((ErrorCode::Superseded, close_code::POLICY)),
                    },
                    frame = tokio::time::timeout_at(deadline, self.socket.recv()) => frame,
                };
                deadline = tokio::time::Instant::now() + idle;
                let text = match frame {
                    Err(_) => break Some((ErrorCode::IdleTimeout, close_code::POLICY)),
                    Ok(None | Some(Err(_))) => break None,
                    Ok(Some(Ok(Message::Text(t)))) => t,
                    Ok(Some(Ok(Message::Close(_)))) => break None,
                    Ok(Some(Ok(Message::Binary(_)))) => {
                        self.refuse(
                            None,
                            None,
                            ErrorCode::BinaryNotSupported,
                            "send JSON text frames".into(),
                        )
                        .await;
                        continue;
                    }
                    Ok(Some(Ok(_))) => continue,
                };
                if self.frame(text.as_str()).await.is_err() {
                    break None;
                }
            };
        }
        if let Some((code, close_code)) = close {
            let _ = self
                .send(&AgentServerMessage::Error {
                    service: None,
                    id: None,
                    retry_after_ms: None,
                    error: code,
                    message: match code {
                        ErrorCode::Superseded => "you connected elsewhere".into(),
                        ErrorCode::IdleTimeout => "no message within the idle timeout".into(),
                        _ => "the server is restarting; reconnect".into(),
                    },
                })
                .await;
            close_and_drain(&mut self.socket, close_code, code).await;
        }
        self.app.desk.agent_detached(agent, self.conn);
        tracing::info!(agent, "agent disconnected");
    }

    /// Handles one text frame; `Err` when the socket is gone.
    async fn frame(&mut self, text: &str) -> Result<(), ()> {
        let max = self.app.config.limits.max_message_bytes as usize;
        let parsed = (text.len() <= max).then(|| AgentClientMessage::parse(text));
        if let Err(wait) = self.bucket.take(Instant::now()) {
            let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
            let (service, id) = match &parsed {
                Some(Ok(AgentClientMessage::Say { service, id, .. })) => {
                    (Some(service.clone()), Some(id.clone()))
                }
                _ => (None, None),
            };
            self.app.metrics.error(ErrorCode::RateLimited);
            let _ = self
                .send(&AgentServerMessage::Error {
                    service,
                    id,
                    error: ErrorCode::RateLimited,
                    message: format!("too many messages; not applied: send it again in {ms} ms"),
                    retry_after_ms: Some(ms),
                })
                .await;
            return Ok(());
        }
        let Some(parsed) = parsed else {
            self.refuse(
                None,
                None,
                ErrorCode::MessageTooLarge,
                format!("message of {} bytes; the limit is {max}", text.len()),
            )
            .await;
            return Ok(());
        };
        let msg = match parsed {
            Ok(m) => m,
            Err((code, message)) => {
                self.refuse(None, None, code, message).await;
                return Ok(());
            }
        };
        let agent = self.account.id;
        match msg {
            AgentClientMessage::Ping { nonce } => {
                self.send(&AgentServerMessage::Pong { nonce }).await
            }
            AgentClientMessage::Presence { state } => {
                let capacity = self
                    .app
                    .store
                    .account(agent)
                    .await
                    .ok()
                    .flatten()
                    .map_or(self.account.chat_capacity, |a| a.chat_capacity);
                let now = self.app.desk.set_presence(agent, capacity, state).await;
                self.send(&AgentServerMessage::State {
                    state: now.as_str().to_owned(),
                    reply: true,
                })
                .await
            }
            AgentClientMessage::EndService { service } => {
                if self.app.desk.end_service(agent, &service).await.is_err() {
                    self.not_yours(service, None).await;
                }
                Ok(())
            }
            AgentClientMessage::Say { service, id, text } => self.say(service, id, text).await,
            AgentClientMessage::SendCard { service } => self.send_card(service).await,
        }
    }

    /// "Send my card": the customer of this open service gets the agent's link.
    async fn send_card(&mut self, service: String) -> Result<(), ()> {
        let Ok(ended) = self.app.desk.card_for(self.account.id, &service) else {
            self.not_yours(service, None).await;
            return Ok(());
        };
        match self.app.cards.issue(&ended, "button").await {
            Ok(issued) => {
                self.send(&AgentServerMessage::CardSent {
                    service,
                    sms: issued.sms.id,
                    status: issued.sms.status,
                    duplicate: issued.duplicate,
                })
                .await
            }
            Err(e) => {
                tracing::error!(service = %service, error = %e, "could not issue a card");
                self.refuse(
                    Some(service),
                    None,
                    ErrorCode::Internal,
                    "could not send the card; try again".into(),
                )
                .await;
                Ok(())
            }
        }
    }

    async fn say(&mut self, service: String, id: String, text: String) -> Result<(), ()> {
        if let Err(problem) = check_chat(&id, &text) {
            self.refuse(Some(service), Some(id), ErrorCode::InvalidMessage, problem)
                .await;
            return Ok(());
        }
        let Ok(live) = self.app.desk.service_for(self.account.id, &service) else {
            self.not_yours(service, Some(id)).await;
            return Ok(());
        };
        match self.app.desk.say(&live, Side::Agent, &id, &text).await {
            Ok(stored) => {
                self.send(&AgentServerMessage::Said {
                    service: live.id.clone(),
                    id,
                    seq: stored.row.seq,
                    at_ms: stored.row.at,
                    duplicate: stored.duplicate,
                })
                .await
            }
            Err(e) => {
                tracing::error!(service = %live.id, error = %e, "could not store a chat message");
                self.refuse(
                    Some(service),
                    Some(id),
                    ErrorCode::Internal,
                    "could not store this message; send it again".into(),
                )
                .await;
                Ok(())
            }
        }
    }

    async fn not_yours(&mut self, service: String, id: Option<String>) {
        self.refuse(
            Some(service),
            id,
            ErrorCode::NotYourCustomer,
            "that service is not yours, or it is over".into(),
        )
        .await;
    }

    async fn refuse(
        &mut self,
        service: Option<String>,
        id: Option<String>,
        error: ErrorCode,
        message: String,
    ) {
        self.app.metrics.error(error);
        let _ = self
            .send(&AgentServerMessage::Error {
                service,
                id,
                error,
                message,
                retry_after_ms: None,
            })
            .await;
    }

    async fn send(&mut self, msg: &AgentServerMessage) -> Result<(), ()> {
        let text = serde_json::to_string(msg).map_err(|e| {
            tracing::error!(error = %e, "could not encode an agent message");
        })?;
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| ())
    }
}
