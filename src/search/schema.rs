//! The index schema, its analyzer, and how a [`SessionDoc`] becomes a tantivy document.
//!
//! Any change here that alters what is on disk must bump [`SCHEMA_VERSION`]: the marker file
//! then no longer matches and the next start rebuilds the index from the archives.

use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, FAST, STORED,
    STRING,
};
use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, StopWordFilter, TextAnalyzer,
};
use tantivy::{Index, TantivyDocument};

use super::stem::MemoStemmer;
use super::SessionDoc;

/// Written to the marker file once the index holds a complete rebuild under this schema.
pub(super) const SCHEMA_VERSION: &str = "sessionfs-search-1";

/// Name of our analyzer. Tantivy keeps only the name in the schema, so it must be registered on
/// every [`Index`] we open ([`register_analyzer`]).
const ANALYZER: &str = "sfs_en";

/// Longest message text indexed per session; the rest is cut (at a char boundary).
pub(super) const MAX_TEXT_BYTES: usize = 100 * 1024;

/// The field handles, resolved once.
#[derive(Clone, Copy, Debug)]
pub(super) struct Fields {
    pub session_id: Field,
    pub user_id: Field,
    pub source_tool: Field,
    pub updated_at: Field,
    pub title: Field,
    pub alias: Field,
    pub tags: Field,
    pub text: Field,
}

pub(super) const SESSION_ID: &str = "session_id";
pub(super) const UPDATED_AT: &str = "updated_at";

/// The schema. Identifiers are raw (one exact term each); `session_id` is also a fast column so
/// ties in ranking can be broken by id without opening stored documents. Words are indexed with
/// frequencies but no positions: we never run phrase queries, and positions would roughly
/// double the postings on disk.
pub(super) fn build_schema() -> Schema {
    let mut builder = Schema::builder();
    builder.add_text_field(SESSION_ID, STRING | STORED | FAST);
    builder.add_text_field("user_id", STRING);
    builder.add_text_field("source_tool", STRING);
    builder.add_i64_field(UPDATED_AT, NumericOptions::default().set_indexed() | FAST);
    builder.add_text_field("title", words(true));
    builder.add_text_field("alias", words(false));
    builder.add_text_field("tags", words(false));
    builder.add_text_field("text", words(true));
    builder.build()
}

fn words(stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(ANALYZER)
        .set_index_option(IndexRecordOption::WithFreqs);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

/// Splits on non-alphanumerics, drops tokens over 40 bytes, lowercases, drops English stop words
/// and stems: the same idea as PostgreSQL's `english` configuration behind the reference's
/// `plainto_tsquery` (its stop list is the same Snowball list). A static chain (no boxed
/// filters) whose stemmer remembers its stems ([`MemoStemmer`]): indexing a session's text is
/// most of a push's CPU.
pub(super) fn register_analyzer(index: &Index) {
    index.tokenizers().register(ANALYZER, english_analyzer());
}

/// The analyzer of [`register_analyzer`], also the knowledge index's.
pub(super) fn english_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(
            StopWordFilter::new(Language::English)
                .expect("tantivy's `stopwords` feature is on (Cargo.toml)"),
        )
        .filter(MemoStemmer)
        .build()
}

impl Fields {
    pub(super) fn resolve(schema: &Schema) -> Result<Fields, String> {
        let field = |name: &str| schema.get_field(name).map_err(|e| e.to_string());
        Ok(Fields {
            session_id: field(SESSION_ID)?,
            user_id: field("user_id")?,
            source_tool: field("source_tool")?,
            updated_at: field(UPDATED_AT)?,
            title: field("title")?,
            alias: field("alias")?,
            tags: field("tags")?,
            text: field("text")?,
        })
    }

    pub(super) fn document(&self, doc: &SessionDoc) -> TantivyDocument {
        let mut out = TantivyDocument::default();
        out.add_text(self.session_id, &doc.session_id);
        out.add_text(self.user_id, &doc.user_id);
        out.add_text(self.source_tool, &doc.source_tool);
        out.add_i64(self.updated_at, doc.updated_at_micros);
        if let Some(title) = &doc.title {
            out.add_text(self.title, title);
        }
        if let Some(alias) = &doc.alias {
            out.add_text(self.alias, alias);
        }
        for tag in &doc.tags {
            out.add_text(self.tags, tag);
        }
        out.add_text(self.text, truncate(&doc.text, MAX_TEXT_BYTES));
        out
    }
}

/// The longest prefix of `text` of at most `max` bytes that ends on a char boundary.
pub(super) fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
