//! Where MFA codes come from (DESIGN §9), first that applies: `-t CODE`; `--mfa-process CMD`;
//! the account's `mfa_process`; the prompt on `/dev/tty`. A code works once: the ledger
//! remembers the last accepted code of each device and none is sent twice while it could
//! still be valid.
//!
//! The provider builds [`Codes`] from a [`CodeSource`] and, under the account's lock, loops:
//! `next` → GetSessionToken → `accepted` on success, or `next(.., rejected = true)` when STS
//! refused the code. Every error is an [`MfaError`] whose `Display` is the user's sentence.
#![forbid(unsafe_code)]

pub mod ledger;
pub mod process;
pub mod prompt;

use crate::env::Environment;
use crate::files::FileError;
use crate::report::Reporter;
use crate::secret::MfaCode;
use ledger::Decision;
use process::Shown;
use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// Codes asked for at the prompt (malformed, reused and rejected ones included).
pub const TRIES: u32 = 3;

/// Where the code comes from.
#[derive(Debug, Clone)]
pub enum CodeSource {
    /// `-t/--token CODE`.
    Given(MfaCode),
    /// `--mfa-process CMD` or the account's `mfa_process`. `origin` says which, for messages:
    /// `"--mfa-process"` or `"mfa_process in <accounts file>"`.
    Command { command: String, origin: String },
    /// The prompt on `/dev/tty`.
    Terminal,
}

impl CodeSource {
    /// DESIGN §9's order: `-t`; `--mfa-process`; the account's `mfa_process`; the prompt.
    pub fn choose(
        token: Option<MfaCode>,
        flag: Option<&str>,
        account_process: Option<&str>,
        accounts_file: Option<&Path>,
    ) -> CodeSource {
        match (token, flag, account_process) {
            (Some(code), _, _) => CodeSource::Given(code),
            (None, Some(command), _) => CodeSource::Command {
                command: command.to_string(),
                origin: "--mfa-process".to_string(),
            },
            (None, None, Some(command)) => CodeSource::Command {
                command: command.to_string(),
                origin: match accounts_file {
                    Some(path) => format!("mfa_process in {}", path.display()),
                    None => "mfa_process in the accounts file".to_string(),
                },
            },
            (None, None, None) => CodeSource::Terminal,
        }
    }
}

/// What a code is for.
pub struct CodeRequest<'a> {
    pub account: &'a str,
    pub serial: &'a str,
    /// The used-code record, `Cache::codes_path()`: `<creds-dir>/.stsexec~<account>~codes.json`,
    /// next to the account's lock, which guards it.
    pub ledger: &'a Path,
    /// The environment snapshot: the command's environment is built from it, and the
    /// settings below are read from it.
    pub env: &'a Environment,
    pub report: Reporter,
}

/// Time limits, from the environment snapshot (documented in the README's testing notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `STSEXEC_MFA_PROCESS_TIMEOUT` (default 60 s): an `mfa_process` that has not answered is
    /// stopped.
    pub process_timeout: Duration,
    /// `STSEXEC_PROMPT_TIMEOUT` (default 5 min): the prompt gives up.
    pub prompt_timeout: Duration,
    /// `STSEXEC_MFA_STEP` (default 30 s): the TOTP step; tests shorten it so the ledger's
    /// waits take seconds.
    pub step: Duration,
    /// Whether a command may be lent the terminal (pinentry, a touch prompt). Not while
    /// `--server`'s command owns it: a renewal must not take the terminal from it.
    pub take_terminal: bool,
}

impl Settings {
    pub const DEFAULT: Settings = Settings {
        process_timeout: Duration::from_secs(60),
        prompt_timeout: Duration::from_secs(300),
        step: Duration::from_secs(30),
        take_terminal: true,
    };

    pub fn from_env(env: &Environment) -> Result<Settings, MfaError> {
        let read = |name: &'static str, default: Duration| match env.get(name) {
            None => Ok(default),
            Some(text) => humantime::parse_duration(text)
                .ok()
                .filter(|d| *d >= Duration::from_secs(1) && *d <= Duration::from_secs(3600))
                .ok_or_else(|| MfaError::Setting {
                    name,
                    value: text.chars().take(40).collect(),
                }),
        };
        Ok(Settings {
            process_timeout: read("STSEXEC_MFA_PROCESS_TIMEOUT", Self::DEFAULT.process_timeout)?,
            prompt_timeout: read("STSEXEC_PROMPT_TIMEOUT", Self::DEFAULT.prompt_timeout)?,
            step: read("STSEXEC_MFA_STEP", Self::DEFAULT.step)?,
            take_terminal: true,
        })
    }
}

