//! Storage for frontdesk, behind the [`Store`] trait.
//!
//! The trait speaks in plain rows (strings, integers, Unix milliseconds), not in
//! domain types: the domain stays free of storage concerns and a second backend
//! (PostgreSQL, a later issue) implements the same methods with its own SQL and
//! migrations, without touching the domain or the server.
//!
//! # Layout
//! - [`Store`] and its row types: this file.
//! - [`cards`]: [`CardStore`], after the service: links, SMS, profiles, ratings.
//! - [`sqlite`]: the embedded default, `sqlx` + SQLite in WAL mode.
//!
//! # Durability
//! Every write method returns only after its transaction has committed. With the
//! default `synchronous = FULL` that means the WAL is on disk, which is what lets the
//! server tell a customer "recorded" (`ack`) only once it is true.

pub mod cards;
pub mod sqlite;

use async_trait::async_trait;

pub use cards::CardStore;
pub use sqlite::SqliteStore;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a username that exists).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row the operation needs does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrating the schema failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Shorthand for store results.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// One stored menu version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuRow {
    /// Version number, from 1.
    pub version: u32,
    /// Canonical TOML source.
    pub source: String,
    /// SHA-256 of `source`, hex.
    pub sha256: String,
    /// Number of items.
    pub items: u32,
    /// When it was imported (Unix ms).
    pub created_at: i64,
}

/// A customer, with the facts their value tier is computed from.
///
/// The facts are `None` for a customer known only by phone (first seen on the
/// WebSocket, never imported); their tier is `new`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRow {
    /// Row id.
    pub id: i64,
    /// E.164 phone number.
    pub phone: String,
    /// Name, if known.
    pub name: Option<String>,
    /// When first seen (Unix ms).
    pub created_at: i64,
    /// Average orders per month.
    pub orders_per_month: Option<f64>,
    /// Money contributed in total.
    pub money: Option<f64>,
    /// ISO date (`YYYY-MM-DD`) of registration.
    pub registered_on: Option<String>,
    /// ISO date of the last order; `None` if they never ordered.
    pub last_order_on: Option<String>,
    /// Credit rating 0–100, if known.
    pub credit: Option<u8>,
    /// The stored tier name (`core`, …, `new`).
    pub tier: String,
    /// When the facts last changed (Unix ms); `None` if never set. Strictly
    /// increasing per customer: it doubles as the row's version for [`Store::set_tiers`].
    pub updated_at: Option<i64>,
}

/// A customer's facts and computed tier, to create or replace (import, REST update).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerRecord {
    /// E.164 phone number: the key.
    pub phone: String,
    /// Name; `None` keeps the stored one.
    pub name: Option<String>,
    /// Average orders per month, `>= 0`.
    pub orders_per_month: f64,
    /// Money contributed in total, `>= 0`.
    pub money: f64,
    /// ISO date of registration.
    pub registered_on: String,
    /// ISO date of the last order; `None`: never ordered.
    pub last_order_on: Option<String>,
    /// Credit rating 0–100; `None`: unknown.
    pub credit: Option<u8>,
    /// The tier computed from these facts.
    pub tier: String,
}

/// What [`Store::upsert_customers`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportCounts {
    /// Customers that did not exist.
    pub created: u32,
    /// Customers that existed and were replaced.
    pub updated: u32,
}

/// Which customers [`Store::customers`] returns, by phone.
#[derive(Debug, Clone, Copy, Default)]
pub struct CustomerFilter<'a> {
    /// Only this E.164 number.
    pub phone: Option<&'a str>,
    /// Only this tier.
    pub tier: Option<&'a str>,
    /// At most this many; `None`: all.
    pub limit: Option<u32>,
}

/// A recomputed tier for [`Store::set_tiers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierChange {
    /// Customer row id.
    pub id: i64,
    /// The new tier name.
    pub tier: String,
    /// The row's `updated_at` when it was read: the change is skipped if the
    /// facts have changed since (their writer stored a fresh tier with them).
    pub updated_at: Option<i64>,
}

/// An agent or admin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Row id.
    pub id: i64,
    /// Login name.
    pub username: String,
    /// Name shown to customers and colleagues.
    pub display_name: String,
    /// `admin` or `agent`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Most text chats at once.
    pub chat_capacity: u32,
}

/// A consultation's stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsultationRow {
    /// UUIDv7 text.
    pub id: String,
    /// The customer's phone, E.164.
    pub phone: String,
    /// Menu version used throughout.
    pub menu_version: u32,
    /// Submenu on screen.
    pub screen: String,
    /// Highest request number applied.
    pub last_req: u64,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms of the last stored activity.
    pub last_seen_at: i64,
    /// Unix ms, when ended.
    pub ended_at: Option<i64>,
    /// `customer` or `abandoned`, when ended.
    pub end_reason: Option<String>,
    /// Number of service items recorded.
    pub items: u32,
}

