//! Push and pull: `PUT|GET /api/v1/sessions/{id}/sync` — the hot path.
//!
//! A push streams the multipart field `file` to a temp file while hashing and counting it (the
//! tier's cap is enforced as bytes arrive), validates it on the blocking pool, moves it into
//! the content-addressed store, and only then asks the writer to point the session at it, with
//! `If-Match` compared inside that transaction. A pull reads the key, the session row and the
//! archive's first 256 KiB in one blocking hop, and streams the rest with its ETag.

use axum::body::Body;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Multipart, Path, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Serialize;
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::api::access::OwnedSession;
use crate::archive::store::{OpenedBlob, Staged};
use crate::archive::{self, Limits};
use crate::auth::Principal;
use crate::db::sessions as rows;
use crate::db::users::ClientInfo;
use crate::domain::search;
use crate::domain::sessions::{self, is_session_id, PushConditions, PushOutcome, StoredArchive};
use crate::domain::tiers::{Feature, Tier};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use tokio::sync::OwnedSemaphorePermit;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The `POST /sessions` upload cap (contract 01 §1.4).
pub const UPLOAD_CAP: u64 = 100 * 1024 * 1024;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(pull, push))
        // Uploads count their own bytes against the tier's cap.
        .layer(DefaultBodyLimit::disable())
}

/// Which too-large answer an upload route gives.
#[derive(Clone, Copy)]
pub enum TooLarge {
    /// `PUT …/sync`: 413 `PAYLOAD_TOO_LARGE` at the tier's archive cap.
    Push,
    /// `POST /sessions`: 413 at the fixed upload cap.
    Upload,
}

impl TooLarge {
    fn cap(self, state: &AppState, tier: Tier) -> u64 {
        match self {
            TooLarge::Push => state.config.sync_cap(tier),
            TooLarge::Upload => UPLOAD_CAP,
        }
    }

    fn error(self, cap: u64) -> ApiError {
        match self {
            TooLarge::Push => ApiError::payload_too_large(format!(
                "Session exceeds {}MB cloud limit for your tier. Upgrade your plan for a larger per-session limit.",
                cap / (1024 * 1024)
            ))
            .with_code("PAYLOAD_TOO_LARGE"),
            TooLarge::Upload => ApiError::payload_too_large(format!("Upload exceeds maximum size of {cap} bytes")),
        }
    }

    /// Refuses a declared size over the cap.
    fn check_size(self, state: &AppState, tier: Tier, declared: Option<u64>) -> ApiResult<()> {
        let cap = self.cap(state, tier);
        match declared {
            Some(n) if n > cap => Err(self.error(cap)),
            _ => Ok(()),
        }
    }
}

/// The request's `Content-Length`, when it is a number.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

fn missing_file() -> ApiError {
    ApiError::missing(&["body", "file"])
}

/// Receives the multipart field `file`, validates it as an archive and stores it.
/// Nothing is left on disk when any step fails.
pub async fn receive_archive(
    state: &AppState,
    multipart: Result<Multipart, MultipartRejection>,
    tier: Tier,
    too_large: TooLarge,
) -> ApiResult<StoredArchive> {
    let mut multipart = multipart.map_err(|_| missing_file())?;
    let cap = too_large.cap(state, tier);
    let bad_body = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request(format!("Invalid multipart body: {}", e.body_text()))
    };
    let mut upload = None;
    while let Some(mut field) = multipart.next_field().await.map_err(bad_body)? {
        if field.name() != Some("file") || upload.is_some() {
            while field.chunk().await.map_err(bad_body)?.is_some() {}
            continue;
        }
        let mut staged = state.blobs.stage().await?;
        while let Some(chunk) = field.chunk().await.map_err(bad_body)? {
            if staged.size() + chunk.len() as u64 > cap {
                return Err(too_large.error(cap));
            }
            staged.write(&chunk).await?;
        }
        upload = Some(staged.finish().await?);
    }
    let staged = upload.ok_or_else(missing_file)?;
    store_staged(state, staged, tier).await
}

