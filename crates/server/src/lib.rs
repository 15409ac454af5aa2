//! The frontdesk server: the edge where sockets and the database meet the domain.
//!
//! # Layout
//! - [`config`]: the typed, layered configuration.
//! - [`customer`]: the customer WebSocket `/ws`, one task per connection.
//! - [`api`]: REST under `/api` and `/healthz`, with the generated OpenAPI document.
//! - [`pages`]: the embedded web pages.
//! - [`menus`]: menu import and the cache of parsed versions.
//! - [`demo`]: the demo business.
//! - [`secret`]: password hashing and tokens.
//!
//! [`Server::start`] binds, spawns and returns a handle; tests start one on port 0.
//! [`app`] builds the router alone, for `oneshot` tests.

pub mod api;
pub mod config;
pub mod customer;
pub mod demo;
pub mod error;
pub mod menus;
pub mod pages;
pub mod secret;
pub mod time;

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::HeaderValue;
use axum::http::header;
use frontdesk_domain::phone::Region;
use frontdesk_store::sqlite::Durability as SqliteDurability;
use frontdesk_store::{SqliteStore, Store};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use config::Config;

/// Shared state: a cheap handle (`Arc`) passed to every handler and task.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Shared {
    /// The configuration in effect.
    pub config: Config,
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Parsed menu versions.
    pub menus: menus::Menus,
    /// Live consultations and the connections holding them.
    pub live: customer::Registry,
    /// Region for phone numbers without a country prefix.
    pub region: Region,
    /// Cancelled to shut down.
    pub shutdown: CancellationToken,
    /// Every background task and connection, so shutdown can wait for them.
    pub tasks: TaskTracker,
}

impl Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// State over an open store.
    ///
    /// # Errors
    /// When the configuration's region is unknown.
    pub fn new(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        let region = frontdesk_domain::phone::region(&config.default_region)?;
        Ok(Self(Arc::new(Shared {
            menus: menus::Menus::new(store.clone()),
            store,
            config,
            live: customer::Registry::default(),
            region,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })))
    }
}

/// Opens the store the configuration names, creating the data directory.
///
/// # Errors
/// When the directory cannot be created or the database cannot be opened.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let url = config.database_url();
    if url.starts_with("sqlite:") {
        if config.database_url.is_none() {
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!("creating the data directory {}", config.data_dir.display())
            })?;
        }
        let durability = match config.durability {
            config::Durability::Full => SqliteDurability::Full,
            config::Durability::Normal => SqliteDurability::Normal,
        };
        let store = SqliteStore::open(&url, durability)
            .await
            .with_context(|| format!("opening the database {url}"))?;
        Ok(Arc::new(store))
    } else {
        anyhow::bail!(
            "unsupported database URL '{url}': this build supports sqlite:// (PostgreSQL comes later)"
        )
    }
}

/// The whole HTTP application.
pub fn app(state: AppState) -> Router {
    let max_body = state.config.limits.max_body_bytes as usize;
    Router::new()
        .route("/ws", axum::routing::get(customer::upgrade))
        .merge(api::router())
        .merge(pages::router())
        .layer(DefaultBodyLimit::max(max_body))
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    state: AppState,
    serve: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    /// Opens the store, binds `config.listen` and starts serving.
    ///
    /// # Errors
    /// When the store cannot be opened or the address cannot be bound.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        let store = open_store(&config).await?;
        Self::start_with(AppState::new(config, store)?).await
    }

    /// Starts serving prepared state (e.g. after loading demo data into it).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start_with(state: AppState) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(state.config.listen)
            .await
            .with_context(|| format!("binding {}", state.config.listen))?;
        let addr = listener.local_addr()?;
        state.tasks.spawn(sweep_abandoned(state.clone()));
        let shutdown = state.shutdown.clone();
        let router = app(state.clone());
        let serve = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
        });
        tracing::info!(%addr, "frontdesk listening");
        Ok(Self { addr, state, serve })
    }

    /// The address actually bound.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The shared state (tests read the store through it).
    #[must_use]
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Stops accepting, tells every customer to reconnect, and waits (up to 10 s)
    /// for connections and background tasks to finish.
    ///
    /// # Errors
    /// When the HTTP server failed.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.state.shutdown.cancel();
        self.state.tasks.close();
        if tokio::time::timeout(Duration::from_secs(10), self.state.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("some connections did not close within 10 s");
        }
        self.serve.await??;
        Ok(())
    }

    /// Runs until `signal` completes, then stops.
    ///
    /// # Errors
    /// When the HTTP server failed.
    pub async fn run_until(
        self,
        signal: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::select! {
            () = signal => {}
            () = self.state.shutdown.cancelled() => {}
        }
        tracing::info!("shutting down");
        self.stop().await
    }
}

/// Ends consultations whose customer left and did not resume in time.
async fn sweep_abandoned(app: AppState) {
    let window = i64::from(app.config.limits.resume_window_secs) * 1000;
    let every = Duration::from_secs(u64::from(app.config.limits.resume_window_secs.clamp(1, 60)));
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let now = time::now_ms();
        match app.store.idle_consultations(now - window).await {
            Ok(ids) => {
                for id in ids.iter().filter(|id| !app.live.is_live(id)) {
                    match app.store.abandon_consultation(id, now).await {
                        Ok(true) => tracing::info!(consultation = %id, "consultation abandoned"),
                        Ok(false) => {}
                        Err(e) => {
                            tracing::warn!(consultation = %id, error = %e, "could not end an abandoned consultation")
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not look for abandoned consultations"),
        }
    }
}

/// Creates an agent or admin account (hashing the password off the async runtime).
///
/// # Errors
/// When the username is taken (a conflict) or the store fails.
pub async fn create_account(
    store: &dyn Store,
    username: &str,
    display_name: &str,
    role: &str,
    password: &str,
) -> anyhow::Result<i64> {
    let p = password.to_owned();
    let hash = tokio::task::spawn_blocking(move || secret::hash_password(&p)).await??;
    Ok(store
        .create_account(username, display_name, role, &hash, time::now_ms())
        .await?)
}
