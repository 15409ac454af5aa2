//! The domain of frontdesk: what a customer service *is*, with no I/O.
//!
//! Everything here is plain synchronous code that takes its inputs (including the
//! current time, where it matters) as arguments and returns decisions. The server
//! crate feeds it from sockets and the database; tests feed it directly.
//!
//! # Layout
//! - [`menu`]: the digital service menu (seed 000/001 steps 2–5): a validated tree of
//!   items, its TOML file format, and lookups.
//! - [`consultation`]: one customer's walk through the menu as a state machine
//!   (steps 4–8): which screen they are on, what each choice does, what gets recorded.
//! - [`phone`]: customer identity by phone number, normalised to E.164.
//! - [`rate`]: a token bucket used to keep one connection from flooding the server.
//! - [`tier`]: customer value tiers (seed 003), an RFM model with configurable cut-offs.
//! - [`queue`]: the waiting queue, ordered by arrival period, tier and arrival.
//! - [`agents`]: agents, their load, and the first-come-first-served idle queue.
//! - [`dispatch`]: the assignment decision over both queues.
//! - [`csvfile`]: reading the CSV files people edit in spreadsheets.
//! - [`answers`]: the answer bot's library (seed 002): entries, validation, and its
//!   CSV and YAML files with every problem on its line.
//! - [`handoff`]: when the bot offers a human (seed 002): matching degrees, the
//!   single and mean thresholds, and how they move with agent idleness.
//! - [`agent_link`]: the short link to an agent's page, a keyed MAC of (agent, phone).
//! - [`profile`]: an agent's profile (slogan, contact, photo), ratings, satisfaction.
//! - [`bot_session`]: one conversation with the bot: its degrees, the offer of a
//!   human, and when it is made again after a decline.

pub mod agent_link;
pub mod agents;
pub mod answers;
pub mod bot_session;
pub mod consultation;
pub mod csvfile;
pub mod dispatch;
pub mod handoff;
pub mod menu;
pub mod phone;
pub mod profile;
pub mod queue;
pub mod rate;
pub mod tier;
