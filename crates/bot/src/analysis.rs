//! Text analysis: how a phrasing or a question becomes index terms.
//!
//! One pipeline serves every language, so that mixed text works (a Chinese question
//! with an English product name, an English entry quoting a Chinese word):
//!
//! 1. [`MixedTokenizer`] splits the text into runs of Han characters and runs of
//!    everything else. Han runs are segmented with jieba in search mode (whole words
//!    and the dictionary words inside them); other runs are split into words at every
//!    character that is not a letter or digit (like tantivy's `SimpleTokenizer`).
//! 2. Tokens longer than 40 bytes are dropped (noise such as pasted hashes).
//! 3. Lower-casing.
//! 4. Optionally, stop words of the language (off by default: measured to cost
//!    accuracy on banking77, see `BENCHMARKS.md`).
//! 5. Stemming with the Snowball stemmer of the language (tantivy's `Stemmer`). Han
//!    tokens pass through unchanged. Chinese entries stem their Latin words as English,
//!    which is what Latin words inside Chinese text usually are.
//! 6. Optionally, [`BigramFilter`]: each pair of neighbouring stemmed tokens as one more
//!    term, so that word order and phrases ("top up" vs "up top") count.
//!
//! The language is a BCP 47 tag; only its primary subtag is used (`en-GB` is `en`).
//! Languages without a stemmer get the pipeline without step 5.

use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, Stemmer, StopWordFilter, TextAnalyzer, Token,
    TokenFilter, TokenStream, Tokenizer,
};

/// Switches of the analysis pipeline (the experiments of `BENCHMARKS.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalysisOptions {
    /// Remove the language's stop words (Lucene's list for English).
    pub stop_words: bool,
    /// Also index neighbouring token pairs.
    pub bigrams: bool,
}

impl Default for AnalysisOptions {
    fn default() -> Self {
        Self {
            stop_words: false,
            bigrams: true,
        }
    }
}

/// The primary language subtag, lower-cased: `"zh-Hans"` → `"zh"`, `""` → `"und"`.
#[must_use]
pub fn primary_language(tag: &str) -> String {
    let primary = tag
        .split(['-', '_'])
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if primary.is_empty() || !primary.chars().all(|c| c.is_ascii_alphabetic()) {
        "und".to_owned()
    } else {
        primary
    }
}

/// The Snowball stemmer for a primary language subtag, if tantivy has one.
/// Chinese, Japanese and Korean text stem their Latin words as English.
fn stemmer_language(primary: &str) -> Option<Language> {
    Some(match primary {
        "en" | "zh" | "ja" | "ko" => Language::English,
        "ar" => Language::Arabic,
        "da" => Language::Danish,
        "nl" => Language::Dutch,
        "fi" => Language::Finnish,
        "fr" => Language::French,
        "de" => Language::German,
        "el" => Language::Greek,
        "hu" => Language::Hungarian,
        "it" => Language::Italian,
        "no" | "nb" | "nn" => Language::Norwegian,
        "pt" => Language::Portuguese,
        "ro" => Language::Romanian,
        "ru" => Language::Russian,
        "es" => Language::Spanish,
        "sv" => Language::Swedish,
        "ta" => Language::Tamil,
        "tr" => Language::Turkish,
        _ => return None,
    })
}

/// The jieba dictionary, loaded once per process.
///
/// A process-wide value on purpose: the dictionary is immutable, takes tens of
/// milliseconds and megabytes to load, and every matcher (one per library version)
/// would otherwise load its own copy. It holds no state that could differ between
/// users, so this is not the mutable global singleton the style guide warns about.
fn jieba() -> Arc<Jieba> {
    static JIEBA: OnceLock<Arc<Jieba>> = OnceLock::new();
    JIEBA.get_or_init(|| Arc::new(Jieba::new())).clone()
}

