//! The waiting queue, agents and chat, over real WebSockets against a real server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use common::{TestServer, agent};
use frontdesk_client::{AgentClient, ApiClient, CustomerClient, CustomerEvent, QueueStatus};
use frontdesk_protocol::ErrorCode;
use frontdesk_protocol::agent::{AgentServerMessage, PresenceChoice, ServiceView};

const WAIT: Duration = Duration::from_secs(10);
const PASSWORD: &str = common::AGENT_PASSWORD;

fn phone(i: usize) -> String {
    format!("+1201555{:04}", 1000 + i)
}

/// A customer who chose the chat item.
async fn waiting_customer(ts: &TestServer, i: usize) -> CustomerClient {
    let mut c = CustomerClient::start(&ts.url(), &phone(i)).await.unwrap();
    c.select("chat").await.unwrap();
    c
}

/// Agent `a` (capacity 1), idle, serving customer 1 in a chat: the agent, the
/// customer, and the service as the agent got it.
async fn chatting(
    ts: &TestServer,
    admin: &ApiClient,
) -> (AgentClient, CustomerClient, ServiceView) {
    let mut a = agent(ts, admin, "a", 1).await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    let mut c = waiting_customer(ts, 1).await;
    let s = a.wait_assigned(WAIT).await.unwrap();
    joined(&mut c).await;
    (a, c, s)
}

/// The next `queued` (skipping other events).
async fn next_queued(c: &mut CustomerClient) -> QueueStatus {
    loop {
        if let CustomerEvent::Queued(q) = c.next_event(WAIT).await.unwrap() {
            return q;
        }
    }
}

/// Waits until the customer's position is `position`.
async fn queued_at(c: &mut CustomerClient, position: u32) -> QueueStatus {
    loop {
        let q = next_queued(c).await;
        if q.position == position {
            return q;
        }
    }
}

/// Waits for `agent_joined`; returns the service id and the agent's name.
async fn joined(c: &mut CustomerClient) -> (String, String) {
    loop {
        if let CustomerEvent::AgentJoined { service, agent, .. } = c.next_event(WAIT).await.unwrap()
        {
            return (service, agent.name);
        }
    }
}

/// The next chat line the customer gets from the agent.
async fn heard(c: &mut CustomerClient) -> String {
    loop {
        if let CustomerEvent::Chat { line, .. } = c.next_event(WAIT).await.unwrap() {
            return line.text;
        }
    }
}

/// The next chat line the agent gets from a customer.
async fn agent_heard(a: &mut AgentClient) -> String {
    loop {
        if let AgentServerMessage::Chat { line, .. } = a.next_event(WAIT).await.unwrap() {
            return line.text;
        }
    }
}

#[tokio::test]
async fn a_customer_chats_with_an_agent_who_ends_the_service() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut ann = agent(&ts, &admin, "ann", 1).await;
    assert_eq!(ann.state(), "away", "a new connection takes no customers");

    let mut c = CustomerClient::start(&ts.url(), &phone(1)).await.unwrap();
    c.select("billing").await.unwrap();
    c.select("bill-due").await.unwrap();
    c.home().await.unwrap();
    let reply = c.select("chat").await.unwrap();
    assert_eq!(
        reply.screen.menu, "main",
        "the menu stays usable while waiting"
    );
    let q = next_queued(&mut c).await;
    assert_eq!((q.position, q.waiting, q.agents_available), (1, 1, 0));
    assert_eq!(q.estimated_wait_ms, None, "no agent, no estimate");

    assert_eq!(ann.presence(PresenceChoice::Idle).await.unwrap(), "busy");
    let service = ann.wait_assigned(WAIT).await.unwrap();
    assert_eq!(service.phone, phone(1));
    assert_eq!(service.tier, "new");
    let viewed: Vec<&str> = service.viewed.iter().map(|v| v.item.as_str()).collect();
    assert_eq!(
        viewed,
        ["billing", "bill-due", "chat"],
        "the agent sees the context"
    );
    let (sid, name) = joined(&mut c).await;
    assert_eq!(
        (sid.as_str(), name.as_str()),
        (service.id.as_str(), "Agent ann")
    );

    let said = c.say("my bill is wrong").await.unwrap();
    assert_eq!((said.seq, said.duplicate), (1, false));
    assert_eq!(agent_heard(&mut ann).await, "my bill is wrong");
    let said = ann.say(&sid, "let me look").await.unwrap();
    assert_eq!(said.seq, 2);
    assert_eq!(heard(&mut c).await, "let me look");

    assert_eq!(ann.end_service(&sid).await.unwrap(), "agent");
    loop {
        if let CustomerEvent::ServiceEnded { reason, screen, .. } =
            c.next_event(WAIT).await.unwrap()
        {
            assert_eq!((reason.as_str(), screen.menu.as_str()), ("agent", "main"));
            break;
        }
    }
    // Back at the menu: chat is over, and the customer can ask again.
    let err = c.say("still there?").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotInChat));
    c.select("chat").await.unwrap();
    let again = ann.wait_assigned(WAIT).await.unwrap();
    assert_ne!(again.id, sid);
    assert_eq!(
        again.messages.len(),
        2,
        "the consultation's chat so far comes along"
    );
}

