//! The command line (DESIGN §1). Modes are flags, never subcommands, so no account name is
//! ever shadowed; [`Cli::into_invocation`] turns the parsed flags into one
//! [`crate::invocation::Invocation`] right after parsing. Values are
//! checked by clap value parsers where they stand alone; `-t` and `--external-id` parse into
//! secret types, so `Debug` of the parsed command line shows no code. This definition also
//! feeds the completions and the man page.
#![forbid(unsafe_code)]

use crate::accounts::AccountName;
use crate::console::{ConsoleError, ConsoleMode};
use crate::env::Environment;
use crate::error::{Error, UsageError};
use crate::invocation::{
    Action, AddAsk, Ask, ConsoleAsk, Invocation, Knobs, Print, SessionAsk, WebIdentityAsk,
};
use crate::output::Shell;
use crate::provider::durations::{self, Typed};
use crate::provider::{AssumeOptions, MfaFrom, Start, Wants};
use crate::secret::{MfaCode, NotAnMfaCode, Secret};
use crate::web_identity::WebIdentityError;
use clap::{ArgGroup, Args, Parser};
use std::ffi::OsString;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "stsexec",
    version,
    // `--version`: also the commit, the linking and the target (build.rs); `-V` stays short.
    long_version = env!("STSEXEC_LONG_VERSION"),
    about = "Run a command with an AWS account's credentials: long-lived keys, a cached MFA session or an assumed role",
    long_about = "Run a command with an AWS account's credentials: long-lived keys, a cached MFA \
session or an assumed role. stsexec resolves the account's keys from the credentials directory, \
reuses a cached session while it is valid or calls STS (GetSessionToken with an MFA code, \
AssumeRole), then replaces itself with COMMAND (default: $SHELL), whose environment holds the \
credentials. The calling shell never holds a secret.",
    // -h is one screen (the common flags); --help has every option and the examples.
    after_help = "stsexec --help shows every option and examples; stsexec --list, your accounts.",
    after_long_help = "Examples:\n  stsexec work -- aws sts get-caller-identity\n  stsexec work --mfa -- terraform plan\n  stsexec work --mfa --role admin -- make deploy\n  stsexec work --mfa --role admin --server -- terraform apply\n  stsexec work --mfa --role admin --console\n  stsexec personal\n  eval \"$(stsexec work --mfa --export)\"              # bash, zsh\n  eval (stsexec work --mfa --export | string collect)  # fish\n  stsexec --status\n\nstsexec --list shows your accounts.",
    // Each line fits in 80 columns: a terminal breaks longer ones mid-word.
    override_usage = "stsexec [OPTIONS] <ACCOUNT> [-- <COMMAND> [ARGS]...]\n       stsexec [OPTIONS] <ACCOUNT> --server [-- <COMMAND> [ARGS]...]\n       stsexec [OPTIONS] <ACCOUNT> --json|--export[=SHELL]|--credential-process\n       stsexec [OPTIONS] <ACCOUNT> --rotate | --add | --login [--no-browser]\n       stsexec [OPTIONS] <ACCOUNT> --role <ROLE> --console[=HOW]\n       stsexec --list | --status | --clear [ACCOUNT]",
    group(ArgGroup::new("session_kind").multiple(true).args(["mfa", "token", "mfa_process", "mfa_prompt", "role"])),
    group(ArgGroup::new("output").args(["json", "export", "credential_process"])),
    group(ArgGroup::new("session_options").multiple(true).args([
        "mfa", "token", "mfa_process", "mfa_prompt", "role", "duration", "session_name", "external_id", "region", "refresh", "no_session",
        "web_identity", "audience",
    ]))
)]
pub struct Cli {
    /// Account name: selects <account>.access_key/.secret_key and the accounts-file entry
    #[arg(
        value_name = "ACCOUNT",
        value_parser = clap::value_parser!(OsString),
        required_unless_present_any = ["list", "status", "clear", "role_names"],
        hide_short_help = true
    )]
    pub account: Option<OsString>,

    /// Command to run with the credentials (default: $SHELL, else /bin/sh)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        value_parser = clap::value_parser!(OsString),
        value_hint = clap::ValueHint::CommandWithArguments,
        conflicts_with_all = ["output", "clear"],
        hide_short_help = true
    )]
    pub command: Vec<OsString>,

    #[command(flatten)]
    pub output: OutputModes,

    #[command(flatten)]
    pub admin: AdminModes,

    #[command(flatten)]
    pub completion: CompletionQueries,

    #[command(flatten)]
    pub serve: ServeMode,

    #[command(flatten)]
    pub session: SessionFlags,

    #[command(flatten)]
    pub web: WebIdentityFlags,

    #[command(flatten)]
    pub rotate: RotateMode,

    #[command(flatten)]
    pub add: AddMode,

    #[command(flatten)]
    pub login: LoginMode,

    #[command(flatten)]
    pub console: ConsoleFlags,

    /// The MFA code (6 digits; spaces are ignored) instead of a prompt; implies --mfa. Other local users can see it in ps: prefer the prompt or mfa_process
    #[arg(short = 't', long, value_name = "CODE", value_parser = parse_code, hide_short_help = true)]
    pub token: Option<MfaCode>,

    /// Get the MFA code from a command (run with /bin/sh -c; it prints the 6 digits) instead of the prompt; implies --mfa
    #[arg(long, value_name = "CMD", value_hint = clap::ValueHint::CommandString, hide_short_help = true)]
    pub mfa_process: Option<String>,

    /// Ask for the MFA code on the terminal even when the account has an mfa_process (say, the YubiKey is elsewhere); implies --mfa
    #[arg(long, conflicts_with_all = ["token", "mfa_process"], hide_short_help = true)]
    pub mfa_prompt: bool,

    /// Assume a role: a name or a role ARN
    ///
    /// A name from the account's "roles" in the accounts file brings its ARN, external id,
    /// duration and session name (the flags win); another name is <prefix>role/ROLE.
    #[arg(long, value_name = "ROLE", value_hint = clap::ValueHint::Other)]
    pub role: Option<String>,

    /// Session lifetime, e.g. 90m or 12h
    ///
    /// GetSessionToken: 15m-36h (default 12h); AssumeRole: 15m-12h (default 1h, at most 1h
    /// from an MFA session).
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration, value_hint = clap::ValueHint::Other)]
    pub duration: Option<Typed<Duration>>,

    /// AssumeRole session name (default: <user>-stsexec)
    #[arg(long, value_name = "NAME", requires = "role", value_hint = clap::ValueHint::Other, hide_short_help = true)]
    pub session_name: Option<String>,

    /// AssumeRole external id. Other local users can see it in ps: a named role in the accounts file can carry it instead
    #[arg(long, value_name = "ID", requires = "role", value_parser = parse_secret, value_hint = clap::ValueHint::Other, hide_short_help = true)]
    pub external_id: Option<Secret>,

    /// Region for the command and for STS (default: the account's, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1)
    #[arg(long, value_name = "REGION", value_parser = parse_region, value_hint = clap::ValueHint::Other, hide_short_help = true)]
    pub region: Option<String>,

    /// Accounts file [default: <creds-dir>/accounts.json, then /etc/default/aws-sts-helpers/accounts.json]
    #[arg(long, value_name = "FILE", env = "STSEXEC_CONFIG", value_hint = clap::ValueHint::FilePath, hide_short_help = true)]
    pub config: Option<PathBuf>,

    /// Credentials directory [default: ~/aws-creds]
    #[arg(long, value_name = "DIR", env = "STSEXEC_CREDS_DIR", value_hint = clap::ValueHint::DirPath, hide_short_help = true)]
    pub creds_dir: Option<PathBuf>,

    #[command(flatten)]
    pub verbosity: Verbosity,
}

