//! `/api/customers`: customer facts and their value tiers (`docs/tiers.md`).

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use frontdesk_domain::phone::Phone;
use frontdesk_domain::tier::Tier;
use frontdesk_protocol::rest::{CustomerInfo, CustomerUpdate, CustomersImported};
use frontdesk_protocol::{ErrorBody, ErrorCode};
use frontdesk_store::{CustomerFilter, CustomerRow};
use serde::Deserialize;

use super::{Admin, Caller};
use crate::AppState;
use crate::customers::{ImportError, check_update, today_utc};
use crate::error::ApiError;
use crate::time::rfc3339;

/// The customer routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/customers", get(list_customers))
        // The import reads its body itself, against `limits.max_import_bytes`:
        // a customer file is larger than anything else sent to the API.
        .route(
            "/api/customers/import",
            post(import_customers).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/customers/{phone}",
            get(get_customer).put(put_customer),
        )
}

fn info(r: CustomerRow) -> CustomerInfo {
    CustomerInfo {
        phone: r.phone,
        name: r.name,
        tier: r.tier,
        orders_per_month: r.orders_per_month,
        money: r.money,
        registered_on: r.registered_on,
        last_order_on: r.last_order_on,
        credit: r.credit,
        created_at: rfc3339(r.created_at),
        updated_at: r.updated_at.map(rfc3339),
    }
}

fn staff_only(caller: &Caller) -> Result<(), ApiError> {
    match caller {
        Caller::Staff(_) => Ok(()),
        Caller::Customer { .. } => Err(ApiError::Forbidden(
            "only agents and admins can read customers".into(),
        )),
    }
}

fn phone(app: &AppState, text: &str) -> Result<Phone, ApiError> {
    super::extract::request_phone(app, text)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub(crate) struct CustomerQuery {
    /// Only the customer with this phone number (any common format; send `+` as `%2B`).
    phone: Option<String>,
    /// Only customers in this tier (`core`, …, `new`).
    tier: Option<String>,
    /// At most this many (default 100, at most 1000).
    limit: Option<u32>,
}

/// Customers with their tiers, by phone number. Staff only.
#[utoipa::path(get, path = "/api/customers", security(("bearer" = [])), params(CustomerQuery),
    responses((status = 200, body = [CustomerInfo]), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody, description = "a bad phone, tier or limit")))]
pub(crate) async fn list_customers(
    State(app): State<AppState>,
    caller: Caller,
    super::extract::ApiQuery(q): super::extract::ApiQuery<CustomerQuery>,
) -> Result<Json<Vec<CustomerInfo>>, ApiError> {
    staff_only(&caller)?;
    let phone = q.phone.as_deref().map(|p| phone(&app, p)).transpose()?;
    let tier = q
        .tier
        .as_deref()
        .map(str::parse::<Tier>)
        .transpose()
        .map_err(ApiError::Invalid)?;
    let rows = app
        .store
        .customers(&CustomerFilter {
            phone: phone.as_ref().map(Phone::as_str),
            tier: tier.map(Tier::as_str),
            limit: Some(q.limit.unwrap_or(100).min(1000)),
        })
        .await?;
    Ok(Json(rows.into_iter().map(info).collect()))
}

/// One customer with their tier. Staff only.
#[utoipa::path(get, path = "/api/customers/{phone}", security(("bearer" = [])),
    params(("phone" = String, Path, description = "phone number, E.164 or any common format")),
    responses((status = 200, body = CustomerInfo), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub(crate) async fn get_customer(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<Json<CustomerInfo>, ApiError> {
    staff_only(&caller)?;
    let phone = phone(&app, &raw)?;
    let row = app
        .store
        .customer_by_phone(phone.as_str())
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no customer {phone}")))?;
    Ok(Json(info(row)))
}

/// Creates or replaces a customer's facts; their tier is recomputed. Admins only.
/// Every problem with the body is listed in `problems`.
#[utoipa::path(put, path = "/api/customers/{phone}", security(("bearer" = [])),
    params(("phone" = String, Path, description = "phone number, E.164 or any common format")),
    request_body = CustomerUpdate,
    responses((status = 201, body = CustomerInfo, description = "a new customer"),
              (status = 200, body = CustomerInfo, description = "an existing customer, updated"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "bad values; `problems` lists each")))]
pub(crate) async fn put_customer(
    State(app): State<AppState>,
    Admin(admin): Admin,
    Path(raw): Path<String>,
    super::extract::ApiJson(update): super::extract::ApiJson<CustomerUpdate>,
) -> Result<Response, ApiError> {
    let today = today_utc();
    let input =
        check_update(&raw, &update, app.region, today).map_err(|problems| ApiError::Problems {
            code: ErrorCode::InvalidRequest,
            message: format!("the customer has {} problem(s)", problems.len()),
            problems,
        })?;
    let created = app.customers.put(&input, today).await?;
    let row = app
        .store
        .customer_by_phone(input.phone.as_str())
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("customer vanished after writing")))?;
    tracing::info!(admin = %admin.username, customer = %input.phone.masked(), tier = %row.tier, created, "customer updated");
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(info(row))).into_response())
}

/// Imports customers from a CSV file (the body; format in `docs/tiers.md`).
/// Admins only. The whole file is validated first: on any bad row nothing is
/// stored and every problem is listed with its line. Otherwise every row is stored
/// with its tier in one transaction.
#[utoipa::path(post, path = "/api/customers/import", security(("bearer" = [])),
    request_body(content = String, content_type = "text/csv",
        description = "header row `phone,name,orders_per_month,money,registered_on,last_order_on,credit` (any order), then one customer a row"),
    responses((status = 200, body = CustomersImported),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 413, body = ErrorBody, description = "larger than `limits.max_import_bytes`"),
              (status = 422, body = ErrorBody, description = "bad rows; `problems` lists each with its line; nothing was stored")))]
pub(crate) async fn import_customers(
    State(app): State<AppState>,
    Admin(admin): Admin,
    body: Body,
) -> Result<Json<CustomersImported>, ApiError> {
    let max = app.config.limits.max_import_bytes;
    let data = axum::body::to_bytes(body, max as usize)
        .await
        .map_err(|_| {
            ApiError::TooLarge(format!(
                "the file is larger than limits.max_import_bytes ({max} bytes); \
                 import it with `frontdesk customers import FILE`"
            ))
        })?;
    let imported = app
        .customers
        .import_csv(&data, today_utc())
        .await
        .map_err(|e| match e {
            ImportError::Invalid(errs) => ApiError::Problems {
                code: ErrorCode::InvalidRequest,
                message: errs.summary(),
                problems: errs.problems,
            },
            ImportError::Store(e) => e.into(),
        })?;
    tracing::info!(
        admin = %admin.username,
        customers = imported.customers,
        created = imported.counts.created,
        updated = imported.counts.updated,
        "customers imported"
    );
    Ok(Json(CustomersImported {
        customers: imported.customers,
        created: imported.counts.created,
        updated: imported.counts.updated,
        by_tier: imported
            .by_tier
            .iter()
            .map(|(t, n)| (t.as_str().to_owned(), *n))
            .collect(),
    }))
}
