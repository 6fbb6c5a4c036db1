//! The MFA prompt on the controlling terminal (`/dev/tty`, never stdin, which belongs to the
//! command). MFA codes are echoed (`read_echoed`), hidden entries are not (`read_hidden`); the
//! saved modes are restored on every way
//! out: a normal return, an error, a time-out, and SIGINT, SIGTERM, SIGHUP or SIGQUIT while
//! the prompt waits — those are caught through a self-pipe (signal-hook), the terminal is
//! restored, and the signal is raised again with its default action, so the exit status still
//! says "killed by signal" (sudo-rs's `user_term.rs` and `rpassword.rs` are the model).
//!
//! The same terminal is lent to the commands stsexec runs (`mfa_process`, `key_process`:
//! pinentry, "touch your key"): [`Terminal::lend_to`] makes the command's own process group
//! the terminal's foreground group, so it can read the terminal and Ctrl-C reaches it and
//! everything it started, and on the way back [`Lent`] gives the terminal back to stsexec
//! and restores the modes saved before (a killed `stty -echo` leaves no trace).
#![forbid(unsafe_code)]

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::Pid;
use rustix::termios::{LocalModes, OptionalActions, Termios};
use signal_hook::SigId;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};
use zeroize::Zeroizing;

/// The signals that end a prompt (and stsexec) with the terminal restored.
const SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];
/// Canonical-mode lines are at most 4095 bytes on Linux; one read gets a whole line.
const LINE_MAX: usize = 4096;

/// What one prompt got.
pub enum Entry {
    /// A line (or a partial line ended by Ctrl-D), without its newline. Wiped on drop.
    Line(Zeroizing<String>),
    /// Ctrl-D on an empty line.
    Cancelled,
    /// Nothing within the time-out.
    TimedOut,
}

/// The controlling terminal.
pub struct Terminal {
    file: File,
    /// The last entry ended with Ctrl-D after some input, so the cursor needs a new line.
    ended_without_newline: bool,
}

impl Terminal {
    /// Opens `/dev/tty`; fails at once when the process has no controlling terminal.
    pub fn open() -> io::Result<Terminal> {
        let file = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        Ok(Terminal {
            file,
            ended_without_newline: false,
        })
    }

    /// Writes a line of text (a retry notice) to the terminal. Failures are ignored: a notice
    /// is not worth an error.
    pub fn say(&mut self, text: &str) {
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
    }

    /// Shows `prompt`, reads one entry with echo off, and restores the terminal.
    pub fn read_hidden(&mut self, prompt: &str, timeout: Duration) -> io::Result<Entry> {
        self.read_in_mode(prompt, timeout, EchoOff::new)
    }

    /// Shows `prompt` and reads one entry with echo on (a one-time code is not a password:
    /// seeing it avoids typos), restoring the terminal as [`Terminal::read_hidden`] does.
    pub fn read_echoed(&mut self, prompt: &str, timeout: Duration) -> io::Result<Entry> {
        self.read_in_mode(prompt, timeout, LineMode::new)
    }

    /// Reads one entry with the terminal in the mode `enter` sets (undone when its guard
    /// drops). The signal guard comes first, so a signal at any point finds the terminal's
    /// modes restored before it takes its default action.
    fn read_in_mode<M>(
        &mut self,
        prompt: &str,
        timeout: Duration,
        enter: impl FnOnce(File) -> io::Result<M>,
    ) -> io::Result<Entry> {
        let signals = SignalGuard::install()?;
        let mode = enter(self.file.try_clone()?)?;
        self.say(prompt);
        let outcome = self.read_entry(&signals, timeout);
        // Restore first, then let signals act normally again.
        drop(mode);
        match outcome {
            Ok(Outcome::Caught(signal)) => {
                self.say("\n");
                signals.reraise(signal);
                Err(io::Error::from(io::ErrorKind::Interrupted))
            }
            Ok(Outcome::Entry(entry)) => {
                if !matches!(entry, Entry::Line(_)) || self.ended_without_newline {
                    self.say("\n");
                }
                Ok(entry)
            }
            Err(e) => Err(e),
        }
    }

    fn read_entry(&mut self, signals: &SignalGuard, timeout: Duration) -> io::Result<Outcome> {
        self.ended_without_newline = false;
        let deadline = Instant::now() + timeout;
        let mut line = Zeroizing::new(vec![0u8; LINE_MAX]);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Outcome::Entry(Entry::TimedOut));
            }
            let wait = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let (tty_ready, signal_ready) = {
                let mut fds = [
                    PollFd::new(&self.file, PollFlags::IN),
                    PollFd::new(&signals.reader, PollFlags::IN),
                ];
                match rustix::event::poll(&mut fds, Some(&wait)) {
                    Ok(_) => {}
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                (!fds[0].revents().is_empty(), !fds[1].revents().is_empty())
            };
            if signal_ready || signals.caught() != 0 {
                return Ok(Outcome::Caught(signals.caught()));
            }
            if !tty_ready {
                continue;
            }
            let n = match self.file.read(&mut line) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if n == 0 {
                return Ok(Outcome::Entry(Entry::Cancelled));
            }
            let bytes = &line[..n];
            // Without a newline, the read ended at Ctrl-D after a partial entry: that ends
            // the entry too (and the cursor needs a new line).
            let text = match bytes.strip_suffix(b"\n") {
                Some(text) => text,
                None => {
                    self.ended_without_newline = true;
                    bytes
                }
            };
            let text = Zeroizing::new(String::from_utf8_lossy(text).into_owned());
            return Ok(Outcome::Entry(Entry::Line(text)));
        }
    }
}

enum Outcome {
    Entry(Entry),
    Caught(i32),
}

