//! The matcher: BM25 retrieval over the answer library with tantivy, optionally
//! combined with semantic similarity (see [`crate::semantic`]), and the degree.

use std::collections::HashMap;
use std::sync::Arc;

use frontdesk_domain::answers::Answer;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, ReloadPolicy, Searcher, TantivyDocument, Term};

use crate::BotError;
use crate::analysis::{self, AnalysisOptions};
use crate::degree::{self, Features, Model, SplitMix64};
use crate::semantic::{
    self, Embedder, EntryVectors, PhrasingVectors, RANKING_WEIGHTS, Ranking, Similarity,
};

/// Questions are cut to this many bytes (at a character boundary) before analysis.
/// Customers' questions are a sentence or two; a pasted e-mail or a 10 MB upload
/// must not cost more than a normal question, and its beginning says what it is about.
pub const MAX_QUESTION_BYTES: usize = 2_000;

/// At most this many distinct terms of a question are considered (the first ones);
/// of those, the [`Options::max_query_terms`] most specific are searched.
pub const MAX_QUESTION_TERMS: usize = 128;

/// BM25 parameters tantivy uses (not configurable in tantivy); the self-score must
/// use the same ones.
const K1: f32 = 1.2;
const B: f32 = 0.75;

const TOKENIZER: &str = "frontdesk";
/// Folds of held-out phrasings for calibration.
const FOLDS: usize = 5;
/// Fewer right or wrong samples than this and the prior model is kept.
const MIN_FIT_SAMPLES: usize = 10;
/// With semantic matching, the entries considered for a question: the best this
/// many by BM25 (per language) and this many whose centroid is closest to the
/// question, each scored exactly. Every library of the data sets (≤ 77 entries) is
/// considered whole; a 10,000-entry one is not scanned phrasing by phrasing.
pub const SEMANTIC_POOL: usize = 100;
/// tantivy's indexing arena; more than the largest library needs so that one
/// segment is written (a limit, not an allocation).
const WRITER_MEMORY: usize = 200_000_000;

/// What an indexed document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    /// One document per phrasing; an entry scores as its best phrasing.
    Phrasing,
    /// One document per entry holding all its phrasings.
    Entry,
}

/// How a matcher is built. The defaults are the measured best (`BENCHMARKS.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Options {
    /// Phrasings or entries as documents.
    pub granularity: Granularity,
    /// The analysis pipeline's switches.
    pub analysis: AnalysisOptions,
    /// Weight of a bigram term relative to a word (when bigrams are on).
    pub bigram_weight: f32,
    /// At most this many of a question's terms are searched: those with the highest
    /// (weighted) IDF.
    pub max_query_terms: usize,
    /// Held-out phrasings asked to fit the degree, in scope and out of scope each
    /// (at most).
    pub calibration_samples: usize,
    /// Seed of the calibration's sampling.
    pub seed: u64,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            granularity: Granularity::Entry,
            analysis: AnalysisOptions::default(),
            bigram_weight: 0.25,
            max_query_terms: 24,
            calibration_samples: 1_000,
            seed: 0x5EED_F00D,
        }
    }
}

/// One answer found for a question.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Match {
    /// Index of the entry in the slice the matcher was built from.
    pub entry: usize,
    /// BM25 alone: the BM25 score of the entry's document (tantivy's, k1 = 1.2,
    /// b = 0.75; with [`Granularity::Phrasing`], of its best phrasing). With
    /// semantic matching: the ranking score that combines it with the semantic
    /// similarity ([`Ranking`]). Only comparable between matches of the same
    /// question.
    pub score: f32,
    /// The matching degree in [0, 1]: the estimated probability that this is the
    /// right answer, calibrated on the library itself.
    pub degree: f32,
}

/// How the degree was fitted for this library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// In-scope samples: held-out phrasings asked of an index built without them.
    pub in_scope_samples: usize,
    /// Of those, the share whose top match was their own entry (held-out top-1, an
    /// estimate of the library's accuracy on new questions).
    pub in_scope_top1: Option<f64>,
    /// Out-of-scope stand-ins: phrasings asked with their whole entry removed.
    pub out_of_scope_samples: usize,
    /// Whether the model was fitted; `false` means the library gave too few samples
    /// of either kind and the prior model is used.
    pub fitted: bool,
    /// The fitted model.
    pub model: Model,
    /// With semantic matching: how BM25 and the semantic similarities are combined,
    /// fitted on the same held-out phrasings. `None` for BM25 alone.
    pub ranking: Option<Ranking>,
}

/// Matches questions to the entries of an answer library.
///
/// Immutable once built, `Send + Sync`; [`Matcher::ask`] takes `&self` and can run on
/// many threads at once (each query takes its own tantivy `Searcher`, a cheap handle).
/// A changed library means a new matcher.
#[derive(Debug)]
pub struct Matcher {
    shards: Vec<Shard>,
    ids: Vec<String>,
    options: Options,
    model: Model,
    calibration: Calibration,
    semantic: Option<Semantic>,
}

/// The semantic side of a matcher: the model, every phrasing's embedding, and how
/// scores are combined.
struct Semantic {
    embedder: Arc<Embedder>,
    phrasings: PhrasingVectors,
    vectors: EntryVectors,
    /// The shard of each entry.
    shard_of: Vec<usize>,
    ranking: Ranking,
}

impl std::fmt::Debug for Semantic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Semantic")
            .field("embedder", &self.embedder)
            .field("entries", &self.vectors.entries())
            .field("ranking", &self.ranking)
            .finish_non_exhaustive()
    }
}

/// The entries of one language: their own index, so BM25 statistics (IDF, average
/// length) are those of that language only.
struct Shard {
    language: String,
    analyzer: TextAnalyzer,
    text: Field,
    entry_field: Field,
    reader: IndexReader,
    /// `[segment][doc id]` → entry.
    docs: Vec<Vec<u32>>,
    num_docs: u64,
    average_length: f32,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("language", &self.language)
            .field("num_docs", &self.num_docs)
            .finish_non_exhaustive()
    }
}

