//! Evaluation of the matcher on a labelled data set: accuracy, hand-off quality,
//! calibration, and speed on a 10,000-entry library (`frontdesk answers eval`).

use std::sync::Arc;
use std::time::Instant;

use frontdesk_domain::answers::Answer;
use serde::Serialize;

use crate::dataset::{Dataset, OutOfScope};
use crate::degree::SplitMix64;
use crate::matcher::{Calibration, Matcher, Options};
use crate::semantic::Embedder;
use crate::{BotError, DEFAULT_THRESHOLD};

/// What to run.
#[derive(Debug, Clone, Copy)]
pub struct EvalOptions {
    /// Degree under which a human is offered.
    pub threshold: f32,
    /// Entries of the synthetic library for the speed test (0: skip it).
    pub scale: usize,
    /// How the matchers are built.
    pub matcher: Options,
}

impl Default for EvalOptions {
    fn default() -> Self {
        Self {
            threshold: DEFAULT_THRESHOLD,
            scale: 10_000,
            matcher: Options::default(),
        }
    }
}

/// Matches asked per question in the speed test (a bot shows one answer and may
/// offer two more).
pub const SPEED_K: usize = 3;
/// Phrasings per entry of the synthetic library.
pub const SCALE_PHRASINGS: usize = 10;
const SCALE_SEED: u64 = 0x0010_000E;

/// The results. The first fields are the ones the issue asks for; `null` in JSON
/// where they do not apply.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// Share of in-scope test questions whose top match is their intent.
    pub top1_accuracy: f64,
    /// Share of out-of-scope questions offered a human (degree under the threshold,
    /// or no match at all). `None` without out-of-scope questions.
    pub oos_handoff_rate: Option<f64>,
    /// Share of in-scope questions offered a human.
    pub inscope_handoff_rate: Option<f64>,
    /// Questions answered per second, one thread, on the synthetic library.
    pub answers_per_sec: Option<f64>,
    /// Median time to answer one question on the synthetic library, ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same, ms.
    pub p99_ms: Option<f64>,
    /// Whether semantic matching was on (an embedding model beside BM25).
    pub semantic: bool,
    /// The embedding model's directory, when semantic matching was on.
    pub model_dir: Option<String>,
    /// The threshold used.
    pub threshold: f32,
    /// Data set folder name.
    pub dataset: String,
    /// Training split.
    pub train_split: String,
    /// Library entries (intents).
    pub entries: usize,
    /// Library phrasings (training questions).
    pub phrasings: usize,
    /// In-scope test questions.
    pub test_questions: usize,
    /// Out-of-scope test questions.
    pub oos_questions: usize,
    /// Building the library's matcher (index, embeddings of every phrasing with
    /// semantic matching, and calibration), seconds.
    pub build_secs: f64,
    /// The calibration of the library's matcher.
    pub calibration: Calibration,
    /// Share of in-domain out-of-scope questions offered a human (`id-oos`).
    pub id_oos_handoff_rate: Option<f64>,
    /// Share of out-of-domain questions offered a human (`ood-oos`).
    pub ood_oos_handoff_rate: Option<f64>,
    /// Share of in-scope questions answered (not offered a human) and right.
    pub answered_right_rate: f64,
    /// Expected calibration error of the degree over every test question (in scope
    /// and out of scope; out of scope counts as wrong), ten equal-width bins.
    pub expected_calibration_error: f64,
    /// The degree against the share right, per bin.
    pub reliability: Vec<ReliabilityBin>,
    /// Hand-off rates for thresholds 0.00, 0.01, …, 1.00.
    pub curve: Vec<CurvePoint>,
    /// Speed on the data set's own library (single thread).
    pub library_speed: Speed,
    /// The synthetic large library, if built.
    pub scale: Option<ScaleReport>,
}

impl EvalReport {
    /// The report as a pretty-printed JSON object (`null` where a figure does not
    /// apply).
    #[must_use]
    pub fn to_json(&self) -> String {
        // Plain structs of numbers and strings: serialising cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// One point of the hand-off curve.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CurvePoint {
    /// Degree threshold.
    pub threshold: f32,
    /// Out-of-scope questions offered a human.
    pub oos_handoff_rate: Option<f64>,
    /// In-scope questions offered a human.
    pub inscope_handoff_rate: f64,
    /// In-scope questions answered and right.
    pub answered_right_rate: f64,
}

/// One bin of the reliability table.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin.
    pub from: f32,
    /// Questions whose top degree fell in the bin.
    pub questions: usize,
    /// Their mean degree.
    pub mean_degree: f64,
    /// The share of them answered right.
    pub right: f64,
}

