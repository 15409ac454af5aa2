//! The answer library of the answer bot (seed 002): entries with an answer, many
//! example phrasings, tags and a language, and the two file formats a business
//! keeps them in.
//!
//! This module holds the library's types and files. Matching (BM25, semantic) is in
//! the `frontdesk-bot` crate; the hand-off rule is in [`crate::handoff`].
//!
//! Like the menu ([`crate::menu`]), a library file is checked whole: every problem
//! is reported with the line it is on, and a file with any problem gives no
//! [`Library`] at all, so an import either replaces the library or changes nothing.
//!
//! # CSV
//! One row per answer under a header row naming the columns `id`, `language`,
//! `answer`, `phrasings` and `tags` (in any order; each exactly once; no others;
//! names are not case-sensitive):
//!
//! ```csv
//! id,language,answer,phrasings,tags
//! bill-due,en,"Your bill is due on the 1st of each month.",When is my bill due?|What day do I pay?,billing
//! bill-due-zh,zh,每月1日缴费。,我的账单什么时候到期？|哪天交费？,billing
//! ```
//!
//! - `phrasings` and `tags` hold several values separated by `|`; empty pieces are
//!   ignored (a trailing `|` is harmless). A phrasing or tag therefore cannot
//!   contain `|`; the library refuses one that does in any format, so that every
//!   library can be written as CSV.
//! - Fields follow RFC 4180: an answer with commas, quotes or line breaks is quoted
//!   (`"…"`, with `""` for a quote). The file is UTF-8, with or without a byte-order
//!   mark (spreadsheets' "CSV UTF-8").
//! - Rows whose fields are all empty (spreadsheets add them) are skipped.
//!
//! # YAML
//! A list of entries with the same fields; `phrasings` and `tags` are lists, and
//! `tags` may be left out:
//!
//! ```yaml
//! - id: bill-due
//!   language: en
//!   answer: |
//!     Your bill is due on the 1st of each month.
//!     Pay in the app or at any shop.
//!   phrasings:
//!     - When is my bill due?
//!     - What day do I pay?
//!   tags: [billing]
//! ```
//!
//! Syntax errors and wrong shapes (an unknown field, a list where text belongs)
//! stop the reading at the first one, with its line. Problems with the values (the
//! rules below) are all reported, each on the line of the field or entry it is about.
//! Values are read as text: `answer: yes` is the word "yes", `id: 007` is "007".
//!
//! # The rules
//! - `id`: 1–64 bytes of `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or
//!   digit (like a menu item id, plus `.`), unique in the library.
//! - `language`: a primary language tag, two or three letters (`en`, `zh`, `yue`);
//!   stored in lower case. A region or script (`en-US`, `zh-Hans`) is refused with a
//!   hint to write the primary tag alone: the bot analyses text per language.
//! - `answer`: non-empty text or Markdown, at most [`MAX_ANSWER_BYTES`]; line breaks
//!   and tabs are fine, other control characters are not.
//! - `phrasings`: at least one non-empty phrasing, at most [`MAX_PHRASINGS`] per
//!   answer, each one line of at most [`MAX_PHRASING_CHARS`] characters.
//! - `tags`: at most [`MAX_TAGS`], each one line of at most [`MAX_TAG_CHARS`].
//! - At most [`MAX_ANSWERS`] answers and [`MAX_TOTAL_PHRASINGS`] phrasings in all.
//!
//! Text is stored normalised: every value is trimmed of surrounding white space,
//! Windows line ends in answers become `\n`, empty phrasings and tags are dropped.
//! That is what makes a library read back equal from either format (tested).
//!
//! # Layout
//! - [`Answer`]: one entry; [`Answer::normalized`], [`Answer::problems`].
//! - [`Library`]: a validated list of answers; [`Library::parse_csv`],
//!   [`Library::parse_yaml`], [`Library::to_csv`], [`Library::to_yaml`].
//! - [`AnswerFormat`]: CSV or YAML, from a file name or a flag.
//! - [`LibraryErrors`]: every problem of a file, each with its line.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;

/// Most answers in one library.
pub const MAX_ANSWERS: usize = 20_000;
/// Longest id, in bytes.
pub const MAX_ID_LEN: usize = 64;
/// Longest answer, in bytes (as a menu item's text).
pub const MAX_ANSWER_BYTES: usize = 32 * 1024;
/// Most phrasings of one answer. Generous: a library built from a labelled data set
/// has one answer per intent with every training question as a phrasing.
pub const MAX_PHRASINGS: usize = 5_000;
/// Most phrasings in the whole library.
pub const MAX_TOTAL_PHRASINGS: usize = 500_000;
/// Longest phrasing, in characters: a question, not a document.
pub const MAX_PHRASING_CHARS: usize = 500;
/// Most tags of one answer.
pub const MAX_TAGS: usize = 32;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// The columns of a CSV library, in the order [`Library::to_csv`] writes them.
pub const COLUMNS: [&str; 5] = ["id", "language", "answer", "phrasings", "tags"];

/// What separates phrasings, and tags, inside one CSV field.
pub const SEPARATOR: char = '|';

/// At most this many problems are listed for one file; [`LibraryErrors::total`]
/// says how many there were. A file exported with the wrong separator has a
/// problem on every row, and a 100,000-line answer helps nobody.
pub const MAX_LISTED_PROBLEMS: usize = 100;

/// One entry of the answer library.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Stable id (like a menu item id: lower-case letters, digits, `-`, `_`, `.`).
    pub id: String,
    /// The answer shown to the customer (plain text or Markdown).
    pub answer: String,
    /// Example phrasings of the question it answers (at least one).
    pub phrasings: Vec<String>,
    /// Free tags, for people (e.g. `billing`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// Language of the phrasings: a BCP 47 primary tag such as `en` or `zh`.
    pub language: String,
}

impl Answer {
    /// The entry as the library stores it: every value trimmed, the language in
    /// lower case, Windows line ends in the answer turned into `\n`, empty
    /// phrasings and tags dropped. Normalising twice changes nothing.
    #[must_use]
    pub fn normalized(self) -> Answer {
        let answer = self.answer.trim();
        let answer = if answer.contains('\r') {
            answer.replace("\r\n", "\n").replace('\r', "\n")
        } else {
            answer.to_owned()
        };
        Answer {
            id: self.id.trim().to_owned(),
            answer,
            phrasings: non_empty_trimmed(self.phrasings),
            tags: non_empty_trimmed(self.tags),
            language: self.language.trim().to_ascii_lowercase(),
        }
    }

    /// Everything wrong with this entry on its own (not counting clashes with other
    /// entries), in words for the person who wrote it. Empty when it is fine.
    /// Expects a [normalised](Answer::normalized) entry.
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        check_answer(self, &mut |_, m| out.push(m));
        out
    }
}

fn non_empty_trimmed(v: Vec<String>) -> Vec<String> {
    v.into_iter()
        .filter_map(|s| {
            let t = s.trim();
            (!t.is_empty()).then(|| t.to_owned())
        })
        .collect()
}

