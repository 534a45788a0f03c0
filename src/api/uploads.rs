//! Resumable chunked uploads: how the `sfs` client pushes an archive over 8 MiB.
//!
//! `POST /sessions/{id}/uploads` makes the checks a push makes and declares the archive (size,
//! SHA-256); `PUT /uploads/{upload_id}/parts/{n}` streams each part to disk (see
//! `domain::uploads`); `GET /uploads/{upload_id}` lists the parts received, so an interrupted
//! client resumes; `POST …/complete` assembles the parts and runs the push path of
//! `api::sync` — [`open_push`], [`store_staged`], [`finish_push`] — answering exactly as a
//! push does; `DELETE /uploads/{upload_id}` aborts. Another user's upload is a 404 everywhere.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::api::extract::Json;
use crate::api::sync::{client_info, finish_push, open_push, store_staged, PushResult};
use crate::auth::Principal;
use crate::domain::uploads::{self, Budget, Completion, Part, Upload};
use crate::domain::DomainError;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(initiate))
        .routes(routes!(status, abort))
        .routes(routes!(put_part))
        .routes(routes!(complete))
        // Parts count their own bytes against the size the upload expects for them.
        .layer(DefaultBodyLimit::disable())
}

/// The archive a chunked upload will deliver.
#[derive(Deserialize, ToSchema)]
pub struct InitiateUpload {
    /// Size of the whole archive in bytes.
    #[schema(value_type = i64)]
    pub total_size: u64,
    /// SHA-256 of the whole archive, hex.
    pub sha256: String,
}

/// A new chunked upload: send parts `1..=part_count`, each `part_size` bytes but the last.
#[derive(Serialize, ToSchema)]
pub struct UploadCreated {
    pub upload_id: String,
    pub session_id: String,
    #[schema(value_type = i64)]
    pub total_size: u64,
    #[schema(value_type = i64)]
    pub part_size: u64,
    #[schema(value_type = i64)]
    pub part_count: u64,
    pub expires_at: String,
}

/// Where a chunked upload stands.
#[derive(Serialize, ToSchema)]
pub struct UploadStatus {
    pub upload_id: String,
    pub session_id: String,
    /// `pending`, `completed` or `expired`.
    pub status: String,
    #[schema(value_type = i64)]
    pub total_size: u64,
    pub sha256: String,
    #[schema(value_type = i64)]
    pub part_size: u64,
    #[schema(value_type = i64)]
    pub part_count: u64,
    /// Part numbers received, ascending.
    pub received: Vec<i64>,
    pub expires_at: String,
}

/// A part stored.
#[derive(Serialize, ToSchema)]
pub struct PartReceived {
    pub upload_id: String,
    #[schema(value_type = i64)]
    pub part_number: u64,
    #[schema(value_type = i64)]
    pub size: u64,
    pub sha256: String,
}

fn budget(state: &AppState) -> Budget {
    Budget {
        per_user: state.config.pending_uploads_per_user,
        total: state.config.pending_uploads_total,
        expiry: expiry(state),
        part_size: state.config.upload_part_size,
    }
}

fn expiry(state: &AppState) -> chrono::Duration {
    chrono::Duration::from_std(state.config.upload_expiry).unwrap_or(chrono::Duration::days(1))
}

