//! The one error type: every failure carries the sentence shown to the user and the exit
//! status it maps to (DESIGN §6), so `main` is the only place that prints and exits.
#![forbid(unsafe_code)]

use std::fmt;

/// Exit status when stsexec itself fails (usage, configuration, keys, STS, prompt), as `env`.
pub const EXIT_FAILED: u8 = 125;
/// Exit status when the command was found but could not be executed, as `env`.
pub const EXIT_NOT_EXECUTABLE: u8 = 126;
/// Exit status when the command was not found, as `env`.
pub const EXIT_NOT_FOUND: u8 = 127;

#[derive(Debug)]
pub enum Error {
    /// stsexec could not produce credentials or could not understand its input.
    Failed(String),
    /// The command exists but cannot be executed.
    NotExecutable(String),
    /// The command does not exist.
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed(message.into())
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Failed(_) => EXIT_FAILED,
            Error::NotExecutable(_) => EXIT_NOT_EXECUTABLE,
            Error::NotFound(_) => EXIT_NOT_FOUND,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Failed(m) | Error::NotExecutable(m) | Error::NotFound(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {}
