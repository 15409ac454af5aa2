//! `frontdesk answers import | export | stats`: the answer library as a file a
//! business keeps, straight into and out of the database (no server needed, no
//! size limit). A running server on the same database picks an import up within
//! `bot.reload_secs`. Format and REST equivalents: docs/answers.md.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use frontdesk_domain::answers::{AnswerFormat, Library};
use frontdesk_protocol::rest::AnswerStatsEntry;
use frontdesk_server::bot::{answer_of, row_of};

use crate::cli::DataArgs;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The library file: CSV (.csv) or YAML (.yaml, .yml). `frontdesk answers
    /// export` shows both formats; docs/answers.md describes them.
    file: PathBuf,
    /// The file's format, when its name does not say.
    #[arg(long, value_name = "csv|yaml")]
    format: Option<AnswerFormat>,
    /// Only validate; store nothing.
    #[arg(long)]
    check: bool,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The format (default: from the --output file's extension, else csv).
    #[arg(long, value_name = "csv|yaml")]
    format: Option<AnswerFormat>,
    /// Write to this file instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    output: Option<PathBuf>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print the table as JSON (the body of GET /api/answers/stats).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    data: DataArgs,
}

/// `frontdesk answers import`.
pub async fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.display();
    let format = match args
        .format
        .or_else(|| AnswerFormat::from_path_extension(&args.file))
    {
        Some(f) => f,
        None => anyhow::bail!(
            "cannot tell the format of {file} from its name; add --format csv or --format yaml"
        ),
    };
    let data = std::fs::read(&args.file).with_context(|| format!("reading {file}"))?;
    let library = match Library::parse(format, &data) {
        Ok(library) => library,
        Err(errs) => {
            eprint!("{file}: {errs}");
            eprintln!(
                "{}",
                if args.check {
                    "the file is not valid"
                } else {
                    "nothing was imported"
                }
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    if args.check {
        println!("{file}: valid, {}", counts(&library));
        return Ok(ExitCode::SUCCESS);
    }
    let (config, store) = args.data.open().await?;
    let rows: Vec<_> = library.iter().map(row_of).collect();
    let version = store
        .replace_answers(&rows, frontdesk_server::time::now_ms())
        .await
        .context("storing the answer library")?;
    println!(
        "imported {file} as answer library version {version}: {}",
        counts(&library)
    );
    println!(
        "A running server on this database answers with it within {} s (bot.reload_secs).",
        config.bot.reload_secs
    );
    Ok(ExitCode::SUCCESS)
}

/// `frontdesk answers export`.
pub async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let format = args
        .format
        .or_else(|| {
            args.output
                .as_deref()
                .and_then(AnswerFormat::from_path_extension)
        })
        .unwrap_or(AnswerFormat::Csv);
    let (_, store) = args.data.open().await?;
    let version = store.answers_version().await?;
    let rows = store.answers().await?;
    let library = Library::new(rows.into_iter().map(answer_of).collect())
        .map_err(|e| anyhow::anyhow!("the stored answer library does not validate: {e}"))?;
    anyhow::ensure!(
        !library.is_empty(),
        "the answer library is empty; import one with `frontdesk answers import FILE`"
    );
    let text = library.to_format(format);
    match &args.output {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote answer library version {version} ({}) to {} as {format}",
                counts(&library),
                path.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `frontdesk answers stats`.
pub async fn stats(args: StatsArgs) -> anyhow::Result<ExitCode> {
    let (_, store) = args.data.open().await?;
    let rows = store.answers().await?;
    let counts = store.answer_stats().await?;
    let table = AnswerStatsEntry::table(
        rows.iter().map(|r| r.id.as_str()),
        counts
            .into_iter()
            .map(|s| (s.answer_id, s.given, s.accepted, s.handed_off)),
    );
    if args.json {
        println!("{}", AnswerStatsEntry::list_to_json(&table));
    } else if table.is_empty() {
        println!("the answer library is empty and no answer has been given yet");
    } else {
        print!("{}", render(&table));
    }
    Ok(ExitCode::SUCCESS)
}

/// "12 answers, 340 phrasings (en 10, zh 2)".
fn counts(library: &Library) -> String {
    let mut by_language = std::collections::BTreeMap::<&str, usize>::new();
    for a in library.iter() {
        *by_language.entry(a.language.as_str()).or_default() += 1;
    }
    let languages: Vec<String> = by_language
        .iter()
        .map(|(l, n)| format!("{l} {n}"))
        .collect();
    format!(
        "{} answer{}, {} phrasing{} ({})",
        library.len(),
        plural(library.len()),
        library.phrasing_count(),
        plural(library.phrasing_count()),
        languages.join(", ")
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "-".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

/// The deflection table, the worst answers first.
fn render(table: &[AnswerStatsEntry]) -> String {
    let width = table
        .iter()
        .map(|e| e.answer_id.chars().count())
        .max()
        .unwrap_or(0)
        .max("answer".len());
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>7}  {:>8}  {:>9}  {:>10}  {:>8}",
        "answer", "given", "accepted", "accepted%", "handed off", "handoff%"
    );
    for e in table {
        let _ = writeln!(
            out,
            "{:<width$}  {:>7}  {:>8}  {:>9}  {:>10}  {:>8}{}",
            e.answer_id,
            e.given,
            e.accepted,
            percent(e.accepted_rate),
            e.handed_off,
            percent(e.handoff_rate),
            if e.in_library {
                ""
            } else {
                "  (no longer in the library)"
            }
        );
    }
    out
}
