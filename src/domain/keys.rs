//! Minting keys: the one function that creates an API key of either kind (a user key at
//! signup, on `/auth/*`, by a platform admin or by the operator's CLI; a service key for an
//! org). The raw secret is returned once; the database keeps its hash and display prefix.

use rusqlite::Connection;

use crate::auth::keys::{self, new_id};
use crate::db::api_keys::{self, ApiKey, NewKey, NewServiceKey};
use crate::domain::{DomainError, DomainResult};

/// What kind of key, with what only that kind carries.
pub enum KeyKind<'a> {
    /// A user key; `with_prefix` records the display prefix (the legacy `/auth/keys` and
    /// signup do not).
    User { with_prefix: bool },
    /// A service key of `org_id`, limited to `scopes_json` (and `project_ids_json`, if any).
    Service {
        org_id: &'a str,
        scopes_json: &'a str,
        project_ids_json: Option<&'a str>,
    },
}

/// A key to mint. `user_id` is whom the key authenticates as (for a service key, its minter).
pub struct KeySpec<'a> {
    pub user_id: &'a str,
    pub name: Option<&'a str>,
    pub expires_at: Option<&'a str>,
    pub created_by: Option<&'a str>,
    pub kind: KeyKind<'a>,
    /// When the key is minted (the state's clock).
    pub created_at: &'a str,
}

/// A new key, as returned once to whoever asked for it.
pub struct MintedKey {
    pub key: ApiKey,
    pub raw: String,
}

/// Mints a key inside the caller's transaction and returns it with its raw secret.
pub fn mint(tx: &Connection, spec: &KeySpec) -> DomainResult<MintedKey> {
    let raw = keys::generate();
    let id = new_id();
    match &spec.kind {
        KeyKind::User { with_prefix } => {
            let prefix = with_prefix.then(|| raw.display_prefix());
            api_keys::insert(
                tx,
                &NewKey {
                    id: &id,
                    user_id: spec.user_id,
                    key_hash: &raw.hash,
                    key_prefix: prefix.as_deref(),
                    name: spec.name,
                    created_at: spec.created_at,
                    expires_at: spec.expires_at,
                    created_by_user_id: spec.created_by,
                },
            )?;
        }
        KeyKind::Service {
            org_id,
            scopes_json,
            project_ids_json,
        } => {
            api_keys::insert_service(
                tx,
                &NewServiceKey {
                    id: &id,
                    minter_id: spec.user_id,
                    created_by: spec.created_by.unwrap_or(spec.user_id),
                    org_id,
                    name: spec.name.unwrap_or_default(),
                    key_hash: &raw.hash,
                    key_prefix: &raw.display_prefix(),
                    scopes_json,
                    project_ids_json: *project_ids_json,
                    created_at: spec.created_at,
                    expires_at: spec.expires_at,
                },
            )?;
        }
    }
    let key =
        api_keys::get(tx, &id)?.ok_or_else(|| DomainError::Fault("new key vanished".into()))?;
    Ok(MintedKey { key, raw: raw.raw })
}
