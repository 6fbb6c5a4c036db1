//! IAM Identity Center accounts (DESIGN §17) in every mode: the wiring between an accounts-file
//! entry with `sso_*` keys and [`crate::sso`]. The role session is cached in the credentials
//! directory like any role session; the login is the AWS CLI's token cache.
#![forbid(unsafe_code)]

use super::{Outcome, Places};
use crate::accounts::AccountName;
use crate::aws::Outbound;
use crate::env::{self, Environment, Region};
use crate::error::Result;
use crate::invocation::SessionAsk;
use crate::provider::{Start, Wants};
use crate::report::Reporter;
use crate::server::{self, RefreshWindow, Renewer};
use crate::session::{Credentials, Session};
use crate::sso::account::SsoAccount;
use crate::sso::login::{LoginOptions, Method, TerminalUi};
use crate::sso::provider::SsoProvider;
use crate::sso::{LazySso, SsoEndpoints, TokenCache};
use std::ffi::OsString;
use std::fmt;
use std::time::{Duration, SystemTime};

/// What does not apply to an IAM Identity Center account; `Display` is the sentence.
#[derive(Debug)]
pub enum SsoRefusal {
    /// `--mfa`, `--role`, `--web-identity`, `--no-session`, `-t`, `--mfa-process`.
    Flag {
        account: AccountName,
        flag: &'static str,
    },
    /// `--rotate`: there is no access key.
    Rotate { account: AccountName },
    /// `--login` of an account that is not an IAM Identity Center one.
    NotSso { account: AccountName },
    /// No home directory for the AWS CLI's token cache.
    NoHome,
}

impl fmt::Display for SsoRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SsoRefusal::Flag { account, flag } => write!(
                f,
                "account {account} gets its credentials from IAM Identity Center (sso_role_name in the accounts file), so {flag} does not apply; drop it"
            ),
            SsoRefusal::Rotate { account } => write!(
                f,
                "account {account} signs in through IAM Identity Center and has no access key to rotate"
            ),
            SsoRefusal::NotSso { account } => write!(
                f,
                "--login signs in to IAM Identity Center, and account {account} has no sso_start_url in the accounts file; add its sso_start_url, sso_region, sso_account_id and sso_role_name"
            ),
            SsoRefusal::NoHome => f.write_str(
                "the IAM Identity Center login is kept in ~/.aws/sso/cache, and HOME is not set; set HOME",
            ),
        }
    }
}

impl std::error::Error for SsoRefusal {}

/// An IAM Identity Center account ready to resolve.
pub(super) struct SsoPrepared {
    provider: SsoProvider<LazySso>,
    region: Region,
    refresh: bool,
    /// What the request asked that does not apply (raised by the modes that get a session).
    refusal: Option<SsoRefusal>,
    login: LoginOptions,
    ui: TerminalUi,
}

/// The account's IAM Identity Center entry, and the run's outbound layer.
pub(super) struct Target<'a> {
    pub sso: SsoAccount,
    /// The entry's `region`, for the command.
    pub account_region: Option<&'a str>,
    pub outbound: Outbound,
}

/// Checks the request against what an IAM Identity Center account can do and builds its
/// provider; nothing is read or called yet.
pub(super) fn prepare(
    ask: &SessionAsk,
    target: Target<'_>,
    places: &Places,
    current: &Environment,
    report: Reporter,
) -> Result<SsoPrepared> {
    let Target {
        sso,
        account_region,
        outbound,
    } = target;
    let account = &ask.account;
    let refused = |flag| {
        Some(SsoRefusal::Flag {
            account: account.clone(),
            flag,
        })
    };
    let refusal = match &ask.wants {
        Wants::Session(Start::Keys) => refused("--no-session"),
        Wants::Session(Start::Mfa(_)) => refused("--mfa"),
        Wants::Role { .. } => refused("--role"),
        Wants::WebIdentity { .. } => refused("--web-identity"),
        // -d is refused before this without --mfa or --role.
        Wants::Session(Start::Ambient) => None,
    };
    let home = places.home.ok_or(SsoRefusal::NoHome)?;
    // The command's region: --region, the entry's, the environment's, else sso_region.
    let region = env::resolve_region(
        ask.region.as_deref(),
        account_region.or(Some(sso.session.region.as_str())),
        current,
    );
    let endpoints = SsoEndpoints::from_env(current, &sso.session.region);
    for shown in endpoints.cleartext_remote() {
        report.warn(format!(
            "the IAM Identity Center endpoint {shown} is plain http on another host: the login's tokens and the credentials cross the network unencrypted; use https"
        ));
    }
    let api = LazySso::new(&sso.session.region, endpoints.clone(), outbound);
    Ok(SsoPrepared {
        provider: SsoProvider {
            account: account.clone(),
            sso,
            cache: crate::cache::AccountState::new(&places.creds_dir.path, account),
            tokens: TokenCache::in_home(home),
            endpoints,
            api,
            min_ttl: ask.knobs.min_ttl.window,
            report,
        },
        region,
        refresh: ask.refresh,
        refusal,
        login: LoginOptions {
            method: if ask.no_browser {
                Method::DeviceCode
            } else {
                Method::Auto
            },
            wait: ask.knobs.login_wait,
        },
        ui: TerminalUi::new(current),
    })
}

impl SsoPrepared {
    /// The role session (exec and print modes): cached, else from the token, signing in when
    /// needed.
    pub(super) fn resolve(mut self) -> Result<(Session, Region)> {
        if let Some(refusal) = self.refusal {
            return Err(refusal.into());
        }
        let session = self
            .provider
            .resolve(self.refresh, Some(&self.login), &mut self.ui)?;
        Ok((session, self.region))
    }

    /// `--login`.
    pub(super) fn login(mut self) -> Result<Outcome> {
        self.provider.login(&self.login, &mut self.ui)?;
        Ok(Outcome::Exit(0))
    }

    /// `--server`: the first session as exec mode gets it (a login may happen: the command
    /// has not started), then renewals from the token that never sign in.
    pub(super) fn serve(
        mut self,
        command: Vec<OsString>,
        min_ttl_given: Option<Duration>,
        current: &Environment,
        report: Reporter,
    ) -> Result<Outcome> {
        if let Some(refusal) = self.refusal {
            return Err(refusal.into());
        }
        let session = self
            .provider
            .resolve(self.refresh, Some(&self.login), &mut self.ui)?;
        let child = super::logged(env::plan(&session, &self.region.name), report);
        let window = RefreshWindow::from_min_ttl(min_ttl_given);
        let (program, args) = crate::exec::command_or_shell(command, current);
        report.status(format!(
            "Serving keys for {} AWS account to the command",
            session.label
        ));
        let plan = server::ServerPlan {
            session,
            program,
            args,
            current: current.clone(),
            exec_env: child,
            window,
            report,
        };
        let mut provider = self.provider;
        provider.report = Reporter::new(true, false);
        provider.api = provider.api.without_announcements();
        Ok(Outcome::Served(server::run(plan, SsoRenewal { provider })?))
    }
}

/// `--server`'s renewals of an IAM Identity Center role session.
struct SsoRenewal {
    provider: SsoProvider<LazySso>,
}

impl Renewer for SsoRenewal {
    type Error = crate::sso::SsoError;

    fn renew(&mut self, valid_for: Duration) -> std::result::Result<Credentials, Self::Error> {
        self.provider.renew(valid_for)
    }

    fn source_end(&self) -> Option<(SystemTime, String)> {
        self.provider.source_end()
    }

    fn source_name(&self) -> &'static str {
        "IAM Identity Center login"
    }
}
