//! The HTTP error type: named by meaning, rendered as the shared wire shape
//! `{"error": code, "message": text}` ([`ErrorBody`]), with `problems` when a file or
//! body failed validation. Internal errors are logged with their cause and shown to
//! clients only as a generic 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use frontdesk_domain::menu::MenuErrors;
use frontdesk_protocol::{ErrorBody, ErrorCode, Problem};
use frontdesk_store::StoreError;

/// An error answered over HTTP.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 401.
    #[error("{0}")]
    Unauthorized(String),
    /// 403.
    #[error("{0}")]
    Forbidden(String),
    /// 400/422: the request is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// 422: a file or body failed validation (a menu, a customer CSV, a customer
    /// update); every problem is listed.
    #[error("{message}")]
    Problems {
        /// `invalid_menu` for menus, `invalid_request` otherwise.
        code: ErrorCode,
        /// A summary, e.g. "the file has 3 problems".
        message: String,
        /// Each problem, with its line where it has one.
        problems: Vec<Problem>,
    },
    /// 409.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than its limit.
    #[error("{0}")]
    TooLarge(String),
    /// 429.
    #[error("{0}")]
    TooManyRequests(String),
    /// 500: logged, never shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::NotFound(m) => ApiError::NotFound(m),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<MenuErrors> for ApiError {
    fn from(errs: MenuErrors) -> Self {
        ApiError::Problems {
            code: ErrorCode::InvalidMenu,
            message: format!("the menu has {} problem(s)", errs.0.len()),
            problems: errs
                .0
                .into_iter()
                .map(|p| Problem {
                    line: p.line,
                    message: p.message,
                })
                .collect(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            ApiError::Problems { code, .. } => (StatusCode::UNPROCESSABLE_ENTITY, *code),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::InvalidRequest),
            ApiError::TooManyRequests(_) => {
                (StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyRequests)
            }
            ApiError::Internal(e) => {
                tracing::error!(
                    error = format!("{e:#}"),
                    "internal error answering a request"
                );
                (StatusCode::INTERNAL_SERVER_ERROR, ErrorCode::Internal)
            }
        };
        let message = match &self {
            ApiError::Internal(_) => "internal error; it has been logged".to_owned(),
            other => other.to_string(),
        };
        let problems = match self {
            ApiError::Problems { problems, .. } => problems,
            _ => Vec::new(),
        };
        let mut resp = (
            status,
            Json(ErrorBody {
                error: code,
                message,
                problems,
            }),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}
