//! What the rules refuse, in the domain's words.
//!
//! Every domain function returns [`DomainError`]: what was wrong (not found, a stale ETag, a
//! missing tier, …) with the data the answer needs. Which HTTP status each gets is the API's
//! choice (`crate::error`); lower layers' errors pass through unchanged.

use serde_json::Value;

use crate::archive::ArchiveError;
use crate::db::DbError;
use crate::domain::projects::Boundary;
use crate::domain::tiers::Tier;
use crate::search::SearchError;

pub type DomainResult<T> = Result<T, DomainError>;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// The thing asked for does not exist, or is not the caller's to see.
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be read as meant (a bad id format, an unknown option).
    #[error("{0}")]
    Malformed(String),
    /// A field of the request breaks a rule: `loc` is its path (`["body", "email"]`).
    #[error("{message}")]
    Invalid {
        loc: Vec<&'static str>,
        message: String,
        input: Value,
    },
    /// A field of the request breaks a schema rule of kind `kind` (pydantic's `string_too_long`, …).
    #[error("{message}")]
    Schema {
        kind: &'static str,
        loc: Vec<&'static str>,
        message: String,
        input: Box<Value>,
    },
    /// The request is well formed but cannot be carried out as asked.
    #[error("{0}")]
    Unprocessable(String),
    /// The caller may not do this, for the reason named by `code` (`details.error`).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// The request collides with the current state, for the reason named by `code`.
    #[error("{message}")]
    Clash { code: &'static str, message: String },
    /// No `## ` section of the context document has this slug (02 §3.6 context sections).
    #[error("Error")]
    SectionNotFound {
        slug: String,
        available: Vec<String>,
    },
    /// The project's paying plan lacks a project-scoped feature (02 §0.5).
    #[error("This feature requires the project's plan to be {required} or above.")]
    ProjectUpgradeRequired {
        feature: &'static str,
        current: Tier,
        required: Tier,
        project_id: String,
    },
    /// A protected resource was asked for without its password.
    #[error("Password required")]
    PasswordRequired,
    #[error("Invalid password")]
    WrongPassword,
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The caller lacks the admin role in their organization (`current` is their role, if any).
    #[error("{}", if current.is_some() {
        "This action requires the admin role."
    } else {
        "This action requires an organization membership."
    })]
    InsufficientRole { current: Option<String> },
    #[error("The organization has no free seats")]
    SeatLimit { used: i64, limit: i64 },
    /// The caller's tier does not include the feature.
    #[error("This feature requires {required} or above.")]
    UpgradeRequired {
        feature: &'static str,
        current: Tier,
        required: Tier,
    },
    /// A service key outside the project boundary (02 §0.3).
    #[error("{}", boundary_message(.0))]
    Boundary(Boundary),
    /// The caller may read the project but not edit it.
    #[error("You do not have edit access to this project")]
    EditForbidden,
    /// A body field is larger than the server accepts.
    #[error("{0}")]
    TooLarge(String),
    /// The request collides with the current state.
    #[error("{0}")]
    Conflict(String),
    /// `If-Match` names another version than the current one.
    #[error("{message}")]
    StaleEtag {
        message: &'static str,
        current: String,
    },
    /// Another claim of the same handoff won.
    #[error("Error")]
    ClaimRaceLost,
    /// The thing existed but is no longer available (deleted, expired, revoked).
    #[error("{0}")]
    Gone(String),
    /// A summary was asked for a session without messages.
    #[error("Could not generate summary — no messages found")]
    NoMessages,
    #[error("{message}")]
    TooMany {
        message: String,
        retry_after: Option<u32>,
    },
    /// Our fault: a broken invariant or a failed computation (logged, never explained).
    #[error("{0}")]
    Fault(String),
    /// Reading or writing the archive store failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("blocking task: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    #[error(transparent)]
    Search(#[from] SearchError),
    /// A fenced ticket write whose `lease_epoch` is behind the ticket's (02 §5.5).
    #[error("Ticket lease_epoch has advanced since you read it. Re-fetch the ticket and retry.")]
    StaleLease { passed: i64, current: i64 },
    /// A reader may no longer change these fields of a ticket under way (02 §5.5).
    #[error("You do not have edit access to change {} on this ticket", .0.join(", "))]
    EditForbiddenFields(Vec<&'static str>),
    /// A chunked-upload request the upload's state refuses.
    #[error(transparent)]
    Upload(crate::domain::uploads::UploadError),
}

fn boundary_message(b: &Boundary) -> &'static str {
    match b {
        Boundary::MissingOrg => "Service key has no organization",
        Boundary::CrossOrg { .. } => "Service key cannot access projects outside its organization",
        Boundary::NotInAllowlist { .. } => "Service key is not allowed to access this project",
        Boundary::ProjectRequired => {
            "The handoff's source session is gone, so a service key cannot act on it"
        }
        Boundary::NotRegistered => "The session is not part of a registered project",
        Boundary::Ambiguous { .. } => "The session's repository names more than one project",
    }
}
