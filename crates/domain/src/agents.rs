//! Agents and the idle queue (seed 001 steps 6–7).
//!
//! Agents who can take work wait in a first-come-first-served **ready queue**: the
//! one waiting longest gets the next customer, and an agent who finishes goes to
//! the back. An agent can hold up to `chat_capacity` text chats at once; a voice
//! call takes the whole agent. Going away or offline leaves the queue (work in
//! hand continues until it ends).
//!
//! "Idle" in the seed's sense is an agent in the ready queue with nothing in hand;
//! with a chat capacity above one, an agent with spare capacity stays in the queue
//! too, behind those who have been waiting longer.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

use crate::queue::Need;

/// Whether the agent wants work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// Taking customers.
    Available,
    /// Logged in but not taking new customers.
    Away,
    /// Not connected.
    Offline,
}

/// What an agent is doing, as shown to people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentState {
    /// Available with nothing in hand.
    Idle,
    /// Serving at least one customer.
    Busy,
    /// Away (possibly finishing work in hand).
    Away,
    /// Offline.
    Offline,
}

impl AgentState {
    /// The name used on the wire and in metrics.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Idle => "idle",
            AgentState::Busy => "busy",
            AgentState::Away => "away",
            AgentState::Offline => "offline",
        }
    }
}

/// One agent's situation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Wants work or not.
    pub presence: Presence,
    /// Chats in hand.
    pub chats: u32,
    /// On a voice call.
    pub voice: bool,
    /// Most chats at once.
    pub chat_capacity: u32,
    /// False while the agent's connection is lost (within its grace period): they
    /// keep their place in the ready queue but are passed over.
    pub connected: bool,
}

impl Load {
    /// Whether this agent could take a customer with `need` now (presence aside).
    #[must_use]
    pub fn fits(&self, need: Need) -> bool {
        self.connected
            && !self.voice
            && match need {
                Need::Chat => self.chats < self.chat_capacity,
                Need::Voice => self.chats == 0,
            }
    }

    fn has_room(&self) -> bool {
        !self.voice && self.chats < self.chat_capacity
    }

    /// The state shown for this load.
    #[must_use]
    pub fn state(&self) -> AgentState {
        match self.presence {
            Presence::Offline => AgentState::Offline,
            Presence::Away => AgentState::Away,
            Presence::Available if self.chats == 0 && !self.voice => AgentState::Idle,
            Presence::Available => AgentState::Busy,
        }
    }
}

/// Every known agent and the ready queue.
#[derive(Debug, Clone)]
pub struct AgentPool<A> {
    loads: HashMap<A, Load>,
    ready: VecDeque<A>,
}

impl<A> Default for AgentPool<A> {
    fn default() -> Self {
        Self {
            loads: HashMap::new(),
            ready: VecDeque::new(),
        }
    }
}

impl<A: Clone + Eq + Hash> AgentPool<A> {
    /// An empty pool.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The agent's load, if known.
    #[must_use]
    pub fn load(&self, agent: &A) -> Option<&Load> {
        self.loads.get(agent)
    }

    /// The agent's state (`Offline` if unknown).
    #[must_use]
    pub fn state(&self, agent: &A) -> AgentState {
        self.loads
            .get(agent)
            .map_or(AgentState::Offline, Load::state)
    }

    /// The ready queue, first served first.
    pub fn ready(&self) -> impl Iterator<Item = &A> {
        self.ready.iter()
    }

    /// Every agent and their load.
    pub fn agents(&self) -> impl Iterator<Item = (&A, &Load)> {
        self.loads.iter()
    }

    /// How many agents are available (serving or not): those who can serve the queue.
    #[must_use]
    pub fn available(&self) -> usize {
        self.loads
            .values()
            .filter(|l| l.presence == Presence::Available)
            .count()
    }

