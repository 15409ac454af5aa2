//! The REST API under `/api`, and `/healthz`. The OpenAPI document served at
//! `/api/openapi.json` is generated from the handlers' annotations below.
//!
//! # Layout
//! - this file: health, login, callers ([`Caller`], [`Admin`]), menus, consultations.
//! - `customers`: `/api/customers`, customer facts and value tiers.
//! - `agents`: `/api/agents`, `/api/queue`, `/api/logout`.
//! - `answers`: `/api/answers`, the answer bot's library and its deflection numbers.

mod agents;
mod answers;
mod cards;
mod customers;
pub mod extract;

use std::net::{IpAddr, SocketAddr};
use std::sync::PoisonError;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontdesk_domain::rate::FailureThrottle;
use frontdesk_protocol::rest::{
    ConsultationSummary, Health, LoginRequest, LoginResponse, MenuImported, MenuVersionInfo,
    ServiceRecord, ServiceRecordItem,
};
use frontdesk_protocol::{ErrorBody, ErrorCode, Problem};
use frontdesk_store::AccountRow;
use serde::Deserialize;
use utoipa::OpenApi;

use crate::AppState;
use crate::error::ApiError;
use crate::menus::ImportError;
use crate::secret::{LOGIN_PREFIX, RESUME_PREFIX, new_token, token_hash, verify_password};
use crate::time::{now_ms, rfc3339};
use extract::{ApiJson, ApiQuery, ApiText, request_phone};

/// The API routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(health))
        .route("/api/openapi.json", get(openapi))
        .route("/api/login", post(login))
        .route("/api/menus", get(list_menus).post(import_menu))
        .route("/api/menus/current", get(export_current_menu))
        .route("/api/menus/{version}", get(export_menu))
        .route("/api/consultations", get(list_consultations))
        .route("/api/consultations/{id}", get(service_record))
        .merge(customers::router())
        .merge(agents::router())
        .merge(answers::router())
        .merge(cards::router())
}

#[derive(OpenApi)]
#[openapi(
    info(title = "frontdesk", description = "Self-hosted customer service: the digital service menu, its records, and administration. Customers use the WebSocket at /ws (see PROTOCOL.md)."),
    paths(health, login, list_menus, import_menu, export_current_menu, export_menu, list_consultations, service_record,
          customers::list_customers, customers::get_customer, customers::put_customer, customers::import_customers,
          agents::list_agents, agents::add_agent, agents::queue, agents::logout,
          answers::get_library, answers::replace_library, answers::put_answer, answers::delete_answer, answers::stats,
          cards::sms_log, cards::get_profile, cards::put_profile, cards::get_photo, cards::put_photo, cards::delete_photo),
    components(schemas(ErrorBody, ErrorCode, Problem)),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, for tests and the CLI.
#[must_use]
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().unwrap_or_default()
}

async fn openapi() -> Response {
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        openapi_json(),
    )
        .into_response()
}

/// Is the server up and its database reachable?
#[utoipa::path(get, path = "/healthz", responses(
    (status = 200, body = Health), (status = 503, body = Health, description = "the database does not answer")))]
async fn health(State(app): State<AppState>) -> Response {
    let ok = app.store.ping().await.is_ok();
    let menu_version = if ok {
        app.store.current_menu_version().await.ok().flatten()
    } else {
        None
    };
    let body = Health {
        status: if ok { "ok" } else { "database unavailable" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        menu_version,
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Name of the console's session cookie.
pub const SESSION_COOKIE: &str = "fd_session";

/// Failed logins allowed per username, and per client address, within a minute;
/// then that username (or address) waits out the minute.
const LOGIN_FAILURES_PER_USER: u32 = 5;
const LOGIN_FAILURES_PER_ADDR: u32 = 30;

/// Who has been failing to log in (see [`FailureThrottle`]).
#[derive(Debug)]
pub struct LoginThrottle {
    users: FailureThrottle<String>,
    addrs: FailureThrottle<IpAddr>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            users: FailureThrottle::new(LOGIN_FAILURES_PER_USER, Duration::from_secs(60)),
            addrs: FailureThrottle::new(LOGIN_FAILURES_PER_ADDR, Duration::from_secs(60)),
        }
    }
}

/// The client's address, when the server knows it (not in `oneshot` tests).
#[derive(Debug)]
pub struct PeerIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|ConnectInfo(a)| a.ip()),
        ))
    }
}

