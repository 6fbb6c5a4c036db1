//! The credentials directory (DESIGN §2): long-lived keys and the IAM user of each account,
//! with the permission checks ssh applies to a private key.
#![forbid(unsafe_code)]

use crate::accounts::{AccountName, is_valid_user_name};
use crate::error::{Error, Result};
use crate::session::{Credentials, Secret};
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Key files hold one line; a bigger file is not a key file.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// The credentials directory: `--creds-dir`, `$STSEXEC_CREDS_DIR`, else `~/aws-creds`.
#[derive(Debug, Clone)]
pub struct CredsDir {
    pub path: PathBuf,
}

impl CredsDir {
    pub fn new(path: PathBuf) -> Self {
        CredsDir { path }
    }

    pub fn file(&self, account: &AccountName, suffix: &str) -> PathBuf {
        self.path.join(format!("{account}.{suffix}"))
    }

    /// Refuses a directory that others could plant files in: whoever can write there can
    /// replace the keys or the cached sessions.
    pub fn check_not_writable_by_others(&self) -> Result<()> {
        let meta = match std::fs::metadata(&self.path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(Error::failed(format!(
                    "credentials directory {} does not exist; create it (mkdir -m 700 {}) and put <account>.access_key and <account>.secret_key there, or point --creds-dir at yours",
                    self.path.display(),
                    self.path.display()
                )));
            }
            Err(e) => {
                return Err(Error::failed(format!(
                    "cannot read credentials directory {}: {e}",
                    self.path.display()
                )));
            }
        };
        if !meta.is_dir() {
            return Err(Error::failed(format!(
                "credentials directory {} is not a directory",
                self.path.display()
            )));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(Error::failed(format!(
                "credentials directory {} is writable by group or others (mode {:04o}); run: chmod go-w {}",
                self.path.display(),
                meta.mode() & 0o7777,
                self.path.display()
            )));
        }
        Ok(())
    }

    /// Accounts that have an `<account>.access_key` file.
    pub fn accounts_with_keys(&self) -> Vec<AccountName> {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let account = name.to_str()?.strip_suffix(".access_key")?;
                AccountName::parse_str(account).ok()
            })
            .collect()
    }

    /// The account's long-lived keys, trimmed; the secret file must be owner-only.
    pub fn load_keys(&self, account: &AccountName) -> Result<Credentials> {
        let access_path = self.file(account, "access_key");
        let secret_path = self.file(account, "secret_key");
        let missing = |path: &Path| {
            Error::failed(format!(
                "no keys for account {account}: {} does not exist; put the access key id in {} and the secret access key in {} (chmod 600)",
                path.display(),
                access_path.display(),
                secret_path.display()
            ))
        };
        let access_key_id = read_trimmed(&access_path)?.ok_or_else(|| missing(&access_path))?;
        if !(16..=128).contains(&access_key_id.len())
            || !access_key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(Error::failed(format!(
                "{} does not hold an access key id (16 to 128 letters and digits, like AKIA…)",
                access_path.display()
            )));
        }
        let secret = read_secret(&secret_path)?.ok_or_else(|| missing(&secret_path))?;
        Ok(Credentials {
            access_key_id,
            secret_access_key: secret,
            session_token: None,
            expiration: None,
        })
    }

    /// The IAM user from `<account>.user`, if that file exists.
    pub fn load_user(&self, account: &AccountName) -> Result<Option<String>> {
        let path = self.file(account, "user");
        let Some(user) = read_trimmed(&path)? else {
            return Ok(None);
        };
        if !is_valid_user_name(&user) {
            return Err(Error::failed(format!(
                "{} does not hold an IAM user name (1 to 64 of letters, digits and _+=,.@-)",
                path.display()
            )));
        }
        Ok(Some(user))
    }
}

/// A small text file's trimmed content; `None` when it does not exist.
fn read_trimmed(path: &Path) -> Result<Option<String>> {
    let Some((_, bytes)) = read_small(path)? else {
        return Ok(None);
    };
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::failed(format!("{} is not UTF-8 text", path.display())))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::failed(format!("{} is empty", path.display())));
    }
    Ok(Some(trimmed.to_string()))
}

