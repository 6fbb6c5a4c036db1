//! IAM Identity Center (SSO) accounts (DESIGN §17): the login (RegisterClient, then the
//! authorization-code flow with PKCE on a loopback redirect, or the device-code flow), the
//! token's refresh with its refresh token, the AWS CLI's token cache, and GetRoleCredentials.
//!
//! - `cache`: the CLI's `~/.aws/sso/cache/<sha1>.json` files (token and registration).
//! - `client`: the only user of aws-sdk-ssooidc and aws-sdk-sso (`LazySso`), behind the
//!   `OidcApi` and `PortalApi` traits.
//! - `login`: the flows, generic over those traits: a valid token (cached, refreshed, or a new
//!   login under the lock), and role credentials from it.
//! - `loopback`: the one-shot redirect listener and the browser.
//! - `pkce`: PKCE, `state`, URL encoding, SHA-1 names.
#![forbid(unsafe_code)]

pub mod account;
pub mod cache;
pub mod client;
pub mod login;
pub mod loopback;
pub mod pkce;
pub mod provider;

pub use cache::TokenCache;
pub use client::{Failure, LazySso, SsoEndpoints};

use crate::files::{FileError, Holder};
use crate::text::clean;
use std::fmt;
use std::io;
use std::path::PathBuf;

/// One IAM Identity Center login: what the AWS CLI's `[sso-session NAME]` (or a legacy
/// profile's `sso_start_url` + `sso_region`) describes. Accounts with the same session share
/// one token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoSession {
    pub start_url: String,
    /// The region of IAM Identity Center (`sso_region`), where sso-oidc and the portal are.
    pub region: String,
    /// `sso_session`: the token is cached under the SHA-1 of this name; without it, under the
    /// SHA-1 of the start URL (the CLI's legacy form).
    pub name: Option<String>,
}

impl SsoSession {
    /// The session as messages name it: `sso_session my-sso`, else its start URL.
    pub fn shown(&self) -> String {
        match &self.name {
            Some(name) => format!("sso_session {}", clean(name, 64)),
            None => clean(&self.start_url, 200),
        }
    }
}

/// Why a login or a token could not be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginFailure {
    /// The browser's redirect or the device approval did not come within the bound.
    TimedOut { seconds: u64 },
    /// The sign-in page sent the browser back with an error (`access_denied`: cancelled).
    Denied { error: String },
    /// The device code expired before it was approved.
    DeviceCodeExpired,
    /// The loopback listener, or the random source of PKCE and `state`, failed.
    Loopback(IoFailure),
}

/// A failed system call as data: the OS's error number, shown as the standard library shows
/// it (`Address already in use (os error 98)`), or, for an error that has none, its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoFailure {
    Os(i32),
    Kind(io::ErrorKind),
}

impl From<&io::Error> for IoFailure {
    fn from(e: &io::Error) -> Self {
        match e.raw_os_error() {
            Some(code) => IoFailure::Os(code),
            None => IoFailure::Kind(e.kind()),
        }
    }
}

impl From<io::Error> for IoFailure {
    fn from(e: io::Error) -> Self {
        IoFailure::from(&e)
    }
}

impl From<rustix::io::Errno> for IoFailure {
    fn from(e: rustix::io::Errno) -> Self {
        IoFailure::Os(e.raw_os_error())
    }
}

impl fmt::Display for IoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IoFailure::Os(code) => io::Error::from_raw_os_error(code).fmt(f),
            IoFailure::Kind(kind) => io::Error::from(kind).fmt(f),
        }
    }
}

/// What is wrong with the token cache directory; part of [`SsoError::CacheDirectory`]'s
/// sentence, with the fix.
#[derive(Debug)]
pub enum CacheDirProblem {
    /// Creating it (and the directories above it) failed.
    CannotCreate(io::Error),
    /// Its metadata could not be read.
    CannotRead(io::Error),
    NotADirectory,
    /// Another user owns it: whoever can replace the token file decides the credentials.
    OtherOwner {
        uid: u32,
    },
    /// Group or others may write it; `mode` is its permission bits.
    Writable {
        mode: u32,
    },
}

