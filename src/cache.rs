//! The session cache (DESIGN §2): one owner-only JSON file per (account, MFA serial, role) in
//! the credentials directory, written atomically under a per-account lock. Every file is
//! untrusted input: anything unexpected is a miss, never a crash.

use crate::accounts::AccountName;
use crate::error::{Error, Result};
use crate::session::{Credentials, Secret};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

const FORMAT: &str = "stsexec-session-cache";
const VERSION: u32 = 1;
const MAX_CACHE_FILE_BYTES: u64 = 64 * 1024;
const TEMP_MARKER: &str = ".tmp-";

/// What a cached session is for; a file whose content says otherwise is a miss.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub account: AccountName,
    /// The account's MFA device (for a role too: a changed device invalidates its sessions).
    pub mfa_serial: Option<String>,
    pub role_arn: Option<String>,
    /// The long-lived access key id at the root of the session: rotated keys invalidate it.
    pub source_key_id: String,
}

/// A session read from or written to the cache.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub credentials: Credentials,
    /// Whether an MFA code stands behind the session (directly or as the role's source).
    pub with_mfa: bool,
}

/// The outcome of reading a slot's file.
#[derive(Debug)]
pub enum Lookup {
    Hit(CachedSession),
    Absent,
    /// The file exists but is not a session for this slot; the text says why.
    Unusable(String),
}

#[derive(Serialize, Deserialize, Debug)]
struct Header {
    format: String,
    version: u32,
}

#[derive(Serialize, Deserialize, Debug)]
struct CacheFile {
    format: String,
    version: u32,
    account: String,
    mfa_serial: Option<String>,
    role_arn: Option<String>,
    source_key_id: String,
    with_mfa: bool,
    produced_by: String,
    access_key_id: String,
    secret_access_key: Secret,
    session_token: Secret,
    expiration: String,
    created: String,
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

    fn prefix(&self) -> String {
        format!(".cache.{}.", self.account)
    }