/// Documents kept out of a search (calibration only).
#[derive(Debug, Clone, Copy)]
enum Exclude {
    Nothing,
    Entry(u32),
}

/// A question analysed for one shard.
struct Analysed {
    terms: Vec<(Term, f32)>,
    self_score: f32,
    length: f32,
    known: f32,
}

impl Analysed {
    /// Whether there is anything to search for.
    fn searchable(&self) -> bool {
        !self.terms.is_empty() && self.self_score > 0.0
    }
}

/// An entry's best document for a question, before the degree.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    entry: u32,
    score: f32,
    normalised: f32,
    length: f32,
    known: f32,
}

impl Matcher {
    /// Builds the index and fits the degree with the default options.
    ///
    /// # Errors
    /// [`BotError::Index`] if tantivy fails (it does not for in-memory indexes unless
    /// memory runs out).
    pub fn new(entries: &[Answer]) -> Result<Self, BotError> {
        Self::with_options(entries, Options::default())
    }

    /// Builds the index and fits the degree.
    ///
    /// # Errors
    /// As [`Matcher::new`].
    pub fn with_options(entries: &[Answer], options: Options) -> Result<Self, BotError> {
        Self::build(entries, options, None)
    }

    /// Builds the index, embeds every phrasing with `embedder`, and fits how BM25
    /// and the semantic similarity are combined and the degree. Questions are
    /// embedded once each when asked (the cost of semantic matching: a few
    /// milliseconds of CPU per question, see `BENCHMARKS.md`).
    ///
    /// # Errors
    /// As [`Matcher::new`], and [`BotError::Model`] if the model fails on a phrasing
    /// (a model that passed [`Embedder::load`] does not).
    pub fn with_embedder(
        entries: &[Answer],
        options: Options,
        embedder: Arc<Embedder>,
    ) -> Result<Self, BotError> {
        Self::build(entries, options, Some((embedder, None)))
    }

    /// [`Matcher::with_embedder`] for a changed library: phrasings that `previous`
    /// already embedded with the same `embedder` (the same `Arc`) are not embedded
    /// again, so an edit costs the embedding of what changed only.
    ///
    /// # Errors
    /// As [`Matcher::with_embedder`].
    pub fn with_embedder_reusing(
        entries: &[Answer],
        options: Options,
        embedder: Arc<Embedder>,
        previous: &Matcher,
    ) -> Result<Self, BotError> {
        // Only embeddings made by this very model are reused.
        let reuse = previous
            .semantic
            .as_ref()
            .filter(|s| Arc::ptr_eq(&s.embedder, &embedder))
            .map(|s| &s.phrasings);
        Self::build(entries, options, Some((embedder, reuse)))
    }

    fn build(
        entries: &[Answer],
        options: Options,
        semantic: Option<(Arc<Embedder>, Option<&PhrasingVectors>)>,
    ) -> Result<Self, BotError> {
        let shards = build_shards(entries, &|_, _| true, &options)?;
        let semantic = match semantic {
            None => None,
            Some((embedder, previous)) => {
                let lists: Vec<&[String]> =
                    entries.iter().map(|e| e.phrasings.as_slice()).collect();
                let phrasings = PhrasingVectors::embed(&embedder, &lists, previous)?;
                let vectors = EntryVectors::new(&phrasings, &|_, _| true);
                let shard_of = entries
                    .iter()
                    .map(|e| {
                        let language = analysis::primary_language(&e.language);
                        shards
                            .iter()
                            .position(|s| s.language == language)
                            .unwrap_or(usize::MAX)
                    })
                    .collect();
                Some(Semantic {
                    embedder,
                    phrasings,
                    vectors,
                    shard_of,
                    ranking: semantic::RANKING_PRIOR,
                })
            }
        };
        let prior = if semantic.is_some() {
            degree::SEMANTIC_PRIOR
        } else {
            degree::PRIOR
        };
        let mut matcher = Self {
            shards,
            ids: entries.iter().map(|e| e.id.clone()).collect(),
            options,
            model: prior,
            calibration: Calibration {
                in_scope_samples: 0,
                in_scope_top1: None,
                out_of_scope_samples: 0,
                fitted: false,
                model: prior,
                ranking: semantic.as_ref().map(|s| s.ranking),
            },
            semantic,
        };
        if matcher.semantic.is_some() {
            matcher.calibrate_semantic(entries)?;
        } else {
            matcher.calibrate(entries)?;
        }
        Ok(matcher)
    }

    /// The embedding model, when semantic matching is on.
    #[must_use]
    pub fn embedder(&self) -> Option<&Arc<Embedder>> {
        self.semantic.as_ref().map(|s| &s.embedder)
    }

    /// The best `k` entries for `question`, best first, each with its degree. Empty
    /// when nothing in the library shares a word with the question (or the library
    /// is empty, or `k` is 0). Never fails: an internal search error (which an
    /// in-memory index does not produce) also gives an empty list, which callers
    /// treat like "no answer" (offer a human).
    #[must_use]
    pub fn ask(&self, question: &str, k: usize) -> Vec<Match> {
        self.try_ask(question, k).unwrap_or_default()
    }

    /// [`Matcher::ask`], with the error.
    ///
    /// # Errors
    /// [`BotError::Index`] if tantivy fails.
    pub fn try_ask(&self, question: &str, k: usize) -> Result<Vec<Match>, BotError> {
        self.search(question, k, Exclude::Nothing)
    }

    /// The id of entry `index`.
    #[must_use]
    pub fn id(&self, index: usize) -> Option<&str> {
        self.ids.get(index).map(String::as_str)
    }