/// Single-threaded answering speed.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Speed {
    /// Questions asked.
    pub questions: usize,
    /// Questions per second.
    pub answers_per_sec: f64,
    /// Median, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Slowest, ms.
    pub max_ms: f64,
}

/// The synthetic large library.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleReport {
    /// Entries.
    pub entries: usize,
    /// Phrasings.
    pub phrasings: usize,
    /// Building its matcher (index and calibration), seconds.
    pub build_secs: f64,
    /// Share of in-scope test questions whose top entry is a copy of their intent.
    pub top1_intent_accuracy: f64,
    /// Speed.
    pub speed: Speed,
}

/// Runs the evaluation with BM25 alone. `progress` gets a line at each stage.
///
/// # Errors
/// [`BotError::Index`] if tantivy fails.
pub fn run(
    data: &Dataset,
    options: &EvalOptions,
    progress: &mut dyn FnMut(&str),
) -> Result<EvalReport, BotError> {
    run_with(data, options, None, progress)
}

/// Runs the evaluation, with semantic matching when `embedder` is given (every
/// matcher, the synthetic library's too, is built with it).
///
/// # Errors
/// [`BotError::Index`] if tantivy fails, [`BotError::Model`] if the model does.
pub fn run_with(
    data: &Dataset,
    options: &EvalOptions,
    embedder: Option<&Arc<Embedder>>,
    progress: &mut dyn FnMut(&str),
) -> Result<EvalReport, BotError> {
    let library = data.library();
    let phrasings = phrasing_count(&library);
    let (matcher, build_secs) =
        build_timed("the library", &library, options.matcher, embedder, progress)?;

    progress(&format!(
        "asking {} in-scope and {} out-of-scope questions",
        data.test.len(),
        data.out_of_scope.len()
    ));
    let mut latencies = Vec::with_capacity(data.test.len());
    // (top degree or 0, right)
    let mut in_scope: Vec<(f32, bool)> = Vec::with_capacity(data.test.len());
    for q in &data.test {
        let t = Instant::now();
        let matches = matcher.ask(&q.text, SPEED_K);
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        let top = matches.first();
        let right = top.is_some_and(|m| library[m.entry].id == q.label);
        in_scope.push((top.map_or(0.0, |m| m.degree), right));
    }
    let mut oos: Vec<(f32, OutOfScope)> = Vec::with_capacity(data.out_of_scope.len());
    for (q, kind) in &data.out_of_scope {
        let t = Instant::now();
        let matches = matcher.ask(q, SPEED_K);
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        oos.push((matches.first().map_or(0.0, |m| m.degree), *kind));
    }
    let library_speed = speed(latencies);

    let threshold = options.threshold;
    let top1_accuracy = share(in_scope.iter().filter(|(_, r)| *r).count(), in_scope.len());
    let handoff = |kind: Option<OutOfScope>, t: f32| {
        let picked: Vec<f32> = oos
            .iter()
            .filter(|(_, k)| kind.is_none_or(|kind| *k == kind))
            .map(|(d, _)| *d)
            .collect();
        (!picked.is_empty()).then(|| share(picked.iter().filter(|d| **d < t).count(), picked.len()))
    };
    let inscope_rate = |t: f32| {
        share(
            in_scope.iter().filter(|(d, _)| *d < t).count(),
            in_scope.len(),
        )
    };
    let right_rate = |t: f32| {
        share(
            in_scope.iter().filter(|(d, r)| *r && *d >= t).count(),
            in_scope.len(),
        )
    };
    let curve = (0..=100)
        .map(|i| {
            let t = i as f32 / 100.0;
            CurvePoint {
                threshold: t,
                oos_handoff_rate: handoff(None, t),
                inscope_handoff_rate: inscope_rate(t),
                answered_right_rate: right_rate(t),
            }
        })
        .collect();

    let everything: Vec<(f32, bool)> = in_scope
        .iter()
        .copied()
        .chain(oos.iter().map(|(d, _)| (*d, false)))
        .collect();
    let (reliability, ece) = reliability(&everything);

    let scale = if options.scale > 0 {
        Some(scale_report(data, options, embedder, progress)?)
    } else {
        None
    };

    Ok(EvalReport {
        top1_accuracy,
        oos_handoff_rate: handoff(None, threshold),
        inscope_handoff_rate: (!in_scope.is_empty()).then(|| inscope_rate(threshold)),
        answers_per_sec: scale.as_ref().map(|s| s.speed.answers_per_sec),
        p50_ms: scale.as_ref().map(|s| s.speed.p50_ms),
        p99_ms: scale.as_ref().map(|s| s.speed.p99_ms),
        semantic: embedder.is_some(),
        model_dir: embedder.map(|e| e.dir().display().to_string()),
        threshold,
        dataset: data.name.clone(),
        train_split: data.train_split.clone(),
        entries: library.len(),
        phrasings,
        test_questions: data.test.len(),
        oos_questions: data.out_of_scope.len(),
        build_secs,
        calibration: matcher.calibration().clone(),
        id_oos_handoff_rate: handoff(Some(OutOfScope::InDomain), threshold),
        ood_oos_handoff_rate: handoff(Some(OutOfScope::OutOfDomain), threshold),
        answered_right_rate: right_rate(threshold),
        expected_calibration_error: ece,
        reliability,
        curve,
        library_speed,
        scale,
    })
}

