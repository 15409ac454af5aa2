//! Shared by the integration tests: a real server on 127.0.0.1:0 with a fresh
//! SQLite database in a temporary directory, loaded with the demo menu.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use frontdesk_client::{AgentClient, ApiClient, Connection};
use frontdesk_protocol::{ClientMessage, ServerMessage};
use frontdesk_server::config::Config;
use frontdesk_server::{AppState, Server};

/// The admin account every test server has.
pub const ADMIN: (&str, &str) = ("admin", "admin-password-1");

/// The password of agents made by [`agent`].
pub const AGENT_PASSWORD: &str = "agent-password-1";

/// Creates agent `name` (holding `capacity` chats) over REST and connects it.
pub async fn agent(ts: &TestServer, admin: &ApiClient, name: &str, capacity: u32) -> AgentClient {
    let body = serde_json::json!({
        "username": name, "display_name": format!("Agent {name}"),
        "password": AGENT_PASSWORD, "chat_capacity": capacity,
    });
    let (status, reply) = admin
        .post_raw("/api/agents", "application/json", &body.to_string())
        .await
        .unwrap();
    assert_eq!(status, 201, "{reply}");
    AgentClient::login(&ts.url(), name, AGENT_PASSWORD)
        .await
        .unwrap()
}

/// A running server and the directory its data lives in.
pub struct TestServer {
    pub server: Server,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    /// A server with the demo menu and an admin account.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestServer::start`], after `tweak` adjusts the configuration.
    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Self::boot(dir.path().to_path_buf(), tweak, true).await;
        Self { server, dir }
    }

    /// A server with no menu at all.
    pub async fn start_empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let server = Self::boot(dir.path().to_path_buf(), |_| {}, false).await;
        Self { server, dir }
    }

    async fn boot(data_dir: PathBuf, tweak: impl FnOnce(&mut Config), seed: bool) -> Server {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir,
            ..Config::default()
        };
        tweak(&mut config);
        let store = frontdesk_server::open_store(&config)
            .await
            .expect("open store");
        let state = AppState::new(config, store).expect("state");
        if seed && state.store.current_menu_version().await.unwrap().is_none() {
            state
                .menus
                .import(frontdesk_server::demo::MENU)
                .await
                .expect("demo menu");
            frontdesk_server::create_account(
                state.store.as_ref(),
                ADMIN.0,
                "Admin",
                "admin",
                ADMIN.1,
            )
            .await
            .expect("admin account");
        }
        Server::start_with(state).await.expect("server starts")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.server.addr())
    }

    /// An API client logged in as the admin.
    pub async fn admin(&self) -> ApiClient {
        let mut api = ApiClient::new(&self.url()).unwrap();
        api.login(ADMIN.0, ADMIN.1).await.expect("admin login");
        api
    }

    /// Stops the server and starts a new one on the same data (a restart).
    /// The new server listens on a new port.
    pub async fn restart(self) -> Self {
        self.restart_with(|_| {}).await
    }

    /// Like [`TestServer::restart`], after `tweak` adjusts the configuration
    /// (e.g. new tier cut-offs).
    pub async fn restart_with(self, tweak: impl FnOnce(&mut Config)) -> Self {
        let TestServer { server, dir } = self;
        let config = server.state().config.clone();
        server.stop().await.expect("clean stop");
        let server = Self::boot(
            dir.path().to_path_buf(),
            |c| {
                *c = Config {
                    listen: "127.0.0.1:0".parse().unwrap(),
                    ..config
                };
                tweak(c);
            },
            true,
        )
        .await;
        Self { server, dir }
    }
}

/// A raw connection with a consultation started by `hello`.
pub struct Started {
    pub conn: Connection,
    pub consultation: String,
    pub resume_token: String,
}

/// Opens a raw connection and starts a consultation as +12015550123.
pub async fn started(ts: &TestServer) -> Result<Started, Box<dyn std::error::Error>> {
    let mut conn = Connection::open(&ts.url()).await?;
    conn.send(&ClientMessage::start("+12015550123")).await?;
    match conn.recv().await? {
        ServerMessage::Welcome {
            consultation,
            resume_token,
            ..
        } => Ok(Started {
            conn,
            consultation,
            resume_token,
        }),
        other => Err(format!("expected welcome, got {other:?}").into()),
    }
}