    /// Number of entries.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the library is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How the degree was fitted.
    #[must_use]
    pub fn calibration(&self) -> &Calibration {
        &self.calibration
    }

    /// The options the matcher was built with.
    #[must_use]
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The features of each of the best `k` entries (for evaluation and tests).
    ///
    /// # Errors
    /// [`BotError::Index`] if tantivy fails.
    pub fn explain(&self, question: &str, k: usize) -> Result<Vec<(usize, Features)>, BotError> {
        Ok(self
            .found(question, k, Exclude::Nothing)?
            .into_iter()
            .map(|(c, f)| (c.entry as usize, f))
            .collect())
    }

    fn search(&self, question: &str, k: usize, exclude: Exclude) -> Result<Vec<Match>, BotError> {
        Ok(self
            .found(question, k, exclude)?
            .into_iter()
            .map(|(c, f)| Match {
                entry: c.entry as usize,
                score: c.score,
                degree: self.model.degree(&f),
            })
            .collect())
    }

    /// The best `k` entries with their features, by BM25 alone or combined.
    fn found(
        &self,
        question: &str,
        k: usize,
        exclude: Exclude,
    ) -> Result<Vec<(Candidate, Features)>, BotError> {
        let Some(semantic) = &self.semantic else {
            return candidates(&self.shards, &self.options, question, k, exclude);
        };
        let question = truncate(question, MAX_QUESTION_BYTES);
        // Nothing to mean: no letter or digit (an empty question, punctuation).
        if k == 0 || !question.chars().any(char::is_alphanumeric) {
            return Ok(Vec::new());
        }
        let vector = semantic.embedder.embed_one(question)?;
        let pool = pool(
            &self.shards,
            &self.options,
            &semantic.vectors,
            &semantic.shard_of,
            question,
            &vector,
            exclude,
        )?;
        Ok(rank(&pool, &semantic.ranking, k))
    }

    /// Fits the degree on the library itself (see the crate docs).
    fn calibrate(&mut self, entries: &[Answer]) -> Result<(), BotError> {
        let wanted = self.options.calibration_samples;
        if wanted == 0 || entries.is_empty() {
            return Ok(());
        }
        let mut rng = SplitMix64::new(self.options.seed);
        let folds = held_out_folds(entries, &mut rng);
        let mut samples: Vec<(Features, bool)> = Vec::with_capacity(2 * wanted);
        let (mut in_scope, mut right) = (0usize, 0usize);
        for mut fold in folds {
            if in_scope >= wanted {
                break;
            }
            rng.shuffle(&mut fold);
            fold.truncate(wanted - in_scope);
            let mut held = fold.clone();
            held.sort_unstable();
            let shards = build_shards(
                entries,
                &|e, p| held.binary_search(&(e, p)).is_err(),
                &self.options,
            )?;
            for (e, p) in fold {
                let question = &entries[e].phrasings[p];
                let top = candidates(&shards, &self.options, question, 1, Exclude::Nothing)?;
                if let Some((c, f)) = top.into_iter().next() {
                    in_scope += 1;
                    right += usize::from(c.entry as usize == e);
                    samples.push((f, c.entry as usize == e));
                }
            }
        }
        // Out-of-scope stand-ins, on the whole library.
        let rows = out_of_scope_order(entries, &mut rng);
        let mut out_of_scope = 0usize;
        for &(e, p) in rows.iter().take(wanted) {
            let question = &entries[e].phrasings[p];
            let top = candidates(
                &self.shards,
                &self.options,
                question,
                1,
                Exclude::Entry(e as u32),
            )?;
            if let Some((_, f)) = top.into_iter().next() {
                out_of_scope += 1;
                samples.push((f, false));
            }
        }
        let positives = samples.iter().filter(|(_, y)| *y).count();
        let fitted = positives >= MIN_FIT_SAMPLES && samples.len() - positives >= MIN_FIT_SAMPLES;
        if fitted {
            self.model = degree::fit(&samples, &degree::PRIOR, degree::PRIOR_STRENGTH);
        }
        self.calibration = Calibration {
            in_scope_samples: in_scope,
            in_scope_top1: (in_scope > 0).then(|| right as f64 / in_scope as f64),
            out_of_scope_samples: out_of_scope,
            fitted,
            model: self.model,
            ranking: None,
        };
        Ok(())
    }

