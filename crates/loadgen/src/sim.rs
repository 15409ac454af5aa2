//! One simulated customer's consultation, and one simulated agent's shift.
//!
//! Chat messages carry their own number and send time in the text
//! (`lg K/N MICROS …`): the receiving side, in the same process, checks that
//! the number is the next one expected (none lost, none doubled, in order) and
//! measures the one-way latency against the same clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use frontdesk_client::{AgentClient, ClientError, CustomerClient, CustomerEvent};
use frontdesk_protocol::agent::AgentServerMessage;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::options::{PathKind, RunOptions};
use crate::stats::{ChatEvent, Stats, Step, error_code};

/// What every simulated customer and agent of a run shares.
#[derive(Debug)]
pub(crate) struct Ctx {
    pub opts: RunOptions,
    pub stats: Stats,
    /// The clock chat messages are stamped against.
    pub t0: Instant,
    /// When each consultation asked for a person (by consultation id), for the
    /// agent that gets it to measure the assignment.
    pub enqueued: Mutex<HashMap<String, Instant>>,
    /// Set when every customer is done: agents finish their shift.
    pub agents_stop: AtomicBool,
}

impl Ctx {
    pub fn new(opts: RunOptions) -> Self {
        Self {
            opts,
            stats: Stats::default(),
            t0: Instant::now(),
            enqueued: Mutex::default(),
            agents_stop: AtomicBool::new(false),
        }
    }

    /// Microseconds since the run's clock started.
    fn stamp(&self) -> u64 {
        u64::try_from(self.t0.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// How long ago `stamp` was.
    fn since(&self, stamp: u64) -> Duration {
        Duration::from_micros(self.stamp().saturating_sub(stamp))
    }
}

/// Why a consultation or shift stopped early: a stable code for the report.
#[derive(Debug)]
pub(crate) struct Failed(pub String);

impl From<ClientError> for Failed {
    fn from(e: ClientError) -> Self {
        tracing::debug!(error = %e, "client error");
        Failed(error_code(&e))
    }
}

/// Content items of the demo menu's `billing` submenu.
const CONTENT: [&str; 3] = ["bill-due", "pay-methods", "bill-dispute"];

/// Questions for the bot: most in the demo library, some not (those are
/// offered a person).
const QUESTIONS: [&str; 6] = [
    "When is my bill due?",
    "Which payment methods do you accept?",
    "How much does roaming cost?",
    "My data is slow",
    "I don't recognise a charge on my bill",
    "Recommend a good pizza recipe",
];

/// Words after the number and stamp, so a chat message is the size of a real one.
pub(crate) const CHAT_FILLER: &str =
    "hello, my mobile data stopped working this morning after I paid the bill";

/// The chat text of message `k` of `n`, stamped now.
fn chat_text(ctx: &Ctx, k: u32, n: u32) -> String {
    format!("lg {k}/{n} {} {CHAT_FILLER}", ctx.stamp())
}

/// `(k, n, stamp)` of a message made by [`chat_text`].
fn parse_chat(text: &str) -> Option<(u32, u32, u64)> {
    let mut words = text.split_whitespace();
    if words.next()? != "lg" {
        return None;
    }
    let (k, n) = words.next()?.split_once('/')?;
    let stamp = words.next()?.parse().ok()?;
    Some((k.parse().ok()?, n.parse().ok()?, stamp))
}

/// A pause of about `mean_ms` (exponentially distributed; none for 0).
pub(crate) async fn think(rng: &mut StdRng, mean_ms: u64) {
    if mean_ms == 0 {
        return;
    }
    let u: f64 = rng.r#gen();
    let ms = -(mean_ms as f64) * (1.0 - u).ln();
    tokio::time::sleep(Duration::from_secs_f64((ms / 1000.0).min(60.0))).await;
}

/// The random source of consultation `idx` under `seed`: the same pair always
/// makes the same choices, whatever order consultations run in.
pub(crate) fn rng_for(seed: u64, idx: u64) -> StdRng {
    StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ idx)
}

/// Times `f` into `step`.
async fn timed<T, F: Future<Output = Result<T, ClientError>>>(
    ctx: &Ctx,
    step: Step,
    f: F,
) -> Result<T, ClientError> {
    let at = Instant::now();
    let out = f.await?;
    ctx.stats.record(step, at.elapsed());
    Ok(out)
}

/// One customer's consultation `idx`, on the path its dice pick. Returns the path.
pub(crate) async fn consultation(ctx: &Ctx, idx: u64) -> Result<PathKind, Failed> {
    let mut rng = rng_for(ctx.opts.seed, idx);
    let path = ctx.opts.mix.pick(rng.gen_range(0..100));
    let url = &ctx.opts.target.url;
    let phone = crate::phone(idx);
    let mut c = timed(ctx, Step::Start, CustomerClient::start(url, &phone)).await?;
    c.timeout = ctx.opts.step_timeout();
    tracing::trace!(consultation = %c.consultation, ?path, "started");

    think(&mut rng, ctx.opts.think_ms).await;
    timed(ctx, Step::MenuSelect, c.select("billing")).await?;
    for _ in 0..rng.gen_range(1..=CONTENT.len()) {
        think(&mut rng, ctx.opts.think_ms).await;
        let item = CONTENT[rng.gen_range(0..CONTENT.len())];
        let reply = timed(ctx, Step::MenuSelect, c.select(item)).await?;
        if reply.content.is_none() {
            return Err(Failed("no_content".into()));
        }
    }
    think(&mut rng, ctx.opts.think_ms).await;
    timed(ctx, Step::MenuSelect, c.home()).await?;

    if path != PathKind::Menu {
        timed(ctx, Step::MenuSelect, c.select("ask")).await?;
        wait_for(&mut c, ctx, |e| {
            matches!(e, CustomerEvent::BotOpened { .. })
        })
        .await?;
        for _ in 0..rng.gen_range(1..=2) {
            think(&mut rng, ctx.opts.think_ms).await;
            let q = QUESTIONS[rng.gen_range(0..QUESTIONS.len())];
            timed(ctx, Step::BotAnswer, c.ask(q)).await?;
        }
    }
    if path == PathKind::Chat {
        chat(ctx, &mut c, &mut rng).await?;
    }
    think(&mut rng, ctx.opts.think_ms).await;
    timed(ctx, Step::End, c.end()).await?;
    Ok(path)
}

/// Reads events until one matches (others are skipped), by the step timeout.
async fn wait_for(
    c: &mut CustomerClient,
    ctx: &Ctx,
    want: impl Fn(&CustomerEvent) -> bool,
) -> Result<CustomerEvent, Failed> {
    let deadline = Instant::now() + ctx.opts.step_timeout();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let e = c.next_event(left).await?;
        if want(&e) {
            return Ok(e);
        }
    }
}

