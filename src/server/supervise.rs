//! The command as stsexec's child, and the signals it gets (DESIGN §8: every signal reaches
//! the command exactly once).
//!
//! - **In the foreground of a terminal** (stdin is a terminal whose foreground process group is
//!   stsexec's) the command stays in stsexec's process group, as sudo-rs's `exec/no_pty.rs`
//!   keeps it: the terminal's Ctrl-C, Ctrl-\, Ctrl-Z reach it directly and are not relayed
//!   (siginfo says the kernel sent them); a signal another process sends to stsexec is relayed.
//! - **Otherwise** (a script, `cmd &`, CI, cron, `timeout`) the command gets a process group of
//!   its own, as dumb-init's setsid mode and tini give it, and every signal stsexec receives is
//!   relayed to that group: a script's `kill $!` comes from stsexec's own group, and `timeout`
//!   or a CI runner signals stsexec's whole group, which no longer holds the command.
//!
//! Either way the same signal again within a second is relayed once ([`Relay`]: `timeout`
//! sends its TERM to stsexec and then to its group), and a signal the command's own group sent
//! is not sent back to it. stsexec waits for the command and ends with its status or signal.
#![forbid(unsafe_code)]

use crate::exec::{self, ExecError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::{Cause, Origin};
use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;
use std::time::{Duration, Instant};

/// The signals relayed to the command.
pub const RELAYED: [i32; 6] = [SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2];

/// The same signal again within this is the same request (relayed once).
pub const SAME_SIGNAL: Duration = Duration::from_secs(1);

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
}

/// The command's end, and the process group its descendants stay in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Supervised {
    pub ended: Ended,
    /// The command's own group, or stsexec's when the command shared it.
    pub group: i32,
}

/// Where the command runs, and so which signals it already gets without stsexec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grouping {
    /// stsexec is in the foreground of its terminal: the command shares stsexec's group, and
    /// with it the terminal's signals.
    TerminalForeground,
    /// Anything else: the command leads a process group of its own.
    OwnGroup,
}

impl Grouping {
    /// Reads whether stdin is a terminal whose foreground process group is stsexec's.
    pub fn of_this_process() -> Self {
        let stdin = std::io::stdin();
        match rustix::termios::tcgetpgrp(stdin.as_fd()) {
            Ok(foreground) if foreground == rustix::process::getpgrp() => {
                Grouping::TerminalForeground
            }
            _ => Grouping::OwnGroup,
        }
    }
}

/// Who sent a signal, as far as the kernel says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sender {
    /// The kernel: the terminal's line discipline sending to the whole foreground group.
    Kernel,
    /// A process, with its process group when it still exists.
    Process { pid: i32, pgrp: Option<i32> },
    /// No information (another si_code).
    Unknown,
}

/// The relay's decisions: which received signals go on to the command. Pure but for the
/// memory of the last relay of each signal.
#[derive(Debug)]
pub struct Relay {
    grouping: Grouping,
    command_pid: i32,
    own_pgrp: i32,
    last: Vec<(i32, Instant)>,
}

impl Relay {
    pub fn new(grouping: Grouping, command_pid: i32, own_pgrp: i32) -> Self {
        Relay {
            grouping,
            command_pid,
            own_pgrp,
            last: Vec::new(),
        }
    }

    /// Whether `signal`, received from `sender` at `now`, is sent on to the command.
    pub fn relay(&mut self, signal: i32, sender: Sender, now: Instant) -> bool {
        if !self.sent_from_elsewhere(sender) {
            return false;
        }
        match self.last.iter_mut().find(|(s, _)| *s == signal) {
            Some((_, at)) if now.saturating_duration_since(*at) < SAME_SIGNAL => false,
            Some((_, at)) => {
                *at = now;
                true
            }
            None => {
                self.last.push((signal, now));
                true
            }
        }
    }

    /// Not the command's own signals (nor its group's) sent back to it. In the terminal's
    /// foreground, also not the terminal's (the command has it already: Terraform takes a
    /// second Ctrl-C as "exit now") nor those of stsexec's group, which holds the command, as
    /// sudo decides; in a group of its own the command gets nothing unless relayed.
    fn sent_from_elsewhere(&self, sender: Sender) -> bool {
        match (self.grouping, sender) {
            (_, Sender::Process { pid, pgrp })
                if pid == self.command_pid || pgrp == Some(self.command_pid) =>
            {
                false
            }
            (Grouping::TerminalForeground, Sender::Kernel) => false,
            (Grouping::TerminalForeground, Sender::Process { pgrp, .. }) => {
                pgrp != Some(self.own_pgrp)
            }
            (Grouping::OwnGroup, _) | (_, Sender::Unknown) => true,
        }
    }
}

