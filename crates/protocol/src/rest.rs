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

/// One entry of the answer library (`/api/answers`; the format is in
/// `docs/answers.md`). The same fields as an entry of a YAML library file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerEntry {
    /// Stable id: 1–64 of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or
    /// digit. In `PUT /api/answers/{id}` it may be left out (the path names it).
    #[serde(default)]
    pub id: String,
    /// Language of the phrasings: a primary language tag such as `en` or `zh`.
    pub language: String,
    /// The answer shown to the customer (plain text or Markdown).
    pub answer: String,
    /// Example phrasings of the question it answers (at least one; none may
    /// contain `|`).
    pub phrasings: Vec<String>,
    /// Free tags, for people (e.g. `billing`).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// `GET /api/answers`: the stored library and the version the bot answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnswerLibraryInfo {
    /// The stored library's version: 0 before any library was stored, then one
    /// more for every change.
    pub version: i64,
    /// The version the bot answers with. Equal to `version` once a change has
    /// taken effect (at once for changes over this API; within `bot.reload_secs`
    /// for `frontdesk answers import`).
    pub serving_version: i64,
    /// How questions are matched: `bm25`, or `bm25+semantic` with the configured
    /// sentence-embedding model.
    pub matching: String,
    /// Why the configured semantic model is not in use (it could not be loaded;
    /// the message names the path). Absent when all is well.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<String>,
    /// The entries, by id.
    pub entries: Vec<AnswerEntry>,
}

/// Result of replacing the whole library (`PUT /api/answers`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnswersImported {
    /// The library's new version, now in effect.
    pub version: i64,
    /// Number of entries.
    pub entries: u32,
    /// Number of phrasings in all.
    pub phrasings: u32,
    /// Entries per language tag.
    pub languages: std::collections::BTreeMap<String, u32>,
}

/// Result of creating or replacing one entry (`PUT /api/answers/{id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AnswerSaved {
    /// The library's new version, now in effect.
    pub version: i64,
    /// True when the id was new.
    pub created: bool,
    /// The entry as stored (values trimmed, empty phrasings and tags dropped).
    pub entry: AnswerEntry,
}

/// One answer's deflection numbers (`GET /api/answers/stats`): how often the bot
/// gave it, how often the customer said it helped, and how often a hand-off to a
/// human followed. A high `handoff_rate` on an often given answer is an answer
/// that fails.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnswerStatsEntry {
    /// The entry's id.
    pub answer_id: String,
    /// Times the bot gave it.
    pub given: u64,
    /// Times the customer said it helped.
    pub accepted: u64,
    /// Times a hand-off to a human followed it.
    pub handed_off: u64,
    /// `accepted / given`; `null` while it was never given.
    pub accepted_rate: Option<f64>,
    /// `handed_off / given`; `null` while it was never given.
    pub handoff_rate: Option<f64>,
    /// False for an id no longer in the library (its numbers are kept).
    pub in_library: bool,
}

impl AnswerStatsEntry {
    /// An entry with its rates computed from the counts.
    #[must_use]
    pub fn new(
        answer_id: String,
        given: u64,
        accepted: u64,
        handed_off: u64,
        in_library: bool,
    ) -> Self {
        // Counts stay far below 2^53, where u64 → f64 is exact.
        let rate = |n: u64| (given > 0).then(|| n as f64 / given as f64);
        Self {
            accepted_rate: rate(accepted),
            handoff_rate: rate(handed_off),
            answer_id,
            given,
            accepted,
            handed_off,
            in_library,
        }
    }

