//! Integration tests over real HTTP, one module per area of the API.

mod audit;
mod auth;
mod autosync;
mod gc;
mod handoffs;
mod knowledge;
mod linger;
mod mail_flow;
mod ops;
mod org;
mod projects;
mod push;
mod search;
mod service_keys;
mod sessions;
mod settings;
mod share;
mod strict_bodies;
mod summary;
mod uploads;

#[path = "../common/mod.rs"]
mod common;
