//! The demo business: a menu, a few agents and customers, loaded idempotently.
//!
//! Demo passwords are random on first run and kept in `demo-credentials.toml`
//! (mode 0600) in the data directory, so re-running the demo prints the same ones
//! without ever storing a password in the database.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::AppState;
use crate::secret::{hash_password, new_password};
use crate::time::now_ms;

/// The demo menu file.
pub const MENU: &str = include_str!("../demo/menu.toml");

/// The demo's accounts: (username, display name, role).
const ACCOUNTS: [(&str, &str, &str); 4] = [
    ("admin", "Demo Admin", "admin"),
    ("alice", "Alice Wang", "agent"),
    ("bob", "Bob Martin", "agent"),
    ("chen", "Chen Jing", "agent"),
];

/// The demo's customers: (phone, name).
pub const CUSTOMERS: [(&str, &str); 4] = [
    ("+12015550123", "Dana Reyes"),
    ("+14155550188", "Sam Okafor"),
    ("+8613912345678", "Li Wei"),
    ("+447911123456", "Priya Shah"),
];

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
}

/// Loads the demo business into `app`'s store. Safe to run again: the menu is
/// imported only if none exists, accounts and customers only if missing.
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
        app.store
            .create_account(username, display, role, &hash, now_ms())
            .await?;
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
    for (phone, name) in CUSTOMERS {
        app.store
            .upsert_customer(phone, Some(name), now_ms())
            .await?;
    }
    Ok(Loaded {
        menu_version,
        credentials: file.account,
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
        for (phone, _) in super::CUSTOMERS {
            assert_eq!(
                frontdesk_domain::phone::Phone::parse(phone, us)
                    .unwrap()
                    .as_str(),
                phone
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
