//! Rules that are not HTTP: accounts, sessions, tiers, git remotes.

pub mod accounts;
pub mod admin;
pub mod autosync;
pub mod browser_sessions;
mod error;
pub mod git_remote;
pub mod handoffs;
pub mod keys;
pub mod knowledge;
pub mod orgs;
pub mod projects;
pub mod search;
pub mod service_keys;
pub mod sessions;
pub mod shares;
pub mod summaries;
pub mod summary;
pub mod tiers;
pub mod uploads;

pub use error::{DomainError, DomainResult};
