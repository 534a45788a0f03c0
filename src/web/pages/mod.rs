//! One module per area of the dashboard.

pub mod account;
pub mod admin;
pub mod handoffs;
pub mod keys;
pub mod org;
pub mod personas;
pub mod projects;
pub mod runs;
pub mod search;
pub mod sessions;
pub mod settings;
pub mod tickets;
pub mod wiki;
