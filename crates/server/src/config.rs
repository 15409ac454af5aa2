//! Configuration: one typed struct, layered from defaults, a TOML file,
//! `FRONTDESK_*` environment variables, then command-line flags.
//!
//! The doc comment of each field is the user documentation; `frontdesk.example.toml`
//! at the repository root shows every setting and a test checks it parses.
//! Nested settings use `__` in environment variables:
//! `FRONTDESK_LIMITS__MESSAGES_PER_SEC=50`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use frontdesk_domain::tier::{TierOrder, TierRules};
use serde::{Deserialize, Serialize};

/// The whole server configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on. Port 0 picks a free port; the bound address is printed.
    pub listen: SocketAddr,
    /// Directory for the embedded database and other files. Created if missing.
    pub data_dir: PathBuf,
    /// Database URL. Default: the SQLite file `frontdesk.db` in `data_dir`.
    pub database_url: Option<String>,
    /// `full` (default): every record is on disk before it is acknowledged, even
    /// across a power cut. `normal`: survives a crash of frontdesk, not of the machine.
    pub durability: Durability,
    /// Region (ISO 3166 code) for phone numbers typed without a `+country` prefix.
    pub default_region: String,
    /// The order in which customer value tiers are served within one arrival
    /// period: all nine tier names, first served first. The default serves the
    /// important tiers, then the general ones, then new customers. It does not
    /// change how customers are tiered (that is `[tiers]`). See `docs/tiers.md`.
    pub tier_order: TierOrder,
    /// The waiting queue and agents' grace periods.
    pub queue: QueueConfig,
    /// Limits that protect the server from clients.
    pub limits: Limits,
    /// Bearer token for `/metrics`. Unset (the default): `/metrics` answers
    /// loopback clients only. Set: it answers anyone who sends this token.
    pub metrics_token: Option<String>,
    /// The cut-offs that put customers in value tiers (`docs/tiers.md`). Tiers are
    /// recomputed for every customer when the server starts and at 00:00 UTC each
    /// day, so a change here takes effect at the next start (or at once with
    /// `frontdesk customers retier`).
    pub tiers: TierRules,
    /// The answer bot: when it offers a human, and its optional semantic model.
    pub bot: BotConfig,
    /// After the service: the link to the agent's page sent by SMS, and coming
    /// back to the same agent (`docs/cards.md`).
    pub cards: CardsConfig,
    /// How SMS are sent: `outbox` (stored and listed, the default), a generic
    /// HTTP gateway, or Twilio.
    pub sms: frontdesk_sms::SmsConfig,
}

/// See [`Config::cards`] and `docs/cards.md`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CardsConfig {
    /// Send the customer the agent's link when a service with an agent ends (the
    /// agent or the customer ends it, or the customer's connection is lost). The
    /// agent's "send my card" button works either way.
    pub send_on_end: bool,
    /// The address customers reach this server at, put in front of `/a/CODE`
    /// (e.g. `https://help.example.com`). Unset: `http://` and the listening address.
    pub public_url: Option<String>,
    /// The SMS text. `{agent}` becomes the agent's name, `{link}` the link.
    pub message: String,
    /// Seconds a customer who comes back through a link waits for that agent
    /// before anyone may take them (they are told).
    pub reach_wait_secs: u32,
    /// The key links are made with (at least 16 characters). Unset: a random one
    /// is made once and kept in the database. Changing it changes every link;
    /// links already sent stop working.
    pub secret: Option<String>,
}

impl Default for CardsConfig {
    fn default() -> Self {
        Self {
            send_on_end: true,
            public_url: None,
            message: "Thank you for contacting us. {agent} served you today; reach them again \
                      or rate the service: {link}"
                .into(),
            reach_wait_secs: 120,
            secret: None,
        }
    }
}

/// See [`Config::durability`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Durability {
    /// fsync every commit.
    #[default]
    Full,
    /// fsync at checkpoints.
    Normal,
}

