//! The assignment decision: pairing waiting customers with ready agents.
//!
//! [`Dispatcher`] owns both the waiting queue and the agent pool, so a pairing is
//! one synchronous step on one value: whoever holds the dispatcher (one lock or one
//! task in the server) decides alone, and no customer can get two agents nor an
//! agent more than their capacity, however requests interleave.
//!
//! The rule: customers in serving order; each goes to the first agent in the ready
//! queue who can take what they need. A customer no ready agent can take (a voice
//! call while every ready agent has a chat in hand) is passed over for now rather
//! than blocking those behind them; they keep their place and go first once an
//! agent can take them.

use std::collections::HashMap;
use std::hash::Hash;

use crate::agents::{AgentPool, Presence};
use crate::queue::{AlreadyQueued, Need, QueuePolicy, Waiting, WaitingQueue};

/// A customer given to an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment<C, A> {
    /// The customer, as they were waiting.
    pub customer: Waiting<C>,
    /// Their agent.
    pub agent: A,
}

/// The waiting queue and the agents, decided on together.
#[derive(Debug, Clone)]
pub struct Dispatcher<C, A> {
    /// Customers waiting.
    pub waiting: WaitingQueue<C>,
    /// Agents and the ready queue.
    pub agents: AgentPool<A>,
    /// Customers waiting for one agent in particular.
    preferred: HashMap<C, A>,
}

impl<C: Clone + Eq + Hash, A: Clone + Eq + Hash> Dispatcher<C, A> {
    /// Nobody waiting, no agents.
    #[must_use]
    pub fn new(policy: QueuePolicy) -> Self {
        Self {
            waiting: WaitingQueue::new(policy),
            agents: AgentPool::new(),
            preferred: HashMap::new(),
        }
    }

    /// Queues a customer.
    ///
    /// # Errors
    /// [`AlreadyQueued`] if they are waiting already.
    pub fn enqueue(&mut self, w: Waiting<C>) -> Result<(), AlreadyQueued> {
        let who = w.who.clone();
        self.waiting.push(w)?;
        self.preferred.remove(&who);
        Ok(())
    }

    /// Queues a customer who waits for `agent` first: only that agent takes them
    /// until [`Dispatcher::lapse`], and ahead of everyone else in the queue.
    ///
    /// # Errors
    /// [`AlreadyQueued`] if they are waiting already; nothing changes.
    pub fn enqueue_for(&mut self, w: Waiting<C>, agent: A) -> Result<(), AlreadyQueued> {
        let who = w.who.clone();
        self.waiting.push(w)?;
        self.preferred.insert(who, agent);
        Ok(())
    }

    /// Takes a customer out of the queue (cancelled, gone), with any preference.
    pub fn remove(&mut self, who: &C) -> Option<Waiting<C>> {
        self.preferred.remove(who);
        self.waiting.remove(who)
    }

    /// The agent a waiting customer is waiting for, while the preference holds.
    #[must_use]
    pub fn preference(&self, who: &C) -> Option<&A> {
        self.preferred
            .get(who)
            .filter(|_| self.waiting.contains(who))
    }

    /// Ends a customer's wait for their agent: from now on anyone may take them.
    /// Returns the agent they were waiting for, if they still were.
    pub fn lapse(&mut self, who: &C) -> Option<A> {
        let agent = self.preferred.remove(who)?;
        self.waiting.contains(who).then_some(agent)
    }

