//! One consultation: a customer's walk through the service menu (seed 001, steps 4–8).
//!
//! A [`Consultation`] is a small state machine. The customer's device sends
//! numbered requests ([`Request`]); [`Consultation::apply`] judges each one against
//! the menu version the consultation started with and returns a [`Step`]: what to
//! show, and what (if anything) goes into the service record. The caller sends the
//! answer, makes the record durable, then acknowledges (claim 2: record after
//! sending; the client is told "recorded" only once it is).
//!
//! Requests carry a number chosen by the client that grows with each request. A
//! request whose number is not above the last one applied is a *duplicate* (a
//! resend after a reconnect) and changes nothing. That is what lets a client resend
//! every unacknowledged request after a reconnect without anything being recorded
//! twice.
//!
//! Choosing a chat item answers [`Outcome::AskAgent`]: the caller puts the
//! customer in the waiting queue (see [`crate::queue`]); the consultation itself
//! stays on its screen, so the menu remains usable while they wait or chat.
//!
//! Choosing a bot item answers [`Outcome::OpenBot`]: the caller opens the answer
//! bot (its conversation is [`crate::bot_session`]); [`Request::Human`] (accepting
//! the bot's offer, or asking for a human outright) answers [`Outcome::HandOff`]
//! and the caller queues the customer as for a chat item.
//!
//! # Out of scope
//! Voice items are judged here (they end up in the record) but the service itself
//! lives in a later module; for now they answer [`Outcome::Unavailable`].

use serde::{Deserialize, Serialize};

use crate::menu::{ItemId, ItemKind, Menu};

/// What the customer asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Choose an item on the current screen.
    Select(String),
    /// Go up one submenu.
    Back,
    /// Go to the root menu.
    Home,
    /// End the consultation.
    End,
    /// Leave the waiting queue. The caller checks that the customer is waiting
    /// before applying it.
    Cancel,
    /// Be served by a human: accept the bot's offer, or ask outright. The caller
    /// checks that the customer is not already waiting or served.
    Human,
}

/// Why a consultation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// The customer ended it.
    Customer,
    /// The customer went away and did not come back within the resume window.
    Abandoned,
}

impl EndReason {
    /// The name stored and shown in service records.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Customer => "customer",
            EndReason::Abandoned => "abandoned",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "customer" => Some(EndReason::Customer),
            "abandoned" => Some(EndReason::Abandoned),
            _ => None,
        }
    }
}

/// What a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A menu screen is shown (entered a submenu, went back or home).
    Menu,
    /// A content item's text was served; the screen stays on its submenu.
    Content(ItemId),
    /// The item is a service that is not available; the screen stays.
    Unavailable(ItemId, ItemKind),
    /// The customer asked for an agent by choosing this chat item; the screen stays.
    AskAgent(ItemId),
    /// The customer opened the answer bot by choosing this item; the screen stays.
    OpenBot(ItemId),
    /// The customer asked for a human from the bot; the screen stays.
    HandOff,
    /// The customer left the waiting queue; the screen stays.
    LeftQueue,
    /// The consultation is over.
    Ended,
}

/// How a selected item was served, as kept in the service record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Served {
    /// A submenu was opened.
    Opened,
    /// Content was shown.
    Shown,
    /// The service is not available yet.
    Unavailable,
    /// The customer was put in the waiting queue for an agent.
    Queued,
    /// The answer bot was opened.
    Bot,
}

impl Served {
    /// The name stored and shown in service records.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Served::Opened => "opened",
            Served::Shown => "shown",
            Served::Unavailable => "unavailable",
            Served::Queued => "queued",
            Served::Bot => "bot",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "opened" => Some(Served::Opened),
            "shown" => Some(Served::Shown),
            "unavailable" => Some(Served::Unavailable),
            "queued" => Some(Served::Queued),
            "bot" => Some(Served::Bot),
            _ => None,
        }
    }
}

/// One entry of the service record: a menu item the customer chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceItem {
    /// The item chosen.
    pub item: ItemId,
    /// Its kind at the time.
    pub kind: ItemKind,
    /// Its title at the time (menus change; records should still read well).
    pub title: String,
    /// What was done.
    pub served: Served,
}

/// The result of applying one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// What the request did.
    pub outcome: Outcome,
    /// The service-record entry to store, if the request chose an item.
    pub record: Option<ServiceItem>,
    /// True when the request was a resend of one already applied; nothing changed.
    pub duplicate: bool,
}

