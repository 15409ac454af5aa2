//! The demo business: a menu, a few agents and customers, loaded idempotently.
//!
//! Demo passwords are random on first run and kept in `demo-credentials.toml`
//! (mode 0600) in the data directory, so re-running the demo prints the same ones
//! without ever storing a password in the database.
//!
//! The demo customers' facts are imported through the CSV import, as a business
//! would import theirs. Their dates are written relative to the day the demo is
//! first loaded ([`customers_csv`]): a fixed file would see every customer drift
//! into a lapsed tier a month after it was written. The file is also left in the
//! data directory (`demo-customers.csv`) as an example to edit and re-import.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::customers::{COLUMNS, format_date, today_utc};
use crate::secret::{hash_password, new_password};
use crate::time::now_ms;

/// The demo menu file.
pub const MENU: &str = include_str!("../demo/menu.toml");

/// The demo answer library (English and Chinese).
pub const ANSWERS: &str = include_str!("../demo/answers.yaml");

/// The demo's accounts: (username, display name, role).
const ACCOUNTS: [(&str, &str, &str); 4] = [
    ("admin", "Demo Admin", "admin"),
    ("alice", "Alice Wang", "agent"),
    ("bob", "Bob Martin", "agent"),
    ("chen", "Chen Jing", "agent"),
];

/// The demo agents' slogans and contact numbers, for their pages (`/a/CODE`).
const PROFILES: [(&str, &str, &str); 3] = [
    (
        "alice",
        "Bills and plans are my thing: ask me anything.",
        "+12015550190",
    ),
    (
        "bob",
        "Your connection, sorted on the first try.",
        "+12015550191",
    ),
    (
        "chen",
        "中文、English — happy to help either way.",
        "+12015550192",
    ),
];

/// A demo customer and the facts their tier comes from.
#[derive(Debug, Clone, Copy)]
pub struct DemoCustomer {
    /// E.164 phone number.
    pub phone: &'static str,
    /// Name.
    pub name: &'static str,
    /// Average orders per month.
    pub orders_per_month: f64,
    /// Money contributed.
    pub money: f64,
    /// Registered this many days before the demo was first loaded.
    pub registered_days_ago: u16,
    /// Last ordered this many days before; `None`: never.
    pub last_order_days_ago: Option<u16>,
    /// Credit rating.
    pub credit: Option<u8>,
}

const fn customer(
    phone: &'static str,
    name: &'static str,
    orders_per_month: f64,
    money: f64,
    registered_days_ago: u16,
    last_order_days_ago: Option<u16>,
    credit: Option<u8>,
) -> DemoCustomer {
    DemoCustomer {
        phone,
        name,
        orders_per_month,
        money,
        registered_days_ago,
        last_order_days_ago,
        credit,
    }
}

/// The demo's customers, one per tier they show (with the default cut-offs).
pub const CUSTOMERS: [DemoCustomer; 6] = [
    // Recent, frequent, valuable: core.
    customer(
        "+12015550123",
        "Dana Reyes",
        4.0,
        2400.0,
        700,
        Some(3),
        Some(85),
    ),
    // Frequent and valuable, but nothing for two months: important-promotion.
    customer(
        "+14155550188",
        "Sam Okafor",
        3.0,
        1800.0,
        400,
        Some(60),
        Some(72),
    ),
    // Recent, but rare and small orders: general-development.
    customer("+8613912345678", "Li Wei", 0.5, 150.0, 200, Some(10), None),
    // Registered ten days ago: new.
    customer("+447911123456", "Priya Shah", 1.0, 45.0, 10, Some(3), None),
    // Would be core, but a credit rating of 40 bars the important tiers: general-core.
    customer(
        "+33612345678",
        "Marc Dubois",
        5.0,
        3200.0,
        900,
        Some(2),
        Some(40),
    ),
    // Valuable once, silent for half a year: important-retention.
    customer(
        "+819012345678",
        "Aiko Tanaka",
        0.2,
        1500.0,
        1000,
        Some(200),
        Some(90),
    ),
];

/// The demo customers as a customer CSV file, with dates counted back from `today`.
#[must_use]
pub fn customers_csv(customers: &[DemoCustomer], today: time::Date) -> String {
    use std::fmt::Write;
    let ago = |days: u16| format_date(today - time::Duration::days(i64::from(days)));
    let mut s = COLUMNS.join(",") + "\n";
    for c in customers {
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{}",
            c.phone,
            c.name,
            c.orders_per_month,
            c.money,
            ago(c.registered_days_ago),
            c.last_order_days_ago.map(ago).unwrap_or_default(),
            c.credit.map(|c| c.to_string()).unwrap_or_default()
        );
    }
    s
}

/// An account of the demo with its password.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Credential {
    /// Login name.
    pub username: String,
    /// `admin` or `agent`.
    pub role: String,
    /// The password.
    pub password: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CredentialsFile {
    #[serde(default)]
    account: Vec<Credential>,
}

/// What the demo loaded.
#[derive(Debug)]
pub struct Loaded {
    /// The menu version now current.
    pub menu_version: u32,
    /// Accounts and passwords.
    pub credentials: Vec<Credential>,
    /// The demo customers as stored: (phone, name, tier).
    pub customers: Vec<(String, String, String)>,
}

