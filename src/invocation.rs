//! What the user asked for, parsed once ([`crate::cli::Cli::into_invocation`]) from the command
//! line and the environment snapshot into typed data the rest of stsexec only reads: one
//! [`Ask`] variant per thing a user can ask, a validated account name, the session wanted
//! ([`Wants`]) and what to do with it ([`Action`]), and the `STSEXEC_*` settings ([`Knobs`]).
//!
//! A new mode (`--add`, `--console`, `--login`) is: its flag in `cli.rs`, one variant here
//! ([`Action`] when it works on an account's session, [`Ask`] when it needs no account), its
//! arm in `Cli::into_invocation`, and its arm in `app::run` — the compiler finds each match
//! that has to learn about it.
#![forbid(unsafe_code)]

use crate::accounts::AccountName;
use crate::env::Environment;
use crate::error::UsageError;
use crate::mfa;
use crate::output::Shell;
use crate::provider::Wants;
use crate::provider::durations::{self, Durations, MinTtl};
use crate::report::Reporter;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// One run of stsexec, as asked.
#[derive(Debug)]
pub struct Invocation {
    pub ask: Ask,
    /// `--config` / `STSEXEC_CONFIG`.
    pub config: Option<PathBuf>,
    /// `--creds-dir` / `STSEXEC_CREDS_DIR`.
    pub creds_dir: Option<PathBuf>,
    pub quiet: bool,
    pub verbose: bool,
}

impl Invocation {
    pub fn reporter(&self) -> Reporter {
        Reporter::new(self.quiet, self.verbose)
    }
}

/// The things a user can ask.
#[derive(Debug)]
pub enum Ask {
    /// `--list`: accounts, keys, cached sessions.
    List,
    /// `--status`: what the current environment holds.
    Status,
    /// `--clear [ACCOUNT]`: forget cached sessions (of every account without one).
    Clear(Option<AccountName>),
    /// `--role-names [ACCOUNT]` (hidden, for completions): the names of the account's
    /// `"roles"` in the accounts file.
    RoleNames(Option<AccountName>),
    /// An account's session, and what to do with it.
    Session {
        request: Box<SessionAsk>,
        action: Action,
    },
    /// `--add`: set up or convert an account's keys (DESIGN §13).
    Add(Box<AddAsk>),
}

/// `--add`'s options.
#[derive(Debug)]
pub struct AddAsk {
    pub account: AccountName,
    /// `--store` (default age).
    pub store: crate::cli::StoreChoice,
    /// `--from-profile NAME`.
    pub from_profile: Option<String>,
    /// `--offline`: no GetCallerIdentity.
    pub offline: bool,
    pub knobs: Knobs,
}

/// What to do with a session.
#[derive(Debug)]
pub enum Action {
    /// Replace stsexec with the command (empty: `$SHELL`).
    Exec(Vec<OsString>),
    /// `--server`: run the command as a child and serve it renewed credentials.
    Serve(Vec<OsString>),
    /// `--json`, `--export`, `--credential-process`.
    Print(Print),
    /// `--rotate`: replace the account's access key, signed with the session.
    Rotate,
    /// `--login`: sign in to IAM Identity Center (an `sso_start_url` account), nothing else.
    Login,
    /// `--console[=open|print]`: the AWS console as the role session (DESIGN §16).
    Console(ConsoleAsk),
}

/// `--console` and `--console-destination`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleAsk {
    pub mode: crate::console::ConsoleMode,
    /// `--console-destination`; `None`: the console home of the session's region.
    pub destination: Option<String>,
}

/// The output modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Print {
    Json,
    Export(Shell),
    CredentialProcess,
}

/// The session asked of an account, checked as far as the command line and the environment
/// allow (the role is resolved against the accounts file later, by `app`).
#[derive(Debug)]
pub struct SessionAsk {
    pub account: AccountName,
    /// The role as typed (`--role`), the token source as the flags name it.
    pub wants: Wants<String, WebIdentityAsk>,
    pub durations: Durations,
    /// `--refresh`.
    pub refresh: bool,
    /// `--region`.
    pub region: Option<String>,
    /// `--no-browser`: an IAM Identity Center login, if one is needed, uses the device code.
    pub no_browser: bool,
    pub knobs: Knobs,
}

/// `--web-identity[=FILE]` and `--audience`: where the CI's OIDC token is to come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentityAsk {
    pub file: Option<PathBuf>,
    pub audience: Option<String>,
}