/// Checks `id` against the id rules.
///
/// # Errors
/// A human-readable reason when `id` is not a valid answer id.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("an answer needs an `id`".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!(
            "answer id {id:?} is longer than {MAX_ID_LEN} bytes"
        ));
    }
    let b = id.as_bytes();
    let first_ok = b[0].is_ascii_lowercase() || b[0].is_ascii_digit();
    let all_ok = b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'-' | b'_' | b'.'));
    if !first_ok || !all_ok {
        return Err(format!(
            "answer id {id:?} may only hold a-z, 0-9, '-', '_' and '.', and must start with a letter or digit"
        ));
    }
    Ok(())
}

/// Which part of an entry a problem is about, so a file reader can name its line.
#[derive(Debug, Clone, Copy)]
enum Field {
    Entry,
    Id,
    Language,
    Text,
    Phrasing(usize),
    Tag(usize),
}

/// Reports every problem of one normalised entry.
fn check_answer(a: &Answer, report: &mut dyn FnMut(Field, String)) {
    let who = match check_id(&a.id) {
        Ok(()) => format!("answer {:?}", a.id),
        Err(m) => {
            report(Field::Id, m);
            "this answer".to_owned()
        }
    };

    let lang = a.language.as_str();
    if lang.is_empty() {
        report(
            Field::Language,
            format!("{who} needs a `language`: a language tag such as en or zh"),
        );
    } else if !is_primary_tag(lang) {
        let primary = lang.split(['-', '_']).next().unwrap_or("");
        let message = if is_primary_tag(primary) {
            format!(
                "{who} has language {lang:?}; write the primary language tag alone, such as {primary:?}"
            )
        } else {
            format!(
                "{who} has language {lang:?}, which is not a language tag; use two or three letters such as en or zh"
            )
        };
        report(Field::Language, message);
    }

    if a.answer.is_empty() {
        report(Field::Text, format!("{who} has an empty `answer`"));
    } else if a.answer.len() > MAX_ANSWER_BYTES {
        report(
            Field::Text,
            format!(
                "{who} has an answer of {} bytes; the limit is {MAX_ANSWER_BYTES}",
                a.answer.len()
            ),
        );
    }
    if let Some(c) = a
        .answer
        .chars()
        .find(|&c| c.is_control() && c != '\n' && c != '\t')
    {
        report(
            Field::Text,
            format!(
                "{who} has a control character ({}) in its answer",
                codepoint(c)
            ),
        );
    }

    if a.phrasings.is_empty() {
        report(
            Field::Entry,
            format!("{who} needs at least one phrasing of the question it answers"),
        );
    } else if a.phrasings.len() > MAX_PHRASINGS {
        report(
            Field::Entry,
            format!(
                "{who} has {} phrasings; the limit is {MAX_PHRASINGS}",
                a.phrasings.len()
            ),
        );
    }
    for (i, p) in a.phrasings.iter().enumerate() {
        if let Some(m) = line_problem(p, MAX_PHRASING_CHARS) {
            report(
                Field::Phrasing(i),
                format!("{who}, phrasing {}: {m}", i + 1),
            );
        }
    }

    if a.tags.len() > MAX_TAGS {
        report(
            Field::Entry,
            format!("{who} has {} tags; the limit is {MAX_TAGS}", a.tags.len()),
        );
    }
    for (i, t) in a.tags.iter().enumerate() {
        if let Some(m) = line_problem(t, MAX_TAG_CHARS) {
            report(Field::Tag(i), format!("{who}, tag {:?}: {m}", t));
        }
    }
}

/// What is wrong with a one-line value (a phrasing or a tag), if anything.
fn line_problem(s: &str, max_chars: usize) -> Option<String> {
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Some(format!(
            "has a control character ({}); it must be one line of text",
            codepoint(c)
        ));
    }
    if s.contains(SEPARATOR) {
        return Some(format!(
            "contains '{SEPARATOR}', which separates values in CSV files"
        ));
    }
    let n = s.chars().count();
    (n > max_chars).then(|| format!("is {n} characters long; the limit is {max_chars}"))
}

fn codepoint(c: char) -> String {
    format!("U+{:04X}", u32::from(c))
}

/// Two or three ASCII lower-case letters: the shape of an ISO 639 primary tag.
fn is_primary_tag(s: &str) -> bool {
    (2..=3).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
}

// ---- problems ------------------------------------------------------------------

/// One problem found in a library, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibraryProblem {
    /// 1-based line in the file, when the problem has one.
    pub line: Option<usize>,
    /// 1-based position of the entry among the answers, when the problem is about
    /// one and its line is not known (a library built in code).
    pub entry: Option<usize>,
    /// What is wrong, in words a business user understands.
    pub message: String,
}

impl fmt::Display for LibraryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.entry) {
            (Some(line), _) => write!(f, "line {line}: {}", self.message),
            (None, Some(entry)) => write!(f, "entry {entry}: {}", self.message),
            (None, None) => f.write_str(&self.message),
        }
    }
}

/// Every problem found in a library (the first [`MAX_LISTED_PROBLEMS`] by line).
/// Never empty.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LibraryErrors {
    /// The problems listed, in line order.
    pub problems: Vec<LibraryProblem>,
    /// How many there were in all (at least `problems.len()`).
    pub total: usize,
}

impl LibraryErrors {
    fn one(line: Option<usize>, message: impl Into<String>) -> Self {
        Self {
            problems: vec![LibraryProblem {
                line,
                entry: None,
                message: message.into(),
            }],
            total: 1,
        }
    }

    fn from_all(mut problems: Vec<LibraryProblem>) -> Self {
        // Stable: problems on one line keep the order they were found in.
        problems.sort_by_key(|p| (p.line.unwrap_or(0), p.entry.unwrap_or(0)));
        let total = problems.len();
        problems.truncate(MAX_LISTED_PROBLEMS);
        Self { problems, total }
    }
}

impl fmt::Display for LibraryErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.total;
        writeln!(
            f,
            "the answer library has {n} problem{}:",
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            writeln!(f, "  {p}")?;
        }
        if n > self.problems.len() {
            writeln!(f, "  … and {} more", n - self.problems.len())?;
        }
        Ok(())
    }
}

// ---- formats -------------------------------------------------------------------

/// The file formats of a library.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnswerFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// A YAML list of entries.
    Yaml,
}

impl AnswerFormat {
    /// Both formats.
    pub const ALL: [AnswerFormat; 2] = [AnswerFormat::Csv, AnswerFormat::Yaml];

    /// The format a file name's extension says: `.csv`, or `.yaml`/`.yml` (any
    /// case). `None` for anything else, so the caller can ask for `--format`.
    #[must_use]
    pub fn from_path_extension(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" => Some(AnswerFormat::Csv),
            "yaml" | "yml" => Some(AnswerFormat::Yaml),
            _ => None,
        }
    }

    /// The name used on the command line: `csv` or `yaml`.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            AnswerFormat::Csv => "csv",
            AnswerFormat::Yaml => "yaml",
        }
    }

    /// The media type, for HTTP.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            AnswerFormat::Csv => "text/csv; charset=utf-8",
            AnswerFormat::Yaml => "application/yaml",
        }
    }
}

