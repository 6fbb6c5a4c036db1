//! One run of stsexec, from the parsed command line and the environment snapshot to an
//! [`Outcome`]: the modes that print, and the exec plan. `main` only wires this up.
#![forbid(unsafe_code)]

use crate::accounts::{self, Account, AccountName, AccountsError, AccountsFile};
use crate::aws::Outbound;
use crate::cache::{self, AccountState, Waiting};
use crate::env::{self, ChildEnv, Environment, Region, RegionFrom};
use crate::error::{Error, Result, UsageError};
use crate::exec::{self, ExecPlan};
use crate::invocation::{Action, Ask, Invocation, Print, SessionAsk, WebIdentityAsk};
use crate::keys::{AccountKeys, CredsDir, KeyPlaces, Store, StoreConfig};
use crate::mfa;
use crate::output;
use crate::provider::{
    AccountSetup, MfaCodes, MfaFrom, Provider, Request, Start, Wants, durations,
};
use crate::report::Reporter;
use crate::session::Session;
use crate::sts::{self, LazySts};
use crate::web_identity::{self, TokenSource};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

mod add;
mod console;
mod mfa_device;
mod rotate;
mod serve;
mod sso;

pub use sso::SsoRefusal;

pub use serve::ServeRefusal;

/// What a successful run leads to.
pub enum Outcome {
    /// Exit with this status (0 for printed output, 1 for `--status` without keys).
    Exit(u8),
    Exec(ExecPlan),
    /// `--server`: the command has ended; stsexec ends the same way.
    Served(crate::server::Ended),
}

/// Runs what the invocation asks.
pub fn run(invocation: Invocation, current: &Environment) -> Result<Outcome> {
    let report = invocation.reporter();
    let Invocation {
        ask,
        config,
        creds_dir,
        quiet,
        verbose,
    } = invocation;
    let config = config.as_deref();
    match ask {
        Ask::Status => status(current, verbose),
        Ask::List => {
            let dirs = Dirs::new(creds_dir, current)?;
            list(&dirs.places(config), current, report, quiet)
        }
        Ask::Clear(account) => {
            let dirs = Dirs::new(creds_dir, current)?;
            clear(&dirs.places(config), account.as_ref(), report)
        }
        Ask::Add(ask) => {
            let dirs = Dirs::new(creds_dir, current)?;
            add::add(&ask, &dirs.places(config), current, report)
        }
        Ask::RoleNames(account) => {
            let dirs = Dirs::new(creds_dir, current)?;
            role_names(&dirs.places(config), account.as_ref())
        }
        Ask::Session { request, action } => {
            let dirs = Dirs::new(creds_dir, current)?;
            let places = dirs.places(config);
            if !matches!(action, Action::Rotate) {
                rotate::warn_if_unfinished(places.creds_dir, &request.account, report);
            }
            match action {
                Action::Rotate => rotate::rotate(&request, &places, current, report),
                Action::Login => match prepare(&request, &places, current, report)? {
                    Ready::Sso(sso) => sso.login(),
                    Ready::Sts(_) => Err(sso::SsoRefusal::NotSso {
                        account: request.account.clone(),
                    }
                    .into()),
                },
                Action::Console(how) => console::console(&request, &how, &places, current, report),
                Action::Serve(command) => {
                    let renewal_report = Reporter::new(true, verbose);
                    let min_ttl_given = request.knobs.min_ttl.given();
                    match prepare(&request, &places, current, report)? {
                        Ready::Sts(prepared) => serve::serve(
                            *prepared,
                            command,
                            min_ttl_given,
                            current,
                            report,
                            renewal_report,
                        ),
                        Ready::Sso(sso) => sso.serve(command, min_ttl_given, current, report),
                    }
                }
                Action::Print(print) => {
                    let (session, child, _) = resolve(&request, &places, current, report)?;
                    print_session(&session, &child, print, report)
                }
                Action::Exec(command) => {
                    let resolved = resolve(&request, &places, current, report)?;
                    exec_plan(&request.account, resolved, command, current, report)
                }
            }
        }
    }
}

