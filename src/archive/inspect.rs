//! Validates an uploaded `.sfs` archive in one streaming pass and reads what the server keeps
//! from it.
//!
//! Nothing is extracted to disk. The gzip stream goes through a decompressed-size cap; every
//! member is checked (plain relative name, regular file or directory, within the size caps)
//! before its bytes are read, and the archive is read to its end so a truncated or corrupt
//! stream is refused. Only the root members `manifest.json`, `messages.jsonl` and
//! `workspace.json` are parsed; every other member is counted and skipped.

use std::io::{self, BufRead, BufReader, Read, Write};

use serde_json::Value;
use tar::EntryType;

use super::line::Line;
use super::message_index::{IndexBuilder, LineKind};
use super::metadata::{self, Extracted, MessageScan};
use super::{ArchiveError, Invalid};

type Result<T> = std::result::Result<T, ArchiveError>;

/// The abuse ceiling for one member, whatever the tier (answered with a 400, as the reference).
pub const ABSOLUTE_MEMBER_CAP: u64 = 100 * 1024 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The caller's per-member cap (413 `session_too_large` above it).
    pub member_bytes: u64,
    /// Most members an archive may hold.
    pub members: usize,
    /// Most bytes the gzip stream may expand to (decompression bombs).
    pub uncompressed_bytes: u64,
}

/// A reader that fails once more than `limit` bytes have come through it.
struct CappedReader<R> {
    inner: R,
    read: u64,
    limit: u64,
}

/// Marker inside the io::Error raised by [`CappedReader`], so the cap is told apart from damage.
#[derive(Debug)]
struct ExpansionCap(u64);

impl std::fmt::Display for ExpansionCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "archive expands beyond {} bytes", self.0)
    }
}

impl std::error::Error for ExpansionCap {}

impl<R: Read> Read for CappedReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(ExpansionCap(self.limit)));
        }
        Ok(n)
    }
}

/// Marker inside the io::Error raised when the *source* (the uploaded temp file on our disk)
/// cannot be read: our fault, not the client's.
#[derive(Debug)]
struct SourceFault(io::Error);

impl std::fmt::Display for SourceFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot read the uploaded archive: {}", self.0)
    }
}

impl std::error::Error for SourceFault {}

/// Tags every read error of the source with [`SourceFault`].
struct SourceReader<R>(R);

impl<R: Read> Read for SourceReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0
            .read(buf)
            .map_err(|e| io::Error::new(e.kind(), SourceFault(e)))
    }
}

/// Finds a `T` in `err`'s chain, looking inside io::Errors (which `source()` skips over).
fn find_in_chain<T: std::error::Error + 'static>(err: &io::Error) -> Option<&T> {
    let mut current: &(dyn std::error::Error + 'static) = err;
    loop {
        if let Some(found) = current.downcast_ref::<T>() {
            return Some(found);
        }
        if let Some(inner) = current
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            current = inner;
            continue;
        }
        current = current.source()?;
    }
}

/// Tells apart, in an io error met while reading the archive, our disk failing under the upload
/// (our fault), the expansion cap, and damaged archive bytes (the client's).
fn read_error(err: io::Error) -> ArchiveError {
    if find_in_chain::<SourceFault>(&err).is_some() {
        return ArchiveError::UploadUnreadable(err);
    }
    match find_in_chain::<ExpansionCap>(&err) {
        Some(cap) => Invalid::ExpandsBeyond(cap.0).into(),
        None => ArchiveError::Unreadable(err),
    }
}

/// Checks a member's name; returns it without a leading `./`.
fn checked_name(raw: &[u8]) -> Result<String> {
    let name = String::from_utf8_lossy(raw).into_owned();
    if name.contains("..") {
        return Err(Invalid::PathTraversal(name).into());
    }
    if name.starts_with('/') || name.starts_with('\\') {
        return Err(Invalid::AbsolutePath(name).into());
    }
    let mut plain = name.as_str();
    while let Some(rest) = plain.strip_prefix("./") {
        plain = rest;
    }
    Ok(plain.to_string())
}

/// Reads a small JSON member (bounded by the member cap already checked).
fn read_json(entry: &mut impl Read) -> Result<Option<Value>> {
    let mut bytes = Vec::new();
    entry.read_to_end(&mut bytes).map_err(read_error)?;
    Ok(serde_json::from_slice::<Value>(&bytes).ok())
}

