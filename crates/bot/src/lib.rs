//! The answer bot's matcher (seed 002): which entry of the answer library answers a
//! free-text question, and how sure we are (the *matching degree*).
//!
//! # Layout
//! - [`matcher`]: [`Matcher`], built from `&[frontdesk_domain::answers::Answer]`;
//!   [`Matcher::ask`] returns the best entries with their BM25 score and degree.
//! - [`analysis`]: text to terms, per language: jieba for Chinese, Snowball stemming,
//!   bigrams; mixed text works.
//! - [`semantic`]: optional semantic matching: [`Embedder`] (a sentence-embedding
//!   model, all-MiniLM-L6-v2, run in-process on the CPU with candle from a local
//!   directory), the entries' similarity to a question, and how it is combined with
//!   BM25 ([`semantic::Ranking`]). [`Matcher::with_embedder`] turns it on.
//! - [`degree`]: the degree's features, the logistic model and its fit.
//! - [`dataset`]: loaders for the benchmark layouts in `../shared/data`.
//! - [`eval`]: accuracy, hand-off rates, calibration and speed
//!   (`frontdesk answers eval`).
//!
//! # Retrieval
//! One in-memory tantivy index per language in the library (so IDF and average
//! length are those of that language), one document per entry holding all its
//! phrasings. A question is analysed with each language's analyzer, its 24 most
//! specific terms (highest IDF) are searched as a BM25 `OR` query (k1 = 1.2,
//! b = 0.75, tantivy's), and entries are ranked by their score divided by the
//! question's *self-score*: what a phrasing identical to the question would score.
//! That ratio is comparable across languages, questions and libraries; 1 means "the
//! question is worded like this entry", 0 "no word in common".
//!
//! One document per entry beat one document per phrasing (an entry scoring as its
//! best phrasing, i.e. 1-nearest-neighbour) by 6–12 points of top-1 accuracy on
//! banking77 and hwu64, and is faster (p99 1.3 ms against 6.1 ms at 10,000
//! entries: fewer, longer posting lists merge faster than many short ones). Bigrams at a quarter of a word's
//! weight gain 5 points on full data and cost nothing few-shot. See `BENCHMARKS.md`.
//!
//! # Semantic matching (optional)
//! With an [`Embedder`], every phrasing is embedded when the matcher is built and
//! each question once when asked. An entry's semantic similarity is the mean cosine
//! of its [`semantic::TOP_PHRASINGS`] closest phrasings, plus the cosine to its
//! centroid; the entries considered are BM25's best [`matcher::SEMANTIC_POOL`] and
//! the [`matcher::SEMANTIC_POOL`] with the closest centroids. They are ranked by
//! `w · [BM25 ratio, similarity, centroid similarity]`, with `w` fitted on the same
//! held-out phrasings as the degree (a softmax over the entries, by Newton's
//! method), so each library finds its own mix: the closest phrasings decide when
//! entries have many, the centroid when they have few. The degree gains two
//! features (the similarity and its margin over the next entry). Without an
//! embedder nothing of this runs and the matcher is exactly the BM25 one.
//!
//! # The matching degree
//! The degree is a logistic function of four features of a match ([`degree::Features`]):
//! the normalised score, the margin to the best *other* entry, `ln(1 + terms)`, and
//! the share of the question's IDF mass the library knows. It is fitted, when the
//! matcher is built, on the library itself:
//!
//! - **In scope**: up to 1,000 phrasings are held out (each entry's phrasings in a
//!   seeded order, dealt into 5 folds; an entry keeps at least one phrasing), the
//!   fold's index is built without them, each is asked, and labelled right if its own
//!   entry comes first.
//! - **Out of scope**: up to 1,000 phrasings are asked of the full library with their
//!   own entry removed: they stand in for questions the library does not cover, and
//!   are always labelled wrong.
//!
//! Weights are fitted by Newton's method with an L2 pull (20 samples' worth) towards
//! [`degree::PRIOR`], so a library too small to say much gets sensible degrees; with
//! fewer than 10 right or 10 wrong samples the prior is used as is. Sampling uses a
//! fixed seed and the index is built by one thread, so the same library always gets
//! the same degrees.
//!
//! So the degree reads: *the probability that this answer is right, for a question
//! drawn half from what the library covers and half from what it does not.* Because
//! it is fitted per library, it means that for a 50-entry library as for a
//! 10,000-entry one; the features are ratios for the same reason. On data with no
//! out-of-scope questions it is deliberately under-confident.
//!
//! # Bad input
//! Questions are cut to [`matcher::MAX_QUESTION_BYTES`] at a character boundary;
//! control characters separate words like spaces; a question sharing no term with
//! the library, an empty question and an empty library all give no match (callers
//! treat that like a degree of 0: offer a human). With semantic matching a question
//! that shares no word still gets candidates (by meaning), with the degree to judge
//! them; one with no letter or digit still gets none. A model directory that cannot
//! be used is a [`ModelError`] naming the path, from [`Embedder::load`]: what to do
//! then (the server runs on BM25 alone) is the caller's choice.

pub mod analysis;
pub mod dataset;
pub mod degree;
pub mod eval;
pub mod matcher;
pub mod semantic;

pub use matcher::{Calibration, Granularity, Match, Matcher, Options};
pub use semantic::{Embedder, ModelError};

/// The degree under which a customer is offered a human, before the thresholds adapt
/// to agents' idleness. 0.5 is where the calibrated degree says a wrong answer is as
/// likely as a right one. On banking77_oos it offers a human to 90 % of out-of-scope
/// and 37 % of in-scope questions (the curve is in `docs/bot-handoff-curve.svg`); with
/// semantic matching to 88 % and 24 % (`docs/bot-handoff-curve-semantic.svg`).
pub const DEFAULT_THRESHOLD: f32 = 0.5;

/// Why the matcher could not be built or asked.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// The search engine failed (in-memory indexes fail only when memory runs out).
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    /// The semantic model failed on a text (a model that loaded does not).
    #[error(transparent)]
    Model(#[from] semantic::ModelError),
}
