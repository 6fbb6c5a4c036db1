//! An account's state in the credentials directory ([`AccountState`]): the session cache
//! (DESIGN §2: one owner-only JSON file per slot — account, MFA device, role — written
//! atomically under the account's lock), the lock itself, and the names of the used-code
//! ledger and the rotation journal. The parts: [`names`] (file names and parsing them back),
//! [`record`] (the versioned session format); files go through [`crate::files`]. Every file is
//! untrusted: anything unexpected is a [`Miss`] with its reason, never a crash.
#![forbid(unsafe_code)]

pub mod names;
pub mod record;

use crate::accounts::AccountName;
use crate::files::{self, FileError, Holder, Kind, LockError, LockGuard};
use crate::report::Reporter;
use crate::secret::Secret;
use crate::session::{Credentials, rfc3339};
use crate::text::clean;
use names::{Entry, FileName};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The account's lock, held from "is the cache valid?" to "new session written" (and around
/// a rotation, the used-code record, a store's read); released on drop.
pub type AccountLock = LockGuard;

/// What a run waits for when another holds the account's lock: the one sentence that says so.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Waiting {
    /// A session is being fetched.
    ToRefresh,
    /// Anything else (`--clear`, `--rotate`).
    ToFinish,
}

/// `Waiting for another stsexec (pid 4242, prompting for an MFA code) to refresh account work…`
pub fn waiting_sentence(holder: Option<&Holder>, locked: &Locked, why: Waiting) -> String {
    let who = holder
        .map(|h| format!(" (pid {}, {})", h.pid, h.activity))
        .unwrap_or_default();
    let what = match why {
        Waiting::ToRefresh => "refresh",
        Waiting::ToFinish => "finish with",
    };
    format!(
        "Waiting for another stsexec{who} to {what} {}…",
        locked.name()
    )
}

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
    /// With `web_identity`: who the OIDC token speaks for
    /// ([`crate::web_identity::identity`], the hash of its issuer, subject and audience), so a
    /// session goes only to a later run whose token has the same claims. `None` otherwise.
    pub identity: Option<String>,
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
                    identity: self.identity.clone(),
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

/// Whose lock a run waits for: an account's, or an MFA device's (shared by every account
/// configured with that device).
#[derive(Debug, Clone)]
pub enum Locked {
    Account(AccountName),
    Device(String),
}

impl Locked {
    /// "account work", "MFA device arn:…"
    fn name(&self) -> String {
        match self {
            Locked::Account(account) => format!("account {account}"),
            Locked::Device(serial) => format!("MFA device {}", clean(serial, 256)),
        }
    }
}

impl fmt::Display for Locked {
    /// "account work's lock", "the lock of MFA device arn:…"
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locked::Account(account) => write!(f, "account {account}'s lock"),
            Locked::Device(serial) => write!(f, "the lock of MFA device {}", clean(serial, 256)),
        }
    }
}

