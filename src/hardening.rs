//! Process hardening at start: no core dump may hold a secret key or a session.
#![forbid(unsafe_code)]

/// Makes the process non-dumpable (no core file, no ptrace by other users' processes), as
/// ssh-agent and sudo do. `execve` resets dumpability for the command, which so gets the
/// caller's core-dump behaviour back; `RLIMIT_CORE` is left alone for the same reason, since
/// a lowered limit would be inherited by the command.
pub fn no_core_dumps() {
    let _ = rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable);
}
