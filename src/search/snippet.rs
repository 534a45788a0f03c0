//! Snippets: the part of a session's text where the query words cluster, matches in `<mark>`.
//!
//! Not tantivy's `SnippetGenerator`: it cuts the text into fixed fragments and, on equal
//! scores, keeps the first, so a snippet often ends on its only match with no context after it.
//! Here the text goes through the index's own analyzer (so `reconnecting` marks for
//! `reconnect`), the window holding the most distinct query words wins, and it opens a little
//! before its first match, like PostgreSQL's `ts_headline`.

use tantivy::tokenizer::{SimpleTokenizer, TextAnalyzer, TokenStream, Tokenizer};

/// Longest snippet, in bytes of source text (before escaping).
pub(super) const SNIPPET_BYTES: usize = 180;

/// Context kept before the first match of the window.
const LEAD_IN_BYTES: usize = 40;

/// The snippet of `text` for the analyzed query `words`: HTML-escaped, matches in `<mark>`,
/// whitespace collapsed. Without a match, the start of the text; empty for an empty text.
pub(super) fn render(analyzer: &mut TextAnalyzer, words: &[String], text: &str) -> String {
    let matches = find_matches(analyzer, words, text);
    let (start, end) = match best_window(&matches) {
        Some((first, last)) => bounds(text, matches[first].0.start, matches[last].0.end),
        None => (0, cut_back(text, SNIPPET_BYTES.min(text.len()))),
    };
    let mut html = String::with_capacity(end - start + 32);
    let mut at = start;
    for (range, _) in matches
        .iter()
        .filter(|(r, _)| r.start >= start && r.end <= end)
    {
        if range.start < at {
            continue; // overlapping tokens: the first one wins
        }
        html.push_str(&escape(&text[at..range.start]));
        html.push_str("<mark>");
        html.push_str(&escape(&text[range.clone()]));
        html.push_str("</mark>");
        at = range.end;
    }
    html.push_str(&escape(&text[at..end]));
    html.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Byte ranges of the tokens of `text` that are query words, with the index of the word.
///
/// Running the whole analyzer (the stemmer above all) over up to 100 KiB per hit costs
/// milliseconds, so the text is only split here, and a token goes through the analyzer only
/// when its first letters match a query word's: English stemming rewrites suffixes and keeps
/// the first [`PREFIX_CHARS`] letters (`skies` → `sky`), except that `dying`, `lying` and
/// `tying` become `die`, `lie` and `tie`, so `y` and `i` compare equal here.
fn find_matches(
    analyzer: &mut TextAnalyzer,
    words: &[String],
    text: &str,
) -> Vec<(std::ops::Range<usize>, usize)> {
    let prefixes: Vec<Vec<char>> = words
        .iter()
        .map(|w| w.chars().take(PREFIX_CHARS).map(fold_y).collect())
        .collect();
    let mut splitter = SimpleTokenizer::default();
    let mut stream = splitter.token_stream(text);
    let mut found = Vec::new();
    while let Some(token) = stream.next() {
        if !prefixes
            .iter()
            .any(|p| starts_with_lowercase(&token.text, p))
        {
            continue;
        }
        let mut analyzed = analyzer.token_stream(&token.text);
        let word = analyzed
            .next()
            .and_then(|stemmed| words.iter().position(|w| *w == stemmed.text));
        if let Some(word) = word {
            found.push((token.offset_from..token.offset_to, word));
        }
    }
    found
}

/// Letters a stem shares with its word, used to skip tokens cheaply.
const PREFIX_CHARS: usize = 2;

fn starts_with_lowercase(token: &str, prefix: &[char]) -> bool {
    let mut lower = token.chars().flat_map(char::to_lowercase).map(fold_y);
    prefix.iter().all(|c| lower.next() == Some(*c))
}

fn fold_y(c: char) -> char {
    if c == 'y' {
        'i'
    } else {
        c
    }
}

/// The first and last match of the window (at most `SNIPPET_BYTES - LEAD_IN_BYTES` long) with
/// the most distinct words, then the most matches; the earliest wins a tie.
fn best_window(matches: &[(std::ops::Range<usize>, usize)]) -> Option<(usize, usize)> {
    let span = SNIPPET_BYTES - LEAD_IN_BYTES;
    let mut best: Option<((usize, usize), (usize, usize))> = None;
    let mut last = 0;
    for first in 0..matches.len() {
        last = last.max(first);
        while last + 1 < matches.len() && matches[last + 1].0.end - matches[first].0.start <= span {
            last += 1;
        }
        let mut distinct: Vec<usize> = matches[first..=last].iter().map(|m| m.1).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let score = (distinct.len(), last + 1 - first);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, (first, last)));
        }
    }
    best.map(|(_, window)| window)
}

