//! Compile and rebuild (02 §3.6): fold the project's fresh claims into its context document.
//!
//! The rules are pure functions over the loaded rows, one per step of the contract, so each is
//! tested alone with a clock that moves:
//!
//! 1. [`refresh_freshness`] — current / aging / stale / superseded by age and type;
//! 2. [`auto_supersede`] — near-identical newer entries of one entity supersede older ones;
//! 3. [`decay`] — at most once per 30 days, confidence × 0.8 for entries not relevant in 90 days;
//! 4. [`retention`] — dismiss low-confidence entries older than `kb_retention_days`;
//! 5. [`promote_evidence`] — extracted evidence written by editors becomes a claim;
//! 6. [`clear_compiled`] — rebuild only: every active claim is pending again;
//! 7. [`pending`] — the claims to fold in, best first;
//! 8. [`noop_reason`] — nothing to fold in: steps 1–5 are kept and the no-op answer given;
//! 9. [`deterministic_merge`] (or [`merge_with_llm`]) and [`enforce_budget`];
//! 10. the save, with [`manifest`];
//! 11. [`section_pages`] — one page per entry type;
//! 12. after the commit, [`concept_clusters`] → concept pages (errors logged, never answered).
//!
//! [`compile_in`] runs steps 1–11 in ONE write transaction: each step's writes, then the next;
//! any error rolls every step back (the writer's savepoint), so a compile is all or nothing.
//! Its `hook` lets tests fail it after any step.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use chrono::Duration;
use rusqlite::Connection;
use serde_json::{json, Value};

use crate::auth::keys::random_hex;
use crate::clock::{self, Clock, Timestamp};
use crate::db::compile::{
    self as rows, CompilationKind, CompileEntry, CompileSettings, NewCompilation,
};
use crate::db::knowledge::{self, ClaimClass, EntryType, Freshness, LinkNode, LinkType, NewLink};
use crate::db::wiki::{self, Page, PageType};
use crate::db::Db;
use crate::domain::projects::not_found;
use crate::domain::{DomainError, DomainResult};

/// Below this confidence a fact is "unverified".
pub const LOW_CONFIDENCE: f64 = 0.5;
const AUTO_SUPERSEDE_OVERLAP: f64 = 0.9;
const CONTRADICTS_OVERLAP: f64 = 0.5;
const DECAY_PERIOD_DAYS: i64 = 30;
const DECAY_IDLE_DAYS: i64 = 90;
const DECAY_FACTOR: f64 = 0.8;
const RETENTION_MAX_CONFIDENCE: f64 = 0.3;
const EVIDENCE_MIN_CONFIDENCE: f64 = 0.5;
const EVIDENCE_MIN_CHARS: usize = 30;
const CONCEPT_MIN_ENTRIES: usize = 15;
const CONCEPT_MIN_CLUSTER: usize = 5;
const CONCEPT_MAX_CLUSTERS: usize = 10;
pub const EMPTY_DOCUMENT: &str = "# Project Context";

/// The steps of a compile, in order (a failure can be injected after any of them in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Freshness,
    AutoSupersede,
    Decay,
    Retention,
    EvidencePromotion,
    Rebuild,
    Save,
    SectionPages,
}

impl Step {
    pub const ALL: [Step; 8] = [
        Step::Freshness,
        Step::AutoSupersede,
        Step::Decay,
        Step::Retention,
        Step::EvidencePromotion,
        Step::Rebuild,
        Step::Save,
        Step::SectionPages,
    ];
}

/// The section heading and page of each entry type.
pub fn heading(t: EntryType) -> &'static str {
    match t {
        EntryType::Decision => "Key Decisions",
        EntryType::Pattern => "Patterns & Conventions",
        EntryType::Discovery => "Discoveries",
        EntryType::Convention => "Coding Conventions",
        EntryType::Bug => "Known Issues & Workarounds",
        EntryType::Dependency => "Dependencies & Integrations",
    }
}

pub fn section_page_slug(t: EntryType) -> &'static str {
    match t {
        EntryType::Decision => "key-decisions",
        EntryType::Pattern => "patterns",
        EntryType::Discovery => "discoveries",
        EntryType::Convention => "coding-conventions",
        EntryType::Bug => "known-issues",
        EntryType::Dependency => "dependencies",
    }
}

/// Entry types in alphabetical order (the merge's order).
fn types_alphabetical() -> Vec<EntryType> {
    let mut types = EntryType::ALL.to_vec();
    types.sort_by_key(|t| t.as_str());
    types
}

/// Days after which an entry of a type is stale (half of it: aging).
pub fn freshness_window_days(t: EntryType) -> i64 {
    match t {
        EntryType::Bug => 30,
        EntryType::Dependency => 60,
        EntryType::Pattern | EntryType::Discovery => 90,
        EntryType::Convention => 180,
        EntryType::Decision => 365,
    }
}

/// A section's slug: the heading lowercased, runs of anything not alphanumeric turned into
/// one `_`, no `_` at either end (`Patterns & Conventions` → `patterns_conventions`).
pub fn section_slug(heading: &str) -> String {
    let mut out = String::new();
    let mut gap = false;
    for c in heading.trim().chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            out.push(c);
        } else {
            gap = true;
        }
    }
    out
}

pub fn word_count(text: &str) -> i64 {
    text.split_whitespace().count() as i64
}

fn at(text: &str, fallback: Timestamp) -> Timestamp {
    clock::parse(text).unwrap_or(fallback)
}

fn is_active_claim(e: &CompileEntry) -> bool {
    e.claim_class == ClaimClass::Claim && !e.dismissed && e.superseded_by.is_none()
}

fn relevant_since(e: &CompileEntry, now: Timestamp) -> Timestamp {
    at(e.last_relevant_at.as_deref().unwrap_or(&e.created_at), now)
}

mod llm;
mod merge;
mod pages;
mod reports;
mod restore;
mod run;
mod steps;

pub use llm::*;
pub use merge::*;
pub use pages::*;
pub use reports::*;
pub use restore::*;
pub use run::*;
pub use steps::*;

#[cfg(test)]
mod tests;