    /// `.cache.work.session.json` or `.cache.work.role.<role>.json`.
    pub fn path_for(&self, slot: &Slot) -> PathBuf {
        let name = match &slot.role_arn {
            None => format!("{}session.json", self.prefix()),
            Some(arn) => format!("{}role.{}.json", self.prefix(), role_file_component(arn)),
        };
        self.dir.join(name)
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}lock", self.prefix()))
    }

    /// Takes the account's lock, calling `on_wait` first if another process holds it.
    pub fn lock(&self, on_wait: impl FnOnce()) -> Result<CacheLock> {
        let path = self.lock_path();
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|e| lock_error(&path, e))?;
        check_owned_regular(&file, &path).map_err(Error::failed)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock().map_err(|e| lock_error(&path, e))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(lock_error(&path, e)),
        }
        let lock = CacheLock { _file: file };
        self.remove_stale_temp_files();
        Ok(lock)
    }

    /// Reads the slot's file; anything but a well-formed session for exactly this slot is
    /// `Unusable` with the reason.
    pub fn load(&self, slot: &Slot) -> Lookup {
        let path = self.path_for(slot);
        let bytes = match read_private_file(&path) {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Lookup::Absent,
            Err(why) => return Lookup::Unusable(why),
        };
        match parse(&bytes, slot) {
            Ok(session) => Lookup::Hit(session),
            Err(why) => Lookup::Unusable(why),
        }
    }

    /// Writes the session: a temp file in the same directory, fsynced, renamed over the old
    /// one, so a reader (or a crash) sees the old file or the new one, never a torn one.
    /// Callers hold the lock.
    pub fn store(
        &self,
        _lock: &CacheLock,
        slot: &Slot,
        session: &CachedSession,
        produced_by: &str,
    ) -> Result<PathBuf> {
        let creds = &session.credentials;
        let (Some(token), Some(expiration)) = (&creds.session_token, creds.expiration) else {
            return Err(Error::failed(
                "only sessions are cached, not long-lived keys",
            ));
        };
        let record = CacheFile {
            format: FORMAT.into(),
            version: VERSION,
            account: slot.account.to_string(),
            mfa_serial: slot.mfa_serial.clone(),
            role_arn: slot.role_arn.clone(),
            source_key_id: slot.source_key_id.clone(),
            with_mfa: session.with_mfa,
            produced_by: produced_by.into(),
            access_key_id: creds.access_key_id.clone(),
            secret_access_key: creds.secret_access_key.clone(),
            session_token: token.clone(),
            expiration: humantime::format_rfc3339_seconds(expiration).to_string(),
            created: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        };
        let mut json = serde_json::to_vec_pretty(&record)
            .map_err(|e| Error::failed(format!("cannot encode the session cache: {e}")))?;
        json.push(b'\n');
        let path = self.path_for(slot);
        write_atomically(&path, &json).map_err(|e| {
            Error::failed(format!(
                "cannot write session cache {}: {e}",
                path.display()
            ))
        })?;
        Ok(path)
    }

    /// Leftovers of a process killed between creating its temp file and renaming it. Only
    /// called under the lock, when no other process of this account is writing.
    fn remove_stale_temp_files(&self) {
        for (path, kind) in self.own_files() {
            if kind == FileKind::Temp {
                let _ = std::fs::remove_file(path);
            }
        }
    }

    /// This account's session files (not the lock), classified by name.
    fn own_files(&self) -> Vec<(PathBuf, FileKind)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let (account, kind) = classify(name.to_str()?)?;
                (account == self.account).then(|| (entry.path(), kind))
            })
            .collect()
    }

    /// Every cached session of the account, for `--list`: what it is for and when it
    /// expires, or why it cannot be used.
    pub fn summaries(&self) -> Vec<Summary> {
        let mut summaries: Vec<Summary> = self
            .own_files()
            .into_iter()
            .filter(|(_, kind)| *kind != FileKind::Temp)
            .map(|(path, _)| {
                let record = read_private_file(&path)
                    .and_then(|bytes| bytes.ok_or_else(|| "vanished".to_string()))
                    .and_then(|bytes| parse_record(&bytes));
                match record {
                    Ok(record) => Summary {
                        role_arn: record.role_arn.clone(),
                        expiration: humantime::parse_rfc3339_weak(&record.expiration)
                            .map_err(|_| "is damaged (bad expiration)".to_string()),
                    },
                    Err(why) => Summary {
                        role_arn: None,
                        expiration: Err(why),
                    },
                }
            })
            .collect();
        summaries.sort_by(|a, b| a.role_arn.cmp(&b.role_arn));
        summaries
    }

    /// Whether the account has any cache file (sessions or leftover temp files).
    pub fn has_files(&self) -> bool {
        !self.own_files().is_empty()
    }

    /// Removes the account's session files (never its key files, never the lock file, which
    /// other processes may hold). Callers hold the lock.
    pub fn clear(&self, _lock: &CacheLock) -> Result<usize> {
        let mut removed = 0;
        for (path, kind) in self.own_files() {
            std::fs::remove_file(&path).map_err(|e| {
                Error::failed(format!("cannot remove cache file {}: {e}", path.display()))
            })?;
            if kind != FileKind::Temp {
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
    pub expiration: std::result::Result<SystemTime, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Session,
    Role,
    Temp,
}

/// The account and kind of a cache file from its name alone:
/// `.cache.<account>.session.json`, `.cache.<account>.role.<12 digits>.<encoded role>.json`,
/// either followed by a temp suffix. Names are matched from the right, so an account whose
/// name contains dots is never mistaken for another's.
pub fn classify(name: &str) -> Option<(AccountName, FileKind)> {
    let rest = name.strip_prefix(".cache.")?;
    let (rest, temp) = match rest.split_once(TEMP_MARKER) {
        Some((head, _)) => (head, true),
        None => (rest, false),
    };
    let stem = rest.strip_suffix(".json")?;
    let (account, kind) = if let Some(account) = stem.strip_suffix(".session") {
        (account, FileKind::Session)
    } else {
        let mut parts = stem.rsplitn(4, '.');
        let (role, id, marker, account) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let role_ok = !role.is_empty() && !role.contains('.');
        let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit());
        if marker != "role" || !role_ok || !id_ok {
            return None;
        }
        (account, FileKind::Role)
    };
    // stsexec writes names lowercased; anything else is not one of its files.
    let parsed = AccountName::parse_str(account).ok()?;
    (parsed.as_str() == account).then_some((parsed, if temp { FileKind::Temp } else { kind }))
}

/// The accounts that have cache files in `dir`, for `--clear` without an account.
pub fn accounts_with_cache(dir: &Path) -> Vec<AccountName> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut accounts: Vec<AccountName> = entries
        .flatten()
        .filter_map(|e| classify(e.file_name().to_str()?).map(|(account, _)| account))
        .collect();
    accounts.sort();
    accounts.dedup();
    accounts
}