/// Validates the archive read from `source` and extracts the session metadata.
pub fn inspect(source: impl Read, limits: &Limits) -> Result<Extracted> {
    inspect_indexing(source, limits, None::<&mut IndexBuilder<io::Sink>>)
}

/// [`inspect`], also writing the messages index ([`super::message_index`]) in the same pass:
/// the `messages.jsonl` that reading messages back uses (the first member of that name) is
/// indexed line by line as it is scanned.
pub fn inspect_indexing<W: Write>(
    source: impl Read,
    limits: &Limits,
    mut index: Option<&mut IndexBuilder<W>>,
) -> Result<Extracted> {
    let mut buffered = BufReader::new(SourceReader(source));
    let head = buffered.fill_buf().map_err(read_error)?;
    if head.len() < 2 || head[0] != 0x1f || head[1] != 0x8b {
        return Err(Invalid::NotGzip.into());
    }
    let mut stream = CappedReader {
        inner: flate2::bufread::MultiGzDecoder::new(buffered),
        read: 0,
        limit: limits.uncompressed_bytes,
    };
    let mut manifest: Option<Value> = None;
    let mut workspace: Option<Value> = None;
    let mut messages: Option<MessageScan> = None;
    {
        let mut archive = tar::Archive::new(&mut stream);
        let mut members = 0usize;
        for entry in archive.entries().map_err(read_error)? {
            let mut entry = entry.map_err(read_error)?;
            members += 1;
            if members > limits.members {
                return Err(Invalid::TooManyMembers(limits.members).into());
            }
            let raw_name = entry.path_bytes();
            let name = checked_name(&raw_name)?;
            // The member reading messages back uses: the first one named so (one `./` off).
            let read_back = raw_name.strip_prefix(b"./").unwrap_or(&raw_name) == b"messages.jsonl";
            drop(raw_name);
            let index_this = match index.as_deref_mut() {
                Some(builder) if read_back && !builder.has_messages() => {
                    builder.begin();
                    Some(builder)
                }
                _ => None,
            };
            match entry.header().entry_type() {
                EntryType::Regular | EntryType::Continuous => {}
                EntryType::Directory | EntryType::XGlobalHeader => continue,
                EntryType::Symlink | EntryType::Link => {
                    return Err(Invalid::Link(name).into());
                }
                other => {
                    let kind = format!("{other:?}");
                    return Err(Invalid::UnsupportedMember { kind, name }.into());
                }
            }
            let size = entry.size();
            if size > ABSOLUTE_MEMBER_CAP {
                return Err(Invalid::MemberOverCeiling {
                    name,
                    size_bytes: size,
                    limit_bytes: ABSOLUTE_MEMBER_CAP,
                }
                .into());
            }
            if size > limits.member_bytes {
                return Err(ArchiveError::MemberTooLarge {
                    name,
                    size_bytes: size,
                    limit_bytes: limits.member_bytes,
                });
            }
            match name.as_str() {
                "manifest.json" => manifest = read_json(&mut entry)?,
                "workspace.json" => workspace = read_json(&mut entry)?,
                "messages.jsonl" => messages = Some(scan_messages(&mut entry, index_this)?),
                _ => {
                    io::copy(&mut entry, &mut io::sink()).map_err(read_error)?;
                }
            }
        }
    }
    // Read to the end of the gzip stream so its checksum is verified.
    io::copy(&mut stream, &mut io::sink()).map_err(read_error)?;
    Ok(metadata::extract(
        manifest,
        workspace,
        messages.unwrap_or_default(),
    ))
}

