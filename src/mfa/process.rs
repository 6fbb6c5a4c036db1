//! `mfa_process` / `--mfa-process`: a command that prints the MFA code (ykman, pass otp,
//! 1Password, oathtool). It runs with `/bin/sh -c`, its stdin and stderr on the terminal when
//! there is one (so "Touch your YubiKey" is seen), `STSEXEC_ACCOUNT_NAME` and
//! `STSEXEC_MFA_SERIAL` in its environment and no AWS credential. Its stdout is read with a
//! cap and must be a code; it is never echoed (it may be one).
#![forbid(unsafe_code)]

use super::{MfaError, Settings};
use crate::env::{ALWAYS_REMOVED, CI_TOKEN_VARS, CREDENTIAL_VARS, Environment};
use crate::report::Reporter;
use crate::secret::MfaCode;
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A code is 6 digits; allow spaces and a newline, and a little more, then stop reading.
const MAX_OUTPUT: u64 = 256;

/// The command's environment: the current one without AWS credentials, plus the account and
/// device, so one command can serve every account.
pub fn child_env(current: &Environment, account: &str, serial: &str) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = current
        .pairs()
        .iter()
        .filter(|(name, _)| {
            // No credential, nothing that points at one (DESIGN §9: no AWS secret), and no
            // way to mint a CI's OIDC tokens.
            !CREDENTIAL_VARS
                .iter()
                .chain(&ALWAYS_REMOVED)
                .chain(&CI_TOKEN_VARS)
                .any(|r| name == r)
                && name != "STSEXEC_ACCOUNT_NAME"
                && name != "STSEXEC_MFA_SERIAL"
        })
        .cloned()
        .collect();
    env.push(("STSEXEC_ACCOUNT_NAME".into(), account.into()));
    env.push(("STSEXEC_MFA_SERIAL".into(), serial.into()));
    env
}

/// What the command is, for messages: as written (shortened, control characters replaced)
/// and where it was configured.
#[derive(Debug, Clone)]
pub struct Shown {
    pub command: String,
    pub origin: String,
}

impl std::fmt::Display for Shown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cleaned: String = self
            .command
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect();
        let shown: String = if cleaned.chars().count() > 80 {
            let head: String = cleaned.chars().take(77).collect();
            format!("{head}…")
        } else {
            cleaned
        };
        write!(f, "`{shown}` (from {})", self.origin)
    }
}

/// Runs the command once and returns the code it printed.
pub fn run(
    shown: &Shown,
    account: &str,
    serial: &str,
    current: &Environment,
    settings: &Settings,
    report: &Reporter,
) -> Result<MfaCode, MfaError> {
    let fail = |why: Failure| MfaError::Process {
        account: account.to_string(),
        command: shown.clone(),
        why,
    };
    let tty = || OpenOptions::new().read(true).write(true).open("/dev/tty");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(&shown.command)
        .env_clear()
        .envs(child_env(current, account, serial))
        .stdout(Stdio::piped());
    let on_terminal = match (tty(), tty()) {
        (Ok(input), Ok(errors)) => {
            // It stays in stsexec's process group, the terminal's foreground group, so it
            // may read the terminal (a PIN, a passphrase) and Ctrl-C reaches it.
            cmd.stdin(Stdio::from(input)).stderr(Stdio::from(errors));
            true
        }
        _ => {
            // Its own process group, so a time-out ends everything it started.
            cmd.stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .process_group(0);
            false
        }
    };
    let mut child = cmd.spawn().map_err(|e| fail(Failure::Start(e.kind())))?;
    let deadline = Instant::now() + settings.process_timeout;

    let stdout = child.stdout.take();
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Zeroizing::new(Vec::new());
        let result = match stdout {
            Some(out) => out
                .take(MAX_OUTPUT + 1)
                .read_to_end(&mut bytes)
                .map(|_| bytes),
            None => Ok(bytes),
        };
        let _ = sender.send(result);
    });

    let first = receiver.recv_timeout(Duration::from_secs(1).min(settings.process_timeout));
    let output = match first {
        Ok(output) => Some(output),
        Err(mpsc::RecvTimeoutError::Timeout) => {
            if on_terminal {
                report.status(format!(
                    "Waiting for the MFA code from {shown} for account {account}…"
                ));
            }
            receiver
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .ok()
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => None,
    };
    let Some(output) = output else {
        stop(&mut child, on_terminal);
        return Err(fail(Failure::TimedOut(settings.process_timeout)));
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => {
                stop(&mut child, on_terminal);
                return Err(fail(Failure::TimedOut(settings.process_timeout)));
            }
        }
    };
    if !status.success() {
        use std::os::unix::process::ExitStatusExt;
        return Err(fail(match (status.code(), status.signal()) {
            (Some(code), _) => Failure::Exit(code),
            (None, Some(signal)) => Failure::Signal(signal),
            (None, None) => Failure::Exit(-1),
        }));
    }
    let output = output.map_err(|e| fail(Failure::Read(e.kind())))?;
    if output.len() as u64 > MAX_OUTPUT {
        return Err(fail(Failure::NotACode));
    }
    let text = std::str::from_utf8(&output).map_err(|_| fail(Failure::NotACode))?;
    MfaCode::parse(text.trim()).map_err(|_| fail(Failure::NotACode))
}

