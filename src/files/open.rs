//! Opening, checking, reading and writing one file: files are opened without following a
//! symbolic link and without blocking (a FIFO planted at a key file's path must not hang
//! stsexec), checked for kind, owner and mode before a byte is read, capped in size, and
//! written atomically (temp file in the same directory, fsync, rename, fsync of the directory)
//! under the caller's lock. The rules are per [`Kind`].
#![forbid(unsafe_code)]

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::SystemTime;
use zeroize::Zeroizing;

/// The kinds of files stsexec touches; each has its own rules and its own name in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccessKey,
    SecretKey,
    UserFile,
    AccountsFile,
    CacheFile,
    LockFile,
    Ledger,
    Journal,
    /// A CI's OIDC token (`--web-identity=FILE`, `AWS_WEB_IDENTITY_TOKEN_FILE`), read only.
    /// The CI platform makes this file, not the user: Kubernetes projects it through a chain
    /// of symbolic links (`token -> ..data/token`), owned by root or another user and group-
    /// or world-readable. So links are followed and any owner is accepted; the token is a
    /// short-lived JWT that only works where the role's trust policy accepts its issuer and
    /// claims. Still refused: a file others can write (anyone could swap the token), anything
    /// but a regular file (a FIFO would hang), and more than STS accepts.
    WebIdentityToken,
    /// `<account>.secret_key.age`: the secret in an age file (DESIGN §13). Owner-only, as the
    /// plain secret: whoever reads it can try passphrases offline.
    AgeFile,
    /// An age identity file (`age_identity`, `STSEXEC_AGE_IDENTITY`): an X25519 private key or
    /// a plugin's identity. Owner-only, as an ssh private key.
    AgeIdentity,
    /// `~/.aws/credentials` (`--add --from-profile`), read only: the AWS CLI's file.
    AwsCredentials,
    /// The AWS CLI's IAM Identity Center token and registration files (`~/.aws/sso/cache`).
    SsoCache,
    /// `AWS_CA_BUNDLE` (DESIGN §14): the CA certificates a corporate network re-signs TLS
    /// with. Like a token file it may be a link to a file another user (root) owns; one
    /// others can write is refused (anyone could add a CA and read every call).
    CaBundle,
}

/// Which permission bits make a file untrustworthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Owner only (0600): secrets and stsexec's own state.
    OwnerOnly,
    /// Not writable by group or others: files that choose what stsexec does.
    NotWritableByGroupOrOthers,
    /// Not writable by others.
    NotWritableByOthers,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::AccessKey => "access key file",
            Kind::SecretKey => "secret key file",
            Kind::UserFile => "IAM user file",
            Kind::AccountsFile => "accounts file",
            Kind::CacheFile => "cache file",
            Kind::LockFile => "lock file",
            Kind::Ledger => "MFA code record",
            Kind::Journal => "rotation journal",
            Kind::WebIdentityToken => "web identity token file",
            Kind::AgeFile => "encrypted secret key file",
            Kind::AgeIdentity => "age identity file",
            Kind::AwsCredentials => "AWS shared credentials file",
            Kind::SsoCache => "IAM Identity Center token cache file",
            Kind::CaBundle => "CA bundle",
        }
    }

    fn access(self) -> Access {
        match self {
            Kind::SecretKey
            | Kind::CacheFile
            | Kind::LockFile
            | Kind::Ledger
            | Kind::Journal
            | Kind::AgeFile
            | Kind::AgeIdentity
            | Kind::SsoCache => Access::OwnerOnly,
            Kind::AccountsFile | Kind::AwsCredentials => Access::NotWritableByGroupOrOthers,
            Kind::AccessKey | Kind::UserFile | Kind::WebIdentityToken | Kind::CaBundle => {
                Access::NotWritableByOthers
            }
        }
    }

    /// Files another user may own (see [`Kind::WebIdentityToken`]).
    fn any_owner(self) -> bool {
        matches!(self, Kind::WebIdentityToken | Kind::CaBundle)
    }

    /// Files reached through symbolic links (see [`Kind::WebIdentityToken`]); the file at
    /// the end of the links is checked.
    fn follows_links(self) -> bool {
        matches!(self, Kind::WebIdentityToken | Kind::CaBundle)
    }

    /// Files the user provides may also belong to root (a system-wide accounts file, keys an
    /// administrator installed); stsexec's own files belong to the user alone.
    fn root_may_own(self) -> bool {
        matches!(
            self,
            Kind::AccessKey
                | Kind::SecretKey
                | Kind::UserFile
                | Kind::AccountsFile
                | Kind::AgeFile
                | Kind::AgeIdentity
        )
    }

    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::AccessKey | Kind::SecretKey | Kind::UserFile | Kind::Ledger => 4096,
            Kind::AccountsFile | Kind::AwsCredentials => 1024 * 1024,
            Kind::CacheFile
            | Kind::Journal
            | Kind::WebIdentityToken
            | Kind::AgeFile
            | Kind::AgeIdentity
            | Kind::SsoCache => 64 * 1024,
            Kind::CaBundle => 4 * 1024 * 1024,
            Kind::LockFile => 1024,
        }
    }
}