impl fmt::Display for AnswerFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AnswerFormat {
    type Err = String;

    /// `csv`, `yaml` or `yml`, any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(AnswerFormat::Csv),
            "yaml" | "yml" => Ok(AnswerFormat::Yaml),
            _ => Err(format!("unknown answer file format {s:?} (csv or yaml)")),
        }
    }
}

// ---- the library ---------------------------------------------------------------

/// A validated answer library: every entry normalised and valid, ids unique, within
/// the limits. Entries keep the order they were given in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Library {
    answers: Vec<Answer>,
    /// id → position in `answers`.
    index: HashMap<String, usize>,
}

/// Where the parts of one entry are in its file, for problems about them.
#[derive(Debug, Default)]
struct Spots {
    /// 1-based position among the entries.
    entry: usize,
    /// The entry's line (a CSV row, the start of a YAML entry).
    at: Option<usize>,
    id: Option<usize>,
    language: Option<usize>,
    text: Option<usize>,
    phrasings: Vec<Option<usize>>,
    tags: Vec<Option<usize>>,
}

impl Spots {
    fn row(entry: usize, line: Option<usize>) -> Self {
        Self {
            entry,
            at: line,
            ..Self::default()
        }
    }

    fn line(&self, f: Field) -> Option<usize> {
        let specific = match f {
            Field::Entry => None,
            Field::Id => self.id,
            Field::Language => self.language,
            Field::Text => self.text,
            Field::Phrasing(i) => self.phrasings.get(i).copied().flatten(),
            Field::Tag(i) => self.tags.get(i).copied().flatten(),
        };
        specific.or(self.at)
    }

    fn problem(&self, f: Field, message: String) -> LibraryProblem {
        let line = self.line(f);
        LibraryProblem {
            line,
            entry: line.is_none().then_some(self.entry),
            message,
        }
    }
}

impl Library {
    /// An empty library: the bot has nothing to answer with. Valid as a state (no
    /// import yet, every entry deleted), though an empty *file* is refused.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// Validates answers given in code (the REST API, a data set): each is
    /// normalised first. An empty list gives an empty library.
    ///
    /// # Errors
    /// [`LibraryErrors`] with every problem, each naming its entry's position.
    pub fn new(answers: Vec<Answer>) -> Result<Self, LibraryErrors> {
        let entries = answers
            .into_iter()
            .enumerate()
            .map(|(i, a)| (a.normalized(), Spots::row(i + 1, None)))
            .collect();
        build(entries, Vec::new())
    }

    /// Reads a library file in either format.
    ///
    /// # Errors
    /// As [`Library::parse_csv`] and [`Library::parse_yaml`].
    pub fn parse(format: AnswerFormat, data: &[u8]) -> Result<Self, LibraryErrors> {
        match format {
            AnswerFormat::Csv => Self::parse_csv(data),
            AnswerFormat::Yaml => Self::parse_yaml(data),
        }
    }