/// An IAM Identity Center failure in context. `Display` is the sentence for the terminal.
#[derive(Debug)]
pub enum SsoError {
    File(FileError),
    /// The account's session cache (its lock).
    Cache(crate::cache::CacheError),
    /// The token cache directory (`~/.aws/sso/cache`) cannot be used.
    CacheDirectory {
        path: PathBuf,
        problem: CacheDirProblem,
    },
    LockHolderStopped {
        session: String,
        pid: u32,
    },
    LockTimedOut {
        session: String,
        holder: Option<Holder>,
    },
    /// There is no usable token and this run may not log in (`--server`'s renewals,
    /// `--credential-process` without a terminal).
    LoginNeeded {
        account: String,
        session: String,
        why: &'static str,
    },
    Login {
        account: String,
        failure: LoginFailure,
    },
    /// A call failed.
    Call(Box<CallError>),
}

/// A call to IAM Identity Center that failed: `operation` at `endpoint`.
#[derive(Debug)]
pub struct CallError {
    pub account: String,
    pub operation: &'static str,
    pub endpoint: String,
    pub role: Option<String>,
    pub failure: Failure,
}

impl From<FileError> for SsoError {
    fn from(e: FileError) -> Self {
        SsoError::File(e)
    }
}

impl fmt::Display for SsoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SsoError::File(e) => write!(f, "{e}"),
            SsoError::Cache(e) => write!(f, "{e}"),
            SsoError::CacheDirectory { path, problem } => {
                write!(
                    f,
                    "IAM Identity Center token cache directory {} ",
                    path.display()
                )?;
                match problem {
                    CacheDirProblem::CannotCreate(e) => {
                        write!(f, "cannot be created: {e}; check its parent directories")
                    }
                    CacheDirProblem::CannotRead(e) => {
                        write!(f, "cannot be read: {e}; check its parent directories")
                    }
                    CacheDirProblem::NotADirectory => f.write_str("is not a directory; remove it"),
                    CacheDirProblem::OtherOwner { uid } => write!(
                        f,
                        "belongs to another user (uid {uid}); take ownership (chown) or remove it"
                    ),
                    CacheDirProblem::Writable { mode } => write!(
                        f,
                        "is writable by group or others (mode {mode:04o}); run: chmod go-w {}",
                        path.display()
                    ),
                }
            }
            SsoError::LockHolderStopped { session, pid } => write!(
                f,
                "stsexec pid {pid} holds the IAM Identity Center login lock of {session} and is stopped; resume it (fg) or end it (kill {pid})"
            ),
            SsoError::LockTimedOut { session, holder } => match holder {
                Some(h) => write!(
                    f,
                    "stsexec pid {} has held the IAM Identity Center login lock of {session} for over {} minutes ({}); end it (kill {}) and run again",
                    h.pid,
                    crate::files::MAX_LOCK_WAIT.as_secs() / 60,
                    h.activity,
                    h.pid
                ),
                None => write!(
                    f,
                    "another stsexec has held the IAM Identity Center login lock of {session} for over {} minutes; run again",
                    crate::files::MAX_LOCK_WAIT.as_secs() / 60
                ),
            },
            SsoError::LoginNeeded {
                account,
                session,
                why,
            } => write!(
                f,
                "the IAM Identity Center login of account {account} ({session}) {why}; run: stsexec {account} --login"
            ),
            SsoError::Login { account, failure } => match failure {
                LoginFailure::TimedOut { seconds } => write!(
                    f,
                    "the IAM Identity Center sign-in for account {account} was not completed within {seconds} s; run stsexec {account} --login again (add --no-browser to sign in with a code on another device)"
                ),
                LoginFailure::Denied { error } => write!(
                    f,
                    "the IAM Identity Center sign-in for account {account} was cancelled or refused ({error}); run stsexec {account} --login again"
                ),
                LoginFailure::DeviceCodeExpired => write!(
                    f,
                    "the IAM Identity Center code for account {account} expired before it was approved; run stsexec {account} --login again"
                ),
                LoginFailure::Loopback(cause) => write!(
                    f,
                    "cannot receive the IAM Identity Center sign-in for account {account} on 127.0.0.1: {cause}; run stsexec {account} --login --no-browser"
                ),
            },
            SsoError::Call(call) => write!(f, "{call}"),
        }
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CallError {
            account,
            operation,
            endpoint,
            role,
            failure,
        } = self;
        let target = match role {
            Some(role) => format!("role {} of account {account}", clean(role, 64)),
            None => format!("account {account}"),
        };
        let check = "check the network, or AWS_ENDPOINT_URL_SSO_OIDC / AWS_ENDPOINT_URL_SSO if you set them";
        match failure {
            Failure::AuthorizationPending | Failure::SlowDown => write!(
                f,
                "IAM Identity Center at {endpoint} kept {operation} pending for {target}; run stsexec {account} --login again"
            ),
            Failure::AccessDenied { message } => write!(
                f,
                "IAM Identity Center at {endpoint} denied {operation} for {target}: {}; run stsexec {account} --login again",
                clean(message, 300)
            ),
            Failure::Expired | Failure::Unauthorized => write!(
                f,
                "IAM Identity Center at {endpoint} refused the login of {target} ({operation}): it has expired or was revoked; run: stsexec {account} --login"
            ),
            Failure::InvalidGrant { message } => write!(
                f,
                "IAM Identity Center at {endpoint} refused {operation} for {target}: {}; run: stsexec {account} --login",
                clean(message, 300)
            ),
            Failure::InvalidClient => write!(
                f,
                "IAM Identity Center at {endpoint} no longer knows stsexec's client registration ({operation}, {target}); run: stsexec {account} --login"
            ),
            Failure::RoleNotFound { message } => write!(
                f,
                "IAM Identity Center at {endpoint} gives you no {target}: {}; check sso_account_id and sso_role_name in the accounts file",
                clean(message, 300)
            ),
            Failure::Throttled => write!(
                f,
                "IAM Identity Center kept throttling {operation} for {target}; wait a moment and try again"
            ),
            Failure::ServerError { status } => write!(
                f,
                "IAM Identity Center at {endpoint} failed {operation} for {target} (HTTP {status}); try again later"
            ),
            Failure::Refused {
                code,
                message,
                status,
            } => {
                if code.is_empty() {
                    write!(
                        f,
                        "IAM Identity Center at {endpoint} refused {operation} for {target} (HTTP {status})"
                    )
                } else {
                    write!(
                        f,
                        "IAM Identity Center at {endpoint} refused {operation} for {target}: {}: {}",
                        clean(code, 64),
                        clean(message, 300)
                    )
                }
            }
            Failure::Timeout { seconds } => write!(
                f,
                "IAM Identity Center at {endpoint} did not answer {operation} within {seconds} s ({target}); {check}"
            ),
            Failure::Unreachable { cause } => write!(
                f,
                "IAM Identity Center unreachable at {endpoint} ({operation}, {target}): {}; {check}",
                clean(cause, 200)
            ),
            Failure::UntrustedCertificate { cause } => write!(
                f,
                "IAM Identity Center at {endpoint} presented a TLS certificate stsexec does not trust ({target}): {}; if a proxy or a private CA is in the way, point SSL_CERT_FILE at its CA certificates",
                clean(cause, 200)
            ),
            Failure::Unreadable => write!(
                f,
                "IAM Identity Center at {endpoint} sent an answer to {operation} that stsexec cannot read ({target}); is it an IAM Identity Center endpoint?"
            ),
            Failure::TooLarge => write!(
                f,
                "IAM Identity Center at {endpoint} answered {operation} for {target} with more than {} KiB; refused (is it an IAM Identity Center endpoint?)",
                crate::aws::cap::MAX_RESPONSE_BYTES / 1024
            ),
            Failure::Incomplete(what) => write!(
                f,
                "IAM Identity Center at {endpoint} answered {operation} for {target} {what}; is it an IAM Identity Center endpoint?"
            ),
            Failure::Other { cause } => write!(
                f,
                "cannot call IAM Identity Center {operation} for {target}: {}",
                clean(cause, 200)
            ),
        }
    }
}

impl std::error::Error for SsoError {}
