//! When the answer bot offers a human (seed 002): matching degrees, the hand-off
//! rule, and thresholds that move with how idle the agents are.
//!
//! # The rule
//! Every bot answer has a **matching degree** in [0, 1] (how sure the bot is that it
//! answered the question; the bot crate calibrates it). A session keeps every degree
//! and their running mean since it began ([`Degrees`]). After each answer a human is
//! offered when
//!
//! > the last degree is **under** the single threshold, **or** the running mean is
//! > **under** the mean threshold
//!
//! ([`Thresholds::decide`]). "Under" is strict, as in the seed ("lower than"): a
//! degree exactly at the threshold is served well enough and is *not* offered a
//! human. That makes a threshold of 0 mean "never on this criterion" and a threshold
//! of 1 mean "unless the match is perfect".
//!
//! The two criteria do different jobs. The single threshold catches one bad answer
//! in a session that was going well. The mean threshold catches a session that is
//! mediocre throughout, where no one answer is bad enough on its own. At the first
//! answer the mean *is* the degree, so the first answer is offered a human when it is
//! under the higher of the two thresholds; and the mean criterion only adds something
//! when the mean threshold is above the single one (a mean under a lower bar implies
//! a degree under the single one along the way). The defaults are set that way.
//!
//! # The thresholds move with idleness
//! With idle agents a human costs little, so the bot should hand off readily: both
//! thresholds high. With every agent busy and customers waiting, each hand-off makes
//! the queue longer for everyone, so only the customers the bot serves worst should
//! reach a human: both thresholds low. The business configures the range of each
//! threshold ([`ThresholdBounds`]); where in the range they sit is decided by the
//! **pressure** on the agents, `p` in [0, 1] ([`Staffing::pressure`]):
//!
//! ```text
//! load  ρ = (busy + waiting) / available         busy = available − idle
//! p       = clamp((ρ − ρ_relaxed) / (ρ_saturated − ρ_relaxed), 0, 1)
//!           ρ_relaxed   = 1 − relaxed_idle_share          (default 1 − 0.5)
//!           ρ_saturated = 1 + saturating_queue_per_agent  (default 1 + 2)
//! single  = single_max − (single_max − single_min) · p
//! mean    = mean_max   − (mean_max   − mean_min)   · p
//! ```
//!
//! `ρ` is the number of customers (in service or waiting) per available agent. Below
//! 1 it is one minus the share of agents who are idle; above 1 it is one plus the
//! queue length per agent. So:
//!
//! - **p = 0** (thresholds at their maximum) while at least `relaxed_idle_share` of
//!   the available agents are idle and nobody waits: plenty of slack.
//! - p rises linearly as the idle share falls to zero (every agent busy, nobody
//!   waiting gives p = 0.2 with the defaults: a hand-off now waits for someone to
//!   finish), and goes on rising as the queue grows,
//! - **p = 1** (thresholds at their minimum) once `saturating_queue_per_agent`
//!   customers wait per available agent: beyond that a longer queue cannot make the
//!   bar any lower than the business allowed.
//! - Nobody available at all is p = 1: nobody can take the customer soon, but the
//!   worst-served are still offered a place in the queue (whether to offer a queue
//!   nobody serves is the server's choice).
//!
//! Why this shape: one number (customers per agent) covers both regimes, the idle one
//! and the queueing one, without a seam between them, and it is monotone by
//! construction: another idle agent (whether a busy one finishing or a new one
//! arriving) lowers ρ, another waiting customer raises it, so more idle agents never
//! make a hand-off harder and a longer queue never makes it easier (property tests
//! below). Shares rather than head counts make it independent of the size of the
//! team: 1 idle agent of 2 is as much slack as 50 of 100. A linear ramp was chosen
//! over a smooth curve (a logistic, say) because each of its two knobs has a meaning
//! a business can reason about ("relaxed when half the agents are idle", "as strict
//! as allowed at two waiting per agent"); the bounds already cap the effect.
//!
//! # Assumptions
//! - The counts are a snapshot of one node's desk. `available` counts agents taking
//!   customers (idle or serving); agents away or offline do not count.
//! - The server recomputes the thresholds whenever the counts change (or before each
//!   decision); everything here is cheap enough to do per answer.
//!
//! # Out of scope
//! Whether a customer who declined an offer is offered again on the next weak answer
//! (the mean may stay low for a while) is the conversation's policy, not this rule's.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Every matching degree of one session, in order, and their running mean.
///
/// Pushing is O(1) (amortised, for the list): the sum is kept, not recomputed.
/// Degrees are clamped into [0, 1]; a NaN (a bug upstream) is kept as 0, the worst
/// degree, so that when in doubt the customer is offered a human.
///
/// Serialises as the list of degrees, so it can travel with the transcript; the mean
/// is recomputed on reading.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<f64>", into = "Vec<f64>")]
pub struct Degrees {
    all: Vec<f64>,
    /// Sum of `all`. Exact enough: at most a few thousand values in [0, 1] per
    /// session, far from where f64 sums lose precision that matters at a threshold.
    sum: f64,
}

