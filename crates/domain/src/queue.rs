//! The waiting queue: customers who asked for an agent, in serving order (seed 003).
//!
//! Arrival time is cut into **periods** of `period_ms`. A customer's place is
//! decided by, in order:
//! 1. put back at the head (their agent vanished mid-service): these go first;
//! 2. the arrival period: an earlier period is always served first, so whatever
//!    their tier nobody waits behind customers who came a full period later;
//! 3. the tier's rank in the configured serving order ([`TierOrder`]);
//! 4. the arrival time;
//! 5. the order they were queued in, so equal keys keep a stable order.
//!
//! The queue is generic over the customer's id so it can be tested with integers
//! and used with consultation ids.
//!
//! # Out of scope
//! Where the live queue is kept (one node's memory, or Redis for several) is the
//! server's business: this module only orders.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use crate::tier::{Tier, TierOrder};

/// What a waiting customer needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// A text chat: an agent may hold several.
    Chat,
    /// A voice call: it takes the whole agent.
    Voice,
}

/// One waiting customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting<C> {
    /// Who (a consultation id in the server).
    pub who: C,
    /// Their value tier.
    pub tier: Tier,
    /// When they asked for an agent (Unix ms).
    pub arrived_ms: i64,
    /// Chat or voice.
    pub need: Need,
}

/// How the queue orders (configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Length of an arrival period in milliseconds (at least 1).
    pub period_ms: i64,
    /// Serving order of tiers within a period.
    pub order: TierOrder,
}

/// The sort key. Field order is the priority order (derive(Ord) compares fields
/// in declaration order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    /// 0 for customers put back at the head, 1 for everyone else.
    lane: u8,
    period: i64,
    rank: u8,
    arrived_ms: i64,
    seq: u64,
}

/// Customers waiting for an agent, in serving order.
#[derive(Debug, Clone)]
pub struct WaitingQueue<C> {
    policy: QueuePolicy,
    entries: BTreeMap<Key, Waiting<C>>,
    keys: HashMap<C, Key>,
    next_seq: u64,
}

/// The customer is already in the queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the customer is already waiting")]
pub struct AlreadyQueued;

impl<C: Clone + Eq + Hash> WaitingQueue<C> {
    /// An empty queue.
    #[must_use]
    pub fn new(policy: QueuePolicy) -> Self {
        Self {
            policy: QueuePolicy {
                period_ms: policy.period_ms.max(1),
                ..policy
            },
            entries: BTreeMap::new(),
            keys: HashMap::new(),
            next_seq: 0,
        }
    }

    fn key(&mut self, w: &Waiting<C>, lane: u8) -> Key {
        self.next_seq += 1;
        Key {
            lane,
            period: w.arrived_ms.div_euclid(self.policy.period_ms),
            rank: self.policy.order.rank(w.tier),
            arrived_ms: w.arrived_ms,
            seq: self.next_seq,
        }
    }

    fn insert(&mut self, w: Waiting<C>, lane: u8) -> Result<(), AlreadyQueued> {
        if self.keys.contains_key(&w.who) {
            return Err(AlreadyQueued);
        }
        let key = self.key(&w, lane);
        self.keys.insert(w.who.clone(), key);
        self.entries.insert(key, w);
        Ok(())
    }

    /// Queues a customer in their place.
    ///
    /// # Errors
    /// [`AlreadyQueued`] if they are waiting already; the queue is unchanged.
    pub fn push(&mut self, w: Waiting<C>) -> Result<(), AlreadyQueued> {
        self.insert(w, 1)
    }

    /// Puts a customer back at the head (ahead of everyone not put back), e.g.
    /// after their agent's connection was lost mid-service.
    ///
    /// # Errors
    /// [`AlreadyQueued`] if they are waiting already.
    pub fn push_front(&mut self, w: Waiting<C>) -> Result<(), AlreadyQueued> {
        self.insert(w, 0)
    }

    /// Takes a customer out (cancelled, gone, or assigned).
    pub fn remove(&mut self, who: &C) -> Option<Waiting<C>> {
        let key = self.keys.remove(who)?;
        self.entries.remove(&key)
    }

