//! Integration tests over real HTTP, one module per area of the API.

mod admin;
mod agent_runs;
mod audit;
mod auth;
mod autosync;
mod compile;
mod compile_llm;
mod gc;
mod handoffs;
mod knowledge;
mod knowledge_index;
mod linger;
mod mail_flow;
mod ops;
mod org;
mod personas;
mod projects;
mod push;
mod search;
mod service_keys;
mod sessions;
mod settings;
mod share;
mod strict_bodies;
mod summary;
mod tickets;
mod uploads;
mod web;
mod wiki;

#[path = "../common/mod.rs"]
mod common;
