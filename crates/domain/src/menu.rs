//! The digital service menu: a tree of items a customer walks instead of a phone tree.
//!
//! A menu is kept by the business as a TOML file (so it can live in git) with a flat
//! list of items that name their children by id. The flat form is what makes
//! mistakes possible (a child that does not exist, a cycle, an item under two
//! parents), so [`Menu::parse`] checks the whole file and reports *every* problem
//! with the line it is on, and only a fully valid file becomes a [`Menu`].
//!
//! A `Menu` is immutable once built; the server keeps each stored version so a
//! consultation can finish on the version it started with.
//!
//! # Assumptions
//! - A menu is a tree: every item but the root has exactly one parent. "Back" is
//!   then always well defined. Sharing an item between two submenus is done by
//!   copying it under a second id.
//! - Menu text is plain text. Pages escape it; nothing in it is interpreted as HTML.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Limits that keep a menu renderable on a phone and cheap to hold in memory.
pub const MAX_ITEMS: usize = 5_000;
/// Deepest allowed nesting, root = depth 1.
pub const MAX_DEPTH: usize = 12;
/// Longest id, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest content text, in bytes.
pub const MAX_TEXT_BYTES: usize = 32 * 1024;

/// The stable id of a menu item, chosen by the business (`billing-due`).
///
/// Ids are short slugs: ASCII lower-case letters, digits, `-` and `_`, starting
/// with a letter or digit. They appear in URLs, logs and service records.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    /// Checks `s` against the id rules.
    ///
    /// # Errors
    /// A human-readable reason when `s` is not a valid id.
    pub fn new(s: &str) -> Result<Self, String> {
        if s.is_empty() {
            return Err("an item id must not be empty".into());
        }
        if s.len() > MAX_ID_LEN {
            return Err(format!("item id '{s}' is longer than {MAX_ID_LEN} bytes"));
        }
        let first_ok = s.as_bytes()[0].is_ascii_lowercase() || s.as_bytes()[0].is_ascii_digit();
        let all_ok = s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !first_ok || !all_ok {
            return Err(format!(
                "item id '{s}' may only hold a-z, 0-9, '-' and '_', and must start with a letter or digit"
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by `ItemId` be probed with a `&str` from the wire, without
/// allocating. Sound because the derived `Hash` and `Eq` of this one-field newtype
/// are exactly those of its `String`, which are those of `str`.
impl std::borrow::Borrow<str> for ItemId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What choosing an item does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// Opens a list of further items.
    Submenu,
    /// Shows a text answer (the seed's "service content").
    Content,
    /// A voice call with an agent (seed 001 step 6).
    Voice,
    /// A text chat with an agent.
    Chat,
    /// Opens the answer bot to ask a free-text question.
    Bot,
}

impl ItemKind {
    /// Every kind, in the order they are documented.
    pub const ALL: [ItemKind; 5] = [
        ItemKind::Submenu,
        ItemKind::Content,
        ItemKind::Voice,
        ItemKind::Chat,
        ItemKind::Bot,
    ];

    /// The name used in menu files and on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Submenu => "submenu",
            ItemKind::Content => "content",
            ItemKind::Voice => "voice",
            ItemKind::Chat => "chat",
            ItemKind::Bot => "bot",
        }
    }

    /// Parses a kind name as written in a menu file.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ItemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One item of a validated menu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuItem {
    /// Its id.
    pub id: ItemId,
    /// What choosing it does.
    pub kind: ItemKind,
    /// The line shown in the list.
    pub title: String,
    /// The answer text, for [`ItemKind::Content`] items only.
    pub text: Option<String>,
    /// The items below it, in display order, for [`ItemKind::Submenu`] items only.
    pub children: Vec<ItemId>,
}

/// A validated service menu: a tree rooted at a submenu.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Menu {
    title: String,
    root: ItemId,
    /// Items in file order: keeping the order makes export reproduce the file.
    order: Vec<ItemId>,
    items: HashMap<ItemId, MenuItem>,
    parents: HashMap<ItemId, ItemId>,
}

/// One problem found in a menu file, with the line it is on where known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MenuProblem {
    /// 1-based line in the file, when the problem has a place.
    pub line: Option<usize>,
    /// What is wrong, in words a business user understands.
    pub message: String,
}

impl fmt::Display for MenuProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a menu file. Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct MenuErrors(pub Vec<MenuProblem>);

impl fmt::Display for MenuErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "the menu has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.0 {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

