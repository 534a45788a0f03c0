//! Integration tests over real HTTP, one module per area of the API.

mod auth;
mod autosync;
mod handoffs;
mod harness;
mod org;
mod push;
mod service_keys;
mod sessions;
mod share;