/// `--json`, `--credential-process`, `--export`.
fn print_session(
    session: &Session,
    child: &ChildEnv,
    how: Print,
    report: Reporter,
) -> Result<Outcome> {
    let on_terminal = std::io::stdout().is_terminal();
    match how {
        Print::Json => {
            if on_terminal {
                report.warn(output::json_on_terminal());
            }
            print(&output::json(session))?;
        }
        Print::CredentialProcess => print(&output::credential_process(session))?,
        Print::Export(shell) => {
            if on_terminal {
                report.warn(output::export_on_terminal(shell));
            }
            print(&output::export(child, shell))?;
        }
    }
    Ok(Outcome::Exit(0))
}

/// Exec mode: the command (or the shell) with the session's environment, and the status
/// lines that say so.
fn exec_plan(
    account: &AccountName,
    (session, child, region): (Session, ChildEnv, Region),
    command: Vec<std::ffi::OsString>,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    let shell = command.is_empty();
    if let Some(outer) = current.get("STSEXEC_ACCOUNT") {
        let kept = match region.from {
            RegionFrom::Environment => format!(
                " (region {} kept: {account} has none of its own)",
                region.name
            ),
            RegionFrom::Flag | RegionFrom::Account | RegionFrom::Default => String::new(),
        };
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
    Ok(Outcome::Exec(ExecPlan {
        program,
        args,
        env: env::apply(current, &child),
    }))
}

/// `--status`: what the current environment holds; with `-v` also where a call from here
/// would go and whom it would trust (DESIGN §14).
fn status(current: &Environment, verbose: bool) -> Result<Outcome> {
    // Inside a `--server` command the environment holds the endpoint, not keys.
    if let Some(text) = crate::server::status::status(current) {
        print(&text)?;
        return Ok(Outcome::Exit(0));
    }
    let (mut text, usable) = output::status(current, SystemTime::now());
    if verbose {
        text.push_str(&crate::aws::network::status(current));
    }
    print(&text)?;
    Ok(Outcome::Exit(if usable { 0 } else { 1 }))
}

/// The credentials directory (`--creds-dir`, else `~/aws-creds`) and `HOME`: every mode but
/// `--status` needs them.
struct Dirs {
    creds_dir: CredsDir,
    home: Option<PathBuf>,
}

impl Dirs {
    fn new(creds_dir: Option<PathBuf>, current: &Environment) -> Result<Dirs> {
        let home = home_dir(current).ok();
        let creds_dir = CredsDir::new(match creds_dir {
            Some(dir) => dir,
            None => home_dir(current)?.join("aws-creds"),
        });
        Ok(Dirs { creds_dir, home })
    }

    fn places<'a>(&'a self, config: Option<&'a Path>) -> Places<'a> {
        Places {
            creds_dir: &self.creds_dir,
            config,
            home: self.home.as_deref(),
        }
    }
}

/// Where an account's files are.
struct Places<'a> {
    creds_dir: &'a CredsDir,
    /// `--config` / `STSEXEC_CONFIG`.
    config: Option<&'a Path>,
    home: Option<&'a Path>,
}

/// The session for the account (DESIGN §3), the environment it becomes (DESIGN §4), and the
/// region it names.
fn resolve(
    ask: &SessionAsk,
    places: &Places,
    current: &Environment,
    report: Reporter,
) -> Result<(Session, ChildEnv, Region)> {
    let (session, child, region) = match prepare(ask, places, current, report)? {
        Ready::Sts(prepared) => {
            let Prepared {
                mut provider,
                request,
                region,
                accounts: _,
                outbound: _,
            } = *prepared;
            let session = provider.resolve(&request)?;
            drop(provider);
            let child = child_env(&session, &region.name, &request, report);
            (session, child, region)
        }
        Ready::Sso(sso) => {
            let (session, region) = sso.resolve()?;
            let child = logged(env::plan(&session, &region.name), report);
            (session, child, region)
        }
    };
    Ok((session, child, region))
}

/// An account ready to resolve: with keys (or a CI token) through STS, or through IAM Identity
/// Center.
enum Ready {
    Sts(Box<Prepared>),
    Sso(Box<sso::SsoPrepared>),
}

/// The provider of an account and the request made of it, before anything is resolved: exec
/// and print modes resolve once, `--server` keeps the provider to renew.
struct Prepared {
    provider: Provider<LazySts, MfaCodes>,
    request: Request,
    region: Region,
    /// The accounts file as read (`--rotate` takes the account's partition from it).
    accounts: AccountEntry,
    /// The run's outbound layer (`--console`'s sign-in request shares STS's runtime).
    outbound: Outbound,
}