    /// [`Matcher::calibrate`] with semantic matching: the same held-out phrasings
    /// (their embeddings left out of the entries' vectors too) first fit how BM25
    /// and the semantic similarities are combined ([`semantic::fit_ranking`]), then,
    /// ranked that way, the degree.
    fn calibrate_semantic(&mut self, entries: &[Answer]) -> Result<(), BotError> {
        let wanted = self.options.calibration_samples;
        let Some(semantic) = self.semantic.as_ref() else {
            return Ok(());
        };
        if wanted == 0 || entries.is_empty() {
            return Ok(());
        }
        let mut rng = SplitMix64::new(self.options.seed);
        let folds = held_out_folds(entries, &mut rng);
        // Each held-out phrasing's pool of candidates, and its entry.
        let mut held: Vec<(Pool, usize)> = Vec::with_capacity(wanted);
        for mut fold in folds {
            if held.len() >= wanted {
                break;
            }
            rng.shuffle(&mut fold);
            fold.truncate(wanted - held.len());
            let mut out = fold.clone();
            out.sort_unstable();
            let keep = |e: usize, p: usize| out.binary_search(&(e, p)).is_err();
            let shards = build_shards(entries, &keep, &self.options)?;
            let vectors = EntryVectors::new(&semantic.phrasings, &keep);
            for (e, p) in fold {
                let question = truncate(&entries[e].phrasings[p], MAX_QUESTION_BYTES);
                if !question.chars().any(char::is_alphanumeric) {
                    continue;
                }
                let pool = pool(
                    &shards,
                    &self.options,
                    &vectors,
                    &semantic.shard_of,
                    question,
                    semantic.phrasings.row(e, p),
                    Exclude::Nothing,
                )?;
                if !pool.rows.is_empty() {
                    held.push((pool, e));
                }
            }
        }
        let ranking_samples: Vec<(Vec<[f64; RANKING_WEIGHTS]>, usize)> = held
            .iter()
            .filter_map(|(pool, e)| {
                let right = pool.rows.iter().position(|r| r.entry as usize == *e)?;
                Some((pool.rows.iter().map(Pooled::ranking).collect(), right))
            })
            .collect();
        let ranking = if ranking_samples.len() >= MIN_FIT_SAMPLES {
            semantic::fit_ranking(
                &ranking_samples,
                &semantic::RANKING_PRIOR,
                semantic::RANKING_PRIOR_STRENGTH,
            )
        } else {
            semantic::RANKING_PRIOR
        };
        let mut samples: Vec<(Features, bool)> = Vec::with_capacity(2 * wanted);
        let mut right = 0usize;
        for (pool, e) in &held {
            if let Some((c, f)) = rank(pool, &ranking, 1).into_iter().next() {
                right += usize::from(c.entry as usize == *e);
                samples.push((f, c.entry as usize == *e));
            }
        }
        let in_scope = samples.len();
        let rows = out_of_scope_order(entries, &mut rng);
        let mut out_of_scope = 0usize;
        for &(e, p) in rows.iter().take(wanted) {
            let question = truncate(&entries[e].phrasings[p], MAX_QUESTION_BYTES);
            if !question.chars().any(char::is_alphanumeric) {
                continue;
            }
            let pool = pool(
                &self.shards,
                &self.options,
                &semantic.vectors,
                &semantic.shard_of,
                question,
                semantic.phrasings.row(e, p),
                Exclude::Entry(e as u32),
            )?;
            if let Some((_, f)) = rank(&pool, &ranking, 1).into_iter().next() {
                out_of_scope += 1;
                samples.push((f, false));
            }
        }
        let positives = samples.iter().filter(|(_, y)| *y).count();
        let fitted = positives >= MIN_FIT_SAMPLES && samples.len() - positives >= MIN_FIT_SAMPLES;
        if fitted {
            self.model = degree::fit(&samples, &degree::SEMANTIC_PRIOR, degree::PRIOR_STRENGTH);
        }
        if let Some(semantic) = self.semantic.as_mut() {
            semantic.ranking = ranking;
        }
        self.calibration = Calibration {
            in_scope_samples: in_scope,
            in_scope_top1: (in_scope > 0).then(|| right as f64 / in_scope as f64),
            out_of_scope_samples: out_of_scope,
            fitted,
            model: self.model,
            ranking: Some(ranking),
        };
        Ok(())
    }
}

/// Folds of held-out phrasings: each entry's phrasings in a seeded order, the j-th
/// in fold j mod FOLDS. An entry with one phrasing has nothing to hold out; one with
/// two to five loses at most one per fold, a larger one a fifth.
fn held_out_folds(entries: &[Answer], rng: &mut SplitMix64) -> Vec<Vec<(usize, usize)>> {
    let mut folds: Vec<Vec<(usize, usize)>> = vec![Vec::new(); FOLDS];
    for (e, entry) in entries.iter().enumerate() {
        if entry.phrasings.len() < 2 {
            continue;
        }
        let mut order: Vec<usize> = (0..entry.phrasings.len()).collect();
        rng.shuffle(&mut order);
        for (j, p) in order.into_iter().enumerate() {
            folds[j % FOLDS].push((e, p));
        }
    }
    folds
}

/// Every phrasing in a seeded order: the out-of-scope stand-ins are the first ones.
fn out_of_scope_order(entries: &[Answer], rng: &mut SplitMix64) -> Vec<(usize, usize)> {
    let mut rows: Vec<(usize, usize)> = entries
        .iter()
        .enumerate()
        .flat_map(|(e, entry)| (0..entry.phrasings.len()).map(move |p| (e, p)))
        .collect();
    rng.shuffle(&mut rows);
    rows
}

/// The entries considered for a question with semantic matching, before ranking.
struct Pool {
    rows: Vec<Pooled>,
    /// The best BM25 ratio an entry missing from `rows` can have.
    unseen_bound: f32,
}

/// One entry of a [`Pool`].
#[derive(Debug, Clone, Copy)]
struct Pooled {
    entry: u32,
    /// BM25 score over the self-score; 0 if BM25 did not find the entry.
    normalised: f32,
    similarity: Similarity,
    length: f32,
    known: f32,
}

impl Pooled {
    fn ranking(&self) -> [f64; RANKING_WEIGHTS] {
        [
            f64::from(self.normalised),
            f64::from(self.similarity.top),
            f64::from(self.similarity.centroid),
        ]
    }
}

