//! `key_process` (DESIGN §13): a command in the accounts file that prints the long-lived key as
//! the AWS CLI's process-credential JSON, `{"Version": 1, "AccessKeyId": …, "SecretAccessKey":
//! …}` — pass, 1Password (`op read`), Bitwarden, `secret-tool lookup`, gpg, Vault. And
//! `key_update_process`, which `--rotate` gives the new key's JSON on stdin.
//!
//! Both run through `mfa::process::run_job` as `mfa_process` does: `/bin/sh -c`, the terminal
//! lent for pinentry or a touch, `STSEXEC_ACCOUNT_NAME`, no AWS variable, 60 s, output capped,
//! the whole process group killed on a time-out or Ctrl-C. A command that fails, hangs, floods
//! or prints anything but that JSON is a [`KeyProcessError`]: one sentence naming the command,
//! never repeating what it printed (it may hold the secret).
#![forbid(unsafe_code)]

use crate::env::Environment;
use crate::mfa::Settings;
use crate::mfa::process::{self, Failure, Job, Shown};
use crate::report::Reporter;
use crate::secret::{Secret, is_access_key_id, mask_key_id};
use crate::session::Credentials;
use serde::Deserialize;
use std::fmt;
use zeroize::Zeroizing;

/// The JSON is a few hundred bytes; anything past 64 KiB is not it.
pub const MAX_OUTPUT: u64 = 64 * 1024;

/// The command and where it was configured (`key_process in <accounts file>`).
pub type Command = Shown;

/// Runs the account's `key_process` and returns the long-lived key it printed.
pub fn fetch(
    command: &Command,
    account: &str,
    current: &Environment,
    settings: &Settings,
    report: &Reporter,
) -> Result<Credentials, KeyProcessError> {
    let fail = |why: Why| KeyProcessError {
        account: account.to_string(),
        command: command.clone(),
        action: Action::Fetch,
        why,
    };
    let job = Job {
        command: &command.command,
        env: process::command_env(current, &[("STSEXEC_ACCOUNT_NAME", account)]),
        input: None,
        timeout: settings.process_timeout,
        max_output: MAX_OUTPUT,
        waiting: format!("Waiting for account {account}'s key from {command}…"),
        take_terminal: settings.take_terminal,
    };
    let output = process::run_job(job, report).map_err(|f| fail(Why::Run(f)))?;
    parse(&output).map_err(fail)
}

/// Gives the account's `key_update_process` the new key's JSON on stdin (`--rotate`); it must
/// exit 0. Its stdout is ignored (capped).
pub fn update(
    command: &Command,
    account: &str,
    new: &Credentials,
    current: &Environment,
    settings: &Settings,
    report: &Reporter,
) -> Result<(), KeyProcessError> {
    let input = Zeroizing::new(to_json(new).into_bytes());
    let job = Job {
        command: &command.command,
        env: process::command_env(current, &[("STSEXEC_ACCOUNT_NAME", account)]),
        input: Some(Zeroizing::new(input.to_vec())),
        timeout: settings.process_timeout,
        max_output: MAX_OUTPUT,
        waiting: format!("Waiting for {command} to store account {account}'s new key…"),
        take_terminal: settings.take_terminal,
    };
    process::run_job(job, report)
        .map(drop)
        .map_err(|f| KeyProcessError {
            account: account.to_string(),
            command: command.clone(),
            action: Action::Update,
            why: Why::Run(f),
        })
}