/// Validates a staged upload as an archive (on the blocking pool) and moves it into the
/// content-addressed store: the step every push shares, single PUT or chunked.
pub async fn store_staged(
    state: &AppState,
    staged: Staged,
    tier: Tier,
) -> ApiResult<StoredArchive> {
    let limits = Limits {
        member_bytes: state.config.member_cap(tier),
        members: state.config.max_archive_members,
        uncompressed_bytes: state.config.uncompressed_cap(tier),
    };
    let blobs = state.blobs.clone();
    tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(staged.temp.path())?;
        // The messages index is written in the same pass that validates the archive.
        let mut index = blobs.message_index().stage()?;
        let meta = archive::inspect_indexing(file, &limits, Some(index.builder()))?;
        let size = staged.size;
        let (hash, pin) = blobs.commit(staged)?;
        if let Err(e) = blobs.message_index().commit(&hash, index) {
            // Derived data: the first page read rebuilds it.
            tracing::warn!(hash, "cannot store the messages index: {e}");
        }
        Ok(StoredArchive {
            hash,
            size,
            meta,
            pin: Some(pin),
        })
    })
    .await?
}

/// A push that passed the checks made before any byte is read; holds the user's push slot.
pub struct PushGate {
    pub user_id: String,
    pub tier: Tier,
    pub cond: PushConditions,
    /// Whether the session row existed when the push began.
    pub existed: bool,
    _slot: OwnedSemaphorePermit,
}

/// The checks of contract 01 §5.5 steps 1–7, in its order, before any byte is read: verified
/// email, a push slot, cloud sync, the id's format, the declared size against the tier's cap,
/// then ownership, trash and `If-Match` against the row as it is now (the writer checks
/// again under its transaction).
pub async fn open_push(
    state: &AppState,
    principal: &Principal,
    id: &str,
    headers: &HeaderMap,
    declared_size: Option<u64>,
) -> ApiResult<PushGate> {
    principal.require_verified()?;
    let user_id = principal.user.id.clone();
    let slot = state.limits.push_slot(&user_id).await?;
    let tier = principal.tier();
    tier.require(Feature::CloudSync)?;
    if !is_session_id(id) {
        return Err(ApiError::bad_request("Invalid session ID format"));
    }
    TooLarge::Push.check_size(state, tier, declared_size)?;
    let cond = PushConditions {
        if_match: etag_header(headers, header::IF_MATCH),
        undelete: headers
            .get("x-sessionfs-undelete")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
    };
    let lookup = id.to_string();
    let existing = state.db.read(move |conn| rows::get(conn, &lookup)).await?;
    sessions::check_push(existing.as_ref(), &user_id, &cond)?;
    Ok(PushGate {
        user_id,
        tier,
        cond,
        existed: existing.is_some(),
        _slot: slot,
    })
}

/// The end of every push: points session `id` at the stored archive (the `If-Match`
/// compare-and-swap inside the writer's transaction), indexes it, and says 201 or 200.
pub async fn finish_push(
    state: &AppState,
    gate: PushGate,
    id: &str,
    mut archive: StoredArchive,
    client: ClientInfo,
) -> ApiResult<(StatusCode, PushResult)> {
    let (etag, size) = (archive.hash.clone(), archive.size);
    let text = std::mem::take(&mut archive.meta.messages_text);
    let (outcome, row) = sessions::commit_push(
        &state.db,
        &state.clock,
        &gate.user_id,
        id,
        gate.existed,
        gate.cond,
        archive,
        client,
    )
    .await?;
    state.search.upsert(search::doc(&row, text));
    let (status, label) = match outcome {
        PushOutcome::Created => (StatusCode::CREATED, "created"),
        PushOutcome::Updated => (StatusCode::OK, "updated"),
    };
    state.metrics.record_push(label, size);
    tracing::info!(session = %id, user = %gate.user_id, bytes = size, created = outcome == PushOutcome::Created, "session pushed");
    let body = PushResult {
        session_id: id.to_string(),
        etag,
        blob_size_bytes: size,
        synced_at: row.updated_at,
    };
    Ok((status, body))
}

