//! One run of stsexec, from the parsed command line and the environment snapshot to an
//! [`Outcome`]: the modes that print, and the exec plan. `main` only wires this up.
#![forbid(unsafe_code)]

use crate::accounts::{self, AccountName, AccountsError, AccountsFile};
use crate::cache::{self, Cache};
use crate::cli::{Cli, ExportShell, Mode, UsageError};
use crate::env::{self, ChildEnv, Environment};
use crate::error::{Error, Result};
use crate::exec::{self, ExecPlan};
use crate::keys::CredsDir;
use crate::mfa;
use crate::output;
use crate::provider::{self, AccountSetup, MfaCodes, Provider, Request, durations};
use crate::report::Reporter;
use crate::session::Session;
use crate::sts::{self, Endpoint, LazySts};
use crate::web_identity::{self, TokenSource, WebIdentityError};
use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

mod rotate;
mod serve;

/// What a successful run leads to.
pub enum Outcome {
    /// Exit with this status (0 for printed output, 1 for `--status` without keys).
    Exit(u8),
    Exec(ExecPlan),
    /// `--server`: the command has ended; stsexec ends the same way.
    Served(crate::server::Ended),
}

/// Runs the mode the command line selects.
pub fn run(mut cli: Cli, current: &Environment) -> Result<Outcome> {
    let report = Reporter::new(cli.verbosity.quiet, cli.verbosity.verbose);
    let mode = cli.mode();
    if let Mode::Status = mode {
        // Inside a `--server` command the environment holds the endpoint, not keys.
        if let Some(text) = crate::server::status::status(current) {
            print(&text)?;
            return Ok(Outcome::Exit(0));
        }
        let (text, keys_set) = output::status(current, SystemTime::now());
        print(&text)?;
        return Ok(Outcome::Exit(if keys_set { 0 } else { 1 }));
    }
    let home = home_dir(current).ok();
    let creds_dir = CredsDir::new(match &cli.creds_dir {
        Some(dir) => dir.clone(),
        None => home_dir(current)?.join("aws-creds"),
    });
    match mode {
        Mode::List => list(&cli, &creds_dir, home.as_deref(), current, report),
        Mode::Clear(account) => clear(
            &cli,
            account.as_deref(),
            &creds_dir,
            home.as_deref(),
            report,
        ),
        Mode::Status => Ok(Outcome::Exit(0)),
        Mode::Rotate => {
            let raw = cli.account.clone().unwrap_or_default();
            let account = AccountName::parse(&raw)?;
            rotate::rotate(&mut cli, &account, &creds_dir, current, report)
        }
        Mode::Serve(command) => {
            serve::refuse_output(&cli)?;
            let raw = cli.account.clone().unwrap_or_default();
            let account = AccountName::parse(&raw)?;
            rotate::warn_if_unfinished(&creds_dir, &account, report);
            let renewal_report = Reporter::new(true, cli.verbosity.verbose);
            let prepared = prepare(
                &mut cli,
                &account,
                &creds_dir,
                home.as_deref(),
                current,
                report,
            )?;
            serve::serve(prepared, command, current, report, renewal_report)
        }
        mode => {
            let raw = cli.account.clone().unwrap_or_default();
            let account = AccountName::parse(&raw)?;
            rotate::warn_if_unfinished(&creds_dir, &account, report);
            let (session, child, inherited_region) = resolve(
                &mut cli,
                &account,
                &creds_dir,
                home.as_deref(),
                current,
                report,
            )?;
            match mode {
                Mode::Json => print(&output::json(&session))?,
                Mode::CredentialProcess => print(&output::credential_process(&session))?,
                Mode::Export(shell) => {
                    if std::io::stdout().is_terminal() {
                        report.warn(
                            "--export prints secrets to the terminal; use eval \"$(stsexec … --export)\", or exec mode, which keeps them out of your shell",
                        );
                    }
                    print(&output::export(
                        &child,
                        match shell {
                            ExportShell::Sh => output::Shell::Sh,
                            ExportShell::Fish => output::Shell::Fish,
                        },
                    ))?;
                }
                Mode::Exec(command) => {
                    let shell = command.is_empty();
                    if let Some(outer) = current.get("STSEXEC_ACCOUNT") {
                        let kept = inherited_region
                            .map(|r| format!(" (region {r} kept: {account} has none of its own)"))
                            .unwrap_or_default();
                        report.status(format!(
                            "Replacing {} with {}{kept}",
                            crate::text::shown(outer),
                            session.label
                        ));
                    }
                    let (program, args) = exec::command_or_shell(command, current);
                    report.status(format!("Set keys for {} AWS account", session.label));
                    if shell && std::io::stdin().is_terminal() {
                        report.status("A subshell with these keys: exit to return");
                    }
                    return Ok(Outcome::Exec(ExecPlan {
                        program,
                        args,
                        env: env::apply(current, &child),
                    }));
                }
                Mode::List | Mode::Status | Mode::Clear(_) | Mode::Serve(_) | Mode::Rotate => {}
            }
            Ok(Outcome::Exit(0))
        }
    }
}