/// Reads `messages.jsonl`: its stats, and its index lines when `index` is given. Each line is
/// parsed once for both.
fn scan_messages<W: Write>(
    entry: &mut impl Read,
    mut index: Option<&mut IndexBuilder<W>>,
) -> Result<MessageScan> {
    let mut scan = MessageScan::default();
    let mut reader = BufReader::with_capacity(64 * 1024, entry);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(read_error)?;
        if n == 0 {
            break;
        }
        let message = Line::parse(&line);
        if let Some(builder) = index.as_deref_mut() {
            builder
                .line(LineKind::of_line(message.as_ref()), &line)
                .map_err(ArchiveError::IndexUnwritable)?;
        }
        if let Some(message) = &message {
            scan.add(message);
        }
    }
    Ok(scan)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::fixture::{gzip, tar_of, Member};

    fn limits() -> Limits {
        Limits {
            member_bytes: 1024 * 1024,
            members: 10,
            uncompressed_bytes: 8 * 1024 * 1024,
        }
    }

    /// Gives `good` bytes of a valid archive, then fails as a broken disk would.
    struct FailingDisk {
        data: Vec<u8>,
        at: usize,
        good: usize,
    }

    impl Read for FailingDisk {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.at >= self.good {
                return Err(io::Error::other("Input/output error (os error 5)"));
            }
            let n = buf.len().min(self.good - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    #[test]
    fn a_disk_error_reading_the_upload_is_our_fault_not_a_bad_archive() {
        let data = crate::archive::fixture::session_archive("ses_0123456789abcdef", "t", "x", 50);
        for good in [0, 10, data.len() / 2] {
            let disk = FailingDisk {
                data: data.clone(),
                at: 0,
                good,
            };
            let err = inspect(disk, &limits()).unwrap_err();
            assert!(
                matches!(err, ArchiveError::UploadUnreadable(_)),
                "after {good} bytes: {err}"
            );
        }
        // Damage in the bytes themselves is still the client's 400.
        let mut bad = data.clone();
        let mid = bad.len() / 2;
        bad[mid..].iter_mut().for_each(|b| *b = !*b);
        assert!(matches!(
            inspect(&bad[..], &limits()).unwrap_err(),
            ArchiveError::Unreadable(_) | ArchiveError::Invalid(_)
        ));
    }

    fn message(err: ArchiveError) -> String {
        err.to_string()
    }

    #[test]
    fn accepts_a_plain_session() {
        let bytes = gzip(&tar_of(&[
            Member::file(
                "manifest.json",
                br#"{"title":"Fix the parser","source":{"tool":"codex"}}"#,
            ),
            Member::file(
                "messages.jsonl",
                b"{\"role\":\"user\",\"content\":\"hi\"}\n",
            ),
        ]));
        let meta = inspect(&bytes[..], &limits()).unwrap();
        assert_eq!(meta.title.as_deref(), Some("Fix the parser"));
        assert_eq!(meta.source_tool, "codex");
    }

    #[test]
    fn refuses_hostile_members() {
        let cases: Vec<(Member, &str)> = vec![
            (
                Member::file("../evil", b"x"),
                "Path traversal in tar member: ../evil",
            ),
            (
                Member::file("/etc/passwd", b"x"),
                "Absolute path in tar member: /etc/passwd",
            ),
            (
                Member::symlink("link", "/etc/passwd"),
                "Symlink in tar archive: link",
            ),
            (
                Member::hardlink("hard", "manifest.json"),
                "Symlink in tar archive: hard",
            ),
            (Member::device("dev"), "Unsupported tar member type"),
        ];
        for (member, expected) in cases {
            let bytes = gzip(&tar_of(&[member]));
            let err = inspect(&bytes[..], &limits()).unwrap_err();
            assert!(matches!(err, ArchiveError::Invalid(_)), "{expected}");
            assert!(message(err).starts_with(expected), "{expected}");
        }
    }

    #[test]
    fn refuses_damage_and_bombs() {
        assert_eq!(
            message(inspect(&b"plain text"[..], &limits()).unwrap_err()),
            "Invalid tar.gz archive: not a gzip file"
        );
        let good = gzip(&tar_of(&[Member::file("a.txt", &[b'a'; 5000])]));
        let truncated = &good[..good.len() / 2];
        assert!(message(inspect(truncated, &limits()).unwrap_err())
            .starts_with("Invalid tar.gz archive"));

        let zeros = vec![0u8; 9 * 1024 * 1024];
        let bomb = gzip(&tar_of(&[
            Member::file("z", &zeros[..512 * 1024]),
            Member::file("big", &zeros),
        ]));
        let mut small = limits();
        small.member_bytes = 16 * 1024 * 1024;
        let err = inspect(&bomb[..], &small).unwrap_err();
        assert!(message(err).contains("expands beyond"));
    }

    #[test]
    fn member_caps() {
        let bytes = gzip(&tar_of(&[Member::file("messages.jsonl", &[b'x'; 2000])]));
        let mut tight = limits();
        tight.member_bytes = 1000;
        let err = inspect(&bytes[..], &tight).unwrap_err();
        assert!(
            matches!(
                err,
                ArchiveError::MemberTooLarge {
                    limit_bytes: 1000,
                    ..
                }
            ),
            "{err:?}"
        );

        let many: Vec<Member> = (0..11)
            .map(|i| Member::file(&format!("f{i}"), b"x"))
            .collect();
        let err = inspect(&gzip(&tar_of(&many))[..], &limits()).unwrap_err();
        assert!(message(err).starts_with("Too many members"));
    }
}
