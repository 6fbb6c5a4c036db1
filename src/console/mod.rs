//! `--console` (DESIGN §16): the AWS console as a role session.
//!
//! The role session's id, key and token go to the partition's federation endpoint
//! (`getSigninToken`, [`federation`]); the answer's token makes the sign-in URL (Issuer
//! `stsexec`, Destination the region's console home or `--console-destination`). That URL is a
//! bearer credential for 15 minutes, so it never reaches a command line: the browser
//! (`$BROWSER`, else `xdg-open`: [`browser`]) is given a one-shot local redirect to it
//! ([`redirect`]). `--console=print` prints it instead.
//!
//! Only role sessions (a role assumed with the user's keys or MFA session, or with a CI's
//! OIDC token) open the console. For plain IAM-user keys the only way is GetFederationToken,
//! which cannot carry MFA, so policies that require MFA deny in the console; stsexec refuses
//! and says so ([`ConsoleError::NoRole`]).
#![forbid(unsafe_code)]

pub mod browser;
pub mod federation;
pub mod redirect;

pub use federation::{
    Federation, RoleOrigin, check_destination, default_destination, session_duration,
};

use crate::aws::failure::ProxyName;
use crate::aws::{Outbound, Transport};
use crate::env::Environment;
use crate::report::Reporter;
use crate::secret::Secret;
use crate::session::Credentials;
use redirect::{Ended, Redirect};
use rustix::fd::AsFd;
use std::ffi::OsString;
use std::fmt;
use std::process::{Command, Stdio};
use std::time::SystemTime;

/// What `--console` does with the sign-in URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleMode {
    /// Through the one-shot local redirect, in `$BROWSER` or `xdg-open`.
    Open,
    /// On stdout.
    Print,
}

/// The warning `--console=print` gives when stdout is a terminal (as `--export` warns).
pub const PRINT_WARNING: &str = "--console=print writes a sign-in URL to the terminal, and anyone who sees it in the next 15 minutes can use the console as this role; --console opens it without showing it";

/// The sign-in URL for a role session: `getSigninToken` on `federation` through `outbound`,
/// then the login URL for `destination`. `origin` decides whether a console session length is
/// asked for (see [`session_duration`]).
pub fn sign_in_url(
    federation: &Federation,
    outbound: &Outbound,
    credentials: &Credentials,
    origin: RoleOrigin,
    destination: &str,
    now: SystemTime,
) -> Result<Secret, ConsoleError> {
    let expiration = credentials.expiration.ok_or(ConsoleError::NotASession)?;
    let left = expiration.duration_since(now).unwrap_or_default();
    let token = federation.signin_token(outbound, credentials, session_duration(origin, left))?;
    Ok(federation.login_url(destination, &token))
}

/// Opens `sign_in` in the browser through a one-shot local redirect: each of `$BROWSER`'s
/// commands, then `xdg-open`, is given the redirect's local URL until one asks for it. A
/// command that fails (cannot start, or ends with a failure status before asking) makes way
/// for the next. Returns the program that opened it. stsexec does not wait for the browser.
pub fn open(
    sign_in: &Secret,
    current: &Environment,
    report: Reporter,
) -> Result<String, ConsoleError> {
    open_with(
        sign_in,
        &browser::candidates(current),
        current.pairs(),
        report,
    )
}

/// [`open`] with the commands to try and their environment given.
pub fn open_with(
    sign_in: &Secret,
    candidates: &[browser::Candidate],
    environment: &[(OsString, OsString)],
    report: Reporter,
) -> Result<String, ConsoleError> {
    let mut redirect = Redirect::bind(redirect::WAIT).map_err(ConsoleError::Redirect)?;
    let local = redirect.local_url();
    report.debug(format!(
        "A one-shot redirect to the sign-in URL listens on 127.0.0.1:{} for {} s",
        redirect.port(),
        redirect::WAIT.as_secs()
    ));
    let mut tried = Vec::new();
    for candidate in candidates {
        let program = crate::text::shown(candidate.program());
        let argv = candidate.argv(local.expose());
        let spawned = Command::new(&argv[0])
            .args(&argv[1..])
            .env_clear()
            .envs(environment.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                tried.push(format!("{program} ({})", spawn_failure(&e)));
                continue;
            }
        };
        report.debug(format!(
            "Opening the console with {program}{}",
            if candidate.from_browser_variable {
                " (from BROWSER)"
            } else {
                ""
            }
        ));
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&child),
            rustix::process::PidfdFlags::empty(),
        )
        .ok();
        let mut ended = redirect
            .serve(sign_in, pidfd.as_ref().map(AsFd::as_fd))
            .map_err(ConsoleError::Redirect)?;
        if ended == Ended::WatchedExited {
            match child.wait() {
                Ok(status) if status.success() => {
                    // It handed the URL on (xdg-open to a running browser): wait for the ask.
                    ended = redirect
                        .serve(sign_in, None)
                        .map_err(ConsoleError::Redirect)?;
                }
                Ok(status) => {
                    tried.push(format!("{program} ({status})"));
                    continue;
                }
                Err(e) => {
                    tried.push(format!("{program} ({e})"));
                    continue;
                }
            }
        }
        return match ended {
            Ended::Answered => Ok(program),
            Ended::TimedOut | Ended::WatchedExited => Err(ConsoleError::NotOpened {
                program,
                seconds: redirect::WAIT.as_secs(),
            }),
        };
    }
    Err(ConsoleError::NoBrowser { tried })
}