/// The session for the account (DESIGN §3), the environment it becomes (DESIGN §4), and the
/// region when it came from the caller's environment rather than a flag or the account.
fn resolve(
    cli: &mut Cli,
    account: &AccountName,
    creds_dir: &CredsDir,
    home: Option<&std::path::Path>,
    current: &Environment,
    report: Reporter,
) -> Result<(Session, ChildEnv, Option<String>)> {
    let Prepared {
        mut provider,
        request,
        region,
        inherited_region,
    } = prepare(cli, account, creds_dir, home, current, report)?;
    let session = provider.resolve(&request)?;
    drop(provider);
    let child = child_env(&session, &region, &request, report);
    Ok((session, child, inherited_region))
}

/// The provider of an account and the request the command line makes of it, before anything
/// is resolved: exec and print modes resolve once, `--server` keeps the provider to renew.
struct Prepared {
    provider: Provider<LazySts, MfaCodes>,
    request: Request,
    region: String,
    /// The region when it came from the caller's environment rather than a flag or the account.
    inherited_region: Option<String>,
}

fn prepare(
    cli: &mut Cli,
    account: &AccountName,
    creds_dir: &CredsDir,
    home: Option<&std::path::Path>,
    current: &Environment,
    report: Reporter,
) -> Result<Prepared> {
    let token = cli.token.take();
    let mfa = cli.session.mfa || token.is_some() || cli.mfa_process.is_some();
    // A bad MFA time setting fails before anything else is read.
    let mfa_settings = mfa::Settings::from_env(current)?;
    let durations = durations::plan(cli.duration.as_ref(), mfa, cli.role.is_some())?;
    if let Some(name) = &cli.session_name {
        durations::check_session_name(name)?;
    }
    if let Some(id) = &cli.external_id {
        durations::check_external_id(id.expose())?;
    }
    let min_ttl = provider::parse_min_ttl(current.get_os("STSEXEC_MIN_TTL"))?;
    if let Some(session) = durations.shortest_fetched(mfa, cli.role.is_some())
        && min_ttl >= session
    {
        return Err(UsageError::MinTtlTooLong {
            typed: current
                .get_os("STSEXEC_MIN_TTL")
                .map(|v| v.to_string_lossy().into_owned())
                .unwrap_or_default(),
            session: humantime::format_duration(session).to_string(),
        }
        .into());
    }
    let sts_timeout = sts::operation_timeout(current.get("STSEXEC_STS_TIMEOUT"))
        .map_err(UsageError::StsTimeout)?;
    let web_identity = web_identity_source(cli, sts_timeout, current, report)?;

    if web_identity.is_some() {
        // CI: nothing has made the credentials directory; the role session is cached there.
        if let Err(crate::private_file::DirectoryError::Missing(path)) = creds_dir.check(home) {
            crate::private_file::create_directory(&path)?;
        }
    }
    creds_dir.check(home)?;
    let accounts_file = load_accounts(cli, creds_dir)?;
    let entry = accounts_file.as_ref().and_then(|f| f.accounts.get(account));
    // With --web-identity and a full role ARN the account is only a name for the cache:
    // CI has no accounts file and no key files. With a role name and nothing known at all,
    // the role's sentence (add the account's prefix, or pass the full ARN) says more than
    // "unknown account".
    let full_arn = cli.role.as_deref().is_some_and(|r| r.starts_with("arn:"));
    let known = entry.is_some()
        || creds_dir.has_keys(account)
        || (web_identity.is_some()
            && (full_arn || known_accounts(accounts_file.as_ref(), creds_dir).is_empty()));
    if !known {
        return Err(unknown(account, accounts_file.as_ref(), creds_dir).into());
    }
    let role = cli
        .role
        .as_deref()
        .map(|role| accounts::resolve_role(role, entry, account))
        .transpose()?;
    // --web-identity reads no key files: the token is the credential.
    let keys = match web_identity {
        Some(_) => None,
        None => Some(creds_dir.load_keys(account)?),
    };
    let user = creds_dir
        .iam_user(account, entry, current)
        .map_err(|e| Arc::new(Error::User(e)));
    let mfa_serial = match (entry, &user) {
        (Some(entry), _) if entry.mfa_serial.is_some() => Ok(entry.mfa_serial_for("")),
        (Some(entry), Ok(user)) => Ok(entry.mfa_serial_for(user)),
        (Some(_), Err(e)) => Err(e.clone()),
        (None, _) => Err(Arc::new(Error::Accounts(AccountsError::NoMfaDevice {
            account: account.clone(),
            accounts_file: accounts_file.as_ref().map(|f| f.path.clone()),
            creds_dir: creds_dir.path.clone(),
        }))),
    };
    let region = env::resolve_region(
        cli.region.as_deref(),
        entry.and_then(|a| a.region.as_deref()),
        current,
    );
    let endpoint = Endpoint::from_env(current, &region, entry.map(|a| a.partition.as_str()));
    if endpoint.is_cleartext_remote() {
        report.warn(format!(
            "the STS endpoint {} is plain http on another host: the signed request and the session it returns cross the network unencrypted; use https",
            endpoint.shown
        ));
    }
    let request = Request {
        mfa,
        token: token.clone(),
        role,
        durations,
        session_name: cli.session_name.clone(),
        external_id: cli.external_id.clone(),
        refresh: cli.session.refresh,
        no_session: cli.session.no_session,
        web_identity: web_identity.clone(),
    };
    let default_session_name = match &web_identity {
        Some(_) => Ok(web_identity::default_session_name(
            current,
            account.as_str(),
        )),
        None => user.map(|u| durations::default_session_name(&u)),
    };
    let provider = Provider {
        setup: AccountSetup {
            account: account.clone(),
            keys,
            mfa_serial,
            default_session_name,
            key_files: format!(
                "{} and {}",
                creds_dir.file(account, "access_key").display(),
                creds_dir.file(account, "secret_key").display()
            ),
            account_id: entry.map(|a| a.account_id.clone()),
            cache: Cache::new(&creds_dir.path, account),
            min_ttl,
        },
        sts: LazySts::new(&region, endpoint, sts_timeout, Some(report)),
        codes: MfaCodes {
            codes: mfa::Codes::with_clock(
                mfa::CodeSource::choose(
                    token,
                    cli.mfa_process.as_deref(),
                    entry.and_then(|a| a.mfa_process.as_deref()),
                    accounts_file.as_ref().map(|f| f.path.as_path()),
                ),
                mfa_settings,
                mfa::Clock::REAL,
            ),
            env: current.clone(),
            report,
        },
        report,
    };
    let inherited_region = (cli.region.is_none()
        && entry.and_then(|a| a.region.as_ref()).is_none())
    .then(|| {
        current
            .get("AWS_REGION")
            .or_else(|| current.get("AWS_DEFAULT_REGION"))
            .map(str::to_string)
    })
    .flatten();
    Ok(Prepared {
        provider,
        request,
        region,
        inherited_region,
    })
}

