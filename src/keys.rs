//! The credentials directory (DESIGN §2): long-lived keys and the IAM user of each account,
//! read through the private-file checks (a secret key file must be owner-only, as ssh
//! requires of a private key).
#![forbid(unsafe_code)]

use crate::accounts::{self, AccountName, AccountsError};
use crate::env::Environment;
use crate::files::{self, DirectoryError, FileError, Kind};
use crate::secret::{Secret, is_access_key_id};
use crate::session::Credentials;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why an account's keys cannot be used; `Display` is the sentence for the user.
#[derive(Debug)]
pub enum KeysError {
    Missing {
        account: AccountName,
        missing: PathBuf,
        access_path: PathBuf,
        secret_path: PathBuf,
    },
    NotAKeyId(PathBuf),
    NotText(PathBuf),
    Empty(PathBuf),
    NotOneWord(PathBuf),
    File(FileError),
    Directory(DirectoryError),
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeysError::Missing {
                account,
                missing,
                access_path,
                secret_path,
            } => write!(
                f,
                "no keys for account {account}: {} does not exist; put the access key id in {} and the secret access key in {} (chmod 600)",
                missing.display(),
                access_path.display(),
                secret_path.display()
            ),
            KeysError::NotAKeyId(path) => write!(
                f,
                "{} does not hold an access key id (16 to 128 letters and digits, like AKIA…); put the account's access key id there",
                path.display()
            ),
            KeysError::NotText(path) => write!(
                f,
                "{} holds characters that are not part of a key (not text, or control characters); write only the key there",
                path.display()
            ),
            KeysError::Empty(path) => write!(f, "{} is empty; write the key there", path.display()),
            KeysError::NotOneWord(path) => write!(
                f,
                "{} holds more than one word; it should hold only the key",
                path.display()
            ),
            KeysError::File(e) => e.fmt(f),
            KeysError::Directory(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for KeysError {}

impl From<FileError> for KeysError {
    fn from(e: FileError) -> Self {
        KeysError::File(e)
    }
}

type Result<T> = std::result::Result<T, KeysError>;

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

    /// Refuses a directory that another user owns or others could plant files in: whoever
    /// can write there can replace the keys or the cached sessions.
    pub fn check(&self, home: Option<&Path>) -> std::result::Result<(), DirectoryError> {
        files::check_directory_chain(&self.path, home)
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
                let parsed = AccountName::parse_str(account).ok()?;
                (parsed.as_str() == account).then_some(parsed)
            })
            .collect()
    }

    /// Whether the account has key files (for telling a known account from a typo).
    pub fn has_keys(&self, account: &AccountName) -> bool {
        self.file(account, "access_key").symlink_metadata().is_ok()
            || self.file(account, "secret_key").symlink_metadata().is_ok()
    }

    /// The account's long-lived keys, trimmed; the secret file must be owner-only.
    pub fn load_keys(&self, account: &AccountName) -> Result<Credentials> {
        let access_path = self.file(account, "access_key");
        let secret_path = self.file(account, "secret_key");
        let missing = |path: &Path| KeysError::Missing {
            account: account.clone(),
            missing: path.to_path_buf(),
            access_path: access_path.clone(),
            secret_path: secret_path.clone(),
        };
        let access_key_id =
            read_word(&access_path, Kind::AccessKey)?.ok_or_else(|| missing(&access_path))?;
        if !is_access_key_id(&access_key_id) {
            return Err(KeysError::NotAKeyId(access_path));
        }
        let secret =
            read_word(&secret_path, Kind::SecretKey)?.ok_or_else(|| missing(&secret_path))?;
        Ok(Credentials {
            access_key_id: access_key_id.to_string(),
            secret_access_key: Secret::new(secret.as_str()),
            session_token: None,
            expiration: None,
        })
    }

    /// The IAM user: `<account>.user`, else the accounts file's `user`, else `USER`, else
    /// `LOGNAME`. Only the default MFA device and the default session name need it, so
    /// callers ask for it only there (a container without `USER` runs with long-lived keys).
    pub fn iam_user(
        &self,
        account: &AccountName,
        entry: Option<&accounts::Account>,
        current: &Environment,
    ) -> std::result::Result<String, UserError> {
        let user_file = self.file(account, "user");
        match read_word(&user_file, Kind::UserFile) {
            Ok(Some(user)) if accounts::is_valid_user_name(&user) => return Ok(user.to_string()),
            Ok(Some(_)) => {
                return Err(UserError::Accounts(AccountsError::InvalidUser {
                    source: user_file.display().to_string(),
                    user_file,
                }));
            }
            Ok(None) => {}
            Err(e) => return Err(UserError::Keys(e)),
        }
        if let Some(user) = entry.and_then(|a| a.user.clone()) {
            return Ok(user);
        }
        for variable in ["USER", "LOGNAME"] {
            if let Some(value) = current.get_os(variable).filter(|v| !v.is_empty()) {
                return match value.to_str().filter(|u| accounts::is_valid_user_name(u)) {
                    Some(user) => Ok(user.to_string()),
                    None => Err(UserError::Accounts(AccountsError::InvalidUser {
                        source: format!(
                            "{variable}={:?}",
                            accounts::shown(&value.to_string_lossy())
                        ),
                        user_file,
                    })),
                };
            }
        }
        Err(UserError::Accounts(AccountsError::NoUser {
            account: account.clone(),
            user_file,
        }))
    }
}

