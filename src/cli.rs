//! The command line (DESIGN §1). Modes are flags, never subcommands, so no account name is
//! ever shadowed. This definition also feeds the completions and the man page.
#![forbid(unsafe_code)]

use clap::{ArgGroup, Parser};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "stsexec",
    version,
    about = "Run a command with an AWS account's credentials: long-lived keys, a cached MFA session or an assumed role",
    long_about = "Run a command with an AWS account's credentials: long-lived keys, a cached MFA \
session or an assumed role. stsexec resolves the account's keys from the credentials directory, \
reuses a cached session while it is valid or calls STS (GetSessionToken with an MFA code, \
AssumeRole), then replaces itself with COMMAND (default: $SHELL), whose environment holds the \
credentials. The calling shell never holds a secret.",
    after_help = "Examples:\n  stsexec work -- aws sts get-caller-identity\n  stsexec work --mfa -- terraform plan\n  stsexec work -t 123456 --role admin -- make deploy\n  stsexec personal\n  eval \"$(stsexec work --mfa --export)\"\n  stsexec --status",
    group(ArgGroup::new("session_kind").multiple(true).args(["mfa", "token", "role"])),
    group(ArgGroup::new("output").args(["json", "export", "credential_process"])),
    group(ArgGroup::new("session_options").multiple(true).args([
        "mfa", "token", "role", "duration", "session_name", "external_id", "region", "refresh", "no_session",
    ]))
)]
pub struct Cli {
    /// Account name: selects <account>.access_key/.secret_key and the accounts-file entry
    #[arg(
        value_name = "ACCOUNT",
        value_parser = clap::value_parser!(OsString),
        required_unless_present_any = ["list", "status", "clear"]
    )]
    pub account: Option<OsString>,

    /// Command to run with the credentials (default: $SHELL, else /bin/sh)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString),
        conflicts_with_all = ["output", "clear"]
    )]
    pub command: Vec<OsString>,

    /// Print the credentials as JSON (access_key, expiration, secret_key, session_token) instead of running a command
    #[arg(long, help_heading = "Modes")]
    pub json: bool,

    /// Print shell statements that set the credentials (sh or fish) instead of running a command; this puts secrets in your shell
    #[arg(
        long,
        value_name = "SHELL",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "sh",
        help_heading = "Modes"
    )]
    pub export: Option<ExportShell>,

    /// Print the AWS CLI's credential_process JSON instead of running a command
    #[arg(long, help_heading = "Modes")]
    pub credential_process: bool,

    /// List accounts, their keys and cached sessions (with -q: account names only)
    #[arg(
        long,
        help_heading = "Modes",
        conflicts_with_all = ["account", "output", "session_options", "status", "clear"]
    )]
    pub list: bool,

    /// Tell which credentials the current environment holds; exit 1 when none
    #[arg(
        long,
        help_heading = "Modes",
        conflicts_with_all = ["account", "output", "session_options", "clear"]
    )]
    pub status: bool,

    /// Forget the cached sessions of ACCOUNT (of all accounts without one)
    #[arg(long, help_heading = "Modes", conflicts_with_all = ["output", "session_options"])]
    pub clear: bool,

    /// Use the account's MFA session: the cached one while valid, else prompt for a code and call GetSessionToken
    #[arg(long)]
    pub mfa: bool,

    /// The MFA code (6 digits) instead of a prompt; implies --mfa
    #[arg(short = 't', long, value_name = "CODE")]
    pub token: Option<String>,

    /// Assume <prefix>role/ROLE (a full role ARN is accepted too)
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,

    /// Session lifetime, e.g. 90m or 12h. GetSessionToken: 15m-36h (default 12h); AssumeRole: 15m-12h (default 1h, at most 1h from an MFA session)
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// AssumeRole session name (default: <user>-stsexec)
    #[arg(long, value_name = "NAME", requires = "role")]
    pub session_name: Option<String>,

    /// AssumeRole external id
    #[arg(long, value_name = "ID", requires = "role")]
    pub external_id: Option<String>,

    /// Region for the command and for STS (default: the account's, else AWS_DEFAULT_REGION/AWS_REGION, else us-east-1)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Fetch a new session even if the cached one is valid (the cache is then updated)
    #[arg(long, requires = "session_kind")]
    pub refresh: bool,

    /// Use the long-lived keys even if an MFA session is cached
    #[arg(long, conflicts_with_all = ["mfa", "token"])]
    pub no_session: bool,

    /// Accounts file [default: <creds-dir>/accounts.json, then /etc/default/aws-sts-helpers/accounts.json]
    #[arg(long, value_name = "FILE", env = "STSEXEC_CONFIG")]
    pub config: Option<PathBuf>,

    /// Credentials directory [default: ~/aws-creds]
    #[arg(long, value_name = "DIR", env = "STSEXEC_CREDS_DIR")]
    pub creds_dir: Option<PathBuf>,

    /// No status lines
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Debug lines: decisions, file names and masked key ids (never secrets)
    #[arg(short, long)]
    pub verbose: bool,
}

/// The shells `--export` writes for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportShell {
    Sh,
    Fish,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("{e}; write it like 90m, 12h or 1h30m"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stsexec").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_follows_the_account_with_or_without_dashes() {
        let cli = parse(&["work", "--mfa", "--", "aws", "--version"]).unwrap();
        assert!(cli.mfa);
        assert_eq!(cli.command, ["aws", "--version"]);
        let cli = parse(&["work", "-t", "123456", "env", "-0", "--mfa"]).unwrap();
        assert_eq!(cli.token.as_deref(), Some("123456"));
        assert!(!cli.mfa, "flags after the command belong to it");
        assert_eq!(cli.command, ["env", "-0", "--mfa"]);
        let cli = parse(&["work"]).unwrap();
        assert!(cli.command.is_empty());
    }

    #[test]
    fn modes_are_flags() {
        assert!(parse(&["--list"]).unwrap().list);
        assert!(parse(&["--status"]).unwrap().status);
        assert!(parse(&["--clear"]).unwrap().account.is_none());
        assert!(parse(&["--clear", "work"]).unwrap().account.is_some());
        assert_eq!(
            parse(&["work", "--export"]).unwrap().export,
            Some(ExportShell::Sh)
        );
        assert_eq!(
            parse(&["work", "--export=fish"]).unwrap().export,
            Some(ExportShell::Fish)
        );
        assert!(parse(&["work", "--export=csh"]).is_err());
        assert!(parse(&["work", "--json", "--export"]).is_err());
        assert!(parse(&["work", "--json", "--", "env"]).is_err());
        assert!(parse(&["--list", "work"]).is_err());
        assert!(parse(&["--status", "--mfa"]).is_err());
        assert!(parse(&["--clear", "--role", "x"]).is_err());
        assert!(parse(&[]).is_err());
        // An account may be named like a mode's value: modes are flags, not words.
        assert!(parse(&["list"]).unwrap().account.is_some());
    }

    #[test]
    fn flag_combinations_are_checked() {
        assert!(parse(&["work", "--refresh"]).is_err());
        assert!(parse(&["work", "--refresh", "--role", "admin"]).is_ok());
        assert!(parse(&["work", "--no-session", "--mfa"]).is_err());
        assert!(parse(&["work", "--session-name", "x"]).is_err());
        assert!(parse(&["work", "-q", "-v"]).is_err());
        assert!(parse(&["work", "-d", "abc"]).is_err());
        assert_eq!(
            parse(&["work", "--mfa", "-d", "90m"]).unwrap().duration,
            Some(Duration::from_secs(5400))
        );
    }
}