/// The AWS CLI's process-credential JSON for a long-lived key (what `key_update_process` is
/// given, and what a `key_process` prints).
pub fn to_json(keys: &Credentials) -> String {
    let value = serde_json::json!({
        "Version": 1,
        "AccessKeyId": keys.access_key_id,
        "SecretAccessKey": keys.secret_access_key.expose(),
    });
    let text = Zeroizing::new(value.to_string());
    // `value` holds a copy of the secret; serde_json::Value cannot be wiped, so it is dropped
    // at once and the text returned is the one copy left to wipe (by the caller's Zeroizing).
    drop(value);
    text.to_string()
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ProcessJson {
    version: serde_json::Number,
    access_key_id: String,
    secret_access_key: Secret,
    #[serde(default)]
    session_token: Option<Secret>,
}

/// Parses the JSON; the error never holds any of the text.
pub fn parse(output: &[u8]) -> Result<Credentials, Why> {
    let text = std::str::from_utf8(output).map_err(|_| Why::NotJson)?;
    if text.trim().is_empty() {
        return Err(Why::Empty);
    }
    let json: ProcessJson = serde_json::from_str(text).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Why::Shape,
        _ => Why::NotJson,
    })?;
    if json.version.as_u64() != Some(1) {
        return Err(Why::Version);
    }
    if json.session_token.is_some() {
        return Err(Why::Session);
    }
    if !is_access_key_id(&json.access_key_id) {
        return Err(Why::KeyId);
    }
    let secret = json.secret_access_key.expose().trim();
    if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Why::Secret(mask_key_id(&json.access_key_id)));
    }
    Ok(Credentials {
        access_key_id: json.access_key_id,
        secret_access_key: Secret::new(secret),
        session_token: None,
        expiration: None,
    })
}

/// What went wrong with the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    Run(Failure),
    Empty,
    NotJson,
    Shape,
    Version,
    Session,
    KeyId,
    /// The secret is empty or not one word (the key id, masked).
    Secret(String),
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHAPE: &str = r#"{"Version": 1, "AccessKeyId": …, "SecretAccessKey": …}"#;
        match self {
            Why::Run(failure) => failure.fmt(f),
            Why::Empty => write!(f, "printed nothing (it must print {SHAPE})"),
            Why::NotJson => write!(f, "printed something that is not JSON (it must print {SHAPE})"),
            Why::Shape => write!(
                f,
                "printed JSON without the fields of the AWS CLI's process credentials (it must print {SHAPE})"
            ),
            Why::Version => write!(f, "printed a \"Version\" other than 1 (it must print {SHAPE})"),
            Why::Session => f.write_str(
                "printed a session (a SessionToken) where the long-lived key belongs; stsexec makes the sessions itself",
            ),
            Why::KeyId => f.write_str(
                "printed an AccessKeyId that is not an access key id (16 to 128 letters and digits, like AKIA…)",
            ),
            Why::Secret(key) => write!(
                f,
                "printed an empty or malformed SecretAccessKey for key {key} (one word of text)"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Fetch,
    Update,
}

/// Why a `key_process` gave no key, or a `key_update_process` did not store one.
#[derive(Debug, Clone)]
pub struct KeyProcessError {
    pub account: String,
    pub command: Command,
    pub action: Action,
    pub why: Why,
}

impl fmt::Display for KeyProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let KeyProcessError {
            account,
            command,
            action,
            why,
        } = self;
        match action {
            Action::Fetch => write!(
                f,
                "the key command {command} for account {account} {why}; run it yourself to see why, or fix it"
            ),
            Action::Update => write!(
                f,
                "the key update command {command} for account {account} {why}, so the new key may not be stored; run it yourself to see why"
            ),
        }
    }
}

