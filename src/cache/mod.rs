//! The session cache (DESIGN §2): one owner-only JSON file per slot (account, MFA device, role)
//! in the credentials directory, written atomically under the account's lock. The parts:
//! [`names`] (file names and parsing them back), [`record`] (the versioned format); files go
//! through [`crate::private_file`]. Every file is untrusted: anything unexpected is a
//! [`Miss`] with its reason, never a crash.
#![forbid(unsafe_code)]

pub mod names;
pub mod record;

use crate::accounts::AccountName;
use crate::private_file::{self, FileError, Holder, Kind, LockError, LockGuard};
use crate::secret::Secret;
use crate::session::{Credentials, rfc3339};
use names::{Entry, FileName};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Held from "is the cache valid?" to "new session written"; released on drop.
pub type CacheLock = LockGuard;

/// What a cached session is for; a file whose content says otherwise is a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub account: AccountName,
    /// The account's MFA device (for a role too: a changed device invalidates its sessions).
    pub mfa_serial: Option<String>,
    pub role_arn: Option<String>,
    /// The long-lived access key id at the root of the session: rotated keys invalidate it.
    pub source_key_id: String,
    /// The STS endpoint override in force, if any.
    pub endpoint: Option<String>,
    /// A role assumed with a CI's OIDC token (`--web-identity`): its own file, never mixed
    /// with the role's key-based sessions (`source_key_id` is empty: no key stands behind it).
    pub web_identity: bool,
}

impl Slot {
    fn entry(&self) -> Entry {
        match &self.role_arn {
            None => Entry::Session,
            Some(arn) => {
                // A slot's role ARN comes from a checked `accounts::Role`.
                let parts = crate::accounts::Arn::parse(arn);
                let account_id = parts.map_or("", |a| a.account_id).to_string();
                let path = parts
                    .and_then(|a| a.resource.strip_prefix("role/"))
                    .unwrap_or(arn);
                Entry::Role {
                    account_id,
                    path: path.to_string(),
                    web_identity: self.web_identity,
                }
            }
        }
    }
}

/// A session read from or written to the cache, with what the request that made it asked.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub credentials: Credentials,
    /// Whether an MFA code stands behind the session (directly or as the role's source).
    pub with_mfa: bool,
    pub session_name: Option<String>,
    pub external_id: Option<Secret>,
}

/// Why a slot's file gave no usable session.
#[derive(Debug)]
pub enum Miss {
    Absent,
    File(FileError),
    NotOurs,
    OtherVersion(u32),
    Damaged(&'static str),
    OtherSlot,
    OtherKeys,
    OtherEndpoint,
    /// Usable in itself, but not for this request.
    NotForThisRequest(Unfit),
    Expiring {
        expiration: SystemTime,
        window: Duration,
    },
}

/// Why a valid cached session does not satisfy a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unfit {
    WithoutMfa,
    LongerThanAsked,
    OtherSessionName,
    OtherExternalId,
}

impl Miss {
    /// Whether the file itself is bad (a warning, once), rather than just not a hit.
    pub fn is_unusable_file(&self) -> bool {
        matches!(
            self,
            Miss::File(_)
                | Miss::NotOurs
                | Miss::OtherVersion(_)
                | Miss::Damaged(_)
                | Miss::OtherSlot
                | Miss::OtherKeys
                | Miss::OtherEndpoint
        )
    }
}

impl fmt::Display for Miss {
    /// The end of a sentence that names the file ("cache file X …").
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Miss::Absent => f.write_str("does not exist"),
            Miss::File(e) => f.write_str(&e.reason()),
            Miss::NotOurs => f.write_str("is not a stsexec session cache"),
            Miss::OtherVersion(v) => write!(
                f,
                "was written by another stsexec version (format {v}; this one reads {})",
                record::VERSION
            ),
            Miss::Damaged(what) => write!(f, "is damaged ({what})"),
            Miss::OtherSlot => f.write_str("is for another account, role or MFA device"),
            Miss::OtherKeys => f.write_str("is for other keys (the access key has changed)"),
            Miss::OtherEndpoint => f.write_str("was made by another STS endpoint"),
            Miss::NotForThisRequest(Unfit::WithoutMfa) => {
                f.write_str("was made without an MFA code, and --mfa asks for one")
            }
            Miss::NotForThisRequest(Unfit::LongerThanAsked) => {
                f.write_str("lasts longer than -d/--duration asks")
            }
            Miss::NotForThisRequest(Unfit::OtherSessionName) => {
                f.write_str("has another session name")
            }
            Miss::NotForThisRequest(Unfit::OtherExternalId) => {
                f.write_str("has another external id")
            }
            Miss::Expiring { expiration, window } => write!(
                f,
                "expires {} (within the {} window)",
                rfc3339(*expiration),
                humantime::format_duration(*window)
            ),
        }
    }
}

