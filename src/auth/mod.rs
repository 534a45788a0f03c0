//! Keys, the authenticated caller, and rate limits.

pub mod keys;
pub mod principal;
pub mod project;
pub mod rate_limit;
pub mod scopes;

pub use principal::Principal;
pub use project::{
    AgentRunsRead, AgentRunsWrite, KnowledgeRead, KnowledgeWrite, PersonasRead, PersonasWrite,
    ProjectEditor, ProjectReader, UserOnly,
};
