//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.
//!
//! The registry is held in [`crate::AppState`] (not a process global), so every
//! server in a test process has its own figures.
//!
//! `/metrics` answers loopback clients only, unless `metrics_token` is configured:
//! then any client with `Authorization: Bearer <metrics_token>`. Counts of
//! customers and errors are business data; they are not for the open internet.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::error::ApiError;

/// A label naming why, what or which code.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    /// The value.
    pub kind: &'static str,
}

/// Every metric of the server.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Customer WebSocket connections open now.
    pub connections: Gauge,
    /// Consultations held by a connection now (set when scraped).
    pub live_consultations: Gauge,
    /// Consultations started.
    pub consultations_started: Counter,
    /// Consultations ended, by reason (`customer`, `abandoned`).
    pub consultations_ended: Family<Kind, Counter>,
    /// Service items recorded, by how they were served.
    pub service_items: Family<Kind, Counter>,
    /// Errors sent to customers, by code.
    pub errors: Family<Kind, Counter>,
    /// Seconds from reading a request to acknowledging it (answer + durable record).
    pub request_seconds: Histogram,
    /// Customers waiting for an agent (set when scraped).
    pub queue_length: Gauge,
    /// Seconds the longest-waiting customer has waited (set when scraped).
    pub queue_oldest_wait_seconds: Gauge,
    /// Agents by state (set when scraped).
    pub agents: Family<Kind, Gauge>,
    /// Customers given to agents.
    pub assignments: Counter,
    /// Customers who left the queue without an agent, by reason (`cancelled`,
    /// `abandoned`, `ended`).
    pub queue_left: Family<Kind, Counter>,
    /// Services ended, by reason.
    pub services_ended: Family<Kind, Counter>,
    /// Chat messages stored, by sender.
    pub chat_messages: Family<Kind, Counter>,
    /// Seconds customers waited before an agent took them.
    pub queue_wait_seconds: Histogram,
    /// Questions the bot answered, by outcome (`answered`, `no_match`).
    pub bot_questions: Family<Kind, Counter>,
    /// Bot answers that came with an offer of a human.
    pub bot_offers: Counter,
    /// Offers of a human the customer declined.
    pub bot_declines: Counter,
    /// Customers who went from the bot to the waiting queue, by how (`offer`: an
    /// offer was open; `asked`: they asked without one).
    pub handoffs: Family<Kind, Counter>,
    /// Seconds to answer a question (search and degree).
    pub bot_answer_seconds: Histogram,
    /// The live thresholds for offering a human, by kind (`single`, `mean`), and
    /// the pressure on the agents that set them (set when scraped).
    pub bot_threshold: Family<Kind, Gauge<f64, std::sync::atomic::AtomicU64>>,
    /// The pressure on the agents, 0 (many idle) to 1 (swamped), set when scraped.
    pub bot_pressure: Gauge<f64, std::sync::atomic::AtomicU64>,
    /// Agents' cards issued (an SMS with their link), by trigger (`end`, `button`).
    pub cards_issued: Family<Kind, Counter>,
    /// SMS delivery attempts, by outcome (`sent`, `retry`, `failed`).
    pub sms_attempts: Family<Kind, Counter>,
    /// Ratings stored.
    pub ratings: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    #[must_use]
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("frontdesk");
        let m = Self {
            connections: Gauge::default(),
            live_consultations: Gauge::default(),
            consultations_started: Counter::default(),
            consultations_ended: Family::default(),
            service_items: Family::default(),
            errors: Family::default(),
            // 50 µs to ~1.6 s: an in-memory answer is microseconds, a durable
            // commit milliseconds, a stalled disk seconds.
            request_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            queue_length: Gauge::default(),
            queue_oldest_wait_seconds: Gauge::default(),
            agents: Family::default(),
            assignments: Counter::default(),
            queue_left: Family::default(),
            services_ended: Family::default(),
            chat_messages: Family::default(),
            // 10 ms to ~45 min.
            queue_wait_seconds: Histogram::new(exponential_buckets(0.01, 2.0, 18)),
            bot_questions: Family::default(),
            bot_offers: Counter::default(),
            bot_declines: Counter::default(),
            handoffs: Family::default(),
            // 50 µs to ~1.6 s.
            bot_answer_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            bot_threshold: Family::default(),
            bot_pressure: Gauge::default(),
            cards_issued: Family::default(),
            sms_attempts: Family::default(),
            ratings: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "cards_issued",
            "Agents' links sent to customers by SMS, by trigger",
            m.cards_issued.clone(),
        );
        registry.register(
            "sms_attempts",
            "SMS delivery attempts, by outcome",
            m.sms_attempts.clone(),
        );
        registry.register("ratings", "Ratings of services stored", m.ratings.clone());
        registry.register(
            "bot_questions",
            "Questions the answer bot answered, by outcome",
            m.bot_questions.clone(),
        );
        registry.register(
            "bot_offers",
            "Bot answers that came with an offer of a human",
            m.bot_offers.clone(),
        );
        registry.register(
            "bot_declines",
            "Offers of a human the customer declined",
            m.bot_declines.clone(),
        );
        registry.register(
            "handoffs",
            "Customers who went from the bot to the waiting queue, by how",
            m.handoffs.clone(),
        );
        registry.register(
            "bot_answer_seconds",
            "Seconds to answer a question",
            m.bot_answer_seconds.clone(),
        );
        registry.register(
            "bot_threshold",
            "Live threshold under which the bot offers a human, by kind (single, mean)",
            m.bot_threshold.clone(),
        );
        registry.register(
            "bot_pressure",
            "Pressure on the agents that sets the bot's thresholds (0 idle, 1 swamped)",
            m.bot_pressure.clone(),
        );
        registry.register(
            "customer_connections",
            "Customer WebSocket connections open",
            m.connections.clone(),
        );
        registry.register(
            "live_consultations",
            "Consultations held by a connection",
            m.live_consultations.clone(),
        );
        registry.register(
            "consultations_started",
            "Consultations started",
            m.consultations_started.clone(),
        );
        registry.register(
            "consultations_ended",
            "Consultations ended, by reason",
            m.consultations_ended.clone(),
        );
        registry.register(
            "service_items",
            "Service items recorded, by how they were served",
            m.service_items.clone(),
        );
        registry.register(
            "customer_errors",
            "Errors sent to customers, by code",
            m.errors.clone(),
        );
        registry.register(
            "request_seconds",
            "Seconds from reading a customer request to acknowledging it",
            m.request_seconds.clone(),
        );
        registry.register(
            "queue_length",
            "Customers waiting for an agent",
            m.queue_length.clone(),
        );
        registry.register(
            "queue_oldest_wait_seconds",
            "Seconds the longest-waiting customer has waited",
            m.queue_oldest_wait_seconds.clone(),
        );
        registry.register("agents", "Agents by state", m.agents.clone());
        registry.register(
            "assignments",
            "Customers given to agents",
            m.assignments.clone(),
        );
        registry.register(
            "queue_left",
            "Customers who left the queue without an agent, by reason",
            m.queue_left.clone(),
        );
        registry.register(
            "services_ended",
            "Services with an agent ended, by reason",
            m.services_ended.clone(),
        );
        registry.register(
            "chat_messages",
            "Chat messages stored, by sender",
            m.chat_messages.clone(),
        );
        registry.register(
            "queue_wait_seconds",
            "Seconds customers waited before an agent took them",
            m.queue_wait_seconds.clone(),
        );
        Self { registry, ..m }
    }

    /// Counts an error sent to a customer.
    pub fn error(&self, code: frontdesk_protocol::ErrorCode) {
        self.errors
            .get_or_create(&Kind {
                kind: code.as_str(),
            })
            .inc();
    }

    /// Observes how long a request took.
    pub fn request_took(&self, d: Duration) {
        self.request_seconds.observe(d.as_secs_f64());
    }

    /// The text exposition.
    #[must_use]
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            tracing::error!("could not encode the metrics");
        }
        out
    }
}