fn spawn_failure(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "not found".to_string(),
        std::io::ErrorKind::PermissionDenied => "not executable".to_string(),
        _ => crate::text::clean(&e.to_string(), 100),
    }
}

/// Why no console was opened; `Display` is the sentence, naming the endpoint or the fix.
#[derive(Debug)]
pub enum ConsoleError {
    /// No role: the console would need GetFederationToken, which drops MFA.
    NoRole {
        account: String,
    },
    /// Credentials without a session token (long-lived keys) reached the sign-in.
    NotASession,
    UnknownPartition {
        partition: String,
    },
    BadEndpointVariable {
        value: String,
    },
    CleartextEndpoint {
        url: String,
    },
    /// A plain-http endpoint on this machine reached through a plain-http proxy elsewhere.
    CleartextProxy {
        url: String,
        proxy: ProxyName,
    },
    BadDestination {
        typed: String,
    },
    Unreachable {
        endpoint: String,
        failure: Transport,
    },
    Timeout {
        endpoint: String,
        seconds: u64,
    },
    Refused {
        endpoint: String,
        status: u16,
        said: String,
        /// A console session length was asked for, and the endpoint said 400.
        chained_duration: bool,
    },
    NotAnAnswer {
        endpoint: String,
        why: &'static str,
    },
    /// The local redirect could not listen.
    Redirect(std::io::Error),
    /// No browser command could be started, or each failed.
    NoBrowser {
        tried: Vec<String>,
    },
    /// A browser command started, but nothing asked for the local URL in time.
    NotOpened {
        program: String,
        seconds: u64,
    },
}

