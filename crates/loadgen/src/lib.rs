//! `frontdesk loadgen`: drives a running frontdesk server over real WebSockets
//! with simulated customers and agents, measures every step beside a bare
//! WebSocket echo baseline, and checks that no chat message is lost or doubled.
//!
//! Two modes:
//! - [`run`]: a mixed run. Customers arrive (at a rate, or as fast as the
//!   concurrency allows), walk the menu, read content, ask the bot, and some
//!   hand off to a person, wait in the queue, chat and end; agents take them,
//!   reply and end the service. Right before it, the same client code measures a
//!   round trip through an in-process echo server ([`echo`]), so every latency
//!   also comes as a ratio to the baseline: absolute times on a shared 2-core
//!   machine are noise, ratios much less so.
//! - [`idle::run`]: idle capacity. Holds N customer sessions open (parked at the
//!   menu or in the queue, pinging like a real client) and reports the server's
//!   RSS per session.
//!
//! It uses the client SDK (`frontdesk-client`) the tests use, so the load is
//! the protocol as clients really speak it: outboxes, acknowledgements, resends.
//!
//! # Layout
//! - `options.rs`: the knobs (clap `Args`; their doc comments are the `--help`).
//! - `sim.rs`: one customer's consultation and one agent's shift.
//! - `run.rs`: the mixed run: agents, arrivals, the progress bar, the report.
//! - `echo.rs`: the echo server and the baseline measured through it.
//! - `stats.rs`: latency histograms per step, error counts, the chat checks.
//! - `report.rs`: the report (serde for `--json`) and its text form.
//! - `procfs.rs`: RSS and CPU of a local process from `/proc`, and finding the
//!   process that listens on a port.
//! - `idle.rs`: idle capacity mode.
//! - `chart.rs`: SVG charts (plotters).
//!
//! Errors are `anyhow`: this crate is the body of a command-line tool, and its
//! failures go to a person, not to code that tells them apart.

pub mod chart;
pub mod echo;
pub mod idle;
pub mod options;
pub mod procfs;
pub mod report;
mod run;
mod sim;
pub mod stats;

pub use options::{IdleOptions, Mix, RunOptions, Target};
pub use report::{IdleReport, Report};
pub use run::run;

/// A phone number for simulated customer `i`: valid North American numbers in the
/// 555 exchange, spread over several area codes so more than 10,000 customers get
/// distinct numbers.
#[must_use]
pub fn phone(i: u64) -> String {
    const AREAS: [u16; 8] = [201, 202, 212, 213, 312, 415, 617, 718];
    // usize from u64 cannot fail after `% 8`.
    let area = AREAS[usize::try_from((i / 10_000) % 8).unwrap_or(0)];
    format!("+1{area}555{:04}", i % 10_000)
}

/// Raises this process's open-file soft limit to its hard limit (one socket per
/// simulated client); returns the limit in effect.
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(error = %e, "cannot raise the open-file limit");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_distinct_across_area_codes() {
        assert_eq!(phone(0), "+12015550000");
        assert_eq!(phone(10_001), "+12025550001");
        let all: std::collections::HashSet<_> = (0..80_000).map(phone).collect();
        assert_eq!(all.len(), 80_000);
    }
}
