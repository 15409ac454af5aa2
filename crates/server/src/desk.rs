//! The live desk: who waits for an agent, which agents take customers, who serves
//! whom, and the connections that must hear about it.
//!
//! The decisions are the domain's: [`Dispatcher`] orders the waiting queue
//! (period, tier, arrival) and pairs the head customer with the head idle agent.
//! The desk holds one `Dispatcher` under one lock together with the services in
//! progress, so an assignment and its bookkeeping are a single step: no customer
//! can get two agents nor an agent more than their capacity, however sessions
//! interleave. Nothing is awaited while the lock is held; the store is written
//! before anyone is told (a customer's place in the queue with the request that
//! asked for it, in [`crate::customer`]; a service before `assigned` is sent), so
//! a restart rebuilds the same desk from the database ([`Desk::restore`]).
//!
//! Connections register a channel here ([`Desk::customer_attached`],
//! [`Desk::agent_attached`]); the desk pushes to them and never waits for them.
//! A dropped connection starts a grace period: a waiting customer keeps their
//! place for `queue.customer_grace_secs`, an agent their place and customers for
//! `queue.agent_grace_secs`; after that the customer is abandoned, or the agent's
//! customers go back to the head of the queue.
//!
//! # The seam
//! Everything here is one node's memory. The desk's methods are the interface a
//! Redis-backed desk shared by several nodes will implement (a later issue); the
//! ordering and pairing stay in the domain either way.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use frontdesk_domain::agents::{AgentState, Presence};
use frontdesk_domain::dispatch::Dispatcher;
use frontdesk_domain::handoff::{PressureCurve, Staffing, ThresholdBounds, Thresholds};
use frontdesk_domain::phone::{Phone, Region};
use frontdesk_domain::queue::{Need, QueuePolicy, Waiting, estimate_wait_ms};
use frontdesk_domain::tier::{Tier, TierOrder};
use frontdesk_protocol::agent::{
    AgentInfo, AgentServerMessage, BotTurnView, HandoffView, PresenceChoice, QueueView,
    ServiceView, Viewed, WaitingView,
};
use frontdesk_protocol::{AgentCard, ChatLine, ServerMessage};
use frontdesk_store::cards::EndedService;
use frontdesk_store::{AccountRow, ChatRow, ChatStored, ChatWrite, ServiceRow, Store, StoreError};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::{BotConfig, QueueConfig};
use crate::metrics::{Kind, Metrics};
use crate::time::now_ms;

/// The most waiting customers listed to agents in one `queue` message.
const QUEUE_VIEW_LIMIT: usize = 50;

/// What the desk pushes to a customer's session.
#[derive(Debug, Clone)]
pub enum Push {
    /// Send this as it is (boxed: a screen-sized message would make every push
    /// that size).
    Send(Box<ServerMessage>),
    /// The service ended: the session sends `service_ended` with its screen.
    ServiceEnded {
        /// The service.
        service: String,
        /// Why.
        reason: &'static str,
    },
}

impl Push {
    /// A message to send as it is.
    #[must_use]
    pub fn send(msg: ServerMessage) -> Self {
        Push::Send(Box::new(msg))
    }
}

fn push(msg: ServerMessage) -> Push {
    Push::send(msg)
}

/// Where a consultation stands with the desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Neither waiting nor served.
    Menu,
    /// In the waiting queue.
    Waiting,
    /// Served by an agent.
    Served(LiveService),
}

/// A customer in an agent's hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveService {
    /// Service id.
    pub id: String,
    /// Consultation id.
    pub consultation: String,
    /// Agent account id.
    pub agent: i64,
    /// Chat or voice.
    pub need: Need,
    /// The customer's tier when queued.
    pub tier: Tier,
    /// The customer's phone (E.164).
    pub phone: String,
    /// When they asked for an agent.
    pub queued_ms: i64,
    /// When the agent got them.
    pub started_ms: i64,
}

/// Who wrote a chat message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The customer.
    Customer,
    /// The agent.
    Agent,
}

impl Side {
    /// The name stored and sent.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Customer => "customer",
            Side::Agent => "agent",
        }
    }
}

/// An agent action refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("that service is not yours, or it is over")]
pub struct NotYours;

struct CustomerLink {
    conn: u64,
    tx: UnboundedSender<Push>,
}

struct AgentLink {
    conn: u64,
    tx: UnboundedSender<AgentServerMessage>,
}

/// What the desk remembers of a waiting customer besides their place.
struct WaitMeta {
    phone: String,
    requeued: bool,
    /// The last `(position, estimate)` sent, so only changes are pushed.
    last_sent: Option<(u32, Option<u64>)>,
    /// Until when they wait for one agent (Unix ms): the timer that ends the wait
    /// checks it is still this wait, not a later one.
    prefer_until: Option<i64>,
}

struct State {
    dispatch: Dispatcher<String, i64>,
    waiting: HashMap<String, WaitMeta>,
    services: HashMap<String, LiveService>,
    /// Consultation id → its open service id.
    serving: HashMap<String, String>,
    customers: HashMap<String, CustomerLink>,
    agents: HashMap<i64, AgentLink>,
    names: HashMap<i64, String>,
    /// Bumped on every attach, so a grace timer knows whether its party came back.
    customer_epochs: HashMap<String, u64>,
    agent_epochs: HashMap<i64, u64>,
    next_epoch: u64,
    /// Mean service time in ms, moving with every service that ends.
    mean_service_ms: f64,
    /// Waiting customers' places changed since they were last told.
    positions_dirty: bool,
    /// The queue changed since agents were last told.
    queue_dirty: bool,
}

/// Handles to the desk's metrics (they share the registry's counters).
struct DeskMetrics {
    assignments: Counter,
    chat_messages: Family<Kind, Counter>,
    queue_left: Family<Kind, Counter>,
    services_ended: Family<Kind, Counter>,
    queue_wait_seconds: Histogram,
}

