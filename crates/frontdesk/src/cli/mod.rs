//! The command line. Each subcommand is a thin layer over the library crates.

mod answers;
mod customer;
mod customers;
mod loadgen;
mod menu;
mod sms;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use frontdesk_server::config::{Config, Overrides};
use frontdesk_server::{AppState, Server};
use frontdesk_store::Store;

/// frontdesk — a self-hosted customer-service server.
///
/// Customers get a digital service menu instead of a phone tree. Start with
/// `frontdesk demo`, then open the printed URL.
#[derive(Debug, Parser)]
#[command(
    name = "frontdesk",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "FRONTDESK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server with a demo business (menu, agents, customers) on the embedded database.
    ///
    /// Safe to run again: existing data is kept and the same passwords are printed.
    Demo(ServeArgs),
    /// Run the server.
    Serve(ServeArgs),
    /// Manage the service menu: import, export, list versions.
    #[command(subcommand)]
    Menu(menu::MenuCommand),
    /// Manage agent and admin accounts.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Customer records and value tiers: import a CSV, recompute tiers, list.
    #[command(subcommand)]
    Customers(customers::CustomersCommand),
    /// The answer bot's library: import, export, deflection numbers, and the
    /// matcher's evaluation on a labelled data set.
    #[command(subcommand)]
    Answers(answers::AnswersCommand),
    /// The SMS the server sent: agents' links after a service, and their delivery.
    #[command(subcommand)]
    Sms(sms::SmsCommand),
    /// The terminal client: consult the service menu as a customer.
    ///
    /// Shows the menu as numbered text. Type a number (or an item id), `back`,
    /// `home` or `end`. When standard input is not a terminal, reads one choice per
    /// line and prints each screen, so it can be scripted.
    Customer(customer::CustomerArgs),
    /// Load generator: simulated customers and agents against a running server,
    /// beside an echo baseline; or, with `idle`, idle capacity (RSS per session).
    Loadgen(Box<loadgen::LoadgenArgs>),
    /// Print the configuration in effect (defaults, file, environment, flags) as TOML.
    Config(ServeArgs),
}

/// Where the data lives: shared by every command that opens the database.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Configuration file (TOML). See frontdesk.example.toml.
    #[arg(long, env = "FRONTDESK_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory for the embedded database.
    #[arg(long, env = "FRONTDESK_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Database URL (default: sqlite://<data-dir>/frontdesk.db).
    #[arg(long, env = "FRONTDESK_DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
}

impl DataArgs {
    fn load(&self, listen: Option<SocketAddr>) -> anyhow::Result<Config> {
        let overrides = Overrides {
            listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
        };
        Ok(Config::load(self.config.as_deref(), &overrides)?)
    }

    async fn open(&self) -> anyhow::Result<(Config, Arc<dyn Store>)> {
        let config = self.load(None)?;
        let store = frontdesk_server::open_store(&config).await?;
        Ok((config, store))
    }
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "FRONTDESK_LISTEN", value_name = "ADDR")]
    listen: Option<SocketAddr>,
    #[command(flatten)]
    data: DataArgs,
}

#[derive(Debug, Subcommand)]
enum AgentCommand {
    /// Create an account. The password is read from standard input (first line), or
    /// generated and printed when `--generate-password` is given.
    Add {
        /// Login name.
        username: String,
        /// Name shown to customers and colleagues.
        #[arg(long)]
        name: Option<String>,
        /// Make it an admin (can edit menus and read every record).
        #[arg(long)]
        admin: bool,
        /// Generate a random password and print it.
        #[arg(long)]
        generate_password: bool,
        /// Most text chats at once (default: the configured `queue.default_chat_capacity`).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=20))]
        chat_capacity: Option<u32>,
        #[command(flatten)]
        data: DataArgs,
    },
}

