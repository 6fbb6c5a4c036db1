//! Status, warning and debug lines on stderr; stdout belongs to the command.
//! Callers pass names and masked key ids only, never a secret. A closed or broken stderr is
//! not an error: the line is dropped (`eprintln!` would panic and abort the run).
#![forbid(unsafe_code)]

use std::io::Write;

fn line(text: std::fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    quiet: bool,
    verbose: bool,
}

impl Reporter {
    pub fn new(quiet: bool, verbose: bool) -> Self {
        Reporter { quiet, verbose }
    }

    /// The seed's status lines ("Cache is valid for account work"); silenced by `-q`.
    pub fn status(&self, text: impl AsRef<str>) {
        if !self.quiet {
            line(format_args!("{}", text.as_ref()));
        }
    }

    /// Something the user should fix; shown even with `-q`.
    pub fn warn(&self, text: impl AsRef<str>) {
        line(format_args!("stsexec: warning: {}", text.as_ref()));
    }

    /// A decision, shown with `-v`.
    pub fn debug(&self, text: impl AsRef<str>) {
        if self.verbose {
            line(format_args!("stsexec: {}", text.as_ref()));
        }
    }
}
