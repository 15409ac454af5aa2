//! `frontdesk sms …`: the SMS the server sent (agents' links after a service).

use std::process::ExitCode;

use clap::Subcommand;
use frontdesk_domain::phone::Phone;

use super::DataArgs;

#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// List the SMS issued, newest first: every agent link sent, with its delivery
    /// status. With `sms.gateway = "outbox"` (the default) nothing leaves the
    /// server and this is where the messages are read.
    Outbox {
        /// Only messages to this phone number (any common format).
        #[arg(long)]
        phone: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON array (the shape of `GET /api/sms`).
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataArgs,
    },
}

pub async fn run(cmd: SmsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SmsCommand::Outbox {
            phone,
            limit,
            json,
            data,
        } => {
            let (config, store) = data.open().await?;
            let phone = match phone {
                Some(p) => {
                    let region = frontdesk_domain::phone::region(&config.default_region)?;
                    Some(Phone::parse(&p, region)?)
                }
                None => None,
            };
            let rows = store
                .sms_log(phone.as_ref().map(Phone::as_str), limit.max(1))
                .await?;
            let entries: Vec<_> = rows
                .into_iter()
                .map(frontdesk_server::cards::sms_entry)
                .collect();
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
                return Ok(ExitCode::SUCCESS);
            }
            if entries.is_empty() {
                println!("No SMS.");
            }
            for m in &entries {
                let via = m.gateway.as_deref().unwrap_or("not tried yet");
                let agent = m.agent.map_or(String::new(), |a| format!("  agent {a}"));
                println!(
                    "#{}  {}  {} ({via}, {} attempt{})  to {}{agent}",
                    m.id,
                    m.created_at,
                    m.status,
                    m.attempts,
                    if m.attempts == 1 { "" } else { "s" },
                    m.phone
                );
                if let Some(e) = &m.last_error {
                    println!("    last error: {e}");
                }
                println!("    {}", m.body);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