/// Why a file was not read or written. Each `Display` is the sentence for the user, naming
/// the file and the fix.
#[derive(Debug)]
pub enum FileError {
    Symlink {
        kind: Kind,
        path: PathBuf,
    },
    NotRegular {
        kind: Kind,
        path: PathBuf,
        found: &'static str,
    },
    ForeignOwner {
        kind: Kind,
        path: PathBuf,
        uid: u32,
    },
    TooOpen {
        kind: Kind,
        path: PathBuf,
        mode: u32,
    },
    TooLarge {
        kind: Kind,
        path: PathBuf,
    },
    Io {
        kind: Kind,
        path: PathBuf,
        action: &'static str,
        source: std::io::Error,
    },
}

impl FileError {
    pub fn path(&self) -> &Path {
        match self {
            FileError::Symlink { path, .. }
            | FileError::NotRegular { path, .. }
            | FileError::ForeignOwner { path, .. }
            | FileError::TooOpen { path, .. }
            | FileError::TooLarge { path, .. }
            | FileError::Io { path, .. } => path,
        }
    }
}

impl FileError {
    /// What is wrong with the file, as the end of a sentence that names it: "is a symbolic
    /// link", "belongs to another user (uid 1001)".
    pub fn reason(&self) -> String {
        match self {
            FileError::Symlink { .. } => "is a symbolic link, which stsexec does not follow".into(),
            FileError::NotRegular { found, .. } => format!("is {found}, not a regular file"),
            FileError::ForeignOwner { uid, .. } => {
                format!("belongs to another user (uid {uid})")
            }
            FileError::TooOpen { kind, mode, .. } => {
                let what = match kind.access() {
                    Access::OwnerOnly => "accessible by group or others",
                    Access::NotWritableByGroupOrOthers => "writable by group or others",
                    Access::NotWritableByOthers => "writable by others",
                };
                format!("is {what} (mode {mode:04o})")
            }
            FileError::TooLarge { kind, .. } => format!(
                "is larger than {} bytes, too large to be one",
                kind.max_bytes()
            ),
            FileError::Io { action, source, .. } => {
                format!(
                    "cannot be {}: {}",
                    past_participle(action),
                    plain_io_error(source)
                )
            }
        }
    }

    fn kind(&self) -> Kind {
        match self {
            FileError::Symlink { kind, .. }
            | FileError::NotRegular { kind, .. }
            | FileError::ForeignOwner { kind, .. }
            | FileError::TooOpen { kind, .. }
            | FileError::TooLarge { kind, .. }
            | FileError::Io { kind, .. } => *kind,
        }
    }

    /// What the user does about it.
    fn fix(&self) -> String {
        let path = self.path().display();
        match self {
            FileError::Symlink { .. } => "replace it with the file itself".into(),
            FileError::NotRegular { .. } => "replace it with a regular file".into(),
            FileError::ForeignOwner { .. } => {
                "only your own files are trusted: remove it or take ownership (chown)".into()
            }
            FileError::TooOpen { kind, .. } => match kind.access() {
                Access::OwnerOnly => format!("run: chmod 600 {path}"),
                Access::NotWritableByGroupOrOthers => format!("run: chmod go-w {path}"),
                Access::NotWritableByOthers => format!("run: chmod o-w {path}"),
            },
            FileError::TooLarge { .. } => "check what it holds".into(),
            FileError::Io { .. } => "check the file and its directory".into(),
        }
    }
}

fn past_participle(action: &str) -> &str {
    match action {
        "open" => "opened",
        "read" => "read",
        "write" => "written",
        "remove" => "removed",
        "lock" => "locked",
        other => other,
    }
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}; {}",
            self.kind().describe(),
            self.path().display(),
            self.reason(),
            self.fix()
        )
    }
}

