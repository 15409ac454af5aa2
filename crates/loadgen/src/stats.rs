//! What a run measures: a latency histogram per step, errors by code, and the
//! counts behind the chat checks (every message received once, in order).
//!
//! Shared by every simulated customer and agent behind one `Arc`. Each
//! histogram has its own short-held lock: a record is a few nanoseconds, far
//! below what the network steps cost.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use frontdesk_client::ClientError;
use hdrhistogram::Histogram;
use serde::Serialize;

/// A measured step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Connect, `hello`, `welcome`.
    Start,
    /// `select` of a submenu or content item until its answer is acknowledged
    /// (stored durably).
    MenuSelect,
    /// `ask` until `bot_answer`.
    BotAnswer,
    /// A customer's chat message until `said` (stored).
    ChatSaid,
    /// A customer's chat message until the agent receives it.
    ChatToAgent,
    /// An agent's chat message until the customer receives it.
    ChatToCustomer,
    /// `human` until `agent_joined`: the whole wait in the queue.
    QueueWait,
    /// From the moment both a customer is queued and an agent is free (the later
    /// of the two) until the agent gets `assigned`.
    Assignment,
    /// `end` until acknowledged.
    End,
    /// The baseline: one round trip through the echo server.
    Echo,
}

impl Step {
    /// Every step of the real server, in report order.
    pub const SERVER: [Step; 9] = [
        Step::Start,
        Step::MenuSelect,
        Step::BotAnswer,
        Step::ChatSaid,
        Step::ChatToAgent,
        Step::ChatToCustomer,
        Step::QueueWait,
        Step::Assignment,
        Step::End,
    ];

    /// Its name in reports.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::MenuSelect => "menu_select",
            Step::BotAnswer => "bot_answer",
            Step::ChatSaid => "chat_said",
            Step::ChatToAgent => "chat_customer_to_agent",
            Step::ChatToCustomer => "chat_agent_to_customer",
            Step::QueueWait => "queue_wait",
            Step::Assignment => "assignment",
            Step::End => "end",
            Step::Echo => "echo_round_trip",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Percentiles of one step, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

/// Chat messages counted end to end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ChatCounts {
    /// Customer messages stored (`said`).
    pub customer_sent: u64,
    /// Customer messages the agent received, each the next one expected.
    pub agent_received: u64,
    /// Agent messages stored.
    pub agent_sent: u64,
    /// Agent messages the customer received, each the next one expected.
    pub customer_received: u64,
    /// Messages received a second time (a number already seen).
    pub duplicated: u64,
    /// Messages received ahead of one not yet received.
    pub out_of_order: u64,
}

impl ChatCounts {
    /// Messages stored and never received, both directions.
    #[must_use]
    pub fn lost(&self) -> u64 {
        self.customer_sent.saturating_sub(self.agent_received)
            + self.agent_sent.saturating_sub(self.customer_received)
    }
}

/// Which chat counter to bump.
#[derive(Debug, Clone, Copy)]
pub enum ChatEvent {
    /// See [`ChatCounts::customer_sent`].
    CustomerSent,
    /// See [`ChatCounts::agent_received`].
    AgentReceived,
    /// See [`ChatCounts::agent_sent`].
    AgentSent,
    /// See [`ChatCounts::customer_received`].
    CustomerReceived,
    /// See [`ChatCounts::duplicated`].
    Duplicated,
    /// See [`ChatCounts::out_of_order`].
    OutOfOrder,
}

/// Everything a run measures.
#[derive(Debug)]
pub struct Stats {
    steps: Vec<Mutex<Histogram<u64>>>,
    errors: Mutex<BTreeMap<String, u64>>,
    chat: [AtomicU64; 6],
    /// Consultations started.
    pub started: AtomicU64,
    /// Consultations completed by path (menu, bot, chat).
    pub completed: [AtomicU64; 3],
}

