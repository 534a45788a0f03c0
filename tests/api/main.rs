//! Integration tests over real HTTP, one module per area of the API.

mod auth;
mod autosync;
mod handoffs;
mod mail_flow;
mod ops;
mod org;
mod push;
mod search;
mod service_keys;
mod sessions;
mod share;
mod summary;

#[path = "../common/mod.rs"]
mod common;
