//! The load generator's smoke run: a few seconds of tiny load against a real
//! server, checked for errors, lost or doubled chat messages, and samples of
//! every step. No wall-clock figure is asserted: the real runs are documented
//! commands (docs/loadgen.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{ADMIN, TestServer};
use frontdesk_domain::answers::Library;
use frontdesk_loadgen::options::Park;
use frontdesk_loadgen::{IdleOptions, Mix, RunOptions, Target};

/// A server with the demo menu and the demo answer library in effect.
async fn server() -> TestServer {
    let ts = TestServer::start().await;
    let state = ts.server.state();
    let library = Library::parse_yaml(frontdesk_server::demo::ANSWERS.as_bytes()).unwrap();
    let rows: Vec<_> = library.iter().map(frontdesk_server::bot::row_of).collect();
    state.store.replace_answers(&rows, 1).await.unwrap();
    state.bot.reload().await.unwrap();
    ts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_mixed_run_passes_with_every_step_measured() {
    let ts = server().await;
    let mut opts = RunOptions::small(&ts.url());
    opts.admin_user = Some(ADMIN.0.into());
    opts.admin_password = Some(ADMIN.1.into());
    opts.customers = 4;
    opts.agents = 2;
    opts.duration = 3;
    // Mostly chats, so each kind of step is certain to have samples.
    opts.mix = Mix {
        menu: 20,
        bot: 20,
        chat: 60,
    };
    let report = frontdesk_loadgen::run(opts).await.unwrap();
    let text = report.text();

    assert!(report.passed(), "{text}");
    assert!(report.errors.is_empty(), "{text}");
    assert_eq!(report.chat_lost, 0, "{text}");
    assert_eq!(report.chat.duplicated, 0, "{text}");
    assert_eq!(report.chat.out_of_order, 0, "{text}");
    assert!(report.consultations.chat > 0, "{text}");
    assert_eq!(
        report.chat.customer_sent, report.chat.agent_received,
        "{text}"
    );
    assert!(report.baseline.is_some_and(|b| b.count > 0), "{text}");
    for step in [
        "start",
        "menu_select",
        "bot_answer",
        "chat_said",
        "chat_customer_to_agent",
        "chat_agent_to_customer",
        "queue_wait",
        "assignment",
        "end",
    ] {
        let s = report.steps.iter().find(|s| s.step == step);
        assert!(s.is_some_and(|s| s.latency.count > 0), "no {step}: {text}");
        assert!(s.is_some_and(|s| s.ratio.is_some()), "no ratio for {step}");
    }
    // The server runs in this process: found by its port, and its metrics read.
    assert_eq!(report.server.map(|u| u.pid), Some(std::process::id()));
    assert!(!report.metrics.is_empty(), "{text}");
    // Machines read the same report.
    let json: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
    assert_eq!(json["chat_lost"], 0);

    // A second run reuses the agent accounts the first one created.
    let mut again = RunOptions::small(&ts.url());
    again.admin_user = Some(ADMIN.0.into());
    again.admin_password = Some(ADMIN.1.into());
    again.duration = 1;
    again.baseline_secs = 0;
    let report = frontdesk_loadgen::run(again).await.unwrap();
    assert!(report.passed(), "{}", report.text());
    assert!(report.baseline.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sessions_are_held_and_measured() {
    let ts = server().await;
    for park in [Park::Menu, Park::Queue] {
        let opts = IdleOptions {
            target: Target {
                url: ts.url(),
                server_pid: None,
                json: false,
                chart: None,
            },
            sessions: 30,
            park,
            open_concurrency: 8,
            hold: 1,
            ping_secs: 1,
            per_source_ip: 10,
            step: 10,
            first: if park == Park::Menu { 0 } else { 100 },
        };
        let report = frontdesk_loadgen::idle::run(opts).await.unwrap();
        let text = report.text();
        assert_eq!(report.opened, 30, "{text}");
        assert_eq!(report.alive_at_end, 30, "{text}");
        assert!(report.errors.is_empty(), "{text}");
        assert!(report.points.len() >= 3, "{text}");
        assert!(report.server_kib_per_session.is_some(), "{text}");
    }
}
