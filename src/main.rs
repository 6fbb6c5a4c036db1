//! stsexec: run a command with an AWS account's credentials.
//!
//! `main` reads the process environment once, calls [`run`], and is the one place that
//! prints an error and picks the exit status; on success the process becomes the command.

use clap::Parser;
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;
use stsexec::accounts::{self, AccountName, AccountsFile};
use stsexec::cli::{Cli, ExportShell};
use stsexec::env::{self, ChildEnv, Environment};
use stsexec::error::{self, Error, Result};
use stsexec::exec::{self, ExecPlan};
use stsexec::keys::CredsDir;
use stsexec::provider::{self, Provider, Request};
use stsexec::report::Reporter;
use stsexec::session::Session;
use stsexec::{cache, output, prompt, sts};

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
    if cli.status {
        let (text, keys_set) = output::status(current, SystemTime::now());
        print(&text)?;
        return Ok(Outcome::Exit(if keys_set {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }));
    }
    let creds_dir = CredsDir::new(match &cli.creds_dir {
        Some(dir) => dir.clone(),
        None => home_dir(current)?.join("aws-creds"),
    });
    if cli.list {
        return list(&cli, &creds_dir, current, report);
    }
    if cli.clear {
        return clear(cli.account.as_deref(), &creds_dir, report);
    }
    let Some(raw_account) = &cli.account else {
        return Err(Error::failed("an ACCOUNT is needed (see stsexec --help)"));
    };
    let account = AccountName::parse(raw_account)?;
    let (session, child) = resolve(&cli, &account, &creds_dir, current, report)?;

    let printed = if cli.json {
        output::json(&session)
    } else if cli.credential_process {
        output::credential_process(&session)
    } else if let Some(shell) = cli.export {
        output::export(
            &child,
            match shell {
                ExportShell::Sh => output::Shell::Sh,
                ExportShell::Fish => output::Shell::Fish,
            },
        )
    } else {
        let (program, args) = exec::command_or_shell(cli.command, current);
        report.status(format!("Set keys for {} AWS account", session.label));
        return Ok(Outcome::Exec(ExecPlan {
            program,
            args,
            env: env::apply(current, &child),
        }));
    };
    print(&printed)?;
    Ok(Outcome::Exit(ExitCode::SUCCESS))
}