    /// Reads and validates a whole CSV library (format in the module docs).
    ///
    /// # Errors
    /// [`LibraryErrors`] with every problem and its line: an empty file or one with
    /// only a header; a missing, unknown or repeated column; rows with the wrong
    /// number of fields or that are not UTF-8; every value that breaks a rule; an id
    /// used twice (on the second line, naming the first). Nothing partial is
    /// returned.
    pub fn parse_csv(data: &[u8]) -> Result<Self, LibraryErrors> {
        let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
        if data.iter().all(u8::is_ascii_whitespace) {
            return Err(LibraryErrors::one(
                None,
                format!(
                    "the file is empty; a CSV answer library starts with the header row {} and has one row per answer",
                    COLUMNS.join(",")
                ),
            ));
        }
        let mut rdr = crate::csvfile::reader(data);
        let header = match rdr.headers() {
            Ok(h) => h.clone(),
            Err(e) => return Err(LibraryErrors::one(Some(1), crate::csvfile::message(&e))),
        };
        let mut problems = Vec::new();
        let Some(columns) = header_columns(&header, &mut problems) else {
            return Err(LibraryErrors::from_all(problems));
        };
        let mut entries = Vec::new();
        let mut record = csv::StringRecord::new();
        loop {
            match rdr.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    problems.push(LibraryProblem {
                        line: csv_line(e.position()),
                        entry: None,
                        message: crate::csvfile::message(&e),
                    });
                    continue;
                }
            }
            let line = csv_line(record.position());
            if record.iter().all(str::is_empty) {
                continue;
            }
            if record.len() != header.len() {
                problems.push(LibraryProblem {
                    line,
                    entry: None,
                    message: format!(
                        "the row has {} field{}; the header has {}",
                        record.len(),
                        if record.len() == 1 { "" } else { "s" },
                        header.len()
                    ),
                });
                continue;
            }
            let field = |c: usize| record.get(columns[c]).unwrap_or("");
            let list = |c: usize| -> Vec<String> {
                field(c).split(SEPARATOR).map(str::to_owned).collect()
            };
            let answer = Answer {
                id: field(0).to_owned(),
                language: field(1).to_owned(),
                answer: field(2).to_owned(),
                phrasings: list(3),
                tags: list(4),
            };
            entries.push((answer.normalized(), Spots::row(entries.len() + 1, line)));
        }
        if entries.is_empty() && problems.is_empty() {
            return Err(LibraryErrors::one(
                None,
                "the file has a header row but no answers",
            ));
        }
        build(entries, problems)
    }

    /// Reads and validates a whole YAML library (format in the module docs).
    ///
    /// # Errors
    /// [`LibraryErrors`]: a syntax error or a wrong shape (unknown field, a list
    /// where text belongs, a file that is not a list) stops reading and is the one
    /// problem, with its line; otherwise every value that breaks a rule and every id
    /// used twice, each on the line of its field or entry. An empty file, or one with
    /// no entries, is refused. Nothing partial is returned.
    pub fn parse_yaml(data: &[u8]) -> Result<Self, LibraryErrors> {
        let text = match std::str::from_utf8(data) {
            Ok(t) => t,
            Err(e) => {
                let before = &data[..e.valid_up_to()];
                let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
                return Err(LibraryErrors::one(
                    Some(line),
                    "is not valid UTF-8 text (save the file as UTF-8)",
                ));
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let empty = || {
            LibraryErrors::one(
                None,
                "the file has no answers; a YAML answer library is a list of entries, each starting with `- id: …`",
            )
        };
        if text.trim().is_empty() {
            return Err(empty());
        }
        let file: YamlFile = serde_saphyr::from_str_with_options(text, yaml_options())
            .map_err(|e| yaml_error(&e))?;
        if file.0.is_empty() {
            return Err(empty());
        }
        let entries = file
            .0
            .into_iter()
            .enumerate()
            .map(|(i, e)| yaml_entry(i + 1, e))
            .collect();
        build(entries, Vec::new())
    }

    /// The library as a CSV file that [`Library::parse_csv`] reads back equal (for
    /// a non-empty library): the header row, then one row per answer in order,
    /// `\n` line ends.
    #[must_use]
    pub fn to_csv(&self) -> String {
        let mut w = csv::WriterBuilder::new()
            .terminator(csv::Terminator::Any(b'\n'))
            .from_writer(Vec::new());
        let sep = SEPARATOR.to_string();
        // Writing to a `Vec` cannot fail; a failure would leave the output short
        // rather than panic, and the round-trip tests would catch it.
        let _ = w.write_record(COLUMNS);
        for a in &self.answers {
            let _ = w.write_record([
                a.id.as_str(),
                a.language.as_str(),
                a.answer.as_str(),
                &a.phrasings.join(&sep),
                &a.tags.join(&sep),
            ]);
        }
        let bytes = w.into_inner().unwrap_or_default();
        // Every field is a `String`, so the output is UTF-8.
        String::from_utf8(bytes).unwrap_or_default()
    }

    /// The library as a YAML file that [`Library::parse_yaml`] reads back equal (for
    /// a non-empty library). Multi-line answers are written as `|` blocks.
    #[must_use]
    pub fn to_yaml(&self) -> String {
        let out: Vec<EntryOut<'_>> = self
            .answers
            .iter()
            .map(|a| EntryOut {
                id: &a.id,
                language: &a.language,
                answer: &a.answer,
                phrasings: &a.phrasings,
                tags: &a.tags,
            })
            .collect();
        // Serialising strings and lists cannot fail; fall back to an empty document
        // rather than panic, as `Menu::to_toml` does.
        serde_saphyr::to_string(&out).unwrap_or_default()
    }

    /// The library in `format`.
    #[must_use]
    pub fn to_format(&self, format: AnswerFormat) -> String {
        match format {
            AnswerFormat::Csv => self.to_csv(),
            AnswerFormat::Yaml => self.to_yaml(),
        }
    }

    /// Every answer, in order.
    #[must_use]
    pub fn answers(&self) -> &[Answer] {
        &self.answers
    }

    /// Every answer, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Answer> {
        self.answers.iter()
    }

    /// The answers, for whoever builds something from them.
    #[must_use]
    pub fn into_answers(self) -> Vec<Answer> {
        self.answers
    }

    /// Looks up an answer by id.
    #[must_use]
    pub fn get(&self, id: &str) -> Option<&Answer> {
        self.index.get(id).and_then(|&i| self.answers.get(i))
    }

    /// Number of answers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether there are no answers.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }

    /// Number of phrasings over all answers.
    #[must_use]
    pub fn phrasing_count(&self) -> usize {
        self.answers.iter().map(|a| a.phrasings.len()).sum()
    }

    /// The languages the library has answers in, sorted.
    #[must_use]
    pub fn languages(&self) -> BTreeSet<&str> {
        self.answers.iter().map(|a| a.language.as_str()).collect()
    }

    /// Adds an answer, or replaces the one with the same id (keeping its place).
    /// Returns the replaced answer.
    ///
    /// # Errors
    /// [`LibraryErrors`] when the answer breaks a rule or the library would go over
    /// its limits; the library is then unchanged.
    pub fn upsert(&mut self, answer: Answer) -> Result<Option<Answer>, LibraryErrors> {
        let answer = answer.normalized();
        let mut problems = Vec::new();
        check_answer(&answer, &mut |_, message| {
            problems.push(LibraryProblem {
                line: None,
                entry: None,
                message,
            });
        });
        let replacing = self.index.get(&answer.id).copied();
        let (count, phrasings) = match replacing.and_then(|i| self.answers.get(i)) {
            Some(old) => (
                self.len(),
                self.phrasing_count() - old.phrasings.len() + answer.phrasings.len(),
            ),
            None => (
                self.len() + 1,
                self.phrasing_count() + answer.phrasings.len(),
            ),
        };
        check_totals(count, phrasings, &mut problems);
        if !problems.is_empty() {
            return Err(LibraryErrors::from_all(problems));
        }
        match replacing {
            Some(i) => Ok(self
                .answers
                .get_mut(i)
                .map(|slot| std::mem::replace(slot, answer))),
            None => {
                self.index.insert(answer.id.clone(), self.answers.len());
                self.answers.push(answer);
                Ok(None)
            }
        }
    }

    /// Removes an answer by id, returning it.
    pub fn remove(&mut self, id: &str) -> Option<Answer> {
        let i = self.index.remove(id)?;
        let removed = self.answers.remove(i);
        for pos in self.index.values_mut() {
            if *pos > i {
                *pos -= 1;
            }
        }
        Some(removed)
    }
}

impl<'a> IntoIterator for &'a Library {
    type Item = &'a Answer;
    type IntoIter = std::slice::Iter<'a, Answer>;

    fn into_iter(self) -> Self::IntoIter {
        self.answers.iter()
    }
}

/// Checks normalised entries (each with where it is), the ids across them and the
/// limits, adding to `problems` from reading; a library only if there are none.
fn build(
    entries: Vec<(Answer, Spots)>,
    mut problems: Vec<LibraryProblem>,
) -> Result<Library, LibraryErrors> {
    let mut first: HashMap<&str, &Spots> = HashMap::new();
    let mut phrasings = 0usize;
    for (a, spots) in &entries {
        check_answer(a, &mut |f, m| problems.push(spots.problem(f, m)));
        phrasings += a.phrasings.len();
        if a.id.is_empty() || check_id(&a.id).is_err() {
            continue;
        }
        match first.get(a.id.as_str()) {
            Some(prev) => {
                let at = match prev.line(Field::Id) {
                    Some(line) => format!("line {line}"),
                    None => format!("entry {}", prev.entry),
                };
                problems.push(spots.problem(
                    Field::Id,
                    format!("answer id {:?} is used twice (first on {at})", a.id),
                ));
            }
            None => {
                first.insert(&a.id, spots);
            }
        }
    }
    check_totals(entries.len(), phrasings, &mut problems);
    if !problems.is_empty() {
        return Err(LibraryErrors::from_all(problems));
    }
    let answers: Vec<Answer> = entries.into_iter().map(|(a, _)| a).collect();
    let index = answers
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.clone(), i))
        .collect();
    Ok(Library { answers, index })
}

fn check_totals(answers: usize, phrasings: usize, problems: &mut Vec<LibraryProblem>) {
    if answers > MAX_ANSWERS {
        problems.push(LibraryProblem {
            line: None,
            entry: None,
            message: format!("the library has {answers} answers; the limit is {MAX_ANSWERS}"),
        });
    }
    if phrasings > MAX_TOTAL_PHRASINGS {
        problems.push(LibraryProblem {
            line: None,
            entry: None,
            message: format!(
                "the library has {phrasings} phrasings in all; the limit is {MAX_TOTAL_PHRASINGS}"
            ),
        });
    }
}

// ---- CSV -----------------------------------------------------------------------

