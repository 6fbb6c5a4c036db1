//! The command as stsexec's child, supervised as sudo-rs's `exec/no_pty.rs` does: it stays in
//! stsexec's process group, so the terminal's signals (Ctrl-C, Ctrl-\, Ctrl-Z) reach it
//! directly; signals another process sends to stsexec itself are relayed to it once; stsexec
//! waits for it and ends with its status. Each signal's origin (siginfo: cause and sender)
//! tells the two kinds apart: the terminal's come from the kernel.
#![forbid(unsafe_code)]

use crate::exec::{self, ExecError};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::{Cause, Origin};
use std::ffi::{OsStr, OsString};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::Command;

/// The signals relayed to the command when another process sends them to stsexec.
pub const RELAYED: [i32; 6] = [SIGTERM, SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2];

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Signaled(i32),
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

/// Whether a signal stsexec received must be sent on to the command. Not when the terminal
/// sent it (the command, in the same foreground group, has it already: Terraform takes a second
/// Ctrl-C as "exit now"), nor when the command or a process of stsexec's group (which holds the
/// command) sent it, as sudo decides; a signal from any other process is for the command.
pub fn should_relay(sender: Sender, command_pid: i32, own_pgrp: i32) -> bool {
    match sender {
        Sender::Kernel => false,
        Sender::Process { pid, pgrp } => {
            pid != command_pid && pgrp != Some(own_pgrp) && pgrp != Some(command_pid)
        }
        Sender::Unknown => true,
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
pub fn run(
    program: &OsStr,
    args: &[OsString],
    env: &[(OsString, OsString)],
    path_var: Option<&OsStr>,
) -> Result<Ended, SpawnError> {
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
    let spawned = Command::new(&path)
        .arg0(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            signals.handle().close();
            let shown = path.display();
            return Err(SpawnError::Program(match e.raw_os_error() {
                Some(libc::ENOENT) => {
                    ExecError::NotFound(format!("{shown}: no such file or directory"))
                }
                _ => ExecError::NotExecutable(format!("{shown}: cannot execute: {e}")),
            }));
        }
    };
    let command_pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    // A pidfd names this child and no other: once it is reaped, a late relay fails with ESRCH
    // instead of reaching a process that reused the pid.
    let pidfd = rustix::process::Pid::from_raw(command_pid).and_then(|pid| {
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()
    });
    let own_pgrp = rustix::process::getpgrp().as_raw_nonzero().get();
    let handle = signals.handle();
    let relay = std::thread::Builder::new()
        .name("stsexec-signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                if !should_relay(sender_of(&origin), command_pid, own_pgrp) {
                    continue;
                }
                let Some(signal) = rustix::process::Signal::from_named_raw(origin.signal) else {
                    continue;
                };
                if let Some(fd) = &pidfd {
                    let _ = rustix::process::pidfd_send_signal(fd, signal);
                }
            }
        });
    let status = child.wait();
    handle.close();
    if let Ok(relay) = relay {
        let _ = relay.join();
    }
    let status = status.map_err(SpawnError::Wait)?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => Ended::Exited(code),
        (None, Some(signal)) => Ended::Signaled(signal),
        (None, None) => Ended::Exited(i32::from(crate::error::EXIT_FAILED)),
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

    #[test]
    fn terminal_signals_are_not_relayed_twice() {
        assert!(!should_relay(Sender::Kernel, 200, 100));
    }

    #[test]
    fn the_command_and_its_group_are_not_answered_with_their_own_signal() {
        // The command itself, a process in stsexec's group, a process in the command's group.
        let own = |pid, pgrp| Sender::Process {
            pid,
            pgrp: Some(pgrp),
        };
        assert!(!should_relay(own(200, 100), 200, 100));
        assert!(!should_relay(own(300, 100), 200, 100));
        assert!(!should_relay(own(300, 200), 200, 100));
    }

    #[test]
    fn another_process_is_relayed() {
        let other = Sender::Process {
            pid: 4242,
            pgrp: Some(4242),
        };
        assert!(should_relay(other, 200, 100));
        // Gone before its group could be read: still another process.
        let gone = Sender::Process {
            pid: 4242,
            pgrp: None,
        };
        assert!(should_relay(gone, 200, 100));
        assert!(should_relay(Sender::Unknown, 200, 100));
    }
}