/// Why a request was refused. The consultation is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsultationError {
    /// The consultation has ended; nothing more can be chosen.
    #[error("this consultation has ended")]
    Ended,
    /// No such item in this consultation's menu version.
    #[error("there is no menu item '{0}'")]
    UnknownItem(String),
    /// The item exists but is not on the screen the customer is on.
    #[error("menu item '{item}' is not on the current screen '{screen}'")]
    NotOnScreen {
        /// The item asked for.
        item: String,
        /// The submenu the customer is on.
        screen: ItemId,
    },
}

/// The state of one consultation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consultation {
    menu_version: u32,
    /// The submenu on screen.
    screen: ItemId,
    /// The highest request number applied.
    last_req: u64,
    ended: Option<EndReason>,
}

impl Consultation {
    /// A new consultation on the root screen of `menu` (step 2).
    #[must_use]
    pub fn start(menu: &Menu, menu_version: u32) -> Self {
        Self {
            menu_version,
            screen: menu.root().clone(),
            last_req: 0,
            ended: None,
        }
    }

    /// Rebuilds a consultation from stored state (after a reconnect or a restart).
    ///
    /// A screen that no longer names a submenu of `menu` (it cannot, since menu
    /// versions are immutable, but stored data is not trusted) falls back to the root.
    #[must_use]
    pub fn restore(
        menu: &Menu,
        menu_version: u32,
        screen: &str,
        last_req: u64,
        ended: Option<EndReason>,
    ) -> Self {
        let screen = menu
            .item_by_str(screen)
            .filter(|it| it.kind == ItemKind::Submenu)
            .map_or_else(|| menu.root().clone(), |it| it.id.clone());
        Self {
            menu_version,
            screen,
            last_req,
            ended,
        }
    }

    /// The menu version this consultation uses for its whole life.
    #[must_use]
    pub fn menu_version(&self) -> u32 {
        self.menu_version
    }

    /// The submenu on screen.
    #[must_use]
    pub fn screen(&self) -> &ItemId {
        &self.screen
    }

    /// The highest request number applied.
    #[must_use]
    pub fn last_req(&self) -> u64 {
        self.last_req
    }

    /// Why it ended, if it has.
    #[must_use]
    pub fn ended(&self) -> Option<EndReason> {
        self.ended
    }

    /// Applies request number `req` (steps 4, 5 and 8).
    ///
    /// `menu` must be the version this consultation started with.
    ///
    /// # Errors
    /// [`ConsultationError`] when the request cannot be applied; the state is then
    /// unchanged except that `req` counts as answered, so a resend of it is a
    /// duplicate.
    pub fn apply(
        &mut self,
        menu: &Menu,
        req: u64,
        request: &Request,
    ) -> Result<Step, ConsultationError> {
        if req <= self.last_req {
            return Ok(Step {
                outcome: if self.ended.is_some() {
                    Outcome::Ended
                } else {
                    Outcome::Menu
                },
                record: None,
                duplicate: true,
            });
        }
        let result = if self.ended.is_some() {
            Err(ConsultationError::Ended)
        } else {
            self.judge(menu, request)
        };
        self.last_req = req;
        result
    }

    fn judge(&mut self, menu: &Menu, request: &Request) -> Result<Step, ConsultationError> {
        let step = |outcome, record| Step {
            outcome,
            record,
            duplicate: false,
        };
        match request {
            Request::Back => {
                if let Some(parent) = menu.parent(&self.screen) {
                    self.screen = parent.clone();
                }
                Ok(step(Outcome::Menu, None))
            }
            Request::Home => {
                self.screen = menu.root().clone();
                Ok(step(Outcome::Menu, None))
            }
            Request::End => {
                self.ended = Some(EndReason::Customer);
                Ok(step(Outcome::Ended, None))
            }
            Request::Cancel => Ok(step(Outcome::LeftQueue, None)),
            Request::Human => Ok(step(Outcome::HandOff, None)),
            Request::Select(id) => {
                let item = menu
                    .item_by_str(id)
                    .ok_or_else(|| ConsultationError::UnknownItem(id.clone()))?;
                if menu.parent(&item.id) != Some(&self.screen) {
                    return Err(ConsultationError::NotOnScreen {
                        item: id.clone(),
                        screen: self.screen.clone(),
                    });
                }
                let (outcome, served) = match item.kind {
                    ItemKind::Submenu => {
                        self.screen = item.id.clone();
                        (Outcome::Menu, Served::Opened)
                    }
                    ItemKind::Content => (Outcome::Content(item.id.clone()), Served::Shown),
                    ItemKind::Chat => (Outcome::AskAgent(item.id.clone()), Served::Queued),
                    ItemKind::Bot => (Outcome::OpenBot(item.id.clone()), Served::Bot),
                    kind @ ItemKind::Voice => (
                        Outcome::Unavailable(item.id.clone(), kind),
                        Served::Unavailable,
                    ),
                };
                Ok(step(
                    outcome,
                    Some(ServiceItem {
                        item: item.id.clone(),
                        kind: item.kind,
                        title: item.title.clone(),
                        served,
                    }),
                ))
            }
        }
    }

