//! The menu service: imports validated menus as new versions and keeps parsed
//! versions in memory so a consultation never re-parses its menu.
//!
//! Versions are immutable, so a parsed version never goes stale; only "which
//! version is current" is read from the store, which lets a menu imported by the
//! CLI (another process) take effect for the next consultation without a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use frontdesk_domain::menu::{Menu, MenuErrors};
use frontdesk_store::Store;

use crate::secret::sha256_hex;
use crate::time::now_ms;

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    /// The version now current.
    pub version: u32,
    /// False when the file equalled the current version.
    pub created: bool,
    /// Items in the menu.
    pub items: u32,
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not a valid menu; nothing was stored.
    #[error("{0}")]
    Invalid(MenuErrors),
    /// Storing failed.
    #[error(transparent)]
    Store(#[from] frontdesk_store::StoreError),
}

/// Parsed menu versions, shared by all connections.
#[derive(Debug)]
pub struct Menus {
    store: Arc<dyn Store>,
    parsed: Mutex<HashMap<u32, Arc<Menu>>>,
}

impl Menus {
    /// A cache over `store`.
    #[must_use]
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// Validates `source` and stores it as a new version (unless it equals the
    /// current one). The canonical form is stored, so the same menu written with
    /// other spacing or comments is recognised as unchanged.
    ///
    /// # Errors
    /// [`ImportError::Invalid`] listing every problem; nothing is stored then.
    pub async fn import(&self, source: &str) -> Result<Imported, ImportError> {
        let menu = Menu::parse(source).map_err(ImportError::Invalid)?;
        let canonical = menu.to_toml();
        let items = u32::try_from(menu.len()).unwrap_or(u32::MAX);
        let (version, created) = self
            .store
            .save_menu(&canonical, &sha256_hex(&canonical), items, now_ms())
            .await?;
        self.insert(version, Arc::new(menu));
        Ok(Imported {
            version,
            created,
            items,
        })
    }

    /// The current version and its menu, or `None` before the first import.
    ///
    /// # Errors
    /// When the store fails or holds a menu that no longer parses.
    pub async fn current(&self) -> anyhow::Result<Option<(u32, Arc<Menu>)>> {
        let Some(version) = self.store.current_menu_version().await? else {
            return Ok(None);
        };
        Ok(Some((version, self.get(version).await?)))
    }

    /// One version's menu.
    ///
    /// # Errors
    /// When the version does not exist or does not parse.
    pub async fn get(&self, version: u32) -> anyhow::Result<Arc<Menu>> {
        if let Some(m) = self.cached(version) {
            return Ok(m);
        }
        let row = self
            .store
            .menu(version)
            .await?
            .with_context(|| format!("menu version {version} is not stored"))?;
        let menu = Menu::parse(&row.source)
            .map_err(|e| anyhow::anyhow!("stored menu version {version} does not parse: {e}"))?;
        let menu = Arc::new(menu);
        self.insert(version, menu.clone());
        Ok(menu)
    }

    fn cached(&self, version: u32) -> Option<Arc<Menu>> {
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&version)
            .cloned()
    }

    fn insert(&self, version: u32, menu: Arc<Menu>) {
        self.parsed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(version, menu);
    }
}
