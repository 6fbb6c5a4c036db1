//! The common command lines without clap: `ACCOUNT [-- CMD…]` and a few flags around it
//! (`-q`, `-v`, `--mfa`, `--no-session`, `--refresh`, `--role ROLE`, `--json`,
//! `--credential-process`). Building clap's whole `Command` (every flag, its help text, its
//! conflict rules) and checking a line against it costs about 240 000 instructions, two thirds
//! as many as all the rest of a cache hit (BENCHMARKS.md), so [`parse`] reads these forms
//! itself and returns the same [`Cli`] clap would; anything else — another flag, a repeated one, a combination clap refuses, a
//! value it would question — is `None`, and `main` asks clap. The test below compares both
//! parsers over many command lines.
#![forbid(unsafe_code)]

use crate::cli::{
    AddMode, AdminModes, Cli, CompletionQueries, ConsoleFlags, LoginMode, OutputModes, RotateMode,
    ServeMode, SessionFlags, Verbosity, WebIdentityFlags,
};
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The command line (program name first, as `std::env::args_os` gives it) as clap would parse
/// it, when it is one of the simple forms; `None` means: ask clap. `STSEXEC_CONFIG` and
/// `STSEXEC_CREDS_DIR` are read from the process environment, as clap reads them.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Option<Cli> {
    parse_with(args, |name| std::env::var_os(name))
}