    /// Makes every pairing possible now, in serving order: first customers waiting
    /// for an agent who can take them now, then everyone else.
    pub fn assign(&mut self) -> Vec<Assignment<C, A>> {
        let mut out = Vec::new();
        let mut choices: Vec<(C, A, Need)> = Vec::new();
        // Those waiting for an agent who could take someone now, in serving order:
        // found from the preferences (the agent first, a hash lookup), never by
        // walking the queue. A preference whose customer left the queue by
        // `waiting.remove` is dropped here.
        let mut first: Vec<C> = Vec::new();
        let mut stale: Vec<C> = Vec::new();
        for (who, a) in &self.preferred {
            let free = self.agents.load(a).is_some_and(|l| {
                l.presence == Presence::Available && (l.fits(Need::Chat) || l.fits(Need::Voice))
            });
            if !free {
                continue;
            }
            match self.waiting.get(who) {
                Some(w) if self.agents.load(a).is_some_and(|l| l.fits(w.need)) => {
                    first.push(who.clone());
                }
                Some(_) => {}
                None => stale.push(who.clone()),
            }
        }
        for who in stale {
            self.preferred.remove(&who);
        }
        if !first.is_empty() {
            self.waiting.sort_by_place(&mut first);
            for who in first {
                let (Some(agent), Some(w)) = (self.preferred.get(&who), self.waiting.get(&who))
                else {
                    continue;
                };
                if self.agents.take(agent, w.need) {
                    choices.push((who.clone(), agent.clone(), w.need));
                }
            }
        }
        // Stop as soon as no ready agent can take any kind of customer: the common
        // case (all agents busy, long queue) then costs nothing per waiting customer.
        for w in self.waiting.iter() {
            if self.agents.first_fit(Need::Chat).is_none()
                && self.agents.first_fit(Need::Voice).is_none()
            {
                break;
            }
            if self.preferred.contains_key(&w.who) {
                continue;
            }
            if let Some(agent) = self.agents.first_fit(w.need).cloned()
                && self.agents.take(&agent, w.need)
            {
                choices.push((w.who.clone(), agent, w.need));
            }
        }
        for (who, agent, _) in choices {
            self.preferred.remove(&who);
            if let Some(customer) = self.waiting.remove(&who) {
                out.push(Assignment { customer, agent });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::tier::{Tier, TierOrder};
    use proptest::prelude::*;

    fn dispatcher() -> Dispatcher<u32, u32> {
        Dispatcher::new(QueuePolicy {
            period_ms: 60_000,
            order: TierOrder::default(),
        })
    }

    /// One assignment round as (customer, agent) pairs.
    fn pairs(d: &mut Dispatcher<u32, u32>) -> Vec<(u32, u32)> {
        d.assign()
            .into_iter()
            .map(|a| (a.customer.who, a.agent))
            .collect()
    }

    fn chat(who: u32, tier: Tier, at: i64) -> Waiting<u32> {
        Waiting {
            who,
            tier,
            arrived_ms: at,
            need: Need::Chat,
        }
    }

    #[test]
    fn the_head_customer_gets_the_head_agent() {
        let mut d = dispatcher();
        d.enqueue(chat(10, Tier::New, 0)).unwrap();
        d.enqueue(chat(11, Tier::Core, 5)).unwrap();
        d.enqueue(chat(12, Tier::GeneralCore, 9)).unwrap();
        d.agents.set_available(&1, 1);
        d.agents.set_available(&2, 1);
        let got = pairs(&mut d);
        assert_eq!(got, [(11, 1), (12, 2)]);
        assert_eq!(d.waiting.iter().map(|w| w.who).collect::<Vec<_>>(), [10]);
        assert!(d.assign().is_empty(), "nobody is ready");
        d.agents.finish(&2, Need::Chat);
        let got = pairs(&mut d);
        assert_eq!(got, [(10, 2)]);
    }

    #[test]
    fn a_voice_customer_waits_for_a_free_agent_without_blocking_chats() {
        let mut d = dispatcher();
        d.agents.set_available(&1, 2);
        d.enqueue(chat(10, Tier::Core, 0)).unwrap();
        assert_eq!(d.assign().len(), 1);
        d.enqueue(Waiting {
            who: 11,
            tier: Tier::Core,
            arrived_ms: 1,
            need: Need::Voice,
        })
        .unwrap();
        d.enqueue(chat(12, Tier::New, 2)).unwrap();
        let got: Vec<u32> = d.assign().into_iter().map(|a| a.customer.who).collect();
        assert_eq!(got, [12], "the chat goes to the agent's spare capacity");
        assert_eq!(
            d.waiting.position(&11),
            Some(0),
            "the voice customer keeps the head"
        );
        d.agents.finish(&1, Need::Chat);
        d.agents.finish(&1, Need::Chat);
        let got: Vec<u32> = d.assign().into_iter().map(|a| a.customer.who).collect();
        assert_eq!(got, [11]);
    }

    #[test]
    fn a_customer_waiting_for_their_agent_gets_them_first() {
        let mut d = dispatcher();
        d.enqueue(chat(10, Tier::Core, 0)).unwrap();
        d.enqueue_for(chat(11, Tier::New, 5), 2).unwrap();
        assert_eq!(d.preference(&11), Some(&2));
        // Agent 1 is ready: they take the general head, never the customer who
        // waits for agent 2.
        d.agents.set_available(&1, 1);
        let got = pairs(&mut d);
        assert_eq!(got, [(10, 1)]);
        d.enqueue(chat(12, Tier::Core, 6)).unwrap();
        d.agents.finish(&1, Need::Chat);
        let got = pairs(&mut d);
        assert_eq!(got, [(12, 1)], "the general queue goes on around them");
        // Agent 2 comes: they take the customer waiting for them, although a
        // higher-tier customer who came earlier waits in the general queue.
        d.enqueue(chat(13, Tier::Core, 1)).unwrap();
        d.agents.set_available(&2, 1);
        let got = pairs(&mut d);
        assert_eq!(got, [(11, 2)]);
        assert_eq!(d.preference(&11), None, "served: the preference is gone");
        assert_eq!(d.waiting.position(&13), Some(0));
    }

    #[test]
    fn a_lapsed_preference_leaves_the_customer_in_their_place() {
        let mut d = dispatcher();
        d.enqueue_for(chat(11, Tier::Core, 0), 2).unwrap();
        d.enqueue(chat(12, Tier::New, 9)).unwrap();
        d.agents.set_available(&1, 1);
        let got: Vec<u32> = d.assign().into_iter().map(|a| a.customer.who).collect();
        assert_eq!(got, [12]);
        assert_eq!(d.lapse(&11), Some(2));
        assert_eq!(d.lapse(&11), None, "only once");
        d.agents.finish(&1, Need::Chat);
        let got = pairs(&mut d);
        assert_eq!(got, [(11, 1)], "anyone may take them now");
    }

    #[test]
    fn a_removed_customer_takes_their_preference_with_them() {
        let mut d = dispatcher();
        d.enqueue_for(chat(11, Tier::Core, 0), 2).unwrap();
        assert!(d.remove(&11).is_some());
        assert_eq!(d.preference(&11), None);
        assert_eq!(d.lapse(&11), None);
        d.enqueue(chat(11, Tier::Core, 3)).unwrap();
        d.agents.set_available(&1, 1);
        assert_eq!(d.assign().len(), 1, "queued again without a preference");
    }

    /// One step of a random session against the dispatcher.
    #[derive(Debug, Clone)]
    enum Op {
        Arrive {
            tier: usize,
            voice: bool,
            for_agent: Option<u32>,
        },
        Cancel(u32),
        Lapse(u32),
        Ready {
            agent: u32,
            capacity: u32,
        },
        Away(u32),
        Finish(u32),
        Assign,
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0usize..9, any::<bool>(), proptest::option::weighted(0.25, 0u32..6))
                .prop_map(|(tier, voice, for_agent)| Op::Arrive { tier, voice, for_agent }),
            1 => (0u32..60).prop_map(Op::Cancel),
            1 => (0u32..60).prop_map(Op::Lapse),
            2 => (0u32..6, 1u32..4).prop_map(|(agent, capacity)| Op::Ready { agent, capacity }),
            1 => (0u32..6).prop_map(Op::Away),
            2 => (0u32..6).prop_map(Op::Finish),
            3 => Just(Op::Assign),
        ]
    }

    proptest! {
        /// Under any interleaving: each customer is assigned at most once, and only
        /// if waiting; a round assigns those waiting for their agent first, then the
        /// rest, each group in serving order; a customer waiting for an agent gets
        /// no other; no assignment takes an agent past their capacity, and a call is
        /// never shared; the pool's loads match what was handed out; and after a
        /// round nobody waits whom a ready agent could take (for a customer waiting
        /// for their agent: whom that agent could take).
        #[test]
        fn nobody_is_assigned_twice_and_capacity_holds(ops in proptest::collection::vec(arb_op(), 0..200)) {
            let mut d = dispatcher();
            let mut next = 0u32;
            let mut assigned: HashSet<u32> = HashSet::new();
            // What each agent holds, per our own bookkeeping: (chats, calls).
            let mut held: HashMap<u32, Vec<Need>> = HashMap::new();
            for (t, op) in ops.into_iter().enumerate() {
                match op {
                    Op::Arrive { tier, voice, for_agent } => {
                        let need = if voice { Need::Voice } else { Need::Chat };
                        let at = i64::try_from(t).unwrap() * 1000;
                        let w = Waiting { who: next, tier: Tier::ALL[tier], arrived_ms: at, need };
                        match for_agent {
                            Some(agent) => d.enqueue_for(w, agent).unwrap(),
                            None => d.enqueue(w).unwrap(),
                        }
                        next += 1;
                    }
                    Op::Cancel(who) => {
                        // Both ways out of the queue: the dispatcher's, and the queue's own.
                        if who % 2 == 0 { d.remove(&who); } else { d.waiting.remove(&who); }
                    }
                    Op::Lapse(who) => { d.lapse(&who); }
                    Op::Ready { agent, capacity } => d.agents.set_available(&agent, capacity),
                    Op::Away(agent) => d.agents.set_unavailable(&agent, Presence::Away),
                    Op::Finish(agent) => {
                        if let Some(need) = held.get_mut(&agent).and_then(Vec::pop) {
                            d.agents.finish(&agent, need);
                        }
                    }
                    Op::Assign => {
                        let before: Vec<Waiting<u32>> = d.waiting.iter().cloned().collect();
                        let wants: HashMap<u32, u32> = before
                            .iter()
                            .filter_map(|w| d.preference(&w.who).map(|a| (w.who, *a)))
                            .collect();
                        let mut last_place = None;
                        let mut in_preferred_pass = true;
                        for a in d.assign() {
                            prop_assert!(assigned.insert(a.customer.who), "customer {} assigned twice", a.customer.who);
                            let place = before.iter().position(|w| *w == a.customer);
                            prop_assert!(place.is_some(), "assigned without waiting");
                            match wants.get(&a.customer.who) {
                                Some(agent) => {
                                    prop_assert_eq!(*agent, a.agent, "a customer waiting for an agent gets that agent");
                                    prop_assert!(in_preferred_pass, "those waiting for their agent come first");
                                }
                                None if in_preferred_pass => {
                                    in_preferred_pass = false;
                                    last_place = None;
                                }
                                None => {}
                            }
                            prop_assert!(place > last_place, "assignments follow the serving order");
                            last_place = place;
                            held.entry(a.agent).or_default().push(a.customer.need);
                            let load = d.agents.load(&a.agent).copied().unwrap();
                            prop_assert!(load.chats <= load.chat_capacity, "agent {} over capacity", a.agent);
                        }
                        // Nobody left waiting could be taken by a ready agent.
                        for w in d.waiting.iter() {
                            match d.preference(&w.who) {
                                Some(agent) => prop_assert!(
                                    !d.agents.ready().any(|r| r == agent)
                                        || !d.agents.load(agent).is_some_and(|l| l.fits(w.need)),
                                    "{} left waiting beside their free agent", w.who
                                ),
                                None => prop_assert!(d.agents.first_fit(w.need).is_none(), "{} left waiting beside a free agent", w.who),
                            }
                        }
                    }
                }
                for (agent, load) in d.agents.agents() {
                    let hand = held.get(agent).map(Vec::as_slice).unwrap_or_default();
                    let calls = hand.iter().filter(|n| **n == Need::Voice).count();
                    let chats = hand.len() - calls;
                    prop_assert!(calls <= 1 && (calls == 0 || chats == 0), "a call is exclusive");
                    prop_assert_eq!(load.chats as usize, chats);
                    prop_assert_eq!(load.voice, calls == 1);
                }
            }
        }
    }
}