impl std::error::Error for FileError {}

/// "Permission denied", without Rust's " (os error 13)".
pub(super) fn plain_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

pub(super) fn io_error(
    kind: Kind,
    path: &Path,
    action: &'static str,
    e: impl Into<std::io::Error>,
) -> FileError {
    FileError::Io {
        kind,
        path: path.to_path_buf(),
        action,
        source: e.into(),
    }
}

/// The effective user id, asked of the kernel once: every file check compares with it.
pub fn effective_uid() -> u32 {
    static EUID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *EUID.get_or_init(|| rustix::process::geteuid().as_raw())
}

fn file_type_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        FileType::Symlink => "a symbolic link",
        _ => "not a regular file",
    }
}

/// Checks an open file's kind, owner and mode against the rules for `kind`.
/// Checks an opened file; its size as `fstat` saw it.
fn check(fd: &OwnedFd, kind: Kind, path: &Path) -> Result<u64, FileError> {
    let stat = rustix::fs::fstat(fd).map_err(|e| io_error(kind, path, "read", e))?;
    let file_type = FileType::from_raw_mode(stat.st_mode);
    if file_type != FileType::RegularFile {
        return Err(FileError::NotRegular {
            kind,
            path: path.to_path_buf(),
            found: file_type_name(file_type),
        });
    }
    let uid = stat.st_uid;
    if uid != effective_uid() && !(uid == 0 && kind.root_may_own()) && !kind.any_owner() {
        return Err(FileError::ForeignOwner {
            kind,
            path: path.to_path_buf(),
            uid,
        });
    }
    let mode = stat.st_mode & 0o7777;
    let forbidden = match kind.access() {
        Access::OwnerOnly => 0o077,
        Access::NotWritableByGroupOrOthers => 0o022,
        Access::NotWritableByOthers => 0o002,
    };
    if mode & forbidden != 0 {
        return Err(FileError::TooOpen {
            kind,
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(u64::try_from(stat.st_size).unwrap_or(0))
}

pub(super) fn open_checked(
    path: &Path,
    kind: Kind,
    flags: OFlags,
) -> Result<Option<OwnedFd>, FileError> {
    Ok(open_sized(path, kind, flags)?.map(|(fd, _)| fd))
}

/// [`open_checked`], and the file's size when it was checked.
fn open_sized(path: &Path, kind: Kind, flags: OFlags) -> Result<Option<(OwnedFd, u64)>, FileError> {
    let mut flags = flags | OFlags::NONBLOCK | OFlags::CLOEXEC | OFlags::NOCTTY;
    if !kind.follows_links() {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = match rustix::fs::open(path, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => {
            return Err(FileError::Symlink {
                kind,
                path: path.to_path_buf(),
            });
        }
        Err(e) => return Err(io_error(kind, path, "open", e)),
    };
    let size = check(&fd, kind, path)?;
    Ok(Some((fd, size)))
}

/// A file's bytes (wiped on drop), or `None` when it does not exist.
pub fn read(path: &Path, kind: Kind) -> Result<Option<Zeroizing<Vec<u8>>>, FileError> {
    let Some((fd, size)) = open_sized(path, kind, OFlags::RDONLY)? else {
        return Ok(None);
    };
    let max = kind.max_bytes();
    // Sized once from fstat: two reads (the bytes, then end of file) instead of a doubling
    // series from 32 bytes, and no reallocation leaving a copy of a secret behind unwiped.
    let capacity = usize::try_from(size.min(max + 1)).unwrap_or(0);
    let mut bytes = Zeroizing::new(Vec::with_capacity(capacity));
    File::from(fd)
        .take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(kind, path, "read", e))?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            kind,
            path: path.to_path_buf(),
        });
    }
    Ok(Some(bytes))
}

/// Marks a temp file: `<name>~tmp~<pid>~<nanos>`. `~` appears in no account name and is
/// escaped in every other part of stsexec's file names, so a temp name is never a real one.
pub const TEMP_MARKER: &str = "~tmp~";

