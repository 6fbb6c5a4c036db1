//! The commands stsexec runs for a secret: `mfa_process` / `--mfa-process` (prints an MFA code:
//! ykman, pass otp, 1Password, oathtool) and `key_process` / `key_update_process` (prints or
//! stores the long-lived key: pass, `op read`, secret-tool). One runner for all of them
//! ([`run_job`]): `/bin/sh -c`, in a process group of its own; on a terminal that group is
//! lent the terminal (stdin and stderr on it, pinentry and "touch your key" work, Ctrl-C
//! reaches the command and everything it started), and the terminal is taken back with its
//! modes restored on every way out. A time-out, Ctrl-C, a flood of output, a failure or a
//! signal to stsexec kills the whole group (issue 20 item 5: a pipeline's other half must not
//! stay behind reading the user's next line). Its environment holds no AWS variable and no CI
//! token variable. Its stdout is read with a cap and never echoed (it may be a secret).
#![forbid(unsafe_code)]

use super::prompt::{SignalGuard, Terminal};
use super::{MfaError, Settings};
use crate::env::{CI_TOKEN_VARS, Environment};
use crate::report::Reporter;
use crate::secret::MfaCode;
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// A code is 6 digits; allow spaces and a newline, and a little more, then stop reading.
const MAX_OUTPUT: u64 = 256;

/// How often the runner looks at the command, the time-out and stsexec's signals: often at
/// first, since most commands (`cat`, `pass`, `op read`) end within milliseconds and a coarse
/// tick would be most of their cost, then every 10 ms while one waits for a touch or a pinentry.
const FIRST_TICK: Duration = Duration::from_millis(1);
const TICK: Duration = Duration::from_millis(10);
const FIRST_TICKS_FOR: Duration = Duration::from_millis(200);

/// The environment of a command stsexec runs: the current one without any `AWS_*` variable
/// (no credential, nothing that points at one: DESIGN §9, §13), without the CI's OIDC token
/// request variables (which mint tokens for any audience: issue 20 item 10), and with `set`
/// (`STSEXEC_ACCOUNT_NAME`, …) in place of whatever was there.
pub fn command_env(current: &Environment, set: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = current
        .pairs()
        .iter()
        .filter(|(name, _)| {
            let text = name.to_string_lossy();
            !text.starts_with("AWS_")
                && !text.starts_with("ACTIONS_ID_TOKEN_REQUEST_")
                && !CI_TOKEN_VARS.iter().any(|v| text == *v)
                && !set.iter().any(|(n, _)| text == *n)
        })
        .cloned()
        .collect();
    env.extend(
        set.iter()
            .map(|(n, v)| (OsString::from(n), OsString::from(v))),
    );
    env
}

/// The `mfa_process`'s environment: [`command_env`] plus the account and device, so one
/// command can serve every account.
pub fn child_env(current: &Environment, account: &str, serial: &str) -> Vec<(OsString, OsString)> {
    command_env(
        current,
        &[
            ("STSEXEC_ACCOUNT_NAME", account),
            ("STSEXEC_MFA_SERIAL", serial),
        ],
    )
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

/// Runs the `mfa_process` once and returns the code it printed.
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
    let job = Job {
        command: &shown.command,
        env: child_env(current, account, serial),
        input: None,
        timeout: settings.process_timeout,
        max_output: MAX_OUTPUT,
        waiting: format!("Waiting for the MFA code from {shown} for account {account}…"),
        take_terminal: settings.take_terminal,
    };
    let output = run_job(job, report).map_err(|why| match why {
        Failure::TooMuchOutput(_) => fail(Failure::NotACode),
        why => fail(why),
    })?;
    let text = std::str::from_utf8(&output).map_err(|_| fail(Failure::NotACode))?;
    MfaCode::parse(text.trim()).map_err(|_| fail(Failure::NotACode))
}

/// One run of a command.
pub struct Job<'a> {
    /// Given to `/bin/sh -c`.
    pub command: &'a str,
    /// Its whole environment ([`command_env`]).
    pub env: Vec<(OsString, OsString)>,
    /// Written to its stdin, which is then closed (`key_update_process`: the new key's
    /// JSON). Without it, stdin is the terminal, or nothing.
    pub input: Option<Zeroizing<Vec<u8>>>,
    /// Stopped (its whole group) when it has not finished by then.
    pub timeout: Duration,
    /// More stdout than this is a failure (and stops it).
    pub max_output: u64,
    /// Said once when it has run for a second on a terminal (it may wait for a touch).
    pub waiting: String,
    /// Whether it may be lent the terminal stsexec holds (not while `--server`'s command
    /// owns it).
    pub take_terminal: bool,
}