// ---- the file format -------------------------------------------------------------

/// The menu file as read, with the position of each id so problems can name a line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileIn {
    title: String,
    root: toml::Spanned<String>,
    #[serde(default, rename = "item")]
    items: Vec<toml::Spanned<ItemIn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemIn {
    id: toml::Spanned<String>,
    kind: toml::Spanned<String>,
    title: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    children: Option<Vec<toml::Spanned<String>>>,
}

/// The menu file as written by [`Menu::to_toml`]. Same shape as [`FileIn`], without spans.
#[derive(Serialize)]
struct FileOut<'a> {
    title: &'a str,
    root: &'a str,
    #[serde(rename = "item")]
    items: Vec<ItemOut<'a>>,
}

#[derive(Serialize)]
struct ItemOut<'a> {
    id: &'a str,
    kind: &'a str,
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    children: Option<Vec<&'a str>>,
}

/// Maps byte offsets in the source to 1-based line numbers.
struct Lines(Vec<usize>);

impl Lines {
    fn new(src: &str) -> Self {
        Self(
            std::iter::once(0)
                .chain(src.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
        )
    }
    fn line(&self, offset: usize) -> usize {
        self.0.partition_point(|&start| start <= offset)
    }
}

impl Menu {
    /// Parses and validates a menu file.
    ///
    /// # Errors
    /// [`MenuErrors`] listing every problem found (syntax, unknown fields, unknown
    /// kinds, bad or duplicate ids, unknown children, cycles, items under two
    /// parents or under none, missing text, limits). Nothing partial is returned.
    pub fn parse(src: &str) -> Result<Menu, MenuErrors> {
        let lines = Lines::new(src);
        let file: FileIn = toml::from_str(src).map_err(|e| {
            MenuErrors(vec![MenuProblem {
                line: e.span().map(|s| lines.line(s.start)),
                message: e.message().to_owned(),
            }])
        })?;
        Builder::new(&lines).build(file)
    }

    /// The menu as a TOML file that [`Menu::parse`] reads back to an equal menu.
    #[must_use]
    pub fn to_toml(&self) -> String {
        let out = FileOut {
            title: &self.title,
            root: self.root.as_str(),
            items: self
                .order
                .iter()
                .filter_map(|id| self.items.get(id))
                .map(|it| ItemOut {
                    id: it.id.as_str(),
                    kind: it.kind.as_str(),
                    title: &it.title,
                    text: it.text.as_deref(),
                    children: (it.kind == ItemKind::Submenu)
                        .then(|| it.children.iter().map(ItemId::as_str).collect()),
                })
                .collect(),
        };
        // Serialising plain strings and vectors cannot fail; fall back to an empty
        // document rather than panic should the toml crate ever disagree.
        toml::to_string(&out).unwrap_or_default()
    }

    /// The menu's name, shown at the top of the root screen.
    #[must_use]
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The root submenu.
    #[must_use]
    pub fn root(&self) -> &ItemId {
        &self.root
    }

    /// Looks up an item.
    #[must_use]
    pub fn item(&self, id: &ItemId) -> Option<&MenuItem> {
        self.items.get(id)
    }

    /// Looks up an item by its textual id (as received from a client).
    #[must_use]
    pub fn item_by_str(&self, id: &str) -> Option<&MenuItem> {
        self.items.get(id)
    }

    /// The parent submenu of an item; `None` for the root.
    #[must_use]
    pub fn parent(&self, id: &ItemId) -> Option<&ItemId> {
        self.parents.get(id)
    }

    /// The items below a submenu, in display order (empty for other kinds).
    pub fn children(&self, id: &ItemId) -> impl Iterator<Item = &MenuItem> {
        self.items
            .get(id)
            .map(|it| it.children.as_slice())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| self.items.get(c))
    }

    /// The submenus from the root down to `id` inclusive.
    #[must_use]
    pub fn path_to(&self, id: &ItemId) -> Vec<ItemId> {
        let mut path = vec![id.clone()];
        let mut cur = id;
        while let Some(p) = self.parents.get(cur) {
            path.push(p.clone());
            cur = p;
        }
        path.reverse();
        path
    }

    /// Number of items.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the menu has no items (never true for a validated menu).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items in file order.
    pub fn items(&self) -> impl Iterator<Item = &MenuItem> {
        self.order.iter().filter_map(|id| self.items.get(id))
    }
}