/// The clock, injectable for tests.
#[derive(Clone, Copy)]
pub struct Clock {
    pub now: fn() -> SystemTime,
    pub sleep: fn(Duration),
}

impl Clock {
    pub const REAL: Clock = Clock {
        now: SystemTime::now,
        sleep: std::thread::sleep,
    };
}

/// Codes for one GetSessionToken: remembers what was asked and sent.
pub struct Codes {
    source: CodeSource,
    settings: Settings,
    clock: Clock,
    /// Codes handed out (prompt: entries read, well-formed or not).
    tries: u32,
    /// Codes STS refused.
    rejections: u32,
    /// The last code handed out, so a retry never repeats a refused one.
    last: Option<MfaCode>,
    said_waiting: bool,
    /// A failing command may hand over to the prompt when there is a terminal (DESIGN §9);
    /// never in a `--server` renewal, whose command owns the terminal.
    may_fall_back: bool,
    /// The command failed and codes are typed now.
    fell_back: bool,
    /// What was wrong with each malformed entry typed ("5 digits", "letters"), for the
    /// sentence after the last try.
    malformed: Vec<&'static str>,
}

impl Codes {
    pub fn with_clock(source: CodeSource, settings: Settings, clock: Clock) -> Codes {
        Codes {
            source,
            settings,
            clock,
            tries: 0,
            rejections: 0,
            last: None,
            said_waiting: false,
            may_fall_back: true,
            fell_back: false,
            malformed: Vec::new(),
        }
    }

    /// A fresh `Codes` with the same command and limits, when codes come from a command: the
    /// credential server renews an MFA session with it, without a terminal (DESIGN §8).
    /// The command is not lent the terminal then: the served command owns it.
    pub fn renewal_copy(&self) -> Option<Codes> {
        let settings = Settings {
            take_terminal: false,
            ..self.settings
        };
        matches!(self.source, CodeSource::Command { .. }).then(|| Codes {
            may_fall_back: false,
            ..Codes::with_clock(self.source.clone(), settings, self.clock)
        })
    }

    /// Whether codes come from the terminal (the lock holder can say "prompting").
    pub fn prompts(&self) -> bool {
        self.fell_back || matches!(self.source, CodeSource::Terminal)
    }

    /// The next code to send: never one the ledger says was accepted within 90 s (from a
    /// command: wait for the next step, saying so once; typed: say it was just used and ask
    /// again). `rejected` = STS refused the previous code (typed: ask again within the 3
    /// tries; from a command: wait one step and try once more; `-t`: an error).
    pub fn next(&mut self, req: &CodeRequest, rejected: bool) -> Result<MfaCode, MfaError> {
        if rejected {
            self.rejections += 1;
        }
        let code = match &self.source {
            CodeSource::Given(code) => self.next_given(req, code.clone())?,
            CodeSource::Command { .. } if self.fell_back => self.next_typed(req, rejected)?,
            CodeSource::Command { command, origin } => {
                let shown = Shown {
                    command: command.clone(),
                    origin: origin.clone(),
                };
                match self.next_from_command(req, &shown, rejected) {
                    // DESIGN §9: a failing command on a terminal hands over to the prompt,
                    // saying why in one line — unless Ctrl-C stopped it: the user wants out.
                    Err(MfaError::Process { why, .. })
                        if self.may_fall_back
                            && !rejected
                            && why != process::Failure::Signal(libc::SIGINT) =>
                    {
                        match prompt::Terminal::open() {
                            Ok(mut terminal) => {
                                terminal.say(&format!(
                                    "stsexec: the MFA code command {shown} {why}; type the code instead\n"
                                ));
                                self.fell_back = true;
                                self.next_typed(req, false)?
                            }
                            Err(_) => {
                                return Err(MfaError::Process {
                                    account: req.account.to_string(),
                                    command: shown,
                                    why,
                                });
                            }
                        }
                    }
                    other => other?,
                }
            }
            CodeSource::Terminal => self.next_typed(req, rejected)?,
        };
        self.last = Some(code.clone());
        Ok(code)
    }

