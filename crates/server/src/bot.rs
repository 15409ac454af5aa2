//! The answer bot as the server runs it: the library's matcher, rebuilt when the
//! library changes (no restart), and the live thresholds for offering a human.
//!
//! The library lives in the store; [`AnswerBot::reload`] builds a new
//! [`Matcher`] from it when its version moved (the REST API calls it after every
//! change; a timer calls it every `bot.reload_secs` for changes made by another
//! process, e.g. `frontdesk answers import`). Building runs on a blocking thread
//! and the new matcher replaces the old one in one pointer swap, so questions keep
//! being answered by the old library until the new one is ready.

use std::sync::{Arc, PoisonError, RwLock};

use frontdesk_bot::semantic::Embedder;
use frontdesk_bot::{Match, Matcher, Options};
use frontdesk_domain::answers::{Answer, Library};
use frontdesk_store::{AnswerRow, Store};
use tokio::sync::Mutex;

use crate::config::BotConfig;

/// A library and the matcher built from it.
#[derive(Debug)]
pub struct Loaded {
    /// The store's library version this was built from (0: none stored yet).
    pub version: i64,
    /// The entries.
    pub library: Library,
    matcher: Matcher,
}

/// What the bot answers to a question.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The entry answered with and its text; `None` when nothing matched.
    pub answer: Option<(String, String)>,
    /// The matching degree: 0 when nothing matched.
    pub degree: f64,
}

/// How questions are matched: the configured semantic model, or why it is not in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Matching {
    /// BM25 alone: no model configured.
    Bm25,
    /// BM25 and the sentence-embedding model in this directory.
    Semantic(std::path::PathBuf),
    /// A model was configured but could not be loaded: BM25 alone. The message
    /// names the path and what is wrong.
    ModelFailed(String),
}

impl Matching {
    /// `bm25` or `bm25+semantic`.
    #[must_use]
    pub fn as_str(&self) -> &'static str {
        match self {
            Matching::Semantic(_) => "bm25+semantic",
            Matching::Bm25 | Matching::ModelFailed(_) => "bm25",
        }
    }
}

/// The answer bot of one server.
#[derive(Debug)]
pub struct AnswerBot {
    store: Arc<dyn Store>,
    /// The sentence-embedding model, when configured and loadable.
    embedder: Option<Arc<Embedder>>,
    matching: Matching,
    current: RwLock<Arc<Loaded>>,
    /// Questions searched at once: as many as there are cores. The search is CPU
    /// work on the blocking pool; without a bound, a burst of questions would grow
    /// that pool (and the allocator's per-thread arenas) to hundreds of threads for
    /// no gain in throughput.
    searching: tokio::sync::Semaphore,
    /// One rebuild at a time.
    rebuilding: Mutex<()>,
    /// One read-modify-write edit of the stored library at a time (see
    /// [`AnswerBot::edits`]).
    edits: Mutex<()>,
}

