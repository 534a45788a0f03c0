//! Service keys: org-scoped, scope-restricted, expirable keys for CI runners and agents.
//! The rules of the area: which scopes a key may carry and who may grant them, how its expiry
//! is given (`expires_in_days` or `expires_at`, not both), and minting, rotating and revoking.
//! Who may call (an org admin on a Team+ plan) is decided by the route's extractor.

use chrono::Duration;
use serde_json::{json, Value};

use crate::auth::scopes;
use crate::clock::{self, Clock, Timestamp};
use crate::db::api_keys::{self, ApiKey};
use crate::db::users::User;
use crate::db::Db;
use crate::domain::keys::{self, KeyKind, KeySpec, MintedKey};
use crate::domain::{DomainError, DomainResult};

/// Who is minting: the user, and whether they are a platform admin (platform scopes).
pub struct Minter<'a> {
    pub user: &'a User,
    pub platform_admin: bool,
}

/// A service key as asked for, before validation.
pub struct KeyRequest {
    pub name: String,
    pub scopes: Vec<String>,
    pub expires_in_days: Option<i64>,
    pub expires_at: Option<String>,
    pub project_ids: Option<Vec<String>>,
}

fn invalid(field: &'static str, msg: &str, input: Value) -> DomainError {
    DomainError::Invalid {
        loc: vec!["body", field],
        message: msg.to_string(),
        input,
    }
}

/// Validated scopes: known, no `*`, duplicates dropped in order; platform-only ones need a
/// platform admin.
pub fn checked_scopes(platform_admin: bool, raw: &[String]) -> DomainResult<Vec<String>> {
    if raw.is_empty() {
        return Err(invalid(
            "scopes",
            "At least one scope is required",
            json!(raw),
        ));
    }
    if raw.iter().any(|s| s == scopes::ALL) {
        return Err(invalid(
            "scopes",
            "The '*' scope is reserved for user keys",
            json!(raw),
        ));
    }
    let unknown: Vec<&String> = raw.iter().filter(|s| !scopes::is_known(s)).collect();
    if !unknown.is_empty() {
        return Err(invalid(
            "scopes",
            &format!("Unknown scopes: {unknown:?}"),
            json!(raw),
        ));
    }
    let mut out: Vec<String> = Vec::new();
    for s in raw {
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    if !platform_admin && out.iter().any(|s| scopes::is_platform_only(s)) {
        return Err(DomainError::Refused {
            code: "platform_admin_scope",
            message: "Only a platform admin may grant platform scopes".into(),
        });
    }
    Ok(out)
}

/// When a new key expires: `expires_in_days` (1–730) from now, or `expires_at` (RFC 3339, in
/// the future), or never; not both.
pub fn expiry(
    now: Timestamp,
    expires_in_days: Option<i64>,
    expires_at: Option<&str>,
) -> DomainResult<Option<String>> {
    match (expires_in_days, expires_at) {
        (Some(_), Some(_)) => Err(invalid(
            "expires_at",
            "Give expires_at or expires_in_days, not both",
            Value::Null,
        )),
        (Some(days), None) if !(1..=730).contains(&days) => Err(invalid(
            "expires_in_days",
            "expires_in_days must be between 1 and 730",
            Value::from(days),
        )),
        (Some(days), None) => Ok(Some(clock::format(now + Duration::days(days)))),
        (None, Some(at)) => match clock::parse(at) {
            Some(t) if t > now => Ok(Some(clock::format(t))),
            Some(_) => Err(invalid(
                "expires_at",
                "expires_at must be in the future",
                Value::from(at),
            )),
            None => Err(invalid(
                "expires_at",
                "expires_at must be an RFC 3339 timestamp",
                Value::from(at),
            )),
        },
        (None, None) => Ok(None),
    }
}

/// Project ids trimmed, blanks and duplicates dropped; none means every project of the org.
fn project_list(raw: Option<Vec<String>>) -> Vec<String> {
    let mut projects: Vec<String> = Vec::new();
    for p in raw
        .unwrap_or_default()
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
    {
        if !projects.iter().any(|q| q == p) {
            projects.push(p.to_string());
        }
    }
    projects
}

/// What a new service key carries, validated.
struct Validated {
    org_id: String,
    name: String,
    scopes: Vec<String>,
    project_ids_json: Option<String>,
    expires_at: Option<String>,
}

/// The key a rotation replaces: revoked in the same transaction; its minter is kept, because a
/// service key runs as the user who minted it.
struct Replacing {
    old_id: String,
    minter_id: String,
    reason: String,
}

/// Creates a service key for `org_id` (the caller administers it).
pub async fn create(
    db: &Db,
    clock: &Clock,
    minter: Minter<'_>,
    org_id: &str,
    req: KeyRequest,
) -> DomainResult<MintedKey> {
    let name = req.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(invalid(
            "name",
            "name must be 1 to 100 characters",
            Value::from(req.name),
        ));
    }
    let scopes = checked_scopes(minter.platform_admin, &req.scopes)?;
    let expires_at = expiry(clock.now(), req.expires_in_days, req.expires_at.as_deref())?;
    let projects = project_list(req.project_ids);
    let spec = Validated {
        org_id: org_id.to_string(),
        name,
        scopes,
        project_ids_json: (!projects.is_empty()).then(|| json!(projects).to_string()),
        expires_at,
    };
    insert(db, clock, minter.user, spec, None).await
}

