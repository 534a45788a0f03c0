//! Comments (02 §5.8): a page of them, adding one (fenced by the lease when given), and the
//! review state derived from the trusted ones.

use serde_json::Value;

use super::{load, new_id, review, stale_lease, Caller, MAX_COMMENT_CHARS};
use crate::clock::Clock;
use crate::db::projects::Project;
use crate::db::tickets::{self, Comment};
use crate::db::Db;
use crate::domain::{DomainError, DomainResult};

/// A page of comments (02 §5.8).
pub async fn comments(
    db: &Db,
    project_id: String,
    id: String,
    since: Option<String>,
    since_id: Option<String>,
    limit: i64,
) -> DomainResult<Vec<Comment>> {
    db.read(move |conn| {
        load(conn, &project_id, &id)?;
        Ok(tickets::comments(
            conn,
            &id,
            since.as_deref(),
            since_id.as_deref(),
            limit,
        )?)
    })
    .await
}

/// A new comment's body, typed.
#[derive(Debug, Clone, Default)]
pub struct NewComment {
    pub content: String,
    pub author_persona: Option<String>,
    pub session_id: Option<String>,
    pub lease_epoch: Option<i64>,
    pub send_to_jira: bool,
}

/// Adds a comment; fenced by `lease_epoch` when given. Readers may comment.
pub async fn add_comment(
    db: &Db,
    clock: &Clock,
    caller: Caller,
    project: Project,
    id: String,
    req: NewComment,
) -> DomainResult<Comment> {
    let content = req.content.trim().to_string();
    let n = content.chars().count();
    if n == 0 || n > MAX_COMMENT_CHARS {
        return Err(DomainError::Schema {
            kind: if n == 0 {
                "string_too_short"
            } else {
                "string_too_long"
            },
            loc: vec!["body", "content"],
            message: if n == 0 {
                "String should have at least 1 character".into()
            } else {
                format!("String should have at most {MAX_COMMENT_CHARS} characters")
            },
            input: Box::new(Value::from(if n == 0 { content.as_str() } else { "" })),
        });
    }
    let clock = clock.clone();
    db.write(move |tx| {
        let ticket = load(tx, &project.id, &id)?;
        if let Some(given) = req.lease_epoch {
            if given != ticket.lease_epoch {
                return Err(stale_lease(given, ticket.lease_epoch));
            }
        }
        if req.send_to_jira && !caller.is_reader() {
            return Err(DomainError::Clash {
                code: "jira_comment_sync_off",
                message: "This project has no Jira link with outbound comment sync; the \
                          comment was not posted."
                    .into(),
            });
        }
        let now = clock.now_string();
        let comment = Comment {
            id: new_id("tc_"),
            ticket_id: ticket.id.clone(),
            author_user_id: caller.user().to_string(),
            author_persona: req.author_persona.clone(),
            content,
            session_id: req.session_id.clone(),
            source: "sessionfs".into(),
            // No trusted-reviewer registry on this server: no verdict is trusted.
            verdict_trusted: false,
            created_at: now.clone(),
        };
        tickets::insert_comment(tx, &comment, caller.key())?;
        if caller.service_key.is_none() {
            tickets::watch(tx, &ticket.id, caller.user(), &now)?;
        }
        Ok(comment)
    })
    .await
}

/// The review state of a ticket (02 §5.8) from its trusted comments.
pub async fn review_state(
    db: &Db,
    project_id: String,
    id: String,
) -> DomainResult<Option<review::ReviewState>> {
    db.read(move |conn| {
        load(conn, &project_id, &id)?;
        let comments = tickets::comments(conn, &id, None, None, 500)?;
        Ok(review::compute(&comments))
    })
    .await
}