#[tokio::test]
async fn idle_agents_are_served_first_come_first_served_and_return_to_the_back() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "a", 1).await;
    let mut b = agent(&ts, &admin, "b", 1).await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    b.presence(PresenceChoice::Idle).await.unwrap();

    let mut c1 = waiting_customer(&ts, 1).await;
    let s1 = a.wait_assigned(WAIT).await.unwrap();
    assert_eq!(
        joined(&mut c1).await.1,
        "Agent a",
        "the agent idle longest goes first"
    );
    a.end_service(&s1.id).await.unwrap();

    // a finished, so a is now behind b.
    let mut c2 = waiting_customer(&ts, 2).await;
    assert_eq!(joined(&mut c2).await.1, "Agent b");
    b.wait_assigned(WAIT).await.unwrap();
    let mut c3 = waiting_customer(&ts, 3).await;
    assert_eq!(joined(&mut c3).await.1, "Agent a");

    // Away leaves the idle queue; customers wait.
    let s3 = a.wait_assigned(WAIT).await.unwrap();
    a.presence(PresenceChoice::Away).await.unwrap();
    a.end_service(&s3.id).await.unwrap();
    let mut c4 = waiting_customer(&ts, 4).await;
    assert_eq!(next_queued(&mut c4).await.position, 1);
    let (status, queue) = admin.get_json("/api/queue").await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(queue["length"], 1);
    assert_eq!(queue["away"], 1);
    assert_eq!(queue["busy"], 1);
}

#[tokio::test]
async fn waiting_customers_see_their_place_and_cancel_leaves_the_queue() {
    let ts = TestServer::start().await;
    let mut cs = Vec::new();
    for i in 0..3 {
        let mut c = waiting_customer(&ts, i).await;
        let q = next_queued(&mut c).await;
        assert_eq!(q.position, u32::try_from(i + 1).unwrap());
        cs.push(c);
    }
    let reply = cs[0].cancel().await.unwrap();
    assert_eq!(reply.notice.unwrap().code, "left_queue");
    assert_eq!(queued_at(&mut cs[1], 1).await.waiting, 2);
    assert_eq!(queued_at(&mut cs[2], 2).await.position, 2);
    // Not waiting any more: a second cancel is refused and changes nothing.
    let err = cs[0].cancel().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotQueued));
    // Choosing chat while waiting says so and keeps the place.
    let reply = cs[1].select("chat").await.unwrap();
    assert_eq!(reply.notice.unwrap().code, "already_waiting");

    // An agent arrives: the estimate appears, then the head is served.
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "a", 1).await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    let s = a.wait_assigned(WAIT).await.unwrap();
    assert_eq!(s.phone, phone(1), "the head of the queue");
    let q = queued_at(&mut cs[2], 1).await;
    assert_eq!(q.agents_available, 1);
    assert!(q.estimated_wait_ms.is_some_and(|ms| ms > 0));
}

#[tokio::test]
async fn a_waiting_customer_whose_heartbeat_stops_is_removed_as_abandoned() {
    let ts = TestServer::start_with(|c| c.queue.customer_grace_secs = 1).await;
    let mut gone = waiting_customer(&ts, 1).await;
    assert_eq!(next_queued(&mut gone).await.position, 1);
    let token = gone.resume_token().to_owned();
    let mut stays = waiting_customer(&ts, 2).await;
    assert_eq!(next_queued(&mut stays).await.position, 2);
    gone.drop_connection();
    drop(gone);
    // After the grace period the second customer moves up.
    assert_eq!(queued_at(&mut stays, 1).await.waiting, 1);
    let admin = ts.admin().await;
    let (_, metrics) = admin.get_text("/metrics").await.unwrap();
    assert!(
        metrics.contains("frontdesk_queue_left_total{kind=\"abandoned\"} 1"),
        "{metrics}"
    );
    // They come back to the menu and can ask again, at the back.
    let mut back = CustomerClient::resume(&ts.url(), &token).await.unwrap();
    let err = back.cancel().await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotQueued));
    back.select("chat").await.unwrap();
    assert_eq!(queued_at(&mut back, 2).await.waiting, 2);
}