/// Writes `contents` to `path` so that a reader, or a crash, sees the old file or the new one,
/// never a torn one: a fresh owner-only temp file in the same directory (created exclusively,
/// never through a planted link), fsynced, renamed over `path`, and the directory fsynced.
/// Callers hold the lock that serialises writers of `path`.
pub fn write_atomically(path: &Path, kind: Kind, contents: &[u8]) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(format!("{TEMP_MARKER}{}~{nanos}", std::process::id()));
    let temp_path = dir.join(temp_name);
    let result = (|| {
        let fd = rustix::fs::open(
            &temp_path,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| io_error(kind, path, "write", e))?;
        // The umask cannot widen 0600, but a process umask of 0177 etc. could narrow it
        // below what we need to read it back: set it exactly.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))
            .map_err(|e| io_error(kind, path, "write", e))?;
        let mut file = File::from(fd);
        file.write_all(contents)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error(kind, path, "write", e))?;
        // rename replaces a symbolic link at `path` itself, never the file it points to.
        std::fs::rename(&temp_path, path).map_err(|e| io_error(kind, path, "write", e))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(kind, path, "write", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp_path);
    }
    result
}

/// Removes a file; one that is already gone is not an error.
pub fn remove(path: &Path, kind: Kind) -> Result<(), FileError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io_error(kind, path, "remove", e))
        }
        _ => Ok(()),
    }
}

/// Removes a secret file for good as far as a file system allows (`--add`, DESIGN §13): opened
/// with `kind`'s checks, its name unlinked and the directory fsynced, then its blocks overwritten
/// with zeros through the open descriptor and fsynced. A crash leaves the whole file or no name,
/// never a zeroed secret under the name. `Ok(false)` when there was no file. Journaling and
/// copy-on-write file systems and SSDs may keep old blocks: callers say so.
pub fn shred(path: &Path, kind: Kind) -> Result<bool, FileError> {
    let Some(fd) = open_checked(path, kind, OFlags::WRONLY)? else {
        return Ok(false);
    };
    let len = rustix::fs::fstat(&fd)
        .map_err(|e| io_error(kind, path, "remove", e))?
        .st_size;
    std::fs::remove_file(path).map_err(|e| io_error(kind, path, "remove", e))?;
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_error(kind, path, "remove", e))?;
    }
    let mut file = File::from(fd);
    let zeros = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.write_all(&zeros)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(kind, path, "remove", e))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    pub(crate) fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn reads_checked_files_and_reports_absence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work.secret_key");
        assert!(read(&path, Kind::SecretKey).unwrap().is_none());
        write(&path, "s3cret", 0o600);
        assert_eq!(
            &read(&path, Kind::SecretKey).unwrap().unwrap()[..],
            b"s3cret"
        );
    }

    #[test]
    fn refusals_are_whole_sentences() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let secret = dir.path().join("work.secret_key");
        write(&secret, "s3cret", 0o640);
        assert_eq!(
            read(&secret, Kind::SecretKey).unwrap_err().to_string(),
            format!(
                "secret key file {d}/work.secret_key is accessible by group or others (mode 0640); run: chmod 600 {d}/work.secret_key"
            )
        );
        let accounts = dir.path().join("accounts.json");
        write(&accounts, "{}", 0o664);
        assert_eq!(
            read(&accounts, Kind::AccountsFile).unwrap_err().to_string(),
            format!(
                "accounts file {d}/accounts.json is writable by group or others (mode 0664); run: chmod go-w {d}/accounts.json"
            )
        );
        let link = dir.path().join("link.access_key");
        std::os::unix::fs::symlink(&accounts, &link).unwrap();
        assert_eq!(
            read(&link, Kind::AccessKey).unwrap_err().to_string(),
            format!(
                "access key file {d}/link.access_key is a symbolic link, which stsexec does not follow; replace it with the file itself"
            )
        );
        let big = dir.path().join("big.access_key");
        write(&big, &"A".repeat(5000), 0o600);
        assert_eq!(
            read(&big, Kind::AccessKey).unwrap_err().to_string(),
            format!(
                "access key file {d}/big.access_key is larger than 4096 bytes, too large to be one; check what it holds"
            )
        );
        assert_eq!(
            read(dir.path(), Kind::UserFile).unwrap_err().to_string(),
            format!(
                "IAM user file {d} is a directory, not a regular file; replace it with a regular file"
            )
        );
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("work.access_key");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let err = read(&fifo, Kind::AccessKey).unwrap_err();
        assert!(
            matches!(
                err,
                FileError::NotRegular {
                    found: "a FIFO",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn atomic_writes_are_owner_only_and_leave_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomically(&path, Kind::CacheFile, b"one").unwrap();
        write_atomically(&path, Kind::CacheFile, b"two").unwrap();
        assert_eq!(&read(&path, Kind::CacheFile).unwrap().unwrap()[..], b"two");
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1);
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    }
}