/// The modes that print credentials instead of running a command.
#[derive(Args, Debug)]
pub struct OutputModes {
    /// Print the credentials as JSON (access_key, expiration, secret_key, session_token) instead of running a command
    #[arg(long, help_heading = "Modes", hide_short_help = true)]
    pub json: bool,

    /// Print shell statements that set the credentials
    ///
    /// Instead of running a command; this puts secrets in your shell. SHELL is sh, bash, zsh or
    /// fish; without it, the shell $SHELL names.
    #[arg(
        long,
        value_name = "SHELL",
        hide_possible_values = true,
        num_args = 0..=1,
        require_equals = true,
        help_heading = "Modes"
    )]
    pub export: Option<Option<ExportShell>>,

    /// Print the AWS CLI's credential_process JSON instead of running a command
    #[arg(long, help_heading = "Modes", hide_short_help = true)]
    pub credential_process: bool,
}

/// The modes that need no credentials.
#[derive(Args, Debug)]
pub struct AdminModes {
    /// List accounts, keys and cached sessions
    ///
    /// With -q: account names only.
    #[arg(
        long,
        help_heading = "Modes",
        conflicts_with_all = ["account", "output", "session_options", "status", "clear"]
    )]
    pub list: bool,

    /// Tell which credentials the environment holds
    ///
    /// Exit 1 when it holds none, or a mixture (keys of one kind beside a token of another,
    /// an expired session, STSEXEC_ACCOUNT naming other keys).
    #[arg(
        long,
        help_heading = "Modes",
        conflicts_with_all = ["account", "output", "session_options", "clear"]
    )]
    pub status: bool,

    /// Forget the cached sessions of ACCOUNT (of all accounts without one)
    #[arg(long, help_heading = "Modes", conflicts_with_all = ["output", "session_options"], hide_short_help = true)]
    pub clear: bool,
}

