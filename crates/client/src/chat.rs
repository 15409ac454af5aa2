//! Chat bookkeeping shared by customers and agents, without I/O.
//!
//! - A transcript is a `Vec<ChatLine>` kept in `seq` order with no two lines of
//!   one `seq` ([`merge_line`]): the server numbers a consultation's messages 1, 2,
//!   3, … and may send a line more than once (the history in `agent_joined` after
//!   a resume, a `chat` relayed around a reconnect), so lines are merged by `seq`.
//! - [`SayOutbox`]: chat messages sent and not yet stored. Each keeps the id it was
//!   first sent with; after a reconnect every one is resent under that id, and the
//!   server answers a resend of a stored one `said {duplicate: true}` without
//!   storing it twice. The same idea as the request outbox, keyed by id because
//!   chat messages are not numbered requests.

use std::time::{Duration, Instant};

use frontdesk_protocol::ChatLine;

/// A chat message's receipt: it is stored under `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The client's message id.
    pub id: String,
    /// The service (the chat with one agent) it belongs to.
    pub service: String,
    /// Its place in the consultation's chat.
    pub seq: u64,
    /// When it was stored (Unix ms).
    pub at_ms: i64,
    /// True when the server had stored this id before (a resend): nothing changed
    /// and `seq` is the original one.
    pub duplicate: bool,
}

/// Puts `line` into `lines` (kept in `seq` order) unless a line with its `seq` is
/// there already. Returns true when the line was new.
///
/// A line once known is never replaced: the server stores each message once, so
/// a second line with the same `seq` is the same message sent again.
pub fn merge_line(lines: &mut Vec<ChatLine>, line: ChatLine) -> bool {
    match lines.binary_search_by_key(&line.seq, |l| l.seq) {
        Ok(_) => false,
        Err(at) => {
            lines.insert(at, line);
            true
        }
    }
}

/// A fresh client message id: a UUIDv7 (36 characters, time-ordered), unique
/// within a consultation without any coordination between devices.
#[must_use]
pub fn new_message_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A chat message sent (or to be sent) and not yet stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PendingSay {
    /// The client's id, kept across resends.
    pub id: String,
    /// The service, for agents (customers have one chat at a time).
    pub service: Option<String>,
    /// The text.
    pub text: String,
    /// Sent on the current connection.
    sent: bool,
    /// After `rate_limited`: not to be sent again before this.
    retry_at: Option<Instant>,
}

/// Chat messages not yet acknowledged, oldest first.
#[derive(Debug, Default)]
pub(crate) struct SayOutbox {
    pending: Vec<PendingSay>,
}

impl SayOutbox {
    /// Adds a message to send. A message with the same id already waiting is
    /// replaced in place (the server knows a message by its id, so two entries
    /// with one id would be one message).
    pub fn add(&mut self, service: Option<&str>, id: &str, text: &str) {
        let say = PendingSay {
            id: id.to_owned(),
            service: service.map(str::to_owned),
            text: text.to_owned(),
            sent: false,
            retry_at: None,
        };
        match self.pending.iter_mut().find(|p| p.id == id) {
            Some(p) => *p = say,
            None => self.pending.push(say),
        }
    }

    /// The message with this id was stored (or refused): it leaves the outbox.
    pub fn remove(&mut self, id: &str) -> Option<PendingSay> {
        let at = self.pending.iter().position(|p| p.id == id)?;
        Some(self.pending.remove(at))
    }

    /// The message was refused as `rate_limited`, so not stored: send it again
    /// (same id) once `after` has passed.
    pub fn rate_limited(&mut self, id: &str, now: Instant, after: Duration) {
        if let Some(p) = self.pending.iter_mut().find(|p| p.id == id) {
            p.sent = false;
            p.retry_at = Some(now + after);
        }
    }

    /// A new connection: nothing has been sent on it yet, and its rate limit is fresh.
    pub fn connection_lost(&mut self) {
        for p in &mut self.pending {
            p.sent = false;
            p.retry_at = None;
        }
    }

