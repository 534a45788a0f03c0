//! sessionfs-server: a self-hosted SessionFS server in one binary.
//!
//! Data flows one way: `api` (HTTP) → `domain` (rules) → `db` / `archive` (storage).
//! Nothing below `api` knows about HTTP.

pub mod api;
pub mod archive;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod llm;
pub mod mail;
pub mod metrics;
pub mod ops;
pub mod search;
pub mod secrets;
pub mod server;
pub mod state;
pub mod systemd;
pub mod web;
