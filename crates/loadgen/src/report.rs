//! The reports: what `--json` prints, and their text form.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use crate::options::{IdleOptions, RunOptions};
use crate::procfs::Usage;
use crate::stats::{ChatCounts, Latency};

/// A step's latency as a multiple of the echo baseline's, percentile by percentile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ratio {
    /// p50 / baseline p50.
    pub p50: f64,
    /// p95 / baseline p95.
    pub p95: f64,
    /// p99 / baseline p99.
    pub p99: f64,
    /// max / baseline max.
    pub max: f64,
}

impl Ratio {
    /// `step` over `base`.
    #[must_use]
    pub fn of(step: &Latency, base: &Latency) -> Self {
        let r = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        Self {
            p50: r(step.p50_ms, base.p50_ms),
            p95: r(step.p95_ms, base.p95_ms),
            p99: r(step.p99_ms, base.p99_ms),
            max: r(step.max_ms, base.max_ms),
        }
    }
}

/// One step of the real server.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    /// The step (`menu_select`, `bot_answer`, …).
    pub step: String,
    /// Its percentiles.
    #[serde(flatten)]
    pub latency: Latency,
    /// As a multiple of the baseline (absent without a baseline).
    pub ratio: Option<Ratio>,
}

/// Consultations in a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Consultations {
    /// Started.
    pub started: u64,
    /// Completed (ended by the customer after their whole path).
    pub completed: u64,
    /// Completed on the menu-only path.
    pub menu: u64,
    /// Completed on the bot path.
    pub bot: u64,
    /// Completed on the chat path.
    pub chat: u64,
    /// Completed per second of the run (arrivals and the drain after them).
    pub per_sec: f64,
}

/// The mixed run's report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The options of the run.
    pub options: RunOptions,
    /// Seconds from the first arrival to the last consultation finished.
    pub run_secs: f64,
    /// Consultations.
    pub consultations: Consultations,
    /// The echo baseline's round trip (absent with `--baseline-secs 0`).
    pub baseline: Option<Latency>,
    /// Each step of the real server that has samples.
    pub steps: Vec<StepReport>,
    /// Errors by code (the server's codes, or `timeout`, `closed`, … and the
    /// chat checks' own).
    pub errors: BTreeMap<String, u64>,
    /// Chat messages counted end to end.
    pub chat: ChatCounts,
    /// Chat messages stored and never received.
    pub chat_lost: u64,
    /// The server's memory and CPU during the run (when it runs on this machine).
    pub server: Option<Usage>,
    /// The load generator's own, for judging whether it was the bottleneck.
    pub loadgen: Option<Usage>,
    /// The server's Prometheus metrics after the run (counters and gauges;
    /// histogram buckets left out), when `/metrics` answered.
    pub metrics: BTreeMap<String, f64>,
    /// Why the run failed; empty when it passed.
    pub failures: Vec<String>,
}

impl Report {
    /// True when there were no errors and no chat message was lost, doubled or
    /// out of order.
    #[must_use]
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }

    /// The report for machines (`--json`).
    ///
    /// # Errors
    /// Never in practice (every field serializes).
    pub fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    /// The report for people.
    #[must_use]
    pub fn text(&self) -> String {
        let mut s = String::new();
        let c = &self.consultations;
        let _ = writeln!(
            s,
            "{} consultations completed of {} started in {:.1} s: {:.1}/s (menu {}, bot {}, chat {})",
            c.completed, c.started, self.run_secs, c.per_sec, c.menu, c.bot, c.chat
        );
        let _ = writeln!(
            s,
            "{} customers at once, {} agents, rate {}, think {} ms, mix menu/bot/chat {}/{}/{}, seed {}",
            self.options.customers,
            self.options.agents,
            if self.options.rate > 0.0 {
                format!("{}/s", self.options.rate)
            } else {
                "closed loop".into()
            },
            self.options.think_ms,
            self.options.mix.menu,
            self.options.mix.bot,
            self.options.mix.chat,
            self.options.seed,
        );
        let _ = writeln!(s);
        let _ = writeln!(
            s,
            "{:<24} {:>7} {:>9} {:>9} {:>9} {:>9}   {:>22}",
            "step (ms)", "count", "p50", "p95", "p99", "max", "× baseline p50/p99"
        );
        let row = |s: &mut String, name: &str, l: &Latency, ratio: Option<&Ratio>| {
            let ratio =
                ratio.map_or_else(String::new, |r| format!("{:.1}× / {:.1}×", r.p50, r.p99));
            let _ = writeln!(
                s,
                "{:<24} {:>7} {:>9.2} {:>9.2} {:>9.2} {:>9.2}   {:>22}",
                name, l.count, l.p50_ms, l.p95_ms, l.p99_ms, l.max_ms, ratio
            );
        };
        if let Some(b) = &self.baseline {
            row(&mut s, "echo baseline (rtt)", b, None);
        }
        for st in &self.steps {
            row(&mut s, &st.step, &st.latency, st.ratio.as_ref());
        }
        let _ = writeln!(s);
        let ch = &self.chat;
        let _ = writeln!(
            s,
            "chat: customer→agent {} sent, {} received; agent→customer {} sent, {} received; lost {}, duplicated {}, out of order {}",
            ch.customer_sent,
            ch.agent_received,
            ch.agent_sent,
            ch.customer_received,
            self.chat_lost,
            ch.duplicated,
            ch.out_of_order
        );
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors: none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "errors: {}", list.join(", "));
        }
        for (who, u) in [("server", &self.server), ("loadgen", &self.loadgen)] {
            if let Some(u) = u {
                let _ = writeln!(
                    s,
                    "{who} (pid {}): RSS {:.1} → {:.1} MiB (peak {:.1}), CPU {:.0}% of one core",
                    u.pid, u.rss_start_mib, u.rss_end_mib, u.rss_peak_mib, u.cpu_percent
                );
            }
        }
        if self.passed() {
            let _ = writeln!(s, "PASSED");
        } else {
            let _ = writeln!(s, "FAILED: {}", self.failures.join("; "));
        }
        s
    }
}