    /// The agent wants work: joins the back of the ready queue if they have room.
    /// Setting the capacity here lets an admin change it between sessions.
    pub fn set_available(&mut self, agent: &A, chat_capacity: u32) {
        let load = self.loads.entry(agent.clone()).or_insert(Load {
            presence: Presence::Offline,
            chats: 0,
            voice: false,
            chat_capacity,
            connected: true,
        });
        load.chat_capacity = chat_capacity.max(1);
        load.presence = Presence::Available;
        let room = load.has_room();
        if room && !self.ready.contains(agent) {
            self.ready.push_back(agent.clone());
        }
    }

    /// The agent stops taking new customers (away or offline); work in hand goes on.
    pub fn set_unavailable(&mut self, agent: &A, presence: Presence) {
        if let Some(load) = self.loads.get_mut(agent) {
            load.presence = presence;
        }
        self.ready.retain(|a| a != agent);
    }

    /// Restores work in hand (after a restart) without moving the agent in the
    /// ready queue; an agent not known yet is added offline.
    pub fn hold(&mut self, agent: &A, need: Need, chat_capacity: u32) {
        let load = self.loads.entry(agent.clone()).or_insert(Load {
            presence: Presence::Offline,
            chats: 0,
            voice: false,
            chat_capacity: chat_capacity.max(1),
            connected: true,
        });
        match need {
            Need::Chat => load.chats += 1,
            Need::Voice => load.voice = true,
        }
        if !load.has_room() {
            self.ready.retain(|a| a != agent);
        }
    }

    /// The agent's connection was lost: they keep their place in the ready queue
    /// and their work in hand, but get no new customer until [`Self::reconnect`].
    pub fn disconnect(&mut self, agent: &A) {
        if let Some(load) = self.loads.get_mut(agent) {
            load.connected = false;
        }
    }

    /// The agent is back: they can be given customers again from their place.
    pub fn reconnect(&mut self, agent: &A) {
        if let Some(load) = self.loads.get_mut(agent) {
            load.connected = true;
        }
    }

    /// Forgets an agent with nothing in hand (gone for good); one with work in hand
    /// is only made offline.
    pub fn forget(&mut self, agent: &A) {
        self.set_unavailable(agent, Presence::Offline);
        if self
            .loads
            .get(agent)
            .is_some_and(|l| l.chats == 0 && !l.voice)
        {
            self.loads.remove(agent);
        }
    }

    /// The first agent in the ready queue who can take `need`, without taking them.
    #[must_use]
    pub fn first_fit(&self, need: Need) -> Option<&A> {
        self.ready
            .iter()
            .find(|a| self.loads.get(*a).is_some_and(|l| l.fits(need)))
    }

    /// Gives `agent` a customer with `need`: they leave the ready queue, and if
    /// they still have room (chats below capacity) rejoin it at the back.
    ///
    /// Returns false (and changes nothing) if the agent cannot take it.
    pub fn take(&mut self, agent: &A, need: Need) -> bool {
        let Some(load) = self.loads.get_mut(agent) else {
            return false;
        };
        if load.presence != Presence::Available || !load.fits(need) {
            return false;
        }
        match need {
            Need::Chat => load.chats += 1,
            Need::Voice => load.voice = true,
        }
        let room = load.has_room();
        self.ready.retain(|a| a != agent);
        if room {
            self.ready.push_back(agent.clone());
        }
        true
    }