/// Hand-off to a person, the wait, the chat (each message answered by the
/// agent, checked for order and doubles), and the agent ending it.
async fn chat(ctx: &Ctx, c: &mut CustomerClient, rng: &mut StdRng) -> Result<(), Failed> {
    let queue_timeout = ctx.opts.step_timeout() * 4;
    let asked = Instant::now();
    if let Ok(mut q) = ctx.enqueued.lock() {
        q.insert(c.consultation.clone(), asked);
    }
    c.human().await?;
    // Waiting can outlast the server's idle timeout: ping while waiting.
    loop {
        match c.next_event(Duration::from_secs(15)).await {
            Ok(CustomerEvent::AgentJoined { .. }) => break,
            Ok(_) => {}
            Err(ClientError::Timeout) if asked.elapsed() < queue_timeout => c.ping().await?,
            Err(ClientError::Timeout) => return Err(Failed("queue_timeout".into())),
            Err(e) => return Err(e.into()),
        }
    }
    ctx.stats.record(Step::QueueWait, asked.elapsed());

    let n = ctx.opts.messages;
    for k in 1..=n {
        think(rng, ctx.opts.think_ms).await;
        timed(ctx, Step::ChatSaid, c.say(&chat_text(ctx, k, n))).await?;
        ctx.stats.chat(ChatEvent::CustomerSent);
        // The agent's answer to message k.
        let deadline = Instant::now() + ctx.opts.step_timeout();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match c.next_event(left).await {
                Ok(CustomerEvent::Chat { line, .. }) if line.from == "agent" => {
                    match parse_chat(&line.text) {
                        Some((j, _, stamp)) if j == k => {
                            ctx.stats.record(Step::ChatToCustomer, ctx.since(stamp));
                            ctx.stats.chat(ChatEvent::CustomerReceived);
                            break;
                        }
                        Some((j, ..)) if j < k => ctx.stats.chat(ChatEvent::Duplicated),
                        _ => ctx.stats.chat(ChatEvent::OutOfOrder),
                    }
                }
                Ok(CustomerEvent::ServiceEnded { .. }) => {
                    return Err(Failed("service_ended_early".into()));
                }
                Ok(_) => {}
                Err(ClientError::Timeout) => return Err(Failed("chat_reply_timeout".into())),
                Err(e) => return Err(e.into()),
            }
        }
    }
    // The agent ends the service after answering the last message.
    let deadline = Instant::now() + ctx.opts.step_timeout();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.next_event(left).await? {
            CustomerEvent::ServiceEnded { .. } => return Ok(()),
            CustomerEvent::Chat { line, .. } if line.from == "agent" => {
                // Every answer was received already: this one is a double.
                ctx.stats.chat(ChatEvent::Duplicated);
            }
            _ => {}
        }
    }
}

