//! `stsexec ACCOUNT --add` (DESIGN §13): set up or convert an account's keys, as `aws-vault
//! add` does but proven. The parts: where the pair comes from ([`from_profile`],
//! [`from_terminal`]; the plain files are read through the key-store seam by the caller), the
//! caller's ARN → a missing accounts-file entry ([`fill_accounts_entry`]), and the removal of
//! the plain secret once the new store is proven ([`remove_plain_secret`]). `app::add` runs
//! them in the order that leaves one working copy of the key at every step.
#![forbid(unsafe_code)]

use super::age_file::AgeError;
use super::passphrase::PassphraseError;
use crate::accounts::{AccountName, Arn};
use crate::files::{self, FileError, Kind};
use crate::mfa::prompt::{Entry, Terminal};
use crate::secret::{Secret, is_access_key_id, mask_key_id};
use crate::session::Credentials;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The pair from `[profile]` of an AWS shared credentials file (`--from-profile`).
pub fn from_profile(path: &Path, profile: &str) -> Result<Credentials, AddError> {
    let bytes = files::read(path, Kind::AwsCredentials)
        .map_err(AddError::File)?
        .ok_or_else(|| AddError::NoProfileFile {
            path: path.to_path_buf(),
        })?;
    let text = std::str::from_utf8(&bytes).map_err(|_| AddError::Profile {
        path: path.to_path_buf(),
        profile: profile.to_string(),
        problem: ProfileProblem::NotText,
    })?;
    parse_profile(text, profile).map_err(|problem| AddError::Profile {
        path: path.to_path_buf(),
        profile: profile.to_string(),
        problem,
    })
}

/// What is wrong with a profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileProblem {
    NotText,
    NoSuchProfile,
    NoKeyId,
    NoSecret,
    BadKeyId,
    BadSecret,
    /// The profile holds a session (`aws_session_token`): not a long-lived key.
    Session,
}

/// The INI the AWS CLI writes: `[name]` sections, `key = value` lines, `#`/`;` comments.
pub fn parse_profile(text: &str, profile: &str) -> Result<Credentials, ProfileProblem> {
    let mut in_profile = false;
    let mut found = false;
    let mut id = None;
    let mut secret = None;
    let mut token = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_profile = name.trim() == profile;
            found |= in_profile;
            continue;
        }
        if !in_profile {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        match key.trim().to_ascii_lowercase().as_str() {
            "aws_access_key_id" => id = Some(value.trim().to_string()),
            "aws_secret_access_key" => secret = Some(Secret::new(value.trim())),
            "aws_session_token" | "aws_security_token" => token = true,
            _ => {}
        }
    }
    if !found {
        return Err(ProfileProblem::NoSuchProfile);
    }
    if token {
        return Err(ProfileProblem::Session);
    }
    let id = id.ok_or(ProfileProblem::NoKeyId)?;
    let secret = secret.ok_or(ProfileProblem::NoSecret)?;
    if !is_access_key_id(&id) {
        return Err(ProfileProblem::BadKeyId);
    }
    if !is_secret_shape(secret.expose()) {
        return Err(ProfileProblem::BadSecret);
    }
    Ok(Credentials {
        access_key_id: id,
        secret_access_key: secret,
        session_token: None,
        expiration: None,
    })
}

/// A secret access key: one word of printable ASCII (AWS's are 40 characters).
pub fn is_secret_shape(secret: &str) -> bool {
    (16..=512).contains(&secret.len()) && secret.bytes().all(|b| b.is_ascii_graphic())
}

