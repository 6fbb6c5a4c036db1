//! Every file stsexec reads or writes is untrusted. This module is the one way in and out:
//! files are opened without following a symbolic link and without blocking (a FIFO planted at
//! a key file's path must not hang stsexec), checked for kind, owner and mode before a byte is
//! read, capped in size, and written atomically (temp file in the same directory, fsync,
//! rename, fsync of the directory) under the caller's lock.
#![forbid(unsafe_code)]

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::fmt;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};
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
            | Kind::SsoCache => Access::OwnerOnly,
            Kind::AccountsFile => Access::NotWritableByGroupOrOthers,
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
            Kind::AccessKey | Kind::SecretKey | Kind::UserFile | Kind::AccountsFile
        )
    }

    pub fn max_bytes(self) -> u64 {
        match self {
            Kind::AccessKey | Kind::SecretKey | Kind::UserFile | Kind::Ledger => 4096,
            Kind::AccountsFile => 1024 * 1024,
            Kind::CacheFile | Kind::Journal | Kind::WebIdentityToken | Kind::SsoCache => 64 * 1024,
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
fn plain_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn io_error(
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
fn check(fd: &OwnedFd, kind: Kind, path: &Path) -> Result<(), FileError> {
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
    Ok(())
}

fn open_checked(path: &Path, kind: Kind, flags: OFlags) -> Result<Option<OwnedFd>, FileError> {
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
    check(&fd, kind, path)?;
    Ok(Some(fd))
}

/// A file's bytes (wiped on drop), or `None` when it does not exist.
pub fn read(path: &Path, kind: Kind) -> Result<Option<Zeroizing<Vec<u8>>>, FileError> {
    let Some(fd) = open_checked(path, kind, OFlags::RDONLY)? else {
        return Ok(None);
    };
    let max = kind.max_bytes();
    let mut bytes = Zeroizing::new(Vec::new());
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

/// An exclusive `flock` on a lock file, held until dropped. The holder writes its pid and
/// what it is doing into the file, so a waiting run can say whom it waits for.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl LockGuard {
    /// Records what the holder is doing ("prompting for an MFA code", "calling STS").
    pub fn set_activity(&self, activity: &str) {
        let record = format!("{} {activity}\n", std::process::id());
        let _ = self.file.set_len(0);
        let _ = (&self.file).write_all_at_start(record.as_bytes());
    }
}

trait WriteAtStart {
    fn write_all_at_start(self, bytes: &[u8]) -> std::io::Result<()>;
}

impl WriteAtStart for &File {
    fn write_all_at_start(self, bytes: &[u8]) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.write_all_at(bytes, 0)
    }
}

/// Who holds a lock, as its file says: the pid and the activity it recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    pub activity: String,
}

impl Holder {
    fn parse(text: &str) -> Option<Holder> {
        let (pid, activity) = text.trim_end().split_once(' ')?;
        let activity: String = activity
            .chars()
            .filter(|c| !c.is_control())
            .take(80)
            .collect();
        Some(Holder {
            pid: pid.parse().ok()?,
            activity,
        })
    }
}

/// How long a run waits for another's lock at most: longer than any holder's own bounds (a
/// prompt times out after 5 minutes, an STS call after 15 s, an `mfa_process` after 60 s).
pub const MAX_LOCK_WAIT: Duration = Duration::from_secs(6 * 60);
/// How often a waiter looks at the holder (the lock itself is taken without polling).
const LOCK_POLL: Duration = Duration::from_millis(200);
/// A holder seen stopped this long (Ctrl-Z, SIGSTOP) will not finish by itself.
const STOPPED_FOR: Duration = Duration::from_millis(500);

/// Why a lock could not be taken.
#[derive(Debug)]
pub enum LockError {
    File(FileError),
    /// The holder is stopped (Ctrl-Z): waiting would never end.
    HolderStopped {
        pid: u32,
    },
    /// The holder kept the lock past every bound it has.
    TimedOut {
        holder: Option<Holder>,
    },
}

impl From<FileError> for LockError {
    fn from(e: FileError) -> Self {
        LockError::File(e)
    }
}

fn read_holder(fd: &OwnedFd) -> Option<Holder> {
    use std::os::unix::fs::FileExt;
    let mut buf = [0u8; 256];
    let file = File::from(fd.try_clone().ok()?);
    let n = file.read_at(&mut buf, 0).ok()?;
    Holder::parse(std::str::from_utf8(&buf[..n]).ok()?)
}

/// Whether `pid` is stopped (state `T` or `t` in `/proc/<pid>/stat`).
fn is_stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after
                .split_whitespace()
                .next()
                .map(|s| s == "T" || s == "t")
        })
        .unwrap_or(false)
}