/// What the completions ask (hidden from help and completions).
#[derive(Args, Debug)]
pub struct CompletionQueries {
    /// For completions: the role names of ACCOUNT's "roles" in the accounts file, one a line
    #[arg(
        long,
        hide = true,
        conflicts_with_all = ["command", "output", "session_options", "list", "status", "clear"]
    )]
    pub role_names: bool,
}

/// `--server` (DESIGN §8): run the command as a child and serve it renewed credentials.
#[derive(Args, Debug)]
pub struct ServeMode {
    /// Run COMMAND and renew its credentials while it runs
    ///
    /// COMMAND runs as a child; stsexec serves it credentials on 127.0.0.1 (the ECS
    /// container-credentials protocol), renewed before they expire, until it ends.
    #[arg(long, help_heading = "Modes", conflicts_with_all = ["list", "status", "clear"])]
    pub server: bool,
}

/// `--rotate` (DESIGN §10): replace the account's access key.
#[derive(Args, Debug)]
pub struct RotateMode {
    /// Replace the account's access key: create a new one, prove it works, write it to the key files, delete the old one (signed with the MFA session; with --no-session, with the keys)
    #[arg(
        long,
        help_heading = "Modes",
        hide_short_help = true,
        conflicts_with_all = ["command", "output", "role", "server", "list", "status", "clear", "session_name", "external_id", "web_identity"]
    )]
    pub rotate: bool,
}

/// `--add` (DESIGN §13): set up or convert an account's keys.
#[derive(Args, Debug)]
pub struct AddMode {
    /// Set up or convert ACCOUNT's keys: take the pair from its plain files, --from-profile or the terminal, store the secret (--store), prove it with GetCallerIdentity, read it back, then remove the plain secret file
    #[arg(
        long,
        help_heading = "Modes",
        hide_short_help = true,
        conflicts_with_all = ["command", "output", "session_options", "server", "rotate", "list", "status", "clear", "console", "login"]
    )]
    pub add: bool,

    /// Where --add keeps the secret: age (<account>.secret_key.age, encrypted to a passphrase or to STSEXEC_AGE_IDENTITY's recipients) or plain (<account>.secret_key)
    #[arg(
        long,
        value_name = "STORE",
        requires = "add",
        value_enum,
        hide_short_help = true
    )]
    pub store: Option<StoreChoice>,

    /// With --add: take the pair from this profile of ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE)
    #[arg(long, value_name = "PROFILE", requires = "add", value_hint = clap::ValueHint::Other, hide_short_help = true)]
    pub from_profile: Option<String>,

    /// With --add: do not prove the key with GetCallerIdentity (no network)
    #[arg(long, requires = "add", hide_short_help = true)]
    pub offline: bool,
}

/// `--store`: where `--add` keeps the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreChoice {
    /// `<account>.secret_key.age`
    Age,
    /// `<account>.secret_key`
    Plain,
}

/// `--login` (DESIGN §17): sign in to IAM Identity Center.
#[derive(Args, Debug)]
pub struct LoginMode {
    /// Sign in to IAM Identity Center for ACCOUNT (an sso_start_url entry) and keep the login in the AWS CLI's cache: a browser tab, or with --no-browser a code to confirm on any device
    #[arg(
        long,
        help_heading = "Modes",
        conflicts_with_all = ["command", "output", "server", "rotate", "list", "status", "clear", "session_options", "console"],
        hide_short_help = true
    )]
    pub login: bool,

    /// Sign in to IAM Identity Center with a URL and a code to confirm on any device (the device-code flow), not a browser on this machine
    #[arg(long, conflicts_with_all = ["list", "status", "clear"], hide_short_help = true)]
    pub no_browser: bool,
}

