//! Secrets at rest: the judge API keys and GitLab tokens users save are sealed with an AEAD
//! (ChaCha20-Poly1305, RustCrypto) under a key derived from the install secret.
//!
//! - **The install secret** is 32 random bytes, hex, in `DATA_DIR/secret.key` (mode 0600,
//!   created on first start) unless `--secret-file` / `SFS_SECRET_FILE` names another file. The
//!   sealing key is HKDF-SHA256 of it (info `sessionfs-llm-keys-v1`).
//! - **A sealed value** is text: `v1:<key id>:<base64(nonce ‖ ciphertext)>`. The key id (8 hex
//!   of a hash of the sealing key) says which secret sealed it, so a value sealed under another
//!   secret (a restore without `secret.key`) is told apart from a damaged one. The associated
//!   data binds a value to its owner and purpose (`judge:<user id>`), so a sealed key copied
//!   to another row does not open.
//! - **Backups** carry `secret.key` (see `ops::backup`); a data dir restored without it cannot
//!   open the stored keys, and says so: users must save their keys again.
//! - **Rotation** (`sessionfs-server admin rotate-secret`, server stopped): a new secret is
//!   written beside the old one, every sealed value is re-sealed in one transaction, then the
//!   new secret replaces the old file.
//!
//! Plain secrets never leave this module's callers except in outbound request headers: they are
//! not logged, not returned, not put in errors (the types here print as `[redacted]`).

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The install secret's file name in the data dir.
pub const SECRET_FILE: &str = "secret.key";
const HKDF_INFO: &[u8] = b"sessionfs-llm-keys-v1";
const PREFIX: &str = "v1";

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The value was sealed under another install secret.
    #[error(
        "the stored secret was sealed under another install secret (was the data dir restored \
         without its secret.key?); save it again"
    )]
    OtherSecret,
    /// The value is not a sealed value, or fails authentication.
    #[error("the stored secret is damaged; save it again")]
    Damaged,
    #[error("install secret: {0}")]
    File(String),
}

/// A secret in clear (an API key, a token). Prints as `[redacted]`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Plain(String);

impl Plain {
    pub fn new(s: impl Into<String>) -> Plain {
        Plain(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Plain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The sealing key of one install secret.
#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    id: String,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sealer({})", self.id)
    }
}

impl Sealer {
    /// The sealer of an install secret (any bytes; ours are 32 random bytes).
    pub fn from_secret(secret: &[u8]) -> Sealer {
        let hk = hkdf::Hkdf::<Sha256>::new(None, secret);
        let mut key = [0u8; 32];
        hk.expand(HKDF_INFO, &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        let id = hex::encode(&Sha256::digest([b"key-id:".as_slice(), &key].concat())[..4]);
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            id,
        }
    }

    /// Which secret this is (8 hex), as stored in every value it seals.
    pub fn key_id(&self) -> &str {
        &self.id
    }

    /// Seals `plain` for `purpose` (e.g. `judge:<user id>`).
    pub fn seal(&self, plain: &Plain, purpose: &str) -> String {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.0.as_bytes(),
                    aad: purpose.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        format!(
            "{PREFIX}:{}:{}",
            self.id,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    /// Opens a value sealed for `purpose`.
    pub fn open(&self, sealed: &str, purpose: &str) -> Result<Plain, SecretError> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(SecretError::Damaged);
        };
        if id != self.id {
            return Err(SecretError::OtherSecret);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| SecretError::Damaged)?;
        if bytes.len() < 12 {
            return Err(SecretError::Damaged);
        }
        let (nonce, ct) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: purpose.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain)
            .map(Plain)
            .map_err(|_| SecretError::Damaged)
    }

    /// The key id a sealed value names, if it is one.
    pub fn key_id_of(sealed: &str) -> Option<&str> {
        let mut parts = sealed.splitn(3, ':');
        match (parts.next(), parts.next()) {
            (Some(PREFIX), Some(id)) => Some(id),
            _ => None,
        }
    }
}

/// Where the install secret lives: `--secret-file`, else `DATA_DIR/secret.key`.
pub fn secret_path(data_dir: &Path, secret_file: Option<&Path>) -> PathBuf {
    secret_file
        .map(Path::to_path_buf)
        .unwrap_or_else(|| data_dir.join(SECRET_FILE))
}

/// Loads the install secret; creates it (0600) when it is the data dir's default file and is
/// missing. A named `--secret-file` must exist.
pub fn load_or_create(data_dir: &Path, secret_file: Option<&Path>) -> Result<Sealer, String> {
    let path = secret_path(data_dir, secret_file);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse_secret(&text)
            .map(|s| Sealer::from_secret(&s))
            .map_err(|e| format!("install secret {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && secret_file.is_none() => {
            let secret = new_secret();
            write_secret(&path, &secret)
                .map_err(|e| format!("cannot create install secret {}: {e}", path.display()))?;
            Ok(Sealer::from_secret(&secret))
        }
        Err(e) => Err(format!(
            "cannot read install secret {}: {e} (--secret-file / SFS_SECRET_FILE)",
            path.display()
        )),
    }
}

fn parse_secret(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let bytes = hex::decode(text).map_err(|_| "not a hex secret".to_string())?;
    if bytes.len() < 32 {
        return Err("the secret must hold at least 32 bytes (64 hex characters)".into());
    }
    Ok(bytes)
}

pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    secret
}

/// Writes a secret file atomically with mode 0600 (temp file, fsync, rename, dir fsync).
pub fn write_secret(path: &Path, secret: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("key.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(format!("{}\n", hex::encode(secret)).as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_bound_to_purpose() {
        let s = Sealer::from_secret(&[7u8; 32]);
        let sealed = s.seal(&Plain::new("sk-live-123"), "judge:u1");
        assert!(!sealed.contains("sk-live-123"));
        assert_eq!(s.open(&sealed, "judge:u1").unwrap().expose(), "sk-live-123");
        assert!(matches!(
            s.open(&sealed, "judge:u2"),
            Err(SecretError::Damaged)
        ));
        let other = Sealer::from_secret(&[8u8; 32]);
        assert!(matches!(
            other.open(&sealed, "judge:u1"),
            Err(SecretError::OtherSecret)
        ));
        assert_eq!(format!("{:?}", Plain::new("x")), "[redacted]");
    }

    #[test]
    fn the_default_secret_is_created_0600_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path(), None).unwrap();
        let b = load_or_create(dir.path(), None).unwrap();
        assert_eq!(a.key_id(), b.key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let named = dir.path().join("missing.key");
        assert!(load_or_create(dir.path(), Some(&named)).is_err());
    }
}
