//! The error of a run: one variant per area, each carrying that area's typed error, whose
//! `Display` is the sentence for the user (DESIGN §12). `exit_code` is the one mapping to exit
//! statuses (DESIGN §6); `main` is the only place that prints one.
#![forbid(unsafe_code)]

use crate::accounts::AccountsError;
use crate::app::ServeRefusal;
use crate::cache::CacheError;
use crate::console::ConsoleError;
use crate::exec::ExecError;
use crate::files::DirectoryError;
use crate::keys::{KeysError, UserError};
use crate::mfa::MfaError;
use crate::rotate::RotateError;
use crate::server::{ServerError, SpawnError};
use crate::sts::StsError;
use crate::text::{clean, shown};
use crate::web_identity::WebIdentityError;
use std::fmt;
use std::path::PathBuf;
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
    /// `--server` cannot serve what was asked (long-lived keys; a renewal that would prompt).
    Serve(ServeRefusal),
    /// `--rotate`: a step of the key rotation.
    Rotate(Box<RotateError>),
    /// `--add`: setting up or converting an account's keys (DESIGN §13).
    Add(Box<crate::keys::add::AddError>),
    /// IAM Identity Center: the login, the token, GetRoleCredentials.
    Sso(Box<crate::sso::SsoError>),
    /// What an IAM Identity Center account cannot do (`--mfa`, `--rotate`, …).
    SsoRefusal(crate::app::SsoRefusal),
    /// `--console`: the sign-in URL could not be had or opened.
    Console(ConsoleError),
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
        ExecError::EmptyCommand
        | ExecError::PathEmpty { .. }
        | ExecError::NotInPath { .. }
        | ExecError::NoSuchFile { .. } => EXIT_NOT_FOUND,
        ExecError::NotAnExecutableFile { .. }
        | ExecError::Directory { .. }
        | ExecError::PermissionDenied { .. }
        | ExecError::ShellRefused { .. }
        | ExecError::CannotExecute { .. } => EXIT_NOT_EXECUTABLE,
        ExecError::TooLarge { .. } => EXIT_FAILED,
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
            Error::Serve(e) => e.fmt(f),
            Error::Rotate(e) => e.fmt(f),
            Error::Add(e) => e.fmt(f),
            Error::Sso(e) => e.fmt(f),
            Error::SsoRefusal(e) => e.fmt(f),
            Error::Console(e) => e.fmt(f),
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

impl From<crate::keys::add::AddError> for Error {
    fn from(e: crate::keys::add::AddError) -> Self {
        Error::Add(Box::new(e))
    }
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
    Serve(ServeRefusal),
    Rotate(Box<RotateError>),
    Sso(Box<crate::sso::SsoError>),
    SsoRefusal(crate::app::SsoRefusal),
    Console(ConsoleError),
);

impl From<crate::sso::SsoError> for Error {
    fn from(e: crate::sso::SsoError) -> Self {
        Error::Sso(Box::new(e))
    }
}

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

/// Usage mistakes found after clap's own checks; `Display` is the sentence, naming the flag.
#[derive(Debug)]
pub enum UsageError {
    DurationWithoutSession {
        typed: String,
    },
    DurationRange {
        typed: String,
        call: &'static str,
        limits: &'static str,
    },
    DurationChained {
        typed: String,
    },
    SessionName {
        typed: String,
    },
    ExternalId,
    MinTtl {
        typed: String,
    },
    MinTtlTooLong {
        typed: String,
        session: String,
    },
    /// `STSEXEC_STS_TIMEOUT` out of its range.
    StsTimeout {
        typed: String,
    },
    /// `STSEXEC_ROTATE_WAIT` out of its range.
    RotateWait {
        typed: String,
    },
    /// `STSEXEC_LOGIN_TIMEOUT` out of its range.
    LoginTimeout {
        typed: String,
    },
    /// `--server` with `--json`, `--export` or `--credential-process`.
    ServeWithOutput,
    HomeUnset,
    HomeRelative(PathBuf),
}

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UsageError::DurationWithoutSession { typed } => write!(
                f,
                "-d/--duration {} applies to sessions: add --mfa or --role (long-lived keys do not expire)",
                shown(typed)
            ),
            UsageError::DurationRange {
                typed,
                call,
                limits,
            } => write!(
                f,
                "-d/--duration {}: {call} sessions last from {limits}",
                shown(typed)
            ),
            UsageError::DurationChained { typed } => write!(
                f,
                "-d/--duration {}: a role assumed from the MFA session (role chaining) lasts at most 1h; ask for 1h or less, or drop --mfa",
                shown(typed)
            ),
            UsageError::SessionName { typed } => write!(
                f,
                "--session-name {:?}: use 2 to 64 of letters, digits and _+=,.@-",
                shown(typed)
            ),
            UsageError::ExternalId => {
                f.write_str("--external-id: use 2 to 1224 of letters, digits and _+=,.@:/-")
            }
            UsageError::MinTtl { typed } => write!(
                f,
                "STSEXEC_MIN_TTL={:?} is not a window from 1s to under 24h; write it like 5m or 90s",
                shown(typed)
            ),
            UsageError::MinTtlTooLong { typed, session } => write!(
                f,
                "STSEXEC_MIN_TTL={:?} is as long as the {session} session it would apply to; make it shorter (the default is 5m)",
                shown(typed)
            ),
            UsageError::StsTimeout { typed } => write!(
                f,
                "STSEXEC_STS_TIMEOUT={:?} is not a duration from 100ms to 10m; write it like 15s",
                clean(typed, 64)
            ),
            UsageError::RotateWait { typed } => write!(
                f,
                "STSEXEC_ROTATE_WAIT={:?} is not a duration from 1s to 10m; write it like 60s",
                clean(typed, 64)
            ),
            UsageError::LoginTimeout { typed } => write!(
                f,
                "STSEXEC_LOGIN_TIMEOUT={:?} is not a duration from 1s to 5m (a login waits at most as long as a parallel run waits for it); write it like 2m",
                clean(typed, 64)
            ),
            UsageError::ServeWithOutput => f.write_str(
                "--server runs a command and serves it renewed credentials, so it cannot be combined with --json, --export or --credential-process, which print them once; drop one of them",
            ),
            UsageError::HomeUnset => f.write_str(
                "HOME is not set, so ~/aws-creds cannot be found; pass --creds-dir DIR or set STSEXEC_CREDS_DIR",
            ),
            UsageError::HomeRelative(home) => write!(
                f,
                "HOME={:?} is not an absolute path, so ~/aws-creds is ambiguous; fix HOME or pass --creds-dir DIR",
                shown(&home.display().to_string())
            ),
        }
    }
}

impl std::error::Error for UsageError {}
