//! Storage for what happens after the service (seed 004): the link secret, links
//! and the SMS that carry them (the issuance log and the delivery queue in one
//! table), agents' profiles and photos, and ratings.

use async_trait::async_trait;

use crate::Result;

/// A card to send: the link for (agent, phone) in an SMS, once per `trigger`.
#[derive(Debug, Clone)]
pub struct CardWrite<'a> {
    /// What caused it, unique per message (`service:<id>`).
    pub trigger: &'a str,
    /// The link's code.
    pub code: &'a str,
    /// The agent.
    pub agent_id: i64,
    /// The customer's phone (E.164).
    pub phone: &'a str,
    /// The consultation, when there is one.
    pub consultation: Option<&'a str>,
    /// The service, when there is one.
    pub service: Option<&'a str>,
    /// The text to send.
    pub body: &'a str,
    /// Unix ms; also the first attempt's time.
    pub now: i64,
}

/// A stored SMS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRow {
    /// Row id; also the gateway's idempotency key.
    pub id: i64,
    /// What caused it.
    pub trigger: String,
    /// To (E.164).
    pub phone: String,
    /// The agent whose link it carries.
    pub agent_id: Option<i64>,
    /// The consultation.
    pub consultation: Option<String>,
    /// The service.
    pub service: Option<String>,
    /// The link's code.
    pub code: Option<String>,
    /// The text.
    pub body: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// The sender that last handled it (`outbox`, `http`, `twilio`).
    pub gateway: Option<String>,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    pub next_attempt_at: Option<i64>,
    /// The last failure.
    pub last_error: Option<String>,
    /// The gateway's id for it.
    pub provider_id: Option<String>,
    /// The gateway's status for it (`outbox` for the outbox).
    pub provider_status: Option<String>,
    /// When it was issued.
    pub created_at: i64,
    /// When a gateway accepted it.
    pub sent_at: Option<i64>,
}

/// The card stored, or the one stored before for the same trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardIssued {
    /// The message.
    pub sms: SmsRow,
    /// True when the trigger had fired before: nothing new was stored.
    pub duplicate: bool,
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsAttempt<'a> {
    /// A gateway accepted it.
    Sent {
        /// The gateway's id for it.
        provider_id: Option<&'a str>,
        /// The gateway's status.
        provider_status: &'a str,
    },
    /// It failed; try again at `next_at`.
    Retry {
        /// Why.
        error: &'a str,
        /// Unix ms.
        next_at: i64,
    },
    /// It failed for good.
    Failed {
        /// Why.
        error: &'a str,
    },
}

/// A link's pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRow {
    /// The code.
    pub code: String,
    /// The agent.
    pub agent_id: i64,
    /// The customer's phone.
    pub phone: String,
    /// When first made.
    pub created_at: i64,
}

/// What an agent's page shows of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRow {
    /// Account id.
    pub agent_id: i64,
    /// Login name.
    pub username: String,
    /// Name.
    pub display_name: String,
    /// Slogan ('' for none).
    pub slogan: String,
    /// Contact number (E.164).
    pub contact_phone: Option<String>,
    /// When their photo was last set; `None` without one.
    pub photo_at: Option<i64>,
    /// Services they finished.
    pub served: u64,
    /// Sum of their ratings' stars.
    pub rating_sum: u64,
    /// Ratings.
    pub rating_count: u64,
}

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhotoRow {
    /// The image.
    pub bytes: Vec<u8>,
    /// Its MIME type.
    pub content_type: String,
    /// When it was set.
    pub at: i64,
}

/// A service between one agent and one customer, as their page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastService {
    /// Service id.
    pub id: String,
    /// `chat` or `voice`.
    pub need: String,
    /// When it started.
    pub started_at: i64,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// The customer's rating of it.
    pub stars: Option<u8>,
}

/// A rating as shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatingRow {
    /// The service rated.
    pub service_id: String,
    /// 1–5.
    pub stars: u8,
    /// The comment.
    pub comment: String,
    /// When.
    pub at: i64,
}

