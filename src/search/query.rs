//! From the user's words to a ranked page of hits with snippets.
//!
//! The words are never parsed as query syntax: `q` is run through the same analyzer as the
//! indexed text, so quotes, colons, `AND`, parentheses and `-` are just separators and nothing a
//! user types can be an error. Every remaining word must match (like `plainto_tsquery`) in at
//! least one of title (×3), alias (×2), tags (×2) or text; the filters (owner, tools, age) add
//! no score. Ranking is BM25, then `updated_at` desc, then `session_id` asc.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Bound;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{
    DocAddress, DocId, Index, Score, Searcher, SegmentOrdinal, SegmentReader, TantivyDocument, Term,
};

use super::schema::{Fields, SESSION_ID, UPDATED_AT};
use super::{snippet, SearchError, SearchHit, SearchPage, SearchQuery};

const TITLE_BOOST: Score = 3.0;
const ALIAS_BOOST: Score = 2.0;
const TAGS_BOOST: Score = 2.0;

pub(super) fn run(
    index: &Index,
    searcher: &Searcher,
    fields: &Fields,
    request: &SearchQuery,
) -> Result<SearchPage, SearchError> {
    let words = analyze(index, fields.text, &request.q)?;
    if words.is_empty() {
        return Ok(SearchPage::default());
    }
    let query = build(fields, &words, request);
    let mut matches = searcher.search(&query, &AllMatches)?;
    let total = matches.len();
    let window = order_window(searcher, &mut matches, request.offset, request.limit)?;
    let hits = snippets(index, searcher, fields, &words, window)?;
    Ok(SearchPage { hits, total })
}

/// The distinct terms of `q` as the analyzer of `field` produces them (stop words dropped,
/// stemmed), in order of first appearance.
fn analyze(index: &Index, field: Field, q: &str) -> Result<Vec<String>, SearchError> {
    let mut analyzer = index.tokenizer_for_field(field)?;
    let mut stream = analyzer.token_stream(q);
    let mut words: Vec<String> = Vec::new();
    while let Some(token) = stream.next() {
        if !words.contains(&token.text) {
            words.push(token.text.clone());
        }
    }
    Ok(words)
}

fn build(fields: &Fields, words: &[String], request: &SearchQuery) -> BooleanQuery {
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .map(|word| (Occur::Must, word_in_any_field(fields, word)))
        .collect();
    clauses.push((Occur::Must, filter(exact(fields.user_id, &request.user_id))));
    if !request.tools.is_empty() {
        let any_tool = request
            .tools
            .iter()
            .map(|tool| (Occur::Should, exact(fields.source_tool, tool)))
            .collect();
        clauses.push((Occur::Must, filter(Box::new(BooleanQuery::new(any_tool)))));
    }
    if let Some(since) = request.updated_since_micros {
        let range = RangeQuery::new(
            Bound::Included(Term::from_field_i64(fields.updated_at, since)),
            Bound::Unbounded,
        );
        clauses.push((Occur::Must, filter(Box::new(range))));
    }
    BooleanQuery::new(clauses)
}

/// One word, matched in any text field; the scores of the fields it is in add up.
fn word_in_any_field(fields: &Fields, word: &str) -> Box<dyn Query> {
    let scored = |field: Field, boost: Score| -> (Occur, Box<dyn Query>) {
        let term = TermQuery::new(
            Term::from_field_text(field, word),
            IndexRecordOption::WithFreqs,
        );
        (
            Occur::Should,
            Box::new(BoostQuery::new(Box::new(term), boost)),
        )
    };
    Box::new(BooleanQuery::new(vec![
        scored(fields.title, TITLE_BOOST),
        scored(fields.alias, ALIAS_BOOST),
        scored(fields.tags, TAGS_BOOST),
        scored(fields.text, 1.0),
    ]))
}

fn exact(field: Field, value: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, value),
        IndexRecordOption::Basic,
    ))
}

/// A clause that must match but adds nothing to the score.
fn filter(query: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(query, 0.0))
}

/// One matching document with what ranking needs.
#[derive(Clone, Copy, Debug)]
struct Match {
    score: Score,
    updated_at: i64,
    address: DocAddress,
}

