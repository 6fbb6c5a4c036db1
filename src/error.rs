//! The error of a run: one variant per area, each carrying that area's typed error, whose
//! `Display` is the sentence for the user (DESIGN §12). `exit_code` is the one mapping to exit
//! statuses (DESIGN §6); `main` is the only place that prints one.
#![forbid(unsafe_code)]

use crate::accounts::AccountsError;
use crate::cache::CacheError;
use crate::cli::UsageError;
use crate::exec::ExecError;
use crate::keys::{KeysError, UserError};
use crate::mfa::MfaError;
use crate::private_file::DirectoryError;
use crate::rotate::RotateError;
use crate::server::{ServerError, SpawnError};
use crate::sts::StsError;
use crate::web_identity::WebIdentityError;
use std::fmt;
use std::sync::Arc;

/// Exit status when stsexec itself fails (usage, configuration, keys, STS, MFA code), as `env`.
pub const EXIT_FAILED: u8 = 125;
/// Exit status when the command was found but could not be executed, as `env`.
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// Exit status when the command was not found, as `env`.
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub enum Error {
    Usage(UsageError),
    Accounts(AccountsError),
    Keys(KeysError),
    User(UserError),
    Directory(DirectoryError),
    Cache(CacheError),
    Sts(Box<StsError>),
    Mfa(MfaError),
    Exec(ExecError),
    /// `--web-identity`: the CI's OIDC token could not be had.
    WebIdentity(WebIdentityError),
    /// `--server`: the server, its command or a renewal.
    Server(ServerError),
    /// `--rotate`: a step of the key rotation.
    Rotate(Box<RotateError>),
    /// stdout could not be written (not a reader that left early).
    Output(std::io::Error),
    /// An error found early and raised only where it matters (the IAM user of an account
    /// whose MFA device or session name is never needed), possibly more than once.
    Shared(Arc<Error>),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Exec(e) | Error::Server(ServerError::Command(SpawnError::Program(e))) => {
                exec_exit_code(e)
            }
            Error::Shared(e) => e.exit_code(),
            _ => EXIT_FAILED,
        }
    }
}

/// 127 when the command was not found, 126 when it cannot be executed, as `env` (DESIGN §6):
/// the same in exec mode and under `--server`.
fn exec_exit_code(e: &ExecError) -> u8 {
    match e {
        ExecError::NotFound(_) => EXIT_NOT_FOUND,
        ExecError::NotExecutable(_) => EXIT_NOT_EXECUTABLE,
        _ => EXIT_FAILED,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(e) => e.fmt(f),
            Error::Accounts(e) => e.fmt(f),
            Error::Keys(e) => e.fmt(f),
            Error::User(e) => e.fmt(f),
            Error::Directory(e) => e.fmt(f),
            Error::Cache(e) => e.fmt(f),
            Error::Sts(e) => e.fmt(f),
            Error::Mfa(e) => e.fmt(f),
            Error::Exec(e) => e.fmt(f),
            Error::WebIdentity(e) => e.fmt(f),
            Error::Server(e) => e.fmt(f),
            Error::Rotate(e) => e.fmt(f),
            Error::Output(e) => write!(f, "cannot write to stdout: {e}"),
            Error::Shared(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

macro_rules! from_area {
    ($($variant:ident($area:ty)),* $(,)?) => {
        $(impl From<$area> for Error {
            fn from(e: $area) -> Self {
                Error::$variant(e)
            }
        })*
    };
}

from_area!(
    Usage(UsageError),
    Accounts(AccountsError),
    Keys(KeysError),
    User(UserError),
    Directory(DirectoryError),
    Cache(CacheError),
    Sts(Box<StsError>),
    Mfa(MfaError),
    Exec(ExecError),
    WebIdentity(WebIdentityError),
    Server(ServerError),
    Rotate(Box<RotateError>),
);

impl From<StsError> for Error {
    fn from(e: StsError) -> Self {
        Error::Sts(Box::new(e))
    }
}

impl From<RotateError> for Error {
    fn from(e: RotateError) -> Self {
        Error::Rotate(Box::new(e))
    }
}
