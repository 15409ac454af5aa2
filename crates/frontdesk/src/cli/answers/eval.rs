//! `frontdesk answers eval`: measures the matcher on a labelled data set (see
//! docs/bot.md and BENCHMARKS.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, ValueEnum};
use frontdesk_bot::analysis::AnalysisOptions;
use frontdesk_bot::dataset::Dataset;
use frontdesk_bot::eval::{self, EvalOptions, EvalReport};
use frontdesk_bot::{DEFAULT_THRESHOLD, Embedder, Granularity, Options};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The data set folder, e.g. ../shared/data/banking77.
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,
    /// The training split that becomes the library (hwu64 also has train_5 and
    /// train_10: 5 and 10 phrasings per intent).
    #[arg(long, value_name = "SPLIT", default_value = "train")]
    train: String,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
    /// Offer a human when the top answer's degree is under this.
    #[arg(long, value_name = "X", default_value_t = DEFAULT_THRESHOLD,
          value_parser = parse_unit)]
    threshold: f32,
    /// Also draw the hand-off curve (share of questions offered a human against the
    /// threshold) as an SVG file.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Entries of the synthetic library the speed is measured on (copies of the data
    /// set's intents, see docs/bot.md); 0 skips the speed test.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    scale: usize,
    /// Index documents: one per entry (default) or one per phrasing.
    #[arg(long, value_enum, default_value_t = GranularityArg::Entry)]
    granularity: GranularityArg,
    /// Weight of bigram terms (pairs of neighbouring words); 0 turns bigrams off.
    #[arg(long, value_name = "W", default_value_t = Options::default().bigram_weight,
          value_parser = parse_unit)]
    bigram_weight: f32,
    /// Remove English stop words (Lucene's list) before matching.
    #[arg(long)]
    stop_words: bool,
    /// A sentence-embedding model directory (all-MiniLM-L6-v2: model.safetensors,
    /// tokenizer.json, config.json) for semantic matching beside BM25; unset: BM25
    /// alone. A directory that does not load is an error.
    #[arg(long, value_name = "DIR", env = "FRONTDESK_BOT_MODEL")]
    model: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GranularityArg {
    /// One document per entry, all its phrasings together.
    Entry,
    /// One document per phrasing; an entry scores as its best phrasing.
    Phrasing,
}

fn parse_unit(s: &str) -> Result<f32, String> {
    let x: f32 = s.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err("must be between 0 and 1".to_owned())
    }
}

pub fn evaluate(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let data = Dataset::load(&args.dataset, &args.train)?;
    let defaults = Options::default();
    let options = EvalOptions {
        threshold: args.threshold,
        scale: args.scale,
        matcher: Options {
            granularity: match args.granularity {
                GranularityArg::Entry => Granularity::Entry,
                GranularityArg::Phrasing => Granularity::Phrasing,
            },
            analysis: AnalysisOptions {
                stop_words: args.stop_words,
                bigrams: args.bigram_weight > 0.0,
            },
            bigram_weight: args.bigram_weight,
            ..defaults
        },
    };
    let started = std::time::Instant::now();
    // Loaded before anything is measured: a bad directory fails at once, naming it
    // (the server falls back to BM25 instead; an evaluation must not, or its numbers
    // would silently be BM25's).
    let embedder = match &args.model {
        Some(dir) => {
            let embedder = Embedder::load(dir)
                .with_context(|| format!("--model {}: cannot load the model", dir.display()))?;
            eprintln!(
                "semantic matching on: {} ({} dimensions, loaded in {:.1} s)",
                dir.display(),
                embedder.dims(),
                started.elapsed().as_secs_f64()
            );
            Some(Arc::new(embedder))
        }
        None => None,
    };
    let report = eval::run_with(&data, &options, embedder.as_ref(), &mut |line| {
        eprintln!(
            "[{:>6.1}s] {}: {line}",
            started.elapsed().as_secs_f64(),
            data.name
        );
    })?;
    if let Some(path) = &args.chart {
        chart(&report, path).with_context(|| format!("writing the chart {}", path.display()))?;
        eprintln!("chart written to {}", path.display());
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", text(&report));
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.1} %", 100.0 * x)
}

fn opt_pct(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), pct)
}