/// With semantic matching: the best [`SEMANTIC_POOL`] entries by BM25 in each
/// language and the [`SEMANTIC_POOL`] whose centroid is closest to the question,
/// each with its BM25 ratio and semantic similarity.
fn pool(
    shards: &[Shard],
    options: &Options,
    vectors: &EntryVectors,
    shard_of: &[usize],
    question: &str,
    vector: &[f32],
    exclude: Exclude,
) -> Result<Pool, BotError> {
    let limit = match options.granularity {
        Granularity::Phrasing => SEMANTIC_POOL * 8,
        Granularity::Entry => SEMANTIC_POOL,
    };
    // (length, known) of the question in each shard's language.
    let mut described = vec![(0.0_f32, 0.0_f32); shards.len()];
    let mut bm25: HashMap<u32, f32> = HashMap::new();
    // Entries in the order first met, so that the pool is the same on every run.
    let mut order: Vec<u32> = Vec::new();
    let mut unseen_bound = 0.0_f32;
    for (i, shard) in shards.iter().enumerate() {
        let searcher = shard.reader.searcher();
        let Some(analysed) = shard.analyse(
            &searcher,
            question,
            options.bigram_weight,
            options.max_query_terms,
        )?
        else {
            continue;
        };
        described[i] = (analysed.length, analysed.known);
        if !analysed.searchable() {
            continue;
        }
        let hits = shard.search(&searcher, &analysed, limit, exclude)?;
        if hits.len() == limit
            && let Some(last) = hits.last()
        {
            unseen_bound = unseen_bound.max(last.0 / analysed.self_score);
        }
        for (score, entry) in hits {
            let normalised = score / analysed.self_score;
            let best = bm25.entry(entry).or_insert_with(|| {
                order.push(entry);
                normalised
            });
            *best = best.max(normalised);
        }
    }
    let excluded = match exclude {
        Exclude::Nothing => None,
        Exclude::Entry(e) => Some(e as usize),
    };
    for e in vectors.nearest(vector, SEMANTIC_POOL, excluded) {
        let entry = e as u32;
        bm25.entry(entry).or_insert_with(|| {
            order.push(entry);
            0.0
        });
    }
    let rows = order
        .into_iter()
        .filter_map(|entry| {
            let similarity = vectors.similarity(vector, entry as usize)?;
            let (length, known) = shard_of
                .get(entry as usize)
                .and_then(|&s| described.get(s))
                .copied()
                .unwrap_or((0.0, 0.0));
            Some(Pooled {
                entry,
                normalised: bm25.get(&entry).copied().unwrap_or(0.0),
                similarity,
                length,
                known,
            })
        })
        .collect();
    Ok(Pool { rows, unseen_bound })
}

/// The best `k` entries of a pool by the combined score, best first (ties by entry
/// order), with their features.
fn rank(pool: &Pool, ranking: &Ranking, k: usize) -> Vec<(Candidate, Features)> {
    let mut scored: Vec<(f64, &Pooled)> = pool
        .rows
        .iter()
        .map(|r| {
            (
                ranking.score(r.normalised, r.similarity.top, r.similarity.centroid),
                r,
            )
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.entry.cmp(&b.1.entry)));
    let (bm25_leader, bm25_best, bm25_second) = best_two(&pool.rows, |r| r.normalised);
    let (meaning_leader, meaning_best, meaning_second) = best_two(&pool.rows, |r| r.similarity.top);
    scored
        .into_iter()
        .take(k)
        .map(|(score, r)| {
            let bm25_other = if Some(r.entry) == bm25_leader {
                bm25_second
            } else {
                bm25_best
            }
            .max(pool.unseen_bound);
            let meaning_other = if Some(r.entry) == meaning_leader {
                meaning_second
            } else {
                meaning_best
            };
            let candidate = Candidate {
                entry: r.entry,
                score: score as f32,
                normalised: r.normalised,
                length: r.length,
                known: r.known,
            };
            let features = Features {
                score: r.normalised,
                margin: r.normalised - bm25_other,
                length: r.length,
                known: r.known,
                semantic: r.similarity.top,
                semantic_margin: r.similarity.top - meaning_other,
            };
            (candidate, features)
        })
        .collect()
}

/// The entry with the highest `value` (the first of equals), that value, and the
/// highest value of any other entry (0 when there is none).
fn best_two(rows: &[Pooled], value: impl Fn(&Pooled) -> f32) -> (Option<u32>, f32, f32) {
    let mut leader = None;
    let (mut best, mut second) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for r in rows {
        let v = value(r);
        if v > best {
            second = best;
            best = v;
            leader = Some(r.entry);
        } else if v > second {
            second = v;
        }
    }
    let floor = |x: f32| if x.is_finite() { x } else { 0.0 };
    (leader, floor(best), floor(second))
}

/// One shard per language present, holding the phrasings `keep(entry, phrasing)`
/// accepts.
fn build_shards(
    entries: &[Answer],
    keep: &dyn Fn(usize, usize) -> bool,
    options: &Options,
) -> Result<Vec<Shard>, BotError> {
    let mut languages: Vec<String> = entries
        .iter()
        .map(|e| analysis::primary_language(&e.language))
        .collect();
    languages.sort();
    languages.dedup();
    let mut shards = Vec::with_capacity(languages.len());
    for language in languages {
        let members: Vec<usize> = (0..entries.len())
            .filter(|&i| analysis::primary_language(&entries[i].language) == language)
            .collect();
        shards.push(Shard::build(language, entries, &members, keep, options)?);
    }
    Ok(shards)
}