/// A new consultation.
#[derive(Debug, Clone)]
pub struct NewConsultation<'a> {
    /// UUIDv7 text.
    pub id: &'a str,
    /// Customer row id.
    pub customer_id: i64,
    /// Menu version.
    pub menu_version: u32,
    /// SHA-256 of the resume token.
    pub resume_hash: &'a [u8],
    /// The root submenu.
    pub screen: &'a str,
    /// Unix ms.
    pub now: i64,
}

/// One service-record entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceItemRow {
    /// Position from 1.
    pub seq: u32,
    /// Item id.
    pub item_id: String,
    /// Item kind.
    pub kind: String,
    /// Title at the time.
    pub title: String,
    /// `opened`, `shown` or `unavailable`.
    pub served: String,
    /// Menu version.
    pub menu_version: u32,
    /// Unix ms.
    pub at: i64,
}

/// A new service-record entry; its `seq` is assigned by the store.
#[derive(Debug, Clone)]
pub struct NewServiceItem<'a> {
    /// Item id.
    pub item_id: &'a str,
    /// Item kind.
    pub kind: &'a str,
    /// Title at the time.
    pub title: &'a str,
    /// `opened`, `shown` or `unavailable`.
    pub served: &'a str,
}

/// Everything one applied request changes, written in one transaction.
#[derive(Debug, Clone)]
pub struct StepWrite<'a> {
    /// Consultation id.
    pub consultation: &'a str,
    /// The request number now applied.
    pub last_req: u64,
    /// The submenu now on screen.
    pub screen: &'a str,
    /// The service item to record, if any.
    pub item: Option<NewServiceItem<'a>>,
    /// Set when the request ended the consultation: the reason.
    pub ended: Option<&'a str>,
    /// A change to the waiting queue made by the same request.
    pub queue: Option<QueueWrite<'a>>,
    /// Unix ms.
    pub now: i64,
}

/// How a request changes the waiting queue.
#[derive(Debug, Clone)]
pub enum QueueWrite<'a> {
    /// The customer joins the queue.
    Join {
        /// Their tier name.
        tier: &'a str,
        /// `chat` or `voice`.
        need: &'a str,
        /// The agent they wait for first, and until when (Unix ms).
        prefer: Option<(i64, i64)>,
    },
    /// The customer leaves the queue (cancelled, or ended the consultation); an
    /// open service of theirs ends with `customer`.
    Leave,
}

/// A customer waiting for an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueEntryRow {
    /// Consultation id.
    pub consultation: String,
    /// Tier name.
    pub tier: String,
    /// `chat` or `voice`.
    pub need: String,
    /// When they asked for an agent (Unix ms).
    pub arrived_at: i64,
    /// Put back at the head of the queue.
    pub head: bool,
    /// The agent they wait for first, and until when (Unix ms).
    pub prefer: Option<(i64, i64)>,
}

/// A customer given to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRow {
    /// UUIDv7 text.
    pub id: String,
    /// Consultation id.
    pub consultation: String,
    /// The agent's account id.
    pub agent_id: i64,
    /// `chat` or `voice`.
    pub need: String,
    /// The customer's tier when queued.
    pub tier: String,
    /// When the customer asked for an agent (Unix ms).
    pub queued_at: i64,
    /// When the agent got them (Unix ms).
    pub started_at: i64,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Why it ended.
    pub end_reason: Option<String>,
}

/// A chat message to store.
#[derive(Debug, Clone)]
pub struct ChatWrite<'a> {
    /// Consultation id.
    pub consultation: &'a str,
    /// Service id.
    pub service: &'a str,
    /// `customer` or `agent`.
    pub sender: &'a str,
    /// The sender's message id.
    pub client_id: &'a str,
    /// Text.
    pub text: &'a str,
    /// Unix ms.
    pub now: i64,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatRow {
    /// Place in the consultation's chat, from 1.
    pub seq: u64,
    /// Service id.
    pub service: String,
    /// `customer` or `agent`.
    pub sender: String,
    /// The sender's message id.
    pub client_id: String,
    /// Text.
    pub text: String,
    /// When stored (Unix ms).
    pub at: i64,
}

/// What [`Store::add_chat`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatStored {
    /// The message as stored (the earlier one, for a duplicate).
    pub row: ChatRow,
    /// True when this (sender, client id) was stored before; nothing was written.
    pub duplicate: bool,
}

/// One entry of the answer library, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerRow {
    /// Entry id.
    pub id: String,
    /// Language tag (`en`, `zh`, …).
    pub language: String,
    /// The answer text.
    pub answer: String,
    /// Example phrasings.
    pub phrasings: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
}

