//! `frontdesk menu …`: the menu as a file a business keeps in git.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use frontdesk_domain::menu::{Menu, kind_counts};
use frontdesk_server::menus::{ImportError, Menus};

use super::DataArgs;

#[derive(Debug, Subcommand)]
pub enum MenuCommand {
    /// Validate a menu file and store it as the new current version.
    ///
    /// The whole file is checked first (syntax, unique ids, known kinds, children
    /// that exist, no cycles, one parent per item, everything reachable); on any
    /// problem every one is listed with its line and nothing changes.
    /// Consultations already running keep the version they started with.
    Import {
        /// The menu file (TOML). `frontdesk menu export` shows the format.
        file: PathBuf,
        /// Only validate; store nothing.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Print a menu version (default: the current one) as a TOML file.
    Export {
        /// Version to export (default: the current one).
        #[arg(value_name = "VERSION")]
        menu_version: Option<u32>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        data: DataArgs,
    },
    /// List the stored menu versions.
    Versions {
        #[command(flatten)]
        data: DataArgs,
    },
}

pub async fn run(cmd: MenuCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        MenuCommand::Import { file, check, data } => {
            let source = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            if check {
                return Ok(match Menu::parse(&source) {
                    Ok(menu) => {
                        println!(
                            "{}: valid, {} items ({})",
                            file.display(),
                            menu.len(),
                            summary(&menu)
                        );
                        ExitCode::SUCCESS
                    }
                    Err(errs) => {
                        eprint!("{}: {errs}", file.display());
                        ExitCode::FAILURE
                    }
                });
            }
            let (_, store) = data.open().await?;
            let menus = Menus::new(store);
            match menus.import(&source).await {
                Ok(imported) if imported.created => {
                    println!(
                        "imported {} as menu version {} ({} items)",
                        file.display(),
                        imported.version,
                        imported.items
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Ok(imported) => {
                    println!(
                        "unchanged: {} is identical to the current version {}",
                        file.display(),
                        imported.version
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(ImportError::Invalid(errs)) => {
                    eprintln!("{}: {errs}nothing was imported", file.display());
                    Ok(ExitCode::FAILURE)
                }
                Err(ImportError::Store(e)) => Err(e.into()),
            }
        }
        MenuCommand::Export {
            menu_version: version,
            output,
            data,
        } => {
            let (_, store) = data.open().await?;
            let row = match version {
                Some(v) => store
                    .menu(v)
                    .await?
                    .with_context(|| format!("there is no menu version {v}"))?,
                None => store
                    .current_menu()
                    .await?
                    .context("no menu has been imported yet")?,
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, &row.source)
                        .with_context(|| format!("writing {}", path.display()))?;
                    eprintln!("wrote menu version {} to {}", row.version, path.display());
                }
                None => print!("{}", row.source),
            }
            Ok(ExitCode::SUCCESS)
        }
        MenuCommand::Versions { data } => {
            let (_, store) = data.open().await?;
            let rows = store.menu_versions().await?;
            if rows.is_empty() {
                println!("no menu has been imported yet");
            }
            for (i, r) in rows.iter().enumerate() {
                println!(
                    "{:>4}  {}  {:>4} items  {}{}",
                    r.version,
                    frontdesk_server::time::rfc3339(r.created_at),
                    r.items,
                    &r.sha256[..12.min(r.sha256.len())],
                    if i == 0 { "  (current)" } else { "" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn summary(menu: &Menu) -> String {
    kind_counts(menu)
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}