impl Degrees {
    /// No degrees yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the degree of the latest answer and returns it as stored (clamped).
    pub fn push(&mut self, degree: f64) -> f64 {
        let d = clamp_degree(degree);
        self.all.push(d);
        self.sum += d;
        d
    }

    /// The latest degree, if any.
    #[must_use]
    pub fn last(&self) -> Option<f64> {
        self.all.last().copied()
    }

    /// The mean of every degree so far, if any.
    #[must_use]
    pub fn mean(&self) -> Option<f64> {
        if self.all.is_empty() {
            return None;
        }
        // The clamp guards the last bit of rounding: a mean must stay in [0, 1].
        Some((self.sum / self.all.len() as f64).clamp(0.0, 1.0))
    }

    /// Every degree, oldest first.
    #[must_use]
    pub fn as_slice(&self) -> &[f64] {
        &self.all
    }

    /// Number of degrees.
    #[must_use]
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Whether no answer has been given yet.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
}

impl From<Vec<f64>> for Degrees {
    fn from(v: Vec<f64>) -> Self {
        v.into_iter().collect()
    }
}

impl From<Degrees> for Vec<f64> {
    fn from(d: Degrees) -> Self {
        d.all
    }
}

impl FromIterator<f64> for Degrees {
    fn from_iter<I: IntoIterator<Item = f64>>(iter: I) -> Self {
        let mut d = Degrees::new();
        for x in iter {
            d.push(x);
        }
        d
    }
}

fn clamp_degree(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// The two thresholds in effect at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// A human is offered when the last degree is under this.
    pub single: f64,
    /// A human is offered when the running mean is under this.
    pub mean: f64,
}

/// What the rule says after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HandOff {
    /// The bot is serving well enough: no offer.
    Keep,
    /// Offer a human, and why (at least one of the two is true).
    Offer {
        /// The last degree is under the single threshold.
        last_under: bool,
        /// The running mean is under the mean threshold.
        mean_under: bool,
    },
}

impl HandOff {
    /// Whether a human should be offered.
    #[must_use]
    pub fn offers(self) -> bool {
        matches!(self, HandOff::Offer { .. })
    }
}

impl Thresholds {
    /// The seed's rule for a session's degrees: offer a human when the last degree
    /// is strictly under `single` or the mean strictly under `mean`. No degrees yet
    /// (no answer given) is [`HandOff::Keep`].
    #[must_use]
    pub fn decide(&self, degrees: &Degrees) -> HandOff {
        match (degrees.last(), degrees.mean()) {
            (Some(last), Some(mean)) => self.decide_values(last, mean),
            _ => HandOff::Keep,
        }
    }