/// Ends the command on a time-out: its whole process group when it has one.
fn stop(child: &mut Child, own_group: bool) {
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).unwrap_or(0));
    match pid {
        Some(pid) if !own_group => {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
        }
        _ => {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

/// Why a command gave no code; part of [`MfaError::Process`]'s sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Start(std::io::ErrorKind),
    Read(std::io::ErrorKind),
    Exit(i32),
    Signal(i32),
    NotACode,
    TimedOut(Duration),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Start(kind) => write!(f, "could not be started ({kind})"),
            Failure::Read(kind) => write!(f, "could not be read ({kind})"),
            Failure::Exit(code) => write!(f, "exited with status {code}"),
            Failure::Signal(signal) => write!(f, "was killed by signal {signal}"),
            Failure::NotACode => f.write_str(
                "printed something other than an MFA code (it must print only the 6 digits)",
            ),
            Failure::TimedOut(after) => write!(
                f,
                "gave no code within {} and was stopped",
                humantime::format_duration(*after)
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_has_the_account_and_no_aws_secret() {
        let current = Environment::from_pairs([
            ("PATH", "/usr/bin"),
            ("AWS_SECRET_ACCESS_KEY", "SECRETMARKER"),
            ("AWS_SESSION_TOKEN", "SECRETMARKER"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_REGION", "eu-west-1"),
            ("STSEXEC_MFA_SERIAL", "planted"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SECRETMARKER"),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://token.actions.example/x",
            ),
        ]);
        let env = child_env(&current, "work", "arn:aws:iam::012123456789:mfa/jb");
        let get = |name: &str| {
            env.iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| v.to_str().unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(get("PATH"), ["/usr/bin"]);
        assert_eq!(get("AWS_REGION"), ["eu-west-1"]);
        assert_eq!(get("STSEXEC_ACCOUNT_NAME"), ["work"]);
        assert_eq!(
            get("STSEXEC_MFA_SERIAL"),
            ["arn:aws:iam::012123456789:mfa/jb"]
        );
        for gone in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
        ] {
            assert!(get(gone).is_empty(), "{gone}");
        }
    }

    #[test]
    fn commands_are_shown_shortened_and_clean() {
        let shown = Shown {
            command: "pass otp aws/work\u{1b}[2J".into(),
            origin: "--mfa-process".into(),
        };
        assert_eq!(
            shown.to_string(),
            "`pass otp aws/work?[2J` (from --mfa-process)"
        );
        let long = Shown {
            command: "x".repeat(200),
            origin: "--mfa-process".into(),
        };
        assert!(long.to_string().contains("…`"));
    }
}