/// The human-readable report.
fn text(r: &EvalReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} (training split {}): {} entries, {} phrasings; {} test questions, {} out of scope",
        r.dataset, r.train_split, r.entries, r.phrasings, r.test_questions, r.oos_questions
    );
    let _ = writeln!(
        s,
        "matching: {}",
        r.model_dir.as_ref().map_or_else(
            || "BM25 alone".to_owned(),
            |dir| format!("BM25 and semantic ({dir})")
        )
    );
    let _ = writeln!(s, "library built in {:.2} s", r.build_secs);
    let c = &r.calibration;
    if let Some(ranking) = &c.ranking {
        let _ = writeln!(
            s,
            "ranking weights [bm25, similarity, centroid] = [{}]",
            ranking
                .weights
                .iter()
                .map(|w| format!("{w:.2}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let _ = writeln!(
        s,
        "calibration: {} held-out phrasings (leave-one-out top-1 {}), {} out-of-scope stand-ins; {}; weights [bias, score, margin, length, known, semantic, semantic margin] = [{}]",
        c.in_scope_samples,
        opt_pct(c.in_scope_top1),
        c.out_of_scope_samples,
        if c.fitted {
            "fitted"
        } else {
            "too few samples, prior used"
        },
        c.model
            .weights
            .iter()
            .map(|w| format!("{w:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(s);
    let _ = writeln!(s, "top-1 accuracy            {}", pct(r.top1_accuracy));
    let _ = writeln!(s, "at threshold {:.2}:", r.threshold);
    let _ = writeln!(
        s,
        "  out of scope offered a human   {}  (in-domain {}, out-of-domain {})",
        opt_pct(r.oos_handoff_rate),
        opt_pct(r.id_oos_handoff_rate),
        opt_pct(r.ood_oos_handoff_rate)
    );
    let _ = writeln!(
        s,
        "  in scope offered a human       {}",
        opt_pct(r.inscope_handoff_rate)
    );
    let _ = writeln!(
        s,
        "  in scope answered and right    {}",
        pct(r.answered_right_rate)
    );
    let _ = writeln!(
        s,
        "expected calibration error {:.3} (over every test question; out of scope counts as wrong)",
        r.expected_calibration_error
    );
    let _ = writeln!(s, "\n  degree     questions  mean degree  right");
    for b in &r.reliability {
        let _ = writeln!(
            s,
            "  {:.1}–{:.1}   {:>9}  {:>11.3}  {:>5.3}",
            b.from,
            b.from + 0.1,
            b.questions,
            b.mean_degree,
            b.right
        );
    }
    let _ = writeln!(
        s,
        "\n  threshold  oos offered  in-scope offered  in-scope answered right"
    );
    for p in r.curve.iter().step_by(5) {
        let _ = writeln!(
            s,
            "  {:>9.2}  {:>11}  {:>16}  {:>23}",
            p.threshold,
            opt_pct(p.oos_handoff_rate),
            pct(p.inscope_handoff_rate),
            pct(p.answered_right_rate)
        );
    }
    let l = &r.library_speed;
    let _ = writeln!(
        s,
        "\nspeed on this library (one thread): {:.0} answers/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        l.answers_per_sec, l.p50_ms, l.p99_ms, l.max_ms
    );
    if let Some(x) = &r.scale {
        let _ = writeln!(
            s,
            "synthetic library: {} entries, {} phrasings, built in {:.1} s; top-1 intent accuracy {}",
            x.entries,
            x.phrasings,
            x.build_secs,
            pct(x.top1_intent_accuracy)
        );
        let _ = writeln!(
            s,
            "  {} questions on one thread: {:.0} answers/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            x.speed.questions,
            x.speed.answers_per_sec,
            x.speed.p50_ms,
            x.speed.p99_ms,
            x.speed.max_ms
        );
    }
    s
}

/// The hand-off curve as an SVG chart.
fn chart(r: &EvalReport, path: &Path) -> anyhow::Result<()> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (800, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let caption = format!(
        "{} ({}{}): share offered a human, by degree threshold",
        r.dataset,
        r.train_split,
        if r.semantic { ", BM25 + semantic" } else { "" }
    );
    let mut c = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0f32..1f32, 0f32..1f32)?;
    c.configure_mesh()
        .x_desc("degree threshold (a human is offered under it)")
        .y_desc("share of questions")
        .draw()?;
    let line = |f: &dyn Fn(&eval::CurvePoint) -> Option<f64>| -> Vec<(f32, f32)> {
        r.curve
            .iter()
            .filter_map(|p| f(p).map(|y| (p.threshold, y as f32)))
            .collect()
    };
    let series = [
        (
            "out of scope offered a human (want high)",
            RGBColor(200, 40, 40),
            line(&|p| p.oos_handoff_rate),
        ),
        (
            "in scope offered a human (want low)",
            RGBColor(40, 90, 200),
            line(&|p| Some(p.inscope_handoff_rate)),
        ),
        (
            "in scope answered and right",
            RGBColor(40, 150, 60),
            line(&|p| Some(p.answered_right_rate)),
        ),
    ];
    for (label, colour, points) in series {
        if points.is_empty() {
            continue;
        }
        c.draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    let t = r.threshold;
    c.draw_series(LineSeries::new(
        vec![(t, 0.0), (t, 1.0)],
        BLACK.mix(0.4).stroke_width(1),
    ))?
    .label(format!("default threshold {t:.2}"))
    .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.mix(0.4)));
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerMiddle)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    root.present()?;
    Ok(())
}