    /// Counts request `req` as answered without applying it: it was refused before
    /// reaching the menu (rate-limited). A resend of it is then a duplicate, so the
    /// client re-issues the action under a new number. Without this, a refused `N`
    /// overtaken by an applied `N+1` could never be applied at all.
    pub fn refuse(&mut self, req: u64) {
        self.last_req = self.last_req.max(req);
    }

    /// Marks the consultation abandoned (the customer left and did not resume).
    pub fn abandon(&mut self) {
        if self.ended.is_none() {
            self.ended = Some(EndReason::Abandoned);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn menu() -> Menu {
        Menu::parse(
            r#"
title = "Acme"
root = "main"
[[item]]
id = "main"
kind = "submenu"
title = "Main"
children = ["billing", "call", "chat", "faq"]
[[item]]
id = "billing"
kind = "submenu"
title = "Billing"
children = ["due", "plans"]
[[item]]
id = "due"
kind = "content"
title = "When is my bill due?"
text = "On the 1st."
[[item]]
id = "plans"
kind = "submenu"
title = "Plans"
children = ["roam"]
[[item]]
id = "roam"
kind = "content"
title = "Roaming"
text = "Roaming is free."
[[item]]
id = "call"
kind = "voice"
title = "Talk to an agent"
[[item]]
id = "chat"
kind = "chat"
title = "Chat with an agent"
[[item]]
id = "faq"
kind = "content"
title = "FAQ"
text = "Read this."
"#,
        )
        .unwrap()
    }

    fn sel(s: &str) -> Request {
        Request::Select(s.into())
    }

    #[test]
    fn walks_into_a_submenu_reads_content_and_ends() {
        let m = menu();
        let mut c = Consultation::start(&m, 3);
        assert_eq!(c.screen().as_str(), "main");
        let s = c.apply(&m, 1, &sel("billing")).unwrap();
        assert_eq!(s.outcome, Outcome::Menu);
        assert_eq!(s.record.unwrap().served, Served::Opened);
        assert_eq!(c.screen().as_str(), "billing");
        let s = c.apply(&m, 2, &sel("due")).unwrap();
        assert_eq!(s.outcome, Outcome::Content(ItemId::new("due").unwrap()));
        let rec = s.record.unwrap();
        assert_eq!(
            (rec.item.as_str(), rec.kind, rec.served),
            ("due", ItemKind::Content, Served::Shown)
        );
        assert_eq!(rec.title, "When is my bill due?");
        // Step 8: the menu is shown again; the customer is still in Billing.
        assert_eq!(c.screen().as_str(), "billing");
        let s = c.apply(&m, 3, &Request::End).unwrap();
        assert_eq!(s.outcome, Outcome::Ended);
        assert_eq!(c.ended(), Some(EndReason::Customer));
        assert_eq!(c.apply(&m, 4, &sel("due")), Err(ConsultationError::Ended));
        assert_eq!(c.menu_version(), 3);
    }

    #[test]
    fn back_and_home() {
        let m = menu();
        let mut c = Consultation::start(&m, 1);
        c.apply(&m, 1, &sel("billing")).unwrap();
        c.apply(&m, 2, &sel("plans")).unwrap();
        assert_eq!(c.screen().as_str(), "plans");
        c.apply(&m, 3, &Request::Back).unwrap();
        assert_eq!(c.screen().as_str(), "billing");
        c.apply(&m, 4, &sel("plans")).unwrap();
        c.apply(&m, 5, &Request::Home).unwrap();
        assert_eq!(c.screen().as_str(), "main");
        // Back at the root stays at the root.
        let s = c.apply(&m, 6, &Request::Back).unwrap();
        assert_eq!((s.outcome, s.record), (Outcome::Menu, None));
        assert_eq!(c.screen().as_str(), "main");
    }

    #[test]
    fn voice_is_recorded_as_unavailable_for_now() {
        let m = menu();
        let mut c = Consultation::start(&m, 1);
        let s = c.apply(&m, 1, &sel("call")).unwrap();
        assert!(matches!(
            s.outcome,
            Outcome::Unavailable(_, ItemKind::Voice)
        ));
        assert_eq!(s.record.unwrap().served, Served::Unavailable);
        assert_eq!(c.screen().as_str(), "main");
    }

    #[test]
    fn a_chat_item_asks_for_an_agent_and_cancel_keeps_the_screen() {
        let m = menu();
        let mut c = Consultation::start(&m, 1);
        let s = c.apply(&m, 1, &sel("chat")).unwrap();
        assert_eq!(s.outcome, Outcome::AskAgent(ItemId::new("chat").unwrap()));
        assert_eq!(s.record.unwrap().served, Served::Queued);
        assert_eq!(Served::parse("queued"), Some(Served::Queued));
        let s = c.apply(&m, 2, &Request::Cancel).unwrap();
        assert_eq!((s.outcome, s.record), (Outcome::LeftQueue, None));
        assert_eq!(c.screen().as_str(), "main");
        assert_eq!(c.last_req(), 2);
    }

    #[test]
    fn unknown_and_off_screen_items_are_refused_without_change() {
        let m = menu();
        let mut c = Consultation::start(&m, 1);
        assert_eq!(
            c.apply(&m, 1, &sel("nope")),
            Err(ConsultationError::UnknownItem("nope".into()))
        );
        assert!(matches!(
            c.apply(&m, 2, &sel("roam")),
            Err(ConsultationError::NotOnScreen { .. })
        ));
        assert_eq!(c.screen().as_str(), "main");
        assert_eq!(
            c.last_req(),
            2,
            "refused requests are answered, so resends are duplicates"
        );
    }

    #[test]
    fn duplicates_change_nothing() {
        let m = menu();
        let mut c = Consultation::start(&m, 1);
        c.apply(&m, 1, &sel("billing")).unwrap();
        let before = c.clone();
        let s = c.apply(&m, 1, &sel("billing")).unwrap();
        assert!(s.duplicate);
        assert_eq!(s.record, None);
        assert_eq!(c, before);
        // A duplicate after the end is still a duplicate, not an error.
        c.apply(&m, 2, &Request::End).unwrap();
        let s = c.apply(&m, 2, &Request::End).unwrap();
        assert!(s.duplicate);
        assert_eq!(s.outcome, Outcome::Ended);
    }

    #[test]
    fn a_refused_request_counts_as_answered() {
        let m = menu();
        let mut c = Consultation::start(&m, 1);
        c.refuse(1);
        assert!(c.apply(&m, 1, &sel("billing")).unwrap().duplicate);
        assert_eq!(c.screen().as_str(), "main");
        c.apply(&m, 2, &sel("billing")).unwrap();
        c.refuse(1); // an old number never lowers the mark
        assert_eq!(c.last_req(), 2);
    }

    #[test]
    fn restore_resumes_where_it_was() {
        let m = menu();
        let c = Consultation::restore(&m, 1, "plans", 7, None);
        assert_eq!((c.screen().as_str(), c.last_req()), ("plans", 7));
        // A stored screen that is not a submenu falls back to the root.
        let c = Consultation::restore(&m, 1, "due", 7, None);
        assert_eq!(c.screen().as_str(), "main");
    }

    fn arb_request() -> impl Strategy<Value = Request> {
        prop_oneof![
            3 => prop::sample::select(vec!["main", "billing", "due", "plans", "roam", "call", "faq", "x"])
                .prop_map(|s| Request::Select(s.to_owned())),
            1 => Just(Request::Back),
            1 => Just(Request::Home),
            1 => Just(Request::End),
        ]
    }

    proptest! {
        /// Whatever the customer does: the screen is always a submenu; every record
        /// names an item that was on screen; resending any request changes nothing.
        #[test]
        fn invariants_hold_under_any_sequence(reqs in proptest::collection::vec(arb_request(), 0..60)) {
            let m = menu();
            let mut c = Consultation::start(&m, 1);
            for (i, r) in reqs.iter().enumerate() {
                let n = i as u64 + 1;
                let screen_before = c.screen().clone();
                let res = c.apply(&m, n, r);
                prop_assert_eq!(m.item(c.screen()).map(|i| i.kind), Some(ItemKind::Submenu));
                if let Ok(Step { record: Some(rec), .. }) = &res {
                    prop_assert_eq!(m.parent(&rec.item), Some(&screen_before));
                }
                let after = c.clone();
                let dup = c.apply(&m, n, r);
                let dup_ok = matches!(dup, Ok(Step { duplicate: true, record: None, .. }));
                prop_assert!(dup_ok, "resend was not a no-op duplicate");
                prop_assert_eq!(&c, &after);
            }
        }
    }
}
