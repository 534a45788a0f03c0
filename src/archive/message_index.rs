//! The messages index: a page of messages is a seek and a read, whatever the session's size.
//!
//! Reading a page from the archive itself means gunzipping and parsing all of `messages.jsonl`
//! (100 ms of CPU for a large session). Instead, when a push is validated, the same streaming
//! pass that reads `messages.jsonl` also writes a side file, named like the archive (by its
//! SHA-256) under `message-index/<aa>/<sha256>`:
//!
//! ```text
//! data     the visible messages' lines, uncompressed, one after another
//! kinds    one byte per line of messages.jsonl: 0 not a JSON object, 1 hidden, 2 visible
//! entries  per visible message, in line order: line number (u64), offset in data (u64)
//! footer   "SFSMIX01", present (u64: 1 when the archive has messages.jsonl), line count,
//!          visible count, data length (u64 each, little-endian)
//! ```
//!
//! A page reads the footer, the page's entries and one contiguous range of data, and parses
//! only the page's lines — exactly the lines (and so the JSON) the full read would return.
//! `around` is a binary search over the entries. Memory is bounded by the page.
//!
//! The index is derived data. A file that is missing (archives stored before the index
//! existed, or a crash between the archive and its index) or that does not add up (a torn
//! write) is rebuilt from the archive on first use; it is removed with its archive.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::NamedTempFile;

use super::line::Line;
use super::messages::{for_each_line, is_visible, MessagePage, PageRequest, Target};
use super::ArchiveError;

const MAGIC: &[u8; 8] = b"SFSMIX01";
const FOOTER: u64 = 40;
const ENTRY: u64 = 16;

/// What one line of `messages.jsonl` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    /// Not a JSON object: never shown, and `missing` as an `around` target.
    NotMessage = 0,
    /// A sidechain, or empty content on a non-tool message.
    Hidden = 1,
    Visible = 2,
}

impl LineKind {
    /// The kind of a parsed line.
    pub fn of(value: Option<&Value>) -> LineKind {
        match value {
            Some(Value::Object(m)) if is_visible(m) => LineKind::Visible,
            Some(Value::Object(_)) => LineKind::Hidden,
            _ => LineKind::NotMessage,
        }
    }

    /// The kind of a line parsed by [`Line::parse`] (`None`: not a JSON object).
    pub fn of_line(line: Option<&Line>) -> LineKind {
        match line {
            Some(line) if line.is_visible() => LineKind::Visible,
            Some(_) => LineKind::Hidden,
            None => LineKind::NotMessage,
        }
    }

    fn from_byte(b: u8) -> LineKind {
        match b {
            2 => LineKind::Visible,
            1 => LineKind::Hidden,
            _ => LineKind::NotMessage,
        }
    }
}

/// Writes an index while `messages.jsonl` streams by, line by line.
pub struct IndexBuilder<W: Write> {
    out: W,
    kinds: Vec<u8>,
    entries: Vec<(u64, u64)>,
    data_len: u64,
    /// Whether a `messages.jsonl` member has been seen (the first one is the one indexed).
    present: bool,
}

impl<W: Write> IndexBuilder<W> {
    pub fn new(out: W) -> IndexBuilder<W> {
        IndexBuilder {
            out,
            kinds: Vec::new(),
            entries: Vec::new(),
            data_len: 0,
            present: false,
        }
    }

    /// Whether the archive's `messages.jsonl` was already indexed (later ones are not read back).
    pub fn has_messages(&self) -> bool {
        self.present
    }

    /// Marks the start of the archive's `messages.jsonl`.
    pub fn begin(&mut self) {
        self.present = true;
    }

    /// The next line of `messages.jsonl` and its kind.
    pub fn line(&mut self, kind: LineKind, bytes: &[u8]) -> io::Result<()> {
        let number = self.kinds.len() as u64;
        self.kinds.push(kind as u8);
        if kind == LineKind::Visible {
            self.entries.push((number, self.data_len));
            self.out.write_all(bytes)?;
            self.data_len += bytes.len() as u64;
        }
        Ok(())
    }