/// `--console` (DESIGN §16): the AWS console as the role session.
#[derive(Args, Debug)]
pub struct ConsoleFlags {
    /// Open the AWS console as the role session (with --role)
    ///
    /// In $BROWSER, else xdg-open, through a one-shot local redirect: the sign-in URL never
    /// reaches a command line. HOW is open (the default) or print, which prints the sign-in
    /// URL instead.
    #[arg(
        long,
        value_name = "HOW",
        hide_possible_values = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "open",
        help_heading = "Modes",
        // -h shows it in the usage; --help describes it.
        hide_short_help = true,
        conflicts_with_all = ["command", "output", "server", "rotate", "list", "status", "clear"]
    )]
    pub console: Option<ConsoleHow>,

    /// The console page --console lands on [default: the console home of the region]
    #[arg(
        long,
        value_name = "URL",
        requires = "console",
        value_hint = clap::ValueHint::Url,
        hide_short_help = true
    )]
    pub console_destination: Option<String>,
}

/// What `--console` does with the sign-in URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConsoleHow {
    Open,
    Print,
}

/// Which session the command gets.
#[derive(Args, Debug)]
pub struct SessionFlags {
    /// Use the MFA session (a code is asked when needed)
    ///
    /// The cached one while valid, else a code (the prompt, -t or an mfa_process) and
    /// GetSessionToken.
    #[arg(long)]
    pub mfa: bool,

    /// Fetch a new session even if the cached one is valid (the cache is then updated)
    #[arg(long, requires = "session_kind", hide_short_help = true)]
    pub refresh: bool,

    /// Use the long-lived keys even if an MFA session is cached
    #[arg(long, conflicts_with_all = ["mfa", "token", "mfa_process", "mfa_prompt"], hide_short_help = true)]
    pub no_session: bool,
}

/// `--web-identity` (DESIGN §11): the role is assumed with a CI's OIDC token, no key files.
#[derive(Args, Debug)]
pub struct WebIdentityFlags {
    /// With --role: AssumeRoleWithWebIdentity with the CI's OIDC token, no key files. Token from FILE, else $AWS_WEB_IDENTITY_TOKEN_FILE, else GitHub Actions' token request (needs `permissions: id-token: write`)
    #[arg(
        long,
        value_name = "FILE",
        num_args = 0..=1,
        require_equals = true,
        value_hint = clap::ValueHint::FilePath,
        hide_short_help = true,
        conflicts_with_all = ["mfa", "token", "mfa_process", "mfa_prompt", "no_session", "external_id"]
    )]
    pub web_identity: Option<Option<PathBuf>>,

    /// The audience of the token GitHub Actions makes for --web-identity [default: sts.amazonaws.com]
    #[arg(long, value_name = "AUDIENCE", requires = "web_identity", value_hint = clap::ValueHint::Other, hide_short_help = true)]
    pub audience: Option<String>,
}

#[derive(Args, Debug)]
pub struct Verbosity {
    /// No status lines
    #[arg(short, long, conflicts_with = "verbose", hide_short_help = true)]
    pub quiet: bool,

    /// Debug lines: decisions, file names and masked key ids (never secrets)
    #[arg(short, long, hide_short_help = true)]
    pub verbose: bool,
}

/// The shells `--export` writes for; bash and zsh read sh's statements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportShell {
    Sh,
    Bash,
    Zsh,
    Fish,
}

impl ExportShell {
    fn syntax(self) -> Shell {
        match self {
            ExportShell::Sh | ExportShell::Bash | ExportShell::Zsh => Shell::Sh,
            ExportShell::Fish => Shell::Fish,
        }
    }
}

/// `--export` without a value: the syntax of the shell `$SHELL` names (DESIGN §5), so a fish
/// user's `eval (stsexec work --export | string collect)` gets fish's statements.
pub fn login_shell(current: &Environment) -> Shell {
    let is_fish = current
        .get_os("SHELL")
        .map(std::path::Path::new)
        .and_then(std::path::Path::file_name)
        .is_some_and(|name| name == "fish");
    if is_fish { Shell::Fish } else { Shell::Sh }
}