/// The analyzer for entries in `language` (a BCP 47 tag), also used for questions
/// asked of those entries.
#[must_use]
pub fn analyzer(language: &str, options: AnalysisOptions) -> TextAnalyzer {
    let primary = primary_language(language);
    let stem = stemmer_language(&primary);
    let mut builder = TextAnalyzer::builder(MixedTokenizer::new())
        .filter_dynamic(RemoveLongFilter::limit(40))
        .filter_dynamic(LowerCaser);
    if options.stop_words
        && let Some(filter) = stem.and_then(StopWordFilter::new)
    {
        builder = builder.filter_dynamic(filter);
    }
    if let Some(lang) = stem {
        builder = builder.filter_dynamic(Stemmer::new(lang));
    }
    if options.bigrams {
        builder = builder.filter_dynamic(BigramFilter);
    }
    builder.build()
}

/// Whether `c` is a Han character (CJK unified ideographs and their extensions,
/// compatibility ideographs).
fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF
        | 0x4E00..=0x9FFF
        | 0xF900..=0xFAFF
        | 0x20000..=0x2A6DF
        | 0x2A700..=0x2EBEF
        | 0x30000..=0x3134F)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Run {
    Han,
    Word,
    Gap,
}

fn run_of(c: char) -> Run {
    if is_han(c) {
        Run::Han
    } else if c.is_alphanumeric() {
        Run::Word
    } else {
        Run::Gap
    }
}

/// Splits text into words: jieba for Han runs, letters-and-digits for the rest.
#[derive(Clone)]
pub struct MixedTokenizer {
    jieba: Arc<Jieba>,
}

impl std::fmt::Debug for MixedTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MixedTokenizer")
    }
}

impl MixedTokenizer {
    /// A tokenizer over the process's jieba dictionary.
    #[must_use]
    pub fn new() -> Self {
        Self { jieba: jieba() }
    }

    fn push(tokens: &mut Vec<Token>, text: &str, from: usize, to: usize) {
        let position = tokens.len();
        tokens.push(Token {
            offset_from: from,
            offset_to: to,
            position,
            text: text[from..to].to_owned(),
            position_length: 1,
        });
    }

    fn tokens(&self, text: &str) -> Vec<Token> {
        let mut tokens = Vec::new();
        let mut start = 0;
        let mut kind = Run::Gap;
        let flush = |tokens: &mut Vec<Token>, kind: Run, from: usize, to: usize| match kind {
            Run::Word => Self::push(tokens, text, from, to),
            Run::Han => {
                for word in self.jieba.cut_for_search(&text[from..to], true) {
                    Self::push(tokens, text, from + word.byte_start, from + word.byte_end);
                }
            }
            Run::Gap => {}
        };
        for (i, c) in text.char_indices() {
            let k = run_of(c);
            if k != kind {
                flush(&mut tokens, kind, start, i);
                start = i;
                kind = k;
            }
        }
        flush(&mut tokens, kind, start, text.len());
        tokens
    }
}

impl Default for MixedTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Tokenizer for MixedTokenizer {
    type TokenStream<'a> = VecTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream {
        let mut tokens = self.tokens(text);
        tokens.reverse();
        VecTokenStream {
            tokens,
            current: Token::default(),
        }
    }
}

/// The tokens of one text, computed up front (jieba returns them as a list anyway),
/// kept in reverse so that advancing is a `pop`.
#[derive(Debug)]
pub struct VecTokenStream {
    tokens: Vec<Token>,
    current: Token,
}

impl TokenStream for VecTokenStream {
    fn advance(&mut self) -> bool {
        match self.tokens.pop() {
            Some(token) => {
                self.current = token;
                true
            }
            None => false,
        }
    }

    fn token(&self) -> &Token {
        &self.current
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.current
    }
}

/// Adds each pair of neighbouring tokens as one more token, `"top up"` (tokens never
/// contain spaces, so a bigram cannot collide with a word).
#[derive(Clone, Copy, Debug)]
pub struct BigramFilter;

impl TokenFilter for BigramFilter {
    type Tokenizer<T: Tokenizer> = BigramTokenizer<T>;