/// The pair typed on the terminal, echo off for both (the key id is not secret, but a pasted
/// line may hold both).
pub fn from_terminal(account: &AccountName, timeout: Duration) -> Result<Credentials, AddError> {
    let mut terminal = Terminal::open().map_err(|_| AddError::NoSource {
        account: account.clone(),
    })?;
    let mut ask = |prompt: &str| -> Result<Secret, AddError> {
        match terminal.read_hidden(prompt, timeout) {
            Ok(Entry::Line(line)) => Ok(Secret::new(line.trim())),
            Ok(Entry::Cancelled) => Err(AddError::Passphrase(PassphraseError::Cancelled {
                account: account.to_string(),
            })),
            Ok(Entry::TimedOut) => Err(AddError::Passphrase(PassphraseError::TimedOut {
                account: account.to_string(),
                after: timeout,
            })),
            Err(e) => Err(AddError::Passphrase(PassphraseError::Terminal {
                account: account.to_string(),
                error: e.kind(),
            })),
        }
    };
    let id = ask(&format!("Access key id for {account} (AKIA…): "))?;
    if !is_access_key_id(id.expose()) {
        return Err(AddError::Typed {
            account: account.clone(),
            what: "access key id (16 to 128 letters and digits, like AKIA…)",
        });
    }
    let secret = ask(&format!("Secret access key for {account}: "))?;
    if !is_secret_shape(secret.expose()) {
        return Err(AddError::Typed {
            account: account.clone(),
            what: "secret access key (one word, 40 characters)",
        });
    }
    Ok(Credentials {
        access_key_id: id.expose().to_string(),
        secret_access_key: secret,
        session_token: None,
        expiration: None,
    })
}

/// What GetCallerIdentity said about the key: an IAM user's ARN → the accounts-file prefix and
/// the user name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub prefix: String,
    pub user: Option<String>,
}

impl Caller {
    /// The partition of the caller's ARN (`aws`, `aws-cn`…), which picks IAM's endpoint.
    pub fn partition(&self) -> Option<&str> {
        self.prefix.split(':').nth(1)
    }

    pub fn from_arn(arn: &str) -> Option<Caller> {
        let parsed = Arn::parse_iam(arn)?;
        let prefix = format!("arn:{}:iam::{}:", parsed.partition, parsed.account_id);
        let user = parsed
            .resource
            .strip_prefix("user/")
            .and_then(|path| path.rsplit('/').next())
            .filter(|u| !u.is_empty())
            .map(str::to_string);
        Some(Caller { prefix, user })
    }
}

/// Adds `"account": {"arn": prefix, "user": user}` (and `"mfa_serial"` when given) to the
/// accounts file at `path` (created owner-only when missing) unless the account has an entry.
/// Returns whether it added one. The file is rewritten atomically, once; its other entries
/// are kept (keys sorted).
pub fn fill_accounts_entry(
    path: &Path,
    account: &AccountName,
    caller: &Caller,
    mfa_serial: Option<&str>,
) -> Result<bool, AddError> {
    let existing = files::read(path, Kind::AccountsFile).map_err(AddError::File)?;
    let mut map = match &existing {
        Some(bytes) => match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => {
                return Err(AddError::AccountsNotObject {
                    path: path.to_path_buf(),
                });
            }
        },
        None => serde_json::Map::new(),
    };
    if map.keys().any(|k| k.eq_ignore_ascii_case(account.as_str())) {
        return Ok(false);
    }
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object({
        map.insert(account.to_string(), entry_json(caller, mfa_serial));
        map
    }))
    .expect("a JSON map serialises");
    text.push('\n');
    files::write_atomically(path, Kind::AccountsFile, text.as_bytes()).map_err(AddError::File)?;
    Ok(true)
}

/// The new entry: `{"arn": prefix, "user": user, "mfa_serial": serial}` (the last two when
/// known).
pub fn entry_json(caller: &Caller, mfa_serial: Option<&str>) -> serde_json::Value {
    let mut entry = serde_json::Map::new();
    entry.insert("arn".into(), caller.prefix.clone().into());
    if let Some(user) = &caller.user {
        entry.insert("user".into(), user.clone().into());
    }
    if let Some(serial) = mfa_serial {
        entry.insert("mfa_serial".into(), serial.into());
    }
    serde_json::Value::Object(entry)
}

/// Removes the plain secret file once the new store is proven ([`files::shred`]: the name
/// first, then the blocks zeroed). On journaling or copy-on-write file systems and SSDs old
/// blocks may survive: the README says so and advises `--rotate`.
pub fn remove_plain_secret(path: &Path) -> Result<(), AddError> {
    files::shred(path, Kind::SecretKey)
        .map(drop)
        .map_err(|e| match e {
            FileError::Io { source, .. } => AddError::Remove {
                path: path.to_path_buf(),
                error: source.kind(),
            },
            e => AddError::File(e),
        })
}