/// See [`Config::queue`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueueConfig {
    /// Length of an arrival period in seconds. Customers who asked for an agent
    /// in an earlier period are always served before later ones, whatever their
    /// tier; within a period, by `tier_order`, then arrival (`docs/queue.md`).
    pub period_secs: u32,
    /// Seconds a waiting customer whose connection dropped keeps their place;
    /// after that they are removed as abandoned.
    pub customer_grace_secs: u32,
    /// Seconds an agent whose connection dropped (or who has not reconnected
    /// after a restart) keeps their place in the idle queue and their customers;
    /// after that their customers go back to the head of the waiting queue.
    pub agent_grace_secs: u32,
    /// Mean service time assumed for wait estimates until services have been
    /// measured, in seconds.
    pub mean_service_secs: u32,
    /// Text chats an agent holds at once unless an admin sets otherwise.
    pub default_chat_capacity: u32,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            period_secs: 300,
            customer_grace_secs: 30,
            agent_grace_secs: 30,
            mean_service_secs: 180,
            default_chat_capacity: 1,
        }
    }
}

/// See [`Config::bot`] and `docs/bot.md`.
///
/// The bot offers a human when an answer's matching degree is under the *single*
/// threshold or the session's mean degree is under the *mean* threshold. Each
/// threshold moves within its bounds with the pressure on the agents: at its
/// maximum while `relaxed_idle_share` of the available agents are idle, at its
/// minimum once `saturating_queue_per_agent` customers wait per available agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BotConfig {
    /// Single threshold when agents are swamped (0–1).
    pub single_min: f64,
    /// Single threshold when agents are idle (0–1).
    pub single_max: f64,
    /// Mean threshold when agents are swamped (0–1).
    pub mean_min: f64,
    /// Mean threshold when agents are idle (0–1).
    pub mean_max: f64,
    /// Share of available agents idle (with nobody waiting) at which the
    /// thresholds are at their maximum; in (0, 1].
    pub relaxed_idle_share: f64,
    /// Customers waiting per available agent at which the thresholds reach their
    /// minimum; above 0.
    pub saturating_queue_per_agent: f64,
    /// A sentence-embedding model directory (all-MiniLM-L6-v2: `model.safetensors`,
    /// `tokenizer.json`, `config.json`) for semantic matching beside BM25. Unset:
    /// BM25 alone. A directory that cannot be loaded is reported at start-up and the
    /// bot runs on BM25 alone.
    pub model_dir: Option<PathBuf>,
    /// How often (seconds) the server looks for a library changed by another
    /// process (`frontdesk answers import` into the same database). Changes made
    /// over the REST API take effect at once.
    pub reload_secs: u32,
}

impl Default for BotConfig {
    fn default() -> Self {
        let bounds = frontdesk_domain::handoff::ThresholdBounds::default();
        let curve = frontdesk_domain::handoff::PressureCurve::default();
        Self {
            single_min: bounds.single_min,
            single_max: bounds.single_max,
            mean_min: bounds.mean_min,
            mean_max: bounds.mean_max,
            relaxed_idle_share: curve.relaxed_idle_share,
            saturating_queue_per_agent: curve.saturating_queue_per_agent,
            model_dir: None,
            reload_secs: 5,
        }
    }
}

impl BotConfig {
    /// The thresholds' bounds.
    #[must_use]
    pub fn bounds(&self) -> frontdesk_domain::handoff::ThresholdBounds {
        frontdesk_domain::handoff::ThresholdBounds {
            single_min: self.single_min,
            single_max: self.single_max,
            mean_min: self.mean_min,
            mean_max: self.mean_max,
        }
    }

    /// The pressure ramp.
    #[must_use]
    pub fn curve(&self) -> frontdesk_domain::handoff::PressureCurve {
        frontdesk_domain::handoff::PressureCurve {
            relaxed_idle_share: self.relaxed_idle_share,
            saturating_queue_per_agent: self.saturating_queue_per_agent,
        }
    }
}