impl Cli {
    /// The one step from the command line (and the environment snapshot) to typed data:
    /// every value is checked here, the account name parsed once, the `STSEXEC_*` settings
    /// read once (for the runs that use them). Nothing downstream sees `Cli`.
    pub fn into_invocation(self, current: &Environment) -> Result<Invocation, Error> {
        let Cli {
            account,
            command,
            output,
            admin,
            completion,
            serve,
            session,
            web,
            rotate,
            add,
            login,
            console,
            token,
            mfa_process,
            mfa_prompt,
            role,
            duration,
            session_name,
            external_id,
            region,
            config,
            creds_dir,
            verbosity,
        } = self;
        // clap has already refused the combinations of modes it can.
        let ask = if admin.list {
            Ask::List
        } else if add.add {
            Ask::Add(Box::new(AddAsk {
                account: AccountName::parse(account.as_deref().unwrap_or_default())?,
                store: add.store.unwrap_or(StoreChoice::Age),
                from_profile: add.from_profile,
                offline: add.offline,
                knobs: Knobs::from_env(current, false)?,
            }))
        } else if admin.status {
            Ask::Status
        } else if admin.clear {
            Ask::Clear(account.as_deref().map(AccountName::parse).transpose()?)
        } else if completion.role_names {
            Ask::RoleNames(account.as_deref().map(AccountName::parse).transpose()?)
        } else {
            let action = match console_action(console)? {
                Some(console) => console,
                None => action(&output, &rotate, &serve, &login, command, current)?,
            };
            let account = AccountName::parse(account.as_deref().unwrap_or_default())?;
            let rotating = matches!(action, Action::Rotate);
            let knobs = Knobs::from_env(current, rotating)?;
            let start = start(&session, token, mfa_process, mfa_prompt, rotating);
            let durations = durations::plan(duration.as_ref(), start.is_mfa(), role.is_some())?;
            if let Some(name) = &session_name {
                durations::check_session_name(name)?;
            }
            if let Some(id) = &external_id {
                durations::check_external_id(id.expose())?;
            }
            knobs
                .min_ttl
                .check_against(&durations, start.is_mfa(), role.is_some())?;
            let wants = match (role, web.web_identity) {
                (None, None) => Wants::Session(start),
                (Some(role), None) => Wants::Role {
                    role,
                    from: start,
                    assume: AssumeOptions {
                        session_name,
                        external_id,
                    },
                },
                // clap refuses the MFA flags and --external-id beside --web-identity.
                (Some(role), Some(file)) => {
                    if let Some(audience) = &web.audience {
                        crate::web_identity::check_audience(audience)?;
                    }
                    Wants::WebIdentity {
                        role,
                        tokens: WebIdentityAsk {
                            file,
                            audience: web.audience,
                        },
                        session_name,
                    }
                }
                (None, Some(_)) => return Err(WebIdentityError::NoRole.into()),
            };
            // DESIGN §16: without a role the console would need GetFederationToken, which
            // drops MFA; refused before any file is read or any code asked.
            if matches!(action, Action::Console(_)) && wants.role().is_none() {
                return Err(ConsoleError::NoRole {
                    account: account.to_string(),
                }
                .into());
            }
            Ask::Session {
                request: Box::new(SessionAsk {
                    account,
                    wants,
                    durations,
                    refresh: session.refresh,
                    region,
                    no_browser: login.no_browser,
                    knobs,
                }),
                action,
            }
        };
        Ok(Invocation {
            ask,
            config,
            creds_dir,
            quiet: verbosity.quiet,
            verbose: verbosity.verbose,
        })
    }
}

/// What to do with the session: the mode flags (clap has refused the combinations it can).
fn action(
    output: &OutputModes,
    rotate: &RotateMode,
    serve: &ServeMode,
    login: &LoginMode,
    command: Vec<OsString>,
    current: &Environment,
) -> Result<Action, UsageError> {
    let print = if output.json {
        Some(Print::Json)
    } else if output.credential_process {
        Some(Print::CredentialProcess)
    } else {
        output.export.map(|shell| {
            Print::Export(shell.map_or_else(|| login_shell(current), ExportShell::syntax))
        })
    };
    Ok(match (rotate.rotate, serve.server, print) {
        // clap refuses --login beside every other mode.
        _ if login.login => Action::Login,
        (true, _, _) => Action::Rotate,
        // One sentence, not clap's several lines.
        (false, true, Some(_)) => return Err(UsageError::ServeWithOutput),
        (false, true, None) => Action::Serve(command),
        (false, false, Some(print)) => Action::Print(print),
        (false, false, None) => Action::Exec(command),
    })
}

/// `--console[=HOW]` and `--console-destination`, checked.
fn console_action(console: ConsoleFlags) -> Result<Option<Action>, ConsoleError> {
    let Some(how) = console.console else {
        return Ok(None);
    };
    if let Some(url) = &console.console_destination {
        crate::console::check_destination(url)?;
    }
    Ok(Some(Action::Console(ConsoleAsk {
        mode: match how {
            ConsoleHow::Open => ConsoleMode::Open,
            ConsoleHow::Print => ConsoleMode::Print,
        },
        destination: console.console_destination,
    })))
}

