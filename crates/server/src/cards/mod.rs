//! After the service (seed 004): the agent's card — a short link to their page,
//! sent to the customer by SMS — and the agent's page at that link.
//!
//! # How a card goes out
//! 1. A service ends (the desk reports it on a channel, [`Cards::service_ended`]) or
//!    the agent presses "send my card" ([`Cards::issue`]).
//! 2. The link's code is made from the agent's id and the customer's phone
//!    ([`frontdesk_domain::agent_link`]); the link and an SMS carrying it are stored
//!    in one transaction, keyed by the trigger `service:<id>`: a service gets one
//!    card however often it is asked for.
//! 3. The delivery task ([`Cards::run`]) sends due messages through the configured
//!    [`SmsSender`], records every attempt, and retries failures with back-off
//!    until `sms.max_attempts`; then the message is marked failed. Nothing is
//!    dropped silently: every message and its status is in the log (`GET /api/sms`,
//!    `frontdesk sms outbox`).
//!
//! A crash between the end of a service and its card is mended at start-up: ended
//! services of the last day without a card get one ([`Cards::start`]).

pub mod page;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use frontdesk_domain::agent_link::{self, LinkKey};
use frontdesk_protocol::rest::SmsEntry;
use frontdesk_sms::{Backoff, SendError, Sms, SmsSender};
use frontdesk_store::cards::{CardIssued, CardWrite, EndedService, LinkRow, SmsAttempt, SmsRow};
use frontdesk_store::{Store, StoreError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use rand::{Rng, RngCore};
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::config::CardsConfig;
use crate::metrics::{Kind, Metrics};
use crate::time::now_ms;

/// Service end reasons that send a card: the agent ended it, the customer did, or
/// the customer's connection was lost. (`agent_lost` puts the customer back in the
/// queue: their service is not over.)
pub const END_REASONS: [&str; 3] = ["agent", "customer", "abandoned"];

/// How far back the start-up check looks for services owed a card.
const OWED_LOOKBACK_MS: i64 = 24 * 3600 * 1000;

/// Messages sent per pass before looking again.
const BATCH: u32 = 32;

/// An SMS as the REST API and the CLI show it.
#[must_use]
pub fn sms_entry(m: SmsRow) -> SmsEntry {
    SmsEntry {
        id: m.id,
        trigger: m.trigger,
        phone: m.phone,
        agent: m.agent_id,
        consultation: m.consultation,
        service: m.service,
        link: m.code.map(|c| format!("/a/{c}")),
        body: m.body,
        status: m.status,
        gateway: m.gateway,
        attempts: m.attempts,
        last_error: m.last_error,
        provider_id: m.provider_id,
        provider_status: m.provider_status,
        created_at: crate::time::rfc3339(m.created_at),
        sent_at: m.sent_at.map(crate::time::rfc3339),
        next_attempt_at: m.next_attempt_at.map(crate::time::rfc3339),
    }
}

/// A card could not be issued.
#[derive(Debug, thiserror::Error)]
pub enum CardError {
    /// The server has not finished starting (no link key yet).
    #[error("links are not ready yet")]
    NotReady,
    /// The service's customer has no phone number on record (cannot happen for a
    /// consultation started normally; guarded all the same).
    #[error("the customer of service {0} has no phone number")]
    NoPhone(String),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The cards, the links and their delivery.
#[derive(Debug)]
pub struct Cards {
    config: CardsConfig,
    store: Arc<dyn Store>,
    sender: Arc<dyn SmsSender>,
    backoff: Backoff,
    key: OnceLock<LinkKey>,
    base: OnceLock<String>,
    wake: Notify,
    ended_tx: mpsc::UnboundedSender<EndedService>,
    ended_rx: Mutex<Option<mpsc::UnboundedReceiver<EndedService>>>,
    issued: Family<Kind, Counter>,
    attempts: Family<Kind, Counter>,
    /// Ratings stored.
    pub ratings: Counter,
}

impl Cards {
    /// Cards over `store`, sending through the configured gateway.
    ///
    /// # Errors
    /// When the SMS configuration cannot make a sender.
    pub fn new(
        config: CardsConfig,
        sms: &frontdesk_sms::SmsConfig,
        store: Arc<dyn Store>,
        metrics: &Metrics,
    ) -> anyhow::Result<Self> {
        let sender = frontdesk_sms::build(sms)?;
        Ok(Self::with_sender(config, sms, sender, store, metrics))
    }

    /// Cards sending through `sender`.
    #[must_use]
    pub fn with_sender(
        config: CardsConfig,
        sms: &frontdesk_sms::SmsConfig,
        sender: Arc<dyn SmsSender>,
        store: Arc<dyn Store>,
        metrics: &Metrics,
    ) -> Self {
        let (ended_tx, ended_rx) = mpsc::unbounded_channel();
        Self {
            backoff: Backoff::from_config(sms),
            config,
            store,
            sender,
            key: OnceLock::new(),
            base: OnceLock::new(),
            wake: Notify::new(),
            ended_tx,
            ended_rx: Mutex::new(Some(ended_rx)),
            issued: metrics.cards_issued.clone(),
            attempts: metrics.sms_attempts.clone(),
            ratings: metrics.ratings.clone(),
        }
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &CardsConfig {
        &self.config
    }

    /// Which gateway sends (`outbox`, `http`, `twilio`).
    #[must_use]
    pub fn gateway(&self) -> &'static str {
        self.sender.kind()
    }

    /// Loads (or makes and stores) the link key, fixes the links' base address
    /// (`cards.public_url`, else `http://` + `addr`), and issues the cards owed by
    /// services that ended while the server was down or crashing.
    ///
    /// # Errors
    /// When the store cannot be read or written.
    pub async fn start(&self, addr: SocketAddr) -> anyhow::Result<()> {
        let secret = match &self.config.secret {
            Some(s) => s.as_bytes().to_vec(),
            None => {
                let mut fresh = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut fresh);
                self.store.link_secret(&fresh).await?
            }
        };
        let _ = self.key.set(LinkKey::new(&secret)?);
        let base = self
            .config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        let _ = self.base.set(base.trim_end_matches('/').to_owned());
        if self.config.send_on_end {
            let since = now_ms() - OWED_LOOKBACK_MS;
            for s in self.store.services_owed_cards(since, &END_REASONS).await? {
                tracing::info!(service = %s.id, "issuing a card owed since before the restart");
                self.issue_logged(&s, "end").await;
            }
        }
        Ok(())
    }

    /// What a code stands for, or `None` for a code that is malformed, unknown,
    /// or not made with the current key. Every miss does the same work (a lookup
    /// and a MAC), so a miss takes as long whatever the code looks like.
    ///
    /// # Errors
    /// When the store fails.
    pub async fn resolve(&self, code: &str) -> Result<Option<LinkRow>, StoreError> {
        let Some(key) = self.key.get() else {
            return Ok(None);
        };
        let shaped = agent_link::well_formed(code);
        // The lookup runs for malformed codes too (it finds nothing), so they do
        // not answer faster than well-formed guesses.
        let row = self.store.link(code).await?;
        let (agent, phone) = row
            .as_ref()
            .map_or((0, ""), |r| (r.agent_id, r.phone.as_str()));
        let valid = key.verify(code, agent, phone);
        Ok(row.filter(|_| shaped && valid))
    }

    /// The desk reports a service that ended with one of [`END_REASONS`].
    pub fn service_ended(&self, s: EndedService) {
        if self.config.send_on_end {
            let _ = self.ended_tx.send(s);
        }
    }

    /// Issues the card for a service: stores the link and its SMS (once per
    /// service) and wakes the delivery task.
    ///
    /// # Errors
    /// [`CardError`].
    pub async fn issue(
        &self,
        s: &EndedService,
        trigger: &'static str,
    ) -> Result<CardIssued, CardError> {
        let key = self.key.get().ok_or(CardError::NotReady)?;
        let base = self.base.get().ok_or(CardError::NotReady)?;
        if s.phone.is_empty() {
            return Err(CardError::NoPhone(s.id.clone()));
        }
        let code = key.code(s.agent_id, &s.phone);
        let link = format!("{base}/a/{code}");
        let body = self
            .config
            .message
            .replace("{agent}", &s.agent_name)
            .replace("{link}", &link);
        let issued = self
            .store
            .issue_card(&CardWrite {
                trigger: &format!("service:{}", s.id),
                code: &code,
                agent_id: s.agent_id,
                phone: &s.phone,
                consultation: Some(&s.consultation),
                service: Some(&s.id),
                body: &body,
                now: now_ms(),
            })
            .await?;
        if !issued.duplicate {
            self.issued.get_or_create(&Kind { kind: trigger }).inc();
            tracing::info!(service = %s.id, agent = s.agent_id, sms = issued.sms.id, trigger, "card issued");
            self.wake.notify_one();
        }
        Ok(issued)
    }

    async fn issue_logged(&self, s: &EndedService, trigger: &'static str) {
        if let Err(e) = self.issue(s, trigger).await {
            tracing::error!(service = %s.id, error = %e, "could not issue a card");
        }
    }

    /// The delivery task: issues cards for ended services and sends due messages,
    /// until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let Some(mut ended) = self
            .ended_rx
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return;
        };
        loop {
            let next = match self.deliver_due().await {
                Ok(true) => continue,
                Ok(false) => self.store.next_sms_due().await.ok().flatten(),
                Err(e) => {
                    tracing::error!(error = %e, "could not read the SMS queue");
                    Some(now_ms() + 5_000)
                }
            };
            // Wake for the next due message, a new card, or at least every minute.
            let wait = next.map_or(60_000, |at| (at - now_ms()).clamp(0, 60_000));
            let wait = Duration::from_millis(u64::try_from(wait).unwrap_or(0));
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                Some(s) = ended.recv() => self.issue_logged(&s, "end").await,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends one batch of due messages; true when there may be more due now.
    async fn deliver_due(&self) -> Result<bool, StoreError> {
        let due = self.store.due_sms(now_ms(), BATCH).await?;
        for m in &due {
            let sms = Sms {
                id: m.id,
                to: m.phone.clone(),
                body: m.body.clone(),
            };
            let result = self.sender.send(&sms).await;
            let made = m.attempts + 1;
            let now = now_ms();
            let gateway = self.sender.kind();
            let (attempt, outcome) = match &result {
                Ok(sent) => (
                    SmsAttempt::Sent {
                        provider_id: sent.provider_id.as_deref(),
                        provider_status: &sent.status,
                    },
                    "sent",
                ),
                Err(SendError::Retryable {
                    message,
                    retry_after,
                }) if !self.backoff.gives_up(made) => {
                    let jitter: f64 = rand::thread_rng().r#gen();
                    let delay = self
                        .backoff
                        .delay(made, jitter)
                        .max(retry_after.unwrap_or_default().min(self.backoff.max));
                    let delay = i64::try_from(delay.as_millis()).unwrap_or(i64::MAX);
                    (
                        SmsAttempt::Retry {
                            error: message,
                            next_at: now.saturating_add(delay),
                        },
                        "retry",
                    )
                }
                Err(SendError::Retryable { message, .. } | SendError::Permanent { message }) => {
                    (SmsAttempt::Failed { error: message }, "failed")
                }
            };
            match outcome {
                "sent" => tracing::info!(sms = m.id, gateway, "SMS sent"),
                "retry" => {
                    tracing::warn!(sms = m.id, gateway, attempt = made, error = ?result.as_ref().err(), "SMS failed; will retry")
                }
                _ => {
                    tracing::error!(sms = m.id, gateway, attempt = made, error = ?result.as_ref().err(), "SMS failed for good")
                }
            }
            self.attempts.get_or_create(&Kind { kind: outcome }).inc();
            self.store
                .record_sms_attempt(m.id, gateway, &attempt, now)
                .await?;
        }
        Ok(due.len() == BATCH as usize)
    }
}
