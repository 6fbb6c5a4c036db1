//! Status, warning and debug lines on stderr; stdout belongs to the command.
//! Callers pass names and masked key ids only, never a secret.
#![forbid(unsafe_code)]

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
    pub fn status(&self, line: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", line.as_ref());
        }
    }

    /// Something the user should fix; shown even with `-q`.
    pub fn warn(&self, line: impl AsRef<str>) {
        eprintln!("stsexec: warning: {}", line.as_ref());
    }

    /// A decision, shown with `-v`.
    pub fn debug(&self, line: impl AsRef<str>) {
        if self.verbose {
            eprintln!("stsexec: {}", line.as_ref());
        }
    }
}
