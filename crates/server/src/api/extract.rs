//! Request extractors whose rejections use the shared error shape.
//!
//! axum's own `Json`, `Query` and `String` answer bad input in plain text; these
//! wrap them (the `via` pattern of axum's `FromRequest` derive) so a malformed
//! body, a bad query string or an oversized upload gets
//! `{"error": "invalid_request" | …, "message": …}` like every other error.

use axum::extract::rejection::{JsonRejection, QueryRejection, StringRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;
use frontdesk_domain::phone::Phone;

use crate::AppState;
use crate::error::ApiError;

/// A JSON body.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// A query string.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// A UTF-8 text body (menu files).
#[derive(Debug)]
pub struct ApiText(pub String);

impl<S: Send + Sync> FromRequest<S> for ApiText {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(String::from_request(req, state).await?))
    }
}

fn rejected(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::TooLarge(text)
    } else {
        ApiError::Invalid(text)
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        rejected(r.status(), r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        rejected(r.status(), r.body_text())
    }
}

impl From<StringRejection> for ApiError {
    fn from(r: StringRejection) -> Self {
        rejected(r.status(), r.body_text())
    }
}

/// A phone number from a request, in E.164.
///
/// In a query string `+` means a space, so `?phone=+8613912345678` arrives as
/// " 8613912345678" and would be read as a national number. A number never
/// starts with a space, so a leading space was a `+`.
///
/// # Errors
/// [`ApiError::Invalid`] when it is not a valid number.
pub fn request_phone(app: &AppState, text: &str) -> Result<Phone, ApiError> {
    let text = match text.strip_prefix(' ') {
        Some(rest) => format!("+{rest}"),
        None => text.to_owned(),
    };
    Phone::parse(&text, app.region).map_err(|e| ApiError::Invalid(e.to_string()))
}