    /// STS accepted `code`: record it (the caller holds the account's lock).
    pub fn accepted(&mut self, req: &CodeRequest, code: &MfaCode) -> Result<(), MfaError> {
        ledger::record(
            req.ledger,
            req.serial,
            code,
            (self.clock.now)(),
            self.settings.step,
            &req.report,
        )
        .map_err(MfaError::Ledger)
    }

    fn next_given(&mut self, req: &CodeRequest, code: MfaCode) -> Result<MfaCode, MfaError> {
        if self.rejections > 0 {
            return Err(MfaError::Rejected {
                account: req.account.to_string(),
                serial: req.serial.to_string(),
                from: RejectedSource::Token,
            });
        }
        let entry = ledger::load(req.ledger, req.serial, &req.report);
        match ledger::decide(
            entry.as_ref(),
            &code,
            (self.clock.now)(),
            self.settings.step,
        ) {
            Decision::Send => Ok(code),
            Decision::Reused { .. } => Err(MfaError::GivenCodeUsed {
                account: req.account.to_string(),
            }),
        }
    }

    fn next_from_command(
        &mut self,
        req: &CodeRequest,
        shown: &Shown,
        rejected: bool,
    ) -> Result<MfaCode, MfaError> {
        if self.rejections > 1 {
            return Err(MfaError::Rejected {
                account: req.account.to_string(),
                serial: req.serial.to_string(),
                from: RejectedSource::Command(shown.clone()),
            });
        }
        if rejected {
            let wait = ledger::until_next_step((self.clock.now)(), self.settings.step);
            req.report.status(format!(
                "STS rejected the MFA code from {shown}; waiting {} s for the next one",
                wait.as_secs_f64().ceil()
            ));
            (self.clock.sleep)(wait);
        } else if let Some(wait) = ledger::step_still_current(
            ledger::load(req.ledger, req.serial, &req.report).as_ref(),
            (self.clock.now)(),
            self.settings.step,
        ) {
            // DESIGN §9, one touch per code: the device's last accepted code is of this very
            // step, so the command would print it again; wait for the next step first.
            req.report.status(format!(
                "Waiting {} s for a fresh MFA code (each code works once)",
                wait.as_secs_f64().ceil()
            ));
            self.said_waiting = true;
            (self.clock.sleep)(wait);
        }
        // A command prints the code of the current step: after a wait, the next step's.
        // Three rounds cover the ledger's window even with a command whose clock lags.
        for _ in 0..=ledger::STEPS_VALID {
            let code = process::run(
                shown,
                req.account,
                req.serial,
                req.env,
                &self.settings,
                &req.report,
            )?;
            let entry = ledger::load(req.ledger, req.serial, &req.report);
            let now = (self.clock.now)();
            let decision = match ledger::decide(entry.as_ref(), &code, now, self.settings.step) {
                Decision::Send if self.last.as_ref() == Some(&code) => Decision::Reused {
                    wait: ledger::until_next_step(now, self.settings.step),
                },
                decision => decision,
            };
            match decision {
                Decision::Send => return Ok(code),
                Decision::Reused { wait } => {
                    if !self.said_waiting {
                        req.report.status(format!(
                            "Waiting {} s for a fresh MFA code (each code works once)",
                            wait.as_secs_f64().ceil()
                        ));
                        self.said_waiting = true;
                    }
                    (self.clock.sleep)(wait);
                }
            }
        }
        Err(MfaError::CommandRepeats {
            account: req.account.to_string(),
            command: shown.clone(),
        })
    }

