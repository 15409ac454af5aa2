//! The evaluation on a slice of banking77, when the shared data is present
//! (`../shared/data` next to the repository; CI has it).

use std::path::PathBuf;
use std::sync::Arc;

use frontdesk_bot::Embedder;
use frontdesk_bot::dataset::{Dataset, OutOfScope};
use frontdesk_bot::eval::{self, EvalOptions};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
}

#[test]
fn eval_on_a_slice_of_banking77() -> Result<(), Box<dyn std::error::Error>> {
    let dir = data_dir().join("banking77");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return Ok(());
    }
    let mut data = Dataset::load(&dir, "train")?;
    assert_eq!(data.intents().len(), 77);
    assert!(data.train.len() > 10_000 && data.test.len() > 3_000);
    // Ten intents: every train and test question of them.
    let keep: Vec<String> = data.intents().into_iter().take(10).collect();
    data.train.retain(|e| keep.contains(&e.label));
    data.test.retain(|e| keep.contains(&e.label));
    // Stand-ins for out-of-scope: another domain's questions.
    data.out_of_scope = vec![
        (
            "what's the weather tomorrow in paris".to_owned(),
            OutOfScope::OutOfDomain,
        ),
        ("play some jazz music".to_owned(), OutOfScope::OutOfDomain),
        ("set an alarm for seven".to_owned(), OutOfScope::OutOfDomain),
    ];
    let options = EvalOptions {
        scale: 200,
        ..EvalOptions::default()
    };
    let report = eval::run(&data, &options, &mut |line| eprintln!("{line}"))?;
    assert_eq!(report.entries, 10);
    assert!(report.top1_accuracy > 0.8, "{}", report.top1_accuracy);
    assert_eq!(report.oos_handoff_rate, Some(1.0));
    assert!(report.inscope_handoff_rate.is_some_and(|r| r < 0.5));
    assert!(report.calibration.fitted);
    assert_eq!(report.curve.len(), 101);
    assert!(report.p99_ms.is_some() && report.answers_per_sec.is_some());
    let json: serde_json::Value = serde_json::from_str(&report.to_json())?;
    for key in [
        "top1_accuracy",
        "oos_handoff_rate",
        "inscope_handoff_rate",
        "answers_per_sec",
        "p99_ms",
    ] {
        assert!(json.get(key).is_some_and(|v| v.is_number()), "{key}");
    }
    Ok(())
}

#[test]
fn line_file_layouts_load_with_their_out_of_scope_sets() -> Result<(), Box<dyn std::error::Error>> {
    let oos = data_dir().join("banking77_oos");
    let hwu = data_dir().join("hwu64");
    if !oos.is_dir() || !hwu.is_dir() {
        eprintln!("skipped: {} or {} is absent", oos.display(), hwu.display());
        return Ok(());
    }
    let b = Dataset::load(&oos, "train")?;
    assert_eq!(b.intents().len(), 50);
    assert_eq!(b.test.len(), 2000);
    let in_domain = b
        .out_of_scope
        .iter()
        .filter(|(_, k)| *k == OutOfScope::InDomain)
        .count();
    assert_eq!((in_domain, b.out_of_scope.len() - in_domain), (1080, 1000));
    for (split, n) in [("train_5", 320), ("train_10", 640), ("train", 8954)] {
        let h = Dataset::load(&hwu, split)?;
        assert_eq!(h.train.len(), n, "{split}");
        assert_eq!(h.intents().len(), 64, "{split}");
        assert!(h.out_of_scope.is_empty());
    }
    // banking77 has no few-shot split: refused, naming the file.
    let err = Dataset::load(&data_dir().join("banking77"), "train_5").err();
    assert!(err.is_some_and(|e| e.to_string().contains("train_5.csv")));
    Ok(())
}

/// The real embedding model, when `FRONTDESK_TEST_MODEL_DIR` names it (see
/// `semantic::test_model`: `FRONTDESK_TEST_MODEL_REQUIRED` turns a skip into a failure).
fn model() -> Option<Arc<Embedder>> {
    let Some(dir) = std::env::var_os("FRONTDESK_TEST_MODEL_DIR") else {
        assert!(
            std::env::var_os("FRONTDESK_TEST_MODEL_REQUIRED").is_none(),
            "FRONTDESK_TEST_MODEL_REQUIRED is set but FRONTDESK_TEST_MODEL_DIR is not"
        );
        eprintln!("skipped: FRONTDESK_TEST_MODEL_DIR is not set (semantic model tests)");
        return None;
    };
    match Embedder::load(std::path::Path::new(&dir)) {
        Ok(e) => Some(Arc::new(e)),
        Err(e) => panic!("FRONTDESK_TEST_MODEL_DIR is set but the model does not load: {e}"),
    }
}

#[test]
fn semantic_matching_beats_bm25_on_a_slice_of_banking77() -> Result<(), Box<dyn std::error::Error>>
{
    let dir = data_dir().join("banking77");
    let Some(embedder) = model() else {
        return Ok(());
    };
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return Ok(());
    }
    let mut data = Dataset::load(&dir, "train")?;
    // Twelve intents, 15 training questions each (a business's first library: where
    // meaning matters most), 25 test questions each: the model's cost in the dev
    // profile stays around ten seconds.
    let keep: Vec<String> = data.intents().into_iter().skip(20).take(12).collect();
    let mut taken = std::collections::HashMap::<String, usize>::new();
    data.train.retain(|e| {
        let n = taken.entry(e.label.clone()).or_default();
        *n += 1;
        keep.contains(&e.label) && *n <= 15
    });
    let mut asked = std::collections::HashMap::<String, usize>::new();
    data.test.retain(|e| {
        let n = asked.entry(e.label.clone()).or_default();
        *n += 1;
        keep.contains(&e.label) && *n <= 25
    });
    data.out_of_scope = vec![
        (
            "what's the weather tomorrow in paris".to_owned(),
            OutOfScope::OutOfDomain,
        ),
        ("play some jazz music".to_owned(), OutOfScope::OutOfDomain),
    ];
    let options = EvalOptions {
        scale: 0,
        ..EvalOptions::default()
    };
    let bm25 = eval::run(&data, &options, &mut |_| {})?;
    let semantic = eval::run_with(&data, &options, Some(&embedder), &mut |line| {
        eprintln!("{line}")
    })?;
    eprintln!(
        "top-1 on {} questions: BM25 {:.3}, semantic {:.3}",
        semantic.test_questions, bm25.top1_accuracy, semantic.top1_accuracy
    );
    assert!(!bm25.semantic && semantic.semantic);
    assert!(
        semantic.top1_accuracy >= bm25.top1_accuracy + 0.05,
        "BM25 {} semantic {}",
        bm25.top1_accuracy,
        semantic.top1_accuracy
    );
    assert!(semantic.calibration.ranking.is_some());
    assert_eq!(semantic.oos_handoff_rate, Some(1.0));
    let json: serde_json::Value = serde_json::from_str(&semantic.to_json())?;
    assert_eq!(json.get("semantic"), Some(&serde_json::Value::Bool(true)));
    for key in ["top1_accuracy", "oos_handoff_rate", "inscope_handoff_rate"] {
        assert!(json.get(key).is_some_and(|v| v.is_number()), "{key}");
    }
    Ok(())
}