impl Terminal {
    /// Whether stsexec's process group is the terminal's foreground group (so it may lend
    /// the terminal: a run in the background of a shell may not take it).
    pub fn in_foreground(&self) -> bool {
        rustix::termios::tcgetpgrp(&self.file)
            .is_ok_and(|group| group == rustix::process::getpgrp())
    }

    /// Makes `group` (a command's own process group) the terminal's foreground group, after
    /// saving the terminal's modes, and wakes the group in case it touched the terminal
    /// before it was its own (a background read stops the reader). Dropping [`Lent`] gives
    /// the terminal back and restores the modes.
    pub fn lend_to(&self, group: Pid) -> io::Result<Lent> {
        let fd = self.file.try_clone()?;
        let saved = rustix::termios::tcgetattr(&fd)?;
        let ours = rustix::process::getpgrp();
        rustix::termios::tcsetpgrp(&fd, group)?;
        let _ = rustix::process::kill_process_group(group, rustix::process::Signal::CONT);
        Ok(Lent { fd, saved, ours })
    }
}

/// The terminal lent to a command's process group; dropping it takes the terminal back.
pub struct Lent {
    fd: File,
    saved: Termios,
    ours: Pid,
}

impl Drop for Lent {
    fn drop(&mut self) {
        // stsexec is in the background now: the kernel answers a background process's
        // tcsetpgrp/tcsetattr with SIGTTOU (which stops it) unless the signal is blocked,
        // so it is blocked on this thread for the two calls.
        let _blocked = crate::sys::SignalBlocked::new(libc::SIGTTOU);
        let _ = rustix::termios::tcsetpgrp(&self.fd, self.ours);
        let _ = rustix::termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Echo off (newline still echoed) while it lives; the saved modes come back on drop.
struct EchoOff {
    /// A duplicate of the terminal's descriptor (the modes belong to the terminal).
    fd: File,
    saved: Termios,
}

impl EchoOff {
    fn new(fd: File) -> io::Result<Self> {
        let saved = rustix::termios::tcgetattr(&fd)?;
        let mut quiet = saved.clone();
        quiet.local_modes -= LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK;
        quiet.local_modes |= LocalModes::ECHONL | LocalModes::ICANON | LocalModes::ISIG;
        rustix::termios::tcsetattr(&fd, OptionalActions::Now, &quiet)?;
        Ok(EchoOff { fd, saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        // TCSANOW: restoring must not wait for output to drain (a stopped reader could
        // block it); a failure here cannot be reported anywhere useful.
        let _ = rustix::termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// A line-editing terminal with echo (whatever modes a previous program left) while it lives;
/// the saved modes come back on drop.
struct LineMode {
    fd: File,
    saved: Termios,
}

impl LineMode {
    fn new(fd: File) -> io::Result<Self> {
        let saved = rustix::termios::tcgetattr(&fd)?;
        let mut line = saved.clone();
        line.local_modes |= LocalModes::ECHO
            | LocalModes::ECHOE
            | LocalModes::ECHOK
            | LocalModes::ICANON
            | LocalModes::ISIG;
        rustix::termios::tcsetattr(&fd, OptionalActions::Now, &line)?;
        Ok(LineMode { fd, saved })
    }
}

impl Drop for LineMode {
    fn drop(&mut self) {
        let _ = rustix::termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// While the prompt waits, the signals of [`SIGNALS`] only record themselves and wake the
/// prompt through a socket pair. Outside prompts they keep their default action: once
/// signal-hook's handler is installed it stays, so a process-wide "act as default unless a
/// prompt is up" action is registered with it the first time.
pub struct SignalGuard {
    reader: UnixStream,
    caught: Arc<AtomicUsize>,
    ids: Vec<SigId>,
}

static DEFAULT_ACTION: AtomicBool = AtomicBool::new(true);
static DEFAULT_REGISTERED: Once = Once::new();

impl SignalGuard {
    /// Catches INT, TERM, HUP and QUIT until dropped (or [`SignalGuard::reraise`]).
    pub fn install() -> io::Result<SignalGuard> {
        let mut failed = None;
        DEFAULT_REGISTERED.call_once(|| {
            for signal in SIGNALS {
                if let Err(e) =
                    signal_hook::flag::register_conditional_default(signal, &DEFAULT_ACTION)
                {
                    failed = Some(e);
                }
            }
        });
        let (reader, writer) = UnixStream::pair()?;
        let caught = Arc::new(AtomicUsize::new(0));
        let mut guard = SignalGuard {
            reader,
            caught: caught.clone(),
            ids: Vec::new(),
        };
        if let Some(e) = failed {
            return Err(e);
        }
        for signal in SIGNALS {
            let number = usize::try_from(signal).unwrap_or_default();
            guard.ids.push(signal_hook::flag::register_usize(
                signal,
                caught.clone(),
                number,
            )?);
            guard.ids.push(signal_hook::low_level::pipe::register(
                signal,
                writer.try_clone()?,
            )?);
        }
        // From here on the signals are caught (before, they still acted as default, with
        // the terminal untouched).
        DEFAULT_ACTION.store(false, Ordering::SeqCst);
        Ok(guard)
    }

    /// The last signal caught, 0 when none.
    pub fn caught(&self) -> i32 {
        i32::try_from(self.caught.load(Ordering::SeqCst)).unwrap_or(SIGTERM)
    }

    /// Ends the process with `signal`'s default action (the terminal is already restored).
    pub fn reraise(self, signal: i32) {
        drop(self);
        let signal = if signal == 0 { SIGTERM } else { signal };
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
}

impl Drop for SignalGuard {
    fn drop(&mut self) {
        DEFAULT_ACTION.store(true, Ordering::SeqCst);
        for id in self.ids.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}
