//! `frontdesk customers …`: customer facts from a CSV file, and their value tiers.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use frontdesk_domain::phone::Phone;
use frontdesk_domain::tier::Tier;
use frontdesk_server::customers::{Customers, ImportError, parse_csv, tier_summary, today_utc};
use frontdesk_store::CustomerFilter;

use super::DataArgs;

#[derive(Debug, Subcommand)]
pub enum CustomersCommand {
    /// Import customers' facts from a CSV file and compute their value tiers.
    ///
    /// The header row names the columns, in any order:
    /// phone,name,orders_per_month,money,registered_on,last_order_on,credit
    /// (dates as YYYY-MM-DD; name, last_order_on and credit may be left empty).
    /// The whole file is checked first; on any bad row every problem is listed with
    /// its line and nothing changes. Otherwise all rows are stored in one
    /// transaction: new customers are created, existing ones replaced. See
    /// docs/tiers.md.
    Import {
        /// The CSV file.
        file: PathBuf,
        /// Only validate; store nothing.
        #[arg(long)]
        check: bool,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Recompute every customer's tier with the configured cut-offs and today's date.
    ///
    /// The server does this when it starts and at 00:00 UTC each day; run this after
    /// changing `[tiers]` to apply the new cut-offs without a restart.
    Retier {
        #[command(flatten)]
        data: DataArgs,
    },
    /// List customers with their tiers, by phone number.
    List {
        /// Only this tier (core, important-development, …, new).
        #[arg(long)]
        tier: Option<Tier>,
        /// Only this phone number.
        #[arg(long)]
        phone: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub async fn run(cmd: CustomersCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CustomersCommand::Import { file, check, data } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let config = data.load(None)?;
            let region = frontdesk_domain::phone::region(&config.default_region)?;
            let today = today_utc();
            if check {
                return Ok(match parse_csv(&bytes, region, today) {
                    Ok(rows) => {
                        println!("{}: valid, {} customers", file.display(), rows.len());
                        ExitCode::SUCCESS
                    }
                    Err(errs) => {
                        eprint!("{}: {errs}", file.display());
                        ExitCode::FAILURE
                    }
                });
            }
            let store = frontdesk_server::open_store(&config).await?;
            let customers = Customers::new(store, config.tiers.clone(), region);
            let started = std::time::Instant::now();
            match customers.import_csv(&bytes, today).await {
                Ok(done) => {
                    println!(
                        "imported {} customers from {} in {:.1} s: {} created, {} updated",
                        done.customers,
                        file.display(),
                        started.elapsed().as_secs_f64(),
                        done.counts.created,
                        done.counts.updated
                    );
                    println!("by tier: {}", tier_summary(&done.by_tier));
                    Ok(ExitCode::SUCCESS)
                }
                Err(ImportError::Invalid(errs)) => {
                    eprint!("{}: {errs}", file.display());
                    Ok(ExitCode::FAILURE)
                }
                Err(ImportError::Store(e)) => Err(e.into()),
            }
        }
        CustomersCommand::Retier { data } => {
            let (config, store) = data.open().await?;
            let region = frontdesk_domain::phone::region(&config.default_region)?;
            let customers = Customers::new(store, config.tiers.clone(), region);
            let done = customers.retier(today_utc()).await?;
            println!(
                "recomputed the tiers of {} customers: {} changed",
                done.customers, done.changed
            );
            println!("by tier: {}", tier_summary(&done.by_tier));
            Ok(ExitCode::SUCCESS)
        }
        CustomersCommand::List {
            tier,
            phone,
            limit,
            data,
        } => {
            let (config, store) = data.open().await?;
            let phone = phone
                .map(|p| {
                    let region = frontdesk_domain::phone::region(&config.default_region)?;
                    anyhow::Ok(Phone::parse(&p, region)?)
                })
                .transpose()?;
            let rows = store
                .customers(&CustomerFilter {
                    phone: phone.as_ref().map(Phone::as_str),
                    tier: tier.map(Tier::as_str),
                    limit: Some(limit),
                })
                .await?;
            if rows.is_empty() {
                println!("no customers");
            }
            for r in rows {
                println!(
                    "{:<16} {:<22} {}",
                    r.phone,
                    r.tier,
                    r.name.unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