/// RSS of the server at one number of open sessions.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RssPoint {
    /// Sessions open.
    pub sessions: u64,
    /// Server RSS, MiB.
    pub server_rss_mib: f64,
    /// The load generator's RSS, MiB.
    pub loadgen_rss_mib: f64,
}

/// The idle capacity report.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    /// The options of the run.
    pub options: IdleOptions,
    /// Sessions opened (welcome received, and parked).
    pub opened: u64,
    /// Sessions still open (answering pings) at the end of the hold.
    pub alive_at_end: u64,
    /// Seconds it took to open them all.
    pub open_secs: f64,
    /// Sessions opened per second.
    pub opened_per_sec: f64,
    /// The server's RSS with no session of ours, MiB.
    pub server_rss_before_mib: Option<f64>,
    /// The server's RSS with every session open, at the end of the hold, MiB.
    pub server_rss_after_mib: Option<f64>,
    /// (after − before) ÷ sessions open, KiB.
    pub server_kib_per_session: Option<f64>,
    /// The slope of the server's RSS over sessions while they were opened
    /// (least squares over [`IdleReport::points`]), KiB per session: steadier
    /// than the difference when the allocator hands back memory from earlier
    /// work meanwhile.
    pub server_kib_per_session_slope: Option<f64>,
    /// The load generator's own RSS per session, KiB.
    pub loadgen_kib_per_session: Option<f64>,
    /// RSS as sessions were opened.
    pub points: Vec<RssPoint>,
    /// The server's CPU while opening and holding.
    pub server: Option<Usage>,
    /// Errors by code.
    pub errors: BTreeMap<String, u64>,
    /// The open-file limit of the load generator.
    pub fd_limit: u64,
}

/// The least-squares slope of `y` over `x`; `None` with fewer than two
/// distinct `x`.
#[must_use]
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    let n = points.len() as f64;
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    (points.len() >= 2 && sxx > 0.0).then(|| sxy / sxx)
}

impl IdleReport {
    /// The report for machines (`--json`).
    ///
    /// # Errors
    /// Never in practice (every field serializes).
    pub fn json(&self) -> serde_json::Result<String> {
        serde_json::to_string_pretty(self)
    }

    /// The report for people.
    #[must_use]
    pub fn text(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} of {} sessions opened in {:.1} s ({:.0}/s), parked at the {:?}; {} alive after holding {} s",
            self.opened,
            self.options.sessions,
            self.open_secs,
            self.opened_per_sec,
            self.options.park,
            self.alive_at_end,
            self.options.hold
        );
        if let (Some(b), Some(a)) = (self.server_rss_before_mib, self.server_rss_after_mib) {
            let _ = writeln!(s, "server RSS {b:.1} → {a:.1} MiB");
        }
        if let Some(k) = self.server_kib_per_session {
            let _ = writeln!(
                s,
                "server RSS per session: {k:.1} KiB (after − before, ÷ sessions)"
            );
        }
        if let Some(k) = self.server_kib_per_session_slope {
            let _ = writeln!(
                s,
                "server RSS per session: {k:.1} KiB (slope while opening)"
            );
        }
        if let Some(k) = self.loadgen_kib_per_session {
            let _ = writeln!(s, "load generator RSS per session: {k:.1} KiB");
        }
        if let Some(u) = &self.server {
            let _ = writeln!(s, "server CPU {:.0}% of one core", u.cpu_percent);
        }
        let _ = writeln!(
            s,
            "{:>10} {:>16} {:>16}",
            "sessions", "server MiB", "loadgen MiB"
        );
        for p in &self.points {
            let _ = writeln!(
                s,
                "{:>10} {:>16.1} {:>16.1}",
                p.sessions, p.server_rss_mib, p.loadgen_rss_mib
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(s, "errors: none");
        } else {
            let list: Vec<String> = self
                .errors
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect();
            let _ = writeln!(s, "errors: {}", list.join(", "));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slopes() {
        assert_eq!(slope(&[(0.0, 1.0), (10.0, 21.0), (20.0, 41.0)]), Some(2.0));
        assert_eq!(slope(&[(5.0, 1.0)]), None);
        assert_eq!(slope(&[(5.0, 1.0), (5.0, 2.0)]), None);
    }
}
