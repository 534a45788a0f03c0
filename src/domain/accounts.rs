//! Accounts and user keys: signup under the install's policy, key minting, email verification.

use chrono::Duration;

use crate::auth::keys::{self, hash_token};
use crate::cli::SignupPolicy;
use crate::clock::{self, Clock};
use crate::config::Config;
use crate::db::{api_keys, users, Db};
pub use crate::domain::keys::MintedKey;
use crate::domain::keys::{mint, KeyKind, KeySpec};
use crate::domain::{DomainError, DomainResult};

/// How long an email verification link stays valid.
const VERIFICATION_HOURS: i64 = 24;

pub struct SignedUp {
    pub user_id: String,
    pub email: String,
    pub raw_key: String,
    pub key_id: String,
    pub verified: bool,
    /// The verification token to mail, when verification is required.
    pub verification_token: Option<String>,
}

/// Trims and lowercases an address; refuses what cannot be an address.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !email.contains(char::is_whitespace) =>
        {
            Ok(email)
        }
        _ => Err("value is not a valid email address".to_string()),
    }
}

/// Whether the install's signup policy lets this (normalized) address create an account.
pub fn signup_allowed(config: &Config, email: &str) -> DomainResult<()> {
    match config.signup_policy {
        SignupPolicy::Open => Ok(()),
        SignupPolicy::Closed => Err(DomainError::Forbidden(
            "Signup is closed on this server. Ask an administrator for an account.".into(),
        )),
        SignupPolicy::Domains => {
            let domain = email.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
            if config.signup_allowed_domains.iter().any(|d| d == domain) {
                Ok(())
            } else {
                Err(DomainError::Forbidden(format!(
                    "Signup on this server is limited to addresses at: {}",
                    config.signup_allowed_domains.join(", ")
                )))
            }
        }
    }
}

/// Creates an account with its first key (`default`). 409 when the address is taken.
pub async fn create_account(
    db: &Db,
    clock: &Clock,
    config: &Config,
    email: String,
) -> DomainResult<SignedUp> {
    let tier = config.default_tier.to_string();
    let verify = config.require_email_verification;
    let clock = clock.clone();
    db.write(move |tx| {
        if users::find_by_email(tx, &email)?.is_some() {
            return Err(DomainError::Conflict("Email already registered".into()));
        }
        let now = clock.now_string();
        let user_id = keys::new_id();
        users::insert(
            tx,
            &users::NewUser {
                id: &user_id,
                email: &email,
                tier: &tier,
                email_verified: !verify,
                created_at: &now,
            },
        )?;
        let minted = mint(
            tx,
            &KeySpec {
                user_id: &user_id,
                name: Some("default"),
                expires_at: None,
                created_by: None,
                kind: KeyKind::User { with_prefix: false },
                created_at: &now,
            },
        )?;
        let verification_token = if verify {
            Some(new_verification(tx, &clock, &user_id, &email)?)
        } else {
            None
        };
        Ok(SignedUp {
            user_id,
            email,
            raw_key: minted.raw,
            key_id: minted.key.id,
            verified: !verify,
            verification_token,
        })
    })
    .await
}

/// Stores a new verification link for the user and returns its token.
fn new_verification(
    conn: &rusqlite::Connection,
    clock: &Clock,
    user_id: &str,
    email: &str,
) -> DomainResult<String> {
    let token = keys::random_hex(32);
    users::insert_verification(
        conn,
        &hash_token(&token),
        user_id,
        email,
        &clock.from_now(Duration::hours(VERIFICATION_HOURS)),
        &clock.now_string(),
    )?;
    Ok(token)
}

/// Mints a user key for `user_id`. `with_prefix` records the display prefix (the
/// `/auth/me/api-keys` family does; the legacy `/auth/keys` does not).
pub async fn mint_user_key(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    name: Option<String>,
    expires_in_days: Option<i64>,
    with_prefix: bool,
    created_by: Option<String>,
) -> DomainResult<MintedKey> {
    let user_id = user_id.to_string();
    let clock = clock.clone();
    db.write(move |tx| {
        let expires_at = expires_in_days.map(|d| clock.from_now(Duration::days(d)));
        mint(
            tx,
            &KeySpec {
                user_id: &user_id,
                name: name.as_deref(),
                expires_at: expires_at.as_deref(),
                created_by: created_by.as_deref(),
                kind: KeyKind::User { with_prefix },
                created_at: &clock.now_string(),
            },
        )
    })
    .await
}

/// Deactivates one of the user's keys (404 when it is not theirs).
pub async fn deactivate_key(db: &Db, user_id: &str, key_id: &str) -> DomainResult<()> {
    let (user_id, key_id) = (user_id.to_string(), key_id.to_string());
    if db
        .write(move |tx| api_keys::deactivate(tx, &user_id, &key_id))
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::NotFound("API key not found".into()))
    }
}

/// Revokes one of the user's keys with a reason of 1–500 characters (404 when not theirs).
pub async fn revoke_key(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    key_id: &str,
    reason: String,
) -> DomainResult<()> {
    let trimmed = reason.trim().to_string();
    if trimmed.is_empty() || trimmed.chars().count() > 500 {
        return Err(DomainError::Schema {
            kind: "string_too_long",
            loc: vec!["body", "reason"],
            message: "reason must be 1 to 500 characters".into(),
            input: Box::new(serde_json::Value::from(reason)),
        });
    }
    let (user_id, key_id, now) = (user_id.to_string(), key_id.to_string(), clock.now_string());
    if db
        .write(move |tx| api_keys::revoke(tx, &user_id, &key_id, &trimmed, &now))
        .await?
    {
        Ok(())
    } else {
        Err(DomainError::NotFound("Key not found".into()))
    }
}

/// Why a verification link was refused.
#[derive(Debug, PartialEq)]
pub enum VerifyError {
    Invalid,
    Expired,
    UnknownUser,
}

/// Marks the account behind a verification token as verified. Using a link twice is fine.
pub async fn verify_email(
    db: &Db,
    clock: &Clock,
    token: String,
) -> DomainResult<Result<(), VerifyError>> {
    let clock = clock.clone();
    db.write(move |tx| {
        let Some((user_id, email, expires_at)) = users::find_verification(tx, &hash_token(&token))?
        else {
            return Ok(Err(VerifyError::Invalid));
        };
        if clock::parse(&expires_at).is_none_or(|t| t <= clock.now()) {
            return Ok(Err(VerifyError::Expired));
        }
        let Some(user) = users::get(tx, &user_id)? else {
            return Ok(Err(VerifyError::UnknownUser));
        };
        if !user.email.eq_ignore_ascii_case(&email) {
            return Ok(Err(VerifyError::Invalid));
        }
        users::set_email_verified(tx, &user_id)?;
        Ok(Ok(()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized() {
        assert_eq!(
            normalize_email("  Alice@Example.COM ").unwrap(),
            "alice@example.com"
        );
        assert!(normalize_email("not-an-address").is_err());
        assert!(normalize_email("a b@c").is_err());
        assert!(normalize_email("@c").is_err());
    }
}
