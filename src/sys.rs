//! Every `unsafe` block of stsexec, each behind a safe function with a `// SAFETY:` comment.
//! The rest of the crate denies `unsafe_code` (lib.rs) and most modules forbid it; what the
//! safe crates (rustix, signal-hook) cover is done with them, and only what they lack is here.
#![allow(unsafe_code)]

/// Whether `signal`'s disposition is "ignored", as stsexec inherited it: a background job of a
/// non-interactive shell starts with SIGINT and SIGQUIT ignored, and the `--server` supervisor
/// leaves those so for the command instead of catching them. Nothing is changed. rustix has no
/// safe sigaction and signal-hook none that only reads.
pub fn signal_is_ignored(signal: i32) -> bool {
    let mut old = std::mem::MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a null new action only reads the current one into `old`, which is valid for
    // writes of a sigaction; nothing is changed.
    let rc = unsafe { libc::sigaction(signal, std::ptr::null(), old.as_mut_ptr()) };
    // SAFETY: sigaction succeeded and filled `old` (and it was zeroed before in any case).
    rc == 0 && unsafe { old.assume_init() }.sa_sigaction == libc::SIG_IGN
}

/// `signal` blocked on the calling thread while this lives (only this thread's mask changes;
/// the old mask comes back on drop). The MFA and key prompts' command runner takes the terminal
/// back from a command's process group with SIGTTOU blocked: a background process's
/// tcsetpgrp/tcsetattr would otherwise stop it. rustix's sigprocmask is not public API and
/// signal-hook has none.
pub struct SignalBlocked {
    old: libc::sigset_t,
}

impl SignalBlocked {
    pub fn new(signal: i32) -> SignalBlocked {
        // SAFETY: sigemptyset/sigaddset initialise and fill a sigset_t owned here (zeroed
        // first); pthread_sigmask reads `set` and writes the previous mask to `old`, both valid
        // for the call. Blocking a signal on this thread has no memory-safety effect.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&raw mut set);
            libc::sigaddset(&raw mut set, signal);
            libc::pthread_sigmask(libc::SIG_BLOCK, &raw const set, &raw mut old);
            SignalBlocked { old }
        }
    }
}

impl Drop for SignalBlocked {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in `new`; the pointer is valid for the call.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &raw const self.old, std::ptr::null_mut());
        }
    }
}

/// What Rust's runtime does before `fn main` and stsexec still needs where main.rs names the C
/// entry point itself (skipping that runtime saves its stack-overflow handler's set-up: reading
/// `/proc/self/maps`, an alternate signal stack, a dozen system calls — 4 % of a cache hit).
/// File descriptors 0–2 that are closed are opened on `/dev/null`, so no file stsexec opens
/// can become its stdout or stderr; SIGPIPE is ignored, so a write to a closed pipe is an
/// error stsexec reports instead of its death (std's `exec` restores the default for the
/// command, as it does after Rust's own runtime).
pub fn start_as_rust_runtime_would() {
    let mut fds = [0, 1, 2].map(|fd| libc::pollfd {
        fd,
        events: 0,
        revents: 0,
    });
    loop {
        // SAFETY: `fds` is a valid array of three pollfd for the call; a zero timeout returns
        // at once. poll reports a closed descriptor as POLLNVAL without touching it.
        let rc = unsafe { libc::poll(fds.as_mut_ptr(), 3, 0) };
        if rc >= 0 {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // As Rust's runtime does: fall back to asking each descriptor.
            for pfd in &mut fds {
                // SAFETY: F_GETFD only reads the descriptor's flags; any int is valid.
                let open = unsafe { libc::fcntl(pfd.fd, libc::F_GETFD) } != -1;
                pfd.revents = if open { 0 } else { libc::POLLNVAL };
            }
            break;
        }
    }
    for pfd in fds {
        if pfd.revents & libc::POLLNVAL != 0 {
            // open returns the lowest free descriptor: the closed one, which stays open
            // for the life of the process.
            match rustix::fs::open(
                "/dev/null",
                rustix::fs::OFlags::RDWR,
                rustix::fs::Mode::empty(),
            ) {
                Ok(fd) => std::mem::forget(fd),
                // Rust's runtime aborts here too: stsexec cannot run without its stderr.
                Err(_) => std::process::abort(),
            }
        }
    }
    // SAFETY: SIG_IGN installs no handler code; nothing else has set up signals this early.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_disposition() {
        // The test harness neither ignores SIGUSR2 nor SIGTERM; Rust ignores SIGPIPE.
        assert!(!signal_is_ignored(libc::SIGTERM));
        assert!(signal_is_ignored(libc::SIGPIPE));
        assert!(
            !signal_is_ignored(0x7fff),
            "an invalid signal is not ignored"
        );
    }
}