/// Microseconds from 1 µs to 1 hour at 3 significant figures: about 30 KiB per step.
fn histogram() -> Histogram<u64> {
    #[expect(clippy::expect_used, reason = "constant, valid bounds")]
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds")
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            steps: (0..=Step::Echo.index())
                .map(|_| Mutex::new(histogram()))
                .collect(),
            errors: Mutex::default(),
            chat: Default::default(),
            started: AtomicU64::new(0),
            completed: Default::default(),
        }
    }
}

impl Stats {
    /// Records one sample of `step`.
    pub fn record(&self, step: Step, took: Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        if let Ok(mut h) = self.steps[step.index()].lock() {
            h.saturating_record(micros);
        }
    }

    /// Counts an error under `code`.
    pub fn error(&self, code: &str) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(code.to_owned()).or_default() += 1;
        }
    }

    /// Counts a client error under its code ([`error_code`]).
    pub fn client_error(&self, e: &ClientError) {
        self.error(&error_code(e));
    }

    /// Bumps a chat counter.
    pub fn chat(&self, event: ChatEvent) {
        self.chat[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The chat counters now.
    #[must_use]
    pub fn chat_counts(&self) -> ChatCounts {
        let get = |e: ChatEvent| self.chat[e as usize].load(Ordering::Relaxed);
        ChatCounts {
            customer_sent: get(ChatEvent::CustomerSent),
            agent_received: get(ChatEvent::AgentReceived),
            agent_sent: get(ChatEvent::AgentSent),
            customer_received: get(ChatEvent::CustomerReceived),
            duplicated: get(ChatEvent::Duplicated),
            out_of_order: get(ChatEvent::OutOfOrder),
        }
    }

    /// Errors so far, by code.
    #[must_use]
    pub fn errors(&self) -> BTreeMap<String, u64> {
        self.errors.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Errors so far, in all.
    #[must_use]
    pub fn error_total(&self) -> u64 {
        self.errors().values().sum()
    }

    /// Consultations completed, all paths.
    #[must_use]
    pub fn completed_total(&self) -> u64 {
        self.completed
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The percentiles of `step`; `None` without samples.
    #[must_use]
    pub fn latency(&self, step: Step) -> Option<Latency> {
        let h = self.steps[step.index()].lock().ok()?;
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Latency {
            count: h.len(),
            mean_ms: h.mean() / 1000.0,
            p50_ms: ms(h.value_at_quantile(0.50)),
            p95_ms: ms(h.value_at_quantile(0.95)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        })
    }
}

/// A stable name for a client error: the server's code (`rate_limited`,
/// `not_in_chat`, …) or what broke (`timeout`, `closed`, `connection`, …).
#[must_use]
pub fn error_code(e: &ClientError) -> String {
    match e {
        ClientError::Server { code, .. } => code.to_string(),
        ClientError::Url(_) => "bad_url".into(),
        ClientError::Connection(_) => "connection".into(),
        ClientError::Protocol(_) => "protocol".into(),
        ClientError::Closed => "closed".into(),
        ClientError::Http(_) => "http".into(),
        ClientError::Timeout => "timeout".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_counts() {
        let s = Stats::default();
        assert_eq!(s.latency(Step::MenuSelect), None);
        for ms in 1..=100 {
            s.record(Step::MenuSelect, Duration::from_millis(ms));
        }
        let l = s.latency(Step::MenuSelect).unwrap();
        assert_eq!(l.count, 100);
        assert!((l.p50_ms - 50.0).abs() < 0.1, "{l:?}");
        assert!((l.p99_ms - 99.0).abs() < 0.1, "{l:?}");
        assert!((l.max_ms - 100.0).abs() < 0.1, "{l:?}");

        s.chat(ChatEvent::CustomerSent);
        s.chat(ChatEvent::CustomerSent);
        s.chat(ChatEvent::AgentReceived);
        assert_eq!(s.chat_counts().lost(), 1);
        s.error("timeout");
        s.error("timeout");
        s.client_error(&ClientError::Closed);
        assert_eq!(s.errors()["timeout"], 2);
        assert_eq!(s.error_total(), 3);
    }
}