/// The login token of a request: `Authorization: Bearer`, else the session cookie.
#[must_use]
pub fn session_token(headers: &HeaderMap) -> Option<String> {
    if let Some(t) = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(t.trim().to_owned());
    }
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn session_cookie(token: &str, max_age_secs: i64) -> HeaderValue {
    // HttpOnly: scripts cannot read it; SameSite=Strict: other sites cannot make
    // the browser send it (no cross-site request forgery, no cross-site WebSocket).
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("fd_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0")
}

fn too_many_attempts(wait: Duration) -> Response {
    let secs = wait.as_secs().max(1);
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(RETRY_AFTER, HeaderValue::from(secs))],
        Json(ErrorBody {
            error: ErrorCode::TooManyRequests,
            message: format!("too many failed logins; try again in {secs} s"),
            problems: Vec::new(),
        }),
    )
        .into_response()
}

/// Logs an agent or admin in; answers a bearer token and sets it as the
/// console's session cookie (`fd_session`, HttpOnly). After 5 failures for one
/// username (or 30 from one address) within a minute, answers 429 with
/// `Retry-After` until the minute is over.
#[utoipa::path(post, path = "/api/login", request_body = LoginRequest, responses(
    (status = 200, body = LoginResponse), (status = 401, body = ErrorBody),
    (status = 429, body = ErrorBody, description = "too many failed logins; see Retry-After")))]
async fn login(
    State(app): State<AppState>,
    PeerIp(ip): PeerIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let user_key = req.username.trim().to_lowercase();
    {
        let t = app.logins.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let refused = t
            .users
            .check(&user_key, now)
            .err()
            .or_else(|| ip.and_then(|ip| t.addrs.check(&ip, now).err()));
        if let Some(wait) = refused {
            tracing::warn!(user = %user_key, "login refused: too many failures");
            return Ok(too_many_attempts(wait));
        }
    }
    let account = app.store.account_by_username(&req.username).await?;
    // Verify against a fixed hash when the user does not exist, so the answer takes
    // as long either way and does not reveal which usernames exist.
    let hash = account
        .as_ref()
        .map_or(DUMMY_HASH.to_owned(), |a| a.password_hash.clone());
    let password = req.password;
    let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let Some(account) = account.filter(|_| ok) else {
        let mut t = app.logins.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        t.users.failed(&user_key, now);
        if let Some(ip) = ip {
            t.addrs.failed(&ip, now);
        }
        tracing::warn!(user = %user_key, "login failed");
        return Err(ApiError::Unauthorized("wrong username or password".into()));
    };
    app.logins
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .users
        .succeeded(&user_key);
    let token = new_token(LOGIN_PREFIX);
    let now = now_ms();
    let expires = now + i64::from(app.config.limits.login_hours) * 3_600_000;
    app.store
        .create_api_session(&token_hash(&token), account.id, now, expires)
        .await?;
    tracing::info!(user = %account.username, role = %account.role, "login");
    let cookie = session_cookie(&token, i64::from(app.config.limits.login_hours) * 3600);
    Ok((
        [(SET_COOKIE, cookie)],
        Json(LoginResponse {
            token,
            role: account.role,
            expires_at: rfc3339(expires),
        }),
    )
        .into_response())
}

/// An argon2id hash of a random string nobody knows.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vd0VvB7mbC0zb3o0nGRUOvEJcH0sVyTAmGOu5JtO2p8";