/// Blocks in `flock` on a thread of its own, so the lock is taken the moment the holder lets
/// go (polling would add its interval to every waiter), while this thread watches the holder:
/// stopped for [`STOPPED_FOR`], or past [`MAX_LOCK_WAIT`], ends the wait. The thread locks a
/// duplicate of `fd` (one open file description, so the lock is `fd`'s); a thread that gets
/// the lock after the wait was given up drops the last descriptor, which releases it.
fn wait_for_lock(fd: &OwnedFd, kind: Kind, path: &Path) -> Result<(), LockError> {
    let duplicate = fd
        .try_clone()
        .map_err(|e| io_error(kind, path, "lock", e))?;
    let (taken, outcome) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let result = rustix::fs::flock(&duplicate, FlockOperation::LockExclusive);
        let _ = taken.send(result);
    });
    let deadline = Instant::now() + MAX_LOCK_WAIT;
    let mut stopped_since: Option<Instant> = None;
    loop {
        match outcome.recv_timeout(LOCK_POLL) {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => return Err(io_error(kind, path, "lock", e).into()),
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(io_error(
                    kind,
                    path,
                    "lock",
                    std::io::Error::other("the waiting thread ended"),
                )
                .into());
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
        }
        let holder = read_holder(fd);
        match holder.as_ref().filter(|h| is_stopped(h.pid)) {
            Some(h) => {
                let since = *stopped_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= STOPPED_FOR {
                    return Err(LockError::HolderStopped { pid: h.pid });
                }
            }
            None => stopped_since = None,
        }
        if Instant::now() >= deadline {
            return Err(LockError::TimedOut { holder });
        }
    }
}

/// Takes the exclusive lock at `path` (created owner-only if missing), calling `on_wait` with
/// the holder's record first when another process holds it. The wait is bounded: a holder
/// that is stopped, or that holds the lock past [`MAX_LOCK_WAIT`], ends it with an error.
pub fn lock(path: &Path, on_wait: impl FnOnce(Option<Holder>)) -> Result<LockGuard, LockError> {
    let kind = Kind::LockFile;
    let fd = open_checked(path, kind, OFlags::RDWR | OFlags::CREATE)?.ok_or_else(|| {
        io_error(
            kind,
            path,
            "open",
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )
    })?;
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => {
            on_wait(read_holder(&fd));
            wait_for_lock(&fd, kind, path)?;
        }
        Err(e) => return Err(io_error(kind, path, "lock", e).into()),
    }
    let guard = LockGuard {
        file: File::from(fd),
    };
    // A record left by an earlier holder must not name a process that is gone.
    guard.set_activity("refreshing the session");
    Ok(guard)
}

/// The credentials directory and, when it lies under `home`, every directory from it up to
/// `home` must be the user's (or root's) and not writable by group or others, as OpenSSH
/// requires of `~/.ssh`: whoever can rename an entry on the way can replace keys or sessions.
pub fn check_directory_chain(path: &Path, home: Option<&Path>) -> Result<(), DirectoryError> {
    check_directory(path)?;
    let Some(home) = home.filter(|h| path.starts_with(h) && path != *h) else {
        return Ok(());
    };
    for parent in path.ancestors().skip(1) {
        check_directory(parent).map_err(|e| match e {
            DirectoryError::Writable(dir, mode) => DirectoryError::ParentWritable(dir, mode),
            DirectoryError::ForeignOwner(dir, uid) => DirectoryError::ParentForeign(dir, uid),
            other => other,
        })?;
        if parent == home {
            break;
        }
    }
    Ok(())
}

/// Creates a missing credentials directory, owner-only, one level deep (its parent must
/// exist): `--web-identity` runs in CI, where nothing has made `~/aws-creds`, and its role
/// sessions are cached there like any other.
pub fn create_directory(path: &Path) -> Result<(), DirectoryError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(DirectoryError::Unreadable(path.to_path_buf(), e)),
    }
}