/// Failures of the cache that stop a run (reading misses never do).
#[derive(Debug)]
pub enum CacheError {
    File(FileError),
    NameTooLong(PathBuf),
    HolderStopped {
        account: AccountName,
        pid: u32,
    },
    LockTimedOut {
        account: AccountName,
        holder: Option<Holder>,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::File(e) => e.fmt(f),
            CacheError::HolderStopped { account, pid } => write!(
                f,
                "stsexec pid {pid} holds account {account}'s lock and is stopped; resume it (fg) or end it (kill {pid})"
            ),
            CacheError::LockTimedOut { account, holder } => match holder {
                Some(h) => write!(
                    f,
                    "stsexec pid {} has held account {account}'s lock for over {} minutes ({}); end it (kill {}) and run again",
                    h.pid,
                    private_file::MAX_LOCK_WAIT.as_secs() / 60,
                    h.activity,
                    h.pid
                ),
                None => write!(
                    f,
                    "another stsexec has held account {account}'s lock for over {} minutes; end it and run again",
                    private_file::MAX_LOCK_WAIT.as_secs() / 60
                ),
            },
            CacheError::NameTooLong(dir) => write!(
                f,
                "the role's name is too long for a cache file name in {}; the session is used but not cached",
                dir.display()
            ),
        }
    }
}

impl std::error::Error for CacheError {}

impl From<FileError> for CacheError {
    fn from(e: FileError) -> Self {
        CacheError::File(e)
    }
}

/// The cache files of one account in a credentials directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
    account: AccountName,
}

impl Cache {
    pub fn new(dir: &Path, account: &AccountName) -> Self {
        Cache {
            dir: dir.to_path_buf(),
            account: account.clone(),
        }
    }

    pub fn path_for(&self, slot: &Slot) -> PathBuf {
        self.dir.join(names::name(&self.account, &slot.entry()))
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(names::name(&self.account, &Entry::Lock))
    }

    /// The account's used-MFA-code record.
    pub fn codes_path(&self) -> PathBuf {
        self.dir.join(names::name(&self.account, &Entry::Codes))
    }