/// Who is calling, from `Authorization: Bearer …`.
#[derive(Debug)]
pub enum Caller {
    /// A logged-in agent or admin.
    Staff(AccountRow),
    /// A customer holding a consultation's resume token.
    Customer {
        /// The consultation the token belongs to.
        consultation: String,
    },
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let missing = || ApiError::Unauthorized("send `Authorization: Bearer <token>`".into());
        let token = session_token(&parts.headers).ok_or_else(missing)?;
        let token = token.as_str();
        let bad = || ApiError::Unauthorized("the token is unknown or expired".into());
        if token.starts_with(LOGIN_PREFIX) {
            let account = app
                .store
                .api_session(&token_hash(token), now_ms())
                .await?
                .ok_or_else(bad)?;
            Ok(Caller::Staff(account))
        } else if token.starts_with(RESUME_PREFIX) {
            let c = app
                .store
                .consultation_by_resume(&token_hash(token))
                .await?
                .ok_or_else(bad)?;
            Ok(Caller::Customer { consultation: c.id })
        } else {
            Err(bad())
        }
    }
}

/// A caller who must be an admin.
#[derive(Debug)]
pub struct Admin(pub AccountRow);

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        match Caller::from_request_parts(parts, app).await? {
            Caller::Staff(a) if a.role == "admin" => Ok(Admin(a)),
            _ => Err(ApiError::Forbidden("this needs an admin login".into())),
        }
    }
}

/// Every stored menu version, newest first.
#[utoipa::path(get, path = "/api/menus", security(("bearer" = [])), responses(
    (status = 200, body = [MenuVersionInfo]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_menus(
    State(app): State<AppState>,
    _admin: Admin,
) -> Result<Json<Vec<MenuVersionInfo>>, ApiError> {
    let rows = app.store.menu_versions().await?;
    let current = rows.first().map(|r| r.version);
    Ok(Json(
        rows.into_iter()
            .map(|r| MenuVersionInfo {
                version: r.version,
                created_at: rfc3339(r.created_at),
                items: r.items,
                sha256: r.sha256,
                current: Some(r.version) == current,
            })
            .collect(),
    ))
}

/// Imports a menu file (TOML, as the body). The whole file is validated; on any
/// problem nothing changes and every problem is listed with its line.
#[utoipa::path(post, path = "/api/menus", security(("bearer" = [])),
    request_body(content = String, content_type = "application/toml", description = "the menu file"),
    responses((status = 201, body = MenuImported, description = "stored as a new version"),
              (status = 200, body = MenuImported, description = "identical to the current version; nothing stored"),
              (status = 422, body = ErrorBody, description = "invalid menu; `problems` lists each with its line")))]
async fn import_menu(
    State(app): State<AppState>,
    Admin(admin): Admin,
    ApiText(body): ApiText,
) -> Result<Response, ApiError> {
    let imported = app.menus.import(&body).await.map_err(|e| match e {
        ImportError::Invalid(errs) => ApiError::from(errs),
        ImportError::Store(e) => e.into(),
    })?;
    tracing::info!(admin = %admin.username, version = imported.version, created = imported.created, "menu imported");
    let status = if imported.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(MenuImported {
            version: imported.version,
            created: imported.created,
            items: imported.items,
        }),
    )
        .into_response())
}

fn toml_response(source: String) -> Response {
    (
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/toml; charset=utf-8"),
        )],
        source,
    )
        .into_response()
}

/// The current menu as a TOML file.
#[utoipa::path(get, path = "/api/menus/current", security(("bearer" = [])), responses(
    (status = 200, content_type = "application/toml", body = String), (status = 404, body = ErrorBody)))]
async fn export_current_menu(
    State(app): State<AppState>,
    _admin: Admin,
) -> Result<Response, ApiError> {
    let row = app
        .store
        .current_menu()
        .await?
        .ok_or_else(|| ApiError::NotFound("no menu has been imported".into()))?;
    Ok(toml_response(row.source))
}

/// One menu version as a TOML file.
#[utoipa::path(get, path = "/api/menus/{version}", security(("bearer" = [])),
    params(("version" = u32, Path, description = "menu version")),
    responses((status = 200, content_type = "application/toml", body = String), (status = 404, body = ErrorBody)))]
