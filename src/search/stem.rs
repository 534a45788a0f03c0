//! The analyzer's stemming step, memoized.
//!
//! tantivy's `Stemmer` runs the Snowball algorithm on every token: about 190 ns a token, more
//! than half of the CPU of indexing a session's text. A session's words repeat (the same
//! identifiers, paths and prose over and over), so this filter remembers the stem of each word
//! it has seen. It is the same Snowball English algorithm, in the same version as tantivy's, so
//! the terms are exactly the ones `Stemmer` gives, on disk and in queries (a test compares
//! them). The memory is per analyzer instance, bounded by [`MAX_WORDS`], and a clone starts
//! empty (tantivy clones the analyzer for each segment writer and each query).

use std::collections::HashMap;

use frostem::{Algorithm, Stemmer};
use tantivy::tokenizer::{Token, TokenFilter, TokenStream, Tokenizer};

/// Most words remembered by one analyzer instance; past it the memory starts over.
const MAX_WORDS: usize = 16_384;

/// The English stemmer, remembering each word's stem.
#[derive(Clone, Copy, Default)]
pub(super) struct MemoStemmer;

impl TokenFilter for MemoStemmer {
    type Tokenizer<T: Tokenizer> = MemoStemmerFilter<T>;

    fn transform<T: Tokenizer>(self, inner: T) -> MemoStemmerFilter<T> {
        MemoStemmerFilter {
            inner,
            stems: HashMap::new(),
        }
    }
}

pub(super) struct MemoStemmerFilter<T> {
    inner: T,
    /// Word → stem.
    stems: HashMap<String, String>,
}

impl<T: Clone> Clone for MemoStemmerFilter<T> {
    fn clone(&self) -> Self {
        MemoStemmerFilter {
            inner: self.inner.clone(),
            stems: HashMap::new(),
        }
    }
}

impl<T: Tokenizer> Tokenizer for MemoStemmerFilter<T> {
    type TokenStream<'a> = MemoStemmerStream<'a, T::TokenStream<'a>>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> Self::TokenStream<'a> {
        MemoStemmerStream {
            tail: self.inner.token_stream(text),
            stemmer: Stemmer::new(Algorithm::English),
            stems: &mut self.stems,
        }
    }
}

pub(super) struct MemoStemmerStream<'a, T> {
    tail: T,
    stemmer: Stemmer,
    stems: &'a mut HashMap<String, String>,
}

impl<T: TokenStream> TokenStream for MemoStemmerStream<'_, T> {
    fn advance(&mut self) -> bool {
        if !self.tail.advance() {
            return false;
        }
        let token = self.tail.token_mut();
        if let Some(stem) = self.stems.get(token.text.as_str()) {
            token.text.clear();
            token.text.push_str(stem);
            return true;
        }
        let stem = self.stemmer.stem(&token.text).into_owned();
        if self.stems.len() >= MAX_WORDS {
            self.stems.clear();
        }
        let word = std::mem::replace(&mut token.text, stem.clone());
        self.stems.insert(word, stem);
        true
    }

    fn token(&self) -> &Token {
        self.tail.token()
    }

    fn token_mut(&mut self) -> &mut Token {
        self.tail.token_mut()
    }
}

#[cfg(test)]
mod tests {
    use tantivy::tokenizer::{Language, LowerCaser, SimpleTokenizer, TextAnalyzer};

    use super::*;

    fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().text.clone());
        }
        out
    }

    #[test]
    fn stems_exactly_as_tantivys_stemmer_including_repeats_and_after_the_memory_is_full() {
        let mut ours = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(MemoStemmer)
            .build();
        let mut theirs = TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(tantivy::tokenizer::Stemmer::new(Language::English))
            .build();
        let prose = "Reconnecting the reconnected connections: running runs, ran, generously \
                     generalized agreements; crème brûlée cafés naïvely ÉTÉ été 42 src/lib.rs";
        assert_eq!(terms(&mut ours, prose), terms(&mut theirs, prose));
        // Seen words come from the memory: the same terms again.
        assert_eq!(terms(&mut ours, prose), terms(&mut theirs, prose));
        // More distinct words than the memory holds: it starts over and stays exact.
        let many: String = (0..MAX_WORDS + 100)
            .map(|n| format!("walking{n}ing runner{n}s "))
            .collect();
        assert_eq!(terms(&mut ours, &many), terms(&mut theirs, &many));
        assert_eq!(terms(&mut ours, prose), terms(&mut theirs, prose));
    }

    #[test]
    fn a_clone_starts_with_an_empty_memory() {
        let mut analyzer = MemoStemmer.transform(SimpleTokenizer::default());
        let mut stream = analyzer.token_stream("running");
        while stream.advance() {}
        assert_eq!(analyzer.stems.len(), 1);
        assert!(analyzer.clone().stems.is_empty());
    }
}
