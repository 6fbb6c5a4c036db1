//! The command as stsexec's child, supervised as sudo-rs's `exec/no_pty.rs` does: it stays in
//! stsexec's process group, so the terminal's signals (Ctrl-C, Ctrl-\, Ctrl-Z) reach it
//! directly; signals another process sends to stsexec itself are relayed to it once; stsexec
//! waits for it and ends with its status. Each signal's origin (siginfo: cause and sender)
//! tells the two kinds apart: the terminal's come from the kernel.

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

/// Why the command could not be started, with the exit status of DESIGN §6 (126, 127, 125).
#[derive(Debug)]
pub struct SpawnError {
    pub message: String,
    pub exit_code: u8,
}

/// Signal dispositions stsexec inherited as "ignored" stay so for the command (a background
/// job of a non-interactive shell ignores SIGINT and SIGQUIT): those are not caught.
fn inherited_ignored(signal: i32) -> bool {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `old`, which is valid for
    // writes of a sigaction; nothing is changed.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: sigaction succeeded and filled `old` (and it was zeroed before in any case).
    rc == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// Runs the command with `env` as the only environment and waits for it, relaying signals.
pub fn run(
    program: &OsStr,
    args: &[OsString],
    env: &[(OsString, OsString)],
    path_var: Option<&OsStr>,
) -> Result<Ended, SpawnError> {
    let failed = |e: ExecError| {
        let e = crate::error::Error::from(e);
        SpawnError {
            exit_code: e.exit_code(),
            message: e.to_string(),
        }
    };
    let path = exec::find_program(program, path_var).map_err(failed)?;
    // Handlers first, so no signal between spawn and the relay loop is lost.
    let caught: Vec<i32> = RELAYED
        .into_iter()
        .filter(|s| !inherited_ignored(*s))
        .collect();
    let mut signals = SignalsInfo::<WithOrigin>::new(&caught).map_err(|e| SpawnError {
        exit_code: crate::error::EXIT_FAILED,
        message: format!("cannot install the signal handlers for --server: {e}"),
    })?;
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
            return Err(failed(match e.raw_os_error() {
                Some(libc::ENOENT) => ExecError::NoSuchFile { path },
                _ => ExecError::CannotExecute { path, error: e },
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
    let status = status.map_err(|e| SpawnError {
        exit_code: crate::error::EXIT_FAILED,
        message: format!("cannot wait for the command: {e}"),
    })?;
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
                // SAFETY: SIG_DFL is a valid disposition for any catchable signal; resetting it
                // only undoes the handler signal-hook installed, which no other thread needs now
                // that the command has ended.
                unsafe { libc::signal(signal, libc::SIG_DFL) };
                let _ = rustix::process::Signal::from_named_raw(signal).map(|s| {
                    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::zeroed();
                    // SAFETY: `set` is valid for writes; sigemptyset/sigaddset initialize it and
                    // pthread_sigmask unblocks only this one signal in this thread.
                    unsafe {
                        libc::sigemptyset(set.as_mut_ptr());
                        libc::sigaddset(set.as_mut_ptr(), s.as_raw());
                        libc::pthread_sigmask(
                            libc::SIG_UNBLOCK,
                            set.as_ptr(),
                            std::ptr::null_mut(),
                        );
                    }
                });
                // SAFETY: raise sends a signal to this thread; its default action ends the process.
                unsafe { libc::raise(signal) };
                // Not fatal by default (SIGCHLD, a stop signal): the shell's convention.
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