async fn export_menu(
    State(app): State<AppState>,
    _admin: Admin,
    Path(version): Path<String>,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound(format!("there is no menu version '{version}'"));
    let v: u32 = version.parse().map_err(|_| not_found())?;
    let row = app.store.menu(v).await?.ok_or_else(not_found)?;
    Ok(toml_response(row.source))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
struct ListQuery {
    /// Only this customer's consultations (any common format; send `+` as `%2B`).
    phone: Option<String>,
    /// At most this many (default 50, at most 500).
    limit: Option<u32>,
}

/// Recent consultations, newest first. Staff only.
#[utoipa::path(get, path = "/api/consultations", security(("bearer" = [])), params(ListQuery),
    responses((status = 200, body = [ConsultationSummary]), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn list_consultations(
    State(app): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<ConsultationSummary>>, ApiError> {
    if !matches!(caller, Caller::Staff(_)) {
        return Err(ApiError::Forbidden(
            "only agents and admins can list consultations".into(),
        ));
    }
    let phone = q
        .phone
        .as_deref()
        .map(|p| request_phone(&app, p))
        .transpose()?;
    let rows = app
        .store
        .consultations(
            phone.as_ref().map(|p| p.as_str()),
            q.limit.unwrap_or(50).min(500),
        )
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|c| ConsultationSummary {
                consultation: c.id,
                phone: c.phone,
                started_at: rfc3339(c.started_at),
                ended_at: c.ended_at.map(rfc3339),
                items: c.items,
            })
            .collect(),
    ))
}

/// The service record of one consultation: every item chosen, in order. Readable
/// by staff, and by the customer with the consultation's own resume token.
#[utoipa::path(get, path = "/api/consultations/{id}", security(("bearer" = [])),
    params(("id" = String, Path, description = "consultation id")),
    responses((status = 200, body = ServiceRecord), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn service_record(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ServiceRecord>, ApiError> {
    let not_found = || ApiError::NotFound(format!("there is no consultation '{id}'"));
    // A customer asking for someone else's consultation gets the same answer as for
    // one that does not exist: ids are not confirmed to strangers.
    if let Caller::Customer { consultation } = &caller
        && *consultation != id
    {
        return Err(not_found());
    }
    let c = app.store.consultation(&id).await?.ok_or_else(not_found)?;
    let items = app.store.service_items(&id).await?;
    Ok(Json(ServiceRecord {
        consultation: c.id,
        phone: c.phone,
        menu_version: c.menu_version,
        started_at: rfc3339(c.started_at),
        ended_at: c.ended_at.map(rfc3339),
        end_reason: c.end_reason,
        items: items
            .into_iter()
            .map(|i| ServiceRecordItem {
                seq: i.seq,
                item: i.item_id,
                kind: i.kind,
                title: i.title,
                served: i.served,
                at: rfc3339(i.at),
                menu_version: i.menu_version,
            })
            .collect(),
    }))
}

#[cfg(test)]
mod tests {
    use crate::secret::verify_password;

    #[test]
    fn the_dummy_hash_is_well_formed_and_matches_nothing_common() {
        // If it did not parse, unknown users would answer faster than known ones.
        assert!(argon2::PasswordHash::new(super::DUMMY_HASH).is_ok());
        assert!(!verify_password("", super::DUMMY_HASH));
        assert!(!verify_password("password", super::DUMMY_HASH));
    }

    #[test]
    fn the_openapi_document_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(&super::openapi_json()).unwrap();
        for path in [
            "/healthz",
            "/api/login",
            "/api/menus",
            "/api/menus/current",
            "/api/menus/{version}",
            "/api/consultations",
            "/api/consultations/{id}",
            "/api/customers",
            "/api/customers/import",
            "/api/customers/{phone}",
            "/api/answers",
            "/api/answers/{id}",
            "/api/answers/stats",
        ] {
            assert!(
                doc["paths"].get(path).is_some(),
                "{path} missing from openapi.json"
            );
        }
    }
}