impl std::error::Error for KeyProcessError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MARKER: &str = "SECRETMARKER/long+lived+secret+key";

    fn command(text: &str) -> Command {
        Shown {
            command: text.into(),
            origin: "key_process in /home/jb/aws-creds/accounts.json".into(),
        }
    }

    fn settings() -> Settings {
        Settings {
            process_timeout: Duration::from_secs(2),
            take_terminal: false,
            ..Settings::DEFAULT
        }
    }

    fn run(text: &str) -> Result<Credentials, KeyProcessError> {
        let env = Environment::from_pairs([
            ("PATH", "/usr/bin:/bin"),
            ("AWS_SECRET_ACCESS_KEY", "LEAKED"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "LEAKED"),
        ]);
        fetch(
            &command(text),
            "work",
            &env,
            &settings(),
            &Reporter::new(true, false),
        )
    }

    #[test]
    fn the_aws_cli_shape_is_read() {
        let json = format!(
            r#"{{"Version": 1, "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": " {MARKER}\n", "Extra": true}}"#
        );
        let keys = parse(json.as_bytes()).unwrap();
        assert_eq!(keys.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(keys.secret_access_key.expose(), MARKER);
        let back = parse(to_json(&keys).as_bytes()).unwrap();
        assert_eq!(back.secret_access_key.expose(), MARKER);
    }

    #[test]
    fn bad_json_is_named_and_never_repeated() {
        let cases: [(&str, Why); 7] = [
            ("", Why::Empty),
            (MARKER, Why::NotJson),
            (&format!(r#"{{"Version": "{MARKER}"}}"#), Why::Shape),
            (
                &format!(
                    r#"{{"Version": 2, "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{MARKER}"}}"#
                ),
                Why::Version,
            ),
            (
                &format!(
                    r#"{{"Version": 1, "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{MARKER}", "SessionToken": "x"}}"#
                ),
                Why::Session,
            ),
            (
                &format!(r#"{{"Version": 1, "AccessKeyId": "{MARKER}", "SecretAccessKey": "x"}}"#),
                Why::KeyId,
            ),
            (
                r#"{"Version": 1, "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "two words"}"#,
                Why::Secret("AKIA…MPLE".into()),
            ),
        ];
        for (text, why) in cases {
            let got = parse(text.as_bytes()).unwrap_err();
            assert_eq!(got, why, "{text}");
            assert!(!got.to_string().contains("SECRETMARKER"), "{got}");
        }
    }

    #[test]
    fn a_command_prints_the_key_with_no_aws_variable_in_sight() {
        let keys = run(&format!(
            r#"[ -z "$AWS_SECRET_ACCESS_KEY$ACTIONS_ID_TOKEN_REQUEST_TOKEN" ] || exit 9
[ "$STSEXEC_ACCOUNT_NAME" = work ] || exit 8
echo '{{"Version": 1, "AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "{MARKER}"}}'"#
        ))
        .unwrap();
        assert_eq!(keys.secret_access_key.expose(), MARKER);
    }

    #[test]
    fn failing_hanging_flooding_and_garbage_commands_are_sentences_naming_the_command() {
        let error = run("echo oops >&2; exit 3").unwrap_err();
        assert_eq!(
            error.to_string(),
            "the key command `echo oops >&2; exit 3` (from key_process in /home/jb/aws-creds/accounts.json) for account work exited with status 3; run it yourself to see why, or fix it"
        );
        let started = std::time::Instant::now();
        let error = run("sleep 30").unwrap_err();
        assert_eq!(
            error.why,
            Why::Run(Failure::TimedOut(Duration::from_secs(2)))
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        let error = run("yes SECRETMARKER").unwrap_err();
        assert_eq!(error.why, Why::Run(Failure::TooMuchOutput(MAX_OUTPUT)));
        let error = run("echo SECRET''MARKER").unwrap_err();
        assert_eq!(error.why, Why::NotJson);
        assert!(!error.to_string().contains("SECRETMARKER"), "{error}");
    }

    #[test]
    fn the_update_command_gets_the_new_json_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("got");
        let keys = Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new(MARKER),
            session_token: None,
            expiration: None,
        };
        update(
            &command(&format!("cat > '{}'", out.display())),
            "work",
            &keys,
            &Environment::from_pairs([("PATH", "/usr/bin:/bin")]),
            &settings(),
            &Reporter::new(true, false),
        )
        .unwrap();
        let got = parse(&std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(got.secret_access_key.expose(), MARKER);
        let error = update(
            &command("exit 1"),
            "work",
            &keys,
            &Environment::default(),
            &settings(),
            &Reporter::new(true, false),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the key update command `exit 1`")
        );
    }
}