    fn next_typed(&mut self, req: &CodeRequest, rejected: bool) -> Result<MfaCode, MfaError> {
        let out_of_tries = |malformed: &[&'static str]| MfaError::TooManyTries {
            account: req.account.to_string(),
            serial: req.serial.to_string(),
            rejected: self.rejections > 0,
            malformed: malformed.to_vec(),
        };
        let mut terminal = prompt::Terminal::open().map_err(|_| MfaError::NoTerminal {
            account: req.account.to_string(),
        })?;
        let terminal_error = |e: std::io::Error| MfaError::Terminal {
            account: req.account.to_string(),
            error: e.kind(),
        };
        if rejected {
            if self.tries >= TRIES {
                return Err(out_of_tries(&self.malformed));
            }
            terminal.say("STS rejected that code; wait for the next one and type it\n");
        }
        let text = format!("MFA code for {} ({}): ", req.account, req.serial);
        loop {
            if self.tries >= TRIES {
                return Err(out_of_tries(&self.malformed));
            }
            self.tries += 1;
            // Shown as typed: a one-time code is not a password, and typing it blind invites
            // typos (aws-vault echoes it too).
            let entry = terminal
                .read_echoed(&text, self.settings.prompt_timeout)
                .map_err(terminal_error)?;
            let line = match entry {
                prompt::Entry::Line(line) => line,
                prompt::Entry::Cancelled => {
                    return Err(MfaError::Cancelled {
                        account: req.account.to_string(),
                    });
                }
                prompt::Entry::TimedOut => {
                    return Err(MfaError::PromptTimedOut {
                        account: req.account.to_string(),
                        after: self.settings.prompt_timeout,
                    });
                }
            };
            let Ok(code) = MfaCode::parse(&line) else {
                let flaw = malformed(&line);
                self.malformed.push(flaw);
                if self.tries < TRIES {
                    terminal.say(&format!(
                        "An MFA code is 6 digits (spaces are ignored), and that was {flaw}; try again\n"
                    ));
                }
                continue;
            };
            let entry = ledger::load(req.ledger, req.serial, &req.report);
            let reused = self.last.as_ref() == Some(&code)
                || matches!(
                    ledger::decide(
                        entry.as_ref(),
                        &code,
                        (self.clock.now)(),
                        self.settings.step
                    ),
                    Decision::Reused { .. }
                );
            if reused {
                if self.tries < TRIES {
                    terminal.say(
                        "That code was just used (each code works once); wait for the next one and type it\n",
                    );
                }
                continue;
            }
            return Ok(code);
        }
    }
}

/// What is wrong with a typed entry that is not a code, without repeating it: "nothing",
/// "5 digits", "letters", "other characters". Spaces are ignored, as in a code.
fn malformed(line: &str) -> &'static str {
    let text: Vec<char> = line.chars().filter(|c| !c.is_whitespace()).collect();
    let digits = text.iter().filter(|c| c.is_ascii_digit()).count();
    if text.is_empty() {
        "nothing"
    } else if text.iter().any(|c| c.is_alphabetic()) {
        "letters"
    } else if digits < text.len() {
        "other characters than digits"
    } else {
        match digits {
            1 => "1 digit",
            2 => "2 digits",
            3 => "3 digits",
            4 => "4 digits",
            5 => "5 digits",
            7 => "7 digits",
            8 => "8 digits",
            _ => "too many digits",
        }
    }
}

/// Which source a rejected code came from.
#[derive(Debug, Clone)]
pub enum RejectedSource {
    Token,
    Command(Shown),
}

/// Why no code could be had. Each `Display` is one sentence for the user: it names the
/// account, the command or the device, and the fix, and never holds a code.
#[derive(Debug)]
pub enum MfaError {
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
    PromptTimedOut {
        account: String,
        after: Duration,
    },
    TooManyTries {
        account: String,
        serial: String,
        rejected: bool,
        /// What was wrong with the entries that were not codes (see [`malformed`]).
        malformed: Vec<&'static str>,
    },
    GivenCodeUsed {
        account: String,
    },
    Rejected {
        account: String,
        serial: String,
        from: RejectedSource,
    },
    Process {
        account: String,
        command: Shown,
        why: process::Failure,
    },
    CommandRepeats {
        account: String,
        command: Shown,
    },
    Setting {
        name: &'static str,
        value: String,
    },
    Ledger(FileError),
}