/// What happened to an answer the bot gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerEvent {
    /// The bot gave it.
    Given,
    /// The customer said it helped.
    Accepted,
    /// The customer was handed to a human after it.
    HandedOff,
}

/// An answer's deflection numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AnswerStats {
    /// Entry id.
    pub answer_id: String,
    /// Times given.
    pub given: u64,
    /// Times accepted.
    pub accepted: u64,
    /// Times followed by a hand-off.
    pub handed_off: u64,
}

/// A question to the bot and its answer, to store.
#[derive(Debug, Clone, Copy)]
pub struct BotTurnWrite<'a> {
    /// Consultation.
    pub consultation: &'a str,
    /// The customer's id for the question (a resend carries the same).
    pub client_id: &'a str,
    /// The question as asked.
    pub question: &'a str,
    /// The entry answered with, if any matched.
    pub answer_id: Option<&'a str>,
    /// The answer text shown.
    pub answer: Option<&'a str>,
    /// The matching degree.
    pub degree: f64,
    /// Whether a human was offered after this answer.
    pub offered: bool,
    /// Unix ms.
    pub now: i64,
}

/// A stored bot turn.
#[derive(Debug, Clone, PartialEq)]
pub struct BotTurnRow {
    /// Consultation.
    pub consultation: String,
    /// 1, 2, … within the consultation.
    pub seq: i64,
    /// The customer's id for the question.
    pub client_id: String,
    /// The question.
    pub question: String,
    /// The entry answered with.
    pub answer_id: Option<String>,
    /// The answer text shown.
    pub answer: Option<String>,
    /// The matching degree.
    pub degree: f64,
    /// A human was offered after it.
    pub offered: bool,
    /// The customer declined that offer.
    pub declined: bool,
    /// The customer said the answer helped.
    pub helped: bool,
    /// Unix ms.
    pub at: i64,
}

/// What [`Store::add_bot_turn`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct BotTurnStored {
    /// The turn as stored (the earlier one, for a duplicate).
    pub row: BotTurnRow,
    /// True when this client id was stored before; nothing was written or counted.
    pub duplicate: bool,
}

/// An agent taking customers, as kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    /// Account id.
    pub agent_id: i64,
    /// Since when they wait at the back of the idle queue (Unix ms).
    pub ready_since: i64,
}