    /// The rule on a last degree and a mean directly (both taken as given).
    #[must_use]
    pub fn decide_values(&self, last: f64, mean: f64) -> HandOff {
        // NaN compares false; route it to "under" like `Degrees` does.
        let last_under = last.is_nan() || last < self.single;
        let mean_under = mean.is_nan() || mean < self.mean;
        if last_under || mean_under {
            HandOff::Offer {
                last_under,
                mean_under,
            }
        } else {
            HandOff::Keep
        }
    }
}

/// How busy the agents are, as counted by the desk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Staffing {
    /// Available agents with nothing in hand.
    pub idle: usize,
    /// Agents taking customers, idle or serving (not away, not offline).
    pub available: usize,
    /// Customers in the waiting queue.
    pub waiting: usize,
}

impl Staffing {
    /// The load ρ: customers in service or waiting per available agent (see the
    /// module docs). `None` when nobody is available. `idle` above `available` (an
    /// inconsistent snapshot) counts as every agent idle.
    #[must_use]
    pub fn load(&self) -> Option<f64> {
        if self.available == 0 {
            return None;
        }
        let idle = self.idle.min(self.available);
        let busy = self.available - idle;
        // Counts far below 2^53: the conversions are exact.
        Some((busy as f64 + self.waiting as f64) / self.available as f64)
    }

    /// The pressure p in [0, 1]: 0 is plenty of idle agents, 1 is as busy as the
    /// curve distinguishes (see the module docs for the formula).
    #[must_use]
    pub fn pressure(&self, curve: &PressureCurve) -> f64 {
        let Some(load) = self.load() else {
            return 1.0;
        };
        let relaxed = 1.0 - curve.relaxed_idle_share;
        let saturated = 1.0 + curve.saturating_queue_per_agent;
        let span = saturated - relaxed;
        if span.is_nan() || span <= 0.0 {
            // Only an unchecked, degenerate curve gets here: treat it as a step.
            return if load > relaxed { 1.0 } else { 0.0 };
        }
        let p = (load - relaxed) / span;
        if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) }
    }
}

/// The two knobs of the pressure ramp (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PressureCurve {
    /// With at least this share of the available agents idle and nobody waiting,
    /// the pressure is 0: thresholds at their maximum. In (0, 1]; default 0.5.
    pub relaxed_idle_share: f64,
    /// With this many customers waiting per available agent, the pressure reaches
    /// 1: thresholds at their minimum. Above 0; default 2.
    pub saturating_queue_per_agent: f64,
}

impl Default for PressureCurve {
    fn default() -> Self {
        Self {
            relaxed_idle_share: 0.5,
            saturating_queue_per_agent: 2.0,
        }
    }
}

impl PressureCurve {
    /// Checks the knobs are usable.
    ///
    /// # Errors
    /// A message naming the bad setting.
    pub fn check(&self) -> Result<(), String> {
        let share = self.relaxed_idle_share;
        let share_ok = share > 0.0 && share <= 1.0;
        if !share_ok {
            return Err(format!(
                "relaxed_idle_share must be in (0, 1]; it is {share}"
            ));
        }
        let queue = self.saturating_queue_per_agent;
        let queue_ok = queue.is_finite() && queue > 0.0;
        if !queue_ok {
            return Err(format!(
                "saturating_queue_per_agent must be a number above 0; it is {queue}"
            ));
        }
        Ok(())
    }
}

/// The configured range of each threshold: near the maximum when agents are idle,
/// near the minimum when they are swamped.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThresholdBounds {
    /// Lowest single threshold (agents swamped).
    pub single_min: f64,
    /// Highest single threshold (agents idle).
    pub single_max: f64,
    /// Lowest mean threshold (agents swamped).
    pub mean_min: f64,
    /// Highest mean threshold (agents idle).
    pub mean_max: f64,
}

impl Default for ThresholdBounds {
    /// A starting point, to be tuned with `frontdesk answers eval` on the business's
    /// own questions. The mean range sits above the single range so the mean
    /// criterion has work to do (module docs, "The rule").
    fn default() -> Self {
        Self {
            single_min: 0.2,
            single_max: 0.5,
            mean_min: 0.3,
            mean_max: 0.6,
        }
    }
}