    /// Whether the customer is waiting.
    #[must_use]
    pub fn contains(&self, who: &C) -> bool {
        self.keys.contains_key(who)
    }

    /// The customer's place, 0 being next. Linear in the queue's length.
    #[must_use]
    pub fn position(&self, who: &C) -> Option<usize> {
        let key = self.keys.get(who)?;
        Some(self.entries.range(..key).count())
    }

    /// Sorts some waiting customers into serving order (those not waiting last),
    /// without walking the queue: `O(k log k)` for `k` customers.
    pub fn sort_by_place(&self, who: &mut [C]) {
        who.sort_by_cached_key(|c| self.keys.get(c).map_or((1, None), |k| (0, Some(*k))));
    }

    /// The waiting entry of a customer.
    #[must_use]
    pub fn get(&self, who: &C) -> Option<&Waiting<C>> {
        self.keys.get(who).and_then(|k| self.entries.get(k))
    }

    /// Waiting customers in serving order.
    pub fn iter(&self) -> impl Iterator<Item = &Waiting<C>> {
        self.entries.values()
    }

    /// The next customer.
    #[must_use]
    pub fn head(&self) -> Option<&Waiting<C>> {
        self.entries.values().next()
    }

    /// How many are waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nobody is waiting.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The earliest arrival among those waiting (for "oldest wait" metrics).
    #[must_use]
    pub fn oldest_arrival_ms(&self) -> Option<i64> {
        self.entries.values().map(|w| w.arrived_ms).min()
    }
}