/// The best `k` entries for `question` with their features, best first.
fn candidates(
    shards: &[Shard],
    options: &Options,
    question: &str,
    k: usize,
    exclude: Exclude,
) -> Result<Vec<(Candidate, Features)>, BotError> {
    // No more entries than there are documents (and no overflow below).
    let k = k.min(shards.iter().map(|s| s.num_docs as usize).sum());
    if k == 0 {
        return Ok(Vec::new());
    }
    let question = truncate(question, MAX_QUESTION_BYTES);
    // Phrasing documents: enough of them to find k entries and the runner-up
    // behind the first (an entry's many phrasings can fill the top).
    let limit = match options.granularity {
        Granularity::Phrasing => k.saturating_mul(8).max(64),
        Granularity::Entry => k.saturating_add(1),
    };
    let mut found: Vec<Candidate> = Vec::new();
    // The best score any entry not in `found` can have: unknown when a shard's
    // list was cut at `limit`.
    let mut unseen_bound = 0.0_f32;
    for shard in shards {
        let searcher = shard.reader.searcher();
        let Some(analysed) = shard.analyse(
            &searcher,
            question,
            options.bigram_weight,
            options.max_query_terms,
        )?
        else {
            continue;
        };
        if !analysed.searchable() {
            continue;
        }
        let hits = shard.search(&searcher, &analysed, limit, exclude)?;
        if hits.len() == limit
            && let Some(last) = hits.last()
        {
            unseen_bound = unseen_bound.max(last.0 / analysed.self_score);
        }
        for (score, entry) in hits {
            let normalised = score / analysed.self_score;
            match found.iter_mut().find(|c| c.entry == entry) {
                Some(c) if c.normalised >= normalised => {}
                Some(c) => {
                    c.score = score;
                    c.normalised = normalised;
                }
                None => found.push(Candidate {
                    entry,
                    score,
                    normalised,
                    length: analysed.length,
                    known: analysed.known,
                }),
            }
        }
    }
    found.sort_by(|a, b| {
        b.normalised
            .total_cmp(&a.normalised)
            .then(a.entry.cmp(&b.entry))
    });
    let best = found.first().map_or(0.0, |c| c.normalised);
    let second = found
        .get(1)
        .map_or(unseen_bound, |c| c.normalised.max(unseen_bound));
    Ok(found
        .into_iter()
        .take(k)
        .enumerate()
        .map(|(i, c)| {
            let other = if i == 0 { second } else { best };
            let features = Features {
                score: c.normalised,
                margin: c.normalised - other,
                length: c.length,
                known: c.known,
                semantic: 0.0,
                semantic_margin: 0.0,
            };
            (c, features)
        })
        .collect())
}

impl Shard {
    fn build(
        language: String,
        entries: &[Answer],
        members: &[usize],
        keep: &dyn Fn(usize, usize) -> bool,
        options: &Options,
    ) -> Result<Self, BotError> {
        let analyzer = analysis::analyzer(&language, options.analysis);
        let mut schema = Schema::builder();
        let text = schema.add_text_field(
            "text",
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(TOKENIZER)
                    .set_index_option(IndexRecordOption::WithFreqs),
            ),
        );
        let entry_field = schema.add_u64_field("entry", INDEXED | FAST);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(TOKENIZER, analyzer.clone());
        // One indexing thread and no merges: documents keep their order and the
        // index is the same on every build, so the degree is too.
        let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_MEMORY)?;
        writer.set_merge_policy(Box::new(tantivy::indexer::NoMergePolicy));
        for &i in members {
            let phrasings = entries[i]
                .phrasings
                .iter()
                .enumerate()
                .filter(|(p, _)| keep(i, *p))
                .map(|(_, text)| text);
            match options.granularity {
                Granularity::Phrasing => {
                    for phrasing in phrasings {
                        let mut doc = TantivyDocument::default();
                        doc.add_text(text, phrasing);
                        doc.add_u64(entry_field, i as u64);
                        writer.add_document(doc)?;
                    }
                }
                Granularity::Entry => {
                    let mut doc = TantivyDocument::default();
                    let mut any = false;
                    for phrasing in phrasings {
                        doc.add_text(text, phrasing);
                        any = true;
                    }
                    if any {
                        doc.add_u64(entry_field, i as u64);
                        writer.add_document(doc)?;
                    }
                }
            }
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let searcher = reader.searcher();
        let mut docs = Vec::with_capacity(searcher.segment_readers().len());
        let mut total_tokens = 0u64;
        for segment in searcher.segment_readers() {
            let entries_col = segment.fast_fields().u64("entry")?;
            docs.push(
                (0..segment.max_doc())
                    .map(|d| entries_col.first(d).unwrap_or_default() as u32)
                    .collect(),
            );
            total_tokens += segment.inverted_index(text)?.total_num_tokens();
        }
        let num_docs = searcher.num_docs();
        let average_length = if num_docs == 0 {
            1.0
        } else {
            (total_tokens as f32 / num_docs as f32).max(1.0)
        };
        Ok(Self {
            language,
            analyzer,
            text,
            entry_field,
            reader,
            docs,
            num_docs,
            average_length,
        })
    }

    /// The question's terms with their IDF, its self-score and the share of its IDF
    /// mass the shard knows. `None` when it has no terms; no searchable terms (see
    /// [`Analysed::searchable`]) when none of them is known.
    fn analyse(
        &self,
        searcher: &Searcher,
        question: &str,
        bigram_weight: f32,
        max_terms: usize,
    ) -> Result<Option<Analysed>, BotError> {
        if self.num_docs == 0 {
            return Ok(None);
        }
        let tokens = analysis::terms(&self.analyzer, question);
        if tokens.is_empty() {
            return Ok(None);
        }
        // Distinct terms with their counts, in first-seen order (deterministic).
        let mut counted: Vec<(String, u32)> = Vec::new();
        for t in tokens.iter() {
            if let Some((_, n)) = counted.iter_mut().find(|(s, _)| s == t) {
                *n += 1;
            } else if counted.len() < MAX_QUESTION_TERMS {
                counted.push((t.clone(), 1));
            }
        }
        let length = tokens.len() as f32;
        let norm = K1 * (1.0 - B + B * length / self.average_length);
        let n = self.num_docs as f32;
        // (term, weight, weighted IDF, share of the self-score, known)
        let mut scored = Vec::with_capacity(counted.len());
        for (text, count) in counted {
            let term = Term::from_field_text(self.text, &text);
            let df = searcher.doc_freq(&term)? as f32;
            let weight = if text.contains(' ') {
                bigram_weight
            } else {
                1.0
            };
            if weight <= 0.0 {
                continue;
            }
            let idf = weight * (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            let tf = count as f32;
            scored.push((
                term,
                weight,
                idf,
                idf * (K1 + 1.0) * tf / (tf + norm),
                df > 0.0,
            ));
        }
        // Only the most specific known terms are searched: the tail of common words
        // and bigrams of a long question moves the ranking little but is what makes
        // long questions slow (every term is a posting list to merge). Dropped terms
        // leave the self-score too, as if they were stop words. Unknown terms are
        // never searched but stay in the self-score: they are what the library
        // does not cover.
        let mut known: Vec<usize> = (0..scored.len()).filter(|&i| scored[i].4).collect();
        known.sort_by(|&a, &b| scored[b].2.total_cmp(&scored[a].2).then(a.cmp(&b)));
        known.truncate(max_terms);
        known.sort_unstable();
        let (mut self_score, mut idf_all, mut idf_known) = (0.0_f32, 0.0_f32, 0.0_f32);
        let mut terms = Vec::with_capacity(known.len());
        for (i, (term, weight, idf, part, is_known)) in scored.into_iter().enumerate() {
            if !is_known {
                self_score += part;
                idf_all += idf;
            } else if known.binary_search(&i).is_ok() {
                self_score += part;
                idf_all += idf;
                idf_known += idf;
                terms.push((term, weight));
            }
        }
        // No known term (or no weight): the caller searches nothing, but the
        // length and the (zero) known share still describe the question.
        Ok(Some(Analysed {
            terms,
            self_score,
            length: (1.0 + length).ln(),
            known: if idf_all > 0.0 {
                idf_known / idf_all
            } else {
                0.0
            },
        }))
    }

    /// The best `limit` documents: (BM25 score, entry).
    fn search(
        &self,
        searcher: &Searcher,
        analysed: &Analysed,
        limit: usize,
        exclude: Exclude,
    ) -> Result<Vec<(f32, u32)>, BotError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = analysed
            .terms
            .iter()
            .map(|(term, weight)| {
                let q: Box<dyn Query> =
                    Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs));
                if *weight == 1.0 {
                    (Occur::Should, q)
                } else {
                    (
                        Occur::Should,
                        Box::new(BoostQuery::new(q, *weight)) as Box<dyn Query>,
                    )
                }
            })
            .collect();
        match exclude {
            Exclude::Nothing => {}
            Exclude::Entry(e) => clauses.push((
                Occur::MustNot,
                Box::new(TermQuery::new(
                    Term::from_field_u64(self.entry_field, u64::from(e)),
                    IndexRecordOption::Basic,
                )),
            )),
        }
        let query = BooleanQuery::new(clauses);
        let top = searcher.search(&query, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        Ok(top
            .into_iter()
            .filter_map(|(score, address)| {
                let entry = *self
                    .docs
                    .get(address.segment_ord as usize)?
                    .get(address.doc_id as usize)?;
                Some((score, entry))
            })
            .collect())
    }
}