#[tokio::test]
async fn a_customer_back_within_the_grace_period_keeps_their_place() {
    let ts = TestServer::start_with(|c| c.queue.customer_grace_secs = 30).await;
    let mut c1 = waiting_customer(&ts, 1).await;
    next_queued(&mut c1).await;
    let mut c2 = waiting_customer(&ts, 2).await;
    next_queued(&mut c2).await;
    c1.drop_connection();
    c1.reconnect().await.unwrap();
    assert_eq!(
        next_queued(&mut c1).await.position,
        1,
        "told their place again"
    );
}

/// Seed 001's guarantee under load: whatever the interleaving, each customer is
/// paired once and no agent holds more than their capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_customers_and_twenty_agents_are_each_paired_exactly_once() {
    for round in 0..3 {
        let ts = TestServer::start().await;
        let admin = ts.admin().await;
        let mut agents = Vec::new();
        for i in 0..20 {
            agents.push(agent(&ts, &admin, &format!("a{i}"), 1).await);
        }
        let url = ts.url();
        let customers = tokio::spawn(async move {
            let mut set = tokio::task::JoinSet::new();
            for i in 0..200 {
                let url = url.clone();
                set.spawn(async move {
                    let mut c = CustomerClient::start(&url, &phone(i)).await.unwrap();
                    c.select("chat").await.unwrap();
                    // Wait until served; keep the connection (and so the place).
                    let mut services = Vec::new();
                    loop {
                        match c.next_event(Duration::from_secs(60)).await.unwrap() {
                            CustomerEvent::AgentJoined { service, .. } => services.push(service),
                            CustomerEvent::ServiceEnded { .. } => return services,
                            _ => {}
                        }
                    }
                });
            }
            let mut all = Vec::new();
            while let Some(r) = set.join_next().await {
                all.push(r.unwrap());
            }
            all
        });
        let mut handles = Vec::new();
        for mut a in agents {
            handles.push(tokio::spawn(async move {
                a.presence(PresenceChoice::Idle).await.unwrap();
                let mut served = Vec::new();
                loop {
                    match a.wait_assigned(Duration::from_secs(3)).await {
                        Ok(s) => {
                            // Capacity 1: the agent never holds two at once.
                            let in_hand = a.services().len();
                            assert!(in_hand <= 1, "agent holds {in_hand}");
                            served.push(s.consultation.clone());
                            a.end_service(&s.id).await.unwrap();
                        }
                        Err(_) => return served,
                    }
                }
            }));
        }
        let per_customer = customers.await.unwrap();
        let mut served: Vec<String> = Vec::new();
        for h in handles {
            served.extend(h.await.unwrap());
        }
        assert_eq!(served.len(), 200, "round {round}: every customer served");
        let unique: HashSet<&String> = served.iter().collect();
        assert_eq!(unique.len(), 200, "round {round}: nobody served twice");
        assert!(
            per_customer.iter().all(|s| s.len() == 1),
            "round {round}: each customer saw exactly one agent"
        );
    }
}

