//! Garbage collection of archives no row names any more: the old version of a replaced
//! session, a purged session's archive, an upload whose push failed after it was stored.
//!
//! Never a referenced blob, never one a push may be about to name:
//! - A push stores its archive (rename + directory fsync) and only then asks the writer to
//!   commit the row that names it. Between the two, the hash is *pinned* in the store
//!   ([`BlobPin`](super::BlobPin)), and [`collect`] decides and deletes each file under the
//!   pin lock, so a push of the same bytes either pins first (the file is kept) or finds the
//!   file gone and writes it again.
//! - A file is only a candidate once its mtime is older than the grace period (default 1 h,
//!   `--gc-grace-seconds`); a dedup hit refreshes the mtime. That covers what pins cannot: a
//!   push whose request was cancelled while its write was still queued, and `doctor --fix`
//!   running in another process next to a live server.
//! - "Referenced" is asked of the database last, just before the delete, with a fresh read.
//!   Trashed sessions keep their row and so their archive; a handoff claim copies the row (the
//!   copy names the same hash); share links name sessions, not archives.

use std::time::Duration;

use super::store::{BlobStore, Removal};

/// What one collection did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Archives looked at.
    pub scanned: usize,
    /// Archives deleted, and their bytes.
    pub removed: usize,
    pub removed_bytes: u64,
}

/// Deletes every archive older than `grace` that no push has pinned and `referenced` does not
/// name. Blocking: run it on the blocking pool.
pub fn collect<E>(
    store: &BlobStore,
    grace: Duration,
    mut referenced: impl FnMut(&str) -> Result<bool, E>,
) -> Result<Collected, E>
where
    E: From<std::io::Error>,
{
    let mut done = Collected::default();
    for hash in store.list()? {
        done.scanned += 1;
        if let Removal::Removed(bytes) =
            store.remove_if_unreferenced(&hash, grace, &mut referenced)?
        {
            done.removed += 1;
            done.removed_bytes += bytes;
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn only_old_unpinned_unreferenced_archives_go() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let live = store.put(b"live").unwrap();
        let dead = store.put(b"dead").unwrap();
        let pinned = store.put(b"pinned").unwrap();
        let _pin = store.pin(&pinned);
        let refs: HashSet<String> = [live.clone()].into();
        let check = |h: &str| Ok::<_, std::io::Error>(refs.contains(h));
        // Inside the grace period nothing goes.
        let kept = collect(&store, Duration::from_secs(3600), check).unwrap();
        assert_eq!((kept.scanned, kept.removed), (3, 0));
        let done = collect(&store, Duration::ZERO, check).unwrap();
        assert_eq!((done.removed, done.removed_bytes), (1, 4));
        assert!(store.contains(&live) && store.contains(&pinned) && !store.contains(&dead));
        drop(_pin);
        collect(&store, Duration::ZERO, check).unwrap();
        assert!(!store.contains(&pinned) && store.contains(&live));
    }
}