impl ThresholdBounds {
    /// Checks that every bound is in [0, 1] and each minimum is at most its maximum.
    ///
    /// # Errors
    /// A message naming every bad setting.
    pub fn check(&self) -> Result<(), String> {
        let mut bad = Vec::new();
        for (name, v) in [
            ("single_min", self.single_min),
            ("single_max", self.single_max),
            ("mean_min", self.mean_min),
            ("mean_max", self.mean_max),
        ] {
            if !(0.0..=1.0).contains(&v) {
                bad.push(format!("{name} must be in [0, 1]; it is {v}"));
            }
        }
        if self.single_min > self.single_max {
            bad.push(format!(
                "single_min ({}) must not be above single_max ({})",
                self.single_min, self.single_max
            ));
        }
        if self.mean_min > self.mean_max {
            bad.push(format!(
                "mean_min ({}) must not be above mean_max ({})",
                self.mean_min, self.mean_max
            ));
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    }

    /// The thresholds at pressure `p` (clamped into [0, 1]; NaN counts as 1):
    /// `max − (max − min)·p` for each. Always within the bounds of a checked
    /// `ThresholdBounds`.
    #[must_use]
    pub fn at(&self, p: f64) -> Thresholds {
        let p = if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
        Thresholds {
            single: between(self.single_min, self.single_max, p),
            mean: between(self.mean_min, self.mean_max, p),
        }
    }

    /// The thresholds for the agents' current situation.
    #[must_use]
    pub fn thresholds(&self, staffing: &Staffing, curve: &PressureCurve) -> Thresholds {
        self.at(staffing.pressure(curve))
    }
}

/// `max − (max − min)·p`, kept within [min, max] despite rounding. The clamp is
/// written with `max`/`min` rather than `f64::clamp` so that an unchecked bound with
/// `min > max` cannot panic.
fn between(min: f64, max: f64, p: f64) -> f64 {
    (max - (max - min) * p).max(min).min(max)
}

impl fmt::Display for Thresholds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "single {:.3}, mean {:.3}", self.single, self.mean)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: Thresholds = Thresholds {
        single: 0.4,
        mean: 0.5,
    };

    fn degrees(v: &[f64]) -> Degrees {
        v.iter().copied().collect()
    }

    #[test]
    fn running_mean_of_every_degree() {
        let mut d = Degrees::new();
        assert_eq!(d.mean(), None);
        assert_eq!(d.last(), None);
        assert!(d.is_empty());
        d.push(1.0);
        assert_eq!(d.mean(), Some(1.0));
        d.push(0.5);
        assert_eq!(d.mean(), Some(0.75));
        d.push(0.0);
        assert_eq!(d.mean(), Some(0.5));
        assert_eq!(d.last(), Some(0.0));
        assert_eq!(d.as_slice(), [1.0, 0.5, 0.0]);
        assert_eq!(d.len(), 3);
    }

    #[test]
    fn degrees_are_clamped_and_nan_is_worst() {
        let mut d = Degrees::new();
        assert_eq!(d.push(1.5), 1.0);
        assert_eq!(d.push(-0.2), 0.0);
        assert_eq!(d.push(f64::NAN), 0.0);
        assert_eq!(d.push(f64::INFINITY), 1.0);
        assert_eq!(d.as_slice(), [1.0, 0.0, 0.0, 1.0]);
        assert_eq!(d.mean(), Some(0.5));
    }

    #[test]
    fn degrees_serialise_as_a_list_and_recompute_the_mean() {
        let d = degrees(&[0.25, 0.75]);
        let json = serde_json::to_string(&d).unwrap();
        assert_eq!(json, "[0.25,0.75]");
        let back: Degrees = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        assert_eq!(back.mean(), Some(0.5));
    }

    #[test]
    fn no_answer_yet_is_no_offer() {
        assert_eq!(T.decide(&Degrees::new()), HandOff::Keep);
    }

    #[test]
    fn exactly_at_a_threshold_is_not_under() {
        // Last exactly at `single`, mean above `mean`: served well enough.
        let d = degrees(&[0.6, 0.4]);
        assert_eq!(d.mean(), Some(0.5));
        // Mean exactly at `mean` too: still no offer.
        assert_eq!(T.decide(&d), HandOff::Keep);
        // The smallest step under either threshold offers.
        let under = f64::from_bits(0.4f64.to_bits() - 1);
        assert_eq!(
            T.decide_values(under, 0.9),
            HandOff::Offer {
                last_under: true,
                mean_under: false
            }
        );
        let under = f64::from_bits(0.5f64.to_bits() - 1);
        assert_eq!(
            T.decide_values(0.9, under),
            HandOff::Offer {
                last_under: false,
                mean_under: true
            }
        );
    }

    #[test]
    fn either_criterion_offers() {
        // One bad answer after good ones: the mean is fine, the last is not.
        let d = degrees(&[0.9, 0.9, 0.9, 0.1]);
        assert_eq!(
            T.decide(&d),
            HandOff::Offer {
                last_under: true,
                mean_under: false
            }
        );
        // Mediocre throughout: no single answer under 0.4, the mean under 0.5.
        let d = degrees(&[0.45, 0.45, 0.45]);
        assert_eq!(
            T.decide(&d),
            HandOff::Offer {
                last_under: false,
                mean_under: true
            }
        );
        // Both.
        assert_eq!(
            T.decide(&degrees(&[0.1])),
            HandOff::Offer {
                last_under: true,
                mean_under: true
            }
        );
        assert!(T.decide(&degrees(&[0.1])).offers());
        assert!(!T.decide(&degrees(&[0.9])).offers());
    }

    #[test]
    fn threshold_zero_never_offers_and_one_offers_unless_perfect() {
        let never = Thresholds {
            single: 0.0,
            mean: 0.0,
        };
        assert_eq!(never.decide(&degrees(&[0.0, 0.0])), HandOff::Keep);
        let always = Thresholds {
            single: 1.0,
            mean: 1.0,
        };
        assert!(always.decide(&degrees(&[0.999])).offers());
        assert_eq!(always.decide(&degrees(&[1.0, 1.0])), HandOff::Keep);
    }

    #[test]
    fn nan_inputs_offer() {
        assert!(T.decide_values(f64::NAN, 0.9).offers());
        assert!(T.decide_values(0.9, f64::NAN).offers());
    }

    fn staffing(idle: usize, available: usize, waiting: usize) -> Staffing {
        Staffing {
            idle,
            available,
            waiting,
        }
    }

    #[test]
    fn pressure_at_the_landmarks_of_the_curve() {
        let c = PressureCurve::default();
        // Half or more idle, nobody waiting: relaxed.
        assert_eq!(staffing(5, 10, 0).pressure(&c), 0.0);
        assert_eq!(staffing(10, 10, 0).pressure(&c), 0.0);
        // Everyone busy, nobody waiting: 0.5 / 2.5.
        assert!((staffing(0, 10, 0).pressure(&c) - 0.2).abs() < 1e-12);
        // One waiting per agent: 1.5 / 2.5.
        assert!((staffing(0, 10, 10).pressure(&c) - 0.6).abs() < 1e-12);
        // Two or more waiting per agent: saturated.
        assert_eq!(staffing(0, 10, 20).pressure(&c), 1.0);
        assert_eq!(staffing(0, 10, 1000).pressure(&c), 1.0);
        // Nobody available.
        assert_eq!(staffing(0, 0, 0).pressure(&c), 1.0);
        // An inconsistent snapshot is read as every agent idle.
        assert_eq!(staffing(7, 3, 0).pressure(&c), 0.0);
    }

    #[test]
    fn thresholds_span_the_bounds() {
        let b = ThresholdBounds::default();
        let c = PressureCurve::default();
        let idle = b.thresholds(&staffing(4, 4, 0), &c);
        assert_eq!(
            idle,
            Thresholds {
                single: b.single_max,
                mean: b.mean_max
            }
        );
        let swamped = b.thresholds(&staffing(0, 4, 50), &c);
        assert_eq!(
            swamped,
            Thresholds {
                single: b.single_min,
                mean: b.mean_min
            }
        );
        // The same weak answer is offered a human when agents are idle and not
        // when they are swamped.
        let weak = degrees(&[0.9, 0.3]);
        assert!(idle.decide(&weak).offers());
        assert!(!swamped.decide(&weak).offers());
        assert_eq!(idle.to_string(), "single 0.500, mean 0.600");
    }

    #[test]
    fn bounds_check_names_every_bad_setting() {
        assert_eq!(ThresholdBounds::default().check(), Ok(()));
        let equal = ThresholdBounds {
            single_min: 0.3,
            single_max: 0.3,
            mean_min: 0.0,
            mean_max: 1.0,
        };
        assert_eq!(equal.check(), Ok(()));
        let bad = ThresholdBounds {
            single_min: 0.7,
            single_max: 0.4,
            mean_min: -0.1,
            mean_max: f64::NAN,
        };
        let e = bad.check().unwrap_err();
        assert!(
            e.contains("single_min (0.7) must not be above single_max (0.4)"),
            "{e}"
        );
        assert!(e.contains("mean_min must be in [0, 1]; it is -0.1"), "{e}");
        assert!(e.contains("mean_max must be in [0, 1]; it is NaN"), "{e}");
        let e = ThresholdBounds {
            mean_min: 0.9,
            mean_max: 0.8,
            ..ThresholdBounds::default()
        }
        .check()
        .unwrap_err();
        assert!(
            e.contains("mean_min (0.9) must not be above mean_max (0.8)"),
            "{e}"
        );
        let e = ThresholdBounds {
            single_max: 1.5,
            ..ThresholdBounds::default()
        }
        .check()
        .unwrap_err();
        assert!(e.contains("single_max must be in [0, 1]"), "{e}");
    }

    #[test]
    fn curve_check() {
        assert_eq!(PressureCurve::default().check(), Ok(()));
        for bad in [
            PressureCurve {
                relaxed_idle_share: 0.0,
                ..PressureCurve::default()
            },
            PressureCurve {
                relaxed_idle_share: 1.1,
                ..PressureCurve::default()
            },
            PressureCurve {
                saturating_queue_per_agent: 0.0,
                ..PressureCurve::default()
            },
            PressureCurve {
                saturating_queue_per_agent: f64::INFINITY,
                ..PressureCurve::default()
            },
        ] {
            assert!(bad.check().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn config_shape() {
        // `serde(default)`: a partial section fills in the rest; unknown keys fail.
        let b: ThresholdBounds = serde_json::from_str(r#"{"single_min":0.1}"#).unwrap();
        assert_eq!(b.single_min, 0.1);
        assert_eq!(b.mean_max, ThresholdBounds::default().mean_max);
        assert!(serde_json::from_str::<ThresholdBounds>(r#"{"single":0.1}"#).is_err());
        let c: PressureCurve = serde_json::from_str(r#"{"relaxed_idle_share":0.25}"#).unwrap();
        assert_eq!(c.saturating_queue_per_agent, 2.0);
    }

    fn arb_bounds() -> impl Strategy<Value = ThresholdBounds> {
        (0.0f64..=1.0, 0.0f64..=1.0, 0.0f64..=1.0, 0.0f64..=1.0).prop_map(|(a, b, c, d)| {
            ThresholdBounds {
                single_min: a.min(b),
                single_max: a.max(b),
                mean_min: c.min(d),
                mean_max: c.max(d),
            }
        })
    }

    fn arb_curve() -> impl Strategy<Value = PressureCurve> {
        (0.01f64..=1.0, 0.01f64..50.0).prop_map(|(s, q)| PressureCurve {
            relaxed_idle_share: s,
            saturating_queue_per_agent: q,
        })
    }

    /// A consistent snapshot: idle ≤ available.
    fn arb_staffing() -> impl Strategy<Value = Staffing> {
        (0usize..500, 0usize..500, 0usize..5000).prop_map(|(a, b, waiting)| Staffing {
            idle: a.min(b),
            available: a.max(b),
            waiting,
        })
    }

    fn no_harder(before: Thresholds, after: Thresholds) -> bool {
        after.single >= before.single && after.mean >= before.mean
    }

    proptest! {
        #[test]
        fn thresholds_stay_within_bounds(b in arb_bounds(), c in arb_curve(), s in arb_staffing()) {
            prop_assert!(b.check().is_ok());
            let p = s.pressure(&c);
            prop_assert!((0.0..=1.0).contains(&p));
            let t = b.thresholds(&s, &c);
            prop_assert!(b.single_min <= t.single && t.single <= b.single_max, "{t:?} {b:?}");
            prop_assert!(b.mean_min <= t.mean && t.mean <= b.mean_max, "{t:?} {b:?}");
        }

        #[test]
        fn any_pressure_stays_within_bounds(b in arb_bounds(), p in any::<f64>()) {
            let t = b.at(p);
            prop_assert!(b.single_min <= t.single && t.single <= b.single_max);
            prop_assert!(b.mean_min <= t.mean && t.mean <= b.mean_max);
        }

        /// A busy agent finishing, or a new agent arriving idle, never makes a
        /// hand-off harder.
        #[test]
        fn more_idle_agents_never_make_hand_off_harder(
            b in arb_bounds(), c in arb_curve(), s in arb_staffing()
        ) {
            let before = b.thresholds(&s, &c);
            if s.idle < s.available {
                let finished = Staffing { idle: s.idle + 1, ..s };
                prop_assert!(no_harder(before, b.thresholds(&finished, &c)));
            }
            let arrived = Staffing { idle: s.idle + 1, available: s.available + 1, ..s };
            prop_assert!(no_harder(before, b.thresholds(&arrived, &c)));
        }

        #[test]
        fn a_longer_queue_never_makes_hand_off_easier(
            b in arb_bounds(), c in arb_curve(), s in arb_staffing(), more in 1usize..100
        ) {
            let before = b.thresholds(&s, &c);
            let longer = Staffing { waiting: s.waiting + more, ..s };
            prop_assert!(no_harder(b.thresholds(&longer, &c), before));
        }

        /// Whatever the degrees, a lower threshold never offers where a higher one
        /// would not: the rule is monotone in the thresholds too, which is what turns
        /// monotone thresholds into monotone offers.
        #[test]
        fn higher_thresholds_offer_at_least_as_often(
            v in proptest::collection::vec(0.0f64..=1.0, 1..20),
            lo in 0.0f64..=1.0, hi in 0.0f64..=1.0, m1 in 0.0f64..=1.0, m2 in 0.0f64..=1.0
        ) {
            let d: Degrees = v.into_iter().collect();
            let low = Thresholds { single: lo.min(hi), mean: m1.min(m2) };
            let high = Thresholds { single: lo.max(hi), mean: m1.max(m2) };
            prop_assert!(!low.decide(&d).offers() || high.decide(&d).offers());
        }

        #[test]
        fn running_mean_matches_a_fresh_mean(v in proptest::collection::vec(0.0f64..=1.0, 1..200)) {
            let d: Degrees = v.iter().copied().collect();
            let fresh = v.iter().sum::<f64>() / v.len() as f64;
            let mean = d.mean().unwrap();
            prop_assert!((mean - fresh).abs() < 1e-12);
            prop_assert!((0.0..=1.0).contains(&mean));
        }
    }
}