/// What the session starts from. `-t` wins over `--mfa-process` (DESIGN §9's order);
/// clap refuses `--mfa-prompt` beside either.
fn start(
    session: &SessionFlags,
    token: Option<MfaCode>,
    mfa_process: Option<String>,
    mfa_prompt: bool,
    rotating: bool,
) -> Start {
    let mfa = match (token, mfa_process) {
        (Some(code), _) => Some(MfaFrom::Code(code)),
        (None, Some(command)) => Some(MfaFrom::Command(command)),
        (None, None) if mfa_prompt => Some(MfaFrom::Prompt),
        (None, None) if session.mfa => Some(MfaFrom::Usual),
        (None, None) => None,
    };
    match mfa {
        Some(from) => Start::Mfa(from),
        None if session.no_session => Start::Keys,
        // The MFA session signs IAM calls (DESIGN §10): --rotate implies --mfa.
        None if rotating => Start::Mfa(MfaFrom::Usual),
        None => Start::Ambient,
    }
}

/// Why a flag's value was refused; clap prints it after the flag's name.
#[derive(Debug)]
enum BadValue {
    Duration(humantime::DurationError),
    Code(NotAnMfaCode),
    Region,
}

impl fmt::Display for BadValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadValue::Duration(e) => write!(f, "{e}; write it like 90m, 12h or 1h30m"),
            BadValue::Code(e) => e.fmt(f),
            BadValue::Region => f.write_str("not a region name like eu-west-1"),
        }
    }
}

impl std::error::Error for BadValue {}

fn parse_duration(text: &str) -> Result<Typed<Duration>, BadValue> {
    humantime::parse_duration(text)
        .map(|value| Typed {
            text: text.to_string(),
            value,
        })
        .map_err(BadValue::Duration)
}

fn parse_code(text: &str) -> Result<MfaCode, BadValue> {
    MfaCode::parse(text).map_err(BadValue::Code)
}

fn parse_secret(text: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(text))
}