/// An item read from the file whose children are not resolved yet.
struct Pending {
    item: MenuItem,
    /// Byte offset of its id, for problems about it.
    id_off: usize,
    /// Child ids as written, with their offsets.
    children: Vec<(String, usize)>,
}

/// Collects problems while turning a [`FileIn`] into a [`Menu`].
struct Builder<'a> {
    lines: &'a Lines,
    problems: Vec<MenuProblem>,
}

impl<'a> Builder<'a> {
    fn new(lines: &'a Lines) -> Self {
        Self {
            lines,
            problems: Vec::new(),
        }
    }

    fn problem(&mut self, offset: Option<usize>, message: String) {
        let line = offset.map(|o| self.lines.line(o));
        self.problems.push(MenuProblem { line, message });
    }

    fn build(mut self, file: FileIn) -> Result<Menu, MenuErrors> {
        if file.title.trim().is_empty() {
            self.problem(None, "the menu needs a non-empty `title`".into());
        }
        if file.items.len() > MAX_ITEMS {
            self.problem(
                None,
                format!(
                    "the menu has {} items; the limit is {MAX_ITEMS}",
                    file.items.len()
                ),
            );
        }

        // Pass 1: each item on its own, and the set of ids with their lines.
        let mut items: Vec<Pending> = Vec::new();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for spanned in file.items {
            let it = spanned.into_inner();
            let id_off = it.id.span().start;
            let id_text = it.id.into_inner();
            let id = match ItemId::new(&id_text) {
                Ok(id) => id,
                Err(msg) => {
                    self.problem(Some(id_off), msg);
                    continue;
                }
            };
            if let Some(&first) = first_line.get(&id_text) {
                self.problem(
                    Some(id_off),
                    format!("item id '{id}' is used twice (first on line {first})"),
                );
                continue;
            }
            first_line.insert(id_text, self.lines.line(id_off));

            let kind_off = it.kind.span().start;
            let kind_text = it.kind.into_inner();
            let Some(kind) = ItemKind::parse(&kind_text) else {
                let known: Vec<_> = ItemKind::ALL.iter().map(|k| k.as_str()).collect();
                self.problem(
                    Some(kind_off),
                    format!(
                        "item '{id}' has unknown kind '{kind_text}' (known kinds: {})",
                        known.join(", ")
                    ),
                );
                continue;
            };
            if it.title.trim().is_empty() {
                self.problem(Some(id_off), format!("item '{id}' needs a non-empty title"));
            } else if it.title.chars().count() > MAX_TITLE_CHARS {
                self.problem(
                    Some(id_off),
                    format!("item '{id}' has a title longer than {MAX_TITLE_CHARS} characters"),
                );
            }
            match (kind, &it.text) {
                (ItemKind::Content, None) => {
                    self.problem(Some(id_off), format!("content item '{id}' needs a `text`"))
                }
                (ItemKind::Content, Some(t)) if t.trim().is_empty() => self.problem(
                    Some(id_off),
                    format!("content item '{id}' has an empty `text`"),
                ),
                (ItemKind::Content, Some(t)) if t.len() > MAX_TEXT_BYTES => self.problem(
                    Some(id_off),
                    format!("content item '{id}' has a text longer than {MAX_TEXT_BYTES} bytes"),
                ),
                (k, Some(_)) if k != ItemKind::Content => self.problem(
                    Some(id_off),
                    format!("only content items have a `text`; '{id}' is a {k} item"),
                ),
                _ => {}
            }
            let children: Vec<(String, usize)> = it
                .children
                .unwrap_or_default()
                .into_iter()
                .map(|c| {
                    let off = c.span().start;
                    (c.into_inner(), off)
                })
                .collect();
            if kind == ItemKind::Submenu && children.is_empty() {
                self.problem(
                    Some(id_off),
                    format!("submenu '{id}' needs at least one item in `children`"),
                );
            }
            if kind != ItemKind::Submenu && !children.is_empty() {
                self.problem(
                    Some(id_off),
                    format!("only submenus have `children`; '{id}' is a {kind} item"),
                );
            }
            items.push(Pending {
                item: MenuItem {
                    id,
                    kind,
                    title: it.title,
                    text: it.text,
                    children: Vec::new(),
                },
                id_off,
                children,
            });
        }

        // Pass 2: resolve children, one parent each.
        let mut parents: HashMap<ItemId, ItemId> = HashMap::new();
        let known: HashMap<String, ItemKind> = items
            .iter()
            .map(|p| (p.item.id.as_str().to_owned(), p.item.kind))
            .collect();
        for Pending { item, children, .. } in &mut items {
            for (child, off) in children.iter() {
                if !known.contains_key(child) {
                    let msg = format!("'{}' lists child '{child}', which is not an item", item.id);
                    self.problems.push(MenuProblem {
                        line: Some(self.lines.line(*off)),
                        message: msg,
                    });
                    continue;
                }
                let child_id = ItemId(child.clone());
                if child_id == item.id {
                    self.problems.push(MenuProblem {
                        line: Some(self.lines.line(*off)),
                        message: format!("'{}' lists itself as a child (a cycle)", item.id),
                    });
                    continue;
                }
                if let Some(prev) = parents.get(&child_id) {
                    let msg = if *prev == item.id {
                        format!("'{}' lists child '{child}' twice", item.id)
                    } else {
                        format!(
                            "'{child}' is listed under both '{prev}' and '{}'; an item has one parent",
                            item.id
                        )
                    };
                    self.problems.push(MenuProblem {
                        line: Some(self.lines.line(*off)),
                        message: msg,
                    });
                    continue;
                }
                parents.insert(child_id.clone(), item.id.clone());
                item.children.push(child_id);
            }
        }

        // The root.
        let root_off = file.root.span().start;
        let root_text = file.root.into_inner();
        let root = match known.get(&root_text) {
            None => {
                self.problem(
                    Some(root_off),
                    format!("`root` names '{root_text}', which is not an item"),
                );
                None
            }
            Some(k) if *k != ItemKind::Submenu => {
                self.problem(
                    Some(root_off),
                    format!("`root` must be a submenu; '{root_text}' is a {k} item"),
                );
                None
            }
            Some(_) => {
                let id = ItemId(root_text);
                if let Some(p) = parents.get(&id) {
                    self.problem(
                        Some(root_off),
                        format!(
                            "the root '{id}' must not be listed as a child (it is under '{p}')"
                        ),
                    );
                }
                Some(id)
            }
        };

        let line_of: HashMap<ItemId, usize> = items
            .iter()
            .map(|p| (p.item.id.clone(), p.id_off))
            .collect();
        let order: Vec<ItemId> = items.iter().map(|p| p.item.id.clone()).collect();
        let map: HashMap<ItemId, MenuItem> = items
            .into_iter()
            .map(|p| (p.item.id.clone(), p.item))
            .collect();

        // Cycles: with one parent per item, a cycle is a chain of parents that
        // never reaches an item without a parent. Report each cycle once.
        let mut reported: std::collections::HashSet<ItemId> = std::collections::HashSet::new();
        for id in &order {
            let mut seen: Vec<&ItemId> = vec![id];
            let mut cur = id;
            while let Some(p) = parents.get(cur) {
                if let Some(pos) = seen.iter().position(|s| *s == p) {
                    let cycle: Vec<&ItemId> = seen[pos..].to_vec();
                    if cycle.iter().all(|c| !reported.contains(*c)) {
                        // `seen` runs child → parent; show it as the file reads,
                        // parent → child, closing the loop on its first item.
                        let mut names: Vec<String> =
                            cycle.iter().rev().map(|c| c.to_string()).collect();
                        names.push(names[0].clone());
                        let off = line_of.get(p).copied();
                        self.problem(off, format!("the menu has a cycle: {}", names.join(" → ")));
                        reported.extend(cycle.into_iter().cloned());
                    }
                    break;
                }
                seen.push(p);
                cur = p;
            }
        }

        // Reachability and depth, from the root.
        if let Some(root) = &root {
            let mut depth: HashMap<&ItemId, usize> = HashMap::new();
            let mut stack = vec![(root, 1usize)];
            let mut too_deep = false;
            while let Some((id, d)) = stack.pop() {
                if depth.insert(id, d).is_some() {
                    continue;
                }
                if d > MAX_DEPTH && !too_deep {
                    too_deep = true;
                    self.problem(
                        line_of.get(id).copied(),
                        format!("'{id}' is nested {d} levels deep; the limit is {MAX_DEPTH}"),
                    );
                }
                if let Some(it) = map.get(id) {
                    for c in &it.children {
                        stack.push((c, d + 1));
                    }
                }
            }
            for id in &order {
                if !depth.contains_key(id) && !reported.contains(id) {
                    self.problem(
                        line_of.get(id).copied(),
                        format!("'{id}' cannot be reached from the root '{root}'"),
                    );
                }
            }
        }

        match root {
            Some(root) if self.problems.is_empty() => Ok(Menu {
                title: file.title,
                root,
                order,
                items: map,
                parents,
            }),
            _ => {
                let mut problems = self.problems;
                if problems.is_empty() {
                    // Only reachable when the root was bad, which is reported above.
                    problems.push(MenuProblem {
                        line: None,
                        message: "the menu has no valid root".into(),
                    });
                }
                problems.sort_by_key(|p| p.line.unwrap_or(0));
                Err(MenuErrors(problems))
            }
        }
    }
}