fn sender_of(origin: &Origin) -> Sender {
    match (&origin.cause, &origin.process) {
        (Cause::Kernel, _) => Sender::Kernel,
        (Cause::Sent(_), Some(process)) => Sender::Process {
            pid: process.pid,
            pgrp: rustix::process::Pid::from_raw(process.pid)
                .and_then(|pid| rustix::process::getpgid(Some(pid)).ok())
                .map(rustix::process::Pid::as_raw_nonzero)
                .map(std::num::NonZero::get),
        },
        _ => Sender::Unknown,
    }
}

/// Why the command could not be started or waited for. A command that cannot be run exits
/// 126 or 127 as in exec mode (DESIGN §6, decided in `error.rs`); the rest 125.
#[derive(Debug)]
pub enum SpawnError {
    /// Not found, not executable: the same errors as exec mode's.
    Program(ExecError),
    /// The relay's signal handlers could not be installed.
    SignalHandlers(std::io::Error),
    /// waitpid failed.
    Wait(std::io::Error),
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SpawnError::Program(e) => e.fmt(f),
            SpawnError::SignalHandlers(e) => {
                write!(f, "cannot install the signal handlers for --server: {e}")
            }
            SpawnError::Wait(e) => write!(f, "cannot wait for the command: {e}"),
        }
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SpawnError::Program(e) => Some(e),
            SpawnError::SignalHandlers(e) | SpawnError::Wait(e) => Some(e),
        }
    }
}

/// Runs the command with `env` as the only environment and waits for it, relaying signals.
/// `nofile`: the descriptor limits the command gets (stsexec raised its own).
pub fn run(
    program: &OsStr,
    args: &[OsString],
    env: &[(OsString, OsString)],
    path_var: Option<&OsStr>,
    nofile: Option<rustix::process::Rlimit>,
) -> Result<Supervised, SpawnError> {
    let path = exec::find_program(program, path_var).map_err(SpawnError::Program)?;
    // Handlers first, so no signal between spawn and the relay loop is lost. Signal
    // dispositions stsexec inherited as "ignored" stay so for the command (a background job
    // of a non-interactive shell ignores SIGINT and SIGQUIT): those are not caught.
    let caught: Vec<i32> = RELAYED
        .into_iter()
        .filter(|s| !crate::sys::signal_is_ignored(*s))
        .collect();
    let mut signals =
        SignalsInfo::<WithOrigin>::new(&caught).map_err(SpawnError::SignalHandlers)?;
    let grouping = Grouping::of_this_process();
    let command = |interpreter: Option<&str>| {
        let mut command = match interpreter {
            None => Command::new(&path),
            Some(shell) => {
                let mut command = Command::new(shell);
                command.arg(&path);
                command
            }
        };
        command
            .arg0(program)
            .args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)));
        if grouping == Grouping::OwnGroup {
            command.process_group(0);
        }
        command
    };
    let spawned = match command(None).spawn() {
        // As execvp and exec mode do: a file without "#!" is a shell script.
        Err(e) if e.raw_os_error() == Some(libc::ENOEXEC) => command(Some("/bin/sh")).spawn(),
        spawned => spawned,
    };
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            signals.handle().close();
            return Err(SpawnError::Program(match e.raw_os_error() {
                Some(libc::ENOENT) => ExecError::NoSuchFile { path },
                _ => ExecError::CannotExecute { path, error: e },
            }));
        }
    };
    let command_pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    if let Some(limit) = nofile {
        // The limit stsexec was started with, as exec mode would leave it; set from outside,
        // as the command starts (std has no safe hook between fork and exec).
        let _ = rustix::process::prlimit(
            rustix::process::Pid::from_raw(command_pid),
            rustix::process::Resource::Nofile,
            limit,
        );
    }
    // A pidfd names this child and no other: once it is reaped, a late relay fails with ESRCH
    // instead of reaching a process that reused the pid.
    let pidfd = rustix::process::Pid::from_raw(command_pid).and_then(|pid| {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
    });
    let own_pgrp = rustix::process::getpgrp().as_raw_nonzero().get();
    let mut decide = Relay::new(grouping, command_pid, own_pgrp);
    let handle = signals.handle();
    let relay = std::thread::Builder::new()
        .name("stsexec-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                if !decide.relay(origin.signal, sender_of(&origin), Instant::now()) {
                    continue;
                }
                let Some(signal) = rustix::process::Signal::from_named_raw(origin.signal) else {
                    continue;
                };
                match grouping {
                    // The command alone: its group is stsexec's.
                    Grouping::TerminalForeground => {
                        if let Some(fd) = &pidfd {
                            let _ = rustix::process::pidfd_send_signal(fd, signal);
                        }
                    }
                    // The command's whole group, as a terminal signals a job. The group's id
                    // is the command's pid, which no other process can take while the group
                    // has a member; the relay ends when the command is reaped.
                    Grouping::OwnGroup => {
                        if let Some(group) = rustix::process::Pid::from_raw(command_pid) {
                            let _ = rustix::process::kill_process_group(group, signal);
                        }
                    }
                }
            }
        });
    let status = child.wait();
    handle.close();
    if let Ok(relay) = relay {
        let _ = relay.join();
    }
    let status = status.map_err(SpawnError::Wait)?;
    let ended = match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signaled(signal),
        (None, None) => Ended::Exited(i32::from(crate::error::EXIT_FAILED)),
    };
    Ok(Supervised {
        ended,
        group: match grouping {
            Grouping::TerminalForeground => own_pgrp,
            Grouping::OwnGroup => command_pid,
        },
    })
}