#[tokio::test]
async fn chat_survives_dropped_connections_on_either_side_without_loss_or_duplicates() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let (mut a, mut c, s) = chatting(&ts, &admin).await;

    let first = c.say_with_id("c-1", "one").await.unwrap();
    // The customer's connection drops; the same message is sent again after the
    // resume: stored once.
    c.drop_connection();
    c.reconnect().await.unwrap();
    let again = c.say_with_id("c-1", "one").await.unwrap();
    assert_eq!((again.seq, again.duplicate), (first.seq, true));
    c.say_with_id("c-2", "two").await.unwrap();

    // The agent's connection drops; the customer is told, and the agent comes
    // back to the same customer with the whole chat.
    a.drop_connection();
    loop {
        if let CustomerEvent::AgentStatus { online, .. } = c.next_event(WAIT).await.unwrap() {
            assert!(!online);
            break;
        }
    }
    c.say_with_id("c-3", "three").await.unwrap();
    a.reconnect().await.unwrap();
    let back = &a.welcome().services;
    assert_eq!(back.len(), 1);
    let texts: Vec<&str> = back[0].messages.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(
        texts,
        ["one", "two", "three"],
        "nothing lost, nothing doubled"
    );
    let again = a.say_with_id(&s.id, "a-1", "four").await.unwrap();
    let dup = a.say_with_id(&s.id, "a-1", "four").await.unwrap();
    assert_eq!((dup.seq, dup.duplicate), (again.seq, true));
    assert_eq!(heard(&mut c).await, "four");

    let seqs: Vec<u64> = c.transcript().iter().map(|l| l.seq).collect();
    assert_eq!(
        seqs,
        [1, 2, 3, 4],
        "one line per message, numbered without gaps"
    );
    let (_, record) = admin
        .get_json(&format!("/api/consultations/{}", s.consultation))
        .await
        .unwrap();
    assert!(record.is_object());
}

#[tokio::test]
async fn an_agent_who_does_not_come_back_hands_the_customer_to_the_head_of_the_queue() {
    let ts = TestServer::start_with(|c| c.queue.agent_grace_secs = 1).await;
    let admin = ts.admin().await;
    let (mut a, mut c1, _) = chatting(&ts, &admin).await;
    c1.say("hello?").await.unwrap();
    let mut c2 = waiting_customer(&ts, 2).await;
    assert_eq!(next_queued(&mut c2).await.position, 1);

    a.drop_connection();
    drop(a);
    let mut events = Vec::new();
    let q = loop {
        match c1.next_event(WAIT).await.unwrap() {
            CustomerEvent::Queued(q) => break q,
            e => events.push(e),
        }
    };
    assert!(q.requeued && q.position == 1, "{q:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, CustomerEvent::AgentStatus { online: false, .. }))
    );
    assert!(events.iter().any(
        |e| matches!(e, CustomerEvent::ServiceEnded { reason, .. } if reason == "agent_lost")
    ));
    assert_eq!(
        queued_at(&mut c2, 2).await.waiting,
        2,
        "put behind the requeued customer"
    );

    let mut b = agent(&ts, &admin, "b", 1).await;
    b.presence(PresenceChoice::Idle).await.unwrap();
    let s = b.wait_assigned(WAIT).await.unwrap();
    assert_eq!(s.phone, phone(1), "the requeued customer goes first");
    assert_eq!(s.messages.len(), 1, "with the chat so far");
}

#[tokio::test]
async fn a_restart_keeps_the_queue_and_the_chat_history() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let (mut a, mut c1, s) = chatting(&ts, &admin).await;
    c1.say("before the restart").await.unwrap();
    a.say(&s.id, "noted").await.unwrap();
    let mut waiting = Vec::new();
    for i in 2..5 {
        let mut c = waiting_customer(&ts, i).await;
        next_queued(&mut c).await;
        waiting.push(c.resume_token().to_owned());
    }
    let token1 = c1.resume_token().to_owned();
    drop(c1);
    drop(a);

    let ts = ts.restart().await;
    // The waiting customers resume in their order.
    for (i, token) in waiting.iter().enumerate() {
        let mut c = CustomerClient::resume(&ts.url(), token).await.unwrap();
        assert_eq!(
            next_queued(&mut c).await.position,
            u32::try_from(i + 1).unwrap()
        );
    }
    // The chatting customer gets their chat back, and so does the agent.
    let mut c1 = CustomerClient::resume(&ts.url(), &token1).await.unwrap();
    let (sid, _) = joined(&mut c1).await;
    assert_eq!(sid, s.id);
    let texts: Vec<&str> = c1.transcript().iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["before the restart", "noted"]);
    let a = AgentClient::login(&ts.url(), "a", PASSWORD).await.unwrap();
    assert_eq!(a.welcome().services.len(), 1);
    assert_eq!(a.welcome().services[0].messages.len(), 2);
    assert_eq!(a.welcome().queue.length, 3);
}