/// Counts of items by kind, for summaries (`menu import` prints these).
#[must_use]
pub fn kind_counts(menu: &Menu) -> BTreeMap<&'static str, usize> {
    let mut m = BTreeMap::new();
    for it in menu.items() {
        *m.entry(it.kind.as_str()).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GOOD: &str = r#"
title = "Acme"
root = "main"

[[item]]
id = "main"
kind = "submenu"
title = "Main"
children = ["billing", "call"]

[[item]]
id = "billing"
kind = "submenu"
title = "Billing"
children = ["due"]

[[item]]
id = "due"
kind = "content"
title = "When is my bill due?"
text = "On the 1st."

[[item]]
id = "call"
kind = "voice"
title = "Talk to an agent"
"#;

    fn problems(src: &str) -> Vec<String> {
        Menu::parse(src)
            .expect_err("menu should be rejected")
            .0
            .into_iter()
            .map(|p| p.to_string())
            .collect()
    }

    #[test]
    fn parses_a_good_menu_and_navigates_it() {
        let m = Menu::parse(GOOD).unwrap();
        assert_eq!(m.title(), "Acme");
        assert_eq!(m.root().as_str(), "main");
        assert_eq!(m.len(), 4);
        let titles: Vec<_> = m.children(m.root()).map(|i| i.title.as_str()).collect();
        assert_eq!(titles, ["Billing", "Talk to an agent"]);
        let due = m.item_by_str("due").unwrap();
        assert_eq!(due.text.as_deref(), Some("On the 1st."));
        assert_eq!(m.parent(&due.id).unwrap().as_str(), "billing");
        let path: Vec<_> = m.path_to(&due.id).iter().map(|i| i.to_string()).collect();
        assert_eq!(path, ["main", "billing", "due"]);
    }

    #[test]
    fn export_reads_back_equal() {
        let m = Menu::parse(GOOD).unwrap();
        let again = Menu::parse(&m.to_toml()).unwrap();
        assert_eq!(m, again);
    }

    #[test]
    fn reports_a_cycle_with_its_path() {
        let src = GOOD.replace(r#"children = ["due"]"#, r#"children = ["due", "loop"]"#)
            + r#"
[[item]]
id = "loop"
kind = "submenu"
title = "Loop"
children = ["loop2"]

[[item]]
id = "loop2"
kind = "submenu"
title = "Loop 2"
children = ["loop"]
"#;
        let p = problems(&src);
        // 'loop' is under both billing and loop2, and loop/loop2 form a cycle.
        assert!(p.iter().any(|m| m.contains("listed under both")), "{p:?}");
        let src2 = GOOD.to_owned()
            + r#"
[[item]]
id = "a"
kind = "submenu"
title = "A"
children = ["b"]

[[item]]
id = "b"
kind = "submenu"
title = "B"
children = ["a"]
"#;
        let p = problems(&src2);
        assert!(
            p.iter()
                .any(|m| m.ends_with("the menu has a cycle: b → a → b")),
            "{p:?}"
        );
        assert!(
            !p.iter().any(|m| m.contains("cannot be reached")),
            "cycle members are reported once: {p:?}"
        );
    }

    #[test]
    fn reports_every_problem_with_its_line() {
        let src = r#"title = "Acme"
root = "main"

[[item]]
id = "main"
kind = "submenu"
title = "Main"
children = ["gone", "x"]

[[item]]
id = "x"
kind = "telepathy"
title = "X"

[[item]]
id = "x"
kind = "content"
title = "dup"
text = "t"

[[item]]
id = "Bad Id"
kind = "content"
title = "t"
text = "t"

[[item]]
id = "orphan"
kind = "content"
title = "Orphan"
"#;
        let p = problems(src);
        assert!(
            p.contains(&"line 8: 'main' lists child 'gone', which is not an item".to_owned()),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("line 12:") && m.contains("unknown kind 'telepathy'")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("line 16:") && m.contains("used twice")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("line 22:") && m.contains("may only hold")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("line 28:") && m.contains("needs a `text`")),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|m| m.starts_with("line 28:") && m.contains("cannot be reached")),
            "{p:?}"
        );
    }

    #[test]
    fn rejects_syntax_errors_and_unknown_fields_with_a_line() {
        let p = problems(
            "title = \"A\"\nroot = \"m\"\n[[item]]\nid = \"m\"\nkind = \"submenu\"\ntitle = \"M\"\ncolour = \"red\"\n",
        );
        assert_eq!(p.len(), 1);
        assert!(p[0].contains("colour"), "{p:?}");
        assert!(p[0].starts_with("line 7"), "{p:?}");
        let p = problems("title = \"A\nroot = 3");
        assert!(p[0].starts_with("line 1"), "{p:?}");
    }

    #[test]
    fn root_must_be_a_known_submenu() {
        let p = problems(&GOOD.replace(r#"root = "main""#, r#"root = "due""#));
        assert!(
            p.iter().any(|m| m.contains("`root` must be a submenu")),
            "{p:?}"
        );
        let p = problems(&GOOD.replace(r#"root = "main""#, r#"root = "nope""#));
        assert!(p.iter().any(|m| m.contains("not an item")), "{p:?}");
    }

    #[test]
    fn leaves_have_no_children_and_submenus_have_some() {
        let src = GOOD.replace(
            "title = \"Talk to an agent\"",
            "title = \"Talk to an agent\"\nchildren = [\"due\"]",
        );
        let p = problems(&src);
        assert!(
            p.iter()
                .any(|m| m.contains("only submenus have `children`")),
            "{p:?}"
        );
        let src = GOOD.replace(r#"children = ["due"]"#, "children = []");
        let p = problems(&src);
        assert!(
            p.iter().any(|m| m.contains("needs at least one item")),
            "{p:?}"
        );
    }

    /// A random valid tree: item i > 0 hangs under a random earlier submenu.
    fn arb_menu() -> impl Strategy<Value = String> {
        proptest::collection::vec((any::<u8>(), 0usize..5, "[ -~]{1,20}"), 1..40).prop_map(|spec| {
            let mut kinds = vec![ItemKind::Submenu];
            let mut parent_of = vec![None];
            let mut titles = vec!["Root".to_owned()];
            for (i, (pick, kind, title)) in spec.into_iter().enumerate() {
                let subs: Vec<usize> = (0..=i).filter(|&j| kinds[j] == ItemKind::Submenu).collect();
                let parent = subs[pick as usize % subs.len()];
                kinds.push(ItemKind::ALL[kind]);
                parent_of.push(Some(parent));
                titles.push(title.trim().to_owned() + "x");
            }
            let mut out = String::from("title = \"Generated\"\nroot = \"i0\"\n");
            for (i, kind) in kinds.iter().enumerate() {
                let children: Vec<String> = (0..kinds.len())
                    .filter(|&c| parent_of[c] == Some(i))
                    .map(|c| format!("\"i{c}\""))
                    .collect();
                // An empty submenu is invalid; turn it into content.
                let kind = if *kind == ItemKind::Submenu && children.is_empty() {
                    ItemKind::Content
                } else {
                    *kind
                };
                out += &format!(
                    "[[item]]\nid = \"i{i}\"\nkind = \"{kind}\"\ntitle = {}\n",
                    toml::Value::String(titles[i].clone())
                );
                if kind == ItemKind::Content {
                    out += "text = \"Answer\\nwith two lines\"\n";
                }
                if kind == ItemKind::Submenu {
                    out += &format!("children = [{}]\n", children.join(", "));
                }
            }
            out
        })
    }

    proptest! {
        #[test]
        fn random_trees_validate_and_round_trip(src in arb_menu()) {
            let m = Menu::parse(&src).map_err(|e| TestCaseError::fail(format!("{e}\n{src}")))?;
            // Every item reaches the root through its parents.
            for it in m.items() {
                let path = m.path_to(&it.id);
                prop_assert_eq!(path[0].as_str(), "i0");
            }
            prop_assert_eq!(Menu::parse(&m.to_toml()).unwrap(), m);
        }

        #[test]
        fn arbitrary_text_never_panics(src in ".{0,400}") {
            let _ = Menu::parse(&src);
        }
    }
}
