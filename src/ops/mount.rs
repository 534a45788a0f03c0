//! Which filesystem holds a path, read from `/proc/self/mountinfo`: `serve` refuses to run
//! silently on a network filesystem (SQLite's WAL needs one host) and `doctor` reports it.

use std::fs;
use std::path::{Path, PathBuf};

/// Network filesystems: SQLite's WAL needs shared memory and locks on one host.
const NETWORK_FS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb",
    "smb2",
    "smb3",
    "smbfs",
    "ncpfs",
    "afs",
    "ceph",
    "glusterfs",
    "lustre",
    "gpfs",
    "beegfs",
    "ocfs2",
    "gfs2",
    "davfs",
    "fuse.sshfs",
    "fuse.glusterfs",
    "fuse.s3fs",
    "fuse.rclone",
    "fuse.davfs2",
    "fuse.gcsfuse",
    "fuse.juicefs",
    "fuse.cephfs",
];

/// A mount, as `/proc/self/mountinfo` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub mount_point: PathBuf,
    pub fs_type: String,
    pub source: String,
}

/// Whether a filesystem type is a network filesystem (SQLite's WAL needs one host).
pub fn is_network_fs(fs_type: &str) -> bool {
    NETWORK_FS.contains(&fs_type)
}

/// The mount that holds `path` (the longest mount-point prefix of its canonical form; the
/// last such line when mounts are stacked). Linux only; `None` elsewhere.
pub fn filesystem_of(path: &Path) -> Option<Mount> {
    let path = fs::canonicalize(path).ok()?;
    let table = fs::read_to_string("/proc/self/mountinfo").ok()?;
    mount_for(&table, &path)
}

fn mount_for(mountinfo: &str, path: &Path) -> Option<Mount> {
    let mut best: Option<Mount> = None;
    for line in mountinfo.lines() {
        let Some(mount) = parse_mountinfo_line(line) else {
            continue;
        };
        if !path.starts_with(&mount.mount_point) {
            continue;
        }
        let longer = best
            .as_ref()
            .is_none_or(|b| mount.mount_point.as_os_str().len() >= b.mount_point.as_os_str().len());
        if longer {
            best = Some(mount);
        }
    }
    best
}

/// `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let mount_point = left.split(' ').nth(4)?;
    let mut right = right.split(' ');
    let fs_type = right.next()?;
    let source = right.next().unwrap_or("");
    Some(Mount {
        mount_point: PathBuf::from(unescape(mount_point)),
        fs_type: unescape(fs_type),
        source: unescape(source),
    })
}

/// mountinfo writes space, tab, newline and backslash as `\040`-style octal escapes.
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let oct = &bytes[i + 1..i + 4];
            if oct.iter().all(|b| (b'0'..=b'7').contains(b)) {
                let value = oct
                    .iter()
                    .fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /srv rw,relatime shared:2 - xfs /dev/sdb1 rw
31 30 0:41 / /srv/nfs rw,relatime shared:3 - nfs4 fileserver:/export rw,vers=4.2
32 22 0:42 / /mnt/my\\040disk rw shared:4 - fuse.sshfs me@host:/data rw
";

    #[test]
    fn the_longest_mount_point_prefix_wins() {
        let m = mount_for(MOUNTINFO, Path::new("/srv/nfs/sessionfs")).unwrap();
        assert_eq!(m.fs_type, "nfs4");
        assert_eq!(m.source, "fileserver:/export");
        let m = mount_for(MOUNTINFO, Path::new("/srv/nfsdata")).unwrap();
        assert_eq!(m.fs_type, "xfs", "a prefix counts only at a path boundary");
        let m = mount_for(MOUNTINFO, Path::new("/var/lib/sessionfs")).unwrap();
        assert_eq!(m.fs_type, "ext4");
        let m = mount_for(MOUNTINFO, Path::new("/mnt/my disk/data")).unwrap();
        assert_eq!(m.fs_type, "fuse.sshfs");
        assert_eq!(m.mount_point, PathBuf::from("/mnt/my disk"));
    }

    #[test]
    fn a_stacked_mount_takes_the_last_line() {
        let table = format!("{MOUNTINFO}40 22 0:50 / /srv rw - tmpfs tmpfs rw\n");
        assert_eq!(
            mount_for(&table, Path::new("/srv/x")).unwrap().fs_type,
            "tmpfs"
        );
    }

    #[test]
    fn unescape_reads_octal() {
        assert_eq!(unescape("a\\040b\\134c"), "a b\\c");
        assert_eq!(unescape("plain\\"), "plain\\");
        assert_eq!(unescape("x\\09"), "x\\09");
    }
}