/// An entity tag as the client sends it: quotes removed; empty means none.
fn etag_header(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    let raw = headers.get(name)?.to_str().ok()?.trim();
    let tag = raw.trim_matches('"');
    (!tag.is_empty()).then(|| tag.to_string())
}

fn header_text(headers: &HeaderMap, name: &str, max: usize) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?.trim();
    (!value.is_empty()).then(|| value.chars().take(max).collect())
}

pub fn client_info(headers: &HeaderMap) -> ClientInfo {
    let version = header_text(headers, "x-client-version", 20).or_else(|| {
        let agent = header_text(headers, "user-agent", 200)?;
        let rest = agent.strip_prefix("sessionfs-cli/")?;
        Some(rest.split_whitespace().next()?.chars().take(20).collect())
    });
    ClientInfo {
        version,
        platform: header_text(headers, "x-client-platform", 50),
        device: header_text(headers, "x-client-device", 100),
    }
}

#[utoipa::path(
    put, path = "/api/v1/sessions/{id}/sync", tag = "sync", operation_id = "push_session",
    summary = "Push a session",
    description = "Creates the session under this id (201) or replaces its archive (200). The upload \
streams to disk and is validated before anything is stored. With `If-Match`, the push only succeeds \
if the stored ETag still matches, checked atomically with the write (409 `etag_mismatch` with \
`details.current_etag` otherwise). Needs a verified email and a tier with cloud sync.",
    params(
        ("id" = String, Path, description = "Session id: `ses_` and 8–40 of `a-z0-9`"),
        ("If-Match" = Option<String>, Header, description = "The ETag the client last saw (quotes optional)"),
        ("X-SessionFS-Undelete" = Option<String>, Header, description = "`true` to push to (and restore) a session in the trash"),
        ("X-Client-Version" = Option<String>, Header, description = "Recorded on the account"),
        ("X-Client-Platform" = Option<String>, Header, description = "Recorded on the account"),
        ("X-Client-Device" = Option<String>, Header, description = "Recorded on the account"),
    ),
    request_body(content = ArchiveUploadRequest, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "Created", body = PushResult),
        (status = 200, description = "Updated", body = PushResult),
        (status = 400, description = "Malformed id, or not a valid archive"),
        (status = 403, description = "Email not verified, or the tier has no cloud sync (`upgrade_required`)"),
        (status = 409, description = "`etag_mismatch` (with `details.current_etag`), or the id belongs to another account"),
        (status = 410, description = "The session is in the trash and `X-SessionFS-Undelete` was not sent"),
        (status = 413, description = "Over the tier's archive cap (`PAYLOAD_TOO_LARGE`) or member cap (`session_too_large`)"),
        (status = 422, description = "No `file` part"),
    ),
)]
async fn push(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<Response> {
    let gate = open_push(&state, &principal, &id, &headers, declared_length(&headers)).await?;
    let archive = receive_archive(&state, multipart, gate.tier, TooLarge::Push).await?;
    let (status, body) = finish_push(&state, gate, &id, archive, client_info(&headers)).await?;
    Ok((status, axum::Json(body)).into_response())
}

#[utoipa::path(
    get, path = "/api/v1/sessions/{id}/sync", tag = "sync", operation_id = "pull_session",
    summary = "Pull a session",
    description = "The stored archive, streamed from disk, with its ETag.",
    params(
        ("id" = String, Path, description = "Session id or alias"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag the client has: 304 when it is current"),
    ),
    responses(
        (status = 200, description = "The archive", content_type = "application/gzip", body = GzipArchive,
            headers(("ETag" = String, description = "The archive's SHA-256, quoted"))),
        (status = 304, description = "The client's copy is current"),
        (status = 404, description = "No such live session of the caller, or its archive is missing"),
    ),
)]
async fn pull(PullTarget { hash, archive }: PullTarget) -> ApiResult<Response> {
    match archive {
        None => Ok(StatusCode::NOT_MODIFIED.into_response()),
        Some(opened) => archive_response(&hash, opened),
    }
}