    /// Writes the tables and the footer; returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.write_all(&self.kinds)?;
        for (line, offset) in &self.entries {
            self.out.write_all(&line.to_le_bytes())?;
            self.out.write_all(&offset.to_le_bytes())?;
        }
        self.out.write_all(MAGIC)?;
        for n in [
            u64::from(self.present),
            self.kinds.len() as u64,
            self.entries.len() as u64,
            self.data_len,
        ] {
            self.out.write_all(&n.to_le_bytes())?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// An index being written to a temp file, moved into place by [`IndexFiles::commit`].
pub struct StagedIndex {
    builder: IndexBuilder<BufWriter<File>>,
    temp: NamedTempFile,
}

impl StagedIndex {
    pub fn builder(&mut self) -> &mut IndexBuilder<BufWriter<File>> {
        &mut self.builder
    }
}

/// Where the index files live: `message-index/<aa>/<sha256>`, next to `archives/`.
#[derive(Clone, Debug)]
pub struct IndexFiles {
    root: PathBuf,
}

impl IndexFiles {
    pub fn new(root: PathBuf) -> IndexFiles {
        IndexFiles { root }
    }

    fn path_of(&self, hash: &str) -> PathBuf {
        self.root.join(&hash[..2]).join(hash)
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Removes the temp files of index writes a crash interrupted. Blocking; errors ignored
    /// (nothing reads those files).
    pub fn clear_temp(&self) {
        if let Ok(entries) = fs::read_dir(self.tmp_dir()) {
            for entry in entries.flatten() {
                let _ = fs::remove_file(entry.path());
            }
        }
    }

    /// Starts an index in a temp file. Blocking. (Directories are created only when missing:
    /// a `mkdir` on every push takes the parent directory's lock, which concurrent pushes'
    /// file creations wait for.)
    pub fn stage(&self) -> io::Result<StagedIndex> {
        let temp = match NamedTempFile::new_in(self.tmp_dir()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir_all(self.tmp_dir())?;
                NamedTempFile::new_in(self.tmp_dir())?
            }
            created => created?,
        };
        let file = temp.as_file().try_clone()?;
        Ok(StagedIndex {
            builder: IndexBuilder::new(BufWriter::with_capacity(64 * 1024, file)),
            temp,
        })
    }

    /// Finishes a staged index and moves it into place as the index of `hash`. Not fsynced:
    /// a file torn by a crash does not add up and is rebuilt. Blocking.
    pub fn commit(&self, hash: &str, staged: StagedIndex) -> io::Result<()> {
        staged.builder.finish()?;
        let target = self.path_of(hash);
        let temp = match staged.temp.persist(&target) {
            Ok(_) => return Ok(()),
            Err(e) if e.error.kind() == io::ErrorKind::NotFound => e.file,
            Err(e) => return Err(e.error),
        };
        // The first index of its shard: create the shard's directory, then move it in.
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        temp.persist(&target).map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes the index of `hash`, if there is one. Blocking.
    pub fn remove(&self, hash: &str) -> io::Result<()> {
        match fs::remove_file(self.path_of(hash)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Builds the index of a stored archive from its bytes. Blocking.
    pub fn rebuild(&self, hash: &str, archive: impl Read) -> Result<(), ArchiveError> {
        let fault = ArchiveError::StoredDamaged;
        let mut staged = self.stage().map_err(fault)?;
        let mut failed = None;
        let found = for_each_line(archive, |_, line| {
            if failed.is_some() {
                return;
            }
            let builder = staged.builder();
            if !builder.has_messages() {
                builder.begin();
            }
            if let Err(e) = builder.line(LineKind::of_line(Line::parse(line).as_ref()), line) {
                failed = Some(e);
            }
        })?;
        if let Some(e) = failed {
            return Err(fault(e));
        }
        if found {
            staged.builder.begin();
        }
        self.commit(hash, staged).map_err(fault)
    }

    /// Reads one page from the index of `hash`, building the index from the archive first when
    /// it is missing or damaged. `open_archive` opens the stored archive. `None`: the archive
    /// has no `messages.jsonl`. Blocking.
    pub fn read_page<R: Read>(
        &self,
        hash: &str,
        open_archive: impl FnOnce() -> io::Result<R>,
        req: PageRequest,
    ) -> Result<Option<MessagePage>, ArchiveError> {
        if let Some(index) = Index::open(&self.path_of(hash)) {
            return index.page(req).map_err(ArchiveError::StoredDamaged);
        }
        let archive = open_archive().map_err(ArchiveError::StoredUnopenable)?;
        self.rebuild(hash, archive)?;
        let index = Index::open(&self.path_of(hash)).ok_or_else(|| {
            ArchiveError::StoredDamaged(io::Error::other("message index unreadable after rebuild"))
        })?;
        index.page(req).map_err(ArchiveError::StoredDamaged)
    }
}

/// An open index file whose footer adds up.
struct Index {
    file: File,
    present: bool,
    lines: u64,
    visible: u64,
    data_len: u64,
}

impl Index {
    /// `None` when missing, or when the file does not add up (rebuild it).
    fn open(path: &Path) -> Option<Index> {
        let file = File::open(path).ok()?;
        let len = file.metadata().ok()?.len();
        if len < FOOTER {
            return None;
        }
        let mut footer = [0u8; FOOTER as usize];
        file.read_exact_at(&mut footer, len - FOOTER).ok()?;
        if &footer[..8] != MAGIC {
            return None;
        }
        let n = |i: usize| u64::from_le_bytes(footer[8 + i * 8..16 + i * 8].try_into().unwrap());
        let (present, lines, visible, data_len) = (n(0), n(1), n(2), n(3));
        let expected = data_len
            .checked_add(lines)?
            .checked_add(visible.checked_mul(ENTRY)?)?
            .checked_add(FOOTER)?;
        (expected == len && present <= 1 && visible <= lines).then_some(Index {
            file,
            present: present == 1,
            lines,
            visible,
            data_len,
        })
    }

    fn entries_at(&self) -> u64 {
        self.data_len + self.lines
    }

    /// Entries `from..to` (ascending line order) as (line, offset).
    fn entries(&self, from: u64, to: u64) -> io::Result<Vec<(u64, u64)>> {
        let mut raw = vec![0u8; ((to - from) * ENTRY) as usize];
        self.file
            .read_exact_at(&mut raw, self.entries_at() + from * ENTRY)?;
        Ok(raw
            .chunks_exact(ENTRY as usize)
            .map(|c| {
                (
                    u64::from_le_bytes(c[..8].try_into().unwrap()),
                    u64::from_le_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect())
    }

    fn line_of(&self, i: u64) -> io::Result<u64> {
        Ok(self.entries(i, i + 1)?[0].0)
    }

    fn kind_of(&self, line: u64) -> io::Result<LineKind> {
        if line >= self.lines {
            return Ok(LineKind::NotMessage);
        }
        let mut b = [0u8; 1];
        self.file.read_exact_at(&mut b, self.data_len + line)?;
        Ok(LineKind::from_byte(b[0]))
    }

    /// The visible message nearest to `line` (ties to the earlier line), as its ascending
    /// position: a binary search over the entries.
    fn nearest(&self, line: u64) -> io::Result<Option<(u64, u64)>> {
        if self.visible == 0 {
            return Ok(None);
        }
        // The first entry whose line is >= `line`.
        let (mut lo, mut hi) = (0u64, self.visible);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.line_of(mid)? < line {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let after = (lo < self.visible)
            .then(|| self.line_of(lo).map(|l| (lo, l)))
            .transpose()?;
        let before = (lo > 0)
            .then(|| self.line_of(lo - 1).map(|l| (lo - 1, l)))
            .transpose()?;
        Ok(match (before, after) {
            (Some(b), Some(a)) if a.1 - line < line - b.1 => Some(a),
            (Some(b), _) => Some(b),
            (None, a) => a,
        })
    }

    fn page(&self, req: PageRequest) -> io::Result<Option<MessagePage>> {
        if !self.present {
            return Ok(None);
        }
        let total = self.visible as usize;
        // Position `p` of the list as shown is ascending entry `ascending(p)`.
        let ascending = |p: usize| {
            if req.newest_first {
                total - 1 - p
            } else {
                p
            }
        };
        let mut page = req.page.max(1);
        let mut target = None;
        if let Some(index) = req.around {
            let status = match self.kind_of(index as u64)? {
                LineKind::Visible => "found",
                LineKind::Hidden => "hidden",
                LineKind::NotMessage => "missing",
            };
            let anchor = self.nearest(index as u64)?;
            page = match anchor {
                Some((i, _)) => ascending(i as usize) / req.page_size + 1,
                None => 1,
            };
            target = Some(Target {
                index,
                status,
                anchor_index: anchor.map(|(_, line)| line as usize),
            });
        }
        let start = (page - 1).saturating_mul(req.page_size).min(total);
        let end = (start + req.page_size).min(total);
        let (mut messages, mut message_indexes) = (Vec::new(), Vec::new());
        if start < end {
            // The page's entries in ascending order, plus where the last one's bytes end.
            let (from, to) = if req.newest_first {
                ((total - end) as u64, (total - start) as u64)
            } else {
                (start as u64, end as u64)
            };
            let entries = self.entries(from, to)?;
            let data_end = if to < self.visible {
                self.entries(to, to + 1)?[0].1
            } else {
                self.data_len
            };
            let data_start = entries[0].1;
            if data_end < data_start || data_end > self.data_len {
                return Err(io::Error::other("message index offsets out of order"));
            }
            let mut data = vec![0u8; (data_end - data_start) as usize];
            self.file.read_exact_at(&mut data, data_start)?;
            let mut lines = Vec::with_capacity(entries.len());
            for (k, &(line, offset)) in entries.iter().enumerate() {
                let next = entries.get(k + 1).map_or(data_end, |e| e.1);
                if next < offset || offset < data_start {
                    return Err(io::Error::other("message index offsets out of order"));
                }
                let bytes = &data[(offset - data_start) as usize..(next - data_start) as usize];
                let value = serde_json::from_slice::<Value>(bytes)
                    .map_err(|e| io::Error::other(format!("message index line {line}: {e}")))?;
                lines.push((line as usize, value));
            }
            if req.newest_first {
                lines.reverse();
            }
            for (line, value) in lines {
                message_indexes.push(line);
                messages.push(value);
            }
        }
        Ok(Some(MessagePage {
            messages,
            message_indexes,
            total,
            page,
            target,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::fixture::{gzip, tar_of, Member};
    use crate::archive::messages::read_page;

    fn lines() -> String {
        [
            r#"{"role":"user","content":"one"}"#,
            "",
            r#"{"role":"assistant","content":"two","is_sidechain":true}"#,
            "not json",
            r#"{"role":"tool","content":""}"#,
            r#"{"role":"assistant","content":[]}"#,
            r#"{"role":"assistant","content":"three"}"#,
            r#"{"role":"user","content":"four","z":1,"a":[1,2]}"#,
            r#"{"role":"assistant","content":"five"}"#,
        ]
        .join("\n")
    }

    fn same(index: &IndexFiles, hash: &str, bytes: &[u8], req: PageRequest) {
        let want = read_page(|| Ok(bytes), req).unwrap();
        let got = index.read_page(hash, || Ok(bytes), req).unwrap();
        match (want, got) {
            (None, None) => {}
            (Some(w), Some(g)) => {
                assert_eq!(w.messages, g.messages, "{req:?}");
                assert_eq!(w.message_indexes, g.message_indexes, "{req:?}");
                assert_eq!(w.total, g.total, "{req:?}");
                assert_eq!(w.page, g.page, "{req:?}");
                assert_eq!(w.target, g.target, "{req:?}");
            }
            (w, g) => panic!("{req:?}: {:?} vs {:?}", w.is_some(), g.is_some()),
        }
    }

    /// Every page, order, size and `around` answers exactly what reading the archive does.
    #[test]
    fn pages_from_the_index_match_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let index = IndexFiles::new(dir.path().to_path_buf());
        let with = gzip(&tar_of(&[Member::file(
            "messages.jsonl",
            lines().as_bytes(),
        )]));
        let without = gzip(&tar_of(&[Member::file("manifest.json", b"{}")]));
        let empty = gzip(&tar_of(&[Member::file("messages.jsonl", b"")]));
        for (hash, bytes) in [
            ("aa".repeat(32), &with),
            ("bb".repeat(32), &without),
            ("cc".repeat(32), &empty),
        ] {
            for page_size in 1..=4 {
                for page in 1..=8 {
                    for newest_first in [false, true] {
                        for around in [None, Some(0), Some(3), Some(4), Some(5), Some(7), Some(99)]
                        {
                            let req = PageRequest {
                                page,
                                page_size,
                                newest_first,
                                around,
                            };
                            same(&index, &hash, bytes, req);
                        }
                    }
                }
            }
        }
    }

    /// The index written while a push is validated is the one a lazy rebuild writes, whichever
    /// `messages.jsonl` member reading back would use.
    #[test]
    fn the_push_time_index_is_the_rebuilt_one() {
        use crate::archive::{inspect_indexing, Limits};
        let limits = Limits {
            member_bytes: 1 << 20,
            members: 10,
            uncompressed_bytes: 1 << 24,
        };
        let other = r#"{"role":"user","content":"other"}"#;
        for members in [
            vec![Member::file("messages.jsonl", lines().as_bytes())],
            vec![Member::file("./messages.jsonl", lines().as_bytes())],
            vec![
                Member::file("messages.jsonl", lines().as_bytes()),
                Member::file("messages.jsonl", other.as_bytes()),
            ],
            vec![
                Member::file("././messages.jsonl", other.as_bytes()),
                Member::file("messages.jsonl", lines().as_bytes()),
            ],
            vec![Member::file("manifest.json", b"{}")],
        ] {
            let bytes = gzip(&tar_of(&members));
            let mut builder = IndexBuilder::new(Vec::new());
            inspect_indexing(&bytes[..], &limits, Some(&mut builder)).unwrap();
            let at_push = builder.finish().unwrap();
            let dir = tempfile::tempdir().unwrap();
            let index = IndexFiles::new(dir.path().to_path_buf());
            let hash = "cd".repeat(32);
            index.rebuild(&hash, &bytes[..]).unwrap();
            assert_eq!(fs::read(index.path_of(&hash)).unwrap(), at_push);
        }
    }

    /// A torn or missing index file is rebuilt from the archive.
    #[test]
    fn a_damaged_index_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let index = IndexFiles::new(dir.path().to_path_buf());
        let bytes = gzip(&tar_of(&[Member::file(
            "messages.jsonl",
            lines().as_bytes(),
        )]));
        let hash = "ab".repeat(32);
        let req = PageRequest {
            page: 1,
            page_size: 2,
            newest_first: true,
            around: None,
        };
        same(&index, &hash, &bytes, req);
        let path = index.path_of(&hash);
        let whole = fs::read(&path).unwrap();
        fs::write(&path, &whole[..whole.len() / 2]).unwrap();
        same(&index, &hash, &bytes, req);
        assert_eq!(fs::read(&path).unwrap(), whole);
        index.remove(&hash).unwrap();
        assert!(!path.exists());
        same(&index, &hash, &bytes, req);
    }
}