/// A matcher with or without semantic matching.
fn phrasing_count(library: &[Answer]) -> usize {
    library.iter().map(|e| e.phrasings.len()).sum()
}

/// Builds `what`'s matcher, saying so on `progress`; returns it with the seconds
/// the build took.
fn build_timed(
    what: &str,
    library: &[Answer],
    options: Options,
    embedder: Option<&Arc<Embedder>>,
    progress: &mut dyn FnMut(&str),
) -> Result<(Matcher, f64), BotError> {
    let phrasings = phrasing_count(library);
    progress(&format!(
        "building {what}: {} entries, {phrasings} phrasings{}",
        library.len(),
        if embedder.is_some() {
            " (embedding every phrasing)"
        } else {
            ""
        }
    ));
    let started = Instant::now();
    let matcher = build(library, options, embedder)?;
    Ok((matcher, started.elapsed().as_secs_f64()))
}

fn build(
    library: &[Answer],
    options: Options,
    embedder: Option<&Arc<Embedder>>,
) -> Result<Matcher, BotError> {
    match embedder {
        Some(embedder) => Matcher::with_embedder(library, options, Arc::clone(embedder)),
        None => Matcher::with_options(library, options),
    }
}

fn scale_report(
    data: &Dataset,
    options: &EvalOptions,
    embedder: Option<&Arc<Embedder>>,
    progress: &mut dyn FnMut(&str),
) -> Result<ScaleReport, BotError> {
    let library = scaled_library(data, options.scale, SCALE_PHRASINGS, SCALE_SEED);
    let phrasings = phrasing_count(&library);
    let (matcher, build_secs) = build_timed(
        "the synthetic library",
        &library,
        options.matcher,
        embedder,
        progress,
    )?;
    let questions: Vec<&str> = data
        .test
        .iter()
        .map(|e| e.text.as_str())
        .chain(data.out_of_scope.iter().map(|(q, _)| q.as_str()))
        .collect();
    progress(&format!(
        "timing {} questions on one thread",
        questions.len()
    ));
    // One untimed pass first: the first questions would otherwise pay for page
    // faults and cold caches that a running server has long paid.
    for q in questions.iter().take(200) {
        let _ = matcher.ask(q, SPEED_K);
    }
    let mut latencies = Vec::with_capacity(questions.len());
    let mut right = 0usize;
    for (i, q) in questions.iter().enumerate() {
        let t = Instant::now();
        let matches = matcher.ask(q, SPEED_K);
        latencies.push(t.elapsed().as_secs_f64() * 1e3);
        if let (Some(example), Some(top)) = (data.test.get(i), matches.first()) {
            right += usize::from(library[top.entry].answer == example.label);
        }
    }
    Ok(ScaleReport {
        entries: library.len(),
        phrasings,
        build_secs,
        top1_intent_accuracy: share(right, data.test.len()),
        speed: speed(latencies),
    })
}

