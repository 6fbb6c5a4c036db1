//! The passphrase of an age-encrypted key (DESIGN §13): asked on the controlling terminal with
//! the MFA prompt's rules — `/dev/tty` only, echo off, the terminal restored on every way out
//! (signals included: `mfa::prompt`), a time-out, and no terminal → an error at once that names
//! the unattended ways (`key_process`, `STSEXEC_AGE_IDENTITY`). The passphrase lives in a
//! zeroizing type whose `Debug` is redacted.
#![forbid(unsafe_code)]

use crate::mfa::Settings;
use crate::mfa::prompt::{Entry, Terminal};
use crate::secret::REDACTED;
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// Entries asked for (wrong, empty and mismatched ones included).
pub const TRIES: u32 = 3;

/// A passphrase: wiped on drop, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    pub fn new(text: impl Into<String>) -> Passphrase {
        Passphrase(Zeroizing::new(text.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The age crate's type (secrecy's: wiped on drop too).
    pub(crate) fn to_age(&self) -> age::secrecy::SecretString {
        age::secrecy::SecretString::from(self.0.as_str().to_owned())
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Where passphrases come from: the terminal, or (after writing a file, to read it back)
/// the one just typed.
pub trait Passphrases {
    /// The next passphrase to try; `retry` = the previous one did not open the file.
    fn next(&mut self, retry: bool) -> Result<Passphrase, PassphraseError>;
}

/// One passphrase already known (`--add` reads back what it wrote with it): a retry is an
/// error, never a prompt.
pub struct Known {
    pub account: String,
    pub passphrase: Passphrase,
}

impl Passphrases for Known {
    fn next(&mut self, retry: bool) -> Result<Passphrase, PassphraseError> {
        if retry {
            return Err(PassphraseError::TooManyTries {
                account: self.account.clone(),
            });
        }
        Ok(self.passphrase.clone())
    }
}

/// The prompt `Passphrase for work's key: ` on `/dev/tty`.
pub struct Prompt {
    account: String,
    timeout: Duration,
    /// `false` while `--server`'s command owns the terminal: no prompt, an error.
    may_prompt: bool,
    terminal: Option<Terminal>,
    tries: u32,
}

impl Prompt {
    pub fn new(account: &str, settings: &Settings) -> Prompt {
        Prompt {
            account: account.to_string(),
            timeout: settings.prompt_timeout,
            may_prompt: settings.take_terminal,
            terminal: None,
            tries: 0,
        }
    }

    fn terminal(&mut self) -> Result<&mut Terminal, PassphraseError> {
        if !self.may_prompt {
            return Err(PassphraseError::NoTerminal {
                account: self.account.clone(),
            });
        }
        if self.terminal.is_none() {
            let terminal = Terminal::open().map_err(|_| PassphraseError::NoTerminal {
                account: self.account.clone(),
            })?;
            self.terminal = Some(terminal);
        }
        Ok(self.terminal.as_mut().expect("just opened"))
    }

    /// One hidden entry; `None` for an empty one.
    fn entry(&mut self, text: &str) -> Result<Option<Passphrase>, PassphraseError> {
        let account = self.account.clone();
        let timeout = self.timeout;
        let terminal = self.terminal()?;
        let entry = terminal
            .read_hidden(text, timeout)
            .map_err(|e| PassphraseError::Terminal {
                account: account.clone(),
                error: e.kind(),
            })?;
        match entry {
            Entry::Line(line) if line.is_empty() => Ok(None),
            Entry::Line(line) => Ok(Some(Passphrase(Zeroizing::new(line.to_string())))),
            Entry::Cancelled => Err(PassphraseError::Cancelled { account }),
            Entry::TimedOut => Err(PassphraseError::TimedOut {
                account,
                after: timeout,
            }),
        }
    }

    fn say(&mut self, text: &str) {
        if let Some(terminal) = self.terminal.as_mut() {
            terminal.say(text);
        }
    }

    /// A new passphrase for `--add` / a re-encryption: typed twice, not empty.
    pub fn ask_new(&mut self) -> Result<Passphrase, PassphraseError> {
        let first = format!("New passphrase for {}'s key: ", self.account);
        let again = "The same passphrase again: ";
        loop {
            if self.tries >= TRIES {
                return Err(PassphraseError::TooManyTries {
                    account: self.account.clone(),
                });
            }
            self.tries += 1;
            let Some(passphrase) = self.entry(&first)? else {
                self.say("An empty passphrase protects nothing; type one\n");
                continue;
            };
            let Some(repeated) = self.entry(again)? else {
                self.say("The two entries differ; start again\n");
                continue;
            };
            if repeated != passphrase {
                self.say("The two entries differ; start again\n");
                continue;
            }
            return Ok(passphrase);
        }
    }
}

impl Passphrases for Prompt {
    fn next(&mut self, retry: bool) -> Result<Passphrase, PassphraseError> {
        if retry {
            self.say("That passphrase does not open the key; try again\n");
        }
        let text = format!("Passphrase for {}'s key: ", self.account);
        loop {
            if self.tries >= TRIES {
                return Err(PassphraseError::TooManyTries {
                    account: self.account.clone(),
                });
            }
            self.tries += 1;
            match self.entry(&text)? {
                Some(passphrase) => return Ok(passphrase),
                None if self.tries < TRIES => self.say("The passphrase is empty; try again\n"),
                None => {}
            }
        }
    }
}

/// Why no passphrase was had; each `Display` is one sentence naming the account and the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseError {
    NoTerminal {
        account: String,
    },
    Terminal {
        account: String,
        error: std::io::ErrorKind,
    },
    Cancelled {
        account: String,
    },
    TimedOut {
        account: String,
        after: Duration,
    },
    TooManyTries {
        account: String,
    },
}

impl fmt::Display for PassphraseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PassphraseError::NoTerminal { account } => write!(
                f,
                "account {account}'s key is encrypted to a passphrase and there is no terminal to ask it on; run stsexec on a terminal once (the session it caches needs no passphrase), or keep the key where no prompt is needed: a key_process in the accounts file or an age identity (STSEXEC_AGE_IDENTITY)"
            ),
            PassphraseError::Terminal { account, error } => write!(
                f,
                "cannot read the passphrase for account {account}'s key from the terminal ({error}); run stsexec on a terminal, or use a key_process or STSEXEC_AGE_IDENTITY"
            ),
            PassphraseError::Cancelled { account } => write!(
                f,
                "passphrase prompt for account {account}'s key cancelled; nothing was changed"
            ),
            PassphraseError::TimedOut { account, after } => write!(
                f,
                "no passphrase was typed for account {account}'s key within {}, so the prompt gave up; nothing was changed",
                humantime::format_duration(*after)
            ),
            PassphraseError::TooManyTries { account } => write!(
                f,
                "no usable passphrase for account {account}'s key after {TRIES} tries; nothing was changed"
            ),
        }
    }
}

impl std::error::Error for PassphraseError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let passphrase = Passphrase::new("SECRETMARKER-passphrase");
        assert_eq!(format!("{passphrase:?}"), REDACTED);
        let known = Known {
            account: "work".into(),
            passphrase,
        };
        assert!(!format!("{:?}", known.passphrase).contains("SECRETMARKER"));
    }

    #[test]
    fn a_known_passphrase_is_given_once() {
        let mut known = Known {
            account: "work".into(),
            passphrase: Passphrase::new("p"),
        };
        assert_eq!(known.next(false).unwrap().expose(), "p");
        assert_eq!(
            known.next(true).unwrap_err().to_string(),
            "no usable passphrase for account work's key after 3 tries; nothing was changed"
        );
    }

    #[test]
    fn no_terminal_names_the_unattended_ways() {
        let text = PassphraseError::NoTerminal {
            account: "work".into(),
        }
        .to_string();
        assert!(text.contains("key_process"), "{text}");
        assert!(text.contains("STSEXEC_AGE_IDENTITY"), "{text}");
        assert!(!text.contains('\n'));
    }
}