/// `--web-identity`: where the token comes from (DESIGN §11), checked before any file is read.
fn web_identity_source(
    cli: &Cli,
    timeout: std::time::Duration,
    current: &Environment,
    report: Reporter,
) -> Result<Option<TokenSource>> {
    let Some(file) = &cli.web.web_identity else {
        return Ok(None);
    };
    if cli.role.is_none() {
        return Err(WebIdentityError::NoRole.into());
    }
    if let Some(audience) = &cli.web.audience {
        web_identity::check_audience(audience)?;
    }
    let source = TokenSource::choose(
        file.as_deref(),
        cli.web.audience.as_deref(),
        timeout,
        current,
    )?;
    if cli.web.audience.is_some() && !source.takes_audience() {
        report.warn(format!(
            "--audience applies to GitHub Actions' token request only; {} has the audience it was made with",
            source.describe()
        ));
    }
    Ok(Some(source))
}

/// The environment of DESIGN §4 for a session, and the debug line naming it.
fn child_env(session: &Session, region: &str, request: &Request, report: Reporter) -> ChildEnv {
    let child = env_plan(session, region, request);
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
    child
}

/// DESIGN §4's plan, without GitHub's token request variables when `--web-identity` used them.
fn env_plan(session: &Session, region: &str, request: &Request) -> ChildEnv {
    let mut child = env::plan(session, region);
    if matches!(request.web_identity, Some(TokenSource::GitHub { .. })) {
        child.removed.extend(env::CI_TOKEN_VARS);
    }
    child
}

fn load_accounts(cli: &Cli, creds_dir: &CredsDir) -> Result<Option<AccountsFile>> {
    Ok(accounts::find_and_load(
        cli.config.as_deref(),
        &creds_dir.path,
    )?)
}