/// Sets up `tracing`: `FRONTDESK_LOG` (or `RUST_LOG`) filters, default `info` for
/// the server and `warn` for one-shot commands.
pub fn init_logging(cli: &Cli) {
    use tracing_subscriber::EnvFilter;
    let default = match cli.command {
        Command::Demo(_) | Command::Serve(_) => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_env("FRONTDESK_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match cli.log_format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

/// Runs the command.
///
/// # Errors
/// Anything that stops the command, explained for the user.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args, false).await,
        Command::Demo(args) => serve(args, true).await,
        Command::Menu(cmd) => menu::run(cmd).await,
        Command::Customers(cmd) => customers::run(cmd).await,
        Command::Answers(cmd) => answers::run(cmd).await,
        Command::Sms(cmd) => sms::run(cmd).await,
        Command::Customer(args) => customer::run(args).await,
        Command::Loadgen(args) => loadgen::run(*args).await,
        Command::Config(args) => {
            let config = args.data.load(args.listen)?;
            print!("{}", config.to_toml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Agent(AgentCommand::Add {
            username,
            name,
            admin,
            generate_password,
            chat_capacity,
            data,
        }) => {
            let (config, store) = data.open().await?;
            let password = if generate_password {
                frontdesk_server::secret::new_password()
            } else {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .context("reading the password from standard input")?;
                let p = line.trim_end_matches(['\r', '\n']).to_owned();
                anyhow::ensure!(
                    p.chars().count() >= 10,
                    "the password must have at least 10 characters"
                );
                p
            };
            let role = if admin { "admin" } else { "agent" };
            let display = name.unwrap_or_else(|| username.clone());
            let id = frontdesk_server::create_account(
                store.as_ref(),
                &username,
                &display,
                role,
                &password,
            )
            .await
            .with_context(|| format!("creating the account '{username}'"))?;
            let capacity = chat_capacity.unwrap_or(config.queue.default_chat_capacity);
            store.set_chat_capacity(id, capacity).await?;
            println!("created {role} '{username}'");
            if generate_password {
                println!("password: {password}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs, demo: bool) -> anyhow::Result<ExitCode> {
    let config = args.data.load(args.listen)?;
    let data_dir = config.data_dir.clone();
    let store = frontdesk_server::open_store(&config).await?;
    let state = AppState::new(config, store)?;
    let loaded = if demo {
        Some(frontdesk_server::demo::load(&state, &data_dir).await?)
    } else {
        None
    };
    let server = Server::start_with(state).await?;
    let url = format!("http://{}", server.addr());
    // Scripts and tests read the bound address from this line.
    let mut text = format!("frontdesk listening on {url}\n");
    if let Some(loaded) = loaded {
        text += &demo_banner(&url, &data_dir, &loaded);
    } else if server.state().store.current_menu_version().await?.is_none() {
        text += "No service menu yet: import one with `frontdesk menu import FILE`.\n";
    }
    banner(&text);
    server.run_until(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

/// Writes the start-up banner. Write errors are ignored on purpose: `println!`
/// panics on a closed stdout (`frontdesk serve | head -1`), and a server must not
/// die because nobody reads its banner.
fn banner(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

fn demo_banner(
    url: &str,
    data_dir: &std::path::Path,
    loaded: &frontdesk_server::demo::Loaded,
) -> String {
    use std::fmt::Write;
    let first_phone = frontdesk_server::demo::CUSTOMERS[0].phone;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\nThe demo business is loaded (menu version {}).\n",
        loaded.menu_version
    );
    let _ = writeln!(s, "  Customer page    {url}/");
    let _ = writeln!(s, "  Agent console    {url}/agent");
    let _ = writeln!(s, "  Health           {url}/healthz");
    let _ = writeln!(s, "  API (OpenAPI)    {url}/api/openapi.json");
    let _ = writeln!(
        s,
        "  Terminal client  frontdesk customer --url {url} --phone {first_phone}\n"
    );
    let _ = writeln!(
        s,
        "Accounts (also in {}):",
        data_dir.join("demo-credentials.toml").display()
    );
    for c in &loaded.credentials {
        let _ = writeln!(s, "  {:<6} {:<8} {}", c.role, c.username, c.password);
    }
    let _ = writeln!(s, "\nDemo customers and their value tiers (docs/tiers.md):");
    for (phone, name, tier) in &loaded.customers {
        let _ = writeln!(s, "  {phone:<15} {name:<12} {tier}");
    }
    let _ = writeln!(
        s,
        "To change their facts, edit {} and run\n  frontdesk customers import {0} --data-dir {}",
        data_dir.join("demo-customers.csv").display(),
        data_dir.display()
    );
    let _ = writeln!(
        s,
        "\nAfter a chat, the customer's SMS with the agent's link (docs/cards.md):\n  frontdesk sms outbox --data-dir {}",
        data_dir.display()
    );
    let _ = writeln!(
        s,
        "\nData directory: {} (delete it to start over). Ctrl-C stops.",
        data_dir.display()
    );
    s
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
