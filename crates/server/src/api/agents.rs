//! `/api/agents`, `/api/queue` and `/api/logout`: agent accounts and the live desk.

use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontdesk_protocol::ErrorBody;
use frontdesk_protocol::agent::QueueView;
use frontdesk_protocol::rest::{AgentSummary, NewAgent};

use super::{Admin, Caller, extract::ApiJson, session_token};
use crate::AppState;
use crate::error::ApiError;
use crate::secret::token_hash;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/agents", get(list_agents).post(add_agent))
        .route("/api/queue", get(queue))
        .route("/api/logout", post(logout))
}

/// Every agent and admin, with their live state.
#[utoipa::path(get, path = "/api/agents", security(("bearer" = [])), responses(
    (status = 200, body = [AgentSummary]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn list_agents(
    State(app): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<AgentSummary>>, ApiError> {
    let accounts = app.store.accounts().await?;
    Ok(Json(
        accounts
            .into_iter()
            .map(|a| AgentSummary {
                state: app.desk.agent_state(a.id).as_str().to_owned(),
                id: a.id,
                username: a.username,
                display_name: a.display_name,
                role: a.role,
                chat_capacity: a.chat_capacity,
            })
            .collect(),
    ))
}

/// Creates an agent account.
#[utoipa::path(post, path = "/api/agents", security(("bearer" = [])), request_body = NewAgent, responses(
    (status = 201, body = AgentSummary), (status = 409, body = ErrorBody, description = "the username exists"),
    (status = 422, body = ErrorBody)))]
pub(super) async fn add_agent(
    State(app): State<AppState>,
    Admin(admin): Admin,
    ApiJson(req): ApiJson<NewAgent>,
) -> Result<Response, ApiError> {
    let username = req.username.trim();
    if username.is_empty() || username.len() > 64 || username.chars().any(char::is_whitespace) {
        return Err(ApiError::Invalid(
            "username: 1 to 64 characters, no spaces".into(),
        ));
    }
    if req.display_name.trim().is_empty() {
        return Err(ApiError::Invalid("display_name is required".into()));
    }
    if req.password.chars().count() < 10 {
        return Err(ApiError::Invalid("password: at least 10 characters".into()));
    }
    let capacity = req
        .chat_capacity
        .unwrap_or(app.config.queue.default_chat_capacity);
    if !(1..=20).contains(&capacity) {
        return Err(ApiError::Invalid("chat_capacity: 1 to 20".into()));
    }
    let id = crate::create_account(
        app.store.as_ref(),
        username,
        req.display_name.trim(),
        "agent",
        &req.password,
    )
    .await
    .map_err(|e| match e.downcast::<frontdesk_store::StoreError>() {
        Ok(e) => ApiError::from(e),
        Err(e) => ApiError::Internal(e),
    })?;
    app.store.set_chat_capacity(id, capacity).await?;
    tracing::info!(admin = %admin.username, agent = username, "agent account created");
    Ok((
        StatusCode::CREATED,
        Json(AgentSummary {
            id,
            username: username.to_owned(),
            display_name: req.display_name.trim().to_owned(),
            role: "agent".into(),
            chat_capacity: capacity,
            state: "offline".into(),
        }),
    )
        .into_response())
}

/// The waiting queue now (the first 50) and agents by state.
#[utoipa::path(get, path = "/api/queue", security(("bearer" = [])), responses(
    (status = 200, body = QueueView), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub(super) async fn queue(
    State(app): State<AppState>,
    caller: Caller,
) -> Result<Json<QueueView>, ApiError> {
    match caller {
        Caller::Staff(_) => Ok(Json(app.desk.queue())),
        Caller::Customer { .. } => Err(ApiError::Forbidden("this needs a staff login".into())),
    }
}

/// Ends the login session (the cookie's, or the bearer token's).
#[utoipa::path(post, path = "/api/logout", responses((status = 204)))]
pub(super) async fn logout(
    State(app): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = session_token(&headers)
        && let Err(e) = app.store.delete_api_session(&token_hash(&token)).await
    {
        tracing::warn!(error = %e, "could not end a login session");
    }
    (
        StatusCode::NO_CONTENT,
        [(SET_COOKIE, super::clear_cookie())],
    )
        .into_response()
}