impl fmt::Display for MfaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MfaError::NoTerminal { account } => write!(
                f,
                "account {account} needs an MFA code and there is no terminal to ask on; pass it with -t/--token CODE, or name a command that prints it with --mfa-process CMD (or mfa_process in the accounts file)"
            ),
            MfaError::Terminal { account, error } => write!(
                f,
                "cannot read the MFA code for account {account} from the terminal ({error}); pass it with -t/--token CODE or use --mfa-process CMD"
            ),
            MfaError::Cancelled { account } => write!(
                f,
                "MFA code prompt for account {account} cancelled; nothing was changed"
            ),
            MfaError::PromptTimedOut { account, after } => write!(
                f,
                "no MFA code was typed for account {account} within {}, so the prompt gave up; run stsexec again when you have the code",
                humantime::format_duration(*after)
            ),
            MfaError::TooManyTries {
                account,
                serial,
                malformed,
                ..
            } if u32::try_from(malformed.len()).unwrap_or(u32::MAX) >= TRIES => write!(
                f,
                "no MFA code for account {account} after {TRIES} tries: the entries were not codes ({}); type the 6 digits device {serial} shows now (spaces are ignored)",
                malformed.join(", ")
            ),
            MfaError::TooManyTries {
                account,
                serial,
                rejected,
                ..
            } => write!(
                f,
                "no usable MFA code for account {account} after {TRIES} tries{}; check that the codes come from device {serial} and that its clock is right, then run stsexec again",
                if *rejected {
                    " (STS rejected the codes it was sent)"
                } else {
                    ""
                }
            ),
            MfaError::GivenCodeUsed { account } => write!(
                f,
                "-t/--token: that MFA code was already used for account {account} in the last 90 s and STS accepts each code once; wait for the next code and pass that one"
            ),
            MfaError::Rejected {
                account,
                serial,
                from: RejectedSource::Token,
            } => write!(
                f,
                "STS rejected the MFA code for account {account} (device {serial}) given with -t/--token: wait for the next code and try again"
            ),
            MfaError::Rejected {
                account,
                serial,
                from: RejectedSource::Command(shown),
            } => write!(
                f,
                "STS rejected two MFA codes from {shown} for account {account}; check that it prints the codes of device {serial} (STSEXEC_MFA_SERIAL) and that the clock is right"
            ),
            MfaError::Process {
                account,
                command,
                why,
            } => write!(
                f,
                "the MFA code command {command} for account {account} {why}; run it yourself to see why, or fix it"
            ),
            MfaError::CommandRepeats { account, command } => write!(
                f,
                "the MFA code command {command} for account {account} kept printing a code that was already used, even in the next steps; check the clock of the machine or the device"
            ),
            MfaError::Setting { name, value } => write!(
                f,
                "{name}={value:?} is not a duration from 1s to 1h (like 60s); fix or unset it"
            ),
            MfaError::Ledger(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for MfaError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown() -> Shown {
        Shown {
            command: "pass otp aws/work".into(),
            origin: "--mfa-process".into(),
        }
    }

    #[test]
    fn sources_follow_the_design_order() {
        let code = MfaCode::parse("123456").unwrap();
        let file = Path::new("/home/jb/aws-creds/accounts.json");
        assert!(matches!(
            CodeSource::choose(Some(code), Some("a"), Some("b"), Some(file)),
            CodeSource::Given(_)
        ));
        match CodeSource::choose(None, Some("a"), Some("b"), Some(file)) {
            CodeSource::Command { command, origin } => {
                assert_eq!((command.as_str(), origin.as_str()), ("a", "--mfa-process"));
            }
            other => panic!("{other:?}"),
        }
        match CodeSource::choose(None, None, Some("b"), Some(file)) {
            CodeSource::Command { command, origin } => {
                assert_eq!(command, "b");
                assert_eq!(origin, "mfa_process in /home/jb/aws-creds/accounts.json");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            CodeSource::choose(None, None, None, None),
            CodeSource::Terminal
        ));
    }

    #[test]
    fn settings_come_from_the_snapshot() {
        assert_eq!(
            Settings::from_env(&Environment::default()).unwrap(),
            Settings::DEFAULT
        );
        let env = Environment::from_pairs([
            ("STSEXEC_MFA_PROCESS_TIMEOUT", "2s"),
            ("STSEXEC_MFA_STEP", "3s"),
        ]);
        let s = Settings::from_env(&env).unwrap();
        assert_eq!(s.process_timeout, Duration::from_secs(2));
        assert_eq!(s.step, Duration::from_secs(3));
        let bad = Environment::from_pairs([("STSEXEC_MFA_STEP", "0s")]);
        assert_eq!(
            Settings::from_env(&bad).unwrap_err().to_string(),
            "STSEXEC_MFA_STEP=\"0s\" is not a duration from 1s to 1h (like 60s); fix or unset it"
        );
    }

    #[test]
    fn messages_are_whole_sentences() {
        let account = || "work".to_string();
        let serial = || "arn:aws:iam::012123456789:mfa/jb".to_string();
        let cases = [
            (
                MfaError::Process {
                    account: account(),
                    command: shown(),
                    why: process::Failure::Exit(1),
                },
                "the MFA code command `pass otp aws/work` (from --mfa-process) for account work exited with status 1; run it yourself to see why, or fix it",
            ),
            (
                MfaError::Process {
                    account: account(),
                    command: shown(),
                    why: process::Failure::NotACode,
                },
                "the MFA code command `pass otp aws/work` (from --mfa-process) for account work printed something other than an MFA code (it must print only the 6 digits); run it yourself to see why, or fix it",
            ),
            (
                MfaError::Process {
                    account: account(),
                    command: shown(),
                    why: process::Failure::TimedOut(Duration::from_secs(60)),
                },
                "the MFA code command `pass otp aws/work` (from --mfa-process) for account work gave no code within 1m and was stopped; run it yourself to see why, or fix it",
            ),
            (
                MfaError::Cancelled { account: account() },
                "MFA code prompt for account work cancelled; nothing was changed",
            ),
            (
                MfaError::Rejected {
                    account: account(),
                    serial: serial(),
                    from: RejectedSource::Token,
                },
                "STS rejected the MFA code for account work (device arn:aws:iam::012123456789:mfa/jb) given with -t/--token: wait for the next code and try again",
            ),
            (
                MfaError::Rejected {
                    account: account(),
                    serial: serial(),
                    from: RejectedSource::Command(shown()),
                },
                "STS rejected two MFA codes from `pass otp aws/work` (from --mfa-process) for account work; check that it prints the codes of device arn:aws:iam::012123456789:mfa/jb (STSEXEC_MFA_SERIAL) and that the clock is right",
            ),
            (
                MfaError::TooManyTries {
                    account: account(),
                    serial: serial(),
                    rejected: false,
                    malformed: vec!["5 digits"],
                },
                "no usable MFA code for account work after 3 tries; check that the codes come from device arn:aws:iam::012123456789:mfa/jb and that its clock is right, then run stsexec again",
            ),
            (
                MfaError::TooManyTries {
                    account: account(),
                    serial: serial(),
                    rejected: false,
                    malformed: vec!["5 digits", "letters", "7 digits"],
                },
                "no MFA code for account work after 3 tries: the entries were not codes (5 digits, letters, 7 digits); type the 6 digits device arn:aws:iam::012123456789:mfa/jb shows now (spaces are ignored)",
            ),
        ];
        for (error, sentence) in cases {
            assert_eq!(error.to_string(), sentence);
        }
        let no_tty = MfaError::NoTerminal { account: account() }.to_string();
        assert!(no_tty.contains("-t/--token CODE") && no_tty.contains("--mfa-process"));
    }

    #[test]
    fn malformed_entries_are_described_without_being_repeated() {
        for (typed, said) in [
            ("", "nothing"),
            ("   ", "nothing"),
            ("12345", "5 digits"),
            ("123 4567", "7 digits"),
            ("12a456", "letters"),
            ("12-456", "other characters than digits"),
            ("１２３４５６", "other characters than digits"),
            ("1234567890123", "too many digits"),
        ] {
            assert_eq!(malformed(typed), said, "{typed:?}");
        }
    }

    #[test]
    fn a_given_code_used_within_90_s_is_refused_and_a_rejection_ends_it() {
        let dir = tempfile::tempdir().unwrap();
        let ledger = dir.path().join("ledger");
        let env = Environment::default();
        let req = CodeRequest {
            account: "work",
            serial: "arn:aws:iam::012123456789:mfa/jb",
            ledger: &ledger,
            env: &env,
            report: Reporter::new(true, false),
        };
        fn fixed() -> SystemTime {
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000)
        }
        let clock = Clock {
            now: fixed,
            sleep: |_| {},
        };
        let code = MfaCode::parse("123456").unwrap();
        let mut codes =
            Codes::with_clock(CodeSource::Given(code.clone()), Settings::DEFAULT, clock);
        assert_eq!(codes.next(&req, false).unwrap(), code);
        codes.accepted(&req, &code).unwrap();
        assert!(matches!(
            codes.next(&req, true),
            Err(MfaError::Rejected { .. })
        ));
        let mut again = Codes::with_clock(CodeSource::Given(code), Settings::DEFAULT, clock);
        assert!(matches!(
            again.next(&req, false),
            Err(MfaError::GivenCodeUsed { .. })
        ));
    }
}
