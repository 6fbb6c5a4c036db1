//! The account lock: an exclusive `flock` on a lock file, held from "is the cache valid?" to
//! "new session written". The holder records its pid and what it is doing, so a waiting run
//! can say whom it waits for; the wait is bounded and ends early when the holder is stopped.
#![forbid(unsafe_code)]

use super::open::{FileError, Kind, io_error, open_checked};
use rustix::fs::{FlockOperation, OFlags};
use rustix::io::Errno;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_learns_who_holds_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let Ok(held) = lock(&path, |_| panic!("free lock")) else {
            panic!("lock")
        };
        held.set_activity("prompting for an MFA code");
        // The waiter says when it found the lock taken; only then is the lock let go, so the
        // test never depends on how fast a thread starts.
        let (blocked, waiting) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn({
            let path = path.clone();
            move || {
                let mut seen = None;
                let taken = lock(&path, |holder| {
                    seen = holder;
                    blocked.send(()).unwrap();
                })
                .is_ok();
                assert!(taken);
                seen
            }
        });
        waiting.recv().unwrap();
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