    /// The deflection table: a row for every id in `library` or in `counts`
    /// (`(answer_id, given, accepted, handed_off)`), the worst first (see
    /// [`AnswerStatsEntry::sort_worst_first`]). An entry never given has zeros.
    #[must_use]
    pub fn table<'a>(
        library: impl IntoIterator<Item = &'a str>,
        counts: impl IntoIterator<Item = (String, u64, u64, u64)>,
    ) -> Vec<AnswerStatsEntry> {
        let mut uncounted: std::collections::BTreeSet<&str> = library.into_iter().collect();
        let mut rows: Vec<AnswerStatsEntry> = counts
            .into_iter()
            .map(|(id, given, accepted, handed_off)| {
                let in_library = uncounted.remove(id.as_str());
                Self::new(id, given, accepted, handed_off, in_library)
            })
            .collect();
        rows.extend(
            uncounted
                .into_iter()
                .map(|id| Self::new(id.to_owned(), 0, 0, 0, true)),
        );
        Self::sort_worst_first(&mut rows);
        rows
    }

    /// Sorts the worst first: the highest hand-off rate, then the most given,
    /// then by id. Never-given answers (no rate) come last.
    pub fn sort_worst_first(entries: &mut [AnswerStatsEntry]) {
        entries.sort_by(|a, b| {
            let rate = |e: &AnswerStatsEntry| e.handoff_rate.unwrap_or(-1.0);
            rate(b)
                .total_cmp(&rate(a))
                .then(b.given.cmp(&a.given))
                .then_with(|| a.answer_id.cmp(&b.answer_id))
        });
    }

    /// A list as `GET /api/answers/stats` sends it, pretty-printed (for
    /// `frontdesk answers stats --json`).
    #[must_use]
    pub fn list_to_json(entries: &[AnswerStatsEntry]) -> String {
        // Serialising strings, numbers and booleans cannot fail.
        serde_json::to_string_pretty(entries).unwrap_or_default()
    }
}

#[cfg(test)]
mod answer_stats_tests {
    use super::AnswerStatsEntry;

    #[test]
    fn rates_and_order() {
        let e = |id: &str, given, handed_off| {
            AnswerStatsEntry::new(id.into(), given, 0, handed_off, true)
        };
        let mut v = vec![
            e("never", 0, 0),
            e("fine", 10, 1),
            e("bad-rare", 2, 2),
            e("bad-often", 20, 20),
            e("half", 4, 2),
        ];
        AnswerStatsEntry::sort_worst_first(&mut v);
        let table = AnswerStatsEntry::table(
            ["never", "fine", "bad-rare", "bad-often", "half", "unasked"],
            v.iter()
                .filter(|e| e.answer_id != "never")
                .map(|e| (e.answer_id.clone(), e.given, e.accepted, e.handed_off))
                .chain([("gone".to_owned(), 3, 0, 3)]),
        );
        let ids: Vec<(&str, bool)> = table
            .iter()
            .map(|s| (s.answer_id.as_str(), s.in_library))
            .collect();
        assert_eq!(
            ids,
            [
                ("bad-often", true),
                ("gone", false),
                ("bad-rare", true),
                ("half", true),
                ("fine", true),
                ("never", true),
                ("unasked", true),
            ]
        );
        let ids: Vec<&str> = v.iter().map(|s| s.answer_id.as_str()).collect();
        assert_eq!(ids, ["bad-often", "bad-rare", "half", "fine", "never"]);
        assert_eq!(v[2].handoff_rate, Some(0.5));
        assert_eq!(v[4].handoff_rate, None);
        assert_eq!(v[4].accepted_rate, None);
        let json: serde_json::Value =
            serde_json::from_str(&AnswerStatsEntry::list_to_json(&v)).unwrap();
        assert!(json[4]["handoff_rate"].is_null());
    }
}

/// An agent's page facts (`GET /api/agents/{id}/profile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentProfile {
    /// Account id (shown to customers as the agent's id).
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown to customers.
    pub display_name: String,
    /// A line under their name ('' for none).
    pub slogan: String,
    /// A number customers may call (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_phone: Option<String>,
    /// Whether they uploaded a photo (else a drawn default is shown).
    pub has_photo: bool,
    /// Services they finished.
    pub served: u64,
    /// Mean rating, 1–5, absent before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<f64>,
    /// Ratings received.
    pub ratings: u64,
}

/// `PUT /api/agents/{id}/profile`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProfileEdit {
    /// At most 140 characters on one line; '' for none.
    #[serde(default)]
    pub slogan: String,
    /// A phone number in any common format; '' or absent for none.
    #[serde(default)]
    pub contact_phone: String,
}

/// One SMS in the log (`GET /api/sms`): every agent link sent, and its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SmsEntry {
    /// The message's id.
    pub id: i64,
    /// What caused it (`service:<id>`).
    pub trigger: String,
    /// To (E.164).
    pub phone: String,
    /// The agent whose link it carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<i64>,
    /// The consultation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consultation: Option<String>,
    /// The service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The link's path (`/a/CODE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The text.
    pub body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// The sender that handled it last: `outbox`, `http` or `twilio`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// The last failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The gateway's id for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    /// The gateway's status (`outbox` for the outbox).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_status: Option<String>,
    /// When it was issued (RFC 3339).
    pub created_at: String,
    /// When a gateway accepted it (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<String>,
    /// When the next attempt is due, while pending (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
}
