//! The scope vocabulary of service keys. `*` is reserved for user keys; service keys must
//! enumerate their scopes. Which routes accept which scope is declared at each route with
//! [`crate::auth::principal::Scoped`].

/// Every scope a service key may carry (sessionfs 0.26.0's vocabulary).
pub const VOCABULARY: [&str; 32] = [
    "handoffs:read",
    "handoffs:write",
    "agent_runs:read",
    "agent_runs:write",
    "tickets:read",
    "tickets:write",
    "knowledge:read",
    "knowledge:write",
    "personas:read",
    "personas:write",
    "work_queues:read",
    "work_queues:write",
    "agent_feedback:read",
    "agent_feedback:write",
    "resident_memory:read",
    "resident_memory:write",
    "marketplace:read",
    "marketplace:write",
    "skills:read",
    "skills:request",
    "skills:approve",
    "skills:admin",
    "devices:report",
    "skills_verify:run",
    "skills_registry:poll",
    "platform_sweeps:run",
    "admin_metrics:read",
    "sessions:read",
    "rules:read",
    "rules:write",
    "retrieval_audit:read",
    "admin:*",
];

/// Scopes only a platform admin may put on a key.
pub const PLATFORM_ONLY: [&str; 4] = [
    "skills_verify:run",
    "skills_registry:poll",
    "platform_sweeps:run",
    "admin_metrics:read",
];

/// The scope of user keys: everything.
pub const ALL: &str = "*";

pub fn is_platform_only(scope: &str) -> bool {
    PLATFORM_ONLY.contains(&scope)
}

pub fn is_known(scope: &str) -> bool {
    VOCABULARY.contains(&scope)
}