/// How long changes to the queue are gathered before waiting customers and agents
/// are told (see [`Desk::start_pushing`]).
pub const PUSH_EVERY: Duration = Duration::from_millis(50);

/// The live desk. Shared as `Arc<Desk>`.
pub struct Desk {
    config: QueueConfig,
    /// The bot's threshold bounds and pressure ramp (`[bot]`).
    handoff: (ThresholdBounds, PressureCurve),
    region: Region,
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    metrics: DeskMetrics,
    state: Mutex<State>,
    /// Wakes the task that tells waiting customers and agents about changes.
    changed: tokio::sync::Notify,
    /// Told about every service that ended in a way that sends the agent's card.
    cards: std::sync::OnceLock<Arc<crate::cards::Cards>>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Desk").finish_non_exhaustive()
    }
}

impl Desk {
    /// An empty desk.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: QueueConfig,
        bot: &BotConfig,
        order: TierOrder,
        region: Region,
        store: Arc<dyn Store>,
        metrics: &Metrics,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let policy = QueuePolicy {
            period_ms: i64::from(config.period_secs) * 1000,
            order,
        };
        let mean = f64::from(config.mean_service_secs) * 1000.0;
        Self {
            config,
            handoff: (bot.bounds(), bot.curve()),
            region,
            store,
            shutdown,
            tasks,
            metrics: DeskMetrics {
                assignments: metrics.assignments.clone(),
                chat_messages: metrics.chat_messages.clone(),
                queue_left: metrics.queue_left.clone(),
                services_ended: metrics.services_ended.clone(),
                queue_wait_seconds: metrics.queue_wait_seconds.clone(),
            },
            state: Mutex::new(State {
                dispatch: Dispatcher::new(policy),
                waiting: HashMap::new(),
                services: HashMap::new(),
                serving: HashMap::new(),
                customers: HashMap::new(),
                agents: HashMap::new(),
                names: HashMap::new(),
                customer_epochs: HashMap::new(),
                agent_epochs: HashMap::new(),
                next_epoch: 0,
                positions_dirty: false,
                queue_dirty: false,
                mean_service_ms: mean,
            }),
            changed: tokio::sync::Notify::new(),
            cards: std::sync::OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Rebuilds the desk from the store after a start: the waiting queue in its
    /// order, services in progress, and the idle queue. Nobody is connected yet,
    /// so everyone gets their grace period to come back.
    ///
    /// # Errors
    /// When the store cannot be read.
    pub async fn restore(self: &Arc<Self>) -> anyhow::Result<()> {
        let entries = self.store.queue_entries().await?;
        let services = self.store.open_services().await?;
        let presences = self.store.presences().await?;
        let mut accounts = HashMap::new();
        for a in self.store.accounts().await? {
            accounts.insert(a.id, a);
        }
        let mut phones = HashMap::new();
        for e in &entries {
            if let Some(c) = self.store.consultation(&e.consultation).await? {
                phones.insert(e.consultation.clone(), c.phone);
            }
        }
        for s in &services {
            if let Some(c) = self.store.consultation(&s.consultation).await? {
                phones.insert(s.consultation.clone(), c.phone);
            }
        }
        let capacity = |id: i64| {
            accounts
                .get(&id)
                .map_or(self.config.default_chat_capacity, |a: &AccountRow| {
                    a.chat_capacity
                })
        };
        let mut lapses = Vec::new();
        let (waiting, agents) = {
            let mut st = self.lock();
            for p in &presences {
                st.dispatch
                    .agents
                    .set_available(&p.agent_id, capacity(p.agent_id));
            }
            for s in &services {
                let need = parse_need(&s.need);
                st.dispatch
                    .agents
                    .hold(&s.agent_id, need, capacity(s.agent_id));
                let live = LiveService {
                    id: s.id.clone(),
                    consultation: s.consultation.clone(),
                    agent: s.agent_id,
                    need,
                    tier: s.tier.parse().unwrap_or(Tier::New),
                    phone: phones.get(&s.consultation).cloned().unwrap_or_default(),
                    queued_ms: s.queued_at,
                    started_ms: s.started_at,
                };
                st.serving.insert(s.consultation.clone(), s.id.clone());
                st.services.insert(s.id.clone(), live);
            }
            for (id, a) in &accounts {
                st.names.insert(*id, a.display_name.clone());
            }
            let mut sorted = entries.clone();
            sorted.sort_by_key(|e| (!e.head, e.arrived_at));
            for e in sorted {
                let w = Waiting {
                    who: e.consultation.clone(),
                    tier: e.tier.parse().unwrap_or(Tier::New),
                    arrived_ms: e.arrived_at,
                    need: parse_need(&e.need),
                };
                let pushed = match e.prefer {
                    _ if e.head => st.dispatch.waiting.push_front(w),
                    Some((agent, until)) if until > now_ms() => {
                        lapses.push((e.consultation.clone(), until));
                        st.dispatch.enqueue_for(w, agent)
                    }
                    _ => st.dispatch.waiting.push(w),
                };
                if pushed.is_ok() {
                    st.waiting.insert(
                        e.consultation.clone(),
                        WaitMeta {
                            phone: phones.get(&e.consultation).cloned().unwrap_or_default(),
                            requeued: e.head,
                            last_sent: None,
                            prefer_until: e.prefer.map(|p| p.1).filter(|_| !e.head),
                        },
                    );
                }
            }
            let agents: Vec<i64> = st.dispatch.agents.agents().map(|(a, _)| *a).collect();
            for a in &agents {
                st.dispatch.agents.disconnect(a);
            }
            let waiting: Vec<String> = st.waiting.keys().cloned().collect();
            (waiting, agents)
        };
        tracing::info!(
            waiting = waiting.len(),
            services = services.len(),
            agents = agents.len(),
            "desk restored"
        );
        for c in waiting {
            self.start_customer_grace(c, 0);
        }
        for (c, until) in lapses {
            self.lapse_at(c, until);
        }
        for a in agents {
            self.start_agent_grace(a, 0);
        }
        Ok(())
    }

    /// Sets the gauges that are read at scrape time.
    pub fn observe(&self, metrics: &Metrics) {
        let st = self.lock();
        let q = &st.dispatch.waiting;
        metrics
            .queue_length
            .set(i64::try_from(q.len()).unwrap_or(i64::MAX));
        let oldest = q
            .oldest_arrival_ms()
            .map_or(0, |at| (now_ms() - at).max(0) / 1000);
        metrics.queue_oldest_wait_seconds.set(oldest);
        let (t, pressure) = self.handoff_in(&st);
        metrics
            .bot_threshold
            .get_or_create(&Kind { kind: "single" })
            .set(t.single);
        metrics
            .bot_threshold
            .get_or_create(&Kind { kind: "mean" })
            .set(t.mean);
        metrics.bot_pressure.set(pressure);
        for s in [
            AgentState::Idle,
            AgentState::Busy,
            AgentState::Away,
            AgentState::Offline,
        ] {
            metrics
                .agents
                .get_or_create(&Kind { kind: s.as_str() })
                .set(0);
        }
        for (a, _) in st.dispatch.agents.agents() {
            metrics
                .agents
                .get_or_create(&Kind {
                    kind: agent_state(&st, *a).as_str(),
                })
                .inc();
        }
    }

    /// An agent's state now.
    pub fn agent_state(&self, agent: i64) -> AgentState {
        agent_state(&self.lock(), agent)
    }

    /// The waiting queue as agents see it.
    pub fn queue(&self) -> QueueView {
        let st = self.lock();
        self.queue_view(&st)
    }

    fn queue_view(&self, st: &State) -> QueueView {
        let mut view = queue_view(st, self.region);
        let (t, pressure) = self.handoff_in(st);
        view.handoff = Some(HandoffView {
            single: t.single,
            mean: t.mean,
            pressure,
        });
        view
    }

    /// How busy the agents are: the input of the bot's thresholds.
    pub fn staffing(&self) -> Staffing {
        staffing(&self.lock())
    }

    /// The bot's thresholds for offering a human now, and the pressure on the
    /// agents that set them (`docs/bot.md`).
    pub fn handoff(&self) -> (Thresholds, f64) {
        self.handoff_in(&self.lock())
    }

    fn handoff_in(&self, st: &State) -> (Thresholds, f64) {
        let (bounds, curve) = &self.handoff;
        let pressure = staffing(st).pressure(curve);
        (bounds.at(pressure), pressure)
    }

    // ----- customers -------------------------------------------------------------

    /// Where a consultation stands.
    pub fn phase(&self, consultation: &str) -> Phase {
        let st = self.lock();
        if st.dispatch.waiting.contains(&consultation.to_owned()) {
            return Phase::Waiting;
        }
        st.serving
            .get(consultation)
            .and_then(|id| st.services.get(id))
            .map_or(Phase::Menu, |s| Phase::Served(s.clone()))
    }

    /// A connection holds the consultation now: pushes go to `tx`. Tells the
    /// customer where they stand (their place, or their chat so far) and their
    /// agent that they are back.
    pub async fn customer_attached(
        self: &Arc<Self>,
        consultation: &str,
        conn: u64,
        tx: UnboundedSender<Push>,
    ) {
        let served = {
            let mut st = self.lock();
            st.next_epoch += 1;
            let epoch = st.next_epoch;
            st.customer_epochs.insert(consultation.to_owned(), epoch);
            st.customers
                .insert(consultation.to_owned(), CustomerLink { conn, tx });
            if let Some(meta) = st.waiting.get_mut(consultation) {
                meta.last_sent = None;
            }
            let served = st
                .serving
                .get(consultation)
                .and_then(|id| st.services.get(id))
                .cloned();
            if let Some(s) = &served {
                send_agent(
                    &st,
                    s.agent,
                    AgentServerMessage::CustomerStatus {
                        service: s.id.clone(),
                        online: true,
                    },
                );
            } else {
                self.push_positions(&mut st);
            }
            served.map(|s| {
                let online = st.agents.contains_key(&s.agent);
                (s, online)
            })
        };
        if let Some((s, agent_online)) = served {
            let messages = self.chat_lines(consultation).await;
            let card = self.card(s.agent);
            let mut st = self.lock();
            send_customer(
                &st,
                consultation,
                push(ServerMessage::AgentJoined {
                    service: s.id.clone(),
                    agent: card,
                    messages,
                }),
            );
            if !agent_online {
                send_customer(
                    &st,
                    consultation,
                    push(ServerMessage::AgentStatus {
                        service: s.id.clone(),
                        online: false,
                        grace_ms: Some(u64::from(self.config.agent_grace_secs) * 1000),
                    }),
                );
            }
            self.push_positions(&mut st);
        }
    }

    /// The connection `conn` no longer holds the consultation.
    pub fn customer_detached(self: &Arc<Self>, consultation: &str, conn: u64) {
        let mut st = self.lock();
        if st
            .customers
            .get(consultation)
            .is_none_or(|l| l.conn != conn)
        {
            return;
        }
        st.customers.remove(consultation);
        let epoch = st.customer_epochs.get(consultation).copied().unwrap_or(0);
        if st.dispatch.waiting.contains(&consultation.to_owned()) {
            drop(st);
            self.start_customer_grace(consultation.to_owned(), epoch);
            return;
        }
        if let Some(s) = st
            .serving
            .get(consultation)
            .and_then(|id| st.services.get(id))
        {
            send_agent(
                &st,
                s.agent,
                AgentServerMessage::CustomerStatus {
                    service: s.id.clone(),
                    online: false,
                },
            );
        }
    }

    /// Puts a customer in the waiting queue (their place is already stored) and
    /// returns their first `queued`. Then gives out whatever can be given.
    ///
    /// With `prefer` (an agent and until when, Unix ms), the customer waits for
    /// that agent first (they came back through the agent's link); at `until`
    /// anyone may take them, and they are told ([`ServerMessage::FellBack`]).
    pub async fn enqueue(
        self: &Arc<Self>,
        consultation: &str,
        phone: &str,
        tier: Tier,
        arrived_ms: i64,
        prefer: Option<(i64, i64)>,
    ) -> ServerMessage {
        let queued = {
            let mut st = self.lock();
            let w = Waiting {
                who: consultation.to_owned(),
                tier,
                arrived_ms,
                need: Need::Chat,
            };
            let _ = match prefer {
                Some((agent, _)) => st.dispatch.enqueue_for(w, agent),
                None => st.dispatch.enqueue(w),
            };
            st.waiting.insert(
                consultation.to_owned(),
                WaitMeta {
                    phone: phone.to_owned(),
                    requeued: false,
                    last_sent: None,
                    prefer_until: prefer.map(|p| p.1),
                },
            );
            let queued = queued_message(&mut st, consultation);
            self.push_positions(&mut st);
            self.push_queue(&mut st);
            queued
        };
        if let Some((_, until)) = prefer {
            self.lapse_at(consultation.to_owned(), until);
        }
        self.assign().await;
        queued
    }

    /// At `until`, the customer stops waiting for one agent in particular.
    fn lapse_at(self: &Arc<Self>, consultation: String, until: i64) {
        let wait = Duration::from_millis(u64::try_from(until - now_ms()).unwrap_or(0));
        let shutdown = self.shutdown.clone();
        let desk = self.clone();
        self.tasks.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(wait) => desk.preference_over(&consultation, until).await,
            }
        });
    }

    /// The customer waited long enough for their agent: anyone may take them now,
    /// from the place their arrival gives them. They are told.
    async fn preference_over(self: &Arc<Self>, consultation: &str, until: i64) {
        {
            let mut st = self.lock();
            // A customer who left and came back through the link since waits anew.
            let this_wait = st
                .waiting
                .get(consultation)
                .is_some_and(|m| m.prefer_until == Some(until));
            if !this_wait {
                return;
            }
            let Some(agent) = st.dispatch.lapse(&consultation.to_owned()) else {
                return;
            };
            let card = AgentCard {
                id: agent,
                name: st.names.get(&agent).cloned().unwrap_or_default(),
            };
            tracing::info!(
                consultation,
                agent,
                "waited long enough for their agent; now anyone's"
            );
            let queued = queued_message(&mut st, consultation);
            if let Some(link) = st.customers.get(consultation) {
                let _ = link
                    .tx
                    .send(Push::send(ServerMessage::FellBack { agent: card }));
                let _ = link.tx.send(Push::send(queued));
            }
            self.push_queue(&mut st);
        }
        self.assign().await;
    }

    /// The customer left the queue or their service, by their own request
    /// (`cancelled`, or `ended` the consultation) or by going away (`abandoned`).
    /// The store already knows.
    pub async fn customer_left(self: &Arc<Self>, consultation: &str, why: &'static str) {
        let now = now_ms();
        let ended = {
            let mut st = self.lock();
            if st.dispatch.remove(&consultation.to_owned()).is_some() {
                st.waiting.remove(consultation);
                self.metrics
                    .queue_left
                    .get_or_create(&Kind { kind: why })
                    .inc();
                self.push_positions(&mut st);
                self.push_queue(&mut st);
                None
            } else {
                let reason = if why == "abandoned" {
                    "abandoned"
                } else {
                    "customer"
                };
                self.end_in_memory(&mut st, consultation, reason, now)
                    .map(|s| (s, reason))
            }
        };
        if let Some((s, reason)) = ended {
            self.after_service(&s, reason, now).await;
        }
    }

    /// The customer's open service, if an agent serves them.
    pub fn service_of(&self, consultation: &str) -> Option<LiveService> {
        let st = self.lock();
        st.serving
            .get(consultation)
            .and_then(|id| st.services.get(id))
            .cloned()
    }

    /// Stores a chat message `from` one side of `service` under the next `seq` of
    /// its consultation and relays it to the other side. A client id the sender
    /// used before answers the stored message (marked duplicate) and relays nothing.
    ///
    /// # Errors
    /// When the store fails: nothing was stored, the sender should resend.
    pub async fn say(
        &self,
        service: &LiveService,
        from: Side,
        id: &str,
        text: &str,
    ) -> Result<ChatStored, StoreError> {
        let stored = self
            .store
            .add_chat(&ChatWrite {
                consultation: &service.consultation,
                service: &service.id,
                sender: from.as_str(),
                client_id: id,
                text,
                now: now_ms(),
            })
            .await?;
        if !stored.duplicate {
            self.metrics
                .chat_messages
                .get_or_create(&Kind {
                    kind: from.as_str(),
                })
                .inc();
            let line = chat_line(&stored.row);
            let st = self.lock();
            match from {
                Side::Customer => send_agent(
                    &st,
                    service.agent,
                    AgentServerMessage::Chat {
                        service: service.id.clone(),
                        line,
                    },
                ),
                Side::Agent => send_customer(
                    &st,
                    &service.consultation,
                    push(ServerMessage::Chat {
                        service: service.id.clone(),
                        line,
                    }),
                ),
            }
        }
        Ok(stored)
    }

    /// Sends to the customer holding `consultation`, if connected.
    fn to_customer(&self, consultation: &str, push: Push) {
        send_customer(&self.lock(), consultation, push);
    }

    // ----- agents ----------------------------------------------------------------

    /// An agent connected: returns their `welcome`. A second connection of the
    /// same agent replaces the first (whose channel closes).
    pub async fn agent_attached(
        self: &Arc<Self>,
        account: &AccountRow,
        conn: u64,
        tx: UnboundedSender<AgentServerMessage>,
    ) -> AgentServerMessage {
        let id = account.id;
        let services: Vec<LiveService> = {
            let mut st = self.lock();
            st.next_epoch += 1;
            let epoch = st.next_epoch;
            st.agent_epochs.insert(id, epoch);
            st.agents.insert(id, AgentLink { conn, tx });
            st.names.insert(id, account.display_name.clone());
            st.dispatch.agents.reconnect(&id);
            // Known only by the work in hand (restored, or dropped after a grace
            // period while serving): connected now, but not taking customers.
            if st
                .dispatch
                .agents
                .load(&id)
                .is_some_and(|l| l.presence == Presence::Offline)
            {
                st.dispatch.agents.set_unavailable(&id, Presence::Away);
            }
            let mine: Vec<LiveService> = st
                .services
                .values()
                .filter(|s| s.agent == id)
                .cloned()
                .collect();
            for s in &mine {
                send_customer(
                    &st,
                    &s.consultation,
                    push(ServerMessage::AgentStatus {
                        service: s.id.clone(),
                        online: true,
                        grace_ms: None,
                    }),
                );
            }
            self.push_queue(&mut st);
            mine
        };
        let mut views = Vec::new();
        for s in &services {
            views.push(self.service_view(s).await);
        }
        views.sort_by_key(|v| v.started_ms);
        let (state, queue) = {
            let st = self.lock();
            (agent_state(&st, id), self.queue_view(&st))
        };
        // An agent back within their grace period may be owed customers.
        self.assign().await;
        AgentServerMessage::Welcome {
            agent: AgentInfo {
                id,
                username: account.username.clone(),
                name: account.display_name.clone(),
                chat_capacity: account.chat_capacity,
            },
            state: state.as_str().to_owned(),
            services: views,
            queue,
        }
    }

    /// The agent's connection `conn` closed: they keep their place and customers
    /// for the grace period.
    pub fn agent_detached(self: &Arc<Self>, agent: i64, conn: u64) {
        let mut st = self.lock();
        if st.agents.get(&agent).is_none_or(|l| l.conn != conn) {
            return;
        }
        st.agents.remove(&agent);
        st.dispatch.agents.disconnect(&agent);
        let grace_ms = u64::from(self.config.agent_grace_secs) * 1000;
        for s in st.services.values().filter(|s| s.agent == agent) {
            send_customer(
                &st,
                &s.consultation,
                push(ServerMessage::AgentStatus {
                    service: s.id.clone(),
                    online: false,
                    grace_ms: Some(grace_ms),
                }),
            );
        }
        let epoch = st.agent_epochs.get(&agent).copied().unwrap_or(0);
        self.push_queue(&mut st);
        drop(st);
        self.start_agent_grace(agent, epoch);
    }

    /// The agent chose to take customers or not. Returns their state.
    pub async fn set_presence(
        self: &Arc<Self>,
        agent: i64,
        capacity: u32,
        choice: PresenceChoice,
    ) -> AgentState {
        let now = now_ms();
        let ready = {
            let mut st = self.lock();
            match choice {
                PresenceChoice::Idle => st.dispatch.agents.set_available(&agent, capacity),
                PresenceChoice::Away => {
                    st.dispatch.agents.set_unavailable(&agent, Presence::Away);
                }
            }
            self.push_queue(&mut st);
            self.push_positions(&mut st);
            choice == PresenceChoice::Idle
        };
        if let Err(e) = self.store.set_presence(agent, ready.then_some(now)).await {
            tracing::warn!(agent, error = %e, "could not store an agent's presence");
        }
        tracing::info!(agent, state = ?choice, "agent presence");
        self.assign().await;
        agent_state(&self.lock(), agent)
    }

    /// The agent's own open service `service`.
    ///
    /// # Errors
    /// [`NotYours`] if it is not theirs or not open.
    pub fn service_for(&self, agent: i64, service: &str) -> Result<LiveService, NotYours> {
        self.lock()
            .services
            .get(service)
            .filter(|s| s.agent == agent)
            .cloned()
            .ok_or(NotYours)
    }

    /// The agent ends their service: the customer goes back to the menu, the agent
    /// to the back of the idle queue.
    ///
    /// # Errors
    /// [`NotYours`] if it is not theirs or not open.
    pub async fn end_service(self: &Arc<Self>, agent: i64, service: &str) -> Result<(), NotYours> {
        let now = now_ms();
        let s = {
            let mut st = self.lock();
            let consultation = st
                .services
                .get(service)
                .filter(|s| s.agent == agent)
                .map(|s| s.consultation.clone())
                .ok_or(NotYours)?;
            self.end_in_memory(&mut st, &consultation, "agent", now)
                .ok_or(NotYours)?
        };
        self.store_end_and_tell_customer(&s, "agent", false, now)
            .await;
        self.after_service(&s, "agent", now).await;
        Ok(())
    }

    // ----- inside ----------------------------------------------------------------

    /// Stores the end of a service ended in memory by the desk (with `requeue`,
    /// the customer goes back to the head of the queue in the same transaction),
    /// then tells the customer.
    async fn store_end_and_tell_customer(
        &self,
        s: &LiveService,
        reason: &'static str,
        requeue: bool,
        now: i64,
    ) {
        if let Err(e) = self.store.end_service(&s.id, reason, requeue, now).await {
            tracing::error!(service = %s.id, reason, error = %e, "could not store the end of a service");
        }
        self.to_customer(
            &s.consultation,
            Push::ServiceEnded {
                service: s.id.clone(),
                reason,
            },
        );
    }

    /// Takes a consultation's open service out of memory and frees its agent.
    fn end_in_memory(
        &self,
        st: &mut State,
        consultation: &str,
        reason: &'static str,
        now: i64,
    ) -> Option<LiveService> {
        let id = st.serving.remove(consultation)?;
        let s = st.services.remove(&id)?;
        st.dispatch.agents.finish(&s.agent, s.need);
        #[allow(clippy::cast_precision_loss)]
        let took = (now - s.started_ms).max(0) as f64;
        st.mean_service_ms = 0.9 * st.mean_service_ms + 0.1 * took;
        self.metrics
            .services_ended
            .get_or_create(&Kind { kind: reason })
            .inc();
        tracing::info!(service = %s.id, agent = s.agent, reason, "service ended");
        Some(s)
    }

    /// After a service ended: tell the agent, store their place at the back of the
    /// idle queue, and give out whatever can be given.
    async fn after_service(self: &Arc<Self>, s: &LiveService, reason: &'static str, now: i64) {
        let back_in_queue = {
            let mut st = self.lock();
            if crate::cards::END_REASONS.contains(&reason)
                && let Some(cards) = self.cards.get()
            {
                cards.service_ended(ended_service(&st, s));
            }
            send_agent(
                &st,
                s.agent,
                AgentServerMessage::ServiceEnded {
                    service: s.id.clone(),
                    reason: reason.to_owned(),
                },
            );
            send_agent(
                &st,
                s.agent,
                AgentServerMessage::State {
                    state: agent_state(&st, s.agent).as_str().to_owned(),
                    reply: false,
                },
            );
            self.push_queue(&mut st);
            st.dispatch
                .agents
                .load(&s.agent)
                .is_some_and(|l| l.presence == Presence::Available)
        };
        if back_in_queue && let Err(e) = self.store.set_presence(s.agent, Some(now)).await {
            tracing::warn!(agent = s.agent, error = %e, "could not store an agent's presence");
        }
        self.assign().await;
    }

    /// Services that end with one of [`crate::cards::END_REASONS`] are reported to
    /// `cards`, which sends the customer the agent's link.
    pub fn report_ends_to(&self, cards: Arc<crate::cards::Cards>) {
        let _ = self.cards.set(cards);
    }

    /// What the agent's card for an open service of theirs needs (the "send my
    /// card" button).
    ///
    /// # Errors
    /// [`NotYours`] if the service is not theirs or not open.
    pub fn card_for(&self, agent: i64, service: &str) -> Result<EndedService, NotYours> {
        let st = self.lock();
        let s = st
            .services
            .get(service)
            .filter(|s| s.agent == agent)
            .ok_or(NotYours)?;
        Ok(ended_service(&st, s))
    }

    /// Makes every pairing possible now: stores the services, then tells both sides.
    pub async fn assign(self: &Arc<Self>) {
        let now = now_ms();
        let made: Vec<LiveService> = {
            let mut st = self.lock();
            let pairs = st.dispatch.assign();
            let mut made = Vec::with_capacity(pairs.len());
            for a in pairs {
                let meta = st.waiting.remove(&a.customer.who);
                let s = LiveService {
                    id: uuid::Uuid::now_v7().to_string(),
                    consultation: a.customer.who.clone(),
                    agent: a.agent,
                    need: a.customer.need,
                    tier: a.customer.tier,
                    phone: meta.map(|m| m.phone).unwrap_or_default(),
                    queued_ms: a.customer.arrived_ms,
                    started_ms: now,
                };
                st.serving.insert(s.consultation.clone(), s.id.clone());
                st.services.insert(s.id.clone(), s.clone());
                made.push(s);
            }
            made
        };
        if made.is_empty() {
            return;
        }
        let rows: Vec<ServiceRow> = made
            .iter()
            .map(|s| ServiceRow {
                id: s.id.clone(),
                consultation: s.consultation.clone(),
                agent_id: s.agent,
                need: need_str(s.need).to_owned(),
                tier: s.tier.as_str().to_owned(),
                queued_at: s.queued_ms,
                started_at: s.started_ms,
                ended_at: None,
                end_reason: None,
            })
            .collect();
        if let Err(e) = self.store.start_services(&rows).await {
            // Held in memory all the same: the chat works, and a restart finds
            // the customers still queued and serves them again.
            tracing::error!(error = %e, "could not store new services");
        }
        for s in &made {
            self.metrics.assignments.inc();
            #[allow(clippy::cast_precision_loss)]
            self.metrics
                .queue_wait_seconds
                .observe((now - s.queued_ms).max(0) as f64 / 1000.0);
            tracing::info!(service = %s.id, consultation = %s.consultation, agent = s.agent, "customer assigned");
            let view = self.service_view(s).await;
            let messages = view.messages.clone();
            let card = self.card(s.agent);
            let st = self.lock();
            if !st.services.contains_key(&s.id) {
                // Ended meanwhile (the customer left): the agent was told so; an
                // `assigned` now would show them a customer who is gone.
                continue;
            }
            send_customer(
                &st,
                &s.consultation,
                push(ServerMessage::AgentJoined {
                    service: s.id.clone(),
                    agent: card,
                    messages,
                }),
            );
            send_agent(&st, s.agent, AgentServerMessage::Assigned { service: view });
            send_agent(
                &st,
                s.agent,
                AgentServerMessage::State {
                    state: agent_state(&st, s.agent).as_str().to_owned(),
                    reply: false,
                },
            );
        }
        let mut st = self.lock();
        self.push_queue(&mut st);
        self.push_positions(&mut st);
    }

    fn card(&self, agent: i64) -> AgentCard {
        AgentCard {
            id: agent,
            name: self.lock().names.get(&agent).cloned().unwrap_or_default(),
        }
    }

    async fn chat_lines(&self, consultation: &str) -> Vec<ChatLine> {
        match self.store.chat(consultation).await {
            Ok(rows) => rows.iter().map(chat_line).collect(),
            Err(e) => {
                tracing::error!(consultation, error = %e, "could not read a chat");
                Vec::new()
            }
        }
    }

    async fn service_view(&self, s: &LiveService) -> ServiceView {
        let viewed = match self.store.service_items(&s.consultation).await {
            Ok(items) => items
                .into_iter()
                .map(|i| Viewed {
                    item: i.item_id,
                    title: i.title,
                    kind: i.kind,
                    at_ms: i.at,
                })
                .collect(),
            Err(e) => {
                tracing::error!(consultation = %s.consultation, error = %e, "could not read a service record");
                Vec::new()
            }
        };
        let messages = self.chat_lines(&s.consultation).await;
        let bot: Vec<BotTurnView> = match self.store.bot_turns(&s.consultation).await {
            Ok(turns) => turns
                .into_iter()
                .map(|t| BotTurnView {
                    question: t.question,
                    entry: t.answer_id,
                    answer: t.answer,
                    degree: t.degree,
                    offered: t.offered,
                    at_ms: t.at,
                })
                .collect(),
            Err(e) => {
                tracing::error!(consultation = %s.consultation, error = %e, "could not read a bot conversation");
                Vec::new()
            }
        };
        let bot_mean =
            (!bot.is_empty()).then(|| bot.iter().map(|t| t.degree).sum::<f64>() / bot.len() as f64);
        let customer_online = self.lock().customers.contains_key(&s.consultation);
        ServiceView {
            id: s.id.clone(),
            consultation: s.consultation.clone(),
            phone: s.phone.clone(),
            tier: s.tier.as_str().to_owned(),
            need: need_str(s.need).to_owned(),
            queued_ms: s.queued_ms,
            started_ms: s.started_ms,
            viewed,
            messages,
            customer_online,
            bot,
            bot_mean,
        }
    }

    /// Starts the task that tells waiting customers their new places and agents
    /// the new queue. Changes are coalesced: one burst of changes (a queue of
    /// thousands draining as agents free up) costs one pass over the queue per
    /// [`PUSH_EVERY`], not one per change, and nobody is told about a place they
    /// held for a few milliseconds only.
    pub fn start_pushing(self: &Arc<Self>) {
        let desk = self.clone();
        let shutdown = self.shutdown.clone();
        self.tasks.spawn(async move {
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = desk.changed.notified() => {}
                }
                tokio::time::sleep(PUSH_EVERY).await;
                let mut st = desk.lock();
                if std::mem::take(&mut st.queue_dirty) {
                    desk.push_queue_now(&st);
                }
                if std::mem::take(&mut st.positions_dirty) {
                    desk.push_positions_now(&mut st);
                }
            }
        });
    }

    /// Marks every waiting customer's place as possibly changed.
    fn push_positions(&self, st: &mut State) {
        st.positions_dirty = true;
        self.changed.notify_one();
    }

    /// Sends every waiting customer whose place or estimate changed a `queued`.
    fn push_positions_now(&self, st: &mut State) {
        let State {
            dispatch,
            waiting,
            customers,
            mean_service_ms,
            names,
            ..
        } = st;
        let agents = available_agents(dispatch);
        let total = u32::try_from(dispatch.waiting.len()).unwrap_or(u32::MAX);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mean = *mean_service_ms as u64;
        for (i, w) in dispatch.waiting.iter().enumerate() {
            let Some(meta) = waiting.get_mut(&w.who) else {
                continue;
            };
            let now = (
                u32::try_from(i + 1).unwrap_or(u32::MAX),
                estimate_wait_ms(i, agents, mean),
            );
            if meta.last_sent == Some(now) {
                continue;
            }
            if let Some(link) = customers.get(&w.who) {
                meta.last_sent = Some(now);
                let _ = link.tx.send(push(ServerMessage::Queued {
                    position: now.0,
                    waiting: total,
                    estimated_wait_ms: now.1,
                    agents_available: u32::try_from(agents).unwrap_or(u32::MAX),
                    requeued: meta.requeued,
                    waiting_for: dispatch.preference(&w.who).map(|a| AgentCard {
                        id: *a,
                        name: names.get(a).cloned().unwrap_or_default(),
                    }),
                }));
            }
        }
    }

    /// Marks the queue as changed for agents.
    fn push_queue(&self, st: &mut State) {
        st.queue_dirty = true;
        self.changed.notify_one();
    }

    /// Sends every connected agent the queue.
    fn push_queue_now(&self, st: &State) {
        if st.agents.is_empty() {
            return;
        }
        let view = self.queue_view(st);
        for link in st.agents.values() {
            let _ = link.tx.send(AgentServerMessage::Queue {
                queue: view.clone(),
            });
        }
    }

    /// Runs `then` after `secs` seconds, unless the server shuts down first (a
    /// restart keeps everyone's place: the restored desk starts new periods).
    fn after_grace<F>(self: &Arc<Self>, secs: u32, then: impl FnOnce(Arc<Self>) -> F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let grace = Duration::from_secs(u64::from(secs));
        let shutdown = self.shutdown.clone();
        let then = then(self.clone());
        self.tasks.spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = tokio::time::sleep(grace) => then.await,
            }
        });
    }

    fn start_customer_grace(self: &Arc<Self>, consultation: String, epoch: u64) {
        self.after_grace(self.config.customer_grace_secs, move |desk| async move {
            desk.customer_grace_over(&consultation, epoch).await;
        });
    }

    async fn customer_grace_over(self: &Arc<Self>, consultation: &str, epoch: u64) {
        {
            let st = self.lock();
            let came_back = st.customers.contains_key(consultation)
                || st.customer_epochs.get(consultation).copied().unwrap_or(0) != epoch;
            if came_back || !st.dispatch.waiting.contains(&consultation.to_owned()) {
                return;
            }
        }
        match self.store.leave_queue(consultation).await {
            Ok(_) => {
                tracing::info!(consultation, "waiting customer gone: removed as abandoned");
                self.customer_left(consultation, "abandoned").await;
            }
            Err(e) => {
                tracing::warn!(consultation, error = %e, "could not remove an abandoned customer")
            }
        }
    }

    fn start_agent_grace(self: &Arc<Self>, agent: i64, epoch: u64) {
        self.after_grace(self.config.agent_grace_secs, move |desk| async move {
            desk.agent_grace_over(agent, epoch).await;
        });
    }

    /// The agent did not come back: their customers go back to the head of the
    /// queue, and they leave the idle queue.
    async fn agent_grace_over(self: &Arc<Self>, agent: i64, epoch: u64) {
        let now = now_ms();
        let lost: Vec<LiveService> = {
            let mut st = self.lock();
            let came_back = st.agents.contains_key(&agent)
                || st.agent_epochs.get(&agent).copied().unwrap_or(0) != epoch;
            if came_back {
                return;
            }
            let ids: Vec<String> = st
                .services
                .values()
                .filter(|s| s.agent == agent)
                .map(|s| s.consultation.clone())
                .collect();
            let mut lost = Vec::new();
            for c in ids {
                if let Some(s) = self.end_in_memory(&mut st, &c, "agent_lost", now) {
                    let _ = st.dispatch.waiting.push_front(Waiting {
                        who: s.consultation.clone(),
                        tier: s.tier,
                        arrived_ms: s.queued_ms,
                        need: s.need,
                    });
                    st.waiting.insert(
                        s.consultation.clone(),
                        WaitMeta {
                            phone: s.phone.clone(),
                            requeued: true,
                            last_sent: None,
                            prefer_until: None,
                        },
                    );
                    lost.push(s);
                }
            }
            st.dispatch.agents.forget(&agent);
            lost
        };
        tracing::info!(
            agent,
            customers = lost.len(),
            "agent did not come back; customers requeued at the head"
        );
        for s in &lost {
            self.store_end_and_tell_customer(s, "agent_lost", true, now)
                .await;
        }
        if let Err(e) = self.store.set_presence(agent, None).await {
            tracing::warn!(agent, error = %e, "could not store an agent's presence");
        }
        {
            let mut st = self.lock();
            self.push_queue(&mut st);
            self.push_positions(&mut st);
        }
        self.assign().await;
    }
}