impl Ended {
    /// Ends stsexec as the command ended: with its exit status, or by its signal, re-raised
    /// with the default action restored (a shell then sees 128+n, and a core dump where due).
    pub fn exit(self) -> ! {
        match self {
            Ended::Exited(code) => std::process::exit(code),
            Ended::Signaled(signal) => {
                // The default action restored, the signal unblocked and raised: it ends the
                // process as it ended the command (a core dump where due).
                let _ = signal_hook::low_level::emulate_default_handler(signal);
                // Not fatal by default (SIGCHLD, a stop signal), or not one signal-hook
                // knows (a real-time signal): the shell's convention.
                std::process::exit(128 + signal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMAND: i32 = 200;
    const OWN_GROUP: i32 = 100;

    fn process(pid: i32, pgrp: i32) -> Sender {
        Sender::Process {
            pid,
            pgrp: Some(pgrp),
        }
    }

    fn relays(grouping: Grouping, sender: Sender) -> bool {
        Relay::new(grouping, COMMAND, OWN_GROUP).relay(SIGTERM, sender, Instant::now())
    }

    #[test]
    fn on_the_terminal_its_signals_are_not_relayed_twice() {
        assert!(!relays(Grouping::TerminalForeground, Sender::Kernel));
        // The command itself, a process in stsexec's group, a process in the command's group.
        for sender in [
            process(COMMAND, OWN_GROUP),
            process(300, OWN_GROUP),
            process(300, COMMAND),
        ] {
            assert!(!relays(Grouping::TerminalForeground, sender), "{sender:?}");
        }
        // Another process, one gone before its group could be read, no information.
        for sender in [
            process(4242, 4242),
            Sender::Process {
                pid: 4242,
                pgrp: None,
            },
            Sender::Unknown,
        ] {
            assert!(relays(Grouping::TerminalForeground, sender), "{sender:?}");
        }
    }

    #[test]
    fn in_a_group_of_its_own_every_signal_is_relayed_but_the_commands_own() {
        // A script's `kill $!` (stsexec's group), `timeout` or a CI runner signalling the
        // group, a hangup from the kernel: the command gets none of them directly.
        for sender in [
            process(300, OWN_GROUP),
            process(4242, 4242),
            Sender::Kernel,
            Sender::Unknown,
        ] {
            assert!(relays(Grouping::OwnGroup, sender), "{sender:?}");
        }
        for sender in [process(COMMAND, COMMAND), process(300, COMMAND)] {
            assert!(!relays(Grouping::OwnGroup, sender), "{sender:?}");
        }
    }

    #[test]
    fn the_same_signal_within_a_second_is_relayed_once() {
        let mut relay = Relay::new(Grouping::OwnGroup, COMMAND, OWN_GROUP);
        let t0 = Instant::now();
        let later = |ms| t0 + Duration::from_millis(ms);
        // `timeout`: TERM to stsexec, then TERM to its group.
        assert!(relay.relay(SIGTERM, process(300, OWN_GROUP), t0));
        assert!(!relay.relay(SIGTERM, process(300, OWN_GROUP), later(1)));
        // Another signal is another request.
        assert!(relay.relay(SIGINT, process(300, OWN_GROUP), later(2)));
        assert!(!relay.relay(SIGTERM, process(4242, 4242), later(999)));
        // A second later, the same signal is a new request (Terraform's "exit now").
        assert!(relay.relay(SIGTERM, process(4242, 4242), later(1000)));
        // A signal not relayed does not start a window.
        let mut relay = Relay::new(Grouping::TerminalForeground, COMMAND, OWN_GROUP);
        assert!(!relay.relay(SIGINT, Sender::Kernel, t0));
        assert!(relay.relay(SIGINT, process(4242, 4242), later(10)));
    }

    #[test]
    fn a_command_that_cannot_run_exits_126_or_127_as_in_exec_mode() {
        use crate::error::{EXIT_FAILED, EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, Error};
        use crate::server::ServerError;
        let code = |e: SpawnError| Error::from(ServerError::Command(e)).exit_code();
        assert_eq!(
            code(SpawnError::Program(ExecError::NoSuchFile {
                path: "x".into()
            })),
            EXIT_NOT_FOUND
        );
        assert_eq!(
            code(SpawnError::Program(ExecError::NotAnExecutableFile {
                path: "x".into()
            })),
            EXIT_NOT_EXECUTABLE
        );
        assert_eq!(
            code(SpawnError::Wait(std::io::Error::other("x"))),
            EXIT_FAILED
        );
    }
}