fn read_secret(path: &Path) -> Result<Option<Secret>> {
    let Some((file, bytes)) = read_small(path)? else {
        return Ok(None);
    };
    let mode = file
        .metadata()
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?
        .mode();
    if mode & 0o077 != 0 {
        return Err(Error::failed(format!(
            "{} is accessible by group or others (mode {:04o}); a secret key must be private: run chmod 600 {}",
            path.display(),
            mode & 0o7777,
            path.display()
        )));
    }
    let secret = Secret::new(
        String::from_utf8(bytes)
            .map_err(|_| Error::failed(format!("{} is not UTF-8 text", path.display())))?,
    );
    let trimmed = secret.expose().trim();
    if trimmed.is_empty() {
        return Err(Error::failed(format!("{} is empty", path.display())));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(Error::failed(format!(
            "{} holds more than one word; it should hold only the secret access key",
            path.display()
        )));
    }
    Ok(Some(Secret::new(trimmed)))
}

fn read_small(path: &Path) -> Result<Option<(File, Vec<u8>)>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::failed(format!(
                "cannot read {}: {e}",
                path.display()
            )));
        }
    };
    let mut bytes = Vec::new();
    (&file)
        .take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(Error::failed(format!(
            "{} is larger than {MAX_KEY_FILE_BYTES} bytes; it should hold a single key",
            path.display()
        )));
    }
    Ok(Some((file, bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, CredsDir, AccountName) {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let creds = CredsDir::new(dir.path().to_path_buf());
        (dir, creds, AccountName::parse_str("work").unwrap())
    }

    fn write(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn keys_are_trimmed() {
        let (_dir, creds, work) = setup();
        write(
            &creds.file(&work, "access_key"),
            " AKIAIOSFODNN7EXAMPLE\n",
            0o644,
        );
        write(
            &creds.file(&work, "secret_key"),
            "wJalr/K7MDENG+bPxRfiCY\n\n",
            0o600,
        );
        let keys = creds.load_keys(&work).unwrap();
        assert_eq!(keys.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(keys.secret_access_key.expose(), "wJalr/K7MDENG+bPxRfiCY");
        assert!(!keys.is_session());
    }

    #[test]
    fn open_secret_key_is_refused_with_the_fix() {
        let (_dir, creds, work) = setup();
        write(
            &creds.file(&work, "access_key"),
            "AKIAIOSFODNN7EXAMPLE",
            0o644,
        );
        write(&creds.file(&work, "secret_key"), "SECRETMARKER", 0o640);
        let err = creds.load_keys(&work).unwrap_err().to_string();
        assert!(
            err.contains("work.secret_key") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains("SECRETMARKER"));
    }

    #[test]
    fn missing_keys_name_the_file() {
        let (_dir, creds, work) = setup();
        let err = creds.load_keys(&work).unwrap_err().to_string();
        assert!(
            err.contains("work.access_key") && err.contains("no keys for account work"),
            "{err}"
        );
        write(
            &creds.file(&work, "access_key"),
            "AKIAIOSFODNN7EXAMPLE",
            0o644,
        );
        let err = creds.load_keys(&work).unwrap_err().to_string();
        assert!(err.contains("work.secret_key does not exist"), "{err}");
    }

    #[test]
    fn malformed_key_files_are_refused() {
        let (_dir, creds, work) = setup();
        write(&creds.file(&work, "access_key"), "not a key", 0o644);
        write(&creds.file(&work, "secret_key"), "x", 0o600);
        assert!(
            creds
                .load_keys(&work)
                .unwrap_err()
                .to_string()
                .contains("access key id")
        );
        write(
            &creds.file(&work, "access_key"),
            "AKIAIOSFODNN7EXAMPLE",
            0o644,
        );
        write(&creds.file(&work, "secret_key"), "  \n", 0o600);
        assert!(
            creds
                .load_keys(&work)
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
    }

    #[test]
    fn user_file_is_optional_and_checked() {
        let (_dir, creds, work) = setup();
        assert_eq!(creds.load_user(&work).unwrap(), None);
        write(&creds.file(&work, "user"), "jb\n", 0o644);
        assert_eq!(creds.load_user(&work).unwrap().as_deref(), Some("jb"));
        write(&creds.file(&work, "user"), "j b", 0o644);
        assert!(creds.load_user(&work).is_err());
    }

    #[test]
    fn directory_writable_by_others_is_refused() {
        let (dir, creds, _) = setup();
        assert!(creds.check_not_writable_by_others().is_ok());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = creds
            .check_not_writable_by_others()
            .unwrap_err()
            .to_string();
        assert!(err.contains("chmod go-w"), "{err}");
        let missing = CredsDir::new(dir.path().join("nope"));
        let err = missing
            .check_not_writable_by_others()
            .unwrap_err()
            .to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