/// Failures of the cache that stop a run (reading misses never do).
#[derive(Debug)]
pub enum CacheError {
    File(FileError),
    NameTooLong(PathBuf),
    HolderStopped {
        locked: Locked,
        pid: u32,
    },
    LockTimedOut {
        locked: Locked,
        holder: Option<Holder>,
    },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::File(e) => e.fmt(f),
            CacheError::HolderStopped { locked, pid } => write!(
                f,
                "stsexec pid {pid} holds {locked} and is stopped; resume it (fg) or end it (kill {pid})"
            ),
            CacheError::LockTimedOut { locked, holder } => match holder {
                Some(h) => write!(
                    f,
                    "stsexec pid {} has held {locked} for over {} minutes ({}); end it (kill {}) and run again",
                    h.pid,
                    files::MAX_LOCK_WAIT.as_secs() / 60,
                    h.activity,
                    h.pid
                ),
                None => write!(
                    f,
                    "another stsexec has held {locked} for over {} minutes; end it and run again",
                    files::MAX_LOCK_WAIT.as_secs() / 60
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

/// One account's state files in a credentials directory: its cached sessions, its lock, its
/// used-code ledger and its rotation journal.
#[derive(Debug, Clone)]
pub struct AccountState {
    dir: PathBuf,
    account: AccountName,
}

impl AccountState {
    pub fn new(dir: &Path, account: &AccountName) -> Self {
        AccountState {
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

    pub fn account(&self) -> &AccountName {
        &self.account
    }

    /// Takes the lock of an MFA device, which every account configured with it takes while it
    /// gets a code, calls STS and records the code (DESIGN §9: a code works once, whichever
    /// account sent it); callers hold their account's lock first, never the other way round.
    /// Temp files a killed writer of the device's ledger left are removed.
    pub fn lock_device(&self, serial: &str, report: Reporter) -> Result<DeviceLedger, CacheError> {
        let locked = Locked::Device(serial.to_string());
        let on_wait = |holder: Option<Holder>| {
            report.status(waiting_sentence(
                holder.as_ref(),
                &locked,
                Waiting::ToFinish,
            ));
        };
        let lock = files::lock(&self.dir.join(names::device_name(serial, "lock")), on_wait)
            .map_err(|e| lock_error(e, locked.clone()))?;
        let ledger = names::device_name(serial, "codes.json");
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            let temp = format!("{ledger}{}", files::TEMP_MARKER);
            for entry in entries.flatten() {
                if entry
                    .file_name()
                    .to_str()
                    .is_some_and(|n| n.starts_with(&temp))
                {
                    let _ = files::remove(&entry.path(), Kind::Ledger);
                }
            }
        }
        Ok(DeviceLedger {
            lock,
            path: self.dir.join(ledger),
        })
    }

    /// The account's unfinished key rotation (`--rotate`'s journal).
    pub fn journal_path(&self) -> PathBuf {
        self.dir.join(names::name(&self.account, &Entry::Rotation))
    }

    /// Takes the account's lock, saying once whom it waits for when another process holds
    /// it; then removes temp files that a killed writer left.
    pub fn lock(&self, why: Waiting, report: Reporter) -> Result<AccountLock, CacheError> {
        let locked = Locked::Account(self.account.clone());
        let on_wait = |holder: Option<Holder>| {
            report.status(waiting_sentence(holder.as_ref(), &locked, why));
        };
        let guard =
            files::lock(&self.lock_path(), on_wait).map_err(|e| lock_error(e, locked.clone()))?;
        for (path, file) in self.own_files() {
            if file.temp {
                let _ = files::remove(&path, Kind::CacheFile);
            }
        }
        Ok(guard)
    }

    /// Reads the slot's file: a session for exactly this slot, or why not.
    pub fn load(&self, slot: &Slot) -> Result<CachedSession, Miss> {
        let path = self.path_for(slot);
        match files::read(&path, Kind::CacheFile) {
            Ok(Some(bytes)) => record::parse(&bytes, slot),
            Ok(None) => Err(Miss::Absent),
            Err(e) => Err(Miss::File(e)),
        }
    }

    /// Writes the session atomically. Callers hold the lock.
    pub fn store(
        &self,
        _lock: &AccountLock,
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
        files::write_atomically(&path, Kind::CacheFile, &bytes)?;
        Ok(path)
    }

    /// Removes the slot's file (a session STS refused). Callers hold the lock.
    pub fn remove(&self, _lock: &AccountLock, slot: &Slot) -> Result<PathBuf, CacheError> {
        let path = self.path_for(slot);
        files::remove(&path, Kind::CacheFile)?;
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
            .map(|(path, file)| {
                let web_identity = matches!(
                    file.entry,
                    Entry::Role {
                        web_identity: true,
                        ..
                    }
                );
                let record = match files::read(&path, Kind::CacheFile) {
                    Ok(Some(bytes)) => record::parse_record(&bytes),
                    Ok(None) => Err(Miss::Absent),
                    Err(e) => Err(Miss::File(e)),
                };
                match record {
                    Ok(record) => Summary {
                        role_arn: record.role_arn.clone(),
                        web_identity,
                        expiration: humantime::parse_rfc3339_weak(&record.expiration)
                            .map_err(|_| Miss::Damaged("bad expiration")),
                    },
                    Err(miss) => Summary {
                        role_arn: None,
                        web_identity,
                        expiration: Err(miss),
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
    pub fn clear(&self, _lock: &AccountLock) -> Result<usize, CacheError> {
        let mut removed = 0;
        for (path, file) in self.own_files() {
            if !matches!(file.entry, Entry::Session | Entry::Role { .. }) {
                continue;
            }
            files::remove(&path, Kind::CacheFile)?;
            if !file.temp {
                removed += 1;
            }
        }
        for path in self.legacy_files() {
            files::remove(&path, Kind::CacheFile)?;
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.ends_with(".json") {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

fn lock_error(e: LockError, locked: Locked) -> CacheError {
    match e {
        LockError::File(e) => CacheError::File(e),
        LockError::HolderStopped { pid } => CacheError::HolderStopped { locked, pid },
        LockError::TimedOut { holder } => CacheError::LockTimedOut { locked, holder },
    }
}

/// An MFA device's used-code ledger, with the device's lock held until dropped.
#[derive(Debug)]
pub struct DeviceLedger {
    lock: LockGuard,
    path: PathBuf,
}

impl DeviceLedger {
    /// The ledger file: `.stsexec-mfa~<device>~codes.json` (see [`names::device_name`]).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What this run is doing with the device, for a run that waits for it.
    pub fn set_activity(&self, activity: &str) {
        self.lock.set_activity(activity);
    }
}

/// A cached session as `--list` shows it.
#[derive(Debug)]
pub struct Summary {
    /// `None` for the MFA session.
    pub role_arn: Option<String>,
    /// Assumed with a CI's OIDC token (`--web-identity`).
    pub web_identity: bool,
    /// When it expires, or why the file cannot be used.
    pub expiration: Result<SystemTime, Miss>,
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
