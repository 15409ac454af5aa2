//! The knobs. They are clap `Args` so `frontdesk loadgen` flattens them as they
//! are; their doc comments are the `--help` text.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde::Serialize;

/// Which server, and how to report.
#[derive(Debug, Clone, Args, Serialize)]
pub struct Target {
    /// The server's base URL (`http://host:port`; `ws://` works too).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The server's process id, to read its RSS and CPU from /proc. Default: the
    /// process listening on the URL's port, when it runs on this machine.
    #[arg(long, value_name = "PID")]
    pub server_pid: Option<u32>,
    /// Print the report as JSON on stdout (the progress bar stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Write an SVG chart of the results to this file.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub chart: Option<PathBuf>,
}

/// The share of consultations taking each path, in percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Mix {
    /// Menu only: submenu, content items, end.
    pub menu: u32,
    /// Menu, then questions to the bot, end.
    pub bot: u32,
    /// Menu, bot, hand-off to a person, queue, chat, end.
    pub chat: u32,
}

impl FromStr for Mix {
    type Err = String;

    /// `MENU,BOT,CHAT` percentages summing to 100, e.g. `50,30,20`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<u32> = s
            .split(',')
            .map(|p| p.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|e| format!("expected MENU,BOT,CHAT percentages: {e}"))?;
        let [menu, bot, chat] = parts[..] else {
            return Err("expected three percentages: MENU,BOT,CHAT".into());
        };
        if menu + bot + chat != 100 {
            return Err(format!(
                "the percentages add up to {}, not 100",
                menu + bot + chat
            ));
        }
        Ok(Self { menu, bot, chat })
    }
}

/// The path one consultation takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PathKind {
    /// Menu only.
    Menu,
    /// Menu and bot.
    Bot,
    /// Menu, bot, hand-off, queue, chat.
    Chat,
}

impl Mix {
    /// The path for a roll in `0..100`.
    #[must_use]
    pub fn pick(&self, roll: u32) -> PathKind {
        if roll < self.menu {
            PathKind::Menu
        } else if roll < self.menu + self.bot {
            PathKind::Bot
        } else {
            PathKind::Chat
        }
    }
}

/// The mixed run: customers and agents.
#[derive(Debug, Clone, Args, Serialize)]
pub struct RunOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub target: Target,
    /// Customers at once: the most consultations in progress at any time.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub customers: usize,
    /// Agents taking customers (chat capacity 1 each).
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub agents: usize,
    /// New consultations per second (Poisson arrivals, still capped by
    /// `--customers`). 0: closed loop, each customer starts a new consultation as
    /// soon as the last one ends.
    #[arg(long, value_name = "PER_SEC", default_value_t = 0.0)]
    pub rate: f64,
    /// Seconds during which new consultations start; those in progress then
    /// finish (up to `--timeout` more for each step).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub duration: u64,
    /// Mean pause between a customer's steps, in milliseconds (exponentially
    /// distributed; 0: none).
    #[arg(long, value_name = "MS", default_value_t = 100)]
    pub think_ms: u64,
    /// Mean time an agent takes to reply, in milliseconds (exponential; 0: none).
    #[arg(long, value_name = "MS", default_value_t = 50)]
    pub agent_think_ms: u64,
    /// Share of consultations per path, in percent: MENU,BOT,CHAT. Menu: a
    /// submenu and content items. Bot: that, then questions to the bot. Chat:
    /// that, then a hand-off to a person, the queue and a chat.
    #[arg(long, value_name = "MENU,BOT,CHAT", default_value = "50,30,20")]
    pub mix: Mix,
    /// Chat messages the customer sends in each chat (the agent answers each).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub messages: u32,
    /// Seed for every random choice (paths, pauses, arrivals): the same seed
    /// gives the same sequence of consultations.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub seed: u64,
    /// Agents log in as PREFIX1, PREFIX2, … (accounts created with
    /// `--admin-user`, or existing ones with `--agent-password`).
    #[arg(long, value_name = "PREFIX", default_value = "loadgen-agent-")]
    pub agent_user: String,
    /// The agents' password (at least 10 characters).
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "FRONTDESK_LOADGEN_AGENT_PASSWORD",
        default_value = "loadgen-password-1"
    )]
    #[serde(skip)]
    pub agent_password: String,
    /// An admin account that creates the agent accounts first (`POST
    /// /api/agents`; accounts that exist already are used as they are).
    #[arg(long, value_name = "USER", requires = "admin_password")]
    pub admin_user: Option<String>,
    /// The admin's password.
    #[arg(
        long,
        value_name = "PASSWORD",
        env = "FRONTDESK_LOADGEN_ADMIN_PASSWORD"
    )]
    #[serde(skip)]
    pub admin_password: Option<String>,
    /// Seconds of the echo baseline measured before the run (0: skip it).
    #[arg(long, value_name = "SECS", default_value_t = 5)]
    pub baseline_secs: u64,
    /// Seconds any one answer may take before it counts as an error; a customer
    /// waits up to 4× this for an agent.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
}

