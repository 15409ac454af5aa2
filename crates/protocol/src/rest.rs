//! Bodies of the REST API (`/api/...`). The OpenAPI document at
//! `/api/openapi.json` is generated from these types.
//!
//! Times are RFC 3339 strings in UTC (`2026-11-21T14:05:09.123Z`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok` when the server can reach its database.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// The current menu version, if a menu has been imported.
    pub menu_version: Option<u32>,
}

/// `POST /api/login`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginRequest {
    /// Account name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A bearer token for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    /// `admin` or `agent`.
    pub role: String,
    /// When the token stops working.
    pub expires_at: String,
}

/// One stored version of the service menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MenuVersionInfo {
    /// Version number, from 1.
    pub version: u32,
    /// When it was imported.
    pub created_at: String,
    /// Number of items.
    pub items: u32,
    /// SHA-256 of the canonical file, hex.
    pub sha256: String,
    /// Whether new consultations use it.
    pub current: bool,
}

/// Result of importing a menu.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MenuImported {
    /// The version now current.
    pub version: u32,
    /// False when the file was identical to the current version (nothing stored).
    pub created: bool,
    /// Number of items.
    pub items: u32,
}

/// The service record of one consultation (seed step 8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRecord {
    /// Consultation id.
    pub consultation: String,
    /// The customer's phone number, E.164.
    pub phone: String,
    /// The menu version used throughout.
    pub menu_version: u32,
    /// When it started.
    pub started_at: String,
    /// When it ended, if it has.
    pub ended_at: Option<String>,
    /// `customer` or `abandoned`, if ended.
    pub end_reason: Option<String>,
    /// The items chosen, in order.
    pub items: Vec<ServiceRecordItem>,
}

/// One item of a service record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceRecordItem {
    /// Position in the consultation, from 1.
    pub seq: u32,
    /// The item's id.
    pub item: String,
    /// Its kind.
    pub kind: String,
    /// Its title at the time.
    pub title: String,
    /// `opened` (submenu), `shown` (content) or `unavailable`.
    pub served: String,
    /// When it was served.
    pub at: String,
    /// The menu version the item (and its content) came from.
    pub menu_version: u32,
}

/// A page of consultations (admin listing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsultationSummary {
    /// Consultation id.
    pub consultation: String,
    /// Customer phone, E.164.
    pub phone: String,
    /// When it started.
    pub started_at: String,
    /// When it ended, if it has.
    pub ended_at: Option<String>,
    /// Number of items in its record.
    pub items: u32,
}

/// A customer and their value tier (`GET /api/customers`, `GET /api/customers/{phone}`).
/// See `docs/tiers.md` for the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustomerInfo {
    /// Phone number, E.164.
    pub phone: String,
    /// Name, if known.
    pub name: Option<String>,
    /// Value tier: `core`, `important-development`, `important-promotion`,
    /// `important-retention`, `general-core`, `general-development`,
    /// `general-promotion`, `general-retention` or `new`.
    pub tier: String,
    /// Average orders per month; absent for a customer known only by phone.
    pub orders_per_month: Option<f64>,
    /// Money contributed in total.
    pub money: Option<f64>,
    /// Registration date, `YYYY-MM-DD`.
    pub registered_on: Option<String>,
    /// Date of the last order, `YYYY-MM-DD`; absent if they never ordered.
    pub last_order_on: Option<String>,
    /// Credit rating, 0 (worst) to 100 (best), if known.
    pub credit: Option<u8>,
    /// When the customer was first seen.
    pub created_at: String,
    /// When their facts last changed, if ever set.
    pub updated_at: Option<String>,
}

/// `PUT /api/customers/{phone}`: a customer's facts. The tier is computed from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerUpdate {
    /// Name; absent or `null` keeps the stored name.
    #[serde(default)]
    pub name: Option<String>,
    /// Average orders per month, `>= 0`.
    pub orders_per_month: f64,
    /// Money contributed in total, `>= 0`.
    pub money: f64,
    /// Registration date, `YYYY-MM-DD`.
    pub registered_on: String,
    /// Date of the last order, `YYYY-MM-DD`, not before `registered_on`; absent or
    /// `null`: never ordered.
    #[serde(default)]
    pub last_order_on: Option<String>,
    /// Credit rating 0–100; absent or `null`: unknown.
    #[serde(default)]
    pub credit: Option<i64>,
}

/// Result of importing a customer CSV (`POST /api/customers/import`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CustomersImported {
    /// Rows imported (every row of the file).
    pub customers: u32,
    /// Customers that were new.
    pub created: u32,
    /// Customers that existed; their facts were replaced.
    pub updated: u32,
    /// The imported customers by tier name; tiers with none are left out.
    pub by_tier: std::collections::BTreeMap<String, u32>,
}

/// A new agent account (`POST /api/agents`, admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    /// Login name.
    pub username: String,
    /// Name shown to customers.
    pub display_name: String,
    /// Password (at least 10 characters).
    pub password: String,
    /// Most text chats at once; default `queue.default_chat_capacity`.
    #[serde(default)]
    pub chat_capacity: Option<u32>,
}

/// An agent and what they are doing now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AgentSummary {
    /// Account id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Display name.
    pub display_name: String,
    /// `agent` or `admin`.
    pub role: String,
    /// Most text chats at once.
    pub chat_capacity: u32,
    /// `idle`, `busy`, `away` or `offline`.
    pub state: String,
}
