//! Labelled question sets for evaluating the matcher (`../shared/data`).
//!
//! Two layouts are understood, told apart by the files present:
//!
//! - **CSV** (`banking77`): `train.csv` and `test.csv` with a header `text,category`;
//!   fields may be quoted (RFC 4180).
//! - **Line files** (`hwu64`, `banking77_oos`): one folder per split (`train`,
//!   `train_5`, `train_10`, `valid`, `test`) holding `seq.in` (one question per line)
//!   and `label` (the intent of the same line). `banking77_oos` adds out-of-scope
//!   questions: `id-oos/test` (banking questions from intents the library does not
//!   cover; its `label` says `oos`, `label_original` the real intent) and
//!   `ood-oos/test` (questions from outside banking).

use std::path::{Path, PathBuf};

use frontdesk_domain::answers::Answer;

/// A question and its intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    /// The question.
    pub text: String,
    /// Its intent.
    pub label: String,
}

/// Where an out-of-scope question comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfScope {
    /// Same domain, an intent the library does not cover (`id-oos`).
    InDomain,
    /// Another domain altogether (`ood-oos`).
    OutOfDomain,
}

/// A loaded data set.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The folder's name.
    pub name: String,
    /// The training split used (`train`, `train_5`, `train_10`).
    pub train_split: String,
    /// Training questions: they become the library's phrasings.
    pub train: Vec<Example>,
    /// Test questions of the library's intents.
    pub test: Vec<Example>,
    /// Out-of-scope test questions, if the data set has them.
    pub out_of_scope: Vec<(String, OutOfScope)>,
}

/// Why a data set could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// Neither layout's files are there.
    #[error(
        "{0}: not a data set folder (expected train.csv and test.csv, or train/seq.in and test/seq.in)"
    )]
    UnknownLayout(PathBuf),
    /// The requested training split does not exist.
    #[error("{path}: no training split '{split}' here (looked for this file)")]
    NoSplit {
        /// The file looked for.
        path: PathBuf,
        /// The split asked for.
        split: String,
    },
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A CSV file is malformed.
    #[error("{path}:{line}: {message}")]
    Csv {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        message: String,
    },
    /// `seq.in` and `label` do not have the same number of lines.
    #[error("{questions}: {q} questions but {labels} has {l} labels")]
    Mismatch {
        /// The questions file.
        questions: PathBuf,
        /// Its line count.
        q: usize,
        /// The labels file.
        labels: PathBuf,
        /// Its line count.
        l: usize,
    },
}

impl Dataset {
    /// Loads the data set in `dir`, with `train_split` as the training questions.
    ///
    /// # Errors
    /// [`DatasetError`], naming the file.
    pub fn load(dir: &Path, train_split: &str) -> Result<Self, DatasetError> {
        let name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let (train, test, out_of_scope) = if dir.join("train.csv").is_file() {
            let path = dir.join(format!("{train_split}.csv"));
            if !path.is_file() {
                return Err(DatasetError::NoSplit {
                    path,
                    split: train_split.to_owned(),
                });
            }
            (
                read_csv(&path)?,
                read_csv(&dir.join("test.csv"))?,
                Vec::new(),
            )
        } else if dir.join("train").join("seq.in").is_file() {
            let split = dir.join(train_split);
            if !split.join("seq.in").is_file() {
                return Err(DatasetError::NoSplit {
                    path: split.join("seq.in"),
                    split: train_split.to_owned(),
                });
            }
            let mut oos = Vec::new();
            for (folder, kind) in [
                ("id-oos", OutOfScope::InDomain),
                ("ood-oos", OutOfScope::OutOfDomain),
            ] {
                let path = dir.join(folder).join("test").join("seq.in");
                if path.is_file() {
                    oos.extend(read_lines(&path)?.into_iter().map(|q| (q, kind)));
                }
            }
            (read_split(&split)?, read_split(&dir.join("test"))?, oos)
        } else {
            return Err(DatasetError::UnknownLayout(dir.to_owned()));
        };
        Ok(Self {
            name,
            train_split: train_split.to_owned(),
            train,
            test,
            out_of_scope,
        })
    }

    /// The intents of the training split, in order of first appearance.
    #[must_use]
    pub fn intents(&self) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        self.train
            .iter()
            .filter(|e| seen.insert(e.label.as_str()))
            .map(|e| e.label.clone())
            .collect()
    }

    /// The answer library of the training split: one entry per intent (id and answer
    /// are the intent's name, language `en`), its training questions as phrasings.
    #[must_use]
    pub fn library(&self) -> Vec<Answer> {
        self.intents()
            .into_iter()
            .map(|intent| Answer {
                phrasings: self
                    .train
                    .iter()
                    .filter(|e| e.label == intent)
                    .map(|e| e.text.clone())
                    .collect(),
                answer: intent.clone(),
                id: intent,
                tags: Vec::new(),
                language: "en".to_owned(),
            })
            .collect()
    }
}

fn read(path: &Path) -> Result<String, DatasetError> {
    std::fs::read_to_string(path).map_err(|source| DatasetError::Io {
        path: path.to_owned(),
        source,
    })
}

fn read_lines(path: &Path) -> Result<Vec<String>, DatasetError> {
    Ok(read(path)?
        .lines()
        .map(|l| l.trim_end_matches('\r').to_owned())
        .collect())
}

fn read_split(dir: &Path) -> Result<Vec<Example>, DatasetError> {
    let questions = dir.join("seq.in");
    let labels = dir.join("label");
    let q = read_lines(&questions)?;
    let l = read_lines(&labels)?;
    if q.len() != l.len() {
        return Err(DatasetError::Mismatch {
            q: q.len(),
            l: l.len(),
            questions,
            labels,
        });
    }
    Ok(q.into_iter()
        .zip(l)
        .map(|(text, label)| Example {
            text,
            label: label.trim().to_owned(),
        })
        .collect())
}

fn read_csv(path: &Path) -> Result<Vec<Example>, DatasetError> {
    let data = read(path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(data.as_bytes());
    let bad = |line: u64, message: String| DatasetError::Csv {
        path: path.to_owned(),
        line,
        message,
    };
    let headers = reader.headers().map_err(|e| bad(1, e.to_string()))?.clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| bad(1, format!("no '{name}' column in the header")))
    };
    let (text, category) = (column("text")?, column("category")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, csv::Position::line);
            bad(line, e.to_string())
        })?;
        let line = record.position().map_or(0, csv::Position::line);
        let (Some(t), Some(c)) = (record.get(text), record.get(category)) else {
            return Err(bad(line, "missing a field".to_owned()));
        };
        out.push(Example {
            text: t.to_owned(),
            label: c.trim().to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_folder_is_refused_by_name() {
        let err = Dataset::load(Path::new("/nonexistent/x"), "train").unwrap_err();
        assert!(err.to_string().contains("/nonexistent/x"), "{err}");
    }
}
