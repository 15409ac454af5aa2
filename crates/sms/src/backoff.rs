//! [`Backoff`]: how long the server's worker waits before trying a message again.
//!
//! Pure arithmetic, no clock and no random source: the worker passes in a random
//! number, so tests (here and in the worker) need neither sleeping nor seeding.

use std::time::Duration;

use crate::SmsConfig;

/// Exponential back-off with jitter, and the attempt limit.
///
/// The nominal delay before retry `n` (counted from 1) is `first · 2ⁿ⁻¹`, capped at
/// `max`. The actual delay is a random point in the upper half of it,
/// `nominal · (0.5 + 0.5 · jitter)` with `jitter` in [0, 1] ("equal jitter" in the
/// AWS back-off article). Full jitter (anywhere in [0, nominal]) spreads load a little
/// better but can retry at once after a 429; half the nominal wait is a floor a
/// rate-limited gateway will tolerate. When the gateway sent `Retry-After`, the
/// worker is expected to wait at least that long instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Nominal delay before the first retry.
    pub first: Duration,
    /// Cap on the nominal delay.
    pub max: Duration,
    /// Attempts per message, the first one included.
    pub max_attempts: u32,
}

impl Backoff {
    /// The policy in `sms.backoff_first_secs`, `sms.backoff_max_secs` and
    /// `sms.max_attempts`.
    #[must_use]
    pub fn from_config(config: &SmsConfig) -> Self {
        Self {
            first: Duration::from_secs(config.backoff_first_secs),
            max: Duration::from_secs(config.backoff_max_secs),
            max_attempts: config.max_attempts,
        }
    }

    /// The nominal delay before retry `attempt` (1 for the first retry; 0 counts as
    /// 1): `min(max, first · 2^(attempt-1))`, without overflow for any `attempt`.
    #[must_use]
    pub fn nominal(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1);
        1u32.checked_shl(doublings)
            .and_then(|factor| self.first.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// The delay before retry `attempt` (1 for the first retry), with `jitter` a
    /// random number in [0, 1] (values outside are clamped; NaN counts as 0). Always
    /// within [nominal / 2, nominal], see [`Backoff::nominal`].
    #[must_use]
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let nominal = self.nominal(attempt);
        let jitter = if jitter.is_nan() {
            0.0
        } else {
            jitter.clamp(0.0, 1.0)
        };
        let scale = 0.5 + 0.5 * jitter;
        // Through f64 seconds, which rounds: clamp back into the promised range, and
        // fall back to the nominal delay for durations f64 cannot carry.
        Duration::try_from_secs_f64(nominal.as_secs_f64() * scale)
            .map_or(nominal, |d| d.clamp(nominal / 2, nominal))
    }

    /// Whether a message that has had `attempts_made` attempts should be given up.
    #[must_use]
    pub fn gives_up(&self, attempts_made: u32) -> bool {
        attempts_made >= self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> Backoff {
        Backoff::from_config(&SmsConfig::default())
    }

    #[test]
    fn from_the_default_config() {
        assert_eq!(
            policy(),
            Backoff {
                first: Duration::from_secs(2),
                max: Duration::from_secs(600),
                max_attempts: 8,
            }
        );
    }

    #[test]
    fn nominal_doubles_up_to_the_cap() {
        let b = policy();
        let secs: Vec<u64> = (1..=11).map(|n| b.nominal(n).as_secs()).collect();
        assert_eq!(secs, [2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600]);
        assert_eq!(b.nominal(0), b.nominal(1));
    }

    #[test]
    fn jitter_spans_the_upper_half() {
        let b = policy();
        assert_eq!(b.delay(1, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(1, 1.0), Duration::from_secs(2));
        assert_eq!(b.delay(3, 0.5), Duration::from_secs(6));
        assert_eq!(b.delay(20, 1.0), Duration::from_secs(600));
        assert_eq!(b.delay(1, -3.0), b.delay(1, 0.0));
        assert_eq!(b.delay(1, 9.0), b.delay(1, 1.0));
        assert_eq!(b.delay(1, f64::NAN), b.delay(1, 0.0));
    }

    #[test]
    fn no_overflow_for_huge_attempts_or_durations() {
        let b = policy();
        assert_eq!(b.nominal(1000), Duration::from_secs(600));
        assert_eq!(b.delay(1000, 1.0), Duration::from_secs(600));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(300));
        let huge = Backoff {
            first: Duration::from_secs(u64::MAX / 2),
            max: Duration::MAX,
            max_attempts: 1,
        };
        assert_eq!(huge.nominal(3), Duration::MAX);
        assert!(huge.delay(3, 1.0) <= Duration::MAX);
        assert!(huge.delay(1, 0.3) >= huge.first / 2);
    }

    #[test]
    fn gives_up_after_max_attempts() {
        let b = policy();
        assert!(!b.gives_up(0));
        assert!(!b.gives_up(7));
        assert!(b.gives_up(8));
        assert!(b.gives_up(9));
    }

    proptest! {
        #[test]
        fn delay_is_within_half_nominal_and_nominal(
            first in 1u64..10_000,
            extra in 0u64..100_000,
            attempt in 0u32..2_000,
            jitter in -1.0f64..2.0,
        ) {
            let b = Backoff {
                first: Duration::from_secs(first),
                max: Duration::from_secs(first + extra),
                max_attempts: 8,
            };
            let nominal = b.nominal(attempt);
            let delay = b.delay(attempt, jitter);
            prop_assert!(nominal <= b.max);
            prop_assert!(delay <= nominal);
            prop_assert!(delay >= nominal / 2);
            prop_assert!(b.nominal(attempt.saturating_add(1)) >= nominal);
        }

        #[test]
        fn more_jitter_never_waits_less(attempt in 1u32..40, a in 0.0f64..=1.0, b in 0.0f64..=1.0) {
            let p = policy();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(p.delay(attempt, lo) <= p.delay(attempt, hi));
        }
    }
}
