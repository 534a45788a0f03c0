//! One module per area of the dashboard.

pub mod account;
pub mod admin;
pub mod handoffs;
pub mod keys;
pub mod org;
pub mod projects;
pub mod search;
pub mod sessions;
