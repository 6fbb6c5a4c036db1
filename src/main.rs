//! stsexec: run a command with an AWS account's credentials.
//!
//! `main` reads the process environment once, calls [`run`], and is the one place that
//! prints an error and picks the exit status; on success the process becomes the command.

mod accounts;
mod cache;
mod cli;
mod env;
mod error;
mod exec;
mod keys;
mod prompt;
mod provider;
mod report;
mod session;
mod sts;

use crate::accounts::{AccountName, AccountsFile};
use crate::cli::Cli;
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::exec::ExecPlan;
use crate::keys::CredsDir;
use crate::provider::{Provider, Request};
use crate::report::Reporter;
use clap::Parser;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

/// What a successful run leads to.
enum Outcome {
    Exit(ExitCode),
    Exec(ExecPlan),
}

fn main() -> ExitCode {
    let current = Environment::from_process();
    let error = match run(std::env::args_os(), &current) {
        Ok(Outcome::Exit(code)) => return code,
        // Will not return if exec succeeds.
        Ok(Outcome::Exec(plan)) => exec::exec(plan, current.get_os("PATH")),
        Err(error) => error,
    };
    eprintln!("stsexec: {error}");
    ExitCode::from(error.exit_code())
}

fn run(args: impl IntoIterator<Item = OsString>, current: &Environment) -> Result<Outcome> {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version
            let _ = e.print();
            return Ok(Outcome::Exit(ExitCode::SUCCESS));
        }
        Err(e) => {
            let _ = e.print();
            return Ok(Outcome::Exit(ExitCode::from(error::EXIT_FAILED)));
        }
    };
    let report = Reporter::new(cli.quiet, cli.verbose);
    let account = AccountName::parse(&cli.account)?;
    let token = cli
        .token
        .as_deref()
        .map(|t| prompt::check_code(t).map_err(|why| Error::failed(format!("-t/--token: {why}"))))
        .transpose()?;
    let mfa = cli.mfa || token.is_some();
    let durations = provider::plan_durations(cli.duration, mfa, cli.role.is_some())?;
    if let Some(region) = &cli.region {
        check_region_flag(region)?;
    }
    if let Some(id) = &cli.external_id {
        provider::check_external_id(id)?;
    }
    let min_ttl = provider::parse_min_ttl(current.get("STSEXEC_MIN_TTL"))?;

    let creds_dir = CredsDir::new(match &cli.creds_dir {
        Some(dir) => dir.clone(),
        None => home_dir(current)?.join("aws-creds"),
    });
    creds_dir.check_not_writable_by_others()?;
    let accounts_file = accounts::locate(cli.config.as_deref(), &creds_dir.path)?
        .map(|path| accounts::load(&path))
        .transpose()?;
    let account_entry = accounts_file
        .as_ref()
        .and_then(|file| file.accounts.get(&account));
    let role = cli
        .role
        .as_deref()
        .map(|role| accounts::resolve_role(role, account_entry, account.as_str()))
        .transpose()?;

    let keys = creds_dir.load_keys(&account)?;
    let user = match creds_dir.load_user(&account)? {
        Some(user) => user,
        None => match account_entry.and_then(|a| a.user.clone()) {
            Some(user) => user,
            None => unix_user(current, &creds_dir, &account)?,
        },
    };
    let session_name = provider::session_name(cli.session_name.as_deref(), &user)?;
    let region = env::resolve_region(
        cli.region.as_deref(),
        account_entry.and_then(|a| a.region.as_deref()),
        current,
    );
    let sts_context = sts::CallContext {
        account: account.to_string(),
        endpoint: sts_endpoint_for_messages(current, &region, account_entry),
        key_hint: format!(
            "{} and {}",
            creds_dir.file(&account, "access_key").display(),
            creds_dir.file(&account, "secret_key").display()
        ),
    };
    let request = Request {
        mfa,
        token,
        role,
        durations,
        session_name,
        external_id: cli.external_id.clone(),
        refresh: cli.refresh,
        no_session: cli.no_session,
    };
    let provider = Provider::new(
        account.clone(),
        keys,
        account_entry.map(|a| a.mfa_serial_for(&user)),
        no_serial_hint(&account, accounts_file.as_ref(), &creds_dir),
        user,
        cache::Cache::new(&creds_dir.path, &account),
        min_ttl,
        region.clone(),
        sts_context,
        report,
    );
    let session = provider.resolve(&request)?;

    let child = env::plan(&session, &region);
    report.debug(format!(
        "setting {}; removing {}",
        child
            .set
            .iter()
            .map(|(name, _)| *name)
            .collect::<Vec<_>>()
            .join(" "),
        child.removed.join(" ")
    ));
    let (program, args) = exec::command_or_shell(cli.command, current);
    report.status(format!("Set keys for {} AWS account", session.label));
    Ok(Outcome::Exec(ExecPlan {
        program,
        args,
        env: env::apply(current, &child),
    }))
}

fn home_dir(current: &Environment) -> Result<PathBuf> {
    current.get_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| {
        Error::failed("HOME is not set, so ~/aws-creds cannot be found; pass --creds-dir DIR or set STSEXEC_CREDS_DIR")
    })
}

/// The IAM user when neither `<account>.user` nor the accounts file names one: the Unix user.
fn unix_user(current: &Environment, creds_dir: &CredsDir, account: &AccountName) -> Result<String> {
    current
        .get("USER")
        .or_else(|| current.get("LOGNAME"))
        .filter(|u| accounts::is_valid_user_name(u))
        .map(str::to_string)
        .ok_or_else(|| {
            Error::failed(format!(
                "cannot tell the IAM user of account {account}: neither USER nor LOGNAME is set; write it to {}",
                creds_dir.file(account, "user").display()
            ))
        })
}

fn check_region_flag(region: &str) -> Result<()> {
    let valid = !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(Error::failed(format!(
            "--region {region:?} is not a region name like eu-west-1"
        )))
    }
}

/// The sentence for `--mfa` (or a cached MFA session) when the account's device is unknown.
fn no_serial_hint(
    account: &AccountName,
    file: Option<&AccountsFile>,
    creds_dir: &CredsDir,
) -> String {
    let fix = format!(r#"add "{account}": "arn:aws:iam::<account id>:""#);
    match file {
        Some(file) => format!(
            "account {account} is not in the accounts file {}, so its MFA device is unknown; {fix}",
            file.path.display()
        ),
        None => format!(
            "no accounts file found ({} or {}), so the MFA device of account {account} is unknown; create one and {fix}",
            creds_dir.path.join("accounts.json").display(),
            accounts::SYSTEM_ACCOUNTS_FILE
        ),
    }
}

/// The endpoint as the SDK will choose it, for "STS unreachable at URL".
fn sts_endpoint_for_messages(
    current: &Environment,
    region: &str,
    account: Option<&accounts::Account>,
) -> String {
    if let Some(url) = current
        .get("AWS_ENDPOINT_URL_STS")
        .or_else(|| current.get("AWS_ENDPOINT_URL"))
    {
        return url.to_string();
    }
    let suffix = match account.map(|a| a.partition.as_str()) {
        Some("aws-cn") => "amazonaws.com.cn",
        _ => "amazonaws.com",
    };
    format!("https://sts.{region}.{suffix}")
}