/// Loads the demo business into `app`'s store. Safe to run again: the menu is
/// imported only if none exists, accounts only if missing, and a customer's facts
/// only if they have none (facts edited since are kept).
///
/// # Errors
/// When the store fails or the credentials file cannot be written.
pub async fn load(app: &AppState, data_dir: &Path) -> anyhow::Result<Loaded> {
    let menu_version = match app.store.current_menu_version().await? {
        Some(v) => v,
        None => {
            app.menus
                .import(MENU)
                .await
                .context("importing the demo menu")?
                .version
        }
    };
    if app.store.answers_version().await? == 0 {
        let library = frontdesk_domain::answers::Library::parse_yaml(ANSWERS.as_bytes())
            .map_err(|e| anyhow::anyhow!("the demo answer library: {e}"))?;
        let rows: Vec<_> = library.iter().map(crate::bot::row_of).collect();
        app.store.replace_answers(&rows, now_ms()).await?;
    }
    let creds_path = data_dir.join("demo-credentials.toml");
    let mut file: CredentialsFile = match std::fs::read_to_string(&creds_path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("reading {}", creds_path.display()))?
        }
        Err(_) => CredentialsFile::default(),
    };
    let mut changed = false;
    for (username, display, role) in ACCOUNTS {
        if app.store.account_by_username(username).await?.is_some() {
            continue;
        }
        let password = new_password();
        let hash = {
            let p = password.clone();
            tokio::task::spawn_blocking(move || hash_password(&p)).await??
        };
        let id = app
            .store
            .create_account(username, display, role, &hash, now_ms())
            .await?;
        if let Some((_, slogan, contact)) = PROFILES.iter().find(|p| p.0 == username) {
            app.store
                .set_profile(id, slogan, Some(contact), now_ms())
                .await?;
        }
        file.account.retain(|c| c.username != username);
        file.account.push(Credential {
            username: username.into(),
            role: role.into(),
            password,
        });
        changed = true;
    }
    if changed {
        write_private(&creds_path, &toml::to_string(&file)?)?;
    }
    let mut missing = Vec::new();
    for c in CUSTOMERS {
        let known = app.store.customer_by_phone(c.phone).await?;
        if known.is_none_or(|r| r.registered_on.is_none()) {
            missing.push(c);
        }
    }
    if !missing.is_empty() {
        let csv = customers_csv(&missing, today_utc());
        app.customers
            .import_csv(csv.as_bytes(), today_utc())
            .await
            .context("importing the demo customers")?;
        let example = data_dir.join("demo-customers.csv");
        if !example.exists() {
            std::fs::write(&example, customers_csv(&CUSTOMERS, today_utc()))
                .with_context(|| format!("writing {}", example.display()))?;
        }
    }
    let mut customers = Vec::new();
    for c in CUSTOMERS {
        if let Some(r) = app.store.customer_by_phone(c.phone).await? {
            customers.push((r.phone, r.name.unwrap_or_default(), r.tier));
        }
    }
    Ok(Loaded {
        menu_version,
        credentials: file.account,
        customers,
    })
}

fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn demo_customers_have_valid_numbers() {
        // They are typed into the page; an invalid one would be refused there.
        let us = frontdesk_domain::phone::region("US").unwrap();
        for c in super::CUSTOMERS {
            assert_eq!(
                frontdesk_domain::phone::Phone::parse(c.phone, us)
                    .unwrap()
                    .as_str(),
                c.phone
            );
        }
    }

    #[test]
    fn demo_customers_land_in_different_tiers_whatever_the_day() {
        use frontdesk_domain::tier::{Tier, TierRules};
        let us = frontdesk_domain::phone::region("US").unwrap();
        for today in ["2026-01-01", "2027-07-15"] {
            let today = crate::customers::parse_date(today).unwrap();
            let csv = super::customers_csv(&super::CUSTOMERS, today);
            let rows = crate::customers::parse_csv(csv.as_bytes(), us, today).unwrap();
            let rules = TierRules::default();
            let tiers: Vec<Tier> = rows.iter().map(|r| rules.tier(&r.facts(today))).collect();
            assert_eq!(
                tiers,
                [
                    Tier::Core,
                    Tier::ImportantPromotion,
                    Tier::GeneralDevelopment,
                    Tier::New,
                    Tier::GeneralCore,
                    Tier::ImportantRetention
                ]
            );
        }
    }

    #[test]
    fn the_demo_menu_is_valid_and_three_levels_deep() {
        let m = frontdesk_domain::menu::Menu::parse(super::MENU).unwrap();
        assert!(m.len() >= 15, "{} items", m.len());
        let deepest = m.items().map(|i| m.path_to(&i.id).len()).max().unwrap();
        assert!(deepest >= 4, "root + three levels below it; got {deepest}");
        let kinds = frontdesk_domain::menu::kind_counts(&m);
        for k in ["submenu", "content", "voice", "chat", "bot"] {
            assert!(kinds.contains_key(k), "the demo should show a {k} item");
        }
    }
}