/// The storage interface of frontdesk.
///
/// Implementations must make each method atomic and durable before returning.
#[async_trait]
pub trait Store: CardStore + Send + Sync + std::fmt::Debug + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// The current (highest) menu version, if any.
    async fn current_menu(&self) -> Result<Option<MenuRow>>;
    /// The number of the current menu version, without its source (cheap).
    async fn current_menu_version(&self) -> Result<Option<u32>>;
    /// One menu version.
    async fn menu(&self, version: u32) -> Result<Option<MenuRow>>;
    /// All versions, newest first, without their sources.
    async fn menu_versions(&self) -> Result<Vec<MenuRow>>;
    /// Stores `source` as a new version unless it equals the current one.
    /// Returns the current version and whether a new one was created.
    async fn save_menu(
        &self,
        source: &str,
        sha256: &str,
        items: u32,
        now: i64,
    ) -> Result<(u32, bool)>;

    /// Finds or creates the customer with this phone; returns the row id.
    async fn upsert_customer(&self, phone: &str, name: Option<&str>, now: i64) -> Result<i64>;
    /// Creates or replaces the facts and tier of every record, all in one
    /// transaction: either every record is stored or none is. A `None` name keeps
    /// the stored name.
    async fn upsert_customers(&self, records: &[CustomerRecord], now: i64) -> Result<ImportCounts>;
    /// One customer by E.164 phone number.
    async fn customer_by_phone(&self, phone: &str) -> Result<Option<CustomerRow>>;
    /// Customers matching `filter`, by phone.
    async fn customers(&self, filter: &CustomerFilter<'_>) -> Result<Vec<CustomerRow>>;
    /// Stores recomputed tiers in one transaction, skipping rows whose facts changed
    /// since they were read. Returns how many rows were changed.
    async fn set_tiers(&self, changes: &[TierChange]) -> Result<u64>;

    /// Creates an account; [`StoreError::Conflict`] if the username is taken.
    async fn create_account(
        &self,
        username: &str,
        display_name: &str,
        role: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<i64>;
    /// Looks up an account by username.
    async fn account_by_username(&self, username: &str) -> Result<Option<AccountRow>>;
    /// Stores a bearer token's hash for an account.
    async fn create_api_session(
        &self,
        token_hash: &[u8],
        account_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<()>;
    /// The account a live bearer token belongs to.
    async fn api_session(&self, token_hash: &[u8], now: i64) -> Result<Option<AccountRow>>;
    /// Ends a login session (logout).
    async fn delete_api_session(&self, token_hash: &[u8]) -> Result<()>;

    /// Creates a consultation.
    async fn create_consultation(&self, c: &NewConsultation<'_>) -> Result<()>;
    /// Looks up a consultation by the hash of its resume token.
    async fn consultation_by_resume(&self, resume_hash: &[u8]) -> Result<Option<ConsultationRow>>;
    /// Looks up a consultation by id.
    async fn consultation(&self, id: &str) -> Result<Option<ConsultationRow>>;
    /// Writes one applied request atomically; returns the number of items recorded.
    async fn save_step(&self, step: &StepWrite<'_>) -> Result<u32>;
    /// Notes activity on an open consultation (e.g. its connection closed).
    async fn touch_consultation(&self, id: &str, now: i64) -> Result<()>;
    /// The service record of a consultation, in order.
    async fn service_items(&self, id: &str) -> Result<Vec<ServiceItemRow>>;
    /// Recent consultations, newest first, optionally of one phone number.
    async fn consultations(&self, phone: Option<&str>, limit: u32) -> Result<Vec<ConsultationRow>>;
    /// Open consultations with no activity since `before` (Unix ms).
    async fn idle_consultations(&self, before: i64) -> Result<Vec<String>>;
    /// Ends an open consultation as abandoned; false if it was not open.
    async fn abandon_consultation(&self, id: &str, now: i64) -> Result<bool>;

    /// One account by id.
    async fn account(&self, id: i64) -> Result<Option<AccountRow>>;
    /// Sets an agent's chat capacity; false if no such account.
    async fn set_chat_capacity(&self, id: i64, capacity: u32) -> Result<bool>;
    /// Every account, by username.
    async fn accounts(&self) -> Result<Vec<AccountRow>>;

    /// Everyone waiting, in no particular order.
    async fn queue_entries(&self) -> Result<Vec<QueueEntryRow>>;
    /// Takes a customer out of the queue without a request (abandoned); true if
    /// they were waiting.
    async fn leave_queue(&self, consultation: &str) -> Result<bool>;
    /// Starts services: each row is inserted and its customer leaves the queue,
    /// all in one transaction.
    async fn start_services(&self, services: &[ServiceRow]) -> Result<()>;
    /// Ends an open service with `reason`; with `requeue` the customer is put back
    /// at the head of the queue in the same transaction. False if it was not open.
    async fn end_service(&self, id: &str, reason: &str, requeue: bool, now: i64) -> Result<bool>;
    /// Every open service.
    async fn open_services(&self) -> Result<Vec<ServiceRow>>;
    /// A consultation's services, oldest first.
    async fn services_of(&self, consultation: &str) -> Result<Vec<ServiceRow>>;
    /// Stores a chat message under the next `seq` of its consultation, unless the
    /// sender stored this client id before (then returns that one).
    async fn add_chat(&self, chat: &ChatWrite<'_>) -> Result<ChatStored>;
    /// A consultation's chat, by `seq`.
    async fn chat(&self, consultation: &str) -> Result<Vec<ChatRow>>;
    /// Records that an agent waits at the back of the idle queue from `since`
    /// (`None`: they stopped taking customers).
    async fn set_presence(&self, agent_id: i64, ready_since: Option<i64>) -> Result<()>;
    /// Agents taking customers, by `ready_since`.
    async fn presences(&self) -> Result<Vec<PresenceRow>>;

    /// The answer library, by id.
    async fn answers(&self) -> Result<Vec<AnswerRow>>;
    /// Replaces the whole answer library in one transaction; returns the library's
    /// new version (1 for the first library, then one more each time).
    async fn replace_answers(&self, answers: &[AnswerRow], now: i64) -> Result<i64>;
    /// The library's version: 0 before any library was stored.
    async fn answers_version(&self) -> Result<i64>;
    /// Counts an event of an answer.
    async fn count_answer(&self, answer_id: &str, event: AnswerEvent) -> Result<()>;
    /// Every answer's deflection numbers, by id.
    async fn answer_stats(&self) -> Result<Vec<AnswerStats>>;

    /// Stores a bot turn under the next `seq` of its consultation and counts its
    /// answer as given, in one transaction, unless this client id was stored
    /// before (then returns that one and counts nothing).
    async fn add_bot_turn(&self, turn: &BotTurnWrite<'_>) -> Result<BotTurnStored>;
    /// A consultation's bot turns, by `seq`.
    async fn bot_turns(&self, consultation: &str) -> Result<Vec<BotTurnRow>>;
    /// Marks the offer made after the consultation's latest turn as declined.
    /// False when that turn made no offer or it was declined already.
    async fn decline_offer(&self, consultation: &str) -> Result<bool>;
    /// Records that the answer of turn `client_id` helped, counting it as accepted
    /// once. `None`: no such turn; `Some(false)`: recorded before.
    async fn mark_helped(&self, consultation: &str, client_id: &str) -> Result<Option<bool>>;
}