/// `text` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn entry(id: &str, language: &str, phrasings: &[&str]) -> Answer {
        Answer {
            id: id.to_owned(),
            answer: format!("answer of {id}"),
            phrasings: phrasings.iter().map(|p| (*p).to_owned()).collect(),
            tags: Vec::new(),
            language: language.to_owned(),
        }
    }

    fn library() -> Vec<Answer> {
        vec![
            entry(
                "lost-card",
                "en",
                &[
                    "I lost my card",
                    "my card was stolen",
                    "how do I block a lost card",
                    "someone took my debit card",
                ],
            ),
            entry(
                "top-up",
                "en",
                &[
                    "how do I top up my account",
                    "top up failed",
                    "can I add money with a bank transfer",
                    "my top-up is still pending",
                ],
            ),
            entry(
                "opening-hours",
                "en",
                &[
                    "when are you open",
                    "what are your opening hours",
                    "are you open on sunday",
                ],
            ),
            entry(
                "zh-lost-card",
                "zh-Hans",
                &["我的银行卡丢了", "银行卡被偷了怎么办", "如何冻结我的卡"],
            ),
            entry(
                "zh-app",
                "zh",
                &["App 登录不了", "手机银行 app 打不开", "怎么修改登录密码"],
            ),
        ]
    }

    fn top(m: &Matcher, q: &str) -> Option<String> {
        m.ask(q, 3)
            .first()
            .and_then(|x| m.id(x.entry))
            .map(str::to_owned)
    }

    #[test]
    fn english_questions_match_with_stemming() -> Result<(), BotError> {
        let m = Matcher::new(&library())?;
        assert_eq!(top(&m, "Cards LOST!").as_deref(), Some("lost-card"));
        assert_eq!(top(&m, "topping up failed").as_deref(), Some("top-up"));
        assert_eq!(top(&m, "opening hours?").as_deref(), Some("opening-hours"));
        Ok(())
    }

    #[test]
    fn chinese_and_mixed_questions_match_chinese_entries() -> Result<(), BotError> {
        let m = Matcher::new(&library())?;
        assert_eq!(top(&m, "银行卡丢失了").as_deref(), Some("zh-lost-card"));
        assert_eq!(top(&m, "我的app登录不了").as_deref(), Some("zh-app"));
        assert_eq!(top(&m, "APP打不开怎么办").as_deref(), Some("zh-app"));
        Ok(())
    }

    #[test]
    fn empty_library_gives_no_matches() -> Result<(), BotError> {
        let m = Matcher::new(&[])?;
        assert!(m.is_empty());
        assert!(m.ask("where is my card", 5).is_empty());
        // Entries without phrasings are tolerated too.
        let m = Matcher::new(&[entry("bare", "en", &[])])?;
        assert!(m.ask("where is my card", 5).is_empty());
        Ok(())
    }

    #[test]
    fn odd_questions_are_answered_quickly_without_panicking() -> Result<(), BotError> {
        let m = Matcher::new(&library())?;
        assert!(m.ask("", 3).is_empty());
        assert!(m.ask("   \n\t", 3).is_empty());
        assert!(m.ask("?!…", 3).is_empty());
        assert!(m.ask("lost card", 0).is_empty());
        assert!(m.ask("lost card", usize::MAX).len() <= m.len());
        let control: String = (0u8..32).map(char::from).collect::<String>() + "card\u{7f}\u{202e}";
        let _ = m.ask(&control, 3);
        // 10 MB questions, English and Chinese: cut to MAX_QUESTION_BYTES.
        for unit in ["lost card ", "银行卡丢了", "x"] {
            let huge = unit.repeat(10_000_000 / unit.len());
            let started = Instant::now();
            let found = m.ask(&huge, 3);
            assert!(started.elapsed() < Duration::from_secs(2), "{unit}");
            assert!(found.len() <= 3);
        }
        // A language the library has no entries for: nothing in common, no answer.
        assert!(m.ask("Где находится ближайший банкомат", 3).is_empty());
        Ok(())
    }

    #[test]
    fn degrees_are_in_range_and_ordered_sensibly() -> Result<(), BotError> {
        let m = Matcher::new(&library())?;
        for q in [
            "my card was stolen",
            "card",
            "open",
            "what about sunday money card top",
        ] {
            for x in m.ask(q, 5) {
                assert!((0.0..=1.0).contains(&x.degree), "{q}: {x:?}");
            }
        }
        let exact = m.ask("how do I block a lost card", 1);
        let vague = m.ask("card money", 1);
        let (Some(exact), Some(vague)) = (exact.first(), vague.first()) else {
            panic!("no match");
        };
        assert!(exact.degree > vague.degree, "{exact:?} vs {vague:?}");
        // Within one question, degrees fall with the rank.
        let all = m.ask("lost card top up", 3);
        assert!(
            all.windows(2).all(|w| w[0].degree >= w[1].degree),
            "{all:?}"
        );
        Ok(())
    }

    #[test]
    fn the_same_library_gives_the_same_degrees() -> Result<(), BotError> {
        let a = Matcher::new(&library())?;
        let b = Matcher::new(&library())?;
        assert_eq!(a.calibration(), b.calibration());
        for q in ["lost card", "银行卡", "open sunday"] {
            assert_eq!(a.ask(q, 3), b.ask(q, 3));
        }
        Ok(())
    }

    #[test]
    fn matcher_is_shared_across_threads() -> Result<(), BotError> {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Matcher>();
        let m = Matcher::new(&library())?;
        let expected = m.ask("my card was stolen", 2);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| m.ask("my card was stolen", 2)))
                .collect();
            for h in handles {
                assert_eq!(h.join().ok(), Some(expected.clone()));
            }
        });
        Ok(())
    }

    /// The real model, when `FRONTDESK_TEST_MODEL_DIR` names it.
    fn model() -> Option<Arc<Embedder>> {
        crate::semantic::test_model().map(Arc::new)
    }

    #[test]
    fn semantic_matching_finds_paraphrases_without_common_words() -> Result<(), BotError> {
        let Some(embedder) = model() else {
            return Ok(());
        };
        let bm25 = Matcher::new(&library())?;
        let m = Matcher::with_embedder(&library(), Options::default(), Arc::clone(&embedder))?;
        assert!(m.embedder().is_some() && bm25.embedder().is_none());
        assert!(m.calibration().ranking.is_some() && bm25.calibration().ranking.is_none());
        // No word in common with the right entry's phrasings.
        for (q, want) in [
            ("somebody pinched my wallet", "lost-card"),
            ("at what time do you close", "opening-hours"),
            ("put funds on the balance", "top-up"),
        ] {
            assert_eq!(top(&m, q).as_deref(), Some(want), "{q}");
        }
        // What BM25 found still works, in both languages.
        assert_eq!(top(&m, "Cards LOST!").as_deref(), Some("lost-card"));
        assert_eq!(top(&m, "银行卡丢失了").as_deref(), Some("zh-lost-card"));
        for x in m.ask("my card was stolen", 5) {
            assert!((0.0..=1.0).contains(&x.degree), "{x:?}");
        }
        // A language the library lacks: candidates now (meaning has no language),
        // but with a degree that offers a human.
        let russian = m.ask("Где находится ближайший банкомат", 3);
        assert!(
            russian.iter().all(|x| x.degree < crate::DEFAULT_THRESHOLD),
            "{russian:?}"
        );
        // Nothing to mean: no match, as with BM25 alone.
        assert!(m.ask("", 3).is_empty());
        assert!(m.ask("?!…", 3).is_empty());
        assert!(m.ask("lost card", 0).is_empty());
        let huge = "lost card ".repeat(1_000_000);
        assert!(m.ask(&huge, 3).len() <= 3);
        // Deterministic, and a rebuild reusing the embeddings is the same matcher.
        let again = Matcher::with_embedder_reusing(
            &library(),
            Options::default(),
            Arc::clone(&embedder),
            &m,
        )?;
        assert_eq!(m.calibration(), again.calibration());
        for q in [
            "lost card",
            "银行卡",
            "open sunday",
            "somebody pinched my wallet",
        ] {
            assert_eq!(m.ask(q, 3), again.ask(q, 3));
        }
        Ok(())
    }

    #[test]
    fn a_model_that_does_not_load_leaves_bm25_working() -> Result<(), BotError> {
        // What the server does with a bad `bot.model_dir`: report the error (it names
        // the path) and build the matcher without semantic matching.
        let dir = std::path::Path::new("/nonexistent/model-dir");
        let matcher = match Embedder::load(dir) {
            Ok(embedder) => {
                Matcher::with_embedder(&library(), Options::default(), Arc::new(embedder))?
            }
            Err(e) => {
                assert!(e.to_string().contains("/nonexistent/model-dir"), "{e}");
                Matcher::new(&library())?
            }
        };
        assert!(matcher.embedder().is_none());
        assert_eq!(top(&matcher, "Cards LOST!").as_deref(), Some("lost-card"));
        Ok(())
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("银行卡", 4), "银");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("abc", 0), "");
    }
}
