//! stsexec: run a command with an AWS account's credentials.
//!
//! `main` reads the process environment once, parses the command line into an
//! invocation, calls [`stsexec::run`], and is the one place that
//! prints an error and picks the exit status;
//! on success the process becomes the command.
//!
//! On glibc Linux the C entry point is named here and Rust's runtime set-up is skipped: it
//! installs a stack-overflow handler (reading `/proc/self/maps`, an alternate signal stack) that
//! costs a cache hit 4 %, measured (BENCHMARKS.md); [`stsexec::start_as_rust_runtime_would`]
//! keeps the rest of what it does. Elsewhere std's own `main` runs.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]
// Not `forbid`: naming the C symbol `main` needs `#[unsafe(no_mangle)]`. There is no unsafe
// block here; the crate's are all in `sys`.
#![deny(unsafe_code)]

use clap::Parser;
use stsexec::{Cli, EXIT_FAILED, Environment, HOLDER_ARG0, Outcome};

/// Called by glibc's start-up code with the command line, which std's `args_os` also reads
/// there (glibc hands it to every initialiser), so nothing is taken from these pointers.
#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(
    _argc: std::ffi::c_int,
    _argv: *const *const std::ffi::c_char,
) -> std::ffi::c_int {
    stsexec::start_as_rust_runtime_would();
    // process::exit flushes stdout, as returning from Rust's `fn main` does.
    std::process::exit(i32::from(start()))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu", not(test))))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(start())
}

/// The exit status, when stsexec does not become the command.
fn start() -> u8 {
    stsexec::no_core_dumps();
    let args = || std::env::args_os();
    if args().next().as_deref() == Some(std::ffi::OsStr::new(HOLDER_ARG0)) {
        // A --server's port held for the command's descendants (started by stsexec itself).
        stsexec::hold_port(args());
        return 0;
    }
    let current = Environment::from_process();
    // The common forms without building clap's command (src/fastpath.rs); clap for the rest.
    let parsed = match stsexec::parse_fast(args()) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(args()),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            let mut text = e.render().to_string();
            // Bare `stsexec`: say where the accounts and the options are, not only what is missing.
            if e.kind() == clap::error::ErrorKind::MissingRequiredArgument && args().len() == 1 {
                text = text.replacen(
                    "the following required arguments were not provided:\n  <ACCOUNT>\n",
                    "an ACCOUNT is needed: stsexec --list shows yours, stsexec --help every option\n",
                    1,
                );
            }
            let _ = std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!("stsexec: {}", text.strip_prefix("error: ").unwrap_or(&text)),
            );
            return EXIT_FAILED;
        }
    };
    let run = cli
        .into_invocation(&current)
        .and_then(|invocation| stsexec::run(invocation, &current));
    let error = match run {
        Ok(Outcome::Exit(code)) => return code,
        // Will not return if exec succeeds.
        Ok(Outcome::Exec(plan)) => stsexec::exec(&plan, current.get_os("PATH")).into(),
        // --server: the command has ended; exit with its status or re-raise its signal.
        Ok(Outcome::Served(ended)) => ended.exit(),
        Err(error) => error,
    };
    // A closed stderr must not abort stsexec; the exit status still tells.
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("stsexec: {error}\n"));
    error.exit_code()
}