/// Per-connection and per-session limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest WebSocket text message handled, in bytes. Larger ones get a
    /// `message_too_large` error and the connection stays up.
    pub max_message_bytes: u32,
    /// Largest WebSocket frame read at all, in bytes. Larger ones close the
    /// connection (close code 1009): reading them would cost the memory we protect.
    pub max_frame_bytes: u32,
    /// Sustained messages per second per connection.
    pub messages_per_sec: u32,
    /// Messages allowed in a burst above the rate.
    pub burst: u32,
    /// Seconds without any message (clients ping every 20 s) before a connection is closed.
    pub idle_timeout_secs: u32,
    /// Seconds a consultation whose customer disconnected can still be resumed,
    /// after which it is ended as abandoned.
    pub resume_window_secs: u32,
    /// Hours an API login token lasts.
    pub login_hours: u32,
    /// Largest HTTP request body, in bytes (menu imports).
    pub max_body_bytes: u32,
    /// Largest customer CSV accepted by `POST /api/customers/import`, in bytes
    /// (about 60 bytes a customer). Only admins reach it. `frontdesk customers
    /// import` reads files of any size.
    pub max_import_bytes: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("frontdesk-data"),
            database_url: None,
            durability: Durability::Full,
            default_region: "US".into(),
            tier_order: TierOrder::default(),
            queue: QueueConfig::default(),
            limits: Limits::default(),
            metrics_token: None,
            tiers: TierRules::default(),
            bot: BotConfig::default(),
            cards: CardsConfig::default(),
            sms: frontdesk_sms::SmsConfig::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_message_bytes: 8 * 1024,
            max_frame_bytes: 64 * 1024,
            messages_per_sec: 20,
            burst: 40,
            idle_timeout_secs: 60,
            resume_window_secs: 15 * 60,
            login_hours: 12,
            max_body_bytes: 2 * 1024 * 1024,
            max_import_bytes: 32 * 1024 * 1024,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// A configuration problem, named precisely.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file, an environment variable or a flag holds a bad value.
    #[error("configuration: {0}")]
    // Not `#[from]`: that would also make it the `source`, and error chains
    // (`{e:#}`) would print the same message twice.
    Invalid(Box<figment::Error>),
    /// A value is well-formed but unusable.
    #[error("configuration: {0}")]
    Unusable(String),
}

/// Top-level keys, so that unrelated `FRONTDESK_*` variables (`FRONTDESK_CONFIG`,
/// `FRONTDESK_LOG`, test switches) are not mistaken for settings.
const KEYS: [&str; 13] = [
    "listen",
    "data_dir",
    "database_url",
    "durability",
    "default_region",
    "tier_order",
    "queue",
    "limits",
    "tiers",
    "metrics_token",
    "bot",
    "cards",
    "sms",
];

