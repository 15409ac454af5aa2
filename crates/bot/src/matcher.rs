//! The matcher: BM25 retrieval over the answer library with tantivy, and the degree.

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
    /// The BM25 score of the entry's document (tantivy's, k1 = 1.2, b = 0.75; with
    /// [`Granularity::Phrasing`], of its best phrasing). Only comparable between
    /// matches of the same question.
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
        let shards = build_shards(entries, &|_, _| true, &options)?;
        let mut matcher = Self {
            shards,
            ids: entries.iter().map(|e| e.id.clone()).collect(),
            options,
            model: degree::PRIOR,
            calibration: Calibration {
                in_scope_samples: 0,
                in_scope_top1: None,
                out_of_scope_samples: 0,
                fitted: false,
                model: degree::PRIOR,
            },
        };
        matcher.calibrate(entries)?;
        Ok(matcher)
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
        Ok(
            candidates(&self.shards, &self.options, question, k, Exclude::Nothing)?
                .into_iter()
                .map(|(c, f)| (c.entry as usize, f))
                .collect(),
        )
    }

    fn search(&self, question: &str, k: usize, exclude: Exclude) -> Result<Vec<Match>, BotError> {
        Ok(
            candidates(&self.shards, &self.options, question, k, exclude)?
                .into_iter()
                .map(|(c, f)| Match {
                    entry: c.entry as usize,
                    score: c.score,
                    degree: self.model.degree(&f),
                })
                .collect(),
        )
    }

    /// Fits the degree on the library itself (see the crate docs).
    fn calibrate(&mut self, entries: &[Answer]) -> Result<(), BotError> {
        let wanted = self.options.calibration_samples;
        if wanted == 0 || entries.is_empty() {
            return Ok(());
        }
        let mut rng = SplitMix64::new(self.options.seed);
        // Folds of held-out phrasings: each entry's phrasings in a seeded order, the
        // j-th in fold j mod FOLDS. An entry with one phrasing has nothing to hold
        // out; one with two to five loses at most one per fold, a larger one a fifth.
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
        let mut rows: Vec<(usize, usize)> = entries
            .iter()
            .enumerate()
            .flat_map(|(e, entry)| (0..entry.phrasings.len()).map(move |p| (e, p)))
            .collect();
        rng.shuffle(&mut rows);
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
        };
        Ok(())
    }
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
    /// mass the shard knows. `None` when it has no terms.
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
        if terms.is_empty() || self_score <= 0.0 {
            return Ok(None);
        }
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
fn truncate(text: &str, max: usize) -> &str {
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

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("银行卡", 4), "银");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("abc", 0), "");
    }
}