/// The accounts file, read once, with the account checked to be known.
struct AccountEntry {
    file: Option<AccountsFile>,
    /// Whether the credentials directory exists (or was made) to hold the cache: `false` only
    /// for `--web-identity` when it cannot be made because `HOME` (or another of its parents)
    /// does not exist, as in a container; the run then goes without a cache.
    cache: bool,
}

impl AccountEntry {
    fn get(&self, account: &AccountName) -> Option<&Account> {
        self.file.as_ref().and_then(|f| f.accounts.get(account))
    }
}

/// The file-reading half of [`prepare`], first part: the credentials directory and the
/// accounts file; an account neither names is unknown.
fn read_accounts(
    ask: &SessionAsk,
    wants: &Wants<&String, TokenSource>,
    places: &Places,
    report: Reporter,
) -> Result<AccountEntry> {
    let creds_dir = places.creds_dir;
    let web_identity = wants.is_web_identity();
    let mut cache = true;
    if web_identity {
        // CI: nothing has made the credentials directory; the role session is cached there.
        // A container's HOME may not exist at all: no file is needed, so run without a cache.
        if let Err(crate::files::DirectoryError::Missing(path)) = creds_dir.check(places.home) {
            match crate::files::create_directory(&path) {
                Ok(()) => {}
                Err(crate::files::DirectoryError::Unreadable(_, e))
                    if e.kind() == std::io::ErrorKind::NotFound =>
                {
                    cache = false;
                    report.warn(no_cache_warning(&creds_dir.path, places.home));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    // An IAM Identity Center account needs no key files: a missing credentials directory is
    // made for its role sessions, as for --web-identity, once the accounts file says so.
    let missing = if cache {
        match creds_dir.check(places.home) {
            Err(crate::files::DirectoryError::Missing(path)) => Some(path),
            other => {
                other?;
                None
            }
        }
    } else {
        None
    };
    let file = load_accounts(places)?;
    let account = &ask.account;
    if let Some(path) = missing {
        let sso = file
            .as_ref()
            .and_then(|f| f.accounts.get(account))
            .is_some_and(|a| a.sso.is_some());
        if !sso {
            return Err(crate::files::DirectoryError::Missing(path).into());
        }
        crate::files::create_directory(&path)?;
        creds_dir.check(places.home)?;
    }
    // With --web-identity and a full role ARN the account is only a name for the cache:
    // CI has no accounts file and no key files. With a role name and nothing known at all,
    // the role's sentence (add the account's prefix, or pass the full ARN) says more than
    // "unknown account".
    let full_arn = wants.role().is_some_and(|r| r.starts_with("arn:"));
    let entry = AccountEntry { file, cache };
    let known = entry.get(account).is_some()
        || creds_dir.has_keys(account)
        || (web_identity
            && (full_arn || known_accounts(entry.file.as_ref(), creds_dir).is_empty()));
    if !known {
        return Err(unknown(account, entry.file.as_ref(), creds_dir).into());
    }
    Ok(entry)
}

/// `--web-identity` without a credentials directory: the one line that says so.
fn no_cache_warning(creds_dir: &Path, home: Option<&Path>) -> String {
    let missing = match home {
        Some(home) if creds_dir.starts_with(home) && !home.exists() => {
            format!("HOME {} does not exist", home.display())
        }
        _ => format!(
            "the credentials directory {} cannot be made (its parent does not exist)",
            creds_dir.display()
        ),
    };
    format!(
        "{missing}, so the web-identity session is not cached and each run calls STS; set HOME or --creds-dir to a directory that exists to cache it"
    )
}

/// The account's IAM user, or why it cannot be told (an error only where the user is needed).
type IamUser = std::result::Result<String, Arc<Error>>;

/// The file-reading half of [`prepare`], second part: the long-lived keys (none for
/// `--web-identity`, whose token is the credential) and the IAM user (its error is kept for
/// where the user is needed).
fn read_keys(
    account: &AccountName,
    web_identity: bool,
    (entry, accounts_file): (Option<&Account>, Option<&Path>),
    places: &Places,
    current: &Environment,
    settings: mfa::Settings,
) -> Result<(Option<AccountKeys>, IamUser)> {
    let keys = if web_identity {
        None
    } else {
        let config = StoreConfig::new(entry, accounts_file, current, settings);
        Some(places.creds_dir.keys_with(account, &config)?)
    };
    let user = places
        .creds_dir
        .iam_user(account, entry, current)
        .map_err(|e| Arc::new(Error::User(e)));
    Ok((keys, user))
}

fn prepare(
    ask: &SessionAsk,
    places: &Places,
    current: &Environment,
    report: Reporter,
) -> Result<Ready> {
    let account = &ask.account;
    let knobs = &ask.knobs;
    // The run's one outbound layer: the token request and STS share its runtime.
    let outbound = Outbound::new(knobs.sts_timeout, Some(report), current);
    // Where a CI token comes from (DESIGN §11), checked before any file is read.
    let wants = ask.wants.as_ref().try_map(Ok, |web| {
        web_identity_source(web, &outbound, current, report)
    })?;
    let entries = read_accounts(ask, &wants, places, report)?;
    let entry = entries.get(account);
    if let Some(sso_account) = entry.and_then(|a| a.sso.clone()) {
        let account_region = entry.and_then(|a| a.region.as_deref());
        let target = sso::Target {
            sso: sso_account,
            account_region,
            outbound,
        };
        return sso::prepare(ask, target, places, current, report)
            .map(|prepared| Ready::Sso(Box::new(prepared)));
    }
    // A role named in the accounts file brings its parameters; the flags win.
    let named = wants
        .role()
        .and_then(|role| entry.and_then(|e| e.roles.get(role.as_str())));
    let durations = named_role_durations(ask, named)?;
    let wants = with_named_role_options(wants, named);
    let wants = wants.try_map(|role| accounts::resolve_role(role, entry, account), Ok)?;
    let (keys, user) = read_keys(
        account,
        wants.is_web_identity(),
        (entry, entries.file.as_ref().map(|f| f.path.as_path())),
        places,
        current,
        knobs.mfa,
    )?;
    let accounts_file = entries.file.as_ref();
    let mfa_serial = match (entry, &user) {
        (Some(entry), _) if entry.mfa_serial.is_some() => Ok(entry.mfa_serial_for("")),
        (Some(entry), Ok(user)) => Ok(entry.mfa_serial_for(user)),
        (Some(_), Err(e)) => Err(e.clone()),
        (None, _) => Err(Arc::new(Error::Accounts(AccountsError::NoMfaDevice {
            account: account.clone(),
            accounts_file: accounts_file.map(|f| f.path.clone()),
            creds_dir: places.creds_dir.path.clone(),
        }))),
    };
    let region = env::resolve_region(
        ask.region.as_deref(),
        entry.and_then(|a| a.region.as_deref()),
        current,
    );
    let endpoint = sts::endpoint(current, &region.name, entry.map(|a| a.partition.as_str()));
    if endpoint.is_cleartext_remote() {
        report.warn(format!(
            "the STS endpoint {} is plain http on another host: the signed request and the session it returns cross the network unencrypted; use https",
            endpoint.shown
        ));
    }
    let default_session_name = if wants.is_web_identity() {
        Ok(web_identity::default_session_name(
            current,
            account.as_str(),
        ))
    } else {
        user.map(|u| durations::default_session_name(&u))
    };
    let (given_code, mfa_process, prompt) = match &wants {
        Wants::Session(Start::Mfa(from))
        | Wants::Role {
            from: Start::Mfa(from),
            ..
        } => match from {
            MfaFrom::Code(code) => (Some(code.clone()), None, false),
            MfaFrom::Command(command) => (None, Some(command.as_str()), false),
            MfaFrom::Usual => (None, None, false),
            MfaFrom::Prompt => (None, None, true),
        },
        Wants::Session(_) | Wants::Role { .. } | Wants::WebIdentity { .. } => (None, None, false),
    };
    let code_source = if prompt {
        mfa::CodeSource::Terminal
    } else {
        mfa::CodeSource::choose(
            given_code,
            mfa_process,
            entry.and_then(|a| a.mfa_process.as_deref()),
            accounts_file.map(|f| f.path.as_path()),
        )
    };
    let creds_dir = places.creds_dir;
    let key_files = keys.as_ref().map_or_else(
        || {
            KeyPlaces::plain_files(
                creds_dir.file(account, "access_key"),
                &creds_dir.file(account, "secret_key"),
            )
        },
        AccountKeys::describe,
    );
    let provider = Provider {
        setup: AccountSetup {
            account: account.clone(),
            keys,
            mfa_serial,
            default_session_name,
            key_files,
            account_id: entry.map(|a| a.account_id.clone()),
            state: AccountState::new(&creds_dir.path, account),
            cache: entries.cache,
            min_ttl: knobs.min_ttl.window,
        },
        sts: LazySts::new(&region.name, endpoint, outbound.clone()),
        codes: MfaCodes {
            codes: mfa::Codes::with_clock(code_source, knobs.mfa, mfa::Clock::REAL),
            env: current.clone(),
            report,
        },
        report,
    };
    Ok(Ready::Sts(Box::new(Prepared {
        provider,
        request: Request {
            wants,
            durations,
            refresh: ask.refresh,
        },
        region,
        accounts: entries,
        outbound,
    })))
}

/// The durations asked, with a named role's `"duration"` where `-d` gave none (its range is
/// checked as `-d`'s; chained from an MFA session it is capped to 1 h with a notice).
fn named_role_durations(
    ask: &SessionAsk,
    named: Option<&accounts::NamedRole>,
) -> Result<durations::Durations> {
    let Some((text, value)) = named.and_then(|n| n.duration.clone()) else {
        return Ok(ask.durations.clone());
    };
    if ask.durations.typed.is_some() {
        return Ok(ask.durations.clone());
    }
    let typed = durations::Typed { text, value };
    let planned = durations::plan(Some(&typed), false, true)?;
    ask.knobs.min_ttl.check_against(&planned, false, true)?;
    Ok(planned)
}

/// A named role's external id and session name where the flags gave none.
fn with_named_role_options<'a, T>(
    wants: Wants<&'a String, T>,
    named: Option<&accounts::NamedRole>,
) -> Wants<&'a String, T> {
    let Some(named) = named else {
        return wants;
    };
    match wants {
        Wants::Role {
            role,
            from,
            mut assume,
        } => {
            assume.session_name = assume.session_name.or_else(|| named.session_name.clone());
            assume.external_id = assume.external_id.or_else(|| named.external_id.clone());
            Wants::Role { role, from, assume }
        }
        Wants::WebIdentity {
            role,
            tokens,
            session_name,
        } => Wants::WebIdentity {
            role,
            tokens,
            session_name: session_name.or_else(|| named.session_name.clone()),
        },
        session @ Wants::Session(_) => session,
    }
}

/// `--web-identity`: where the token comes from (DESIGN §11), checked before any file is read.
fn web_identity_source(
    web: &WebIdentityAsk,
    outbound: &Outbound,
    current: &Environment,
    report: Reporter,
) -> Result<TokenSource> {
    let source = TokenSource::choose(
        web.file.as_deref(),
        web.audience.as_deref(),
        outbound,
        current,
    )?;
    if web.audience.is_some() && !source.takes_audience() {
        report.warn(format!(
            "--audience applies to GitHub Actions' token request only; {} has the audience it was made with",
            source.origin()
        ));
    }
    Ok(source)
}

/// The environment of DESIGN §4 for a session, and the debug line naming it.
fn child_env(session: &Session, region: &str, request: &Request, report: Reporter) -> ChildEnv {
    logged(env_plan(session, region, request), report)
}

/// The child's environment, its names said with `-v`.
fn logged(child: ChildEnv, report: Reporter) -> ChildEnv {
    report.debug(child.names());
    child
}

/// What the accounts file and the environment say about the account's key stores.
fn store_config(
    places: &Places,
    account: &AccountName,
    current: &Environment,
    settings: mfa::Settings,
) -> Result<StoreConfig> {
    let file = load_accounts(places)?;
    Ok(StoreConfig::new(
        file.as_ref().and_then(|f| f.accounts.get(account)),
        file.as_ref().map(|f| f.path.as_path()),
        current,
        settings,
    ))
}

/// DESIGN §4's plan, without GitHub's token request variables when `--web-identity` used them.
fn env_plan(session: &Session, region: &str, request: &Request) -> ChildEnv {
    let mut child = env::plan(session, region);
    if let Wants::WebIdentity {
        tokens: TokenSource::GitHub { .. },
        ..
    } = &request.wants
    {
        child.removed.extend(env::CI_TOKEN_VARS);
    }
    child
}

fn load_accounts(places: &Places) -> Result<Option<AccountsFile>> {
    Ok(accounts::find_and_load(
        places.config,
        &places.creds_dir.path,
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
fn list(places: &Places, current: &Environment, report: Reporter, quiet: bool) -> Result<Outcome> {
    let creds_dir = places.creds_dir;
    creds_dir.check(places.home)?;
    let accounts_file = load_accounts(places)?;
    // Accounts with only a cached session (CI's web-identity role, which needs no key files
    // and no accounts-file entry) are listed too, as --clear finds them.
    let mut names = known_accounts(accounts_file.as_ref(), creds_dir);
    names.extend(cache::accounts_with_cache(&creds_dir.path));
    names.sort();
    names.dedup();
    let rows: Vec<output::Listing> = names
        .iter()
        .map(|name| {
            let entry = accounts_file.as_ref().and_then(|f| f.accounts.get(name));
            let user = creds_dir.iam_user(name, entry, current).ok();
            let config = StoreConfig::new(
                entry,
                accounts_file.as_ref().map(|f| f.path.as_path()),
                current,
                mfa::Settings::DEFAULT,
            );
            let keys = creds_dir.keys_with(name, &config);
            output::Listing {
                name: name.to_string(),
                store: keys.as_ref().ok().map(|k| match k.store() {
                    Store::Plain(_) => "plain",
                    Store::Age(_) => "age",
                    Store::Process(_) => "key_process",
                }),
                keys: keys.and_then(|k| k.check()).is_ok(),
                mfa_serial: entry.and_then(|e| {
                    e.mfa_serial
                        .clone()
                        .or_else(|| user.as_deref().map(|u| e.mfa_serial_for(u)))
                }),
                user,
                sessions: AccountState::new(&creds_dir.path, name).summaries(),
                sso: entry.and_then(|e| e.sso.as_ref()).and_then(|sso| {
                    let home = places.home?;
                    Some(crate::sso::provider::login_state(
                        sso,
                        &crate::sso::TokenCache::in_home(home),
                    ))
                }),
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
    let style = if quiet {
        output::ListStyle::Names
    } else if std::io::stdout().is_terminal() {
        output::ListStyle::Table
    } else {
        output::ListStyle::Plain
    };
    print(&output::list(
        &rows,
        SystemTime::now(),
        style,
        terminal_width(current),
    ))?;
    Ok(Outcome::Exit(0))
}

/// `--role-names ACCOUNT`: what the completions offer after `--role`.
fn role_names(places: &Places, account: Option<&AccountName>) -> Result<Outcome> {
    let Some(account) = account else {
        return Ok(Outcome::Exit(0));
    };
    let file = load_accounts(places)?;
    let names: String = file
        .as_ref()
        .and_then(|f| f.accounts.get(account))
        .map(|entry| entry.roles.keys().map(|name| format!("{name}\n")).collect())
        .unwrap_or_default();
    print(&names)?;
    Ok(Outcome::Exit(0))
}

/// The terminal's columns for `--list`'s table: `COLUMNS` when set, else the size of the
/// terminal on stdout, else 80.
fn terminal_width(current: &Environment) -> usize {
    current
        .get("COLUMNS")
        .and_then(|c| c.trim().parse::<usize>().ok())
        .filter(|c| *c > 0)
        .or_else(|| {
            rustix::termios::tcgetwinsize(std::io::stdout())
                .ok()
                .map(|size| usize::from(size.ws_col))
                .filter(|c| *c > 0)
        })
        .unwrap_or(80)
}

/// `--clear [ACCOUNT]`: removes cache files under each account's lock.
fn clear(places: &Places, account: Option<&AccountName>, report: Reporter) -> Result<Outcome> {
    let creds_dir = places.creds_dir;
    creds_dir.check(places.home)?;
    let accounts = match account {
        Some(name) => {
            let cache = AccountState::new(&creds_dir.path, name);
            if !cache.has_files() {
                let accounts_file = load_accounts(places)?;
                let known = accounts_file
                    .as_ref()
                    .is_some_and(|f| f.accounts.contains_key(name))
                    || creds_dir.has_keys(name);
                if !known {
                    return Err(unknown(name, accounts_file.as_ref(), creds_dir).into());
                }
            }
            vec![name.clone()]
        }
        None => cache::accounts_with_cache(&creds_dir.path),
    };
    let mut removed = 0;
    for account in &accounts {
        let cache = AccountState::new(&creds_dir.path, account);
        // Nothing to remove: no lock file is created for an account that never had a session.
        if !cache.has_files() {
            continue;
        }
        let lock = cache.lock(Waiting::ToFinish, report)?;
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
