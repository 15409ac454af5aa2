//! `frontdesk answers …`: the answer bot's library: `import` / `export` it, and
//! `eval` the matcher on a labelled data set.

mod eval;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum AnswersCommand {
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
        AnswersCommand::Eval(args) => eval::evaluate(&args),
    }
}