/// Held from "is the cache valid?" to "new session written"; released on drop.
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

fn lock_error(path: &Path, e: std::io::Error) -> Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        return Error::failed(format!(
            "lock file {} is a symbolic link; stsexec does not follow links there: remove it",
            path.display()
        ));
    }
    Error::failed(format!("cannot lock {}: {e}", path.display()))
}

/// Role ARNs under the account's own prefix and foreign ones both become file-name safe text;
/// the full ARN is stored inside and compared on load.
fn role_file_component(arn: &str) -> String {
    let (account_id, path_and_name) = arn
        .split(':')
        .nth(4)
        .zip(arn.split_once(":role/").map(|(_, rest)| rest))
        .unwrap_or(("", arn));
    let encoded: String = path_and_name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"_=,@-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{account_id}.{encoded}")
}

/// `Ok(None)` when absent; `Err(reason)` when present but not a private regular file of ours.
fn read_private_file(path: &Path) -> std::result::Result<Option<Vec<u8>>, String> {
    let shown = path.display();
    // O_NONBLOCK: a FIFO planted at the path must not hang the open.
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(format!(
                "cache file {shown} is a symbolic link, which stsexec does not follow"
            ));
        }
        Err(e) => return Err(format!("cache file {shown} cannot be read: {e}")),
    };
    check_owned_regular(&file, path)?;
    let mut bytes = Vec::new();
    (&file)
        .take(MAX_CACHE_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cache file {shown} cannot be read: {e}"))?;
    if bytes.len() as u64 > MAX_CACHE_FILE_BYTES {
        return Err(format!("cache file {shown} is too large to be a session"));
    }
    Ok(Some(bytes))
}