/// What a pull serves: the caller's live session `{id}` and its archive, opened with its first
/// bytes in the same blocking hop that reads the key and the session row (`None` when the
/// client's `If-None-Match` is current: nothing is opened).
struct PullTarget {
    hash: String,
    archive: Option<std::io::Result<OpenedBlob>>,
}

impl FromRequestParts<AppState> for PullTarget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<PullTarget> {
        let current = etag_header(&parts.headers, header::IF_NONE_MATCH);
        let blobs = state.blobs.clone();
        let (owned, archive) = OwnedSession::extract_and(parts, state, move |row| {
            (current.as_deref() != Some(row.blob_hash.as_str()))
                .then(|| blobs.open_with_head(&row.blob_hash, FIRST_READ))
        })
        .await?;
        Ok(PullTarget {
            hash: owned.session.blob_hash,
            archive,
        })
    }
}

/// Bytes read together with the open (one blocking hop serves an archive up to this size).
const FIRST_READ: usize = 256 * 1024;
/// Bytes per later read of a larger archive (one blocking hop each).
const NEXT_READS: usize = 512 * 1024;

/// Streams a stored archive with its quoted ETag: the open, its length and the first 256 KiB
/// in one blocking hop, then 512 KiB reads (the 4 KiB reads of a `tokio::fs::File` were one
/// hop each).
pub async fn stream_archive(state: &AppState, hash: &str) -> ApiResult<Response> {
    let blobs = state.blobs.clone();
    let key = hash.to_string();
    let opened =
        tokio::task::spawn_blocking(move || blobs.open_with_head(&key, FIRST_READ)).await?;
    archive_response(hash, opened)
}

/// The response of [`stream_archive`] for an archive already opened: its first bytes, then
/// the rest read in large chunks; 404 when the file is missing.
fn archive_response(hash: &str, opened: std::io::Result<OpenedBlob>) -> ApiResult<Response> {
    let mut opened = match opened {
        Ok(opened) => opened,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::error!(
                hash,
                "a session names an archive that is missing from the store"
            );
            return Err(ApiError::not_found("Session blob not found"));
        }
        Err(e) => return Err(e.into()),
    };
    let length = opened.len;
    let etag = HeaderValue::from_str(&format!("\"{hash}\"")).map_err(ApiError::internal)?;
    let body = if opened.first.len() as u64 >= length {
        Body::from(opened.first)
    } else {
        let first = bytes::Bytes::from(std::mem::take(&mut opened.first));
        let rest = opened.rest(NEXT_READS);
        Body::from_stream(futures_util::stream::once(async move { Ok(first) }).chain(rest))
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/gzip"),
            ),
            (header::ETAG, etag),
            (header::CONTENT_LENGTH, HeaderValue::from(length)),
        ],
        body,
    )
        .into_response())
}

/// A stored push.
#[derive(Serialize, ToSchema)]
pub struct PushResult {
    pub session_id: String,
    /// SHA-256 of the stored archive: send it as `If-Match` on the next push.
    pub etag: String,
    #[schema(value_type = i64)]
    pub blob_size_bytes: u64,
    pub synced_at: String,
}

/// The multipart body of an upload.
// Described for the document only: the handlers read this body as a stream (`Multipart`).
#[derive(ToSchema)]
pub struct ArchiveUploadRequest {
    /// The `.sfs` archive: a tar.gz with `manifest.json` and `messages.jsonl`.
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

/// The session archive's bytes (a gzip-compressed tar), as a push sends and a pull answers.
pub struct GzipArchive;

impl PartialSchema for GzipArchive {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .content_media_type("application/gzip")
            .description(Some("The `.sfs` archive (tar.gz)"))
            .into()
    }
}

impl ToSchema for GzipArchive {}