#[utoipa::path(
    post, path = "/api/v1/sessions/{id}/uploads", tag = "sync", operation_id = "initiate_upload",
    summary = "Start a chunked upload",
    description = "Declares an archive to be sent in parts (the client's path for archives over \
8 MiB). Makes the checks a push makes (verified email, cloud sync, the tier's archive cap on \
`total_size`, ownership, trash, `If-Match`). A user may hold a few unfinished uploads at once \
(409 `too_many_pending_uploads` beyond, which makes the client fall back to a single push).",
    params(
        ("id" = String, Path, description = "Session id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the client last saw"),
        ("X-SessionFS-Undelete" = Option<String>, Header, description = "`true` to push to a session in the trash"),
    ),
    request_body = InitiateUpload,
    responses(
        (status = 201, description = "Upload started", body = UploadCreated),
        (status = 409, description = "`too_many_pending_uploads`, `etag_mismatch`, or the id belongs to another account"),
        (status = 410, description = "The session is in the trash and `X-SessionFS-Undelete` was not sent"),
        (status = 413, description = "`total_size` over the tier's archive cap (`PAYLOAD_TOO_LARGE`)"),
        (status = 422, description = "A missing or malformed field"),
    ),
)]
async fn initiate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<InitiateUpload>,
) -> ApiResult<Response> {
    let sha256 = body.sha256.trim().to_ascii_lowercase();
    if !crate::archive::store::is_hash(&sha256) {
        return Err(ApiError::invalid_value(
            &["body", "sha256"],
            "expected the archive's SHA-256 as 64 hex characters",
            body.sha256.into(),
        ));
    }
    if body.total_size == 0 {
        return Err(ApiError::invalid_value(
            &["body", "total_size"],
            "must be above 0",
            body.total_size.into(),
        ));
    }
    let gate = open_push(&state, &principal, &id, &headers, Some(body.total_size)).await?;
    let upload = uploads::initiate(
        &state.db,
        &state.clock,
        budget(&state),
        &gate.user_id,
        &id,
        body.total_size,
        &sha256,
    )
    .await?;
    let created = UploadCreated {
        part_count: upload.part_count(),
        part_size: upload.part_size(),
        total_size: upload.total_size(),
        upload_id: upload.row.id,
        session_id: upload.row.session_id,
        expires_at: upload.row.expires_at,
    };
    Ok((StatusCode::CREATED, axum::Json(created)).into_response())
}

fn upload_status(upload: Upload, received: Vec<i64>) -> UploadStatus {
    UploadStatus {
        status: upload.phase.as_str().to_string(),
        total_size: upload.total_size(),
        part_size: upload.part_size(),
        part_count: upload.part_count(),
        received,
        upload_id: upload.row.id,
        session_id: upload.row.session_id,
        sha256: upload.row.sha256,
        expires_at: upload.row.expires_at,
    }
}

#[utoipa::path(
    get, path = "/api/v1/uploads/{upload_id}", tag = "sync", operation_id = "upload_status",
    summary = "A chunked upload's state",
    description = "The parts received so far, so an interrupted client sends only the others.",
    params(("upload_id" = String, Path, description = "The id initiate returned")),
    responses(
        (status = 200, description = "The upload", body = UploadStatus),
        (status = 404, description = "No such upload of the caller"),
    ),
)]
async fn status(
    State(state): State<AppState>,
    principal: Principal,
    Path(upload_id): Path<String>,
) -> ApiResult<axum::Json<UploadStatus>> {
    let (upload, received) =
        uploads::status(&state.db, &state.clock, &principal.user.id, &upload_id).await?;
    Ok(axum::Json(upload_status(upload, received)))
}

