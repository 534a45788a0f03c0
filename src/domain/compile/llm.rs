//! Step 9 with a model: the LLM merge. The body of a compile may name a model and carry a key
//! (for this request only: never stored, never logged); the model is asked for the updated
//! document outside any transaction, and any failure falls back to the deterministic merge
//! with a note that says why.

use super::*;
use crate::llm::{self as client, providers, LlmRequest, Outbound};
use crate::secrets::Plain;

/// The LLM settings a compile body may carry (used for this request only, never stored).
#[derive(Clone, Default)]
pub struct LlmConfig {
    pub api_key: String,
    pub model: String,
    pub provider: Option<String>,
    pub base_url: Option<String>,
}

/// Never prints the key.
impl std::fmt::Debug for LlmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmConfig")
            .field("model", &self.model)
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl LlmConfig {
    /// The provider to speak to: the one named; with a `base_url`, an OpenAI-compatible
    /// endpoint whatever its label; else the one the model's name implies.
    pub fn provider(&self) -> String {
        match (&self.provider, &self.base_url) {
            (Some(p), _) if !p.trim().is_empty() => p.trim().to_string(),
            (_, Some(u)) if !u.trim().is_empty() => "custom".to_string(),
            _ => providers::detect(&self.model).to_string(),
        }
    }

    /// One chat completion for this model.
    pub fn request(&self, system: &str, user: String, max_tokens: u32) -> LlmRequest {
        LlmRequest {
            provider: self.provider(),
            model: self.model.clone(),
            api_key: Plain::new(self.api_key.clone()),
            base_url: self
                .base_url
                .as_deref()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            system: system.to_string(),
            user,
            max_tokens,
        }
    }
}

/// Why a model's document was not used.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmUnavailable {
    /// The call failed: the provider's error, a timeout, an endpoint the URL guard refused…
    /// (the text never holds the key).
    Failed(String),
    /// The model answered nothing.
    Empty,
    /// The pending claims (or the document) changed while the model was merging, on every try.
    Moved,
    /// The page (or its entries) changed while the model was writing its article.
    PageMoved,
}

impl LlmUnavailable {
    /// The response's `merge_note`.
    pub fn note(&self) -> String {
        let why = match self {
            LlmUnavailable::Failed(e) => format!("the model could not be used ({e})"),
            LlmUnavailable::Empty => "the model answered an empty document".to_string(),
            LlmUnavailable::Moved => format!(
                "the pending claims changed while the model was merging ({MAX_LLM_CALLS} tries)"
            ),
            LlmUnavailable::PageMoved => {
                "the page or its entries changed while the model was writing".to_string()
            }
        };
        format!(
            "An LLM merge was requested, but {why}: the deterministic merge was used. The API \
             key was not stored."
        )
    }
}

/// At most this many model calls per compile (a re-plan after the inputs moved).
pub const MAX_LLM_CALLS: usize = 2;
const MERGE_MAX_TOKENS: u32 = 8192;

/// What a compile asks of a model: the document and the pending facts, grouped by type.
#[derive(Debug, Clone)]
pub struct MergePlan {
    pub document: String,
    pub pending_ids: Vec<i64>,
    pub facts: Vec<(EntryType, String)>,
}

/// A model's document and the inputs it was planned on ([`compile_in`] uses it only if they
/// are still the inputs).
#[derive(Debug, Clone)]
pub struct LlmMerge {
    pub pending_ids: Vec<i64>,
    pub document: String,
    pub text: String,
}

pub const MERGE_SYSTEM_PROMPT: &str = "You maintain the context document of a software \
    project: the Markdown text coding agents read before they start work. Merge the new facts \
    you are given into the current document. Keep its structure and its `## ` headings, put \
    each fact under the section it belongs to (add a section only when none fits), drop facts \
    the document already states and duplicates among the new ones, and keep the text concise. \
    Answer with the complete updated document only: no preamble, no explanation, no code \
    fences.";

/// The user message of a merge: the current document and the new facts by type.
pub fn merge_prompt(plan: &MergePlan) -> String {
    let mut out = String::from("Current context document:\n\n");
    if plan.document.trim().is_empty() {
        out.push_str("(empty: start one titled \"# Project Context\")\n");
    } else {
        out.push_str(plan.document.trim());
        out.push('\n');
    }
    out.push_str("\nNew facts to merge, by type:\n");
    for t in types_alphabetical() {
        let facts: Vec<&String> = plan
            .facts
            .iter()
            .filter(|(ft, _)| *ft == t)
            .map(|(_, c)| c)
            .collect();
        if facts.is_empty() {
            continue;
        }
        out.push_str(&format!("\n### {} ({})\n", heading(t), t.as_str()));
        for f in facts {
            out.push_str(&format!("- {}\n", bullet_text(f)));
        }
    }
    out.push_str("\nAnswer with the updated document.\n");
    out
}

/// A model's answer as a document: trimmed, and unwrapped from one code fence if it used one.
pub fn answer_document(answer: &str) -> String {
    let text = answer.trim();
    if let Some(rest) = text.strip_prefix("```") {
        if let Some(inner) = rest.strip_suffix("```") {
            // Drop the fence's language tag line (```markdown).
            let inner = inner.split_once('\n').map_or("", |(_, body)| body);
            return inner.trim().to_string();
        }
    }
    text.to_string()
}

/// The LLM merge of 02 §3.6 step 9: the updated document, as the model wrote it (trimmed;
/// [`compile_in`] enforces the word budget). Called outside any transaction.
pub async fn merge_with_llm(
    out: &Outbound,
    llm: &LlmConfig,
    plan: &MergePlan,
) -> Result<String, LlmUnavailable> {
    let request = llm.request(MERGE_SYSTEM_PROMPT, merge_prompt(plan), MERGE_MAX_TOKENS);
    let answer = client::complete(&request, out)
        .await
        .map_err(|e| LlmUnavailable::Failed(e.to_string()))?;
    let document = answer_document(&answer);
    if document.is_empty() {
        return Err(LlmUnavailable::Empty);
    }
    Ok(document)
}

/// How the document was merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    Deterministic,
    Llm,
}
