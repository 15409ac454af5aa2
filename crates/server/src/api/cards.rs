//! After the service: the SMS log (`/api/sms`) and agents' profiles and photos
//! (`/api/agents/{id}/profile`, `/api/agents/{id}/photo`). An agent edits their own;
//! an admin anyone's.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use frontdesk_domain::profile::{self, PhotoError, ProfileText, Satisfaction};
use frontdesk_protocol::ErrorBody;
use frontdesk_protocol::rest::{AgentProfile, ProfileEdit, SmsEntry};
use frontdesk_store::AccountRow;
use frontdesk_store::cards::ProfileRow;
use serde::Deserialize;

use super::{Admin, Caller, extract::ApiJson, extract::ApiQuery, request_phone};
use crate::AppState;
use crate::error::ApiError;
use crate::time::now_ms;

/// The routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/sms", get(sms_log))
        .route(
            "/api/agents/{id}/profile",
            get(get_profile).put(put_profile),
        )
        .route(
            "/api/agents/{id}/photo",
            get(get_photo).put(put_photo).delete(delete_photo),
        )
}

/// `GET /api/sms` filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(super) struct SmsQuery {
    /// Only messages to this number (any common format).
    phone: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<u32>,
}

/// The SMS log: every agent link sent, with its delivery status, newest first.
/// With the `outbox` gateway (the default) this is the outbox.
#[utoipa::path(get, path = "/api/sms", params(SmsQuery), security(("bearer" = [])), responses(
    (status = 200, body = [SmsEntry]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 422, body = ErrorBody, description = "not a phone number")))]
pub(super) async fn sms_log(
    State(app): State<AppState>,
    _admin: Admin,
    ApiQuery(q): ApiQuery<SmsQuery>,
) -> Result<Json<Vec<SmsEntry>>, ApiError> {
    let phone = q
        .phone
        .as_deref()
        .map(|p| request_phone(&app, p))
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = app
        .store
        .sms_log(phone.as_ref().map(|p| p.as_str()), limit)
        .await?;
    Ok(Json(
        rows.into_iter().map(crate::cards::sms_entry).collect(),
    ))
}

/// The staff member calling, if they may change agent `id`'s profile.
fn editor(caller: Caller, id: i64) -> Result<AccountRow, ApiError> {
    match caller {
        Caller::Staff(a) if a.id == id || a.role == "admin" => Ok(a),
        Caller::Staff(_) => Err(ApiError::Forbidden(
            "agents change their own profile; admins anyone's".into(),
        )),
        Caller::Customer { .. } => Err(ApiError::Forbidden("this needs a staff login".into())),
    }
}

fn staff(caller: Caller) -> Result<AccountRow, ApiError> {
    match caller {
        Caller::Staff(a) => Ok(a),
        Caller::Customer { .. } => Err(ApiError::Forbidden("this needs a staff login".into())),
    }
}

fn profile_body(p: ProfileRow) -> AgentProfile {
    let score = Satisfaction {
        sum: p.rating_sum,
        count: p.rating_count,
    };
    AgentProfile {
        id: p.agent_id,
        username: p.username,
        display_name: p.display_name,
        slogan: p.slogan,
        contact_phone: p.contact_phone,
        has_photo: p.photo_at.is_some(),
        served: p.served,
        satisfaction: score.mean(),
        ratings: p.rating_count,
    }
}

async fn profile_of(app: &AppState, id: i64) -> Result<AgentProfile, ApiError> {
    app.store
        .profile(id)
        .await?
        .map(profile_body)
        .ok_or_else(|| ApiError::NotFound(format!("no agent {id}")))
}

/// An agent's page facts: slogan, contact number, satisfaction, service record.
#[utoipa::path(get, path = "/api/agents/{id}/profile", security(("bearer" = [])), responses(
    (status = 200, body = AgentProfile), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)))]