/// The `STSEXEC_*` settings, read once from the environment snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knobs {
    /// `STSEXEC_MFA_PROCESS_TIMEOUT`, `STSEXEC_PROMPT_TIMEOUT`, `STSEXEC_MFA_STEP`.
    pub mfa: mfa::Settings,
    /// `STSEXEC_MIN_TTL`.
    pub min_ttl: MinTtl,
    /// `STSEXEC_STS_TIMEOUT`: the bound of one STS (or IAM, or token) call, retries included.
    pub sts_timeout: Duration,
    /// `STSEXEC_ROTATE_WAIT`: how long `--rotate` waits for the new key to become valid.
    pub rotate_wait: Duration,
    /// `STSEXEC_LOGIN_TIMEOUT`: how long an IAM Identity Center login waits for the browser
    /// or the device approval.
    pub login_wait: Duration,
}

/// `STSEXEC_STS_TIMEOUT`'s range.
const STS_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_millis(100), Duration::from_secs(600));
/// `STSEXEC_LOGIN_TIMEOUT`'s range: at most the default, so a run waiting on the login's lock
/// (6 minutes at most) outlasts it.
const LOGIN_WAIT_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(300));
/// `STSEXEC_ROTATE_WAIT`'s range.
const ROTATE_WAIT_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));

impl Knobs {
    /// Reads every setting a session run uses. `STSEXEC_ROTATE_WAIT` is read only when
    /// `rotating`, so a value meant for `--rotate` never stops another mode.
    pub fn from_env(current: &Environment, rotating: bool) -> Result<Knobs, crate::error::Error> {
        let mfa = mfa::Settings::from_env(current)?;
        let min_ttl = durations::parse_min_ttl(current.get_os("STSEXEC_MIN_TTL"))?;
        let sts_timeout = duration_setting(
            current.get("STSEXEC_STS_TIMEOUT"),
            crate::sts::DEFAULT_OPERATION_TIMEOUT,
            STS_TIMEOUT_RANGE,
            |typed| UsageError::StsTimeout { typed },
        )?;
        let rotate_wait = if rotating {
            duration_setting(
                current.get("STSEXEC_ROTATE_WAIT"),
                crate::rotate::DEFAULT_PROOF_WAIT,
                ROTATE_WAIT_RANGE,
                |typed| UsageError::RotateWait { typed },
            )?
        } else {
            crate::rotate::DEFAULT_PROOF_WAIT
        };
        let login_wait = duration_setting(
            current.get("STSEXEC_LOGIN_TIMEOUT"),
            crate::sso::login::DEFAULT_LOGIN_WAIT,
            LOGIN_WAIT_RANGE,
            |typed| UsageError::LoginTimeout { typed },
        )?;
        Ok(Knobs {
            mfa,
            min_ttl,
            sts_timeout,
            rotate_wait,
            login_wait,
        })
    }
}

/// A duration setting: `default` when unset, else its value within `(min, max)`, else the
/// error `refused` makes of the text as typed.
fn duration_setting(
    value: Option<&str>,
    default: Duration,
    (min, max): (Duration, Duration),
    refused: fn(String) -> UsageError,
) -> Result<Duration, UsageError> {
    match value {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text)
            .ok()
            .filter(|d| *d >= min && *d <= max)
            .ok_or_else(|| refused(text.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knobs_come_from_the_snapshot_once() {
        let knobs = Knobs::from_env(&Environment::default(), true).unwrap();
        assert_eq!(knobs.sts_timeout, crate::sts::DEFAULT_OPERATION_TIMEOUT);
        assert_eq!(knobs.rotate_wait, crate::rotate::DEFAULT_PROOF_WAIT);
        assert_eq!(knobs.min_ttl, MinTtl::DEFAULT);
        assert_eq!(knobs.mfa, mfa::Settings::DEFAULT);
        let env = Environment::from_pairs([
            ("STSEXEC_STS_TIMEOUT", "2s"),
            ("STSEXEC_ROTATE_WAIT", "3s"),
            ("STSEXEC_MIN_TTL", "90s"),
        ]);
        let knobs = Knobs::from_env(&env, true).unwrap();
        assert_eq!(knobs.sts_timeout, Duration::from_secs(2));
        assert_eq!(knobs.rotate_wait, Duration::from_secs(3));
        assert_eq!(knobs.min_ttl.given(), Some(Duration::from_secs(90)));
    }

    #[test]
    fn bad_knobs_name_their_variable() {
        let err = |pairs: [(&str, &str); 1], rotating| {
            Knobs::from_env(&Environment::from_pairs(pairs), rotating)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err([("STSEXEC_STS_TIMEOUT", "0s")], false),
            "STSEXEC_STS_TIMEOUT=\"0s\" is not a duration from 100ms to 10m; write it like 15s"
        );
        assert_eq!(
            err([("STSEXEC_ROTATE_WAIT", "soon")], true),
            "STSEXEC_ROTATE_WAIT=\"soon\" is not a duration from 1s to 10m; write it like 60s"
        );
        // Only --rotate reads STSEXEC_ROTATE_WAIT.
        let env = Environment::from_pairs([("STSEXEC_ROTATE_WAIT", "soon")]);
        assert!(Knobs::from_env(&env, false).is_ok());
    }
}
