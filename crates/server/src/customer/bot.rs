//! The customer's conversation with the answer bot (`ask`, `decline`, `helped`;
//! `human` is a numbered request handled with the others).
//!
//! A question is answered, then stored with its degree and the offer decision
//! (one transaction that also counts the answer as given), then the answer is
//! sent: so a `bot_answer` always describes a stored turn, and a resend of the same
//! question id gets the stored answer back without asking or counting again.

use std::time::Instant;

use frontdesk_domain::bot_session::{BotSession, StoredTurn};
use frontdesk_protocol::{BotReply, BotTurn, ErrorCode, ServerMessage};
use frontdesk_store::{BotTurnRow, BotTurnWrite};

use super::{Session, Stop, check_id};
use crate::metrics::Kind;
use crate::time::now_ms;

/// Questions longer than this many characters are refused (the matcher reads
/// the first 2,000 bytes anyway; this keeps stored transcripts sane).
pub const MAX_QUESTION_CHARS: usize = 2_000;

/// The bot conversation attached to a consultation.
#[derive(Debug, Clone)]
pub(super) struct BotState {
    /// Degrees and the offer.
    pub session: BotSession,
}

impl BotState {
    /// The conversation after its stored turns.
    pub fn restore(turns: &[BotTurnRow]) -> Self {
        Self {
            session: BotSession::restore(turns.iter().map(|t| StoredTurn {
                degree: t.degree,
                offered: t.offered,
                declined: t.declined,
            })),
        }
    }
}

/// A stored turn as the customer sees it.
fn turn_of(t: &BotTurnRow) -> BotTurn {
    BotTurn {
        id: t.client_id.clone(),
        seq: t.seq,
        question: t.question.clone(),
        answer: reply_of(t),
        at_ms: t.at,
    }
}

fn reply_of(t: &BotTurnRow) -> Option<BotReply> {
    match (&t.answer_id, &t.answer) {
        (Some(entry), Some(text)) => Some(BotReply {
            entry: entry.clone(),
            text: text.clone(),
        }),
        _ => None,
    }
}

/// Checks a question: an id as for chat messages, and text that says something.
pub fn check_question(id: &str, text: &str) -> Result<(), String> {
    check_id(id)?;
    if text.chars().all(|c| c.is_whitespace() || c.is_control()) {
        return Err("the question is empty".into());
    }
    let n = text.chars().count();
    if n > MAX_QUESTION_CHARS {
        return Err(format!(
            "the question has {n} characters; at most {MAX_QUESTION_CHARS} are accepted"
        ));
    }
    Ok(())
}