fn send_customer(st: &State, consultation: &str, push: Push) {
    if let Some(link) = st.customers.get(consultation) {
        let _ = link.tx.send(push);
    }
}

fn send_agent(st: &State, agent: i64, msg: AgentServerMessage) {
    if let Some(link) = st.agents.get(&agent) {
        let _ = link.tx.send(msg);
    }
}

/// Agents taking customers now and connected: those the estimate counts on.
fn available_agents(d: &Dispatcher<String, i64>) -> usize {
    d.agents
        .agents()
        .filter(|(_, l)| l.presence == Presence::Available && l.connected)
        .count()
}

fn staffing(st: &State) -> Staffing {
    let mut s = Staffing {
        idle: 0,
        available: 0,
        waiting: st.dispatch.waiting.len(),
    };
    for (a, l) in st.dispatch.agents.agents() {
        if l.presence == Presence::Available && l.connected {
            s.available += 1;
            if agent_state(st, *a) == AgentState::Idle {
                s.idle += 1;
            }
        }
    }
    s
}

fn agent_state(st: &State, agent: i64) -> AgentState {
    match st.dispatch.agents.load(&agent) {
        Some(l) if !l.connected => AgentState::Offline,
        Some(l) => l.state(),
        None if st.agents.contains_key(&agent) => AgentState::Away,
        None => AgentState::Offline,
    }
}