/// Expected wait, in ms, for the customer at `position` (0 = next) when all
/// `agents` serving the queue are busy and a service lasts `mean_service_ms` on
/// average; `None` when no agent is serving.
///
/// With every agent busy and service times roughly exponential, agents free up at
/// a combined rate of `agents / mean`, so the customer in place `k` (counting
/// from 1) waits for the k-th departure: `k × mean / agents` on average (the
/// M/M/c waiting-time argument). It overestimates when some agents are idle,
/// which only happens when nobody waits long anyway.
#[must_use]
pub fn estimate_wait_ms(position: usize, agents: usize, mean_service_ms: u64) -> Option<u64> {
    if agents == 0 {
        return None;
    }
    let k = u64::try_from(position)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let agents = u64::try_from(agents).unwrap_or(u64::MAX);
    Some(k.saturating_mul(mean_service_ms) / agents)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy(period_ms: i64) -> QueuePolicy {
        QueuePolicy {
            period_ms,
            order: TierOrder::default(),
        }
    }

    fn w(who: u32, tier: Tier, arrived_ms: i64) -> Waiting<u32> {
        Waiting {
            who,
            tier,
            arrived_ms,
            need: Need::Chat,
        }
    }

    fn order(q: &WaitingQueue<u32>) -> Vec<u32> {
        q.iter().map(|w| w.who).collect()
    }

    #[test]
    fn within_a_period_by_tier_then_arrival_and_earlier_periods_first() {
        let mut q = WaitingQueue::new(policy(60_000));
        q.push(w(1, Tier::New, 1_000)).unwrap();
        q.push(w(2, Tier::Core, 50_000)).unwrap();
        q.push(w(3, Tier::GeneralCore, 2_000)).unwrap();
        q.push(w(4, Tier::Core, 61_000)).unwrap(); // next period: after everyone above
        q.push(w(5, Tier::Core, 40_000)).unwrap();
        assert_eq!(order(&q), [5, 2, 3, 1, 4]);
        assert_eq!(q.position(&1), Some(3));
        assert_eq!(q.head().map(|w| w.who), Some(5));
        assert_eq!(q.oldest_arrival_ms(), Some(1_000));
    }

    #[test]
    fn put_back_customers_go_first_and_duplicates_are_refused() {
        let mut q = WaitingQueue::new(policy(60_000));
        q.push(w(1, Tier::Core, 0)).unwrap();
        q.push_front(w(2, Tier::New, 500_000)).unwrap();
        assert_eq!(order(&q), [2, 1]);
        assert_eq!(q.push(w(1, Tier::Core, 9)), Err(AlreadyQueued));
        assert_eq!(q.len(), 2);
        assert_eq!(q.remove(&2).map(|w| w.who), Some(2));
        assert_eq!(q.remove(&2), None);
        assert!(!q.contains(&2));
        assert_eq!(order(&q), [1]);
    }

    #[test]
    fn a_custom_tier_order_is_followed() {
        let mut tiers = Tier::ALL.to_vec();
        tiers.rotate_right(1); // new first
        let mut q = WaitingQueue::new(QueuePolicy {
            period_ms: 60_000,
            order: TierOrder::try_from(tiers).unwrap(),
        });
        q.push(w(1, Tier::Core, 0)).unwrap();
        q.push(w(2, Tier::New, 10)).unwrap();
        assert_eq!(order(&q), [2, 1]);
    }

    #[test]
    fn negative_times_fall_in_their_own_periods() {
        let mut q = WaitingQueue::new(policy(1000));
        q.push(w(1, Tier::Core, 0)).unwrap();
        q.push(w(2, Tier::New, -1)).unwrap(); // period -1: earlier
        assert_eq!(order(&q), [2, 1]);
    }

    #[test]
    fn wait_estimates() {
        assert_eq!(estimate_wait_ms(0, 0, 60_000), None);
        assert_eq!(estimate_wait_ms(0, 1, 60_000), Some(60_000));
        assert_eq!(estimate_wait_ms(3, 2, 60_000), Some(120_000));
        assert_eq!(estimate_wait_ms(usize::MAX, 1, u64::MAX), Some(u64::MAX));
    }

    fn arb_waiting() -> impl Strategy<Value = Vec<(usize, i64)>> {
        proptest::collection::vec((0usize..9, 0i64..600_000), 0..80)
    }

    proptest! {
        /// The order is exactly: earlier period, then tier rank, then arrival,
        /// then insertion; and positions agree with it.
        #[test]
        fn serving_order_is_period_tier_arrival_insertion(spec in arb_waiting(), period in 1i64..120_000) {
            let mut q = WaitingQueue::new(policy(period));
            for (i, (tier, at)) in spec.iter().enumerate() {
                q.push(w(u32::try_from(i).unwrap(), Tier::ALL[*tier], *at)).unwrap();
            }
            let got: Vec<&Waiting<u32>> = q.iter().collect();
            for pair in got.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let (pa, pb) = (a.arrived_ms.div_euclid(period), b.arrived_ms.div_euclid(period));
                prop_assert!(pa <= pb, "an earlier period is served first");
                if pa == pb {
                    let (ra, rb) = (a.tier as u8, b.tier as u8);
                    prop_assert!(ra <= rb, "then by tier");
                    if ra == rb {
                        prop_assert!(a.arrived_ms <= b.arrived_ms, "then by arrival");
                        if a.arrived_ms == b.arrived_ms {
                            prop_assert!(a.who < b.who, "then stable in insertion order");
                        }
                    }
                }
            }
            for (i, waiting) in got.iter().enumerate() {
                prop_assert_eq!(q.position(&waiting.who), Some(i));
            }
        }

        /// Removing customers leaves the others in the same relative order.
        #[test]
        fn removal_keeps_relative_order(spec in arb_waiting(), drop_mask in any::<u128>()) {
            let mut q = WaitingQueue::new(policy(60_000));
            for (i, (tier, at)) in spec.iter().enumerate() {
                q.push(w(u32::try_from(i).unwrap(), Tier::ALL[*tier], *at)).unwrap();
            }
            let before = order(&q);
            for who in &before {
                if drop_mask >> (who % 128) & 1 == 1 {
                    q.remove(who);
                }
            }
            let kept: Vec<u32> = before.into_iter().filter(|who| drop_mask >> (who % 128) & 1 == 0).collect();
            prop_assert_eq!(order(&q), kept);
        }

        /// A later estimate is never shorter for a customer further back, and more
        /// agents never make it longer.
        #[test]
        fn estimates_are_monotone(pos in 0usize..10_000, agents in 1usize..500, mean in 0u64..3_600_000) {
            let here = estimate_wait_ms(pos, agents, mean).unwrap();
            prop_assert!(estimate_wait_ms(pos + 1, agents, mean).unwrap() >= here);
            prop_assert!(estimate_wait_ms(pos, agents + 1, mean).unwrap() <= here);
        }
    }
}