/// Accounts-file entries and `*.access_key` files, sorted.
fn known_accounts(file: Option<&AccountsFile>, creds_dir: &CredsDir) -> Vec<AccountName> {
    let mut names: Vec<AccountName> = file
        .map(|f| f.accounts.keys().cloned().collect())
        .unwrap_or_default();
    names.extend(creds_dir.accounts_with_keys());
    names.sort();
    names.dedup();
    names
}

fn unknown(
    account: &AccountName,
    file: Option<&AccountsFile>,
    creds_dir: &CredsDir,
) -> AccountsError {
    AccountsError::Unknown {
        name: account.clone(),
        known: known_accounts(file, creds_dir),
        creds_dir: creds_dir.path.clone(),
    }
}

/// `--list`: accounts-file entries and `*.access_key` files, with their cached sessions.
fn list(
    cli: &Cli,
    creds_dir: &CredsDir,
    home: Option<&std::path::Path>,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    creds_dir.check(home)?;
    let accounts_file = load_accounts(cli, creds_dir)?;
    let rows: Vec<output::Listing> = known_accounts(accounts_file.as_ref(), creds_dir)
        .iter()
        .map(|name| {
            let entry = accounts_file.as_ref().and_then(|f| f.accounts.get(name));
            let user = creds_dir.iam_user(name, entry, current).ok();
            output::Listing {
                name: name.to_string(),
                keys: creds_dir.load_keys(name).is_ok(),
                mfa_serial: entry.and_then(|e| {
                    e.mfa_serial
                        .clone()
                        .or_else(|| user.as_deref().map(|u| e.mfa_serial_for(u)))
                }),
                user,
                sessions: Cache::new(&creds_dir.path, name).summaries(),
            }
        })
        .collect();
    if rows.is_empty() {
        report.status(format!(
            "No accounts: no *.access_key files in {} and no accounts file",
            creds_dir.path.display()
        ));
        return Ok(Outcome::Exit(0));
    }
    let style = if cli.verbosity.quiet {
        output::ListStyle::Names
    } else if std::io::stdout().is_terminal() {
        output::ListStyle::Table
    } else {
        output::ListStyle::Plain
    };
    print(&output::list(&rows, SystemTime::now(), style))?;
    Ok(Outcome::Exit(0))
}

/// `--clear [ACCOUNT]`: removes cache files under each account's lock.
fn clear(
    cli: &Cli,
    account: Option<&OsStr>,
    creds_dir: &CredsDir,
    home: Option<&std::path::Path>,
    report: Reporter,
) -> Result<Outcome> {
    creds_dir.check(home)?;
    let accounts = match account {
        Some(raw) => {
            let name = AccountName::parse(raw)?;
            let cache = Cache::new(&creds_dir.path, &name);
            if !cache.has_files() {
                let accounts_file = load_accounts(cli, creds_dir)?;
                let known = accounts_file
                    .as_ref()
                    .is_some_and(|f| f.accounts.contains_key(&name))
                    || creds_dir.has_keys(&name);
                if !known {
                    return Err(unknown(&name, accounts_file.as_ref(), creds_dir).into());
                }
            }
            vec![name]
        }
        None => cache::accounts_with_cache(&creds_dir.path),
    };
    let mut removed = 0;
    for account in &accounts {
        let cache = Cache::new(&creds_dir.path, account);
        // Nothing to remove: no lock file is created for an account that never had a session.
        if !cache.has_files() {
            continue;
        }
        let lock = cache.lock(|holder| {
            let who = holder
                .map(|h| format!(" (pid {}, {})", h.pid, h.activity))
                .unwrap_or_default();
            report.status(format!(
                "Waiting for another stsexec{who} to finish with account {account}…"
            ));
        })?;
        removed += cache.clear(&lock)?;
    }
    let sessions = if removed == 1 { "session" } else { "sessions" };
    let scope = match account {
        Some(_) => format!(" of account {}", accounts[0]),
        None => String::new(),
    };
    print(&format!("Removed {removed} cached {sessions}{scope}\n"))?;
    Ok(Outcome::Exit(0))
}

/// Writes to stdout. A reader that left early (`stsexec --list | head -1`) is not an error.
fn print(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Output(e)),
        _ => Ok(()),
    }
}

fn home_dir(current: &Environment) -> Result<PathBuf> {
    let home = current
        .get_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or(UsageError::HomeUnset)?;
    if home.is_relative() {
        return Err(UsageError::HomeRelative(home).into());
    }
    Ok(home)
}
