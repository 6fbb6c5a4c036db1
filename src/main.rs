//! stsexec: run a command with an AWS account's credentials.
//!
//! `main` reads the process environment once, parses the command line into an
//! invocation, calls [`stsexec::run`], and is the one place that
//! prints an error and picks the exit status;
//! on success the process becomes the command.
#![forbid(unsafe_code)]

use clap::Parser;
use std::process::ExitCode;
use stsexec::{Cli, EXIT_FAILED, Environment, HOLDER_ARG0, Outcome};

fn main() -> ExitCode {
    stsexec::no_core_dumps();
    if std::env::args_os().next().as_deref() == Some(std::ffi::OsStr::new(HOLDER_ARG0)) {
        // A --server's port held for the command's descendants (started by stsexec itself).
        stsexec::hold_port(std::env::args_os());
        return ExitCode::SUCCESS;
    }
    let current = Environment::from_process();
    // The common forms without building clap's command (src/fastpath.rs); clap for the rest.
    let parsed = match stsexec::parse_fast(std::env::args_os()) {
        Some(cli) => Ok(cli),
        None => Cli::try_parse_from(std::env::args_os()),
    };
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            let mut text = e.render().to_string();
            // Bare `stsexec`: say where the accounts and the options are, not only what is missing.
            if e.kind() == clap::error::ErrorKind::MissingRequiredArgument
                && std::env::args_os().len() == 1
            {
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
            return ExitCode::from(EXIT_FAILED);
        }
    };
    let run = cli
        .into_invocation(&current)
        .and_then(|invocation| stsexec::run(invocation, &current));
    let error = match run {
        Ok(Outcome::Exit(code)) => return ExitCode::from(code),
        // Will not return if exec succeeds.
        Ok(Outcome::Exec(plan)) => stsexec::exec(&plan, current.get_os("PATH")).into(),
        // --server: the command has ended; exit with its status or re-raise its signal.
        Ok(Outcome::Served(ended)) => ended.exit(),
        Err(error) => error,
    };
    // A closed stderr must not abort stsexec; the exit status still tells.
    let _ = std::io::Write::write_fmt(&mut std::io::stderr(), format_args!("stsexec: {error}\n"));
    ExitCode::from(error.exit_code())
}
