//! Reading one client frame, done for every message: `cargo bench -p frontdesk-protocol`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use frontdesk_protocol::ClientMessage;

fn parse(c: &mut Criterion) {
    let frame = r#"{"type":"select","req":42,"item":"bill-due"}"#;
    c.bench_function("protocol: parse a select frame", |b| {
        b.iter(|| ClientMessage::parse(black_box(frame)).unwrap())
    });
    let bad = r#"{"type":"teleport","req":42}"#;
    c.bench_function("protocol: refuse an unknown type", |b| {
        b.iter(|| ClientMessage::parse(black_box(bad)).unwrap_err())
    });
}

criterion_group!(benches, parse);
criterion_main!(benches);