impl Session {
    /// Opens the bot for the attached consultation (a bot item was chosen, or a
    /// resume found it open) and sends the conversation so far.
    pub(super) async fn open_bot(&mut self, item: String) -> Result<(), Stop> {
        let Some(att) = &self.attached else {
            return Ok(());
        };
        let id = att.id.clone();
        let turns = match self.app.store.bot_turns(&id).await {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(consultation = %id, error = %e, "could not read a bot conversation");
                Vec::new()
            }
        };
        let state = BotState::restore(&turns);
        let offer = state.session.offer() == frontdesk_domain::bot_session::Offer::Open;
        if let Some(att) = self.attached.as_mut() {
            att.bot = Some(state);
        }
        self.send(&ServerMessage::BotOpened {
            item,
            turns: turns.iter().map(turn_of).collect(),
            offer,
        })
        .await
    }

    /// `ask`: answer, store, reply.
    pub(super) async fn ask(&mut self, qid: String, text: String) -> Result<(), Stop> {
        let Some(att) = &self.attached else {
            return self
                .error_for(qid, ErrorCode::NotStarted, "send hello first".into())
                .await;
        };
        let consultation = att.id.clone();
        if att.bot.is_none() {
            return self
                .error_for(
                    qid,
                    ErrorCode::BotNotOpen,
                    "choose the bot's menu item before asking".into(),
                )
                .await;
        }
        if let Err(problem) = check_question(&qid, &text) {
            return self
                .error_for(qid, ErrorCode::InvalidMessage, problem)
                .await;
        }
        let started = Instant::now();
        let reply = self.app.bot.ask(&text).await;
        let (thresholds, _) = self.app.desk.handoff();
        // Decide on a copy: the session changes only once the turn is stored.
        let Some(mut session) = self
            .attached
            .as_ref()
            .and_then(|a| a.bot.as_ref())
            .map(|b| b.session.clone())
        else {
            return Ok(());
        };
        let offered = session.answered(reply.degree, &thresholds).offers();
        let (entry, answer) = match &reply.answer {
            Some((e, a)) => (Some(e.as_str()), Some(a.as_str())),
            None => (None, None),
        };
        let write = BotTurnWrite {
            consultation: &consultation,
            client_id: &qid,
            question: &text,
            answer_id: entry,
            answer,
            degree: reply.degree,
            offered,
            now: now_ms(),
        };
        let stored = match self.app.store.add_bot_turn(&write).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(consultation = %consultation, error = %e, "could not store a bot turn");
                return self
                    .error_for(
                        qid,
                        ErrorCode::Internal,
                        "could not record this question; send it again".into(),
                    )
                    .await;
            }
        };
        if !stored.duplicate {
            if let Some(b) = self.attached.as_mut().and_then(|a| a.bot.as_mut()) {
                b.session = session;
            }
            let m = &self.app.metrics;
            m.bot_answer_seconds
                .observe(started.elapsed().as_secs_f64());
            m.bot_questions
                .get_or_create(&Kind {
                    kind: if entry.is_some() {
                        "answered"
                    } else {
                        "no_match"
                    },
                })
                .inc();
            if offered {
                m.bot_offers.inc();
            }
            tracing::debug!(consultation = %consultation, degree = reply.degree, offered, "bot answered");
        }
        let row = stored.row;
        self.send(&ServerMessage::BotAnswer {
            id: qid,
            seq: row.seq,
            answer: reply_of(&row),
            offer: row.offered,
            duplicate: stored.duplicate,
        })
        .await
    }

    /// `decline`: the customer keeps talking to the bot.
    pub(super) async fn decline(&mut self) -> Result<(), Stop> {
        let Some(att) = &self.attached else {
            self.error(None, ErrorCode::NotStarted, "send hello first".into())
                .await;
            return Ok(());
        };
        let consultation = att.id.clone();
        let open = att
            .bot
            .as_ref()
            .is_some_and(|b| b.session.offer() == frontdesk_domain::bot_session::Offer::Open);
        if !open {
            self.error(
                None,
                ErrorCode::NoOffer,
                "no human is on offer to decline".into(),
            )
            .await;
            return Ok(());
        }
        match self.app.store.decline_offer(&consultation).await {
            Ok(_) => {
                if let Some(b) = self.attached.as_mut().and_then(|a| a.bot.as_mut()) {
                    b.session.decline();
                }
                self.app.metrics.bot_declines.inc();
                self.send(&ServerMessage::OfferDeclined {}).await
            }
            Err(e) => {
                tracing::error!(consultation = %consultation, error = %e, "could not record a decline");
                self.error(
                    None,
                    ErrorCode::Internal,
                    "could not record this; send it again".into(),
                )
                .await;
                Ok(())
            }
        }
    }

    /// `helped`: the answer to question `id` helped.
    pub(super) async fn helped(&mut self, qid: String) -> Result<(), Stop> {
        let Some(att) = &self.attached else {
            return self
                .error_for(qid, ErrorCode::NotStarted, "send hello first".into())
                .await;
        };
        let consultation = att.id.clone();
        match self.app.store.mark_helped(&consultation, &qid).await {
            Ok(Some(first)) => {
                self.send(&ServerMessage::Noted {
                    id: qid,
                    duplicate: !first,
                })
                .await
            }
            Ok(None) => {
                self.error_for(
                    qid,
                    ErrorCode::UnknownQuestion,
                    "no question with this id was asked in this consultation".into(),
                )
                .await
            }
            Err(e) => {
                tracing::error!(consultation = %consultation, error = %e, "could not record feedback");
                self.error_for(
                    qid,
                    ErrorCode::Internal,
                    "could not record this; send it again".into(),
                )
                .await
            }
        }
    }

    /// After a resume: reopens the bot when a bot item was chosen in this
    /// consultation.
    pub(super) async fn reopen_bot(&mut self) -> Result<(), Stop> {
        let Some(att) = &self.attached else {
            return Ok(());
        };
        let id = att.id.clone();
        let item = match self.app.store.service_items(&id).await {
            Ok(items) => items.into_iter().rev().find(|i| i.kind == "bot"),
            Err(e) => {
                tracing::warn!(consultation = %id, error = %e, "could not read a service record");
                None
            }
        };
        match item {
            Some(i) => self.open_bot(i.item_id).await,
            None => Ok(()),
        }
    }

    /// After a hand-off: counts it against the last answer the bot gave, and says
    /// whether an offer was open.
    pub(super) async fn count_handoff(&mut self) {
        let Some(att) = &self.attached else {
            return;
        };
        let consultation = att.id.clone();
        let via_offer = att
            .bot
            .as_ref()
            .is_some_and(|b| b.session.offer() == frontdesk_domain::bot_session::Offer::Open);
        self.app
            .metrics
            .handoffs
            .get_or_create(&Kind {
                kind: if via_offer { "offer" } else { "asked" },
            })
            .inc();
        let last = match self.app.store.bot_turns(&consultation).await {
            Ok(turns) => turns.into_iter().rev().find_map(|t| t.answer_id),
            Err(e) => {
                tracing::warn!(consultation = %consultation, error = %e, "could not read the bot turns");
                None
            }
        };
        if let Some(answer) = last
            && let Err(e) = self
                .app
                .store
                .count_answer(&answer, frontdesk_store::AnswerEvent::HandedOff)
                .await
        {
            tracing::warn!(error = %e, "could not count a hand-off");
        }
    }
}