impl AnswerBot {
    /// A bot with an empty library; call [`AnswerBot::reload`] to load the stored one.
    ///
    /// Loads the semantic model when `config.model_dir` is set. A model that cannot
    /// be loaded is not fatal: the error (naming the path) is logged, the bot runs
    /// on BM25 alone, and [`AnswerBot::matching`] says why.
    ///
    /// # Errors
    /// When the (empty) search index cannot be created.
    pub fn new(store: Arc<dyn Store>, config: &BotConfig) -> anyhow::Result<Self> {
        let (embedder, matching) = match &config.model_dir {
            None => (None, Matching::Bm25),
            Some(dir) => match Embedder::load(dir) {
                Ok(e) => {
                    tracing::info!(model = %dir.display(), "answer bot: semantic matching on");
                    (Some(Arc::new(e)), Matching::Semantic(dir.clone()))
                }
                Err(e) => {
                    tracing::error!(error = %e, "answer bot: the semantic model cannot be loaded; matching with BM25 alone");
                    (None, Matching::ModelFailed(e.to_string()))
                }
            },
        };
        let empty = Loaded {
            version: -1,
            library: Library::empty(),
            matcher: Matcher::new(&[])?,
        };
        Ok(Self {
            store,
            embedder,
            matching,
            current: RwLock::new(Arc::new(empty)),
            searching: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            ),
            rebuilding: Mutex::new(()),
            edits: Mutex::new(()),
        })
    }

    /// The library in effect.
    #[must_use]
    pub fn current(&self) -> Arc<Loaded> {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// How questions are matched.
    #[must_use]
    pub fn matching(&self) -> &Matching {
        &self.matching
    }

    /// Held while the stored library is read, changed and written back (an edit of
    /// one entry over REST), so two admins' edits cannot undo each other: the store
    /// replaces the library whole. Whole-library replacements take it too. Per
    /// process: `frontdesk answers import` into the same database at the same
    /// moment is last-writer-wins (docs/answers.md).
    pub async fn edits(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.edits.lock().await
    }

    /// Rebuilds the matcher if the stored library changed since it was built.
    /// Returns the version in effect afterwards.
    ///
    /// # Errors
    /// When the store cannot be read or the stored library does not validate
    /// (the old matcher stays in effect).
    pub async fn reload(&self) -> anyhow::Result<i64> {
        let _one = self.rebuilding.lock().await;
        let version = self.store.answers_version().await?;
        if version == self.current().version {
            return Ok(version);
        }
        let rows = self.store.answers().await?;
        let started = std::time::Instant::now();
        let embedder = self.embedder.clone();
        let previous = self.current();
        let loaded = tokio::task::spawn_blocking(move || build(version, rows, embedder, &previous))
            .await??;
        tracing::info!(
            version,
            entries = loaded.library.len(),
            phrasings = loaded.library.phrasing_count(),
            took_ms = started.elapsed().as_millis() as u64,
            "answer library loaded"
        );
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(loaded);
        Ok(version)
    }

    /// Answers a question with the library in effect. Runs the search on a
    /// blocking thread (a question costs about a millisecond with BM25, ~15 ms of CPU
    /// with the semantic model).
    pub async fn ask(&self, question: &str) -> Reply {
        // The semaphore is never closed; a closed one would only lift the bound.
        let _permit = self.searching.acquire().await.ok();
        let loaded = self.current();
        let question = question.to_owned();
        let found = tokio::task::spawn_blocking(move || {
            let best: Option<Match> = loaded.matcher.ask(&question, 1).into_iter().next();
            best.and_then(|m| {
                let entry = loaded.library.answers().get(m.entry)?;
                Some((
                    (entry.id.clone(), entry.answer.clone()),
                    f64::from(m.degree),
                ))
            })
        })
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "the bot's search failed");
            None
        });
        match found {
            Some((answer, degree)) => Reply {
                answer: Some(answer),
                degree,
            },
            None => Reply {
                answer: None,
                degree: 0.0,
            },
        }
    }
}

/// Converts stored rows to a validated library and builds its matcher (reusing
/// the previous one's phrasing embeddings, so an edit embeds only what changed).
fn build(
    version: i64,
    rows: Vec<AnswerRow>,
    embedder: Option<Arc<Embedder>>,
    previous: &Loaded,
) -> anyhow::Result<Loaded> {
    let answers: Vec<Answer> = rows.into_iter().map(answer_of).collect();
    let library = Library::new(answers)
        .map_err(|e| anyhow::anyhow!("the stored answer library does not validate: {e}"))?;
    let matcher = match embedder {
        None => Matcher::new(library.answers())?,
        Some(e) => Matcher::with_embedder_reusing(
            library.answers(),
            Options::default(),
            e,
            &previous.matcher,
        )?,
    };
    Ok(Loaded {
        version,
        library,
        matcher,
    })
}

/// A stored row as a library entry.
#[must_use]
pub fn answer_of(row: AnswerRow) -> Answer {
    Answer {
        id: row.id,
        answer: row.answer,
        phrasings: row.phrasings,
        tags: row.tags,
        language: row.language,
    }
}

/// A library entry as a row to store.
#[must_use]
pub fn row_of(answer: &Answer) -> AnswerRow {
    AnswerRow {
        id: answer.id.clone(),
        language: answer.language.clone(),
        answer: answer.answer.clone(),
        phrasings: answer.phrasings.clone(),
        tags: answer.tags.clone(),
    }
}
