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