/// Collects every match (the count is needed anyway, and a caller's matches are few enough
/// to sort: tens of bytes each), so ties can be broken exactly.
struct AllMatches;

struct SegmentMatches {
    segment: SegmentOrdinal,
    updated_at: Column<i64>,
    found: Vec<Match>,
}

impl Collector for AllMatches {
    type Fruit = Vec<Match>;
    type Child = SegmentMatches;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentMatches> {
        Ok(SegmentMatches {
            segment,
            updated_at: reader.fast_fields().i64(UPDATED_AT)?,
            found: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<Match>>) -> tantivy::Result<Vec<Match>> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for SegmentMatches {
    type Fruit = Vec<Match>;

    fn collect(&mut self, doc: DocId, score: Score) {
        self.found.push(Match {
            score,
            updated_at: self.updated_at.first(doc).unwrap_or(i64::MIN),
            address: DocAddress::new(self.segment, doc),
        });
    }

    fn harvest(self) -> Vec<Match> {
        self.found
    }
}

/// Score desc, then newest first.
fn by_rank(a: &Match, b: &Match) -> Ordering {
    b.score
        .total_cmp(&a.score)
        .then(b.updated_at.cmp(&a.updated_at))
}

/// Sorts the matches and returns the requested window in final order with session ids.
/// Matches whose score and time tie with the window's edges are ordered by session id too, so
/// pages never overlap or skip a document.
fn order_window(
    searcher: &Searcher,
    matches: &mut [Match],
    offset: usize,
    limit: usize,
) -> Result<Vec<(Match, String)>, SearchError> {
    matches.sort_unstable_by(by_rank);
    let start = offset.min(matches.len());
    let end = offset.saturating_add(limit).min(matches.len());
    if start == end {
        return Ok(Vec::new());
    }
    let mut low = start;
    while low > 0 && by_rank(&matches[low - 1], &matches[start]).is_eq() {
        low -= 1;
    }
    let mut high = end;
    while high < matches.len() && by_rank(&matches[high], &matches[end - 1]).is_eq() {
        high += 1;
    }
    let mut ids = SessionIds::new(searcher);
    let mut ranked = matches[low..high]
        .iter()
        .map(|m| Ok((*m, ids.get(m.address)?)))
        .collect::<Result<Vec<_>, SearchError>>()?;
    ranked.sort_by(|a, b| by_rank(&a.0, &b.0).then_with(|| a.1.cmp(&b.1)));
    Ok(ranked.drain(start - low..end - low).collect())
}

/// Reads session ids from the fast column, opening each segment's column once.
struct SessionIds<'a> {
    searcher: &'a Searcher,
    columns: HashMap<SegmentOrdinal, StrColumn>,
}

impl<'a> SessionIds<'a> {
    fn new(searcher: &'a Searcher) -> Self {
        SessionIds {
            searcher,
            columns: HashMap::new(),
        }
    }

    fn get(&mut self, address: DocAddress) -> Result<String, SearchError> {
        let column = match self.columns.entry(address.segment_ord) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let reader = self.searcher.segment_reader(address.segment_ord);
                let column = reader
                    .fast_fields()
                    .str(SESSION_ID)?
                    .ok_or(SearchError::NoSessionIdColumn)?;
                entry.insert(column)
            }
        };
        let mut id = String::new();
        if let Some(ord) = column.term_ords(address.doc_id).next() {
            column.ord_to_str(ord, &mut id)?;
        }
        Ok(id)
    }
}

fn snippets(
    index: &Index,
    searcher: &Searcher,
    fields: &Fields,
    words: &[String],
    window: Vec<(Match, String)>,
) -> Result<Vec<SearchHit>, SearchError> {
    if window.is_empty() {
        return Ok(Vec::new());
    }
    let mut analyzer = index.tokenizer_for_field(fields.text)?;
    window
        .into_iter()
        .map(|(m, session_id)| {
            let doc: TantivyDocument = searcher.doc(m.address)?;
            let text = doc
                .get_first(fields.text)
                .and_then(|v| v.as_str())
                .unwrap_or("");
            Ok(SearchHit {
                session_id,
                score: m.score,
                snippet: snippet::render(&mut analyzer, words, text),
            })
        })
        .collect()
}