    /// The agent finished serving a customer with `need` (step 7: marked idle and
    /// put at the back of the idle queue, if still available).
    pub fn finish(&mut self, agent: &A, need: Need) {
        let Some(load) = self.loads.get_mut(agent) else {
            return;
        };
        match need {
            Need::Chat => load.chats = load.chats.saturating_sub(1),
            Need::Voice => load.voice = false,
        }
        let rejoin = load.presence == Presence::Available && load.has_room();
        if rejoin && !self.ready.contains(agent) {
            self.ready.push_back(agent.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_agents_are_served_first_come_first_served_and_return_to_the_back() {
        let mut p = AgentPool::new();
        for a in [1, 2, 3] {
            p.set_available(&a, 1);
        }
        assert_eq!(p.first_fit(Need::Chat), Some(&1));
        assert!(p.take(&1, Need::Chat));
        assert_eq!(p.state(&1), AgentState::Busy);
        assert_eq!(p.ready().copied().collect::<Vec<_>>(), [2, 3]);
        p.finish(&1, Need::Chat);
        assert_eq!(p.state(&1), AgentState::Idle);
        assert_eq!(
            p.ready().copied().collect::<Vec<_>>(),
            [2, 3, 1],
            "the finisher goes to the back"
        );
    }

    #[test]
    fn voice_takes_the_whole_agent_and_chats_share_up_to_capacity() {
        let mut p = AgentPool::new();
        p.set_available(&1, 2);
        assert!(p.take(&1, Need::Chat));
        assert_eq!(p.ready().count(), 1, "room for one more chat");
        assert!(
            !p.take(&1, Need::Voice),
            "voice needs an agent with no chats"
        );
        assert!(p.take(&1, Need::Chat));
        assert!(!p.take(&1, Need::Chat), "capacity 2");
        assert_eq!(p.ready().count(), 0);
        p.finish(&1, Need::Chat);
        p.finish(&1, Need::Chat);
        assert!(p.take(&1, Need::Voice));
        assert!(!p.take(&1, Need::Chat), "nothing beside a call");
        assert_eq!(p.first_fit(Need::Chat), None);
    }

    #[test]
    fn a_disconnected_agent_keeps_their_place_but_is_passed_over() {
        let mut p = AgentPool::new();
        p.set_available(&1, 1);
        p.set_available(&2, 1);
        p.disconnect(&1);
        assert_eq!(p.first_fit(Need::Chat), Some(&2));
        assert!(!p.take(&1, Need::Chat));
        assert_eq!(p.ready().copied().collect::<Vec<_>>(), [1, 2]);
        p.reconnect(&1);
        assert_eq!(p.first_fit(Need::Chat), Some(&1), "back at their place");
        p.forget(&2);
        assert!(p.load(&2).is_none());
        assert!(p.take(&1, Need::Chat));
        p.forget(&1);
        assert_eq!(p.state(&1), AgentState::Offline, "kept while serving");
    }

    #[test]
    fn restored_work_keeps_the_ready_order() {
        let mut p = AgentPool::new();
        for a in [1, 2, 3] {
            p.set_available(&a, 2);
        }
        p.hold(&1, Need::Chat, 2);
        p.hold(&3, Need::Chat, 2);
        p.hold(&3, Need::Chat, 2);
        p.hold(&9, Need::Voice, 1);
        assert_eq!(p.ready().copied().collect::<Vec<_>>(), [1, 2], "3 is full");
        assert_eq!(p.load(&1).unwrap().chats, 1);
        assert_eq!(p.state(&9), AgentState::Offline);
    }

    #[test]
    fn away_and_offline_agents_leave_the_queue_but_finish_their_work() {
        let mut p = AgentPool::new();
        p.set_available(&1, 1);
        p.set_available(&2, 1);
        assert!(p.take(&1, Need::Chat));
        p.set_unavailable(&1, Presence::Away);
        p.set_unavailable(&2, Presence::Offline);
        assert_eq!(p.state(&1), AgentState::Away);
        assert_eq!(p.state(&2), AgentState::Offline);
        assert_eq!(p.ready().count(), 0);
        p.finish(&1, Need::Chat);
        assert_eq!(
            p.ready().count(),
            0,
            "an away agent does not rejoin by finishing"
        );
        assert!(!p.take(&2, Need::Chat));
        p.set_available(&2, 1);
        p.set_available(&2, 1);
        assert_eq!(
            p.ready().copied().collect::<Vec<_>>(),
            [2],
            "joining twice is joining once"
        );
        assert_eq!(p.available(), 1);
        assert_eq!(p.state(&99), AgentState::Offline);
    }
}
