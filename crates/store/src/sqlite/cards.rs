//! [`CardStore`] for SQLite.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, to_u32};
use crate::cards::{
    CardIssued, CardStore, CardWrite, EndedService, LinkRow, PastService, PhotoRow, ProfileRow,
    Rated, RatingRow, RatingWrite, SmsAttempt, SmsRow,
};
use crate::{Result, StoreError};

const LINK_SECRET: &str = "link_secret";

fn sms_row(r: &SqliteRow) -> Result<SmsRow> {
    Ok(SmsRow {
        id: r.try_get("id")?,
        trigger: r.try_get("trigger")?,
        phone: r.try_get("phone")?,
        agent_id: r.try_get("agent_id")?,
        consultation: r.try_get("consultation_id")?,
        service: r.try_get("service_id")?,
        code: r.try_get("code")?,
        body: r.try_get("body")?,
        status: r.try_get("status")?,
        gateway: r.try_get("gateway")?,
        attempts: to_u32(r.try_get("attempts")?),
        next_attempt_at: r.try_get("next_attempt_at")?,
        last_error: r.try_get("last_error")?,
        provider_id: r.try_get("provider_id")?,
        provider_status: r.try_get("provider_status")?,
        created_at: r.try_get("created_at")?,
        sent_at: r.try_get("sent_at")?,
    })
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn stars(v: i64) -> u8 {
    u8::try_from(v).unwrap_or(0)
}

#[async_trait]
impl CardStore for SqliteStore {
    async fn link_secret(&self, fresh: &[u8]) -> Result<Vec<u8>> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)")
            .bind(LINK_SECRET)
            .bind(fresh)
            .execute(&mut *tx)
            .await?;
        let v: Vec<u8> = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(LINK_SECRET)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(v)
    }

    async fn issue_card(&self, c: &CardWrite<'_>) -> Result<CardIssued> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(r) = sqlx::query("SELECT * FROM sms_messages WHERE trigger = ?")
            .bind(c.trigger)
            .fetch_optional(&mut *tx)
            .await?
        {
            return Ok(CardIssued {
                sms: sms_row(&r)?,
                duplicate: true,
            });
        }
        sqlx::query(
            "INSERT INTO agent_links (code, agent_id, phone, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(c.code)
        .bind(c.agent_id)
        .bind(c.phone)
        .bind(c.now)
        .execute(&mut *tx)
        .await?;
        let stored: Option<(i64, String)> =
            sqlx::query_as("SELECT agent_id, phone FROM agent_links WHERE code = ?")
                .bind(c.code)
                .fetch_optional(&mut *tx)
                .await?;
        if stored.as_ref() != Some(&(c.agent_id, c.phone.to_owned())) {
            // Either the code stands for another pair (a MAC collision), or the pair
            // has another code (the secret changed): refuse rather than mix them up.
            return Err(StoreError::Conflict(format!(
                "link code {} does not stand for agent {} and this phone",
                c.code, c.agent_id
            )));
        }
        let r = sqlx::query(
            "INSERT INTO sms_messages (trigger, phone, agent_id, consultation_id, service_id, code, \
             body, status, next_attempt_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?) RETURNING *",
        )
        .bind(c.trigger)
        .bind(c.phone)
        .bind(c.agent_id)
        .bind(c.consultation)
        .bind(c.service)
        .bind(c.code)
        .bind(c.body)
        .bind(c.now)
        .bind(c.now)
        .fetch_one(&mut *tx)
        .await?;
        let sms = sms_row(&r)?;
        tx.commit().await?;
        Ok(CardIssued {
            sms,
            duplicate: false,
        })
    }

    async fn due_sms(&self, now: i64, limit: u32) -> Result<Vec<SmsRow>> {
        sqlx::query(
            "SELECT * FROM sms_messages WHERE status = 'pending' AND next_attempt_at <= ? \
             ORDER BY next_attempt_at, id LIMIT ?",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sms_row)
        .collect()
    }

    async fn next_sms_due(&self) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT MIN(next_attempt_at) FROM sms_messages WHERE status = 'pending'",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn record_sms_attempt(
        &self,
        id: i64,
        gateway: &str,
        attempt: &SmsAttempt<'_>,
        now: i64,
    ) -> Result<()> {
        let q = match attempt {
            SmsAttempt::Sent {
                provider_id,
                provider_status,
            } => sqlx::query(
                "UPDATE sms_messages SET status = 'sent', gateway = ?, attempts = attempts + 1, \
                 next_attempt_at = NULL, provider_id = ?, provider_status = ?, sent_at = ? \
                 WHERE id = ? AND status = 'pending'",
            )
            .bind(gateway)
            .bind(*provider_id)
            .bind(*provider_status)
            .bind(now),
            SmsAttempt::Retry { error, next_at } => sqlx::query(
                "UPDATE sms_messages SET gateway = ?, attempts = attempts + 1, \
                 next_attempt_at = ?, last_error = ? WHERE id = ? AND status = 'pending'",
            )
            .bind(gateway)
            .bind(*next_at)
            .bind(*error),
            SmsAttempt::Failed { error } => sqlx::query(
                "UPDATE sms_messages SET status = 'failed', gateway = ?, attempts = attempts + 1, \
                 next_attempt_at = NULL, last_error = ? WHERE id = ? AND status = 'pending'",
            )
            .bind(gateway)
            .bind(*error),
        };
        q.bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn sms_log(&self, phone: Option<&str>, limit: u32) -> Result<Vec<SmsRow>> {
        sqlx::query(
            "SELECT * FROM sms_messages WHERE ?1 IS NULL OR phone = ?1 \
             ORDER BY created_at DESC, id DESC LIMIT ?2",
        )
        .bind(phone)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(sms_row)
        .collect()
    }

    async fn sms(&self, id: i64) -> Result<Option<SmsRow>> {
        sqlx::query("SELECT * FROM sms_messages WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(sms_row)
            .transpose()
    }

    async fn link(&self, code: &str) -> Result<Option<LinkRow>> {
        let r = sqlx::query("SELECT * FROM agent_links WHERE code = ?")
            .bind(code)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| {
            Ok(LinkRow {
                code: r.try_get("code")?,
                agent_id: r.try_get("agent_id")?,
                phone: r.try_get("phone")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .transpose()
    }

    async fn services_owed_cards(&self, since: i64, reasons: &[&str]) -> Result<Vec<EndedService>> {
        let marks = vec!["?"; reasons.len()].join(", ");
        let sql = format!(
            "SELECT s.id, s.consultation_id, s.agent_id, a.display_name, cu.phone \
             FROM services s \
             JOIN accounts a ON a.id = s.agent_id \
             JOIN consultations c ON c.id = s.consultation_id \
             JOIN customers cu ON cu.id = c.customer_id \
             WHERE s.ended_at >= ? AND s.end_reason IN ({marks}) \
             AND NOT EXISTS (SELECT 1 FROM sms_messages m WHERE m.trigger = 'service:' || s.id) \
             ORDER BY s.ended_at"
        );
        let mut q = sqlx::query(&sql).bind(since);
        for r in reasons {
            q = q.bind(*r);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(EndedService {
                    id: r.try_get("id")?,
                    consultation: r.try_get("consultation_id")?,
                    agent_id: r.try_get("agent_id")?,
                    agent_name: r.try_get("display_name")?,
                    phone: r.try_get("phone")?,
                })
            })
            .collect()
    }

    async fn profile(&self, agent_id: i64) -> Result<Option<ProfileRow>> {
        let r = sqlx::query(
            "SELECT a.id, a.username, a.display_name, \
             COALESCE(p.slogan, '') AS slogan, p.contact_phone, p.photo_at, \
             (SELECT COUNT(*) FROM services s WHERE s.agent_id = a.id AND s.ended_at IS NOT NULL \
              AND s.end_reason <> 'agent_lost') AS served, \
             (SELECT COALESCE(SUM(stars), 0) FROM ratings r WHERE r.agent_id = a.id) AS rating_sum, \
             (SELECT COUNT(*) FROM ratings r WHERE r.agent_id = a.id) AS rating_count \
             FROM accounts a LEFT JOIN agent_profiles p ON p.agent_id = a.id WHERE a.id = ?",
        )
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(ProfileRow {
                agent_id: r.try_get("id")?,
                username: r.try_get("username")?,
                display_name: r.try_get("display_name")?,
                slogan: r.try_get("slogan")?,
                contact_phone: r.try_get("contact_phone")?,
                photo_at: r.try_get("photo_at")?,
                served: to_u64(r.try_get("served")?),
                rating_sum: to_u64(r.try_get("rating_sum")?),
                rating_count: to_u64(r.try_get("rating_count")?),
            })
        })
        .transpose()
    }

    async fn set_profile(
        &self,
        agent_id: i64,
        slogan: &str,
        contact_phone: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO agent_profiles (agent_id, slogan, contact_phone, updated_at) \
             SELECT id, ?, ?, ? FROM accounts WHERE id = ? \
             ON CONFLICT (agent_id) DO UPDATE SET slogan = excluded.slogan, \
             contact_phone = excluded.contact_phone, updated_at = excluded.updated_at",
        )
        .bind(slogan)
        .bind(contact_phone)
        .bind(now)
        .bind(agent_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn set_photo(
        &self,
        agent_id: i64,
        photo: Option<(&[u8], &str)>,
        now: i64,
    ) -> Result<bool> {
        let (bytes, ty) = photo.unzip();
        let at = photo.map(|_| now);
        let n = sqlx::query(
            "INSERT INTO agent_profiles (agent_id, photo, photo_type, photo_at, updated_at) \
             SELECT id, ?, ?, ?, ? FROM accounts WHERE id = ? \
             ON CONFLICT (agent_id) DO UPDATE SET photo = excluded.photo, \
             photo_type = excluded.photo_type, photo_at = excluded.photo_at, \
             updated_at = excluded.updated_at",
        )
        .bind(bytes)
        .bind(ty)
        .bind(at)
        .bind(now)
        .bind(agent_id)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    async fn photo(&self, agent_id: i64) -> Result<Option<PhotoRow>> {
        let r = sqlx::query(
            "SELECT photo, photo_type, photo_at FROM agent_profiles \
             WHERE agent_id = ? AND photo IS NOT NULL",
        )
        .bind(agent_id)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| {
            Ok(PhotoRow {
                bytes: r.try_get("photo")?,
                content_type: r.try_get("photo_type")?,
                at: r.try_get("photo_at")?,
            })
        })
        .transpose()
    }

    async fn services_between(
        &self,
        agent_id: i64,
        phone: &str,
        limit: u32,
    ) -> Result<Vec<PastService>> {
        let rows = sqlx::query(
            "SELECT s.id, s.need, s.started_at, s.ended_at, r.stars FROM services s \
             JOIN consultations c ON c.id = s.consultation_id \
             JOIN customers cu ON cu.id = c.customer_id \
             LEFT JOIN ratings r ON r.service_id = s.id \
             WHERE s.agent_id = ? AND cu.phone = ? \
             ORDER BY s.started_at DESC LIMIT ?",
        )
        .bind(agent_id)
        .bind(phone)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PastService {
                    id: r.try_get("id")?,
                    need: r.try_get("need")?,
                    started_at: r.try_get("started_at")?,
                    ended_at: r.try_get("ended_at")?,
                    stars: r.try_get::<Option<i64>, _>("stars")?.map(stars),
                })
            })
            .collect()
    }

    async fn ratings(&self, agent_id: i64, limit: u32) -> Result<Vec<RatingRow>> {
        let rows = sqlx::query(
            "SELECT service_id, stars, comment, created_at FROM ratings WHERE agent_id = ? \
             ORDER BY created_at DESC, service_id DESC LIMIT ?",
        )
        .bind(agent_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(RatingRow {
                    service_id: r.try_get("service_id")?,
                    stars: stars(r.try_get("stars")?),
                    comment: r.try_get("comment")?,
                    at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn rate(&self, w: &RatingWrite<'_>) -> Result<Rated> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let theirs: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM services s JOIN consultations c ON c.id = s.consultation_id \
             JOIN customers cu ON cu.id = c.customer_id \
             WHERE s.id = ? AND s.agent_id = ? AND cu.phone = ?",
        )
        .bind(w.service_id)
        .bind(w.agent_id)
        .bind(w.phone)
        .fetch_optional(&mut *tx)
        .await?;
        if theirs.is_none() {
            return Ok(Rated::NotTheirs);
        }
        let n = sqlx::query(
            "INSERT INTO ratings (service_id, agent_id, phone, stars, comment, created_at) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service_id) DO NOTHING",
        )
        .bind(w.service_id)
        .bind(w.agent_id)
        .bind(w.phone)
        .bind(i64::from(w.stars))
        .bind(w.comment)
        .bind(w.now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(if n == 1 {
            Rated::Stored
        } else {
            Rated::Already
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::sqlite::Durability;
    use crate::{NewConsultation, ServiceRow, Store};

    /// A store with agent 1 ("Ann") who served customer +441 in service s1 (ended by
    /// the agent at 40) and s2 (open).
    async fn store() -> (tempfile::TempDir, SqliteStore, i64) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let s = SqliteStore::open(&url, Durability::Full).await.unwrap();
        s.save_menu("m", "h", 1, 0).await.unwrap();
        let cust = s.upsert_customer("+441", None, 0).await.unwrap();
        let agent = s
            .create_account("ann", "Ann", "agent", "h", 0)
            .await
            .unwrap();
        s.create_consultation(&NewConsultation {
            id: "c1",
            customer_id: cust,
            menu_version: 1,
            resume_hash: b"r",
            screen: "main",
            now: 5,
        })
        .await
        .unwrap();
        for (id, at) in [("s1", 20), ("s2", 50)] {
            let sv = ServiceRow {
                id: id.into(),
                consultation: "c1".into(),
                agent_id: agent,
                need: "chat".into(),
                tier: "core".into(),
                queued_at: at - 5,
                started_at: at,
                ended_at: None,
                end_reason: None,
            };
            s.start_services(&[sv]).await.unwrap();
            if id == "s1" {
                s.end_service("s1", "agent", false, 40).await.unwrap();
            }
        }
        (dir, s, agent)
    }

    fn card<'a>(trigger: &'a str, code: &'a str, agent: i64, phone: &'a str) -> CardWrite<'a> {
        CardWrite {
            trigger,
            code,
            agent_id: agent,
            phone,
            consultation: Some("c1"),
            service: Some("s1"),
            body: "your agent: https://x/a/code",
            now: 100,
        }
    }

    #[tokio::test]
    async fn the_link_secret_is_made_once() {
        let (_d, s, _) = store().await;
        assert_eq!(s.link_secret(b"first").await.unwrap(), b"first");
        assert_eq!(s.link_secret(b"second").await.unwrap(), b"first");
    }

    #[tokio::test]
    async fn a_trigger_issues_one_card_and_the_log_finds_it_by_phone() {
        let (_d, s, agent) = store().await;
        let first = s
            .issue_card(&card("service:s1", "CODE1", agent, "+441"))
            .await
            .unwrap();
        assert!(!first.duplicate);
        assert_eq!(first.sms.status, "pending");
        assert_eq!(first.sms.next_attempt_at, Some(100));
        let again = s
            .issue_card(&card("service:s1", "CODE1", agent, "+441"))
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.sms.id, first.sms.id);
        assert_eq!(s.sms_log(None, 10).await.unwrap().len(), 1);
        assert_eq!(
            s.sms_log(Some("+441"), 10).await.unwrap()[0].id,
            first.sms.id
        );
        assert!(s.sms_log(Some("+442"), 10).await.unwrap().is_empty());
        let link = s.link("CODE1").await.unwrap().unwrap();
        assert_eq!((link.agent_id, link.phone.as_str()), (agent, "+441"));
        assert_eq!(s.link("CODE2").await.unwrap(), None);
        // A second trigger for the same pair reuses the link.
        let other = s
            .issue_card(&card("service:s2", "CODE1", agent, "+441"))
            .await
            .unwrap();
        assert!(!other.duplicate);
        // A code that stands for another pair is refused, and nothing is stored.
        let clash = s
            .issue_card(&card("service:x", "CODE1", agent, "+442"))
            .await;
        assert!(matches!(clash, Err(StoreError::Conflict(_))), "{clash:?}");
        let moved = s
            .issue_card(&card("service:y", "CODE9", agent, "+441"))
            .await;
        assert!(matches!(moved, Err(StoreError::Conflict(_))), "{moved:?}");
        assert_eq!(s.sms_log(None, 10).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn attempts_move_a_message_from_pending_to_sent_or_failed() {
        let (_d, s, agent) = store().await;
        let a = s
            .issue_card(&card("t1", "C1", agent, "+441"))
            .await
            .unwrap()
            .sms;
        let b = s
            .issue_card(&card("t2", "C1", agent, "+441"))
            .await
            .unwrap()
            .sms;
        assert_eq!(s.next_sms_due().await.unwrap(), Some(100));
        assert_eq!(s.due_sms(99, 10).await.unwrap(), []);
        assert_eq!(s.due_sms(100, 10).await.unwrap().len(), 2);
        let retry = SmsAttempt::Retry {
            error: "HTTP 500",
            next_at: 200,
        };
        s.record_sms_attempt(a.id, "http", &retry, 101)
            .await
            .unwrap();
        let due: Vec<i64> = s
            .due_sms(150, 10)
            .await
            .unwrap()
            .iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(due, [b.id]);
        let sent = SmsAttempt::Sent {
            provider_id: Some("p-1"),
            provider_status: "queued",
        };
        s.record_sms_attempt(a.id, "http", &sent, 201)
            .await
            .unwrap();
        let a = s.sms(a.id).await.unwrap().unwrap();
        assert_eq!(
            (
                a.status.as_str(),
                a.attempts,
                a.sent_at,
                a.last_error.as_deref()
            ),
            ("sent", 2, Some(201), Some("HTTP 500"))
        );
        assert_eq!(a.provider_id.as_deref(), Some("p-1"));
        // A late duplicate record cannot move a sent message back.
        s.record_sms_attempt(a.id, "http", &retry, 202)
            .await
            .unwrap();
        assert_eq!(s.sms(a.id).await.unwrap().unwrap().status, "sent");
        s.record_sms_attempt(b.id, "http", &SmsAttempt::Failed { error: "400" }, 203)
            .await
            .unwrap();
        assert_eq!(s.sms(b.id).await.unwrap().unwrap().status, "failed");
        assert_eq!(s.next_sms_due().await.unwrap(), None);
    }

    #[tokio::test]
    async fn ended_services_without_a_card_are_owed_one() {
        let (_d, s, agent) = store().await;
        let owed = s
            .services_owed_cards(0, &["agent", "customer"])
            .await
            .unwrap();
        assert_eq!(owed.len(), 1);
        assert_eq!(
            (
                owed[0].id.as_str(),
                owed[0].phone.as_str(),
                owed[0].agent_name.as_str()
            ),
            ("s1", "+441", "Ann")
        );
        assert!(
            s.services_owed_cards(41, &["agent"])
                .await
                .unwrap()
                .is_empty(),
            "since"
        );
        assert!(
            s.services_owed_cards(0, &["customer"])
                .await
                .unwrap()
                .is_empty(),
            "reason"
        );
        s.issue_card(&card("service:s1", "C1", agent, "+441"))
            .await
            .unwrap();
        assert!(
            s.services_owed_cards(0, &["agent"])
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn profiles_photos_and_ratings() {
        let (_d, s, agent) = store().await;
        let p = s.profile(agent).await.unwrap().unwrap();
        assert_eq!((p.display_name.as_str(), p.slogan.as_str()), ("Ann", ""));
        assert_eq!((p.served, p.rating_count, p.photo_at), (1, 0, None));
        assert!(
            s.set_profile(agent, "Glad to help", Some("+442"), 7)
                .await
                .unwrap()
        );
        assert!(
            !s.set_profile(999, "x", None, 7).await.unwrap(),
            "no such agent"
        );
        assert!(
            s.set_photo(agent, Some((b"\x89PNG", "image/png")), 8)
                .await
                .unwrap()
        );
        let p = s.profile(agent).await.unwrap().unwrap();
        assert_eq!(
            (p.slogan.as_str(), p.contact_phone.as_deref()),
            ("Glad to help", Some("+442"))
        );
        assert_eq!(p.photo_at, Some(8));
        assert_eq!(
            s.photo(agent).await.unwrap().unwrap().content_type,
            "image/png"
        );
        assert!(s.set_profile(agent, "New", None, 9).await.unwrap());
        assert!(
            s.photo(agent).await.unwrap().is_some(),
            "text edits keep the photo"
        );
        assert!(s.set_photo(agent, None, 10).await.unwrap());
        assert_eq!(s.photo(agent).await.unwrap(), None);
        assert_eq!(s.profile(999).await.unwrap(), None);

        let rate = |service, phone, stars| RatingWrite {
            service_id: service,
            agent_id: agent,
            phone,
            stars,
            comment: "kind",
            now: 60,
        };
        assert_eq!(s.rate(&rate("s1", "+441", 5)).await.unwrap(), Rated::Stored);
        assert_eq!(
            s.rate(&rate("s1", "+441", 1)).await.unwrap(),
            Rated::Already
        );
        assert_eq!(
            s.rate(&rate("s2", "+449", 1)).await.unwrap(),
            Rated::NotTheirs
        );
        assert_eq!(
            s.rate(&rate("nope", "+441", 1)).await.unwrap(),
            Rated::NotTheirs
        );
        assert_eq!(s.rate(&rate("s2", "+441", 4)).await.unwrap(), Rated::Stored);
        let p = s.profile(agent).await.unwrap().unwrap();
        assert_eq!((p.rating_sum, p.rating_count), (9, 2));
        let past = s.services_between(agent, "+441", 10).await.unwrap();
        let got: Vec<(&str, Option<u8>)> = past.iter().map(|p| (p.id.as_str(), p.stars)).collect();
        assert_eq!(got, [("s2", Some(4)), ("s1", Some(5))]);
        assert!(
            s.services_between(agent, "+449", 10)
                .await
                .unwrap()
                .is_empty()
        );
        let r = s.ratings(agent, 10).await.unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].comment, "kind");
    }
}
