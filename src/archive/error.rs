//! What can go wrong with an archive, in the archive's words.
//!
//! Validation says why an upload is refused (invalid, or a member too large for the caller's
//! cap); reading a stored archive back says which read failed. The API decides the statuses.

use std::io;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The upload is not an archive we accept; the reason says why.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The upload's bytes are damaged: bad gzip or tar data, a failed checksum, a truncation.
    #[error("Invalid tar.gz archive: {0}")]
    Unreadable(io::Error),
    /// Our disk failed while reading the uploaded temp file: our fault, not the client's.
    #[error("cannot read the uploaded archive from disk: {0}")]
    UploadUnreadable(io::Error),
    /// A member is larger than the caller's per-member cap.
    #[error(
        "Session file '{name}' is {}MB which exceeds the {}MB per-file limit for your tier.",
        size_bytes / MIB,
        limit_bytes / MIB
    )]
    MemberTooLarge {
        name: String,
        size_bytes: u64,
        limit_bytes: u64,
    },
    /// A stored archive (validated when it was uploaded) could not be opened.
    #[error("cannot open stored archive: {0}")]
    StoredUnopenable(io::Error),
    /// Writing the messages index to our disk failed: our fault.
    #[error("cannot write the messages index: {0}")]
    IndexUnwritable(io::Error),
    /// A stored archive could not be read to its end.
    #[error("stored archive unreadable: {0}")]
    StoredDamaged(io::Error),
}

const MIB: u64 = 1024 * 1024;

/// Why an upload is not an archive we accept.
#[derive(Debug, thiserror::Error)]
pub enum Invalid {
    #[error("Invalid tar.gz archive: not a gzip file")]
    NotGzip,
    /// The gzip stream expands beyond the decompressed-size cap (a decompression bomb).
    #[error("Invalid tar.gz archive: archive expands beyond {0} bytes")]
    ExpandsBeyond(u64),
    #[error("Too many members in archive (limit {0})")]
    TooManyMembers(usize),
    #[error("Path traversal in tar member: {0}")]
    PathTraversal(String),
    #[error("Absolute path in tar member: {0}")]
    AbsolutePath(String),
    /// A symbolic or hard link.
    #[error("Symlink in tar archive: {0}")]
    Link(String),
    #[error("Unsupported tar member type {kind}: {name}")]
    UnsupportedMember { kind: String, name: String },
    /// A member above the abuse ceiling that holds whatever the tier.
    #[error("Member too large: {name} ({}MB, limit {}MB)", size_bytes / MIB, limit_bytes / MIB)]
    MemberOverCeiling {
        name: String,
        size_bytes: u64,
        limit_bytes: u64,
    },
}