/// A large library made from a small data set, for the speed test.
///
/// Entry `n` copies intent `n mod intents`: up to `per_entry` of its training
/// questions, chosen by a seeded shuffle (so copies differ), each with one made-up
/// word unique to the entry (`zq` + the entry number in letters, like a product
/// name) inserted at a seeded position. So the library has `n` distinct entries, a
/// vocabulary that grows with it as real catalogues do, and many near-duplicates
/// competing for every question: harder for speed than a real library of that size.
/// The answer of every copy is the intent's name.
#[must_use]
pub fn scaled_library(data: &Dataset, entries: usize, per_entry: usize, seed: u64) -> Vec<Answer> {
    let base = data.library();
    if base.is_empty() {
        return Vec::new();
    }
    let mut rng = SplitMix64::new(seed);
    (0..entries)
        .map(|n| {
            let source = &base[n % base.len()];
            let mut picked: Vec<&String> = source.phrasings.iter().collect();
            rng.shuffle(&mut picked);
            picked.truncate(per_entry);
            let word = made_up_word(n);
            let phrasings = picked
                .into_iter()
                .map(|p| {
                    let mut words: Vec<&str> = p.split_whitespace().collect();
                    let at = rng.below(words.len() + 1);
                    words.insert(at, &word);
                    words.join(" ")
                })
                .collect();
            Answer {
                id: format!("{}-{n}", source.id),
                answer: source.answer.clone(),
                phrasings,
                tags: Vec::new(),
                language: source.language.clone(),
            }
        })
        .collect()
}

/// `zq` + `n` in base 26 with letters (`zqa`, `zqb`, … `zqba`): a word no
/// stemmer changes and no data set contains.
fn made_up_word(mut n: usize) -> String {
    let mut letters = Vec::new();
    loop {
        letters.push(char::from(b'a' + (n % 26) as u8));
        n /= 26;
        if n == 0 {
            break;
        }
    }
    letters.push('q');
    letters.push('z');
    letters.iter().rev().collect()
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn speed(mut ms: Vec<f64>) -> Speed {
    let total: f64 = ms.iter().sum();
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if ms.is_empty() {
            0.0
        } else {
            ms[((ms.len() as f64 * q).ceil() as usize).clamp(1, ms.len()) - 1]
        }
    };
    Speed {
        questions: ms.len(),
        answers_per_sec: if total > 0.0 {
            ms.len() as f64 / (total / 1e3)
        } else {
            0.0
        },
        p50_ms: at(0.50),
        p99_ms: at(0.99),
        max_ms: ms.last().copied().unwrap_or_default(),
    }
}

fn reliability(samples: &[(f32, bool)]) -> (Vec<ReliabilityBin>, f64) {
    let mut bins = Vec::new();
    let mut ece = 0.0;
    for b in 0..10 {
        let from = b as f32 / 10.0;
        let inside: Vec<&(f32, bool)> = samples
            .iter()
            .filter(|(d, _)| {
                let bin = ((d * 10.0).floor() as usize).min(9);
                bin == b
            })
            .collect();
        if inside.is_empty() {
            continue;
        }
        let mean_degree =
            inside.iter().map(|(d, _)| f64::from(*d)).sum::<f64>() / inside.len() as f64;
        let right = share(inside.iter().filter(|(_, r)| *r).count(), inside.len());
        ece += inside.len() as f64 / samples.len() as f64 * (mean_degree - right).abs();
        bins.push(ReliabilityBin {
            from,
            questions: inside.len(),
            mean_degree,
            right,
        });
    }
    (bins, ece)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_words_are_distinct() {
        assert_eq!(made_up_word(0), "zqa");
        assert_eq!(made_up_word(25), "zqz");
        assert_eq!(made_up_word(26), "zqba");
        let words: std::collections::HashSet<String> = (0..10_000).map(made_up_word).collect();
        assert_eq!(words.len(), 10_000);
    }

    #[test]
    fn percentiles() {
        let s = speed((1..=100).map(f64::from).collect());
        assert_eq!(s.p50_ms, 50.0);
        assert_eq!(s.p99_ms, 99.0);
        assert_eq!(s.max_ms, 100.0);
    }
}