/// Why `--add` stopped; each `Display` is one sentence naming the file, flag or account.
#[derive(Debug)]
pub enum AddError {
    File(FileError),
    NoProfileFile {
        path: PathBuf,
    },
    Profile {
        path: PathBuf,
        profile: String,
        problem: ProfileProblem,
    },
    NoSource {
        account: AccountName,
    },
    Typed {
        account: AccountName,
        what: &'static str,
    },
    Passphrase(PassphraseError),
    Age(AgeError),
    AccountsNotObject {
        path: PathBuf,
    },
    Remove {
        path: PathBuf,
        error: std::io::ErrorKind,
    },
    /// The account already keeps its key elsewhere (`key_process`): nothing to add.
    KeyProcess {
        account: AccountName,
    },
    /// The caller's ARN is not an IAM user's: not a long-lived user key.
    NotAUser {
        account: AccountName,
        key_id: String,
        arn: String,
    },
}

impl fmt::Display for AddError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddError::File(e) => e.fmt(f),
            AddError::NoProfileFile { path } => write!(
                f,
                "--from-profile: {} does not exist; name a profile of the AWS CLI's credentials file, or leave --from-profile out to type the key",
                path.display()
            ),
            AddError::Profile {
                path,
                profile,
                problem,
            } => {
                let what = match problem {
                    ProfileProblem::NotText => "is not text".to_string(),
                    ProfileProblem::NoSuchProfile => format!("has no profile [{profile}]"),
                    ProfileProblem::NoKeyId => format!("has no aws_access_key_id in [{profile}]"),
                    ProfileProblem::NoSecret => {
                        format!("has no aws_secret_access_key in [{profile}]")
                    }
                    ProfileProblem::BadKeyId => format!(
                        "has an aws_access_key_id in [{profile}] that is not an access key id"
                    ),
                    ProfileProblem::BadSecret => format!(
                        "has an aws_secret_access_key in [{profile}] that is not a secret key (one word)"
                    ),
                    ProfileProblem::Session => format!(
                        "holds a session (aws_session_token) in [{profile}], not a long-lived key"
                    ),
                };
                write!(
                    f,
                    "--from-profile: {} {what}; name a profile that holds an IAM user's access key",
                    path.display()
                )
            }
            AddError::NoSource { account } => write!(
                f,
                "--add: account {account} has no plain key files to convert and there is no terminal to type the key on; use --from-profile NAME, or put the key in {account}.access_key and {account}.secret_key first"
            ),
            AddError::Typed { account, what } => write!(
                f,
                "--add: what was typed for account {account} is not an {what}; nothing was changed"
            ),
            AddError::Passphrase(e) => e.fmt(f),
            AddError::Age(e) => e.fmt(f),
            AddError::AccountsNotObject { path } => write!(
                f,
                "accounts file {} is not a JSON object, so --add cannot add the account to it; fix it or add the entry yourself",
                path.display()
            ),
            AddError::Remove { path, error } => write!(
                f,
                "the key is stored and proven, but the plain secret file {} could not be removed ({error}); remove it yourself (shred -u), then run stsexec ACCOUNT --rotate",
                path.display()
            ),
            AddError::KeyProcess { account } => write!(
                f,
                "account {account} gets its key from a key_process in the accounts file; --add has nothing to store (remove key_process to keep the key in a file instead)"
            ),
            AddError::NotAUser {
                account,
                key_id,
                arn,
            } => write!(
                f,
                "key {} for account {account} belongs to {}, not an IAM user; --add keeps IAM users' long-lived keys",
                mask_key_id(key_id),
                crate::text::shown(arn)
            ),
        }
    }
}

impl std::error::Error for AddError {}

impl From<AgeError> for AddError {
    fn from(e: AgeError) -> Self {
        AddError::Age(e)
    }
}