fn csv_line(pos: Option<&csv::Position>) -> Option<usize> {
    pos.and_then(|p| usize::try_from(p.line()).ok())
}

/// Maps each of [`COLUMNS`] to its position in the header, or reports why not.
fn header_columns(
    header: &csv::StringRecord,
    problems: &mut Vec<LibraryProblem>,
) -> Option<[usize; 5]> {
    let line = csv_line(header.position()).or(Some(1));
    let mut report = |message: String| {
        problems.push(LibraryProblem {
            line,
            entry: None,
            message,
        });
    };
    let mut at = [usize::MAX; 5];
    let mut ok = true;
    for (i, name) in header.iter().enumerate() {
        let key = name.to_ascii_lowercase();
        match COLUMNS.iter().position(|c| *c == key) {
            Some(c) if at[c] != usize::MAX => {
                report(format!("column {name:?} appears twice"));
                ok = false;
            }
            Some(c) => at[c] = i,
            None => {
                report(format!("unknown column {name:?}"));
                ok = false;
            }
        }
    }
    let missing: Vec<String> = COLUMNS
        .iter()
        .zip(at)
        .filter(|(_, pos)| *pos == usize::MAX)
        .map(|(c, _)| format!("'{c}'"))
        .collect();
    if !missing.is_empty() {
        report(format!(
            "missing column{} {} (the header row must name the columns {})",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            COLUMNS.join(",")
        ));
        ok = false;
    }
    ok.then_some(at)
}

// ---- YAML ----------------------------------------------------------------------

/// One entry as read. Every field is optional here so that a missing one is
/// reported by the rules, with the others, instead of stopping the reading.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryIn {
    #[serde(default)]
    id: Option<Spanned<String>>,
    #[serde(default)]
    language: Option<Spanned<String>>,
    #[serde(default)]
    answer: Option<Spanned<String>>,
    #[serde(default)]
    phrasings: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    tags: Option<Vec<Spanned<String>>>,
}

/// The entry as [`Library::to_yaml`] writes it. Same fields as [`EntryIn`].
#[derive(Serialize)]
struct EntryOut<'a> {
    id: &'a str,
    language: &'a str,
    answer: &'a str,
    phrasings: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    tags: &'a [String],
}

/// The whole file: a list of entries. Read through `deserialize_any` so that a file
/// that is not a list gets a message saying what it should be, and a file of only
/// comments reads as no entries.
struct YamlFile(Vec<Spanned<EntryIn>>);

impl<'de> Deserialize<'de> for YamlFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = YamlFile;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of answers, each starting with `- id:`")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<YamlFile, A::Error> {
                let mut out = Vec::new();
                while let Some(e) = seq.next_element()? {
                    out.push(e);
                }
                Ok(YamlFile(out))
            }
            fn visit_unit<E: de::Error>(self) -> Result<YamlFile, E> {
                Ok(YamlFile(Vec::new()))
            }
            fn visit_none<E: de::Error>(self) -> Result<YamlFile, E> {
                Ok(YamlFile(Vec::new()))
            }
        }
        d.deserialize_any(V)
    }
}

fn yaml_options() -> serde_saphyr::Options {
    // The default budget (250,000 nodes) is below a library at its limits; these
    // follow from MAX_ANSWERS, MAX_TOTAL_PHRASINGS and MAX_TAGS with room for keys.
    // The other protections (alias expansion, depth, scalar bytes) keep their
    // defaults.
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_nodes: 2_000_000,
            max_events: 4_000_000,
            max_depth: 16,
        },
        // Problems are listed one per line; a rendered snippet would not fit.
        with_snippet: false,
    }
}

fn loc_line(l: serde_saphyr::Location) -> Option<usize> {
    usize::try_from(l.line()).ok().filter(|&n| n > 0)
}

fn yaml_error(e: &serde_saphyr::Error) -> LibraryErrors {
    use serde_saphyr::Error as E;
    let line = e.location().and_then(loc_line);
    // The crate's messages are written for developers in places ("set
    // DuplicateKeyPolicy in Options"); the ones a business user is likely to meet
    // in this format are reworded.
    let message = match e {
        E::DuplicateMappingKey { key: Some(k), .. } => {
            format!("{k:?} appears twice in one entry")
        }
        E::DuplicateMappingKey { key: None, .. } => "a field appears twice in one entry".into(),
        E::MultipleDocuments { .. } => {
            "the file holds more than one YAML document (a second `---`); put every answer in one list".into()
        }
        E::Unexpected {
            expected: "mapping start",
            ..
        } => format!(
            "each answer must be a set of fields ({}), each on its own line as `field: value`",
            COLUMNS.join(", ")
        ),
        E::Unexpected {
            expected: "string scalar",
            ..
        } => "expected text here, not a list or a set of fields".into(),
        _ => {
            // The crate's message ends with the place; the line is shown in front.
            let message = e.to_string();
            match e.location() {
                Some(loc) => {
                    let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                    message.strip_suffix(&suffix).map_or(message.clone(), |m| {
                        format!("{m} (column {})", loc.column())
                    })
                }
                None => message,
            }
        }
    };
    LibraryErrors::one(line, message)
}

