//! The HTTP error type: named by meaning, rendered as the shared wire shape
//! `{"error": code, "message": text}`. Internal errors are logged with their cause
//! and shown to clients only as a generic 500.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use frontdesk_domain::menu::MenuErrors;
use frontdesk_protocol::ErrorCode;
use frontdesk_store::StoreError;
use serde::Serialize;

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
    /// 422: a menu file failed validation; every problem is listed.
    #[error("{0}")]
    InvalidMenu(MenuErrors),
    /// 409.
    #[error("{0}")]
    Conflict(String),
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

#[derive(Serialize)]
struct Body<'a> {
    error: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<Problem<'a>>,
}

#[derive(Serialize)]
struct Problem<'a> {
    line: Option<usize>,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, ErrorCode::NotFound),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, ErrorCode::Forbidden),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidRequest),
            ApiError::InvalidMenu(_) => (StatusCode::UNPROCESSABLE_ENTITY, ErrorCode::InvalidMenu),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, ErrorCode::Conflict),
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
            ApiError::InvalidMenu(errs) => format!("the menu has {} problem(s)", errs.0.len()),
            other => other.to_string(),
        };
        let problems = match &self {
            ApiError::InvalidMenu(errs) => errs
                .0
                .iter()
                .map(|p| Problem {
                    line: p.line,
                    message: &p.message,
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut resp = (
            status,
            Json(Body {
                error: code,
                message: &message,
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