impl fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsoleError::NoRole { account } => write!(
                f,
                "--console opens the console only as a role session, because without a role it would take GetFederationToken (what aws-vault and granted use), which cannot carry MFA, so policies that require MFA deny in the console; use a role that trusts the user with MFA: stsexec {account} --mfa --role NAME --console"
            ),
            ConsoleError::NotASession => f.write_str(
                "--console needs session credentials (a role session), and these are long-lived keys; add --role NAME",
            ),
            ConsoleError::UnknownPartition { partition } => write!(
                f,
                "partition {partition} has no console sign-in endpoint stsexec knows; set AWS_ENDPOINT_URL_SIGNIN to its federation base URL"
            ),
            ConsoleError::BadEndpointVariable { value } => write!(
                f,
                "AWS_ENDPOINT_URL_SIGNIN {value:?} is not an http(s) base URL like https://signin.aws.amazon.com; fix or unset it"
            ),
            ConsoleError::CleartextEndpoint { url } => write!(
                f,
                "AWS_ENDPOINT_URL_SIGNIN {url} is plain http on another host, so the session's secret key would cross the network unencrypted; use https"
            ),
            ConsoleError::BadDestination { typed } => write!(
                f,
                "--console-destination {typed:?} is not an https URL; give the console page to land on, like https://console.aws.amazon.com/s3/home"
            ),
            ConsoleError::CleartextProxy { url, proxy } => write!(
                f,
                "AWS_ENDPOINT_URL_SIGNIN {url} is plain http and {proxy} is on another host, so the session's secret key would cross the network unencrypted; add the host to NO_PROXY or use https"
            ),
            ConsoleError::Unreachable {
                endpoint,
                failure: Transport::UntrustedCertificate { cause },
            } => write!(
                f,
                "the console sign-in endpoint {endpoint} presented a TLS certificate stsexec does not trust: {cause}; {}",
                crate::sts::UNTRUSTED_FIX
            ),
            ConsoleError::Unreachable {
                endpoint,
                failure: failure @ Transport::ThroughProxy { .. },
            } => write!(
                f,
                "cannot reach the console sign-in endpoint {endpoint} {}",
                failure.cause()
            ),
            ConsoleError::Unreachable { endpoint, failure } => write!(
                f,
                "cannot reach the console sign-in endpoint {endpoint}: {}; check the network (or AWS_ENDPOINT_URL_SIGNIN)",
                failure.reason()
            ),
            ConsoleError::Timeout { endpoint, seconds } => write!(
                f,
                "the console sign-in endpoint {endpoint} did not answer within {seconds} s; try again (STSEXEC_STS_TIMEOUT sets the limit)"
            ),
            ConsoleError::Refused {
                endpoint,
                status,
                said,
                chained_duration,
            } => {
                let said = if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                };
                let fix = if *chained_duration {
                    "the role session may not allow a console session length; try again with --refresh"
                } else {
                    "the role session may have expired or been revoked; try again with --refresh"
                };
                write!(
                    f,
                    "the console sign-in endpoint {endpoint} refused the role session (HTTP {status}{said}); {fix}"
                )
            }
            ConsoleError::NotAnAnswer { endpoint, why } => write!(
                f,
                "the console sign-in endpoint {endpoint} answered with something other than a sign-in token ({why}); is AWS_ENDPOINT_URL_SIGNIN or a proxy answering in its place?"
            ),
            ConsoleError::Redirect(e) => write!(
                f,
                "cannot listen on 127.0.0.1 for the browser's one-shot redirect ({e}); use --console=print"
            ),
            ConsoleError::NoBrowser { tried } => write!(
                f,
                "no browser could open the console (tried {}); set BROWSER to your browser's command, or use --console=print",
                tried.join(", ")
            ),
            ConsoleError::NotOpened { program, seconds } => write!(
                f,
                "{program} did not open the console's local address within {seconds} s, so the one-shot redirect closed; set BROWSER to your browser's command, or use --console=print"
            ),
        }
    }
}

impl std::error::Error for ConsoleError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sentence_is_one_line_and_names_what_to_do() {
        let errors = [
            ConsoleError::NoRole {
                account: "work".to_string(),
            },
            ConsoleError::Unreachable {
                endpoint: "http://127.0.0.1:9/federation".to_string(),
                failure: Transport::Unreachable {
                    cause: "connection refused".to_string(),
                },
            },
            ConsoleError::NotAnAnswer {
                endpoint: "http://127.0.0.1:9/federation".to_string(),
                why: "not JSON",
            },
            ConsoleError::NoBrowser {
                tried: vec![
                    "firefox (not found)".to_string(),
                    "xdg-open (not found)".to_string(),
                ],
            },
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.contains('\n') && !text.ends_with('.'), "{text}");
        }
        let no_role = errors[0].to_string();
        assert!(
            no_role.contains("GetFederationToken")
                && no_role.contains("cannot carry MFA")
                && no_role.contains("--role NAME"),
            "{no_role}"
        );
        assert!(
            errors[1]
                .to_string()
                .contains("http://127.0.0.1:9/federation")
        );
    }

    #[test]
    fn a_browser_that_fails_makes_way_and_none_left_is_an_error() {
        let current = Environment::from_pairs([
            ("BROWSER", "false:/nonexistent/browser"),
            ("PATH", "/usr/bin:/bin"),
        ]);
        // xdg-open, tried last, is absent from this PATH unless installed; make it fail too.
        let dir = tempfile::tempdir().unwrap();
        let current = Environment::from_pairs(
            current
                .pairs()
                .iter()
                .filter(|(k, _)| k != "PATH")
                .cloned()
                .chain([(
                    "PATH".into(),
                    format!("{}:/usr/bin:/bin", dir.path().display()).into(),
                )]),
        );
        std::fs::write(dir.path().join("xdg-open"), "#!/bin/sh\nexit 3\n").unwrap();
        let mut perms = std::fs::metadata(dir.path().join("xdg-open"))
            .unwrap()
            .permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(dir.path().join("xdg-open"), perms).unwrap();
        let e = open(
            &Secret::new("https://x/SECRETMARKER"),
            &current,
            Reporter::new(true, false),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("tried false (exit status: 1), /nonexistent/browser (not found), xdg-open (exit status: 3)"),
            "{e}"
        );
        assert!(
            !e.contains("SECRETMARKER") && !e.contains("127.0.0.1"),
            "{e}"
        );
    }
}