fn parse_region(text: &str) -> Result<String, BadValue> {
    if crate::accounts::is_region_name(text) {
        Ok(text.to_string())
    } else {
        Err(BadValue::Region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("stsexec").chain(args.iter().copied()))
    }

    fn ask(args: &[&str]) -> Ask {
        parse(args)
            .unwrap()
            .into_invocation(&Environment::default())
            .unwrap()
            .ask
    }

    fn action(args: &[&str]) -> Action {
        match ask(args) {
            Ask::Session { action, .. } => action,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    fn session(args: &[&str]) -> SessionAsk {
        match ask(args) {
            Ask::Session { request, .. } => *request,
            other => panic!("{args:?}: {other:?}"),
        }
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_follows_the_account_with_or_without_dashes() {
        let args = ["work", "--mfa", "--", "aws", "--version"];
        assert!(parse(&args).unwrap().session.mfa);
        assert!(matches!(action(&args), Action::Exec(c) if c == ["aws", "--version"]));
        let args = ["work", "-t", "123 456", "env", "-0", "--mfa"];
        let cli = parse(&args).unwrap();
        assert_eq!(cli.token.as_ref().map(MfaCode::expose), Some("123456"));
        assert!(!cli.session.mfa, "flags after the command belong to it");
        assert!(matches!(action(&args), Action::Exec(c) if c == ["env", "-0", "--mfa"]));
        assert!(matches!(
            session(&args).wants,
            Wants::Session(Start::Mfa(MfaFrom::Code(c))) if c.expose() == "123456"
        ));
        assert!(matches!(action(&["work"]), Action::Exec(c) if c.is_empty()));
    }

    #[test]
    fn modes_are_flags() {
        assert!(matches!(ask(&["--list"]), Ask::List));
        assert!(matches!(ask(&["--status"]), Ask::Status));
        assert!(matches!(ask(&["--clear"]), Ask::Clear(None)));
        assert!(matches!(
            ask(&["work", "--role-names"]),
            Ask::RoleNames(Some(a)) if a.as_str() == "work"
        ));
        assert!(parse(&["work", "--role-names", "--mfa"]).is_err());
        assert!(matches!(
            ask(&["--clear", "Work"]),
            Ask::Clear(Some(a)) if a.as_str() == "work"
        ));
        for (flag, shell) in [
            ("--export", Shell::Sh),
            ("--export=bash", Shell::Sh),
            ("--export=zsh", Shell::Sh),
            ("--export=fish", Shell::Fish),
        ] {
            assert!(
                matches!(action(&["work", flag]), Action::Print(Print::Export(s)) if s == shell),
                "{flag}"
            );
        }
        assert!(matches!(
            action(&["work", "--json"]),
            Action::Print(Print::Json)
        ));
        assert!(matches!(action(&["work", "--rotate"]), Action::Rotate));
        assert!(matches!(action(&["work", "--server"]), Action::Serve(c) if c.is_empty()));
        assert!(parse(&["work", "--export=csh"]).is_err());
        assert!(parse(&["work", "--json", "--export"]).is_err());
        assert!(parse(&["work", "--json", "--", "env"]).is_err());
        assert!(parse(&["--list", "work"]).is_err());
        assert!(parse(&["--status", "--mfa"]).is_err());
        assert!(parse(&["--clear", "--role", "x"]).is_err());
        assert!(matches!(
            action(&["work", "--role", "r", "--console"]),
            Action::Console(ConsoleAsk {
                mode: ConsoleMode::Open,
                destination: None
            })
        ));
        assert!(matches!(
            action(&["work", "--role", "r", "--console=print", "--console-destination", "https://console.aws.amazon.com/s3/home"]),
            Action::Console(ConsoleAsk { mode: ConsoleMode::Print, destination: Some(d) }) if d.ends_with("/s3/home")
        ));
        for bad in [
            &["work", "--role", "r", "--console=tab"][..],
            &["work", "--role", "r", "--console", "--server"],
            &["work", "--role", "r", "--console", "--rotate"],
            &["work", "--role", "r", "--console-destination", "https://x/"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        // Without a role: one sentence (GetFederationToken drops MFA), before any file is read.
        let no_role = parse(&["work", "--mfa", "--console"])
            .unwrap()
            .into_invocation(&Environment::default())
            .unwrap_err();
        assert!(matches!(
            no_role,
            Error::Console(ConsoleError::NoRole { .. })
        ));
        assert!(parse(&[]).is_err());
        // An account may be named like a mode's value: modes are flags, not words.
        assert!(matches!(session(&["list"]).account.as_str(), "list"));
    }

    #[test]
    fn export_without_a_value_follows_the_login_shell() {
        let export = |shell: &str, flag: &str| {
            let current = Environment::from_pairs([("SHELL", shell)]);
            match parse(&["work", flag])
                .unwrap()
                .into_invocation(&current)
                .unwrap()
                .ask
            {
                Ask::Session {
                    action: Action::Print(Print::Export(s)),
                    ..
                } => s,
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(export("/usr/bin/fish", "--export"), Shell::Fish);
        assert_eq!(export("/usr/local/bin/fish", "--export"), Shell::Fish);
        assert_eq!(export("/bin/bash", "--export"), Shell::Sh);
        assert_eq!(export("", "--export"), Shell::Sh);
        assert_eq!(export("/usr/bin/fish", "--export=sh"), Shell::Sh);
        assert_eq!(export("/bin/bash", "--export=fish"), Shell::Fish);
    }

    /// A terminal breaks a line longer than its width mid-word (`--credential-proc`/`ess`);
    /// -h fits one screen; the values --export's help names are the ones it takes.
    #[test]
    fn help_fits_80_columns_and_h_is_one_screen() {
        let mut cmd = Cli::command().term_width(80);
        let short = cmd.render_help().to_string();
        let long = cmd.render_long_help().to_string();
        for text in [&short, &long] {
            for line in text.lines() {
                assert!(line.chars().count() <= 80, "{} columns: {line}", line.len());
            }
        }
        assert!(short.lines().count() <= 24, "{short}");
        for common in [
            "--mfa", "--role", "--server", "--export", "--list", "--status",
        ] {
            assert!(short.contains(common), "{common} missing from -h: {short}");
        }
        assert!(long.contains("--web-identity") && long.contains("Examples:"));
        let words = long.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            words.contains("SHELL is sh, bash, zsh or fish") && !words.contains("possible values"),
            "{long}"
        );
    }

    #[test]
    fn the_session_asked_is_typed_once() {
        // --rotate signs with the MFA session unless --no-session.
        assert!(matches!(
            session(&["work", "--rotate"]).wants,
            Wants::Session(Start::Mfa(MfaFrom::Usual))
        ));
        assert!(matches!(
            session(&["work", "--rotate", "--no-session"]).wants,
            Wants::Session(Start::Keys)
        ));
        assert!(matches!(
            session(&["work", "--mfa-process", "x", "--role", "a"]).wants,
            Wants::Role { role, from: Start::Mfa(MfaFrom::Command(c)), .. } if role == "a" && c == "x"
        ));
        assert!(matches!(
            session(&["ci", "--role", "d", "--web-identity=/t"]).wants,
            Wants::WebIdentity {
                tokens: WebIdentityAsk {
                    file: Some(_),
                    audience: None
                },
                ..
            }
        ));
        let refused = |args: &[&str]| {
            parse(args)
                .unwrap()
                .into_invocation(&Environment::default())
                .unwrap_err()
                .to_string()
        };
        assert!(refused(&["ci", "--web-identity"]).contains("add --role ROLE"));
        assert!(refused(&["work", "--server", "--json"]).starts_with("--server runs a command"));
        assert!(refused(&["../x"]).contains("invalid account name"));
        assert!(
            refused(&["work", "--session-name", "a b", "--role", "r"]).contains("--session-name")
        );
    }

    #[test]
    fn flag_combinations_and_values_are_checked() {
        assert!(parse(&["work", "--refresh"]).is_err());
        assert!(parse(&["work", "--refresh", "--role", "admin"]).is_ok());
        assert!(parse(&["work", "--no-session", "--mfa"]).is_err());
        assert!(parse(&["work", "--no-session", "--mfa-process", "x"]).is_err());
        assert!(parse(&["work", "--refresh", "--mfa-process", "x"]).is_ok());
        assert_eq!(
            parse(&["work", "--mfa-process", "pass otp aws/work", "--", "true"])
                .unwrap()
                .mfa_process
                .as_deref(),
            Some("pass otp aws/work")
        );
        assert!(parse(&["work", "--session-name", "x"]).is_err());
        assert!(parse(&["work", "-q", "-v"]).is_err());
        assert!(parse(&["work", "-d", "abc"]).is_err());
        assert!(parse(&["work", "-t", "12345"]).is_err());
        assert!(parse(&["work", "--region", "EU WEST"]).is_err());
        assert_eq!(
            parse(&["work", "--mfa", "-d", "90m"]).unwrap().duration,
            Some(Typed {
                text: "90m".into(),
                value: Duration::from_secs(5400)
            })
        );
    }

    #[test]
    fn mfa_prompt_implies_mfa_and_excludes_the_other_code_sources() {
        assert!(matches!(
            session(&["work", "--mfa-prompt"]).wants,
            Wants::Session(Start::Mfa(MfaFrom::Prompt))
        ));
        assert!(matches!(
            session(&["work", "--mfa", "--mfa-prompt", "--role", "a"]).wants,
            Wants::Role {
                from: Start::Mfa(MfaFrom::Prompt),
                ..
            }
        ));
        assert!(parse(&["work", "--mfa-prompt", "--refresh"]).is_ok());
        for other in [
            &["-t", "123456"][..],
            &["--mfa-process", "x"],
            &["--no-session"],
            &["--role", "a", "--web-identity"],
        ] {
            let mut args = vec!["work", "--mfa-prompt"];
            args.extend_from_slice(other);
            assert!(parse(&args).is_err(), "{args:?}");
        }
    }

    #[test]
    fn web_identity_takes_an_optional_file_and_refuses_mfa_flags() {
        let cli = parse(&["ci", "--role", "deploy", "--web-identity", "--", "make"]).unwrap();
        assert_eq!(cli.web.web_identity, Some(None));
        assert_eq!(cli.command, ["make"]);
        let cli = parse(&["ci", "--role", "deploy", "--web-identity=/tmp/jwt"]).unwrap();
        assert_eq!(cli.web.web_identity, Some(Some(PathBuf::from("/tmp/jwt"))));
        // No `=`: the word is the command, not the file.
        let cli = parse(&["ci", "--role", "deploy", "--web-identity", "make"]).unwrap();
        assert_eq!(cli.web.web_identity, Some(None));
        assert_eq!(cli.command, ["make"]);
        let cli = parse(&["ci", "--role", "d", "--web-identity", "--audience", "a"]).unwrap();
        assert_eq!(cli.web.audience.as_deref(), Some("a"));
        for conflict in [
            &["--mfa"][..],
            &["-t", "123456"],
            &["--mfa-process", "x"],
            &["--no-session"],
            &["--external-id", "xyz"],
        ] {
            let mut args = vec!["ci", "--role", "d", "--web-identity"];
            args.extend_from_slice(conflict);
            assert!(parse(&args).is_err(), "{conflict:?}");
        }
        assert!(parse(&["ci", "--audience", "a"]).is_err());
        assert!(parse(&["--list", "--web-identity"]).is_err());
    }

    #[test]
    fn debug_of_the_command_line_shows_no_code_or_external_id() {
        let cli = parse(&[
            "work",
            "-t",
            "987654",
            "--role",
            "admin",
            "--external-id",
            "SECRETMARKER-tenant",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(
            !shown.contains("987654") && !shown.contains("SECRETMARKER"),
            "{shown}"
        );
        assert!(shown.contains("token: Some(** redacted **)"), "{shown}");
        assert!(
            shown.contains("external_id: Some(** redacted **)"),
            "{shown}"
        );
    }
}
