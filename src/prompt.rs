//! The MFA code: from `-t/--token`, else typed on the controlling terminal (`/dev/tty`), never
//! from stdin, which belongs to the command. Without a terminal it fails at once.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use std::fs::OpenOptions;

const TRIES: usize = 3;

/// An MFA code is six digits; surrounding spaces are forgiven, inner ones are not.
pub fn check_code(raw: &str) -> std::result::Result<String, String> {
    let code = raw.trim();
    if code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code.to_string())
    } else {
        Err(format!(
            "{:?} is not an MFA code: it has 6 digits",
            if code.chars().count() > 20 {
                "…"
            } else {
                code
            }
        ))
    }
}

/// Asks on `/dev/tty` up to three times for a well-formed code.
pub fn ask_code(user: &str, account: &str) -> Result<String> {
    // Opening the terminal first turns "no terminal" into an immediate, explained failure
    // instead of an error from deep inside the prompt library (or a hang on a pipe).
    if let Err(e) = OpenOptions::new().read(true).write(true).open("/dev/tty") {
        return Err(Error::failed(format!(
            "account {account} needs an MFA code but there is no terminal to ask on ({e}); pass it with -t/--token CODE"
        )));
    }
    let mut attempt = 1;
    loop {
        let typed = rpassword::prompt_password(format!("Enter token for user {user}: "))
            .map_err(|e| {
                Error::failed(format!(
                    "cannot read the MFA code for account {account} from the terminal: {e}; pass it with -t/--token CODE"
                ))
            })?;
        match check_code(&typed) {
            Ok(code) => return Ok(code),
            Err(why) if attempt < TRIES => {
                eprintln!("{why}; try again");
                attempt += 1;
            }
            Err(why) => {
                return Err(Error::failed(format!(
                    "{why}; gave up after {TRIES} tries (account {account})"
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        assert_eq!(check_code("123456").unwrap(), "123456");
        assert_eq!(check_code(" 123456\n").unwrap(), "123456");
        for bad in ["12345", "1234567", "12a456", "123 456", "", "１２３４５６"] {
            assert!(check_code(bad).is_err(), "{bad}");
        }
    }
}