#[tokio::test]
async fn an_agent_cannot_act_on_a_customer_who_is_not_theirs() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "a", 1).await;
    let mut b = agent(&ts, &admin, "b", 1).await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    let mut c = waiting_customer(&ts, 1).await;
    let s = a.wait_assigned(WAIT).await.unwrap();
    joined(&mut c).await;

    let err = b.say(&s.id, "I am not your agent").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotYourCustomer));
    let err = b.end_service(&s.id).await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotYourCustomer));
    let err = b.end_service("no-such-service").await.unwrap_err();
    assert_eq!(err.code(), Some(ErrorCode::NotYourCustomer));
    // Nothing changed: the chat goes on with its agent.
    a.say(&s.id, "still here").await.unwrap();
    assert_eq!(heard(&mut c).await, "still here");
    a.end_service(&s.id).await.unwrap();
    let err = a.say(&s.id, "too late").await.unwrap_err();
    assert_eq!(
        err.code(),
        Some(ErrorCode::NotYourCustomer),
        "a service that is over"
    );
    let history: HashMap<u64, String> = c
        .transcript()
        .iter()
        .map(|l| (l.seq, l.text.clone()))
        .collect();
    assert_eq!(history.len(), 1);
}

#[tokio::test]
async fn after_a_restart_agents_who_reconnect_keep_their_place_and_the_others_are_dropped() {
    let ts = TestServer::start_with(|c| c.queue.agent_grace_secs = 2).await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "a", 1).await;
    let mut b = agent(&ts, &admin, "b", 1).await;
    let mut c = agent(&ts, &admin, "c", 1).await;
    // Idle queue: b, a, c.
    b.presence(PresenceChoice::Idle).await.unwrap();
    a.presence(PresenceChoice::Idle).await.unwrap();
    c.presence(PresenceChoice::Idle).await.unwrap();
    drop((a, b, c));

    let ts = ts.restart().await;
    let admin = ts.admin().await;
    // a and c come back (in the other order); b does not.
    let c = AgentClient::login(&ts.url(), "c", PASSWORD).await.unwrap();
    let a = AgentClient::login(&ts.url(), "a", PASSWORD).await.unwrap();
    assert_eq!(a.state(), "idle", "back in the idle queue without asking");
    assert_eq!(c.state(), "idle");
    // b still holds the head place but is passed over while away: a is next.
    let mut cust = waiting_customer(&ts, 1).await;
    assert_eq!(
        joined(&mut cust).await.1,
        "Agent a",
        "the restored order, minus the absent"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, agents) = admin.get_json("/api/agents").await.unwrap();
    let state = |name: &str| {
        agents
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["username"] == name)
            .map(|x| x["state"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_eq!(state("b"), "offline", "dropped after the grace period");
    assert_eq!((state("a").as_str(), state("c").as_str()), ("busy", "idle"));
    drop((a, c));
}

#[tokio::test]
async fn the_agent_sees_their_customer_go_offline_and_come_back() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let mut a = agent(&ts, &admin, "a", 1).await;
    a.presence(PresenceChoice::Idle).await.unwrap();
    let mut c = waiting_customer(&ts, 1).await;
    let s = a.wait_assigned(WAIT).await.unwrap();
    assert!(s.customer_online);
    joined(&mut c).await;
    c.drop_connection();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        if let AgentServerMessage::CustomerStatus { online, service } =
            a.next_event(WAIT).await.unwrap()
        {
            assert_eq!(service, s.id);
            seen.push(online);
            if !online {
                c.reconnect().await.unwrap();
            }
        }
    }
    assert_eq!(seen, [false, true]);
    let (_, metrics) = admin.get_text("/metrics").await.unwrap();
    for line in [
        "frontdesk_assignments_total 1",
        "frontdesk_queue_length 0",
        "frontdesk_agents{kind=\"busy\"} 1",
        "frontdesk_queue_wait_seconds_count 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
}

#[tokio::test]
async fn an_away_agent_serving_a_customer_comes_back_away_with_the_customer_after_a_restart() {
    let ts = TestServer::start().await;
    let admin = ts.admin().await;
    let (mut a, c, s) = chatting(&ts, &admin).await;
    assert_eq!(a.presence(PresenceChoice::Away).await.unwrap(), "away");
    drop((a, c));
    let ts = ts.restart().await;
    let a = AgentClient::login(&ts.url(), "a", PASSWORD).await.unwrap();
    assert_eq!(
        a.state(),
        "away",
        "connected, still not taking new customers"
    );
    assert_eq!(a.services().len(), 1);
    assert_eq!(a.services()[0].id, s.id);
}