/// Inserts a validated key (revoking the one it replaces, in the same transaction).
async fn insert(
    db: &Db,
    clock: &Clock,
    creator: &User,
    spec: Validated,
    replacing: Option<Replacing>,
) -> DomainResult<MintedKey> {
    let creator = creator.id.clone();
    let scopes_json = json!(spec.scopes).to_string();
    let now = clock.now_string();
    db.write(move |tx| {
        let minter = replacing
            .as_ref()
            .map(|r| r.minter_id.as_str())
            .unwrap_or(&creator);
        let minted = keys::mint(
            tx,
            &KeySpec {
                user_id: minter,
                name: Some(&spec.name),
                expires_at: spec.expires_at.as_deref(),
                created_by: Some(&creator),
                kind: KeyKind::Service {
                    org_id: &spec.org_id,
                    scopes_json: &scopes_json,
                    project_ids_json: spec.project_ids_json.as_deref(),
                },
                created_at: &now,
            },
        )?;
        if let Some(r) = &replacing {
            api_keys::revoke_by_id(tx, &r.old_id, Some(&r.reason), &now)?;
        }
        Ok(minted)
    })
    .await
}

/// The org's service keys, revoked ones included.
pub async fn list(db: &Db, org_id: &str) -> DomainResult<Vec<ApiKey>> {
    let org_id = org_id.to_string();
    Ok(db
        .read(move |conn| api_keys::list_service(conn, &org_id))
        .await?)
}

async fn find(db: &Db, org_id: &str, key_id: &str) -> DomainResult<ApiKey> {
    let (org_id, key_id) = (org_id.to_string(), key_id.to_string());
    db.read(move |conn| api_keys::get_service(conn, &org_id, &key_id))
        .await?
        .ok_or_else(|| DomainError::NotFound("Service key not found".into()))
}

/// Revokes a key of the org, with an optional reason (at most 500 characters).
pub async fn revoke(
    db: &Db,
    clock: &Clock,
    org_id: &str,
    key_id: &str,
    reason: Option<String>,
) -> DomainResult<()> {
    let reason = reason
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(invalid(
            "reason",
            "reason must be at most 500 characters",
            Value::Null,
        ));
    }
    let key = find(db, org_id, key_id).await?;
    let now = clock.now_string();
    db.write(move |tx| api_keys::revoke_by_id(tx, &key.id, reason.as_deref(), &now))
        .await?;
    Ok(())
}

/// A new key with the same name, scopes, projects and lifetime; the old one is revoked in the
/// same transaction. Returns the new key and the old key's id.
pub async fn rotate(
    db: &Db,
    clock: &Clock,
    minter: Minter<'_>,
    org_id: &str,
    key_id: &str,
) -> DomainResult<MintedKey> {
    let old = find(db, org_id, key_id).await?;
    if old.revoked_at.is_some() || !old.is_active {
        return Err(DomainError::Clash {
            code: "key_already_revoked",
            message: "The key is already revoked".into(),
        });
    }
    let scopes = checked_scopes(minter.platform_admin, &old.scope_list())?;
    // Keep the key's lifetime: a key that expired 90 days after creation gets 90 more days.
    let expires_at = match (
        old.expires_at.as_deref().and_then(clock::parse),
        clock::parse(&old.created_at),
    ) {
        (Some(end), Some(start)) => Some(clock::format(clock.now() + (end - start))),
        _ => None,
    };
    let name = old
        .service_key_name
        .clone()
        .or(old.name.clone())
        .unwrap_or_default();
    let spec = Validated {
        org_id: org_id.to_string(),
        name,
        scopes,
        project_ids_json: old.project_ids.clone(),
        expires_at,
    };
    let replacing = Replacing {
        old_id: old.id.clone(),
        minter_id: old.user_id.clone(),
        reason: format!("rotated by {}", minter.user.email),
    };
    insert(db, clock, minter.user, spec, Some(replacing)).await
}