/// [`parse`] with the environment given (tests).
fn parse_with(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Option<Cli> {
    let mut args = args.into_iter().skip(1);
    let mut account: Option<OsString> = None;
    let mut command: Vec<OsString> = Vec::new();
    let mut escaped = false;
    let mut seen = Seen(0);
    let mut role: Option<String> = None;
    while let Some(arg) = args.next() {
        let bytes = arg.as_encoded_bytes();
        if bytes == b"--" {
            // `-- CMD…` after the account; `-- ACCOUNT` is clap's.
            account.as_ref()?;
            escaped = true;
            command.extend(args.by_ref());
            break;
        }
        if bytes.first() == Some(&b'-') {
            let flag = match bytes {
                b"-q" | b"--quiet" => Seen::QUIET,
                b"-v" | b"--verbose" => Seen::VERBOSE,
                b"--mfa" => Seen::MFA,
                b"--no-session" => Seen::NO_SESSION,
                b"--refresh" => Seen::REFRESH,
                b"--json" => Seen::JSON,
                b"--credential-process" => Seen::CREDENTIAL_PROCESS,
                b"--role" => {
                    role.is_none().then_some(())?;
                    role = Some(role_value(&args.next()?)?);
                    continue;
                }
                _ => {
                    let value = bytes.strip_prefix(b"--role=")?;
                    role.is_none().then_some(())?;
                    role = Some(role_value(OsStr::new(std::str::from_utf8(value).ok()?))?);
                    continue;
                }
            };
            // A repeated flag: clap refuses it.
            (!seen.has(flag)).then_some(())?;
            seen.0 |= flag;
            continue;
        }
        if bytes.is_empty() {
            return None;
        }
        if account.is_none() {
            account = Some(arg);
        } else {
            // The command's first word: the rest is the command's, whatever it looks like.
            command.push(arg);
            command.extend(args.by_ref());
            break;
        }
    }
    let account = account?;
    // The combinations clap refuses, or may: leave them to it.
    let [
        quiet,
        verbose,
        mfa,
        no_session,
        refresh,
        json,
        credential_process,
    ] = [
        Seen::QUIET,
        Seen::VERBOSE,
        Seen::MFA,
        Seen::NO_SESSION,
        Seen::REFRESH,
        Seen::JSON,
        Seen::CREDENTIAL_PROCESS,
    ]
    .map(|flag| seen.has(flag));
    if (quiet && verbose)
        || (mfa && no_session)
        || (refresh && !mfa && role.is_none())
        || (json && credential_process)
        || ((json || credential_process) && (escaped || !command.is_empty()))
    {
        return None;
    }
    Some(Cli {
        account: Some(account),
        command,
        output: OutputModes {
            json,
            export: None,
            credential_process,
        },
        admin: AdminModes {
            list: false,
            status: false,
            clear: false,
        },
        completion: CompletionQueries { role_names: false },
        serve: ServeMode { server: false },
        session: SessionFlags {
            mfa,
            refresh,
            no_session,
        },
        web: WebIdentityFlags {
            web_identity: None,
            audience: None,
        },
        rotate: RotateMode { rotate: false },
        add: AddMode {
            add: false,
            store: None,
            from_profile: None,
            offline: false,
        },
        login: LoginMode {
            login: false,
            no_browser: false,
        },
        console: ConsoleFlags {
            console: None,
            console_destination: None,
        },
        token: None,
        mfa_process: None,
        mfa_prompt: false,
        role,
        duration: None,
        session_name: None,
        external_id: None,
        region: None,
        config: env_path(&env, "STSEXEC_CONFIG")?,
        creds_dir: env_path(&env, "STSEXEC_CREDS_DIR")?,
        verbosity: Verbosity { quiet, verbose },
    })
}

/// The flags seen so far, one bit each.
struct Seen(u8);

impl Seen {
    const QUIET: u8 = 1;
    const VERBOSE: u8 = 1 << 1;
    const MFA: u8 = 1 << 2;
    const NO_SESSION: u8 = 1 << 3;
    const REFRESH: u8 = 1 << 4;
    const JSON: u8 = 1 << 5;
    const CREDENTIAL_PROCESS: u8 = 1 << 6;

    fn has(&self, flag: u8) -> bool {
        self.0 & flag != 0
    }
}

/// `--role`'s value when clap would take it as it is: UTF-8, not empty, not flag-like.
fn role_value(value: &OsStr) -> Option<String> {
    let text = value.to_str()?;
    (!text.is_empty() && !text.starts_with('-')).then(|| text.to_string())
}

/// A path setting from the environment: `Some(None)` when unset, `Some(Some(path))` when set;
/// `None` (ask clap) when set but empty, which clap refuses.
fn env_path(env: &impl Fn(&str) -> Option<OsString>, name: &str) -> Option<Option<PathBuf>> {
    match env(name) {
        None => Some(None),
        Some(value) if value.is_empty() => None,
        Some(value) => Some(Some(PathBuf::from(value))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Environment;
    use clap::{CommandFactory, FromArgMatches};
    use std::cell::RefCell;

    thread_local! {
        /// clap's command, built once for the thousands of lines compared.
        static COMMAND: RefCell<clap::Command> = RefCell::new(Cli::command());
    }

    fn os(args: &[&str]) -> Vec<OsString> {
        std::iter::once("stsexec")
            .chain(args.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// Every command line built from these words, up to `len` of them.
    fn lines(words: &[&'static str], len: usize) -> Vec<Vec<&'static str>> {
        let mut all = vec![vec![]];
        let mut last = vec![vec![]];
        for _ in 0..len {
            let mut next = Vec::new();
            for line in &last {
                for word in words {
                    let mut longer: Vec<&'static str> = line.clone();
                    longer.push(word);
                    next.push(longer);
                }
            }
            all.extend(next.iter().cloned());
            last = next;
        }
        all
    }

    /// The fast path either declines or returns exactly what clap returns; clap's refusals
    /// are always declined.
    fn same_as_clap(args: &[&str], env: &[(&str, &str)]) -> bool {
        let lookup = |name: &str| {
            env.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
                .or_else(|| std::env::var_os(name))
        };
        let fast = parse_with(os(args), lookup);
        // clap reads the process environment; a variable given here is a flag to it.
        let mut clap_args: Vec<&str> = Vec::new();
        for (name, value) in env {
            let flag = match *name {
                "STSEXEC_CONFIG" => "--config",
                "STSEXEC_CREDS_DIR" => "--creds-dir",
                other => panic!("{other}"),
            };
            clap_args.extend([flag, value]);
        }
        clap_args.extend_from_slice(args);
        let clap = COMMAND.with_borrow_mut(|command| {
            command
                .try_get_matches_from_mut(os(&clap_args))
                .and_then(|matches| Cli::from_arg_matches(&matches))
        });
        match (fast, clap) {
            (None, _) => false,
            (Some(fast), Ok(clap)) => {
                assert_eq!(format!("{fast:?}"), format!("{clap:?}"), "{args:?} {env:?}");
                // And so the same invocation (or the same refusal).
                let current = Environment::default();
                assert_eq!(
                    format!("{:?}", fast.into_invocation(&current)),
                    format!("{:?}", clap.into_invocation(&current)),
                    "{args:?} {env:?}"
                );
                true
            }
            (Some(fast), Err(e)) => {
                panic!("{args:?}: clap refuses ({e}), the fast path gives {fast:?}")
            }
        }
    }

    #[test]
    fn the_fast_path_agrees_with_clap() {
        let words = [
            "work",
            "other",
            "--",
            "-q",
            "-v",
            "--quiet",
            "--mfa",
            "--no-session",
            "--refresh",
            "--role",
            "admin",
            "--role=admin",
            "--json",
            "--credential-process",
            "-t",
            "--help",
            "-",
            "",
            "--role=",
            "-qv",
            "x y",
            "--server",
        ];
        let few = [
            "work",
            "x",
            "--",
            "-q",
            "--mfa",
            "--role",
            "admin",
            "--json",
            "--refresh",
        ];
        let mut taken = 0;
        let mut total = 0;
        for line in lines(&words, 3).into_iter().chain(lines(&few, 4)) {
            total += 1;
            if same_as_clap(&line, &[]) {
                taken += 1;
            }
        }
        // A few longer lines: commands with flag-like words, flags on both sides.
        for line in [
            &["-q", "work", "--", "/bin/true"][..],
            &[
                "work", "--mfa", "--role", "admin", "--", "make", "--mfa", "--", "-q",
            ],
            &["work", "aws", "--version", "--", "x"],
            &["work", "--role", "arn:aws:iam::123456789012:role/x", "true"],
            &["Work", "-v", "--refresh", "--mfa", "--", "env"],
            &["work", "--json", "-q"],
            &[
                "work",
                "--no-session",
                "--role",
                "admin",
                "--refresh",
                "--",
                "true",
            ],
        ] {
            assert!(same_as_clap(line, &[]), "{line:?} is a simple form");
        }
        for env in [
            &[("STSEXEC_CONFIG", "/etc/accounts.json")][..],
            &[("STSEXEC_CREDS_DIR", "/tmp/creds")],
            &[("STSEXEC_CONFIG", "a"), ("STSEXEC_CREDS_DIR", "b")],
        ] {
            assert!(same_as_clap(&["work", "--", "true"], env));
            assert!(same_as_clap(&["-q", "work", "--mfa"], env));
        }
        // Set but empty: clap refuses it; the fast path declines.
        assert!(
            parse_with(os(&["work"]), |n| (n == "STSEXEC_CONFIG")
                .then(OsString::new))
            .is_none()
        );
        assert!(taken > 1000, "{taken} of {total} lines taken");
    }

    #[test]
    fn the_simple_forms_are_taken() {
        for line in [
            &["work"][..],
            &["work", "--", "true"],
            &["-q", "work", "--", "true"],
            &["work", "--mfa", "--", "terraform", "plan"],
            &["work", "--mfa", "--role", "admin", "--", "make"],
            &["work", "--role=admin", "make"],
            &["work", "--json"],
        ] {
            assert!(parse_with(os(line), |_| None).is_some(), "{line:?}");
        }
    }
}
