//! Keys, the authenticated caller, and rate limits.

pub mod keys;
pub mod principal;
pub mod rate_limit;
pub mod scopes;

pub use principal::Principal;