/// The credentials directory and everything stsexec keeps in it must be the user's (or
/// root's) and not writable by others: whoever can write there can replace keys or sessions.
pub fn check_directory(path: &Path) -> Result<(), DirectoryError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DirectoryError::Missing(path.to_path_buf()));
        }
        Err(e) => return Err(DirectoryError::Unreadable(path.to_path_buf(), e)),
    };
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() {
        return Err(DirectoryError::NotADirectory(path.to_path_buf()));
    }
    if meta.uid() != effective_uid() && meta.uid() != 0 {
        return Err(DirectoryError::ForeignOwner(path.to_path_buf(), meta.uid()));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(DirectoryError::Writable(
            path.to_path_buf(),
            meta.mode() & 0o7777,
        ));
    }
    Ok(())
}

/// Why the credentials directory is not used.
#[derive(Debug)]
pub enum DirectoryError {
    Missing(PathBuf),
    NotADirectory(PathBuf),
    Unreadable(PathBuf, std::io::Error),
    ForeignOwner(PathBuf, u32),
    Writable(PathBuf, u32),
    ParentForeign(PathBuf, u32),
    ParentWritable(PathBuf, u32),
}

impl fmt::Display for DirectoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DirectoryError::Missing(path) => write!(
                f,
                "credentials directory {} does not exist; create it (mkdir -m 700 {}) and put <account>.access_key and <account>.secret_key there, or point --creds-dir at yours",
                path.display(),
                path.display()
            ),
            DirectoryError::NotADirectory(path) => write!(
                f,
                "credentials directory {} is not a directory; point --creds-dir at the directory that holds your keys",
                path.display()
            ),
            DirectoryError::Unreadable(path, e) => write!(
                f,
                "cannot read credentials directory {}: {}",
                path.display(),
                plain_io_error(e)
            ),
            DirectoryError::ForeignOwner(path, uid) => write!(
                f,
                "credentials directory {} belongs to another user (uid {uid}); use a directory of your own (--creds-dir)",
                path.display()
            ),
            DirectoryError::ParentForeign(path, uid) => write!(
                f,
                "{} (above the credentials directory) belongs to another user (uid {uid}), who could replace your keys; move the credentials directory (--creds-dir)",
                path.display()
            ),
            DirectoryError::ParentWritable(path, mode) => write!(
                f,
                "{} (above the credentials directory) is writable by group or others (mode {mode:04o}), who could replace your keys; run: chmod go-w {}",
                path.display(),
                path.display()
            ),
            DirectoryError::Writable(path, mode) => write!(
                f,
                "credentials directory {} is writable by group or others (mode {mode:04o}); run: chmod go-w {}",
                path.display(),
                path.display()
            ),
        }
    }
}

impl std::error::Error for DirectoryError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(path: &Path, text: &str, mode: u32) {
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
    fn directories_up_to_home_must_not_be_writable_by_others() {
        let home = tempfile::tempdir().unwrap();
        let creds = home.path().join("a/aws-creds");
        std::fs::create_dir_all(&creds).unwrap();
        for dir in [home.path(), &home.path().join("a"), &creds] {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        assert!(check_directory_chain(&creds, Some(home.path())).is_ok());
        let middle = home.path().join("a");
        std::fs::set_permissions(&middle, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            check_directory_chain(&creds, Some(home.path()))
                .unwrap_err()
                .to_string(),
            format!(
                "{} (above the credentials directory) is writable by group or others (mode 0777), who could replace your keys; run: chmod go-w {}",
                middle.display(),
                middle.display()
            )
        );
        // Directories above HOME, and a credentials directory elsewhere, are not walked.
        assert!(check_directory_chain(&creds, Some(&middle.join("x"))).is_ok());
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

    #[test]
    fn a_waiter_learns_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let Ok(held) = lock(&path, |_| panic!("free lock")) else {
            panic!("lock")
        };
        held.set_activity("prompting for an MFA code");
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut seen = None;
                let taken = lock(&path, |holder| seen = holder).is_ok();
                assert!(taken);
                seen
            }
        });
        std::thread::sleep(std::time::Duration::from_millis(100));
        drop(held);
        assert_eq!(
            waiter.join().unwrap(),
            Some(Holder {
                pid: std::process::id(),
                activity: "prompting for an MFA code".into()
            })
        );
    }
}