/// The session for the account (DESIGN §3) and the environment it becomes (DESIGN §4).
fn resolve(
    cli: &Cli,
    account: &AccountName,
    creds_dir: &CredsDir,
    current: &Environment,
    report: Reporter,
) -> Result<(Session, ChildEnv)> {
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

    creds_dir.check_not_writable_by_others()?;
    let accounts_file = load_accounts(cli, creds_dir)?;
    let account_entry = accounts_file
        .as_ref()
        .and_then(|file| file.accounts.get(account));
    let role = cli
        .role
        .as_deref()
        .map(|role| accounts::resolve_role(role, account_entry, account.as_str()))
        .transpose()?;

    let keys = creds_dir.load_keys(account)?;
    let user = match iam_user(creds_dir, account, account_entry, current)? {
        Some(user) => user,
        None => {
            return Err(Error::failed(format!(
                "cannot tell the IAM user of account {account}: neither USER nor LOGNAME is set; write it to {}",
                creds_dir.file(account, "user").display()
            )));
        }
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
            creds_dir.file(account, "access_key").display(),
            creds_dir.file(account, "secret_key").display()
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
        no_serial_hint(account, accounts_file.as_ref(), creds_dir),
        user,
        cache::Cache::new(&creds_dir.path, account),
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
    Ok((session, child))
}

fn load_accounts(cli: &Cli, creds_dir: &CredsDir) -> Result<Option<AccountsFile>> {
    accounts::locate(cli.config.as_deref(), &creds_dir.path)?
        .map(|path| accounts::load(&path))
        .transpose()
}

/// `<account>.user`, else the accounts file's `user`, else the Unix user; `None` if none.
fn iam_user(
    creds_dir: &CredsDir,
    account: &AccountName,
    entry: Option<&accounts::Account>,
    current: &Environment,
) -> Result<Option<String>> {
    if let Some(user) = creds_dir.load_user(account)? {
        return Ok(Some(user));
    }
    Ok(entry.and_then(|a| a.user.clone()).or_else(|| {
        current
            .get("USER")
            .or_else(|| current.get("LOGNAME"))
            .filter(|u| accounts::is_valid_user_name(u))
            .map(str::to_string)
    }))
}

/// `--list`: accounts-file entries and `*.access_key` files, with their cached sessions.
fn list(
    cli: &Cli,
    creds_dir: &CredsDir,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    let accounts_file = load_accounts(cli, creds_dir)?;
    let mut names: Vec<AccountName> = accounts_file
        .as_ref()
        .map(|file| file.accounts.keys().cloned().collect())
        .unwrap_or_default();
    names.extend(creds_dir.accounts_with_keys());
    names.sort();
    names.dedup();
    let rows: Vec<output::Listing> = names
        .iter()
        .map(|name| {
            let entry = accounts_file.as_ref().and_then(|f| f.accounts.get(name));
            let user = iam_user(creds_dir, name, entry, current).ok().flatten();
            output::Listing {
                name: name.to_string(),
                keys: creds_dir.file(name, "access_key").is_file()
                    && creds_dir.file(name, "secret_key").is_file(),
                mfa_serial: entry.zip(user.as_deref()).map(|(e, u)| e.mfa_serial_for(u)),
                user,
                sessions: cache::Cache::new(&creds_dir.path, name).summaries(),
            }
        })
        .collect();
    let style = if cli.quiet {
        output::ListStyle::Names
    } else if std::io::stdout().is_terminal() {
        output::ListStyle::Table
    } else {
        output::ListStyle::Plain
    };
    if rows.is_empty() {
        report.status(format!(
            "No accounts: no *.access_key files in {} and no accounts file",
            creds_dir.path.display()
        ));
    }
    print(&output::list(&rows, SystemTime::now(), style))?;
    Ok(Outcome::Exit(ExitCode::SUCCESS))
}

/// `--clear [ACCOUNT]`: removes cache files under each account's lock.
fn clear(
    account: Option<&std::ffi::OsStr>,
    creds_dir: &CredsDir,
    report: Reporter,
) -> Result<Outcome> {
    creds_dir.check_not_writable_by_others()?;
    let accounts = match account {
        Some(raw) => vec![AccountName::parse(raw)?],
        None => cache::accounts_with_cache(&creds_dir.path),
    };
    let mut removed = 0;
    for account in &accounts {
        let cache = cache::Cache::new(&creds_dir.path, account);
        // Nothing to remove: no lock file is created for an account that never had a session.
        if !cache.has_files() {
            continue;
        }
        let lock = cache.lock(|| {
            report.status(format!(
                "Waiting for another stsexec to finish with account {account}…"
            ))
        })?;
        removed += cache.clear(&lock)?;
    }
    let sessions = if removed == 1 { "session" } else { "sessions" };
    let scope = match account {
        Some(_) => format!(" of account {}", accounts[0]),
        None => String::new(),
    };
    print(&format!("Removed {removed} cached {sessions}{scope}\n"))?;
    Ok(Outcome::Exit(ExitCode::SUCCESS))
}

/// Writes to stdout. A reader that left early (`stsexec --list | head -1`) is not an error.
fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::failed(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

fn home_dir(current: &Environment) -> Result<PathBuf> {
    current.get_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from).ok_or_else(|| {
        Error::failed("HOME is not set, so ~/aws-creds cannot be found; pass --creds-dir DIR or set STSEXEC_CREDS_DIR")
    })
}

fn check_region_flag(region: &str) -> Result<()> {
    if accounts::is_region_name(region) {
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
