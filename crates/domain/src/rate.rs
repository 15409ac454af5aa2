//! A token bucket: how a connection is kept from flooding the server.
//!
//! Time is passed in, so the bucket is deterministic and tested without sleeping.
//! It is a dozen lines; a crate such as `governor` would bring its own clock and
//! atomics, which a per-connection, single-owner bucket does not need.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Allows `rate` events per second on average, and bursts of up to `burst`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    #[must_use]
    pub fn new(rate_per_sec: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate_per_sec.max(1)),
            burst,
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token if there is one. On refusal, says how long until there is.
    ///
    /// # Errors
    /// The wait until the next token when the bucket is empty.
    pub fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.rate))
        }
    }
}

/// Failed attempts per key (a username, an address): after `limit` failures
/// within `window`, the key is refused until `window` has passed since the
/// failure that reached the limit. A success clears the key. This is what slows
/// password guessing without locking out a user for long.
#[derive(Debug, Clone)]
pub struct FailureThrottle<K> {
    limit: u32,
    window: Duration,
    keys: HashMap<K, Failures>,
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    first: Instant,
    locked_until: Option<Instant>,
}

impl<K: Eq + Hash + Clone> FailureThrottle<K> {
    /// At most `limit` failures per `window`.
    #[must_use]
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            keys: HashMap::new(),
        }
    }

    /// Whether `key` may try now.
    ///
    /// # Errors
    /// How long until it may.
    pub fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.keys.get(key).and_then(|f| f.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Counts a failure of `key`.
    pub fn failed(&mut self, key: &K, now: Instant) {
        if self.keys.len() > 100_000 {
            let window = self.window;
            self.keys.retain(|_, f| {
                now.saturating_duration_since(f.first) < window
                    || f.locked_until.is_some_and(|u| u > now)
            });
        }
        let f = self.keys.entry(key.clone()).or_insert(Failures {
            count: 0,
            first: now,
            locked_until: None,
        });
        if now.saturating_duration_since(f.first) >= self.window
            || f.locked_until.is_some_and(|u| u <= now)
        {
            *f = Failures {
                count: 0,
                first: now,
                locked_until: None,
            };
        }
        f.count += 1;
        if f.count >= self.limit {
            f.locked_until = Some(now + self.window);
        }
    }

    /// Clears `key` after a success.
    pub fn succeeded(&mut self, key: &K) {
        self.keys.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_lock_a_key_for_the_window_and_success_clears_it() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        let mut t = FailureThrottle::new(3, w);
        for _ in 0..2 {
            t.failed(&"ann", t0);
        }
        assert!(t.check(&"ann", t0).is_ok(), "below the limit");
        t.failed(&"ann", t0);
        assert_eq!(t.check(&"ann", t0), Err(w));
        assert!(t.check(&"bob", t0).is_ok(), "other keys are not touched");
        assert!(t.check(&"ann", t0 + w).is_ok(), "the lock ends");
        // Failures spread wider than the window never lock.
        let mut t = FailureThrottle::new(3, w);
        for i in 0..10u64 {
            t.failed(&"ann", t0 + Duration::from_secs(40 * i));
            assert!(t.check(&"ann", t0 + Duration::from_secs(40 * i)).is_ok());
        }
        t.failed(&"ann", t0);
        t.succeeded(&"ann");
        assert!(t.check(&"ann", t0).is_ok());
    }

    #[test]
    fn allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 5, t0);
        for _ in 0..5 {
            assert!(b.take(t0).is_ok());
        }
        let wait = b.take(t0).unwrap_err();
        assert!(wait <= Duration::from_millis(100) && wait > Duration::ZERO);
        // After 100 ms one more token has arrived, and only one.
        let t1 = t0 + Duration::from_millis(100);
        assert!(b.take(t1).is_ok());
        assert!(b.take(t1).is_err());
        // A long pause refills to the burst, not beyond.
        let t2 = t1 + Duration::from_secs(60);
        for _ in 0..5 {
            assert!(b.take(t2).is_ok());
        }
        assert!(b.take(t2).is_err());
    }
}
