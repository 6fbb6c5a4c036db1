//! The MFA code typed on the controlling terminal (`/dev/tty`), never from stdin, which
//! belongs to the command. Without a terminal it fails at once.
#![forbid(unsafe_code)]

use crate::secret::MfaCode;
use std::fmt;
use std::fs::OpenOptions;

const TRIES: usize = 3;

#[derive(Debug)]
pub enum PromptError {
    NoTerminal { account: String },
    Unreadable { account: String, cause: String },
    GaveUp { account: String },
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::NoTerminal { account } => write!(
                f,
                "account {account} needs an MFA code but there is no terminal to ask on; pass it with -t/--token CODE"
            ),
            PromptError::Unreadable { account, cause } => write!(
                f,
                "cannot read the MFA code for account {account} from the terminal ({cause}); pass it with -t/--token CODE"
            ),
            PromptError::GaveUp { account } => write!(
                f,
                "no MFA code for account {account} after {TRIES} tries (an MFA code is 6 digits)"
            ),
        }
    }
}

impl std::error::Error for PromptError {}

/// Asks on `/dev/tty` up to three times for a well-formed code.
pub fn ask_code(account: &str, serial: &str) -> Result<MfaCode, PromptError> {
    // Opening the terminal first turns "no terminal" into an immediate, explained failure
    // instead of an error from deep inside the prompt library (or a hang on a pipe).
    if OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_err()
    {
        return Err(PromptError::NoTerminal {
            account: account.to_string(),
        });
    }
    for attempt in 1..=TRIES {
        let typed = zeroize::Zeroizing::new(
            rpassword::prompt_password(format!("MFA code for {account} ({serial}): ")).map_err(
                |e| PromptError::Unreadable {
                    account: account.to_string(),
                    cause: e.to_string(),
                },
            )?,
        );
        match MfaCode::parse(&typed) {
            Ok(code) => return Ok(code),
            Err(why) if attempt < TRIES => eprintln!("stsexec: {why}; try again"),
            Err(_) => {}
        }
    }
    Err(PromptError::GaveUp {
        account: account.to_string(),
    })
}