/// A rating to store.
#[derive(Debug, Clone)]
pub struct RatingWrite<'a> {
    /// The service.
    pub service_id: &'a str,
    /// The agent the link is for.
    pub agent_id: i64,
    /// The phone the link is for.
    pub phone: &'a str,
    /// 1–5.
    pub stars: u8,
    /// The comment.
    pub comment: &'a str,
    /// Unix ms.
    pub now: i64,
}

/// What became of a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rated {
    /// Stored.
    Stored,
    /// That service was rated before; nothing changed.
    Already,
    /// No such service between that agent and that phone.
    NotTheirs,
}

/// A service that ended and may be owed a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedService {
    /// Service id.
    pub id: String,
    /// Consultation id.
    pub consultation: String,
    /// The agent.
    pub agent_id: i64,
    /// The agent's name.
    pub agent_name: String,
    /// The customer's phone.
    pub phone: String,
}

/// Storage for cards, SMS, profiles and ratings. Each method atomic and durable.
#[async_trait]
pub trait CardStore: Send + Sync {
    /// The link secret: the stored one, or `fresh` stored now if there was none.
    async fn link_secret(&self, fresh: &[u8]) -> Result<Vec<u8>>;

    /// Stores a link (if new) and its SMS as `pending`, due now, in one
    /// transaction; a trigger seen before returns the stored message, marked
    /// duplicate. A code already standing for another pair is a
    /// [`crate::StoreError::Conflict`], and nothing is stored.
    async fn issue_card(&self, card: &CardWrite<'_>) -> Result<CardIssued>;

    /// Pending messages due by `now`, oldest first.
    async fn due_sms(&self, now: i64, limit: u32) -> Result<Vec<SmsRow>>;

    /// When the next pending message is due.
    async fn next_sms_due(&self) -> Result<Option<i64>>;

    /// Records an attempt by `gateway` at message `id`.
    async fn record_sms_attempt(
        &self,
        id: i64,
        gateway: &str,
        attempt: &SmsAttempt<'_>,
        now: i64,
    ) -> Result<()>;

    /// The log, newest first: every message, or those to `phone`.
    async fn sms_log(&self, phone: Option<&str>, limit: u32) -> Result<Vec<SmsRow>>;

    /// One message.
    async fn sms(&self, id: i64) -> Result<Option<SmsRow>>;

    /// The pair a code stands for.
    async fn link(&self, code: &str) -> Result<Option<LinkRow>>;

    /// Services that ended since `since` with a reason in `reasons` and no SMS for
    /// `service:<id>`: cards owed (after a crash between the end and the card).
    async fn services_owed_cards(&self, since: i64, reasons: &[&str]) -> Result<Vec<EndedService>>;

    /// An agent's page facts; `None` for no such agent.
    async fn profile(&self, agent_id: i64) -> Result<Option<ProfileRow>>;

    /// Sets an agent's slogan and contact number; false for no such account.
    async fn set_profile(
        &self,
        agent_id: i64,
        slogan: &str,
        contact_phone: Option<&str>,
        now: i64,
    ) -> Result<bool>;

    /// Sets (or with `None` removes) an agent's photo; false for no such account.
    async fn set_photo(
        &self,
        agent_id: i64,
        photo: Option<(&[u8], &str)>,
        now: i64,
    ) -> Result<bool>;

    /// An agent's photo.
    async fn photo(&self, agent_id: i64) -> Result<Option<PhotoRow>>;

    /// Services between `agent_id` and the customer with `phone`, newest first.
    async fn services_between(
        &self,
        agent_id: i64,
        phone: &str,
        limit: u32,
    ) -> Result<Vec<PastService>>;

    /// An agent's ratings, newest first.
    async fn ratings(&self, agent_id: i64, limit: u32) -> Result<Vec<RatingRow>>;

    /// Stores a rating of a service, if the service is between the agent and the
    /// phone and not rated yet.
    async fn rate(&self, rating: &RatingWrite<'_>) -> Result<Rated>;
}