impl RunOptions {
    /// Options for a small run against `url` (tests start from these).
    #[must_use]
    pub fn small(url: &str) -> Self {
        Self {
            target: Target {
                url: url.to_owned(),
                server_pid: None,
                json: false,
                chart: None,
            },
            customers: 4,
            agents: 2,
            rate: 0.0,
            duration: 2,
            think_ms: 5,
            agent_think_ms: 5,
            mix: Mix {
                menu: 34,
                bot: 33,
                chat: 33,
            },
            messages: 3,
            seed: 1,
            agent_user: "loadgen-agent-".into(),
            agent_password: "loadgen-password-1".into(),
            admin_user: None,
            admin_password: None,
            baseline_secs: 1,
            timeout: 10,
        }
    }

    /// `--timeout` as a duration.
    #[must_use]
    pub fn step_timeout(&self) -> Duration {
        Duration::from_secs(self.timeout.max(1))
    }
}

/// Where idle customers wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Park {
    /// At the top menu, after `welcome`.
    Menu,
    /// In the waiting queue (chose the chat item; best with no agent taking
    /// customers). Every change of the queue is pushed to everyone waiting.
    Queue,
}

/// Idle capacity: many customer sessions held open.
#[derive(Debug, Clone, Args, Serialize)]
pub struct IdleOptions {
    #[command(flatten)]
    #[serde(flatten)]
    pub target: Target,
    /// Customer sessions to open and hold.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub sessions: u64,
    /// Where each session waits.
    #[arg(long, value_enum, default_value_t = Park::Menu)]
    pub park: Park,
    /// Sessions being opened at once (TCP + WebSocket handshake + hello).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub open_concurrency: usize,
    /// Seconds to hold every session open once all are open (they ping meanwhile).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub hold: u64,
    /// Seconds between each session's pings (the server closes sessions silent
    /// for 60 s).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    pub ping_secs: u64,
    /// Sessions per source address: the client binds to 127.0.0.2, .3, … in
    /// turn so the ~28,000 ephemeral ports of one address are not the limit
    /// (loopback servers only). Ports closed by an earlier run stay in
    /// TIME_WAIT for 60 s: give runs close together different `--first`.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub per_source_ip: u64,
    /// Measure the server's RSS every this many sessions (0: every tenth of
    /// `--sessions`).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub step: u64,
    /// First customer number (phone numbers are derived from it): runs at the
    /// same time against one server should not share numbers.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub first: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixes_parse_and_pick() {
        let m: Mix = "50,30,20".parse().unwrap();
        assert_eq!(m.pick(0), PathKind::Menu);
        assert_eq!(m.pick(49), PathKind::Menu);
        assert_eq!(m.pick(50), PathKind::Bot);
        assert_eq!(m.pick(80), PathKind::Chat);
        assert_eq!(m.pick(99), PathKind::Chat);
        assert!("50,30".parse::<Mix>().is_err());
        assert!("50,30,30".parse::<Mix>().is_err());
        assert!("a,b,c".parse::<Mix>().is_err());
        assert_eq!("0,0,100".parse::<Mix>().unwrap().pick(0), PathKind::Chat);
    }
}
