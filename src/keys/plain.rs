//! The plain store: the secret in `<account>.secret_key`, one word, owner-only (refused when
//! group or others can read it, as ssh refuses an open private key), read through
//! [`crate::files`] and written atomically. The seed's format, still what a plain `cp` makes.
#![forbid(unsafe_code)]

use super::{Location, ReadContext, Result, SecretStore, StoredSecret, read_word};
use crate::files::{self, Kind, LockGuard};
use crate::secret::Secret;
use crate::session::Credentials;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The file name's suffix: `<account>.secret_key`.
pub const SUFFIX: &str = "secret_key";

/// `<account>.secret_key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainFile {
    path: PathBuf,
}

impl PlainFile {
    pub fn new(path: PathBuf) -> Self {
        PlainFile { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether something is at the path (a `stat`, nothing opened): a link or a FIFO there
    /// is still this store, refused with its reason when read.
    pub fn exists(&self) -> bool {
        self.path.symlink_metadata().is_ok()
    }

    fn read_secret(&self) -> Result<Zeroizing<String>> {
        read_word(&self.path, Kind::SecretKey)?.ok_or_else(|| {
            files::FileError::Io {
                kind: Kind::SecretKey,
                path: self.path.clone(),
                action: "read",
                source: std::io::ErrorKind::NotFound.into(),
            }
            .into()
        })
    }
}

impl SecretStore for PlainFile {
    fn location(&self) -> Location {
        Location {
            what: Kind::SecretKey.describe(),
            place: self.path.display().to_string(),
            plain: true,
        }
    }

    fn check(&self) -> Result<()> {
        self.read_secret().map(drop)
    }

    fn read(&self, _cx: &ReadContext<'_>) -> Result<StoredSecret> {
        let secret = self.read_secret()?;
        Ok(StoredSecret {
            secret: Secret::new(secret.as_str()),
            access_key_id: None,
        })
    }

    fn write(&self, _lock: &LockGuard, pair: &Credentials) -> Result<()> {
        let text = Zeroizing::new(format!("{}\n", pair.secret_access_key.expose()));
        files::write_atomically(&self.path, Kind::SecretKey, text.as_bytes())?;
        Ok(())
    }
}