fn check_owned_regular(file: &File, path: &Path) -> std::result::Result<(), String> {
    let shown = path.display();
    let meta = file
        .metadata()
        .map_err(|e| format!("{shown} cannot be read: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    if meta.uid() != euid {
        return Err(format!(
            "{shown} belongs to another user (uid {})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o077 != 0 {
        return Err(format!(
            "{shown} is accessible by group or others (mode {:04o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// A well-formed cache file of this format version, whatever slot it is for.
fn parse_record(bytes: &[u8]) -> std::result::Result<CacheFile, String> {
    let not_ours = || "is not a stsexec session cache".to_string();
    let header: Header = serde_json::from_slice(bytes).map_err(|_| not_ours())?;
    if header.format != FORMAT {
        return Err(not_ours());
    }
    if header.version != VERSION {
        return Err(format!(
            "was written by another stsexec version (format version {}, this one reads {VERSION})",
            header.version
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| "is damaged (fields missing or of the wrong type)".to_string())
}

/// A cache file's bytes as a session for `slot`, or why they are not one. Never panics: the
/// bytes are untrusted (the fuzz target `cache_file` checks that).
pub fn parse(bytes: &[u8], slot: &Slot) -> std::result::Result<CachedSession, String> {
    let unreadable = |what: &str| format!("is {what}");
    let record = parse_record(bytes)?;
    if record.account != slot.account.as_str()
        || record.role_arn != slot.role_arn
        || record.mfa_serial != slot.mfa_serial
    {
        return Err(unreadable("for another account, role or MFA device"));
    }
    if record.source_key_id != slot.source_key_id {
        return Err(unreadable("for other keys (the access key has changed)"));
    }
    let expiration = humantime::parse_rfc3339_weak(&record.expiration)
        .map_err(|_| unreadable("damaged (bad expiration)"))?;
    let valid_key =
        |k: &str| !k.is_empty() && k.len() <= 128 && k.bytes().all(|b| b.is_ascii_alphanumeric());
    if !valid_key(&record.access_key_id)
        || record.secret_access_key.expose().is_empty()
        || record.session_token.expose().is_empty()
    {
        return Err(unreadable("damaged (credentials missing)"));
    }
    Ok(CachedSession {
        credentials: Credentials {
            access_key_id: record.access_key_id,
            secret_access_key: record.secret_access_key,
            session_token: Some(record.session_token),
            expiration: Some(expiration),
        },
        with_mfa: record.with_mfa,
    })
}

fn write_atomically(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!("{TEMP_MARKER}{}-{nanos}", std::process::id()));
    let temp_path = dir.join(temp_name);
    let result = (|| {
        // create_new + O_NOFOLLOW: never write through something planted at the temp name.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&temp_path)?;
        file.write_all(contents)?;
        file.sync_all()?;
        // rename replaces a symlink at `path` itself, never the file it points to.
        std::fs::rename(&temp_path, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp_path);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn slot() -> Slot {
        Slot {
            account: AccountName::parse_str("work").unwrap(),
            mfa_serial: Some("arn:aws:iam::012123456789:mfa/jb".into()),
            role_arn: None,
            source_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        }
    }

    fn session() -> CachedSession {
        CachedSession {
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
                secret_access_key: Secret::new("SECRETMARKER-secret"),
                session_token: Some(Secret::new("SECRETMARKER-token")),
                expiration: Some(
                    SystemTime::UNIX_EPOCH
                        + Duration::from_secs(
                            SystemTime::now()
                                .duration_since(SystemTime::UNIX_EPOCH)
                                .unwrap()
                                .as_secs()
                                + 3600,
                        ),
                ),
            },
            with_mfa: true,
        }
    }

    fn setup() -> (tempfile::TempDir, Cache) {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path(), &AccountName::parse_str("work").unwrap());
        (dir, cache)
    }

    #[test]
    fn round_trip_is_owner_only_and_leaves_no_temp_file() {
        let (dir, cache) = setup();
        let lock = cache.lock(|| {}).unwrap();
        let stored = session();
        let path = cache
            .store(&lock, &slot(), &stored, "GetSessionToken")
            .unwrap();
        assert_eq!(path.file_name().unwrap(), ".cache.work.session.json");
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}"); // session + lock
        match cache.load(&slot()) {
            Lookup::Hit(hit) => assert_eq!(hit.credentials, stored.credentials),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_and_mismatches_are_misses_with_a_reason() {
        let (_dir, cache) = setup();
        assert!(matches!(cache.load(&slot()), Lookup::Absent));
        let path = cache.path_for(&slot());
        let write = |text: &str| {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        for (text, reason) in [
            ("", "not a stsexec session cache"),
            (
                "{\"format\": \"stsexec-session-cache\", \"version\"",
                "not a stsexec session cache",
            ),
            ("[1,2]", "not a stsexec session cache"),
            (
                "{\"format\": \"stsexec-session-cache\", \"version\": 99}",
                "another stsexec version",
            ),
            (
                "{\"format\": \"stsexec-session-cache\", \"version\": 1}",
                "damaged",
            ),
        ] {
            write(text);
            match cache.load(&slot()) {
                Lookup::Unusable(why) => assert!(why.contains(reason), "{text}: {why}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        let lock = cache.lock(|| {}).unwrap();
        cache
            .store(&lock, &slot(), &session(), "GetSessionToken")
            .unwrap();
        let mut other_keys = slot();
        other_keys.source_key_id = "AKIAOTHEROTHEROTHER1".into();
        assert!(
            matches!(cache.load(&other_keys), Lookup::Unusable(why) if why.contains("other keys"))
        );
        let mut other_serial = slot();
        other_serial.mfa_serial = Some("arn:aws:iam::012123456789:mfa/other".into());
        assert!(matches!(cache.load(&other_serial), Lookup::Unusable(_)));
    }

    #[test]
    fn group_readable_or_symlinked_files_are_not_trusted() {
        let (dir, cache) = setup();
        let lock = cache.lock(|| {}).unwrap();
        let path = cache
            .store(&lock, &slot(), &session(), "GetSessionToken")
            .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            matches!(cache.load(&slot()), Lookup::Unusable(why) if why.contains("group or others"))
        );
        std::fs::remove_file(&path).unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "x").unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(
            matches!(cache.load(&slot()), Lookup::Unusable(why) if why.contains("symbolic link"))
        );
        // Storing replaces the link itself; the file it pointed to is untouched.
        cache
            .store(&lock, &slot(), &session(), "GetSessionToken")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
        assert!(
            !std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn stale_temp_files_are_removed_under_the_lock() {
        let (dir, cache) = setup();
        let stale = dir.path().join(".cache.work.session.json.tmp-1-2");
        let other_account = dir.path().join(".cache.home.session.json.tmp-1-2");
        std::fs::write(&stale, "{").unwrap();
        std::fs::write(&other_account, "{").unwrap();
        let _lock = cache.lock(|| {}).unwrap();
        assert!(!stale.exists());
        assert!(other_account.exists());
    }

    #[test]
    fn file_names_are_classified_from_the_right() {
        let class = |name: &str| classify(name).map(|(a, k)| (a.as_str().to_string(), k));
        let of = |a: &str, k| Some((a.to_string(), k));
        assert_eq!(
            class(".cache.work.session.json"),
            of("work", FileKind::Session)
        );
        assert_eq!(
            class(".cache.prod.eu.session.json"),
            of("prod.eu", FileKind::Session)
        );
        assert_eq!(
            class(".cache.work.role.012123456789.admin.json"),
            of("work", FileKind::Role)
        );
        assert_eq!(
            class(".cache.a.role.session.json"),
            of("a.role", FileKind::Session)
        );
        assert_eq!(
            class(".cache.work.session.json.tmp-12-34"),
            of("work", FileKind::Temp)
        );
        assert_eq!(
            class(".cache.prod.eu.session.json.tmp-1-2"),
            of("prod.eu", FileKind::Temp)
        );
        for other in [
            ".cache.work.lock",
            "work.access_key",
            ".cache.work.role.12.x.json",
            ".cache..session.json",
            ".cache.Work.session.json",
        ] {
            assert_eq!(class(other), None, "{other}");
        }
    }

    #[test]
    fn temp_files_of_an_account_with_a_longer_name_are_left_alone() {
        let (dir, cache) = setup();
        let theirs = dir.path().join(".cache.work.eu.session.json.tmp-1-2");
        std::fs::write(&theirs, "{").unwrap();
        let _lock = cache.lock(|| {}).unwrap();
        assert!(theirs.exists());
    }

    #[test]
    fn clear_removes_sessions_but_not_the_lock() {
        let (dir, cache) = setup();
        let lock = cache.lock(|| {}).unwrap();
        cache
            .store(&lock, &slot(), &session(), "GetSessionToken")
            .unwrap();
        let mut role = slot();
        role.role_arn = Some("arn:aws:iam::012123456789:role/admin".into());
        cache.store(&lock, &role, &session(), "AssumeRole").unwrap();
        std::fs::write(dir.path().join("work.access_key"), "AKIA").unwrap();
        let summaries = cache.summaries();
        assert_eq!(summaries.len(), 2);
        assert!(summaries.iter().all(|s| s.expiration.is_ok()));
        assert_eq!(
            accounts_with_cache(dir.path()),
            [AccountName::parse_str("work").unwrap()]
        );
        assert_eq!(cache.clear(&lock).unwrap(), 2);
        assert!(cache.lock_path().exists());
        assert!(dir.path().join("work.access_key").exists());
        assert!(cache.summaries().is_empty());
    }

    #[test]
    fn role_files_are_named_safely() {
        let (_dir, cache) = setup();
        let mut role = slot();
        role.role_arn = Some("arn:aws:iam::012123456789:role/ops/deploy+x".into());
        let name = cache
            .path_for(&role)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(name, ".cache.work.role.012123456789.ops%2Fdeploy%2Bx.json");
    }

    #[test]
    fn cache_debug_is_redacted() {
        let (_dir, cache) = setup();
        let lock = cache.lock(|| {}).unwrap();
        cache
            .store(&lock, &slot(), &session(), "GetSessionToken")
            .unwrap();
        let shown = format!("{:?}", cache.load(&slot()));
        assert!(!shown.contains("SECRETMARKER"), "{shown}");
    }
}