    fn transform<T: Tokenizer>(self, tokenizer: T) -> BigramTokenizer<T> {
        BigramTokenizer { inner: tokenizer }
    }
}

/// The tokenizer made by [`BigramFilter`].
#[derive(Clone, Debug)]
pub struct BigramTokenizer<T> {
    inner: T,
}

impl<T: Tokenizer> Tokenizer for BigramTokenizer<T> {
    type TokenStream<'a> = BigramTokenStream<T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        BigramTokenStream {
            tail: self.inner.token_stream(text),
            previous: None,
            previous_from: 0,
            bigram: Token::default(),
            on_bigram: false,
            bigram_pending: false,
        }
    }
}

/// The stream of [`BigramTokenizer`]: every token, each followed by the bigram it ends.
#[derive(Debug)]
pub struct BigramTokenStream<S> {
    tail: S,
    previous: Option<String>,
    previous_from: usize,
    bigram: Token,
    on_bigram: bool,
    bigram_pending: bool,
}

impl<S: TokenStream> TokenStream for BigramTokenStream<S> {
    fn advance(&mut self) -> bool {
        if self.bigram_pending {
            self.bigram_pending = false;
            self.on_bigram = true;
            return true;
        }
        self.on_bigram = false;
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token();
        if let Some(previous) = self.previous.take() {
            self.bigram.text.clear();
            self.bigram.text.push_str(&previous);
            self.bigram.text.push(' ');
            self.bigram.text.push_str(&token.text);
            self.bigram.offset_from = self.previous_from;
            self.bigram.offset_to = token.offset_to;
            self.bigram.position = token.position;
            self.bigram_pending = true;
        }
        self.previous_from = token.offset_from;
        self.previous = Some(token.text.clone());
        true
    }

    fn token(&self) -> &Token {
        if self.on_bigram {
            &self.bigram
        } else {
            self.tail.token()
        }
    }

    fn token_mut(&mut self) -> &mut Token {
        if self.on_bigram {
            &mut self.bigram
        } else {
            self.tail.token_mut()
        }
    }
}

/// The terms of `text` under `analyzer`, in order, with repeats.
#[must_use]
pub fn terms(analyzer: &TextAnalyzer, text: &str) -> Vec<String> {
    let mut analyzer = analyzer.clone();
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn en(text: &str) -> Vec<String> {
        terms(
            &analyzer(
                "en",
                AnalysisOptions {
                    stop_words: false,
                    bigrams: false,
                },
            ),
            text,
        )
    }

    #[test]
    fn english_is_lowercased_and_stemmed() {
        assert_eq!(en("My Cards were BLOCKED"), ["my", "card", "were", "block"]);
    }

    #[test]
    fn chinese_is_segmented_and_mixed_text_keeps_both() {
        let t = en("我的银行卡丢了, top-up失败");
        assert!(t.contains(&"银行卡".to_owned()), "{t:?}");
        assert!(t.contains(&"银行".to_owned()), "{t:?}");
        assert!(t.contains(&"top".to_owned()), "{t:?}");
        assert!(t.contains(&"up".to_owned()), "{t:?}");
        assert!(t.contains(&"失败".to_owned()), "{t:?}");
    }

    #[test]
    fn bigrams_follow_their_second_word() {
        let a = analyzer(
            "en",
            AnalysisOptions {
                stop_words: false,
                bigrams: true,
            },
        );
        assert_eq!(
            terms(&a, "top up cards"),
            ["top", "up", "top up", "card", "up card"]
        );
    }

    #[test]
    fn gaps_and_control_characters_separate_words() {
        assert_eq!(en("a\u{0}b\tc\u{7f}\u{202e}d"), ["a", "b", "c", "d"]);
        assert!(en("").is_empty());
        assert!(en(" \n\r\u{1}").is_empty());
    }

    #[test]
    fn primary_language_tags() {
        assert_eq!(primary_language("zh-Hans"), "zh");
        assert_eq!(primary_language("EN_us"), "en");
        assert_eq!(primary_language(""), "und");
        assert_eq!(primary_language("1x"), "und");
    }
}
