//! The domain's hot paths: `cargo bench -p frontdesk-domain`.
//! Results and the machine they ran on are in BENCHMARKS.md.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use frontdesk_domain::consultation::{Consultation, Request};
use frontdesk_domain::dispatch::Dispatcher;
use frontdesk_domain::handoff::{Degrees, PressureCurve, Staffing, ThresholdBounds};
use frontdesk_domain::menu::Menu;
use frontdesk_domain::queue::{Need, QueuePolicy, Waiting, WaitingQueue};
use frontdesk_domain::tier::{CustomerFacts, Tier, TierOrder, TierRules};

const MENU: &str = include_str!("../../server/demo/menu.toml");
const WAITING: u32 = 10_000;

fn policy() -> QueuePolicy {
    QueuePolicy {
        period_ms: 60_000,
        order: TierOrder::default(),
    }
}

fn customer(i: u32) -> Waiting<u32> {
    Waiting {
        who: i,
        tier: Tier::ALL[(i % 9) as usize],
        arrived_ms: i64::from(i) * 37,
        need: Need::Chat,
    }
}

fn queue(c: &mut Criterion) {
    let mut q = WaitingQueue::new(policy());
    for i in 0..WAITING {
        q.push(customer(i)).unwrap();
    }
    let mut next = WAITING;
    c.bench_function("queue: push one and take the head, 10k waiting", |b| {
        b.iter(|| {
            q.push(customer(next)).unwrap();
            next += 1;
            let head = q.head().unwrap().who;
            black_box(q.remove(&head))
        });
    });
    c.bench_function("queue: every position (one pass), 10k waiting", |b| {
        b.iter(|| {
            q.iter()
                .enumerate()
                .map(|(i, w)| i as u64 + u64::from(w.who))
                .sum::<u64>()
        });
    });
}

/// 10k customers waiting behind 100 agents who each hold one.
fn busy_dispatcher() -> Dispatcher<u32, u32> {
    let mut d = Dispatcher::new(policy());
    for i in 0..WAITING {
        d.enqueue(customer(i)).unwrap();
    }
    for a in 0..100 {
        d.agents.set_available(&a, 1);
    }
    assert_eq!(d.assign().len(), 100);
    d
}

fn dispatch(c: &mut Criterion) {
    // 10k waiting, 100 agents all busy: the decision when an agent finishes is the
    // hot path (one pairing), and the no-op decision when nobody is free.
    let mut d = busy_dispatcher();
    let mut next = WAITING;
    let mut agent = 0u32;
    c.bench_function(
        "dispatch: an agent finishes, one pairing, 10k waiting",
        |b| {
            b.iter(|| {
                d.agents.finish(&agent, Need::Chat);
                d.enqueue(customer(next)).unwrap();
                next += 1;
                let pairs = d.assign();
                agent = pairs[0].agent;
                black_box(pairs)
            });
        },
    );
    c.bench_function("dispatch: nobody free, 10k waiting", |b| {
        b.iter(|| black_box(d.assign()))
    });
    // The same, with 100 of the 10k waiting for one agent in particular (they came
    // back through a link) at the back of the queue: the agent they wait for
    // finishes and takes one of them ahead of the queue.
    let mut d = busy_dispatcher();
    let mut next = WAITING;
    for a in 0..100 {
        d.enqueue_for(customer(next), a).unwrap();
        next += 1;
    }
    let mut agent = 0u32;
    c.bench_function(
        "dispatch: an agent finishes, one pairing, 100 waiting for their agent among 10k",
        |b| {
            b.iter(|| {
                d.agents.finish(&agent, Need::Chat);
                d.enqueue_for(customer(next), agent).unwrap();
                next += 1;
                let pairs = d.assign();
                agent = pairs[0].agent;
                black_box(pairs)
            });
        },
    );
}

fn tiers(c: &mut Criterion) {
    let rules = TierRules::default();
    let facts = CustomerFacts {
        orders_per_month: 1.5,
        money: 1200.0,
        days_since_registration: 400,
        days_since_last_order: Some(12),
        credit: Some(75),
    };
    c.bench_function("tier: one customer", |b| {
        b.iter(|| rules.tier(black_box(&facts)))
    });
}

fn menu(c: &mut Criterion) {
    let menu = Menu::parse(MENU).unwrap();
    c.bench_function("menu: look up an item by id", |b| {
        b.iter(|| menu.item_by_str(black_box("data-cap")))
    });
    c.bench_function("consultation: choose a content item", |b| {
        let mut cons = Consultation::start(&menu, 1);
        cons.apply(&menu, 1, &Request::Select("billing".into()))
            .unwrap();
        let mut req = 1;
        let choose = Request::Select("bill-due".into());
        b.iter(|| {
            req += 1;
            black_box(cons.apply(&menu, req, &choose).unwrap())
        });
    });
    c.bench_function("menu: parse and validate the demo file", |b| {
        b.iter(|| Menu::parse(black_box(MENU)).unwrap())
    });
}

fn handoff(c: &mut Criterion) {
    // After every bot answer: the thresholds from the desk's counts, then the rule.
    // A busy desk (3 of 40 agents idle, 25 waiting) so the ramp is mid-way.
    let bounds = ThresholdBounds::default();
    let curve = PressureCurve::default();
    let staffing = Staffing {
        idle: 3,
        available: 40,
        waiting: 25,
    };
    c.bench_function("handoff: thresholds from the agents' counts", |b| {
        b.iter(|| bounds.thresholds(black_box(&staffing), &curve))
    });
    let mut degrees = Degrees::new();
    let mut i = 0u32;
    c.bench_function("handoff: record a degree and decide", |b| {
        b.iter(|| {
            // A session of up to 1,000 answers, then a new one: memory stays flat
            // however many iterations criterion runs.
            if degrees.len() == 1_000 {
                degrees = Degrees::new();
            }
            i = i.wrapping_add(1);
            degrees.push(f64::from(i % 100) / 100.0);
            let t = bounds.thresholds(black_box(&staffing), &curve);
            black_box(t.decide(&degrees))
        });
    });
}

criterion_group!(benches, queue, dispatch, tiers, menu, handoff);
criterion_main!(benches);