    /// The account's unfinished key rotation (`--rotate`'s journal).
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join(names::name(&self.account, &Entry::Rotation))
    }

    /// Takes the account's lock, calling `on_wait` with the holder's record first if another
    /// process holds it; then removes temp files that a killed writer left.
    pub fn lock(&self, on_wait: impl FnOnce(Option<Holder>)) -> Result<CacheLock, CacheError> {
        let guard = private_file::lock(&self.lock_path(), on_wait).map_err(|e| match e {
            LockError::File(e) => CacheError::File(e),
            LockError::HolderStopped { pid } => CacheError::HolderStopped {
                account: self.account.clone(),
                pid,
            },
            LockError::TimedOut { holder } => CacheError::LockTimedOut {
                account: self.account.clone(),
                holder,
            },
        })?;
        for (path, file) in self.own_files() {
            if file.temp {
                let _ = private_file::remove(&path, Kind::CacheFile);
            }
        }
        Ok(guard)
    }

    /// Reads the slot's file: a session for exactly this slot, or why not.
    pub fn load(&self, slot: &Slot) -> Result<CachedSession, Miss> {
        let path = self.path_for(slot);
        match private_file::read(&path, Kind::CacheFile) {
            Ok(Some(bytes)) => record::parse(&bytes, slot),
            Ok(None) => Err(Miss::Absent),
            Err(e) => Err(Miss::File(e)),
        }
    }

    /// Writes the session atomically. Callers hold the lock.
    pub fn store(
        &self,
        _lock: &CacheLock,
        slot: &Slot,
        session: &CachedSession,
        produced_by: &str,
    ) -> Result<PathBuf, CacheError> {
        let path = self.path_for(slot);
        if path.file_name().map_or(0, std::ffi::OsStr::len) > 255 {
            return Err(CacheError::NameTooLong(self.dir.clone()));
        }
        // Long-lived keys are never cached; there is nothing to write for them.
        let Some(bytes) = record::encode(slot, session, produced_by) else {
            return Ok(path);
        };
        private_file::write_atomically(&path, Kind::CacheFile, &bytes)?;
        Ok(path)
    }

    /// Removes the slot's file (a session STS refused). Callers hold the lock.
    pub fn remove(&self, _lock: &CacheLock, slot: &Slot) -> Result<PathBuf, CacheError> {
        let path = self.path_for(slot);
        private_file::remove(&path, Kind::CacheFile)?;
        Ok(path)
    }

    /// This account's files of the current scheme except the lock, parsed from their names.
    fn own_files(&self) -> Vec<(PathBuf, FileName)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let parsed = names::parse(entry.file_name().to_str()?)?;
                (parsed.account == self.account && parsed.entry != Entry::Lock)
                    .then(|| (entry.path(), parsed))
            })
            .collect()
    }

    /// Files of the first naming scheme that belonged to this account.
    fn legacy_files(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .and_then(names::legacy_account)
                    .is_some_and(|account| account == self.account)
            })
            .map(|entry| entry.path())
            .collect()
    }

    /// Every cached session of the account, for `--list`: what it is for and when it
    /// expires, or why it cannot be used.
    pub fn summaries(&self) -> Vec<Summary> {
        let mut summaries: Vec<Summary> = self
            .own_files()
            .into_iter()
            .filter(|(_, f)| !f.temp && matches!(f.entry, Entry::Session | Entry::Role { .. }))
            .map(|(path, _)| {
                let record = match private_file::read(&path, Kind::CacheFile) {
                    Ok(Some(bytes)) => record::parse_record(&bytes),
                    Ok(None) => Err(Miss::Absent),
                    Err(e) => Err(Miss::File(e)),
                };
                match record {
                    Ok(record) => Summary {
                        role_arn: record.role_arn.clone(),
                        expiration: humantime::parse_rfc3339_weak(&record.expiration)
                            .map_err(|_| Miss::Damaged("bad expiration").to_string()),
                    },
                    Err(miss) => Summary {
                        role_arn: None,
                        expiration: Err(miss.to_string()),
                    },
                }
            })
            .collect();
        summaries.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
        summaries
    }

    /// Whether the account has any session file (of either scheme) or leftover temp file.
    pub fn has_files(&self) -> bool {
        self.own_files()
            .iter()
            .any(|(_, f)| matches!(f.entry, Entry::Session | Entry::Role { .. }))
            || !self.legacy_files().is_empty()
    }

    /// Removes the account's session files, of this scheme and the first (never key files,
    /// never the lock file, which other processes may hold). Callers hold the lock. Returns
    /// how many sessions were removed.
    pub fn clear(&self, _lock: &CacheLock) -> Result<usize, CacheError> {
        let mut removed = 0;
        for (path, file) in self.own_files() {
            if !matches!(file.entry, Entry::Session | Entry::Role { .. }) {
                continue;
            }
            private_file::remove(&path, Kind::CacheFile)?;
            if !file.temp {
                removed += 1;
            }
        }
        for path in self.legacy_files() {
            private_file::remove(&path, Kind::CacheFile)?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json") {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A cached session as `--list` shows it.
#[derive(Debug)]
pub struct Summary {
    /// `None` for the MFA session.
    pub role_arn: Option<String>,
    /// When it expires, or why the file cannot be used.
    pub expiration: Result<SystemTime, String>,
}

/// The accounts that have cache files in `dir` (either naming scheme), for `--clear`.
pub fn accounts_with_cache(dir: &Path) -> Vec<AccountName> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut accounts: Vec<AccountName> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            names::parse(name)
                .filter(|f| matches!(f.entry, Entry::Session | Entry::Role { .. }))
                .map(|f| f.account)
                .or_else(|| names::legacy_account(name))
        })
        .collect();
    accounts.sort();
    accounts.dedup();
    accounts
}

#[cfg(test)]
mod tests;
