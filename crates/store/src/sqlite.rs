//! The embedded default store: SQLite through `sqlx`, in WAL mode.
//!
//! WAL lets readers (REST, the admin CLI) run beside the writer, and
//! `synchronous = FULL` makes every commit durable before it returns. Writes are
//! serialised by SQLite itself; `busy_timeout` makes a second writer (an admin
//! command run while the server is up) wait instead of failing.

mod cards;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};

use crate::{
    AccountRow, AnswerEvent, AnswerRow, AnswerStats, BotTurnRow, BotTurnStored, BotTurnWrite,
    ChatRow, ChatStored, ChatWrite, ConsultationRow, CustomerFilter, CustomerRecord, CustomerRow,
    ImportCounts, MenuRow, NewConsultation, PresenceRow, QueueEntryRow, QueueWrite, Result,
    ServiceItemRow, ServiceRow, StepWrite, Store, StoreError, TierChange,
};

/// The SQLite store. Cheap to clone (a pool handle).
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

/// How hard SQLite works to keep each commit on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync the WAL on every commit: survives power loss. The default.
    #[default]
    Full,
    /// fsync at checkpoints only: survives a crash of the process, not of the machine.
    Normal,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` (`sqlite://path/to/file.db`)
    /// and brings its schema up to date.
    ///
    /// # Errors
    /// When the file cannot be opened or migrated.
    pub async fn open(url: &str, durability: Durability) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match durability {
                Durability::Full => SqliteSynchronous::Full,
                Durability::Normal => SqliteSynchronous::Normal,
            })
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            // SQLite has one writer at a time; a few connections serve concurrent
            // reads. More only adds lock contention.
            .max_connections(4)
            .connect_with(opts)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

fn menu_row(r: &SqliteRow, with_source: bool) -> Result<MenuRow> {
    Ok(MenuRow {
        version: to_u32(r.try_get("version")?),
        source: if with_source {
            r.try_get("source")?
        } else {
            String::new()
        },
        sha256: r.try_get("sha256")?,
        items: to_u32(r.try_get("items")?),
        created_at: r.try_get("created_at")?,
    })
}

fn account_row(r: &SqliteRow) -> Result<AccountRow> {
    Ok(AccountRow {
        id: r.try_get("id")?,
        username: r.try_get("username")?,
        display_name: r.try_get("display_name")?,
        role: r.try_get("role")?,
        password_hash: r.try_get("password_hash")?,
        chat_capacity: to_u32(r.try_get("chat_capacity")?),
    })
}

fn service_row(r: &SqliteRow) -> Result<ServiceRow> {
    Ok(ServiceRow {
        id: r.try_get("id")?,
        consultation: r.try_get("consultation_id")?,
        agent_id: r.try_get("agent_id")?,
        need: r.try_get("need")?,
        tier: r.try_get("tier")?,
        queued_at: r.try_get("queued_at")?,
        started_at: r.try_get("started_at")?,
        ended_at: r.try_get("ended_at")?,
        end_reason: r.try_get("end_reason")?,
    })
}

fn bot_turn_row(r: &SqliteRow) -> Result<BotTurnRow> {
    Ok(BotTurnRow {
        consultation: r.try_get("consultation_id")?,
        seq: r.try_get("seq")?,
        client_id: r.try_get("client_id")?,
        question: r.try_get("question")?,
        answer_id: r.try_get("answer_id")?,
        answer: r.try_get("answer")?,
        degree: r.try_get("degree")?,
        offered: r.try_get("offered")?,
        declined: r.try_get("declined")?,
        helped: r.try_get("helped")?,
        at: r.try_get("at")?,
    })
}

fn chat_row(r: &SqliteRow) -> Result<ChatRow> {
    let seq: i64 = r.try_get("seq")?;
    Ok(ChatRow {
        seq: u64::try_from(seq).unwrap_or(0),
        service: r.try_get("service_id")?,
        sender: r.try_get("sender")?,
        client_id: r.try_get("client_id")?,
        text: r.try_get("text")?,
        at: r.try_get("at")?,
    })
}

