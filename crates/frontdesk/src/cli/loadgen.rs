//! `frontdesk loadgen`: the load generator (crates/loadgen) on the command line.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use frontdesk_loadgen::{IdleOptions, RunOptions};

/// `frontdesk loadgen [OPTIONS]` runs mixed load; `frontdesk loadgen idle`
/// measures idle capacity.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LoadgenArgs {
    #[command(subcommand)]
    mode: Option<Mode>,
    #[command(flatten)]
    run: RunOptions,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Idle capacity: hold N customer sessions open (parked at the menu or in
    /// the queue, pinging every 20 s) and report the server's RSS per session.
    Idle(IdleOptions),
}

/// Runs it; the exit code is failure when the run had errors or lost,
/// doubled or reordered a chat message.
///
/// # Errors
/// When the run cannot start (server unreachable, agents cannot log in) or a
/// chart cannot be written.
pub async fn run(args: LoadgenArgs) -> anyhow::Result<ExitCode> {
    match args.mode {
        Some(Mode::Idle(opts)) => {
            let chart = opts.target.chart.clone();
            let json = opts.target.json;
            let report = frontdesk_loadgen::idle::run(opts).await?;
            if json {
                println!("{}", report.json()?);
            } else {
                print!("{}", report.text());
            }
            if let Some(path) = chart {
                frontdesk_loadgen::chart::idle_chart(&report, &path)
                    .with_context(|| format!("writing the chart {}", path.display()))?;
                eprintln!("chart written to {}", path.display());
            }
            Ok(
                if report.opened == report.options.sessions && report.errors.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::FAILURE
                },
            )
        }
        None => {
            let chart = args.run.target.chart.clone();
            let json = args.run.target.json;
            let report = frontdesk_loadgen::run(args.run).await?;
            if json {
                println!("{}", report.json()?);
            } else {
                print!("{}", report.text());
            }
            if let Some(path) = chart {
                frontdesk_loadgen::chart::run_chart(&report, &path)
                    .with_context(|| format!("writing the chart {}", path.display()))?;
                eprintln!("chart written to {}", path.display());
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