/// Turns a read entry into a (normalised) answer and the lines of its parts.
/// Empty phrasings and tags are dropped here, together with their lines, so that
/// the lines stay aligned with what the rules check.
fn yaml_entry(entry: usize, e: Spanned<EntryIn>) -> (Answer, Spots) {
    let at = loc_line(e.referenced);
    let e = e.value;
    let text = |v: Option<Spanned<String>>| match v {
        Some(s) => (s.value, loc_line(s.referenced)),
        None => (String::new(), None),
    };
    let list = |v: Option<Vec<Spanned<String>>>| -> (Vec<String>, Vec<Option<usize>>) {
        v.unwrap_or_default()
            .into_iter()
            .filter_map(|s| {
                let t = s.value.trim();
                (!t.is_empty()).then(|| (t.to_owned(), loc_line(s.referenced)))
            })
            .unzip()
    };
    let (id, id_line) = text(e.id);
    let (language, language_line) = text(e.language);
    let (answer, text_line) = text(e.answer);
    let (phrasings, phrasing_lines) = list(e.phrasings);
    let (tags, tag_lines) = list(e.tags);
    let answer = Answer {
        id,
        answer,
        phrasings,
        tags,
        language,
    }
    .normalized();
    let spots = Spots {
        entry,
        at,
        id: id_line,
        language: language_line,
        text: text_line,
        phrasings: phrasing_lines,
        tags: tag_lines,
    };
    (answer, spots)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const CSV: &str = "id,language,answer,phrasings,tags
bill-due,en,Your bill is due on the 1st.,When is my bill due?|What day do I pay?,billing
roaming,en,\"Roaming is free in the EU.
Elsewhere, see the price list.\",Does roaming cost extra?,billing|travel
bill-due-zh,zh,每月1日缴费。,我的账单什么时候到期？|哪天交费？,
";

    const YAML: &str = "\
# The demo library.
- id: bill-due
  language: en
  answer: Your bill is due on the 1st.
  phrasings:
    - When is my bill due?
    - What day do I pay?
  tags: [billing]
- id: roaming
  language: en
  answer: |
    Roaming is free in the EU.
    Elsewhere, see the price list.
  phrasings: [Does roaming cost extra?]
  tags:
    - billing
    - travel
- id: bill-due-zh
  language: zh
  answer: 每月1日缴费。
  phrasings:
    - 我的账单什么时候到期？
    - 哪天交费？
";

    fn csv_problems(src: &str) -> Vec<String> {
        Library::parse_csv(src.as_bytes())
            .expect_err("the file should be refused")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn yaml_problems(src: &str) -> Vec<String> {
        Library::parse_yaml(src.as_bytes())
            .expect_err("the file should be refused")
            .problems
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn has(problems: &[String], line: &str, text: &str) -> bool {
        problems
            .iter()
            .any(|p| p.starts_with(&format!("{line}:")) && p.contains(text))
    }

    #[test]
    fn reads_a_good_csv() {
        let lib = Library::parse_csv(CSV.as_bytes()).unwrap();
        assert_eq!(lib.len(), 3);
        let roaming = lib.get("roaming").unwrap();
        assert_eq!(
            roaming.answer,
            "Roaming is free in the EU.\nElsewhere, see the price list."
        );
        assert_eq!(roaming.tags, ["billing", "travel"]);
        let zh = lib.get("bill-due-zh").unwrap();
        assert_eq!(zh.phrasings, ["我的账单什么时候到期？", "哪天交费？"]);
        assert!(zh.tags.is_empty());
        assert_eq!(
            lib.languages().into_iter().collect::<Vec<_>>(),
            ["en", "zh"]
        );
        assert_eq!(lib.phrasing_count(), 5);
    }

    #[test]
    fn csv_and_yaml_of_the_same_library_are_equal() {
        let a = Library::parse_csv(CSV.as_bytes()).unwrap();
        let b = Library::parse_yaml(YAML.as_bytes()).unwrap();
        assert_eq!(a, b);
        assert_eq!(Library::parse_yaml(a.to_yaml().as_bytes()).unwrap(), a);
        assert_eq!(Library::parse_csv(b.to_csv().as_bytes()).unwrap(), b);
    }

    #[test]
    fn csv_columns_in_any_order_with_spreadsheet_habits() {
        // A byte-order mark, upper-case names, another column order, padding,
        // a trailing '|', CRLF line ends and a blank row.
        let src = "\u{feff}Tags,ID,Phrasings,Language,Answer\r\n billing , bill-due ,When is my bill due?|,EN,  On the 1st.  \r\n,,,,\r\n";
        let lib = Library::parse_csv(src.as_bytes()).unwrap();
        assert_eq!(
            lib.answers(),
            [Answer {
                id: "bill-due".into(),
                answer: "On the 1st.".into(),
                phrasings: vec!["When is my bill due?".into()],
                tags: vec!["billing".into()],
                language: "en".into(),
            }]
        );
    }

    #[test]
    fn csv_reports_every_bad_row_with_its_line() {
        let src = "id,language,answer,phrasings,tags
good,en,Fine.,A question?,
Bad Id,en,Fine.,A question?,
no-answer,en,,A question?,
no-phrasing,en,Fine.,|,
region,en-US,Fine.,A question?,
english,english,Fine.,A question?,
short,en,Fine.
,,,,
";
        let p = csv_problems(src);
        assert!(
            has(&p, "line 3", "answer id \"Bad Id\" may only hold"),
            "{p:?}"
        );
        assert!(
            has(&p, "line 4", "answer \"no-answer\" has an empty `answer`"),
            "{p:?}"
        );
        assert!(has(&p, "line 5", "needs at least one phrasing"), "{p:?}");
        assert!(
            has(
                &p,
                "line 6",
                "write the primary language tag alone, such as \"en\""
            ),
            "{p:?}"
        );
        assert!(
            has(&p, "line 7", "\"english\", which is not a language tag"),
            "{p:?}"
        );
        assert!(
            has(&p, "line 8", "the row has 3 fields; the header has 5"),
            "{p:?}"
        );
        assert_eq!(p.len(), 6, "{p:?}");
    }

    #[test]
    fn csv_line_numbers_count_multi_line_fields() {
        let src = "id,language,answer,phrasings,tags
a,en,\"one
two
three\",Q?,
b,en,,Q?,
";
        let p = csv_problems(src);
        assert_eq!(p, ["line 5: answer \"b\" has an empty `answer`"]);
    }

    #[test]
    fn duplicate_id_names_both_lines() {
        let src = "id,language,answer,phrasings,tags
dup,en,First.,Q1?,
other,en,Other.,Q2?,
dup,en,Second.,Q3?,
";
        let p = csv_problems(src);
        assert_eq!(
            p,
            ["line 4: answer id \"dup\" is used twice (first on line 2)"]
        );
        let yaml = "- id: dup\n  language: en\n  answer: A\n  phrasings: [q]\n- id: dup\n  language: en\n  answer: B\n  phrasings: [q]\n";
        let p = yaml_problems(yaml);
        assert_eq!(
            p,
            ["line 5: answer id \"dup\" is used twice (first on line 1)"]
        );
    }

    #[test]
    fn empty_files_are_refused_clearly() {
        for src in ["", "  \n", "\u{feff}"] {
            let p = csv_problems(src);
            assert_eq!(p.len(), 1);
            assert!(p[0].starts_with("the file is empty"), "{p:?}");
            assert!(p[0].contains("id,language,answer,phrasings,tags"), "{p:?}");
        }
        let p = csv_problems("id,language,answer,phrasings,tags\n");
        assert_eq!(p, ["the file has a header row but no answers"]);
        for src in ["", "\n\n", "# nothing yet\n", "~\n", "[]\n"] {
            let p = yaml_problems(src);
            assert_eq!(p.len(), 1, "{src:?}");
            assert!(p[0].starts_with("the file has no answers"), "{p:?}");
        }
        // An empty library is a valid state, just not a valid file.
        assert!(Library::new(Vec::new()).unwrap().is_empty());
    }

    #[test]
    fn missing_unknown_and_repeated_columns() {
        let p = csv_problems("id,language,answer,tags\nx,en,A,\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(
            p[0].starts_with("line 1: missing column 'phrasings'"),
            "{p:?}"
        );
        let p = csv_problems("id,language,answer,phrasing,tags,id\nx,en,A,Q?,,x\n");
        assert!(has(&p, "line 1", "unknown column \"phrasing\""), "{p:?}");
        assert!(has(&p, "line 1", "column \"id\" appears twice"), "{p:?}");
        assert!(has(&p, "line 1", "missing column 'phrasings'"), "{p:?}");
        // A data row mistaken for a header.
        let p = csv_problems("x,en,A,Q?,\n");
        assert!(
            has(
                &p,
                "line 1",
                "missing columns 'id', 'language', 'answer', 'phrasings', 'tags'"
            ),
            "{p:?}"
        );
    }

    #[test]
    fn control_characters_are_refused_and_shown_escaped() {
        let src = "id,language,answer,phrasings,tags
a\u{1}b,en,Fine.,Q?,
bell,en,Ring\u{7}!,Q?,
tab,en,Fine.,Tab\there?,
ok,en,\"Line\tand\nline\",Q?,
";
        let p = csv_problems(src);
        assert!(
            has(&p, "line 2", "answer id \"a\\u{1}b\" may only hold"),
            "{p:?}"
        );
        assert!(
            has(
                &p,
                "line 3",
                "has a control character (U+0007) in its answer"
            ),
            "{p:?}"
        );
        assert!(
            has(&p, "line 4", "phrasing 1: has a control character (U+0009)"),
            "{p:?}"
        );
        assert_eq!(p.len(), 3, "tabs and newlines are fine in answers: {p:?}");
        // Nothing in a message is a raw control character.
        assert!(p.iter().all(|m| !m.chars().any(char::is_control)), "{p:?}");
    }

    #[test]
    fn bad_utf8_is_reported_with_its_line() {
        let mut src = b"id,language,answer,phrasings,tags\nok,en,Fine.,Q?,\n".to_vec();
        src.extend_from_slice(b"latin,en,Caf\xe9,Q?,\n");
        let e = Library::parse_csv(&src).unwrap_err();
        assert_eq!(e.problems[0].line, Some(3), "{e}");
        assert!(e.problems[0].message.contains("not valid UTF-8"), "{e}");
        let e = Library::parse_yaml(b"- id: a\n  answer: Caf\xe9\n").unwrap_err();
        assert_eq!(e.problems[0].line, Some(2), "{e}");
    }

    #[test]
    fn yaml_reports_every_value_problem_on_its_line() {
        let src = "\
- id: good
  language: en
  answer: Fine.
  phrasings: [Q?]
- id: Bad.Id
  language: en
  answer: Fine.
  phrasings: [Q?]
- id: no-answer
  language: zh
  phrasings:
    - Q?
- id: no-phrasings
  language: en
  answer: Fine.
- language: en
  answer: Fine.
  phrasings:
    - ok
    - \"bell\\a\"
";
        let p = yaml_problems(src);
        assert!(
            has(&p, "line 5", "answer id \"Bad.Id\" may only hold"),
            "{p:?}"
        );
        assert!(
            has(&p, "line 9", "answer \"no-answer\" has an empty `answer`"),
            "{p:?}"
        );
        assert!(has(&p, "line 13", "needs at least one phrasing"), "{p:?}");
        assert!(has(&p, "line 16", "an answer needs an `id`"), "{p:?}");
        assert!(
            has(
                &p,
                "line 20",
                "phrasing 2: has a control character (U+0007)"
            ),
            "{p:?}"
        );
        assert_eq!(p.len(), 5, "{p:?}");
    }

    #[test]
    fn yaml_syntax_and_shape_errors_carry_a_line() {
        let p = yaml_problems("- id: a\n  language: en\n  colour: red\n");
        assert_eq!(p.len(), 1);
        assert!(
            p[0].starts_with("line 3:") && p[0].contains("colour"),
            "{p:?}"
        );
        let p = yaml_problems("- id: a\n  phrasings: [unclosed\n- id: b\n");
        assert!(p[0].starts_with("line "), "{p:?}");
        let p = yaml_problems("id: a\nlanguage: en\n");
        assert!(
            p[0].starts_with("line 1:") && p[0].contains("a list of answers"),
            "{p:?}"
        );
        let p = yaml_problems("- id: a\n  answer: [x, y]\n");
        assert_eq!(
            p,
            ["line 2: expected text here, not a list or a set of fields"]
        );
        let p = yaml_problems("- id: a\n  id: b\n");
        assert_eq!(p, ["line 2: \"id\" appears twice in one entry"]);
        let p = yaml_problems("- just text\n");
        assert!(
            p[0].starts_with("line 1: each answer must be a set of fields"),
            "{p:?}"
        );
        let p = yaml_problems("---\n- id: a\n---\n- id: b\n");
        assert!(p[0].contains("more than one YAML document"), "{p:?}");
    }

    #[test]
    fn yaml_values_are_text() {
        let src = "- id: 007\n  language: EN\n  answer: yes\n  phrasings: [1.50, null?, 'no']\n";
        let lib = Library::parse_yaml(src.as_bytes()).unwrap();
        let a = &lib.answers()[0];
        assert_eq!(a.id, "007");
        assert_eq!(a.language, "en");
        assert_eq!(a.answer, "yes");
        assert_eq!(a.phrasings, ["1.50", "null?", "no"]);
    }

    #[test]
    fn library_in_code_names_entries() {
        let a = Answer {
            id: "x".into(),
            answer: "A".into(),
            phrasings: vec!["q".into()],
            tags: vec![],
            language: "en".into(),
        };
        let e = Library::new(vec![
            a.clone(),
            Answer {
                phrasings: vec!["  ".into()],
                ..a.clone()
            },
        ])
        .unwrap_err();
        let p: Vec<String> = e.problems.iter().map(ToString::to_string).collect();
        assert!(
            p.contains(
                &"entry 2: answer \"x\" needs at least one phrasing of the question it answers"
                    .to_owned()
            ),
            "{p:?}"
        );
        assert!(
            p.contains(&"entry 2: answer id \"x\" is used twice (first on entry 1)".to_owned()),
            "{p:?}"
        );
        let pipe = Answer {
            phrasings: vec!["a|b".into()],
            ..a.clone()
        };
        assert!(pipe.problems()[0].contains("separates values in CSV files"));
    }

    #[test]
    fn upsert_and_remove_keep_the_library_valid() {
        let a = |id: &str, text: &str| Answer {
            id: id.into(),
            answer: text.into(),
            phrasings: vec!["q".into()],
            tags: vec![],
            language: "en".into(),
        };
        let mut lib = Library::empty();
        assert_eq!(lib.upsert(a("x", "one")).unwrap(), None);
        assert_eq!(lib.upsert(a("y", "two")).unwrap(), None);
        assert_eq!(lib.upsert(a("x", " three ")).unwrap(), Some(a("x", "one")));
        assert_eq!(lib.get("x").unwrap().answer, "three");
        assert!(lib.upsert(a("Nope", "x")).is_err());
        assert_eq!(lib.len(), 2);
        assert_eq!(lib.remove("x").unwrap().answer, "three");
        assert_eq!(lib.get("y").unwrap().answer, "two");
        assert_eq!(lib.remove("x"), None);
        assert_eq!(lib, Library::new(vec![a("y", "two")]).unwrap());
    }

    #[test]
    fn limits_are_enforced() {
        let long = "x".repeat(MAX_ANSWER_BYTES + 1);
        let src = format!(
            "id,language,answer,phrasings,tags\nbig,en,{long},{},{}\n",
            "q".repeat(MAX_PHRASING_CHARS + 1),
            ["t"; MAX_TAGS + 1].join("|")
        );
        let p = csv_problems(&src);
        assert!(has(&p, "line 2", "bytes; the limit is 32768"), "{p:?}");
        assert!(
            has(
                &p,
                "line 2",
                "phrasing 1: is 501 characters long; the limit is 500"
            ),
            "{p:?}"
        );
        assert!(has(&p, "line 2", "has 33 tags; the limit is 32"), "{p:?}");
        let p = csv_problems(&format!(
            "id,language,answer,phrasings,tags\n{}-long,en,A,Q,\n",
            "x".repeat(MAX_ID_LEN)
        ));
        assert!(has(&p, "line 2", "is longer than 64 bytes"), "{p:?}");
    }

    #[test]
    fn many_problems_are_capped_but_counted() {
        let mut src = String::from("id,language,answer,phrasings,tags\n");
        for i in 0..250 {
            src += &format!("a{i},en,,Q?,\n");
        }
        let e = Library::parse_csv(src.as_bytes()).unwrap_err();
        assert_eq!(e.total, 250);
        assert_eq!(e.problems.len(), MAX_LISTED_PROBLEMS);
        assert!(e.to_string().contains("… and 150 more"));
        assert!(
            e.to_string()
                .starts_with("the answer library has 250 problems:")
        );
    }

    #[test]
    fn a_large_library_fits_the_yaml_budget() {
        let answers: Vec<Answer> = (0..2_000)
            .map(|i| Answer {
                id: format!("a{i}"),
                answer: format!("Answer {i}"),
                phrasings: (0..50).map(|j| format!("question {i} {j}")).collect(),
                tags: vec!["t".into(), "u".into()],
                language: "en".into(),
            })
            .collect();
        let lib = Library::new(answers).unwrap();
        assert_eq!(Library::parse_yaml(lib.to_yaml().as_bytes()).unwrap(), lib);
        assert_eq!(Library::parse_csv(lib.to_csv().as_bytes()).unwrap(), lib);
    }

    #[test]
    fn format_from_extension_and_name() {
        let f = |p: &str| AnswerFormat::from_path_extension(Path::new(p));
        assert_eq!(f("answers.csv"), Some(AnswerFormat::Csv));
        assert_eq!(f("dir/answers.YAML"), Some(AnswerFormat::Yaml));
        assert_eq!(f("answers.yml"), Some(AnswerFormat::Yaml));
        assert_eq!(f("answers.txt"), None);
        assert_eq!(f("answers"), None);
        assert_eq!(f(".csv"), None);
        assert_eq!("YML".parse::<AnswerFormat>(), Ok(AnswerFormat::Yaml));
        assert!("json".parse::<AnswerFormat>().is_err());
        for f in AnswerFormat::ALL {
            assert_eq!(f.as_str().parse::<AnswerFormat>(), Ok(f));
        }
    }

    #[test]
    fn normalising_twice_changes_nothing() {
        let a = Answer {
            id: " x ".into(),
            answer: "\r\n a\r\nb\rc \t".into(),
            phrasings: vec![" q ".into(), "".into()],
            tags: vec!["\u{3000}标签\u{3000}".into()],
            language: " ZH ".into(),
        };
        let once = a.normalized();
        assert_eq!(once.answer, "a\nb\nc");
        assert_eq!(once.tags, ["标签"]);
        assert_eq!(once.language, "zh");
        assert_eq!(once.clone().normalized(), once);
    }

    /// Text that trips naive writers: YAML indicators and look-alikes of other
    /// types, CSV quotes and separators, non-ASCII.
    fn tricky() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("yes".to_owned()),
            Just("null".to_owned()),
            Just("~".to_owned()),
            Just("0x1F".to_owned()),
            Just("1.50".to_owned()),
            Just("- item".to_owned()),
            Just("key: value".to_owned()),
            Just("# not a comment".to_owned()),
            Just("&anchor *alias !tag".to_owned()),
            Just("\"quoted\" and 'single'".to_owned()),
            Just("a, b; c".to_owned()),
            Just("---".to_owned()),
            Just("中文 问题？".to_owned()),
            Just("".to_owned()),
            Just("two  spaces\u{a0}and\u{3000}ideographic".to_owned()),
            Just("| not a block".to_owned()),
            Just("> not folded".to_owned()),
            Just("'".to_owned()),
            Just("\\ back\\slash".to_owned()),
            "[a-zA-Z0-9 ,.?!'\"#:&*%@`{}\\[\\]éü中文-]{1,40}",
        ]
    }

    fn arb_line() -> impl Strategy<Value = String> {
        tricky().prop_filter_map("a non-empty line", |s| {
            let t = s.trim().replace(SEPARATOR, "/").replace('\t', " ");
            (!t.is_empty()).then_some(t)
        })
    }

    /// Several lines, some indented, blank or with trailing white space, as a
    /// Markdown answer has: what block scalars and quoting must keep exactly.
    fn arb_answer_text() -> impl Strategy<Value = String> {
        proptest::collection::vec(("[ \t]{0,4}", tricky(), "[ \t\u{a0}\u{3000}]{0,2}"), 1..5)
            .prop_map(|v| {
                let joined: Vec<String> = v.into_iter().map(|(a, b, c)| a + &b + &c).collect();
                let joined = joined.join("\n");
                let t = joined.trim();
                if t.is_empty() {
                    "x".to_owned()
                } else {
                    t.to_owned()
                }
            })
    }

    fn arb_library() -> impl Strategy<Value = Library> {
        proptest::collection::vec(
            (
                "[a-z0-9][a-z0-9._-]{0,20}",
                prop_oneof![Just("en"), Just("zh"), Just("yue")],
                arb_answer_text(),
                proptest::collection::vec(arb_line(), 1..5),
                proptest::collection::vec(arb_line(), 0..3),
            ),
            1..12,
        )
        .prop_map(|entries| {
            let mut seen = std::collections::HashSet::new();
            let answers = entries
                .into_iter()
                .filter(|(id, ..)| seen.insert(id.clone()))
                .map(|(id, language, answer, phrasings, tags)| Answer {
                    id,
                    answer,
                    phrasings,
                    tags,
                    language: language.to_owned(),
                })
                .collect();
            Library::new(answers).unwrap()
        })
    }

    proptest! {
        #[test]
        fn csv_round_trips(lib in arb_library()) {
            let csv = lib.to_csv();
            let back = Library::parse_csv(csv.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{csv}")))?;
            prop_assert_eq!(back, lib);
        }

        #[test]
        fn yaml_round_trips(lib in arb_library()) {
            let yaml = lib.to_yaml();
            let back = Library::parse_yaml(yaml.as_bytes())
                .map_err(|e| TestCaseError::fail(format!("{e}\n{yaml}")))?;
            prop_assert_eq!(back, lib);
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Library::parse_csv(&data);
            let _ = Library::parse_yaml(&data);
        }

        #[test]
        fn arbitrary_text_never_panics(src in ".{0,400}") {
            let _ = Library::parse_csv(src.as_bytes());
            let _ = Library::parse_yaml(src.as_bytes());
        }
    }
}