/// What an agent knows of a customer in hand.
#[derive(Debug)]
struct InHand {
    /// The next customer message number expected.
    next: u32,
}

/// One agent's shift: go idle, take customers, answer each message, end the
/// service after the last; until told to stop with nobody in hand.
pub(crate) async fn agent_shift(ctx: &Ctx, mut agent: AgentClient, idx: u64) {
    let mut rng = rng_for(ctx.opts.seed ^ 0xA6E7, idx);
    agent.timeout = ctx.opts.step_timeout();
    let mut ready_at = Instant::now();
    if let Err(e) = agent
        .presence(frontdesk_protocol::agent::PresenceChoice::Idle)
        .await
    {
        ctx.stats.client_error(&e);
        return;
    }
    let mut in_hand: HashMap<String, InHand> = HashMap::new();
    let mut broken = 0;
    loop {
        if in_hand.is_empty() && ctx.agents_stop.load(Ordering::Relaxed) {
            return;
        }
        let event = match agent.next_event(Duration::from_millis(250)).await {
            Ok(e) => e,
            Err(ClientError::Timeout) => continue,
            Err(e) => {
                ctx.stats.client_error(&e);
                broken += 1;
                tracing::warn!(agent = idx, error = %e, "agent connection broke; reconnecting");
                if broken > 3 || agent.reconnect().await.is_err() {
                    return;
                }
                continue;
            }
        };
        match event {
            AgentServerMessage::Assigned { service } => {
                let asked = ctx
                    .enqueued
                    .lock()
                    .ok()
                    .and_then(|mut q| q.remove(&service.consultation));
                if let Some(asked) = asked {
                    ctx.stats
                        .record(Step::Assignment, asked.max(ready_at).elapsed());
                }
                in_hand.insert(service.id, InHand { next: 1 });
            }
            AgentServerMessage::Chat { service, line } if line.from == "customer" => {
                let Some(hand) = in_hand.get_mut(&service) else {
                    ctx.stats.error("chat_for_unknown_service");
                    continue;
                };
                let Some((k, n, stamp)) = parse_chat(&line.text) else {
                    ctx.stats.error("unreadable_chat");
                    continue;
                };
                if k < hand.next {
                    ctx.stats.chat(ChatEvent::Duplicated);
                    continue;
                }
                if k > hand.next {
                    ctx.stats.chat(ChatEvent::OutOfOrder);
                }
                ctx.stats.record(Step::ChatToAgent, ctx.since(stamp));
                ctx.stats.chat(ChatEvent::AgentReceived);
                hand.next = k + 1;
                think(&mut rng, ctx.opts.agent_think_ms).await;
                match agent.say(&service, &chat_text(ctx, k, n)).await {
                    Ok(_) => ctx.stats.chat(ChatEvent::AgentSent),
                    Err(e) => ctx.stats.client_error(&e),
                }
                if k >= n {
                    ready_at = Instant::now();
                    in_hand.remove(&service);
                    if let Err(e) = agent.end_service(&service).await {
                        ctx.stats.client_error(&e);
                    }
                }
            }
            AgentServerMessage::ServiceEnded { service, reason }
                if in_hand.remove(&service).is_some() =>
            {
                // The customer left before the last message: their side
                // counts the error that made them leave.
                tracing::debug!(%service, %reason, "service ended by the other side");
                ready_at = Instant::now();
            }
            AgentServerMessage::Error { error, .. } => ctx.stats.error(&error.to_string()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_texts_carry_their_number_and_stamp() {
        let ctx = Ctx::new(RunOptions::small("http://127.0.0.1:1"));
        let text = chat_text(&ctx, 2, 5);
        let (k, n, stamp) = parse_chat(&text).unwrap();
        assert_eq!((k, n), (2, 5));
        assert!(stamp <= ctx.stamp());
        assert_eq!(parse_chat("hello"), None);
        assert_eq!(parse_chat("lg x/1 5"), None);
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let a: Vec<u32> = (0..5).map(|_| rng_for(7, 3).gen_range(0..100)).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        let b: u32 = rng_for(7, 4).gen_range(0..1_000_000);
        let c: u32 = rng_for(7, 3).gen_range(0..1_000_000);
        assert_ne!(b, c);
    }
}