fn consultation_row(r: &SqliteRow) -> Result<ConsultationRow> {
    let last_req: i64 = r.try_get("last_req")?;
    Ok(ConsultationRow {
        id: r.try_get("id")?,
        phone: r.try_get("phone")?,
        menu_version: to_u32(r.try_get("menu_version")?),
        screen: r.try_get("screen")?,
        last_req: u64::try_from(last_req).unwrap_or(0),
        started_at: r.try_get("started_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        ended_at: r.try_get("ended_at")?,
        end_reason: r.try_get("end_reason")?,
        items: to_u32(r.try_get("items")?),
    })
}

fn customer_row(r: &SqliteRow) -> Result<CustomerRow> {
    let credit: Option<i64> = r.try_get("credit")?;
    Ok(CustomerRow {
        id: r.try_get("id")?,
        phone: r.try_get("phone")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
        orders_per_month: r.try_get("orders_per_month")?,
        money: r.try_get("money")?,
        registered_on: r.try_get("registered_on")?,
        last_order_on: r.try_get("last_order_on")?,
        // The column has CHECK (credit BETWEEN 0 AND 100).
        credit: credit.and_then(|c| u8::try_from(c).ok()),
        tier: r.try_get("tier")?,
        updated_at: r.try_get("updated_at")?,
    })
}

const CUSTOMER_COLUMNS: &str = "id, phone, name, created_at, orders_per_month, money, \
     registered_on, last_order_on, credit, tier, updated_at";

/// Rows per statement in [`SqliteStore::upsert_customers`] and `set_tiers`: 10
/// parameters each at most, well under SQLite's 32766. Statements are round trips
/// to sqlx's worker thread: one UPDATE per row took 7 s to retier 100k customers,
/// 500 rows per statement 0.9 s.
const UPSERT_CHUNK: usize = 500;

const CONSULTATION_COLUMNS: &str = "c.id, cu.phone, c.menu_version, c.screen, c.last_req, c.started_at, \
     c.last_seen_at, c.ended_at, c.end_reason, \
     (SELECT COUNT(*) FROM service_items s WHERE s.consultation_id = c.id) AS items \
     FROM consultations c JOIN customers cu ON cu.id = c.customer_id";

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn current_menu(&self) -> Result<Option<MenuRow>> {
        sqlx::query("SELECT * FROM menu_versions ORDER BY version DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|r| menu_row(&r, true))
            .transpose()
    }

    async fn current_menu_version(&self) -> Result<Option<u32>> {
        let v: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM menu_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(v.map(to_u32))
    }

    async fn menu(&self, version: u32) -> Result<Option<MenuRow>> {
        sqlx::query("SELECT * FROM menu_versions WHERE version = ?")
            .bind(i64::from(version))
            .fetch_optional(&self.pool)
            .await?
            .map(|r| menu_row(&r, true))
            .transpose()
    }

    async fn menu_versions(&self) -> Result<Vec<MenuRow>> {
        sqlx::query(
            "SELECT version, sha256, items, created_at FROM menu_versions ORDER BY version DESC",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| menu_row(r, false))
        .collect()
    }

    async fn save_menu(
        &self,
        source: &str,
        sha256: &str,
        items: u32,
        now: i64,
    ) -> Result<(u32, bool)> {
        // BEGIN IMMEDIATE takes the write lock up front, so two imports cannot both
        // read "version 3 is current" and race to write version 4.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<(i64, String)> = sqlx::query_as(
            "SELECT version, sha256 FROM menu_versions ORDER BY version DESC LIMIT 1",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((v, hash)) = &current
            && hash == sha256
        {
            return Ok((to_u32(*v), false));
        }
        let next = current.map_or(1, |(v, _)| v + 1);
        sqlx::query("INSERT INTO menu_versions (version, source, sha256, items, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(next)
            .bind(source)
            .bind(sha256)
            .bind(i64::from(items))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((to_u32(next), true))
    }

    async fn upsert_customer(&self, phone: &str, name: Option<&str>, now: i64) -> Result<i64> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (phone, name, created_at) VALUES (?, ?, ?) \
             ON CONFLICT (phone) DO UPDATE SET name = COALESCE(excluded.name, customers.name) \
             RETURNING id",
        )
        .bind(phone)
        .bind(name)
        .bind(now)
        .fetch_one(&self.pool)
        .await?;
        Ok(id)
    }

    async fn upsert_customers(&self, records: &[CustomerRecord], now: i64) -> Result<ImportCounts> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Under the write lock nobody else adds customers, so the difference in
        // count is what this batch created (a phone twice in one batch counts once).
        let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers")
            .fetch_one(&mut *tx)
            .await?;
        for chunk in records.chunks(UPSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::new(
                "INSERT INTO customers (phone, name, created_at, orders_per_month, money, \
                 registered_on, last_order_on, credit, tier, updated_at) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(&r.phone)
                    .push_bind(&r.name)
                    .push_bind(now)
                    .push_bind(r.orders_per_month)
                    .push_bind(r.money)
                    .push_bind(&r.registered_on)
                    .push_bind(&r.last_order_on)
                    .push_bind(r.credit.map(i64::from))
                    .push_bind(&r.tier)
                    .push_bind(now);
            });
            // `updated_at` only ever grows, even for two writes in one millisecond:
            // `set_tiers` relies on it to notice a row that changed under it.
            q.push(
                " ON CONFLICT (phone) DO UPDATE SET \
                 name = COALESCE(excluded.name, customers.name), \
                 orders_per_month = excluded.orders_per_month, \
                 money = excluded.money, \
                 registered_on = excluded.registered_on, \
                 last_order_on = excluded.last_order_on, \
                 credit = excluded.credit, \
                 tier = excluded.tier, \
                 updated_at = MAX(excluded.updated_at, COALESCE(customers.updated_at, 0) + 1)",
            );
            q.build().execute(&mut *tx).await?;
        }
        let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        let created = to_u32(after - before);
        let total = u32::try_from(records.len()).unwrap_or(u32::MAX);
        Ok(ImportCounts {
            created,
            updated: total.saturating_sub(created),
        })
    }

    async fn customer_by_phone(&self, phone: &str) -> Result<Option<CustomerRow>> {
        sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers WHERE phone = ?"
        ))
        .bind(phone)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| customer_row(&r))
        .transpose()
    }

    async fn customers(&self, filter: &CustomerFilter<'_>) -> Result<Vec<CustomerRow>> {
        sqlx::query(&format!(
            "SELECT {CUSTOMER_COLUMNS} FROM customers \
             WHERE (?1 IS NULL OR phone = ?1) AND (?2 IS NULL OR tier = ?2) \
             ORDER BY phone LIMIT ?3"
        ))
        .bind(filter.phone)
        .bind(filter.tier)
        // SQLite reads a negative limit as "no limit".
        .bind(filter.limit.map_or(-1, i64::from))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(customer_row)
        .collect()
    }

    async fn set_tiers(&self, changes: &[TierChange]) -> Result<u64> {
        if changes.is_empty() {
            return Ok(0);
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut changed = 0;
        // Many rows per statement, as in `upsert_customers`: one UPDATE per row
        // took 7 s for 100k customers, nearly all of it in round trips.
        for chunk in changes.chunks(UPSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::new("WITH c (id, tier, updated_at) AS (");
            q.push_values(chunk, |mut b, c| {
                b.push_bind(c.id).push_bind(&c.tier).push_bind(c.updated_at);
            });
            q.push(
                ") UPDATE customers SET tier = c.tier FROM c \
                 WHERE customers.id = c.id AND customers.updated_at IS c.updated_at \
                 AND customers.tier <> c.tier",
            );
            changed += q.build().execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(changed)
    }

    async fn create_account(
        &self,
        username: &str,
        display_name: &str,
        role: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO accounts (username, display_name, role, password_hash, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(username)
        .bind(display_name)
        .bind(role)
        .bind(password_hash)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::Conflict(format!("an account named '{username}' exists"))
            } else {
                e.into()
            }
        })
    }

    async fn account_by_username(&self, username: &str) -> Result<Option<AccountRow>> {
        sqlx::query("SELECT * FROM accounts WHERE username = ?")
            .bind(username)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| account_row(&r))
            .transpose()
    }

    async fn create_api_session(
        &self,
        token_hash: &[u8],
        account_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        sqlx::query("INSERT INTO api_sessions (token_hash, account_id, created_at, expires_at) VALUES (?, ?, ?, ?)")
            .bind(token_hash)
            .bind(account_id)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn api_session(&self, token_hash: &[u8], now: i64) -> Result<Option<AccountRow>> {
        sqlx::query(
            "SELECT a.* FROM api_sessions s JOIN accounts a ON a.id = s.account_id \
             WHERE s.token_hash = ? AND s.expires_at > ?",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| account_row(&r))
        .transpose()
    }

    async fn create_consultation(&self, c: &NewConsultation<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO consultations (id, customer_id, menu_version, resume_hash, screen, last_req, \
             started_at, last_seen_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)",
        )
        .bind(c.id)
        .bind(c.customer_id)
        .bind(i64::from(c.menu_version))
        .bind(c.resume_hash)
        .bind(c.screen)
        .bind(c.now)
        .bind(c.now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn consultation_by_resume(&self, resume_hash: &[u8]) -> Result<Option<ConsultationRow>> {
        sqlx::query(&format!(
            "SELECT {CONSULTATION_COLUMNS} WHERE c.resume_hash = ?"
        ))
        .bind(resume_hash)
        .fetch_optional(&self.pool)
        .await?
        .map(|r| consultation_row(&r))
        .transpose()
    }

    async fn consultation(&self, id: &str) -> Result<Option<ConsultationRow>> {
        sqlx::query(&format!("SELECT {CONSULTATION_COLUMNS} WHERE c.id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| consultation_row(&r))
            .transpose()
    }

    async fn save_step(&self, s: &StepWrite<'_>) -> Result<u32> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let last_req = i64::try_from(s.last_req).unwrap_or(i64::MAX);
        // `last_req < ?` makes a replayed write a no-op: the same request can never
        // be recorded twice, even if a caller retried after a lost reply.
        let updated = sqlx::query(
            "UPDATE consultations SET last_req = ?, screen = ?, last_seen_at = ?, \
             ended_at = CASE WHEN ? IS NULL THEN ended_at ELSE ? END, \
             end_reason = COALESCE(?, end_reason) \
             WHERE id = ? AND last_req < ? AND ended_at IS NULL",
        )
        .bind(last_req)
        .bind(s.screen)
        .bind(s.now)
        .bind(s.ended)
        .bind(s.now)
        .bind(s.ended)
        .bind(s.consultation)
        .bind(last_req)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if updated == 1
            && let Some(item) = &s.item
        {
            sqlx::query(
                "INSERT INTO service_items (consultation_id, seq, item_id, kind, title, served, menu_version, at) \
                 SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5, \
                        (SELECT menu_version FROM consultations WHERE id = ?1), ?6 \
                 FROM service_items WHERE consultation_id = ?1",
            )
            .bind(s.consultation)
            .bind(item.item_id)
            .bind(item.kind)
            .bind(item.title)
            .bind(item.served)
            .bind(s.now)
            .execute(&mut *tx)
            .await?;
        }
        if updated == 1 {
            match &s.queue {
                Some(QueueWrite::Join { tier, need, prefer }) => {
                    sqlx::query(
                        "INSERT OR IGNORE INTO queue_entries \
                         (consultation_id, tier, need, arrived_at, head, prefer_agent, prefer_until) \
                         VALUES (?, ?, ?, ?, 0, ?, ?)",
                    )
                    .bind(s.consultation)
                    .bind(tier)
                    .bind(need)
                    .bind(s.now)
                    .bind(prefer.map(|p| p.0))
                    .bind(prefer.map(|p| p.1))
                    .execute(&mut *tx)
                    .await?;
                }
                Some(QueueWrite::Leave) => {
                    sqlx::query("DELETE FROM queue_entries WHERE consultation_id = ?")
                        .bind(s.consultation)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query(
                        "UPDATE services SET ended_at = ?, end_reason = 'customer' \
                         WHERE consultation_id = ? AND ended_at IS NULL",
                    )
                    .bind(s.now)
                    .bind(s.consultation)
                    .execute(&mut *tx)
                    .await?;
                }
                None => {}
            }
        }
        let items: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM service_items WHERE consultation_id = ?")
                .bind(s.consultation)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        if updated == 0 {
            tracing::debug!(
                consultation = s.consultation,
                req = s.last_req,
                "step already stored; not written again"
            );
        }
        Ok(to_u32(items))
    }

    async fn touch_consultation(&self, id: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE consultations SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ? AND ended_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn service_items(&self, id: &str) -> Result<Vec<ServiceItemRow>> {
        let rows = sqlx::query(
            "SELECT seq, item_id, kind, title, served, menu_version, at FROM service_items \
             WHERE consultation_id = ? ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(ServiceItemRow {
                    seq: to_u32(r.try_get("seq")?),
                    item_id: r.try_get("item_id")?,
                    kind: r.try_get("kind")?,
                    title: r.try_get("title")?,
                    served: r.try_get("served")?,
                    menu_version: to_u32(r.try_get("menu_version")?),
                    at: r.try_get("at")?,
                })
            })
            .collect()
    }

    async fn consultations(&self, phone: Option<&str>, limit: u32) -> Result<Vec<ConsultationRow>> {
        sqlx::query(&format!(
            "SELECT {CONSULTATION_COLUMNS} WHERE (?1 IS NULL OR cu.phone = ?1) \
             ORDER BY c.started_at DESC, c.id DESC LIMIT ?2"
        ))
        .bind(phone)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(consultation_row)
        .collect()
    }

    async fn idle_consultations(&self, before: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT id FROM consultations WHERE ended_at IS NULL AND last_seen_at < ? LIMIT 1000",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn abandon_consultation(&self, id: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query(
            "UPDATE consultations SET ended_at = ?, end_reason = 'abandoned' WHERE id = ? AND ended_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM queue_entries WHERE consultation_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE services SET ended_at = ?, end_reason = 'abandoned' WHERE consultation_id = ? AND ended_at IS NULL",
        )
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn delete_api_session(&self, token_hash: &[u8]) -> Result<()> {
        sqlx::query("DELETE FROM api_sessions WHERE token_hash = ?")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn account(&self, id: i64) -> Result<Option<AccountRow>> {
        sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| account_row(&r))
            .transpose()
    }

    async fn set_chat_capacity(&self, id: i64, capacity: u32) -> Result<bool> {
        let n = sqlx::query("UPDATE accounts SET chat_capacity = ? WHERE id = ?")
            .bind(i64::from(capacity))
            .bind(id)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn accounts(&self) -> Result<Vec<AccountRow>> {
        sqlx::query("SELECT * FROM accounts ORDER BY username")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(account_row)
            .collect()
    }

    async fn queue_entries(&self) -> Result<Vec<QueueEntryRow>> {
        let rows = sqlx::query("SELECT * FROM queue_entries")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueEntryRow {
                    consultation: r.try_get("consultation_id")?,
                    tier: r.try_get("tier")?,
                    need: r.try_get("need")?,
                    arrived_at: r.try_get("arrived_at")?,
                    head: r.try_get::<i64, _>("head")? != 0,
                    prefer: r
                        .try_get::<Option<i64>, _>("prefer_agent")?
                        .zip(r.try_get::<Option<i64>, _>("prefer_until")?),
                })
            })
            .collect()
    }

    async fn leave_queue(&self, consultation: &str) -> Result<bool> {
        let n = sqlx::query("DELETE FROM queue_entries WHERE consultation_id = ?")
            .bind(consultation)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    async fn start_services(&self, services: &[ServiceRow]) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for sv in services {
            sqlx::query("DELETE FROM queue_entries WHERE consultation_id = ?")
                .bind(&sv.consultation)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO services (id, consultation_id, agent_id, need, tier, queued_at, started_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&sv.id)
            .bind(&sv.consultation)
            .bind(sv.agent_id)
            .bind(&sv.need)
            .bind(&sv.tier)
            .bind(sv.queued_at)
            .bind(sv.started_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn end_service(&self, id: &str, reason: &str, requeue: bool, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let n = sqlx::query(
            "UPDATE services SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 && requeue {
            sqlx::query(
                "INSERT OR IGNORE INTO queue_entries (consultation_id, tier, need, arrived_at, head) \
                 SELECT consultation_id, tier, need, queued_at, 1 FROM services WHERE id = ?",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    async fn open_services(&self) -> Result<Vec<ServiceRow>> {
        sqlx::query("SELECT * FROM services WHERE ended_at IS NULL ORDER BY started_at")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(service_row)
            .collect()
    }

    async fn services_of(&self, consultation: &str) -> Result<Vec<ServiceRow>> {
        sqlx::query("SELECT * FROM services WHERE consultation_id = ? ORDER BY started_at")
            .bind(consultation)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(service_row)
            .collect()
    }

    async fn add_chat(&self, c: &ChatWrite<'_>) -> Result<ChatStored> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let earlier = sqlx::query(
            "SELECT * FROM chat_messages WHERE consultation_id = ? AND sender = ? AND client_id = ?",
        )
        .bind(c.consultation)
        .bind(c.sender)
        .bind(c.client_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(r) = earlier {
            return Ok(ChatStored {
                row: chat_row(&r)?,
                duplicate: true,
            });
        }
        let r = sqlx::query(
            "INSERT INTO chat_messages (consultation_id, seq, service_id, sender, client_id, text, at) \
             SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6 \
             FROM chat_messages WHERE consultation_id = ?1 RETURNING *",
        )
        .bind(c.consultation)
        .bind(c.service)
        .bind(c.sender)
        .bind(c.client_id)
        .bind(c.text)
        .bind(c.now)
        .fetch_one(&mut *tx)
        .await?;
        let row = chat_row(&r)?;
        tx.commit().await?;
        Ok(ChatStored {
            row,
            duplicate: false,
        })
    }

    async fn chat(&self, consultation: &str) -> Result<Vec<ChatRow>> {
        sqlx::query("SELECT * FROM chat_messages WHERE consultation_id = ? ORDER BY seq")
            .bind(consultation)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(chat_row)
            .collect()
    }

    async fn set_presence(&self, agent_id: i64, ready_since: Option<i64>) -> Result<()> {
        match ready_since {
            Some(since) => {
                sqlx::query(
                    "INSERT INTO agent_presence (agent_id, ready_since) VALUES (?, ?) \
                     ON CONFLICT (agent_id) DO UPDATE SET ready_since = excluded.ready_since",
                )
                .bind(agent_id)
                .bind(since)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM agent_presence WHERE agent_id = ?")
                    .bind(agent_id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    async fn presences(&self) -> Result<Vec<PresenceRow>> {
        let rows = sqlx::query("SELECT * FROM agent_presence ORDER BY ready_since, agent_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(PresenceRow {
                    agent_id: r.try_get("agent_id")?,
                    ready_since: r.try_get("ready_since")?,
                })
            })
            .collect()
    }

    async fn answers(&self) -> Result<Vec<AnswerRow>> {
        let rows = sqlx::query("SELECT * FROM answers ORDER BY id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let list = |col: &str| -> Result<Vec<String>> {
                    let text: String = r.try_get(col)?;
                    serde_json::from_str(&text)
                        .map_err(|e| StoreError::Database(sqlx::Error::Decode(Box::new(e))))
                };
                Ok(AnswerRow {
                    id: r.try_get("id")?,
                    language: r.try_get("language")?,
                    answer: r.try_get("answer")?,
                    phrasings: list("phrasings")?,
                    tags: list("tags")?,
                })
            })
            .collect()
    }

    async fn replace_answers(&self, answers: &[AnswerRow], now: i64) -> Result<i64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("DELETE FROM answers").execute(&mut *tx).await?;
        for a in answers {
            let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
            sqlx::query(
                "INSERT INTO answers (id, language, answer, phrasings, tags, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(&a.id)
            .bind(&a.language)
            .bind(&a.answer)
            .bind(json(&a.phrasings))
            .bind(json(&a.tags))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO answer_library (id, version, changed_at) VALUES (1, 1, ?1) \
             ON CONFLICT (id) DO UPDATE SET version = version + 1, changed_at = ?1 \
             RETURNING version",
        )
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn answers_version(&self) -> Result<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT version FROM answer_library WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(v.unwrap_or(0))
    }

    async fn count_answer(&self, answer_id: &str, event: AnswerEvent) -> Result<()> {
        let column = match event {
            AnswerEvent::Given => "given",
            AnswerEvent::Accepted => "accepted",
            AnswerEvent::HandedOff => "handed_off",
        };
        sqlx::query(&format!(
            "INSERT INTO answer_stats (answer_id, {column}) VALUES (?, 1) \
             ON CONFLICT (answer_id) DO UPDATE SET {column} = {column} + 1"
        ))
        .bind(answer_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn add_bot_turn(&self, t: &BotTurnWrite<'_>) -> Result<BotTurnStored> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let earlier =
            sqlx::query("SELECT * FROM bot_turns WHERE consultation_id = ? AND client_id = ?")
                .bind(t.consultation)
                .bind(t.client_id)
                .fetch_optional(&mut *tx)
                .await?;
        if let Some(r) = earlier {
            return Ok(BotTurnStored {
                row: bot_turn_row(&r)?,
                duplicate: true,
            });
        }
        let r = sqlx::query(
            "INSERT INTO bot_turns (consultation_id, seq, client_id, question, answer_id, answer, \
             degree, offered, at) \
             SELECT ?1, COALESCE(MAX(seq), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8 \
             FROM bot_turns WHERE consultation_id = ?1 RETURNING *",
        )
        .bind(t.consultation)
        .bind(t.client_id)
        .bind(t.question)
        .bind(t.answer_id)
        .bind(t.answer)
        .bind(t.degree)
        .bind(t.offered)
        .bind(t.now)
        .fetch_one(&mut *tx)
        .await?;
        let row = bot_turn_row(&r)?;
        if let Some(id) = t.answer_id {
            sqlx::query(
                "INSERT INTO answer_stats (answer_id, given) VALUES (?, 1) \
                 ON CONFLICT (answer_id) DO UPDATE SET given = given + 1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(BotTurnStored {
            row,
            duplicate: false,
        })
    }

    async fn bot_turns(&self, consultation: &str) -> Result<Vec<BotTurnRow>> {
        sqlx::query("SELECT * FROM bot_turns WHERE consultation_id = ? ORDER BY seq")
            .bind(consultation)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(bot_turn_row)
            .collect()
    }

    async fn decline_offer(&self, consultation: &str) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE bot_turns SET declined = 1 WHERE consultation_id = ?1 AND offered = 1 \
             AND declined = 0 AND seq = (SELECT MAX(seq) FROM bot_turns WHERE consultation_id = ?1)",
        )
        .bind(consultation)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_helped(&self, consultation: &str, client_id: &str) -> Result<Option<bool>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let turn = sqlx::query(
            "SELECT answer_id, helped FROM bot_turns WHERE consultation_id = ? AND client_id = ?",
        )
        .bind(consultation)
        .bind(client_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(turn) = turn else {
            return Ok(None);
        };
        let helped: bool = turn.try_get("helped")?;
        if helped {
            return Ok(Some(false));
        }
        sqlx::query("UPDATE bot_turns SET helped = 1 WHERE consultation_id = ? AND client_id = ?")
            .bind(consultation)
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        let answer_id: Option<String> = turn.try_get("answer_id")?;
        if let Some(id) = answer_id {
            sqlx::query(
                "INSERT INTO answer_stats (answer_id, accepted) VALUES (?, 1) \
                 ON CONFLICT (answer_id) DO UPDATE SET accepted = accepted + 1",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(true))
    }

    async fn answer_stats(&self) -> Result<Vec<AnswerStats>> {
        let rows = sqlx::query("SELECT * FROM answer_stats ORDER BY answer_id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let n = |col: &str| -> Result<u64> {
                    Ok(u64::try_from(r.try_get::<i64, _>(col)?).unwrap_or(0))
                };
                Ok(AnswerStats {
                    answer_id: r.try_get("answer_id")?,
                    given: n("given")?,
                    accepted: n("accepted")?,
                    handed_off: n("handed_off")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewServiceItem;

    /// Consultation `c1` of `customer` on menu version 1, resume hash `r`, at 5 ms.
    async fn open_consultation(s: &SqliteStore, customer: i64) {
        s.create_consultation(&NewConsultation {
            id: "c1",
            customer_id: customer,
            menu_version: 1,
            resume_hash: b"r",
            screen: "main",
            now: 5,
        })
        .await
        .unwrap();
    }

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let s = SqliteStore::open(&url, Durability::Full).await.unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn menus_are_versioned_and_identical_imports_are_not_stored_twice() {
        let (_d, s) = store().await;
        assert_eq!(s.current_menu().await.unwrap(), None);
        assert_eq!(s.save_menu("a", "h1", 3, 10).await.unwrap(), (1, true));
        assert_eq!(s.save_menu("a", "h1", 3, 11).await.unwrap(), (1, false));
        assert_eq!(s.save_menu("b", "h2", 4, 12).await.unwrap(), (2, true));
        assert_eq!(s.current_menu().await.unwrap().unwrap().source, "b");
        assert_eq!(s.menu(1).await.unwrap().unwrap().source, "a");
        let versions: Vec<u32> = s
            .menu_versions()
            .await
            .unwrap()
            .iter()
            .map(|m| m.version)
            .collect();
        assert_eq!(versions, [2, 1]);
    }

    #[tokio::test]
    async fn the_answer_library_is_replaced_whole_and_its_numbers_kept() {
        let (_d, s) = store().await;
        let entry = |id: &str, lang: &str| AnswerRow {
            id: id.into(),
            language: lang.into(),
            answer: format!("answer {id}"),
            phrasings: vec![format!("how do I {id}?"), "第二".into()],
            tags: vec!["t".into()],
        };
        s.replace_answers(&[entry("b", "en"), entry("a", "zh")], 1)
            .await
            .unwrap();
        let got = s.answers().await.unwrap();
        assert_eq!(got, [entry("a", "zh"), entry("b", "en")]);
        s.count_answer("a", AnswerEvent::Given).await.unwrap();
        s.count_answer("a", AnswerEvent::Given).await.unwrap();
        s.count_answer("a", AnswerEvent::HandedOff).await.unwrap();
        s.replace_answers(&[entry("c", "en")], 2).await.unwrap();
        assert_eq!(s.answers().await.unwrap(), [entry("c", "en")]);
        let stats = s.answer_stats().await.unwrap();
        assert_eq!(
            stats,
            [AnswerStats {
                answer_id: "a".into(),
                given: 2,
                accepted: 0,
                handed_off: 1
            }]
        );
    }

    #[tokio::test]
    async fn queue_services_and_chat_survive_as_written() {
        let (_d, s) = store().await;
        s.save_menu("m", "h", 1, 0).await.unwrap();
        let cust = s.upsert_customer("+12015550123", None, 0).await.unwrap();
        let agent = s
            .create_account("ann", "Ann", "agent", "h", 0)
            .await
            .unwrap();
        open_consultation(&s, cust).await;
        let join = StepWrite {
            consultation: "c1",
            last_req: 1,
            screen: "main",
            item: None,
            ended: None,
            queue: Some(QueueWrite::Join {
                tier: "core",
                need: "chat",
                prefer: Some((agent, 99)),
            }),
            now: 10,
        };
        s.save_step(&join).await.unwrap();
        s.save_step(&join).await.unwrap();
        let q = s.queue_entries().await.unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!((q[0].arrived_at, q[0].head), (10, false));
        assert_eq!(q[0].prefer, Some((agent, 99)));
        let sv = ServiceRow {
            id: "s1".into(),
            consultation: "c1".into(),
            agent_id: agent,
            need: "chat".into(),
            tier: "core".into(),
            queued_at: 10,
            started_at: 20,
            ended_at: None,
            end_reason: None,
        };
        s.start_services(std::slice::from_ref(&sv)).await.unwrap();
        assert!(
            s.queue_entries().await.unwrap().is_empty(),
            "assigned leaves the queue"
        );
        assert_eq!(s.open_services().await.unwrap(), std::slice::from_ref(&sv));
        let say = |sender, id, text| ChatWrite {
            consultation: "c1",
            service: "s1",
            sender,
            client_id: id,
            text,
            now: 30,
        };
        let a = s.add_chat(&say("customer", "m1", "hi")).await.unwrap();
        let b = s.add_chat(&say("agent", "m1", "hello")).await.unwrap();
        let again = s.add_chat(&say("customer", "m1", "hi")).await.unwrap();
        assert_eq!((a.row.seq, a.duplicate), (1, false));
        assert_eq!((b.row.seq, b.duplicate), (2, false), "ids are per sender");
        assert_eq!((again.row.seq, again.duplicate), (1, true));
        assert_eq!(s.chat("c1").await.unwrap().len(), 2);
        // The agent vanished: the customer goes back at the head, keeping their arrival.
        assert!(s.end_service("s1", "agent_lost", true, 40).await.unwrap());
        assert!(!s.end_service("s1", "agent", false, 41).await.unwrap());
        let q = s.queue_entries().await.unwrap();
        assert_eq!((q[0].arrived_at, q[0].head), (10, true));
        assert!(s.open_services().await.unwrap().is_empty());
        s.set_presence(agent, Some(50)).await.unwrap();
        s.set_presence(agent, Some(60)).await.unwrap();
        assert_eq!(s.presences().await.unwrap()[0].ready_since, 60);
        s.set_presence(agent, None).await.unwrap();
        assert!(s.presences().await.unwrap().is_empty());
        assert!(s.set_chat_capacity(agent, 3).await.unwrap());
        assert_eq!(s.account(agent).await.unwrap().unwrap().chat_capacity, 3);
        // Abandoning the consultation empties the queue of it.
        assert!(s.abandon_consultation("c1", 70).await.unwrap());
        assert!(s.queue_entries().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_step_is_recorded_once_even_when_replayed() {
        let (_d, s) = store().await;
        s.save_menu("m", "h", 1, 0).await.unwrap();
        let cust = s.upsert_customer("+12015550123", None, 0).await.unwrap();
        assert_eq!(
            s.upsert_customer("+12015550123", Some("Ann"), 1)
                .await
                .unwrap(),
            cust
        );
        open_consultation(&s, cust).await;
        let step = StepWrite {
            consultation: "c1",
            last_req: 1,
            screen: "main",
            item: Some(NewServiceItem {
                item_id: "due",
                kind: "content",
                title: "Due",
                served: "shown",
            }),
            ended: None,
            queue: None,
            now: 6,
        };
        assert_eq!(s.save_step(&step).await.unwrap(), 1);
        assert_eq!(s.save_step(&step).await.unwrap(), 1, "replay is a no-op");
        let end = StepWrite {
            last_req: 2,
            item: None,
            ended: Some("customer"),
            now: 7,
            ..step.clone()
        };
        assert_eq!(s.save_step(&end).await.unwrap(), 1);
        let c = s.consultation_by_resume(b"r").await.unwrap().unwrap();
        assert_eq!(
            (c.last_req, c.ended_at, c.end_reason.as_deref(), c.items),
            (2, Some(7), Some("customer"), 1)
        );
        assert_eq!(c.phone, "+12015550123");
        // Nothing is written to an ended consultation.
        let late = StepWrite {
            last_req: 3,
            now: 8,
            ..step
        };
        assert_eq!(s.save_step(&late).await.unwrap(), 1);
        let items = s.service_items("c1").await.unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(
            (
                items[0].seq,
                items[0].item_id.as_str(),
                items[0].menu_version
            ),
            (1, "due", 1)
        );
        assert!(!s.abandon_consultation("c1", 9).await.unwrap());
    }

    fn record(phone: &str, tier: &str) -> CustomerRecord {
        CustomerRecord {
            phone: phone.into(),
            name: None,
            orders_per_month: 2.5,
            money: 1200.0,
            registered_on: "2024-01-31".into(),
            last_order_on: Some("2025-02-01".into()),
            credit: Some(80),
            tier: tier.into(),
        }
    }

    #[tokio::test]
    async fn a_batch_of_customers_is_stored_whole_and_counted() {
        let (_d, s) = store().await;
        s.upsert_customer("+12015550123", Some("Ann"), 1)
            .await
            .unwrap();
        let before = s.customer_by_phone("+12015550123").await.unwrap().unwrap();
        assert_eq!((before.tier.as_str(), before.money), ("new", None));

        let batch: Vec<_> = (0..1200)
            .map(|i| record(&format!("+1201555{i:04}"), "core"))
            .collect();
        // 0123 is in the batch: it exists, so it is updated and keeps its name.
        let counts = s.upsert_customers(&batch, 5).await.unwrap();
        assert_eq!(
            counts,
            ImportCounts {
                created: 1199,
                updated: 1
            }
        );
        let ann = s.customer_by_phone("+12015550123").await.unwrap().unwrap();
        assert_eq!(ann.name.as_deref(), Some("Ann"));
        assert_eq!(
            (ann.tier.as_str(), ann.money, ann.credit, ann.updated_at),
            ("core", Some(1200.0), Some(80), Some(5))
        );
        assert_eq!(ann.last_order_on.as_deref(), Some("2025-02-01"));

        // A second write in the same millisecond still moves updated_at on.
        let mut again = record("+12015550123", "general-core");
        again.name = Some("Ann Lee".into());
        again.last_order_on = None;
        again.credit = None;
        s.upsert_customers(&[again], 5).await.unwrap();
        let ann = s.customer_by_phone("+12015550123").await.unwrap().unwrap();
        assert_eq!(ann.name.as_deref(), Some("Ann Lee"));
        assert_eq!((ann.last_order_on, ann.credit), (None, None));
        assert_eq!(ann.updated_at, Some(6));

        // One bad record (the CHECK on credit) and nothing of the batch is stored.
        let mut bad: Vec<_> = (0..700)
            .map(|i| record(&format!("+1415555{i:04}"), "core"))
            .collect();
        bad[650].credit = Some(101);
        assert!(s.upsert_customers(&bad, 7).await.is_err());
        assert!(
            s.customer_by_phone("+14155550000").await.unwrap().is_none(),
            "the first chunk was rolled back"
        );
        let all = s.customers(&CustomerFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1200);

        // Tiers of more rows than one statement holds.
        let changes: Vec<_> = all
            .iter()
            .map(|r| TierChange {
                id: r.id,
                tier: "new".into(),
                updated_at: r.updated_at,
            })
            .collect();
        assert_eq!(s.set_tiers(&changes).await.unwrap(), 1200);
        let core = CustomerFilter {
            tier: Some("core"),
            ..Default::default()
        };
        assert!(s.customers(&core).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn customers_filter_by_phone_and_tier_and_limit() {
        let (_d, s) = store().await;
        s.upsert_customers(
            &[
                record("+12015550003", "core"),
                record("+12015550001", "new"),
                record("+12015550002", "core"),
            ],
            1,
        )
        .await
        .unwrap();
        let phones =
            |rows: Vec<CustomerRow>| -> Vec<String> { rows.into_iter().map(|r| r.phone).collect() };
        let core = CustomerFilter {
            tier: Some("core"),
            ..Default::default()
        };
        assert_eq!(
            phones(s.customers(&core).await.unwrap()),
            ["+12015550002", "+12015550003"]
        );
        let first = CustomerFilter {
            limit: Some(1),
            ..core
        };
        assert_eq!(phones(s.customers(&first).await.unwrap()), ["+12015550002"]);
        let one = CustomerFilter {
            phone: Some("+12015550001"),
            ..Default::default()
        };
        assert_eq!(phones(s.customers(&one).await.unwrap()), ["+12015550001"]);
        let none = CustomerFilter {
            phone: Some("+12015550001"),
            tier: Some("core"),
            limit: None,
        };
        assert!(s.customers(&none).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn set_tiers_skips_rows_that_changed_since_they_were_read() {
        let (_d, s) = store().await;
        s.upsert_customers(
            &[
                record("+12015550001", "core"),
                record("+12015550002", "core"),
            ],
            1,
        )
        .await
        .unwrap();
        let read = s.customers(&CustomerFilter::default()).await.unwrap();
        // Meanwhile an update of the second customer stores a fresh tier.
        s.upsert_customers(&[record("+12015550002", "general-core")], 2)
            .await
            .unwrap();
        let changes: Vec<_> = read
            .iter()
            .map(|r| TierChange {
                id: r.id,
                tier: "important-promotion".into(),
                updated_at: r.updated_at,
            })
            .collect();
        assert_eq!(s.set_tiers(&changes).await.unwrap(), 1);
        let tier = |p: &'static str| {
            let s = s.clone();
            async move { s.customer_by_phone(p).await.unwrap().unwrap().tier }
        };
        assert_eq!(tier("+12015550001").await, "important-promotion");
        assert_eq!(tier("+12015550002").await, "general-core");
        // Unchanged tiers are not counted.
        assert_eq!(s.set_tiers(&changes[..1]).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn bot_turns_are_numbered_stored_once_and_counted_once() {
        let (_d, s) = store().await;
        s.save_menu("m", "h", 1, 0).await.unwrap();
        let cust = s.upsert_customer("+12015550123", None, 0).await.unwrap();
        open_consultation(&s, cust).await;
        assert_eq!(s.answers_version().await.unwrap(), 0);
        assert_eq!(s.replace_answers(&[], 1).await.unwrap(), 1);
        assert_eq!(s.replace_answers(&[], 2).await.unwrap(), 2);
        assert_eq!(s.answers_version().await.unwrap(), 2);

        let turn = |id: &'static str, answer: Option<&'static str>, offered| BotTurnWrite {
            consultation: "c1",
            client_id: id,
            question: "how do I pay?",
            answer_id: answer,
            answer: answer.map(|_| "Like this."),
            degree: 0.25,
            offered,
            now: 7,
        };
        let first = s
            .add_bot_turn(&turn("q1", Some("pay"), false))
            .await
            .unwrap();
        assert_eq!((first.row.seq, first.duplicate), (1, false));
        // A resend: the same row, nothing counted.
        let again = s
            .add_bot_turn(&turn("q1", Some("pay"), false))
            .await
            .unwrap();
        assert_eq!((again.row.seq, again.duplicate), (1, true));
        let second = s.add_bot_turn(&turn("q2", None, true)).await.unwrap();
        assert_eq!(second.row.seq, 2);
        assert_eq!(second.row.answer, None);

        assert_eq!(s.mark_helped("c1", "q1").await.unwrap(), Some(true));
        assert_eq!(s.mark_helped("c1", "q1").await.unwrap(), Some(false));
        assert_eq!(s.mark_helped("c1", "nope").await.unwrap(), None);
        assert!(s.decline_offer("c1").await.unwrap());
        assert!(!s.decline_offer("c1").await.unwrap(), "declined once");

        let turns = s.bot_turns("c1").await.unwrap();
        assert_eq!(turns.len(), 2);
        assert!(turns[0].helped && !turns[0].offered);
        assert!(turns[1].offered && turns[1].declined);
        let stats = s.answer_stats().await.unwrap();
        assert_eq!(
            stats,
            [AnswerStats {
                answer_id: "pay".into(),
                given: 1,
                accepted: 1,
                handed_off: 0
            }]
        );
    }

    #[tokio::test]
    async fn usernames_are_unique() {
        let (_d, s) = store().await;
        s.create_account("ann", "Ann", "agent", "h", 0)
            .await
            .unwrap();
        let e = s
            .create_account("ann", "Ann 2", "agent", "h", 0)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict(_)), "{e}");
    }
}