impl From<PassphraseError> for AddError {
    fn from(e: PassphraseError) -> Self {
        AddError::Passphrase(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIALS: &str = "[default]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY\n\n# a comment\n[work]\naws_access_key_id=AKIAIOSFODNN7EXAMPLE\naws_secret_access_key=SECRETMARKER/long+lived+secret+key\nregion = eu-west-1\n[temp]\naws_access_key_id = ASIAIOSFODNN7EXAMPLE\naws_secret_access_key = SECRETMARKER/long+lived+secret+key\naws_session_token = x\n";

    #[test]
    fn profiles_are_read_as_the_aws_cli_writes_them() {
        let work = parse_profile(CREDENTIALS, "work").unwrap();
        assert_eq!(work.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(
            work.secret_access_key.expose(),
            "SECRETMARKER/long+lived+secret+key"
        );
        assert_eq!(
            parse_profile(CREDENTIALS, "default").unwrap().access_key_id,
            "AKIAI44QH8DHBEXAMPLE"
        );
        assert_eq!(
            parse_profile(CREDENTIALS, "nope").unwrap_err(),
            ProfileProblem::NoSuchProfile
        );
        assert_eq!(
            parse_profile(CREDENTIALS, "temp").unwrap_err(),
            ProfileProblem::Session
        );
        assert_eq!(
            parse_profile("[x]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", "x").unwrap_err(),
            ProfileProblem::NoSecret
        );
    }

    #[test]
    fn profile_errors_never_hold_the_secret() {
        let error = AddError::Profile {
            path: "/h/.aws/credentials".into(),
            profile: "temp".into(),
            problem: parse_profile(CREDENTIALS, "temp").unwrap_err(),
        };
        assert_eq!(
            error.to_string(),
            "--from-profile: /h/.aws/credentials holds a session (aws_session_token) in [temp], not a long-lived key; name a profile that holds an IAM user's access key"
        );
    }

    #[test]
    fn the_caller_gives_prefix_and_user() {
        assert_eq!(
            Caller::from_arn("arn:aws:iam::123456789012:user/team/jb"),
            Some(Caller {
                prefix: "arn:aws:iam::123456789012:".into(),
                user: Some("jb".into())
            })
        );
        assert_eq!(
            Caller::from_arn("arn:aws:iam::123456789012:root").map(|c| c.user),
            Some(None)
        );
    }

    #[test]
    fn a_missing_entry_is_added_and_others_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accounts.json");
        let work = AccountName::parse_str("work").unwrap();
        let caller = Caller {
            prefix: "arn:aws:iam::123456789012:".into(),
            user: Some("jb".into()),
        };
        assert!(fill_accounts_entry(&path, &work, &caller, None).unwrap());
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"work": {"arn": "arn:aws:iam::123456789012:", "user": "jb"}})
        );
        std::fs::write(&path, r#"{"personal": "arn:aws:iam::000000000000:", "Work": {"arn": "arn:aws:iam::111111111111:"}}"#).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(
            !fill_accounts_entry(
                &path,
                &work,
                &caller,
                Some("arn:aws:iam::123456789012:mfa/x")
            )
            .unwrap()
        );
        let other = AccountName::parse_str("other").unwrap();
        let phone = "arn:aws:iam::123456789012:mfa/phone";
        assert!(fill_accounts_entry(&path, &other, &caller, Some(phone)).unwrap());
        let json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(json["personal"], "arn:aws:iam::000000000000:");
        assert_eq!(json["other"]["user"], "jb");
        assert_eq!(json["other"]["mfa_serial"], phone);
        assert_eq!(
            json["Work"],
            serde_json::json!({"arn": "arn:aws:iam::111111111111:"})
        );
    }

    #[test]
    fn the_plain_secret_is_overwritten_then_removed() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work.secret_key");
        std::fs::write(&path, "SECRETMARKER").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        // A second link shows what the overwrite did to the blocks the name pointed at.
        let witness = dir.path().join("witness");
        std::fs::hard_link(&path, &witness).unwrap();
        remove_plain_secret(&path).unwrap();
        assert!(!path.exists());
        assert_eq!(std::fs::read(&witness).unwrap(), vec![0u8; 12]);
        // Gone already: nothing to do.
        remove_plain_secret(&path).unwrap();
    }
}