/// Runs `job` and returns its stdout (wiped on drop). When stsexec itself is sent INT,
/// TERM, HUP or QUIT meanwhile, the command's group is killed, the terminal restored, and
/// stsexec ends by that signal.
pub fn run_job(job: Job, report: &Reporter) -> Result<Zeroizing<Vec<u8>>, Failure> {
    // The terminal is lent only when stsexec holds it (a run in a shell's background must
    // not take it from the shell).
    let terminal = Terminal::open()
        .ok()
        .filter(|t| job.take_terminal && t.in_foreground());
    let tty = || OpenOptions::new().read(true).write(true).open("/dev/tty");
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(job.command)
        .env_clear()
        .envs(job.env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::piped())
        // Its own process group: a time-out or Ctrl-C ends everything it started.
        .process_group(0);
    match (&terminal, job.input.is_some()) {
        (_, true) => cmd.stdin(Stdio::piped()),
        (Some(_), false) => cmd.stdin(tty().map_or_else(|_| Stdio::null(), Stdio::from)),
        (None, false) => cmd.stdin(Stdio::null()),
    };
    match &terminal {
        Some(_) => cmd.stderr(tty().map_or_else(|_| Stdio::inherit(), Stdio::from)),
        None => cmd.stderr(Stdio::inherit()),
    };
    // Installed before the command starts, so no signal falls between the two.
    let mut signals = SignalGuard::install().ok();
    let mut child = cmd.spawn().map_err(|e| Failure::Start(e.kind()))?;
    let group = Pid::from_child(&child);
    let lent = terminal.as_ref().and_then(|t| t.lend_to(group).ok());
    let mut running = Running {
        child: &mut child,
        group,
        lent,
    };

    if let (Some(mut stdin), Some(input)) = (running.child.stdin.take(), job.input) {
        // A thread: a command that does not read its stdin must not block stsexec.
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let stdout = running.child.stdout.take();
    let max = job.max_output;
    let (sender, receiver) = mpsc::channel();
    std::thread::spawn(move || {
        let mut bytes = Zeroizing::new(Vec::new());
        let result = match stdout {
            Some(out) => out.take(max + 1).read_to_end(&mut bytes).map(|_| bytes),
            None => Ok(bytes),
        };
        let _ = sender.send(result);
    });

    let started = Instant::now();
    let deadline = started + job.timeout;
    let mut said_waiting = false;
    let mut output = None;
    let status = loop {
        let caught = signals.as_ref().map_or(0, SignalGuard::caught);
        if caught != 0 {
            running.stop();
            drop(running);
            if let Some(signals) = signals.take() {
                signals.reraise(caught);
            }
            return Err(Failure::Signal(caught));
        }
        let tick = if started.elapsed() < FIRST_TICKS_FOR {
            FIRST_TICK
        } else {
            TICK
        };
        // Until the output is in, waiting for it is the tick: it wakes the moment it arrives.
        let mut waited = false;
        if output.is_none() {
            waited = true;
            match receiver.recv_timeout(tick) {
                Ok(result) => output = Some(result),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    output = Some(Err(std::io::ErrorKind::BrokenPipe.into()));
                }
            }
        }
        if let Some(Ok(bytes)) = &output
            && bytes.len() as u64 > max
        {
            running.stop();
            return Err(Failure::TooMuchOutput(max));
        }
        if output.is_some() && running.exited() {
            break running.reap();
        }
        let now = Instant::now();
        if now >= deadline {
            running.stop();
            return Err(Failure::TimedOut(job.timeout));
        }
        if !said_waiting && running.lent.is_some() && now >= started + Duration::from_secs(1) {
            report.status(&job.waiting);
            said_waiting = true;
        }
        if !waited {
            std::thread::sleep(tick);
        }
    };
    let failure = match status {
        Some(status) if status.success() => None,
        Some(status) => Some(Failure::from_status(status)),
        None => Some(Failure::Exit(-1)),
    };
    if let Some(failure) = failure {
        // Whatever it left behind goes too (the leader is reaped, but its group id stays
        // taken while any member lives).
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
        return Err(failure);
    }
    drop(running);
    output
        .unwrap_or_else(|| Err(std::io::ErrorKind::BrokenPipe.into()))
        .map_err(|e| Failure::Read(e.kind()))
}

/// A started command: its group is killed and the terminal taken back when it is stopped.
struct Running<'a> {
    child: &'a mut Child,
    group: Pid,
    lent: Option<super::prompt::Lent>,
}

impl Running<'_> {
    /// Whether the command (the shell) has exited; it stays a zombie, so its process group
    /// id cannot be reused before [`Running::reap`].
    fn exited(&self) -> bool {
        matches!(
            rustix::process::waitid(
                WaitId::Pid(self.group),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ),
            Ok(Some(_)) | Err(_)
        )
    }

    fn reap(&mut self) -> Option<ExitStatus> {
        self.child.wait().ok()
    }

    /// Kills the whole group (the shell is still unreaped, so the group id is still its own),
    /// reaps the shell, and takes the terminal back.
    fn stop(&mut self) {
        let _ = rustix::process::kill_process_group(self.group, Signal::KILL);
        let _ = self.child.wait();
        self.lent = None;
    }
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
    /// More than this many bytes on stdout.
    TooMuchOutput(u64),
}

impl Failure {
    fn from_status(status: ExitStatus) -> Failure {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Failure::Exit(code),
            (None, Some(signal)) => Failure::Signal(signal),
            (None, None) => Failure::Exit(-1),
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Start(kind) => write!(f, "could not be started ({kind})"),
            Failure::Read(kind) => write!(f, "could not be read ({kind})"),
            Failure::Exit(code) => write!(f, "exited with status {code}"),
            Failure::Signal(2) => f.write_str("was interrupted (Ctrl-C)"),
            Failure::Signal(signal) => write!(f, "was killed by signal {signal}"),
            Failure::NotACode => f.write_str(
                "printed something other than an MFA code (it must print only the 6 digits)",
            ),
            Failure::TooMuchOutput(max) => {
                write!(f, "printed more than {max} bytes and was stopped")
            }
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
    fn the_environment_has_the_account_and_no_aws_variable_or_ci_token() {
        let current = Environment::from_pairs([
            ("PATH", "/usr/bin"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SECRETMARKER"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "https://token.example"),
            ("AWS_PROFILE", "other"),
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
        assert_eq!(get("STSEXEC_ACCOUNT_NAME"), ["work"]);
        assert_eq!(
            get("STSEXEC_MFA_SERIAL"),
            ["arn:aws:iam::012123456789:mfa/jb"]
        );
        for gone in [
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_REGION",
            "AWS_PROFILE",
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
