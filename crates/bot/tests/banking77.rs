//! The evaluation on a slice of banking77, when the shared data is present
//! (`../shared/data` next to the repository; CI has it).

use std::path::PathBuf;

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
