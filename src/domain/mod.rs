//! Rules that are not HTTP: accounts, sessions, tiers, git remotes.

pub mod accounts;
pub mod admin;
pub mod git_remote;
pub mod handoffs;
pub mod orgs;
pub mod sessions;
pub mod shares;
pub mod tiers;