    /// The messages to send now, oldest first: not sent on this connection and not
    /// held back by a rate limit. They count as sent from here on.
    pub fn take_due(&mut self, now: Instant) -> Vec<PendingSay> {
        self.pending
            .iter_mut()
            .filter(|p| !p.sent && p.retry_at.is_none_or(|t| t <= now))
            .map(|p| {
                p.sent = true;
                p.retry_at = None;
                p.clone()
            })
            .collect()
    }

    /// Messages not yet acknowledged.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// The ids waiting, oldest first.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.pending.iter().map(|p| p.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(seq: u64, text: &str) -> ChatLine {
        ChatLine {
            seq,
            from: "agent".into(),
            text: text.into(),
            at_ms: 1000 + i64::try_from(seq).unwrap(),
            id: format!("m{seq}"),
        }
    }

    #[test]
    fn lines_merge_by_seq_in_order_without_doubles() {
        let mut lines = Vec::new();
        assert!(merge_line(&mut lines, line(2, "two")));
        assert!(merge_line(&mut lines, line(1, "one")));
        assert!(merge_line(&mut lines, line(4, "four")));
        // The history after a resume repeats what is known and fills the gap.
        let history = [
            line(1, "one"),
            line(2, "two"),
            line(3, "three"),
            line(4, "four"),
        ];
        let new: Vec<u64> = history
            .into_iter()
            .filter_map(|l| {
                let seq = l.seq;
                merge_line(&mut lines, l).then_some(seq)
            })
            .collect();
        assert_eq!(new, [3]);
        assert!(!merge_line(&mut lines, line(2, "changed?")));
        let got: Vec<(u64, &str)> = lines.iter().map(|l| (l.seq, l.text.as_str())).collect();
        assert_eq!(got, [(1, "one"), (2, "two"), (3, "three"), (4, "four")]);
    }

    #[test]
    fn message_ids_are_unique_and_short_enough() {
        let a = new_message_id();
        let b = new_message_id();
        assert_ne!(a, b);
        assert!((1..=64).contains(&a.len()), "{a}");
    }

    #[test]
    fn the_outbox_sends_each_message_once_per_connection_until_acknowledged() {
        let now = Instant::now();
        let mut o = SayOutbox::default();
        o.add(None, "a", "hello");
        o.add(None, "b", "are you there?");
        let ids = |v: Vec<PendingSay>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(o.take_due(now)), ["a", "b"]);
        assert!(
            o.take_due(now).is_empty(),
            "sent already on this connection"
        );
        assert_eq!(o.remove("a").map(|p| p.text), Some("hello".into()));
        assert_eq!(o.remove("a"), None, "acknowledged twice: nothing to do");
        // A reconnect resends what is left, under the same id.
        o.connection_lost();
        assert_eq!(ids(o.take_due(now)), ["b"]);
        assert_eq!(o.len(), 1);
        assert_eq!(o.ids().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn a_rate_limited_message_waits_then_goes_again_with_its_id() {
        let now = Instant::now();
        let mut o = SayOutbox::default();
        o.add(Some("s1"), "a", "hi");
        o.add(Some("s1"), "b", "there");
        let _ = o.take_due(now);
        o.rate_limited("a", now, Duration::from_millis(500));
        assert!(o.take_due(now + Duration::from_millis(100)).is_empty());
        let due = o.take_due(now + Duration::from_millis(500));
        assert_eq!(due.len(), 1);
        assert_eq!(
            (due[0].id.as_str(), due[0].service.as_deref()),
            ("a", Some("s1"))
        );
        // A new connection has a fresh limit: no waiting.
        o.rate_limited("a", now, Duration::from_secs(60));
        o.connection_lost();
        assert_eq!(o.take_due(now).len(), 2);
    }

    #[test]
    fn adding_an_id_again_keeps_one_entry_in_its_place() {
        let now = Instant::now();
        let mut o = SayOutbox::default();
        o.add(None, "a", "first");
        o.add(None, "b", "second");
        let _ = o.take_due(now);
        o.add(None, "a", "first, again");
        assert_eq!(o.len(), 2);
        let due = o.take_due(now);
        assert_eq!(due.len(), 1, "only the re-added one is unsent");
        assert_eq!(due[0].text, "first, again");
        assert_eq!(o.ids().collect::<Vec<_>>(), ["a", "b"]);
    }
}