/// Why the IAM user is unknown: a bad `.user` file, or nothing names the user.
#[derive(Debug)]
pub enum UserError {
    Keys(KeysError),
    Accounts(AccountsError),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::Keys(e) => e.fmt(f),
            UserError::Accounts(e) => e.fmt(f),
        }
    }
}

/// A key file's one word, trimmed; `None` when the file does not exist.
fn read_word(path: &Path, kind: Kind) -> Result<Option<Zeroizing<String>>> {
    let Some(bytes) = files::read(path, kind)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| KeysError::NotText(path.to_path_buf()))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KeysError::Empty(path.to_path_buf()));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(KeysError::NotOneWord(path.to_path_buf()));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(KeysError::NotText(path.to_path_buf()));
    }
    Ok(Some(Zeroizing::new(trimmed.to_string())))
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
        write(&creds.file(&work, "access_key"), "not-a-key", 0o644);
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
        write(&creds.file(&work, "secret_key"), "abc\0def", 0o600);
        assert!(matches!(creds.load_keys(&work), Err(KeysError::NotText(_))));
    }

    #[test]
    fn the_user_comes_from_the_file_the_entry_or_the_environment() {
        let (_dir, creds, work) = setup();
        let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
        let user = |current: &Environment| {
            creds
                .iam_user(&work, None, current)
                .map_err(|e| e.to_string())
        };
        assert_eq!(user(&env(&[("USER", "jb")])).unwrap(), "jb");
        assert_eq!(user(&env(&[("LOGNAME", "lg")])).unwrap(), "lg");
        let d = creds.path.display();
        assert_eq!(
            user(&env(&[])).unwrap_err(),
            format!(
                "cannot tell the IAM user of account work: neither USER nor LOGNAME is set; write it to {d}/work.user, or give --session-name and an mfa_serial"
            )
        );
        assert_eq!(
            user(&env(&[("USER", "j b")])).unwrap_err(),
            format!(
                "USER=\"j b\" is not an IAM user name (1 to 64 of letters, digits and _+=,.@-); write the IAM user to {d}/work.user"
            )
        );
        write(&creds.file(&work, "user"), "file-user\n", 0o644);
        assert_eq!(user(&env(&[("USER", "jb")])).unwrap(), "file-user");
        write(&creds.file(&work, "user"), "a,b;c", 0o644);
        assert!(
            user(&env(&[("USER", "jb")]))
                .unwrap_err()
                .contains("work.user is not an IAM user name")
        );
    }

    #[test]
    fn directory_writable_by_others_is_refused() {
        let (dir, creds, _) = setup();
        assert!(creds.check(None).is_ok());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = creds.check(None).unwrap_err().to_string();
        assert!(err.contains("chmod go-w"), "{err}");
        let missing = CredsDir::new(dir.path().join("nope"));
        let err = missing.check(None).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