impl Config {
    /// Loads defaults, then `file` (if given), then `FRONTDESK_*` variables, then `overrides`.
    ///
    /// # Errors
    /// [`ConfigError`] naming the bad key and where it came from.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Unusable(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            fig = fig.merge(Toml::file(file));
        }
        fig = fig
            .merge(Env::prefixed("FRONTDESK_").split("__").filter(|k| {
                // Keys keep the variable's case (`LIMITS.BURST`); compare without it.
                let k = k.as_str().to_ascii_lowercase();
                KEYS.iter()
                    .any(|top| k == *top || k.starts_with(&format!("{top}.")))
            }))
            .merge(Serialized::defaults(overrides));
        let config: Config = fig
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))?;
        config.check()?;
        Ok(config)
    }

    /// Checks values that parse but cannot work.
    ///
    /// # Errors
    /// [`ConfigError::Unusable`] with the reason.
    pub fn check(&self) -> Result<(), ConfigError> {
        frontdesk_domain::phone::region(&self.default_region)
            .map_err(|e| ConfigError::Unusable(format!("default_region: {e}")))?;
        let l = &self.limits;
        if l.max_message_bytes == 0 || l.max_frame_bytes < l.max_message_bytes {
            return Err(ConfigError::Unusable(
                "limits: max_frame_bytes must be at least max_message_bytes, and both above 0"
                    .into(),
            ));
        }
        if l.messages_per_sec == 0 || l.burst == 0 || l.idle_timeout_secs == 0 {
            return Err(ConfigError::Unusable(
                "limits: messages_per_sec, burst and idle_timeout_secs must be above 0".into(),
            ));
        }
        let q = &self.queue;
        if q.period_secs == 0 || q.mean_service_secs == 0 || q.default_chat_capacity == 0 {
            return Err(ConfigError::Unusable(
                "queue: period_secs, mean_service_secs and default_chat_capacity must be above 0"
                    .into(),
            ));
        }
        self.tiers.check().map_err(ConfigError::Unusable)?;
        self.bot
            .bounds()
            .check()
            .and_then(|()| self.bot.curve().check())
            .map_err(|e| ConfigError::Unusable(format!("bot: {e}")))?;
        if self
            .cards
            .secret
            .as_ref()
            .is_some_and(|s| s.len() < frontdesk_domain::agent_link::MIN_SECRET_BYTES)
        {
            return Err(ConfigError::Unusable(format!(
                "cards: secret must be at least {} characters",
                frontdesk_domain::agent_link::MIN_SECRET_BYTES
            )));
        }
        if let Some(url) = &self.cards.public_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(ConfigError::Unusable(format!(
                "cards: public_url must start with http:// or https://, got {url:?}"
            )));
        }
        if !self.cards.message.contains("{link}") {
            return Err(ConfigError::Unusable(
                "cards: message must contain {link}".into(),
            ));
        }
        // The error names its key (`sms.http.url is required when …`).
        frontdesk_sms::build(&self.sms).map_err(|e| ConfigError::Unusable(e.to_string()))?;
        if self.bot.reload_secs == 0 {
            return Err(ConfigError::Unusable(
                "bot: reload_secs must be above 0".into(),
            ));
        }
        Ok(())
    }

    /// The configuration as a TOML file (what `frontdesk config` prints).
    ///
    /// # Errors
    /// Only if a value cannot be written as TOML.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| ConfigError::Unusable(e.to_string()))
    }

    /// The database URL in effect.
    #[must_use]
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("frontdesk.db").display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_parses_and_matches_the_defaults() {
        let example = include_str!("../../../frontdesk.example.toml");
        let parsed: Config = toml::from_str(example).unwrap();
        assert_eq!(
            parsed,
            Config::default(),
            "frontdesk.example.toml should show the defaults"
        );
    }

    #[test]
    fn every_top_level_setting_can_come_from_the_environment() {
        // KEYS filters FRONTDESK_* variables; a setting missing from it would be
        // ignored silently when set in the environment.
        let all = Config {
            database_url: Some("sqlite://x.db".into()),
            metrics_token: Some("t".into()),
            ..Config::default()
        };
        let value = serde_json::to_value(&all).unwrap();
        let mut fields: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut keys = KEYS.to_vec();
        fields.sort_unstable();
        keys.sort_unstable();
        assert_eq!(fields, keys);
    }

    #[test]
    fn printed_config_reads_back() {
        let c = Config {
            database_url: Some("sqlite://x.db".into()),
            ..Config::default()
        };
        let back: Config = toml::from_str(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn layers_file_env_and_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "f.toml",
                "listen = \"127.0.0.1:9000\"\ndefault_region = \"CN\"\n[limits]\nburst = 7\n",
            )?;
            jail.set_env("FRONTDESK_DEFAULT_REGION", "GB");
            jail.set_env("FRONTDESK_LIMITS__MESSAGES_PER_SEC", "5");
            jail.set_env("FRONTDESK_CONFIG", "ignored: not a setting");
            let o = Overrides {
                listen: Some("127.0.0.1:0".parse().unwrap()),
                ..Default::default()
            };
            let c = Config::load(Some(Path::new("f.toml")), &o).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 0, "flag wins");
            assert_eq!(c.default_region, "GB", "env wins over file");
            assert_eq!((c.limits.burst, c.limits.messages_per_sec), (7, 5));
            assert_eq!(c.database_url(), "sqlite://frontdesk-data/frontdesk.db");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn unknown_keys_and_bad_values_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("f.toml", "lisen = \"x\"\n")?;
            let e = Config::load(Some(Path::new("f.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("lisen"), "{e}");
            jail.create_file("g.toml", "default_region = \"ZZ\"\n")?;
            let e = Config::load(Some(Path::new("g.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("default_region"), "{e}");
            let e = Config::load(Some(Path::new("missing.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("does not exist"), "{e}");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn cards_and_sms_settings_come_from_file_and_env_and_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "c.toml",
                "[cards]\npublic_url = \"https://help.example.com\"\nreach_wait_secs = 30\n\
                 [sms]\ngateway = \"http\"\n[sms.http]\nurl = \"https://sms.example.com/send\"\n",
            )?;
            jail.set_env(
                "FRONTDESK_SMS__HTTP__AUTH_HEADER",
                "Authorization: Bearer s3cret",
            );
            let c = Config::load(Some(Path::new("c.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(c.cards.reach_wait_secs, 30);
            assert_eq!(c.sms.gateway, frontdesk_sms::GatewayKind::Http);
            assert_eq!(
                c.sms.http.auth_header.as_deref(),
                Some("Authorization: Bearer s3cret")
            );
            assert!(
                !format!("{c:?}").contains("s3cret"),
                "secrets stay out of logs"
            );
            jail.set_env("FRONTDESK_SMS__HTTP__AUTH_HEADER", "");
            let refused = |toml: &str| -> Result<String, figment::Error> {
                jail.create_file("bad.toml", toml)?;
                Ok(
                    Config::load(Some(Path::new("bad.toml")), &Overrides::default())
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default(),
                )
            };
            let e = refused("[cards]\nsecret = \"short\"\n")?;
            assert!(e.contains("cards: secret"), "{e}");
            let e = refused("[cards]\npublic_url = \"help.example.com\"\n")?;
            assert!(e.contains("public_url"), "{e}");
            let e = refused("[cards]\nmessage = \"no link here\"\n")?;
            assert!(e.contains("{link}"), "{e}");
            let e = refused("[sms]\ngateway = \"http\"\n")?;
            assert!(e.contains("sms.http.url"), "{e}");
            let e = refused("[sms]\ngateway = \"twilio\"\n")?;
            assert!(e.contains("sms.twilio"), "{e}");
            Ok(())
        });
    }

    #[test]
    #[expect(
        clippy::result_large_err,
        reason = "figment::Jail fixes the closure's error type"
    )]
    fn tier_cut_offs_and_order_come_from_file_and_env_and_are_checked() {
        use frontdesk_domain::tier::Tier;
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "f.toml",
                "tier_order = [\"new\", \"core\", \"important-development\", \"important-promotion\", \
                 \"important-retention\", \"general-core\", \"general-development\", \
                 \"general-promotion\", \"general-retention\"]\n\
                 [tiers]\nrecent_days = 45\nvaluable_money = 500.0\n",
            )?;
            jail.set_env("FRONTDESK_TIERS__MIN_CREDIT_FOR_IMPORTANT", "70");
            let c = Config::load(Some(Path::new("f.toml")), &Overrides::default())
                .map_err(|e| e.to_string())?;
            assert_eq!(
                (
                    c.tiers.recent_days,
                    c.tiers.valuable_money,
                    c.tiers.min_credit_for_important
                ),
                (45, 500.0, 70)
            );
            assert_eq!(
                c.tiers.new_customer_days, 30,
                "the rest keep their defaults"
            );
            assert_eq!(c.tier_order.rank(Tier::New), 0);
            let back: Config = toml::from_str(&c.to_toml().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())?;
            assert_eq!(back, c);

            jail.set_env("FRONTDESK_TIERS__MIN_CREDIT_FOR_IMPORTANT", "101");
            let e = Config::load(Some(Path::new("f.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("tiers.min_credit_for_important"), "{e}");
            jail.set_env("FRONTDESK_TIERS__MIN_CREDIT_FOR_IMPORTANT", "60");
            jail.create_file("g.toml", "tier_order = [\"core\", \"gold\"]\n")?;
            let e = Config::load(Some(Path::new("g.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("gold") && e.contains("tier_order"), "{e}");
            jail.create_file("h.toml", "tier_order = [\"core\"]\n")?;
            let e = Config::load(Some(Path::new("h.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("missing"), "{e}");
            jail.create_file("i.toml", "[tiers]\nrecnt_days = 3\n")?;
            let e = Config::load(Some(Path::new("i.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(e.contains("recnt_days"), "{e}");
            Ok(())
        });
    }
}
