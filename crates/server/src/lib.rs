//! The frontdesk server: the edge where sockets and the database meet the domain.
//!
//! # Layout
//! - [`config`]: the typed, layered configuration.
//! - [`customer`]: the customer WebSocket `/ws`, one task per connection.
//! - [`agent`]: the agent WebSocket `/agent/ws`, one task per connection.
//! - [`bot`]: the answer bot: the library's matcher, rebuilt on change, and the
//!   live thresholds for offering a human.
//! - [`cards`]: after the service: the agent's link sent by SMS, the agent's page
//!   at `/a/CODE`, ratings.
//! - [`desk`]: the live waiting queue, idle agents and services (who serves whom).
//! - [`api`]: REST under `/api` and `/healthz`, with the generated OpenAPI document.
//! - [`pages`]: the embedded web pages.
//! - [`menus`]: menu import and the cache of parsed versions.
//! - [`metrics`]: Prometheus metrics at `/metrics`.
//! - [`customers`]: customer facts (CSV import, updates) and their value tiers.
//! - [`demo`]: the demo business.
//! - [`secret`]: password hashing and tokens.
//!
//! [`Server::start`] binds, spawns and returns a handle; tests start one on port 0.
//! [`app`] builds the router alone, for `oneshot` tests.

pub mod agent;
pub mod api;
pub mod bot;
pub mod cards;
pub mod config;
pub mod customer;
pub mod customers;
pub mod demo;
pub mod desk;
pub mod error;
pub mod menus;
pub mod metrics;
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
    /// Prometheus metrics.
    pub metrics: metrics::Metrics,
    /// Customer facts and tiers, with the configured cut-offs.
    pub customers: customers::Customers,
    /// Live consultations and the connections holding them.
    pub live: customer::Registry,
    /// The waiting queue, the agents, and who serves whom.
    pub desk: Arc<desk::Desk>,
    /// The answer bot.
    pub bot: Arc<bot::AnswerBot>,
    /// Agents' cards: links, their SMS, the agent's page.
    pub cards: Arc<cards::Cards>,
    /// Failed logins, to slow password guessing.
    pub logins: std::sync::Mutex<api::LoginThrottle>,
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
        let metrics = metrics::Metrics::new();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let desk = Arc::new(desk::Desk::new(
            config.queue.clone(),
            &config.bot,
            config.tier_order.clone(),
            region,
            store.clone(),
            &metrics,
            shutdown.clone(),
            tasks.clone(),
        ));
        let bot = Arc::new(bot::AnswerBot::new(store.clone(), &config.bot)?);
        let cards = Arc::new(cards::Cards::new(
            config.cards.clone(),
            &config.sms,
            store.clone(),
            &metrics,
        )?);
        desk.report_ends_to(cards.clone());
        Ok(Self(Arc::new(Shared {
            bot,
            cards,
            menus: menus::Menus::new(store.clone()),
            metrics,
            desk,
            customers: customers::Customers::new(store.clone(), config.tiers.clone(), region),
            store,
            config,
            live: customer::Registry::default(),
            logins: std::sync::Mutex::default(),
            region,
            shutdown,
            tasks,
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
        .route("/agent/ws", axum::routing::get(agent::upgrade))
        .route("/metrics", axum::routing::get(metrics::handler))
        .route("/a/{code}", axum::routing::get(cards::page::page))
        .route("/a/{code}/rating", axum::routing::post(cards::page::rate))
        .route("/a/{code}/photo", axum::routing::get(cards::page::photo))
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
    /// Every customer's tier is recomputed first, so that tiers follow cut-offs
    /// changed in the configuration and the days passed since the last run.
    ///
    /// # Errors
    /// When the address cannot be bound or the tiers cannot be recomputed.
    pub async fn start_with(state: AppState) -> anyhow::Result<Self> {
        raise_open_file_limit();
        retier(&state).await.context("recomputing customer tiers")?;
        state
            .desk
            .restore()
            .await
            .context("restoring the waiting queue")?;
        state.desk.start_pushing();
        state
            .bot
            .reload()
            .await
            .context("loading the answer library")?;
        let listener = TcpListener::bind(state.config.listen)
            .await
            .with_context(|| format!("binding {}", state.config.listen))?;
        let addr = listener.local_addr()?;
        state
            .cards
            .start(addr)
            .await
            .context("starting the agents' cards")?;
        state
            .tasks
            .spawn(state.cards.clone().run(state.shutdown.clone()));
        state.tasks.spawn(sweep_abandoned(state.clone()));
        state.tasks.spawn(retier_daily(state.clone()));
        state.tasks.spawn(reload_library(state.clone()));
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

/// Every customer holds a socket, and the usual soft limit of 1,024 open files
/// would cap a server at about a thousand customers: raise it to the hard limit,
/// which needs no privilege.
fn raise_open_file_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => tracing::debug!(limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the open-file limit"),
    }
}

/// Picks up answer libraries stored by another process (`frontdesk answers import`).
async fn reload_library(app: AppState) {
    let every = Duration::from_secs(u64::from(app.config.bot.reload_secs));
    loop {
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if let Err(e) = app.bot.reload().await {
            tracing::error!(error = %e, "could not reload the answer library; the previous one stays");
        }
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
                        Ok(true) => {
                            app.desk.customer_left(id, "abandoned").await;
                            app.metrics
                                .consultations_ended
                                .get_or_create(&metrics::Kind { kind: "abandoned" })
                                .inc();
                            tracing::info!(consultation = %id, "consultation abandoned");
                        }
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

/// Recomputes every customer's tier for today, logging what changed.
async fn retier(app: &AppState) -> Result<(), frontdesk_store::StoreError> {
    let started = std::time::Instant::now();
    let done = app.customers.retier(customers::today_utc()).await?;
    tracing::info!(
        customers = done.customers,
        changed = done.changed,
        ms = started.elapsed().as_millis(),
        "customer tiers recomputed"
    );
    Ok(())
}

/// Recomputes tiers as each UTC day begins: "days since the last order" grows
/// by one for everybody at midnight, whether or not anything is written.
async fn retier_daily(app: AppState) {
    loop {
        // A few seconds past midnight, so that "today" has surely turned.
        let wait = customers::until_next_utc_day() + Duration::from_secs(5);
        tokio::select! {
            () = app.shutdown.cancelled() => return,
            () = tokio::time::sleep(wait) => {}
        }
        if let Err(e) = retier(&app).await {
            tracing::warn!(error = %e, "could not recompute customer tiers; tomorrow again");
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;

    async fn state() -> (tempfile::TempDir, AppState) {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let store = open_store(&config).await.unwrap();
        (dir, AppState::new(config, store).unwrap())
    }

    async fn send(app: &Router, req: Request<Body>) -> axum::response::Response {
        app.clone().oneshot(req).await.unwrap()
    }

    async fn get(app: &Router, path: &str) -> axum::response::Response {
        send(app, Request::get(path).body(Body::empty()).unwrap()).await
    }

    /// A GET with a bearer token.
    async fn get_as(app: &Router, path: &str, token: &str) -> axum::response::Response {
        let req = Request::get(path).header(header::AUTHORIZATION, format!("Bearer {token}"));
        send(app, req.body(Body::empty()).unwrap()).await
    }

    async fn body_json(resp: axum::response::Response) -> serde_json::Value {
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[tokio::test]
    async fn health_reports_the_database_and_the_menu() {
        let (_d, state) = state().await;
        let app = app(state.clone());
        let body = body_json(get(&app, "/healthz").await).await;
        assert_eq!(body["status"], "ok");
        assert!(body["menu_version"].is_null());
        state.menus.import(demo::MENU).await.unwrap();
        assert_eq!(
            body_json(get(&app, "/healthz").await).await["menu_version"],
            1
        );
    }

    #[tokio::test]
    async fn pages_are_served_with_a_strict_content_security_policy() {
        let (_d, state) = state().await;
        let app = app(state);
        for (path, ty) in [
            ("/", "text/html"),
            ("/static/app.js", "text/javascript"),
            ("/static/app.css", "text/css"),
        ] {
            let resp = get(&app, path).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            let h = resp.headers();
            assert!(
                h[header::CONTENT_TYPE].to_str().unwrap().starts_with(ty),
                "{path}"
            );
            let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
            assert!(
                csp.contains("default-src 'self'") && !csp.contains("unsafe-inline"),
                "{csp}"
            );
            assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        }
    }

    #[tokio::test]
    async fn pages_revalidate_with_an_etag() {
        let (_d, state) = state().await;
        let app = app(state);
        let first = get(&app, "/static/app.js").await;
        assert_eq!(first.headers()[header::CACHE_CONTROL], "no-cache");
        let etag = first.headers()[header::ETAG].clone();
        let again = send(
            &app,
            Request::get("/static/app.js")
                .header(header::IF_NONE_MATCH, etag)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        let stale = send(
            &app,
            Request::get("/static/app.js")
                .header(header::IF_NONE_MATCH, "\"old\"")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(stale.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn errors_have_the_shared_shape() {
        let (_d, state) = state().await;
        let app = app(state);
        let resp = get(&app, "/api/menus").await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let body = body_json(resp).await;
        assert_eq!(body["error"], "unauthorized");
        assert!(body["message"].as_str().unwrap().contains("Bearer"));
        // Bad bodies and query strings get the same shape, not axum's plain text.
        let resp = send(
            &app,
            Request::post("/api/login")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{\"username\": 3}"))
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body_json(resp).await["error"], "invalid_request");
        let resp = send(
            &app,
            Request::post("/api/login")
                .body(Body::from("not json"))
                .unwrap(),
        )
        .await;
        assert!(resp.status().is_client_error());
        assert_eq!(body_json(resp).await["error"], "invalid_request");
    }

    #[tokio::test]
    async fn oversized_menu_uploads_and_bad_queries_use_the_error_shape() {
        let (_d, state) = state().await;
        let admin_token = {
            create_account(
                state.store.as_ref(),
                "root",
                "Root",
                "admin",
                "long password 1",
            )
            .await
            .unwrap();
            let token = secret::new_token(secret::LOGIN_PREFIX);
            let account = state
                .store
                .account_by_username("root")
                .await
                .unwrap()
                .unwrap();
            state
                .store
                .create_api_session(&secret::token_hash(&token), account.id, 0, i64::MAX)
                .await
                .unwrap();
            token
        };
        let limit = state.config.limits.max_body_bytes as usize;
        let app = app(state);
        let resp = send(
            &app,
            Request::post("/api/menus")
                .header(header::AUTHORIZATION, format!("Bearer {admin_token}"))
                .body(Body::from("x".repeat(limit + 1)))
                .unwrap(),
        )
        .await;
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body_json(resp).await["error"].is_string());
        let resp = get_as(&app, "/api/consultations?limit=lots", &admin_token).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body_json(resp).await["error"], "invalid_request");
        // `+` unescaped in a query string arrives as a space; it is still a `+`.
        let resp = get_as(
            &app,
            "/api/consultations?phone=+8613912345678",
            &admin_token,
        )
        .await;
        assert_eq!(resp.status(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_openapi_document_is_served_as_json() {
        let (_d, state) = state().await;
        let resp = get(&app(state), "/api/openapi.json").await;
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let doc = body_json(resp).await;
        assert_eq!(doc["info"]["title"], "frontdesk");
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }
}
