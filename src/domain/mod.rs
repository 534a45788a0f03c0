//! Rules that are not HTTP: accounts, sessions, tiers, git remotes.

pub mod accounts;
pub mod admin;
pub mod agent_context;
pub mod agent_runs;
pub mod audit;
pub mod autosync;
pub mod browser_sessions;
pub mod compile;
mod error;
pub mod git_remote;
pub mod handoffs;
pub mod judge;
pub mod keys;
pub mod knowledge;
pub mod knowledge_index;
pub mod orgs;
pub mod personas;
pub mod projects;
pub mod search;
pub mod service_keys;
pub mod sessions;
pub mod settings;
pub mod shares;
pub mod summaries;
pub mod summary;
pub mod tickets;
pub mod tiers;
pub mod uploads;
pub mod wiki;

pub use error::{DomainError, DomainResult};
