//! One customer's conversation with the answer bot: the degrees so far and whether a
//! human is on offer (seed 002), with the policy for offering again after a decline.
//!
//! [`crate::handoff`] says whether a session's degrees call for a human. This module
//! adds what the customer did about it:
//!
//! - After an answer, the rule is applied ([`BotSession::answered`]); an offer opens
//!   when it says so.
//! - The customer may **accept** (the server puts them in the waiting queue; accepting
//!   is the same as asking for a human, which they may do at any time without an
//!   offer) or **decline** ([`BotSession::decline`]).
//! - **After a decline** the mean criterion is set aside: the running mean moves
//!   slowly, so it would re-offer after nearly every answer that follows, and the
//!   customer has just said a human is not what they want for that. A new offer comes
//!   only when a later answer is itself weak (its degree under the single
//!   threshold): that is new evidence the bot is failing. The mean criterion comes
//!   back once that new offer is made (accepted or declined again).
//! - An offer left unanswered lapses when the next answer does not call for one.
//!
//! The state is rebuilt from the stored turns ([`BotSession::restore`]), so a
//! customer who reconnects, or a restarted server, continues the same conversation.

use crate::handoff::{Degrees, HandOff, Thresholds};

/// Whether a human is on offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Offer {
    /// No offer open, and none declined since the last one closed.
    #[default]
    None,
    /// The latest answer came with an offer of a human.
    Open,
    /// The customer declined the last offer; only a weak answer re-offers.
    Declined,
}

/// One turn as stored: its degree, whether it came with an offer, and whether that
/// offer was declined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoredTurn {
    /// The matching degree of the answer.
    pub degree: f64,
    /// A human was offered after it.
    pub offered: bool,
    /// The customer declined that offer.
    pub declined: bool,
}

/// A conversation with the bot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BotSession {
    degrees: Degrees,
    offer: Offer,
}

impl BotSession {
    /// A conversation with no answer yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The conversation after `turns` (oldest first), as [`BotSession::answered`] and
    /// [`BotSession::decline`] left it.
    #[must_use]
    pub fn restore(turns: impl IntoIterator<Item = StoredTurn>) -> Self {
        let mut s = Self::new();
        for t in turns {
            s.degrees.push(t.degree);
            s.offer = match (t.offered, t.declined, s.offer) {
                (true, true, _) => Offer::Declined,
                (true, false, _) => Offer::Open,
                (false, _, Offer::Declined) => Offer::Declined,
                (false, _, _) => Offer::None,
            };
        }
        s
    }

    /// Records an answer's degree and decides whether it comes with an offer of a
    /// human under `thresholds` (the live ones). Returns the decision.
    pub fn answered(&mut self, degree: f64, thresholds: &Thresholds) -> HandOff {
        self.degrees.push(degree);
        let mut decision = thresholds.decide(&self.degrees);
        if self.offer == Offer::Declined
            && let HandOff::Offer { last_under, .. } = decision
        {
            decision = if last_under { decision } else { HandOff::Keep };
        }
        self.offer = match (decision, self.offer) {
            (HandOff::Offer { .. }, _) => Offer::Open,
            (HandOff::Keep, Offer::Declined) => Offer::Declined,
            (HandOff::Keep, _) => Offer::None,
        };
        decision
    }

    /// The customer declines the open offer. False (and nothing changes) when no
    /// offer is open.
    pub fn decline(&mut self) -> bool {
        if self.offer == Offer::Open {
            self.offer = Offer::Declined;
            true
        } else {
            false
        }
    }

    /// Whether a human is on offer now.
    #[must_use]
    pub fn offer(&self) -> Offer {
        self.offer
    }

    /// Every degree so far and their mean.
    #[must_use]
    pub fn degrees(&self) -> &Degrees {
        &self.degrees
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Thresholds = Thresholds {
        single: 0.4,
        mean: 0.6,
    };

    #[test]
    fn a_good_answer_offers_nothing_and_a_weak_one_offers_a_human() {
        let mut s = BotSession::new();
        assert_eq!(s.answered(0.9, &T), HandOff::Keep);
        assert_eq!(s.offer(), Offer::None);
        assert!(s.answered(0.1, &T).offers());
        assert_eq!(s.offer(), Offer::Open);
        assert_eq!(s.degrees().len(), 2);
    }

    #[test]
    fn after_a_decline_a_low_mean_alone_does_not_offer_again() {
        let mut s = BotSession::new();
        // Mean 0.5 < 0.6 but the degree is above 0.4: offered on the mean.
        assert_eq!(
            s.answered(0.5, &T),
            HandOff::Offer {
                last_under: false,
                mean_under: true
            }
        );
        assert!(s.decline());
        assert!(!s.decline(), "nothing left to decline");
        // The mean stays under 0.6, but the answers are not weak: no new offer.
        assert_eq!(s.answered(0.55, &T), HandOff::Keep);
        assert_eq!(s.answered(0.5, &T), HandOff::Keep);
        assert_eq!(s.offer(), Offer::Declined);
        // A weak answer is new evidence: offered again.
        assert!(s.answered(0.2, &T).offers());
        assert_eq!(s.offer(), Offer::Open);
        // That offer lapses on a good answer; the mean criterion is back.
        assert_eq!(
            s.answered(0.45, &T),
            HandOff::Offer {
                last_under: false,
                mean_under: true
            }
        );
    }

    #[test]
    fn an_unanswered_offer_lapses_when_the_next_answer_is_good() {
        let t = Thresholds {
            single: 0.4,
            mean: 0.0,
        };
        let mut s = BotSession::new();
        assert!(s.answered(0.1, &t).offers());
        assert_eq!(s.answered(0.9, &t), HandOff::Keep);
        assert_eq!(s.offer(), Offer::None);
        assert!(!s.decline());
    }

    #[test]
    fn restoring_the_turns_gives_the_same_conversation() {
        let mut live = BotSession::new();
        let mut stored = Vec::new();
        for (degree, decline) in [(0.5, true), (0.55, false), (0.2, false), (0.9, false)] {
            let offered = live.answered(degree, &T).offers();
            let declined = decline && live.decline();
            stored.push(StoredTurn {
                degree,
                offered,
                declined,
            });
            assert_eq!(BotSession::restore(stored.clone()), live, "after {degree}");
        }
    }
}