fn ended_service(st: &State, s: &LiveService) -> EndedService {
    EndedService {
        id: s.id.clone(),
        consultation: s.consultation.clone(),
        agent_id: s.agent,
        agent_name: st.names.get(&s.agent).cloned().unwrap_or_default(),
        phone: s.phone.clone(),
    }
}

fn queued_message(st: &mut State, consultation: &str) -> ServerMessage {
    let agents = available_agents(&st.dispatch);
    let pos = st
        .dispatch
        .waiting
        .position(&consultation.to_owned())
        .unwrap_or(0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let estimate = estimate_wait_ms(pos, agents, st.mean_service_ms as u64);
    let position = u32::try_from(pos + 1).unwrap_or(u32::MAX);
    let requeued = if let Some(meta) = st.waiting.get_mut(consultation) {
        meta.last_sent = Some((position, estimate));
        meta.requeued
    } else {
        false
    };
    ServerMessage::Queued {
        position,
        waiting: u32::try_from(st.dispatch.waiting.len()).unwrap_or(u32::MAX),
        estimated_wait_ms: estimate,
        agents_available: u32::try_from(agents).unwrap_or(u32::MAX),
        requeued,
        waiting_for: st
            .dispatch
            .preference(&consultation.to_owned())
            .map(|a| AgentCard {
                id: *a,
                name: st.names.get(a).cloned().unwrap_or_default(),
            }),
    }
}

fn queue_view(st: &State, region: Region) -> QueueView {
    let mut view = QueueView {
        length: u32::try_from(st.dispatch.waiting.len()).unwrap_or(u32::MAX),
        ..QueueView::default()
    };
    for w in st.dispatch.waiting.iter().take(QUEUE_VIEW_LIMIT) {
        let phone = st.waiting.get(&w.who).map_or("", |m| m.phone.as_str());
        view.waiting.push(WaitingView {
            consultation: w.who.clone(),
            phone: Phone::parse(phone, region).map_or_else(|_| "?".to_owned(), |p| p.masked()),
            tier: w.tier.as_str().to_owned(),
            need: need_str(w.need).to_owned(),
            since_ms: w.arrived_ms,
            for_agent: st.dispatch.preference(&w.who).copied(),
        });
    }
    for (a, _) in st.dispatch.agents.agents() {
        match agent_state(st, *a) {
            AgentState::Idle => view.idle += 1,
            AgentState::Busy => view.busy += 1,
            AgentState::Away => view.away += 1,
            AgentState::Offline => {}
        }
    }
    view.away += u32::try_from(
        st.agents
            .keys()
            .filter(|a| st.dispatch.agents.load(a).is_none())
            .count(),
    )
    .unwrap_or(0);
    view
}

/// A stored chat message as sent.
#[must_use]
fn chat_line(r: &ChatRow) -> ChatLine {
    ChatLine {
        seq: r.seq,
        from: r.sender.clone(),
        text: r.text.clone(),
        at_ms: r.at,
        id: r.client_id.clone(),
    }
}

fn need_str(n: Need) -> &'static str {
    match n {
        Need::Chat => "chat",
        Need::Voice => "voice",
    }
}

fn parse_need(s: &str) -> Need {
    if s == "voice" {
        Need::Voice
    } else {
        Need::Chat
    }
}