pub(super) async fn get_profile(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AgentProfile>, ApiError> {
    staff(caller)?;
    Ok(Json(profile_of(&app, id).await?))
}

/// Sets an agent's slogan and contact number (their own, or anyone's for an admin).
#[utoipa::path(put, path = "/api/agents/{id}/profile", security(("bearer" = [])), request_body = ProfileEdit,
    responses((status = 200, body = AgentProfile), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "slogan too long or not one line; not a phone number")))]
pub(super) async fn put_profile(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    ApiJson(edit): ApiJson<ProfileEdit>,
) -> Result<Json<AgentProfile>, ApiError> {
    let by = editor(caller, id)?;
    let text = ProfileText::parse(&edit.slogan, &edit.contact_phone, app.region)
        .map_err(|e| ApiError::Invalid(e.to_string()))?;
    let contact = text.contact.as_ref().map(|p| p.as_str());
    if !app
        .store
        .set_profile(id, &text.slogan, contact, now_ms())
        .await?
    {
        return Err(ApiError::NotFound(format!("no agent {id}")));
    }
    tracing::info!(agent = id, by = %by.username, "profile changed");
    Ok(Json(profile_of(&app, id).await?))
}

/// An agent's photo, or the drawn default (SVG) without one.
#[utoipa::path(get, path = "/api/agents/{id}/photo", security(("bearer" = [])), responses(
    (status = 200, description = "the image"), (status = 401, body = ErrorBody), (status = 404)))]
pub(super) async fn get_photo(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    staff(caller)?;
    Ok(crate::cards::page::photo_of(&app, id).await)
}

/// Uploads an agent's photo: the raw image as the body (PNG, JPEG, WebP or GIF,
/// known by its bytes; at most 512 KiB).
#[utoipa::path(put, path = "/api/agents/{id}/photo", security(("bearer" = [])),
    request_body(description = "the image", content((Vec<u8> = "image/*"))),
    responses((status = 200, body = AgentProfile), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "over 512 KiB"),
              (status = 415, body = ErrorBody, description = "not a PNG, JPEG, WebP or GIF image")))]
pub(super) async fn put_photo(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    body: Body,
) -> Result<Response, ApiError> {
    let by = editor(caller, id)?;
    let data = axum::body::to_bytes(body, profile::PHOTO_MAX_BYTES + 1)
        .await
        .map_err(|_| too_large())?;
    let kind = match profile::check_photo(&data) {
        Ok(kind) => kind,
        Err(PhotoError::TooLarge(_)) => return Err(too_large()),
        Err(e @ PhotoError::NotAnImage) => {
            return Ok((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Json(ErrorBody {
                    error: frontdesk_protocol::ErrorCode::InvalidRequest,
                    message: e.to_string(),
                    problems: Vec::new(),
                }),
            )
                .into_response());
        }
    };
    if !app
        .store
        .set_photo(id, Some((&data, kind.content_type())), now_ms())
        .await?
    {
        return Err(ApiError::NotFound(format!("no agent {id}")));
    }
    tracing::info!(agent = id, by = %by.username, bytes = data.len(), "photo changed");
    Ok(Json(profile_of(&app, id).await?).into_response())
}

fn too_large() -> ApiError {
    ApiError::TooLarge(format!(
        "a photo may be at most {} KiB",
        profile::PHOTO_MAX_BYTES / 1024
    ))
}

/// Removes an agent's photo (the drawn default shows again).
#[utoipa::path(delete, path = "/api/agents/{id}/photo", security(("bearer" = [])), responses(
    (status = 200, body = AgentProfile), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
    (status = 404, body = ErrorBody)))]
pub(super) async fn delete_photo(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
) -> Result<Json<AgentProfile>, ApiError> {
    editor(caller, id)?;
    if !app.store.set_photo(id, None, now_ms()).await? {
        return Err(ApiError::NotFound(format!("no agent {id}")));
    }
    Ok(Json(profile_of(&app, id).await?))
}