/// Snippet bounds around the matches spanning `from..to`: opens up to `LEAD_IN_BYTES` before
/// them at a word start, runs to `SNIPPET_BYTES` and ends at a word end (never before `to`).
fn bounds(text: &str, from: usize, to: usize) -> (usize, usize) {
    let mut start = from.saturating_sub(LEAD_IN_BYTES);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    if start > 0 {
        // Skip the partial word the cut landed in.
        if let Some(space) = text[start..from].find(char::is_whitespace) {
            start += space;
        } else {
            start = from;
        }
    }
    let end = cut_back(text, (start + SNIPPET_BYTES).min(text.len())).max(to);
    (start, end)
}

/// `at`, moved back to a char boundary and, when it splits a word, to the end of the previous
/// one (unless that leaves nothing).
fn cut_back(text: &str, at: usize) -> usize {
    let mut end = at;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    if end == text.len() {
        return end;
    }
    match text[..end].rfind(char::is_whitespace) {
        Some(space) if space > 0 => space,
        _ => end,
    }
}

pub(super) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tantivy::tokenizer::{LowerCaser, SimpleTokenizer, Stemmer};

    fn analyzer() -> TextAnalyzer {
        TextAnalyzer::builder(SimpleTokenizer::default())
            .filter(LowerCaser)
            .filter(Stemmer::default())
            .build()
    }

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn opens_before_the_match_and_keeps_context_after_it() {
        let text = format!(
            "{} the websocket reconnects {}",
            "lorem ".repeat(40),
            "ipsum ".repeat(40)
        );
        let out = render(&mut analyzer(), &words(&["websocket", "reconnect"]), &text);
        assert!(out.starts_with("lorem"), "{out}");
        assert!(
            out.contains("the <mark>websocket</mark> <mark>reconnects</mark> ipsum"),
            "{out}"
        );
        assert!(out.ends_with("ipsum"), "{out}");
        assert!(
            out.len() <= SNIPPET_BYTES + 2 * "<mark></mark>".len(),
            "{out}"
        );
    }

    #[test]
    fn marks_inflected_forms_of_the_query_words() {
        let text = "The Skies were clear; DYING embers, reconnecting sockets and happiness.";
        let query = ["sky", "die", "reconnect", "socket", "happi"];
        let analyzed: Vec<String> = query
            .iter()
            .map(|w| analyzer().token_stream(w).next().unwrap().text.clone())
            .collect();
        let out = render(&mut analyzer(), &analyzed, text);
        for word in ["Skies", "DYING", "reconnecting", "sockets", "happiness"] {
            assert!(
                out.contains(&format!("<mark>{word}</mark>")),
                "{word}: {out}"
            );
        }
    }

    #[test]
    fn prefers_the_window_with_more_distinct_words() {
        let text = format!("alpha {} alpha beta {}", "x ".repeat(200), "y ".repeat(200));
        let out = render(&mut analyzer(), &words(&["alpha", "beta"]), &text);
        assert!(
            out.contains("<mark>alpha</mark> <mark>beta</mark>"),
            "{out}"
        );
    }

    #[test]
    fn without_a_match_gives_the_start_cut_at_a_word() {
        let text = format!("first <words> {}", "word ".repeat(100));
        let out = render(&mut analyzer(), &words(&["absent"]), &text);
        assert!(out.starts_with("first &lt;words&gt; word"), "{out}");
        assert!(
            out.ends_with("word") && out.len() <= SNIPPET_BYTES + 8,
            "{out}"
        );
        assert_eq!(render(&mut analyzer(), &words(&["absent"]), ""), "");
    }

    #[test]
    fn multibyte_text_is_cut_on_char_boundaries() {
        let text = format!("{} match {}", "é ".repeat(60), "ü".repeat(200));
        let out = render(&mut analyzer(), &words(&["match"]), &text);
        assert!(out.contains("<mark>"), "{out}");
        let text = "ß".repeat(300);
        assert!(!render(&mut analyzer(), &words(&["x"]), &text).is_empty());
    }
}
