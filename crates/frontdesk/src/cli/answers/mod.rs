//! `frontdesk answers …`: the answer bot's library: `import` / `export` it, read
//! each answer's deflection numbers (`stats`), and `eval` the matcher on a
//! labelled data set.

mod eval;
mod library;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AnswersCommand {
    /// Validate an answer library file (CSV or YAML) and store it, replacing the
    /// whole library.
    ///
    /// The whole file is checked first; on any problem every one is listed with its
    /// line, the exit status is 1 and nothing changes. A running server on the same
    /// database answers with the new library within `bot.reload_secs` (5 s by
    /// default); no restart. Files of any size are read (the REST API stops at
    /// `limits.max_body_bytes`). Formats: docs/answers.md.
    Import(library::ImportArgs),
    /// Print the stored answer library as a CSV or YAML file, which `frontdesk
    /// answers import` reads back.
    Export(library::ExportArgs),
    /// Deflection numbers per answer: how often the bot gave it, how often the
    /// customer said it helped, and how often a hand-off to a human followed.
    ///
    /// The worst answers come first (the highest hand-off rate, then the most
    /// given): those are the answers to rewrite or to give more phrasings.
    Stats(library::StatsArgs),
    /// Measure the matcher on a labelled data set: top-1 accuracy, hand-off quality,
    /// calibration of the degree, and speed on a 10,000-entry library.
    ///
    /// Builds a library with one entry per intent (its training questions as
    /// phrasings, the intent's name as the answer), asks every test question, and
    /// prints the results. Understands the layouts in ../shared/data: banking77
    /// (train.csv/test.csv), hwu64 and banking77_oos (one folder per split with
    /// seq.in and label; banking77_oos adds id-oos/ and ood-oos/ out-of-scope
    /// questions). Progress goes to standard error.
    Eval(eval::EvalArgs),
}

pub async fn run(cmd: AnswersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AnswersCommand::Import(args) => library::import(args).await,
        AnswersCommand::Export(args) => library::export(args).await,
        AnswersCommand::Stats(args) => library::stats(args).await,
        AnswersCommand::Eval(args) => eval::evaluate(&args),
    }
}
