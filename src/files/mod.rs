//! Every file stsexec reads or writes is untrusted, and this module is the one way in and out:
//! [`open`] (per-kind open, check, read, atomic write and remove), [`lock`] (the account lock
//! with its holder record and the bounded wait), [`dir`] (the credentials directory and the
//! directories above it) and [`record`] (the versioned owner-only JSON records: the session
//! cache, the used-code ledger, the rotation journal).
#![forbid(unsafe_code)]

pub mod dir;
pub mod lock;
pub mod open;
pub mod record;

pub use dir::{DirectoryError, check_directory_chain, create_directory};
pub use lock::{Holder, LockError, LockGuard, MAX_LOCK_WAIT, lock};
pub use open::{
    FileError, Kind, TEMP_MARKER, effective_uid, read, remove, shred, write_atomically,
};