/// `GET /metrics`.
pub async fn handler(State(app): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let allowed = match &app.config.metrics_token {
        Some(token) => req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.as_bytes(), token.as_bytes())),
        None => req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(addr)| addr.ip().is_loopback()),
    };
    if !allowed {
        return Err(ApiError::Forbidden(
            "metrics are served to loopback clients, or with the configured metrics_token".into(),
        ));
    }
    app.metrics
        .live_consultations
        .set(i64::try_from(app.live.len()).unwrap_or(i64::MAX));
    app.desk.observe(&app.metrics);
    Ok((
        StatusCode::OK,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        app.metrics.render(),
    )
        .into_response())
}

/// Compares secrets without revealing, by timing, how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_its_labels() {
        let m = Metrics::new();
        m.consultations_started.inc();
        m.consultations_ended
            .get_or_create(&Kind { kind: "abandoned" })
            .inc();
        m.error(frontdesk_protocol::ErrorCode::UnknownItem);
        m.request_took(Duration::from_millis(3));
        let text = m.render();
        assert!(
            text.contains("frontdesk_consultations_started_total 1"),
            "{text}"
        );
        assert!(
            text.contains("frontdesk_consultations_ended_total{kind=\"abandoned\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("frontdesk_customer_errors_total{kind=\"unknown_item\"} 1"),
            "{text}"
        );
        assert!(text.contains("frontdesk_request_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
    }
}