#[utoipa::path(
    delete, path = "/api/v1/uploads/{upload_id}", tag = "sync", operation_id = "abort_upload",
    summary = "Abort a chunked upload",
    description = "Deletes the upload and the parts received.",
    params(("upload_id" = String, Path, description = "The id initiate returned")),
    responses(
        (status = 204, description = "Aborted"),
        (status = 404, description = "No such upload of the caller"),
    ),
)]
async fn abort(
    State(state): State<AppState>,
    principal: Principal,
    Path(upload_id): Path<String>,
) -> ApiResult<StatusCode> {
    uploads::abort(
        &state.db,
        &state.blobs,
        &state.clock,
        &principal.user.id,
        &upload_id,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    put, path = "/api/v1/uploads/{upload_id}/parts/{part_number}", tag = "sync",
    operation_id = "upload_part",
    summary = "Send one part",
    description = "The raw bytes of part `part_number` (1-based), streamed to disk and checked \
against `X-Part-SHA256` and the part's expected size. Sending a part again replaces it.",
    params(
        ("upload_id" = String, Path, description = "The id initiate returned"),
        ("part_number" = i64, Path, description = "1 to `part_count`"),
        ("X-Part-SHA256" = String, Header, description = "SHA-256 of this part, hex"),
    ),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses(
        (status = 200, description = "Stored", body = PartReceived),
        (status = 400, description = "`part_checksum_mismatch`, `part_size_mismatch`, `part_out_of_range` or `part_sha256_required`"),
        (status = 404, description = "No such upload of the caller"),
        (status = 409, description = "`upload_expired` or `upload_not_pending`"),
        (status = 413, description = "`part_too_large`: more bytes than the part may have"),
    ),
)]
async fn put_part(
    State(state): State<AppState>,
    principal: Principal,
    Path((upload_id, part_number)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<PartReceived>> {
    // A number out of range (or not a number) is refused after the ownership check.
    let n = part_number.parse::<u64>().unwrap_or(0);
    let declared = headers
        .get("x-part-sha256")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (size, sha256) = uploads::receive_part(
        &state.db,
        &state.blobs,
        &state.clock,
        &principal.user.id,
        &upload_id,
        Part {
            number: n,
            sha256: declared,
        },
        body.into_data_stream(),
    )
    .await?;
    Ok(axum::Json(PartReceived {
        upload_id,
        part_number: n,
        size,
        sha256,
    }))
}

#[utoipa::path(
    post, path = "/api/v1/uploads/{upload_id}/complete", tag = "sync",
    operation_id = "complete_upload",
    summary = "Finish a chunked upload",
    description = "Assembles the parts, checks the declared size and SHA-256, and stores the \
archive exactly as a push does, answering as a push does (201 created, 200 updated; 409 \
`etag_mismatch`, 410, 413 alike). Completing again replays the first answer.",
    params(
        ("upload_id" = String, Path, description = "The id initiate returned"),
        ("If-Match" = Option<String>, Header, description = "The ETag the client last saw"),
        ("X-SessionFS-Undelete" = Option<String>, Header, description = "`true` to push to a session in the trash"),
    ),
    responses(
        (status = 201, description = "Created", body = PushResult),
        (status = 200, description = "Updated", body = PushResult),
        (status = 400, description = "`checksum_mismatch`, or not a valid archive"),
        (status = 404, description = "No such upload of the caller"),
        (status = 409, description = "`missing_parts` (with `details.missing`), `upload_expired`, `etag_mismatch`"),
        (status = 410, description = "The session is in the trash and `X-SessionFS-Undelete` was not sent"),
        (status = 413, description = "Over the tier's caps"),
    ),
)]
async fn complete(
    State(state): State<AppState>,
    principal: Principal,
    Path(upload_id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (upload, _guard) =
        match uploads::begin_complete(&state.db, &state.clock, &principal.user.id, &upload_id)
            .await?
        {
            Completion::Replay { status, body } => {
                let status = StatusCode::from_u16(status).map_err(ApiError::internal)?;
                return Ok((status, axum::Json(body)).into_response());
            }
            Completion::Ready { upload, guard } => (upload, guard),
        };
    // The push path, step for step, with the assembled parts as the upload — unless the push
    // already landed and only its answer was lost.
    let id = upload.row.session_id.clone();
    let (status, body) = match uploads::landed(&state.db, &upload).await? {
        Some(row) => (
            StatusCode::OK,
            PushResult {
                session_id: row.id,
                etag: row.blob_hash,
                blob_size_bytes: row.blob_size_bytes as u64,
                synced_at: row.updated_at,
            },
        ),
        None => {
            let gate =
                open_push(&state, &principal, &id, &headers, Some(upload.total_size())).await?;
            let staged = uploads::assemble(&state.blobs, &upload).await?;
            let archive = store_staged(&state, staged, gate.tier).await?;
            finish_push(&state, gate, &id, archive, client_info(&headers)).await?
        }
    };
    let json = serde_json::to_value(&body).map_err(|e| DomainError::Fault(e.to_string()))?;
    uploads::finish(
        &state.db,
        &state.blobs,
        &state.clock,
        expiry(&state),
        &upload_id,
        status.as_u16(),
        &json,
    )
    .await?;
    Ok((status, axum::Json(json)).into_response())
}
