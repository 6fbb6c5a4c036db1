//! An IAM Identity Center account's role session, cached like any role session (DESIGN §2,
//! §17): a valid cached session is used without a lock, a thread, a socket or a token read;
//! otherwise the account's lock is taken, the cache read again (another run may just have
//! fetched it), and only then is the token (cached, refreshed, or a new login) used for
//! GetRoleCredentials and the session written. Parallel cold runs therefore sign in once.
#![forbid(unsafe_code)]

use super::account::SsoAccount;
use super::client::{OidcApi, PortalApi, SsoEndpoints};
use super::login::{LoginOptions, LoginUi, Sso};
use super::loopback::BrowserError;
use super::{SsoError, TokenCache};
use crate::accounts::AccountName;
use crate::cache::{AccountLock, AccountState, CachedSession, Miss, Slot, Waiting};
use crate::report::Reporter;
use crate::session::{self, Credentials, Session, mask_key_id, rfc3339};
use std::time::{Duration, SystemTime};

/// What a role session made from an IAM Identity Center token is bound to in the cache (in
/// place of a long-lived key id): a key-based session of the same role is never served.
pub const SOURCE: &str = "sso";

/// The label the command sees in `STSEXEC_ACCOUNT`: `work-sso-ReadOnly-STS`.
pub fn label(account: &AccountName, role_name: &str) -> String {
    format!("{account}-sso-{role_name}-STS")
}

pub struct SsoProvider<A> {
    pub account: AccountName,
    pub sso: SsoAccount,
    /// The account's session cache (credentials directory).
    pub cache: AccountState,
    /// The AWS CLI's token cache.
    pub tokens: TokenCache,
    pub endpoints: SsoEndpoints,
    pub api: A,
    /// A cached session is used while more than this remains (`STSEXEC_MIN_TTL`, 5 minutes).
    pub min_ttl: Duration,
    pub report: Reporter,
}

impl<A: OidcApi + PortalApi> SsoProvider<A> {
    /// The cache slot: the role's ARN in the SSO account, bound to [`SOURCE`] and to the
    /// portal endpoint override.
    pub fn slot(&self) -> Slot {
        Slot {
            account: self.account.clone(),
            mfa_serial: None,
            role_arn: Some(self.role_arn()),
            source_key_id: SOURCE.to_string(),
            endpoint: self.endpoints.portal_override().map(str::to_string),
            web_identity: false,
            identity: None,
        }
    }

    fn role_arn(&self) -> String {
        let partition = partition_of(&self.sso.session.region);
        format!(
            "arn:{partition}:iam::{}:role/{}",
            self.sso.account_id, self.sso.role_name
        )
    }

    fn session(&self, credentials: Credentials) -> Session {
        Session {
            label: label(&self.account, &self.sso.role_name),
            account_id: Some(self.sso.account_id.clone()),
            credentials,
        }
    }

    /// The role session. `refresh`: fetch a new one even if one is cached. `login: None`:
    /// never sign in (a `--server` renewal); without a usable token that is an error naming
    /// `--login`.
    pub fn resolve(
        &mut self,
        refresh: bool,
        login: Option<&LoginOptions>,
        ui: &mut dyn LoginUi,
    ) -> Result<Session, SsoError> {
        let slot = self.slot();
        if !refresh && let Some(hit) = self.lookup(&slot, false) {
            self.report_hit(&hit);
            return Ok(self.session(hit));
        }
        let lock = self
            .cache
            .lock(Waiting::ToRefresh, self.report)
            .map_err(SsoError::Cache)?;
        if !refresh && let Some(hit) = self.lookup(&slot, true) {
            self.report_hit(&hit);
            return Ok(self.session(hit));
        }
        lock.set_activity("getting IAM Identity Center credentials");
        let credentials = Sso {
            account: self.account.as_str(),
            session: &self.sso.session,
            cache: &self.tokens,
            endpoints: &self.endpoints,
            api: &mut self.api,
        }
        .role_credentials(&self.sso.account_id, &self.sso.role_name, login, ui)?;
        self.store(&lock, &slot, &credentials);
        Ok(self.session(credentials))
    }

    /// A new login (`--login`), whatever the token cache holds.
    pub fn login(&mut self, options: &LoginOptions, ui: &mut dyn LoginUi) -> Result<(), SsoError> {
        let token = Sso {
            account: self.account.as_str(),
            session: &self.sso.session,
            cache: &self.tokens,
            endpoints: &self.endpoints,
            api: &mut self.api,
        }
        .login(options, ui)?;
        self.report.status(format!(
            "Signed in to IAM Identity Center for account {} ({}; {} left{})",
            self.account,
            self.sso.session.shown(),
            session::hours_minutes(token.time_left(SystemTime::now())),
            if token.refresh_token.is_some() {
                ", renewed without a browser until your organisation's session ends"
            } else {
                ""
            }
        ));
        Ok(())
    }

    /// A `--server` renewal: a session valid for longer than `valid_for`, from the cache or
    /// the token (refreshed as needed), never a login; the command's terminal sees nothing.
    pub fn renew(&mut self, valid_for: Duration) -> Result<Credentials, SsoError> {
        self.min_ttl = valid_for;
        self.resolve(false, None, &mut Unattended)
            .map(|session| session.credentials)
    }

    /// What `--server` reminds of before the token ends (when it cannot be refreshed).
    pub fn source_end(&self) -> Option<(SystemTime, String)> {
        self.token_end()
            .map(|end| (end, format!("stsexec {} --login", self.account)))
    }

    /// When the token ends if it cannot be refreshed (`--server` reminds before then).
    pub fn token_end(&self) -> Option<SystemTime> {
        let token = self.tokens.load_token(&self.sso.session).ok().flatten()?;
        (!token.refreshable(SystemTime::now())).then_some(token.expires_at)
    }

    fn store(&self, lock: &AccountLock, slot: &Slot, credentials: &Credentials) {
        let cached = CachedSession {
            credentials: credentials.clone(),
            with_mfa: false,
            session_name: None,
            external_id: None,
        };
        match self.cache.store(lock, slot, &cached, "GetRoleCredentials") {
            Ok(path) => self.report.debug(format!(
                "new session {} valid until {}, cached in {}",
                mask_key_id(&credentials.access_key_id),
                credentials.expiration.map(rfc3339).unwrap_or_default(),
                path.display()
            )),
            Err(e) => self
                .report
                .warn(format!("{e}; the session is used but not cached")),
        }
    }

    fn report_hit(&self, credentials: &Credentials) {
        let left = credentials
            .expiration
            .and_then(|e| e.duration_since(SystemTime::now()).ok())
            .map(|d| format!(" ({} left)", session::hours_minutes(d)))
            .unwrap_or_default();
        self.report.status(format!(
            "Cache is valid for account {} (IAM Identity Center role {}){left}",
            self.account, self.sso.role_name
        ));
    }

    fn lookup(&self, slot: &Slot, report: bool) -> Option<Credentials> {
        let miss = match self.cache.load(slot) {
            Ok(hit) if hit.credentials.is_valid_at(SystemTime::now(), self.min_ttl) => {
                return Some(hit.credentials);
            }
            Ok(hit) => Miss::Expiring {
                expiration: hit.credentials.expiration.unwrap_or(SystemTime::UNIX_EPOCH),
                window: self.min_ttl,
            },
            Err(miss) => miss,
        };
        if report {
            let path = self.cache.path_for(slot);
            if miss.is_unusable_file() {
                self.report.warn(format!(
                    "ignoring cache file {}: it {miss}; a new session will replace it",
                    path.display()
                ));
            } else {
                self.report
                    .debug(format!("cache file {}: {miss}", path.display()));
            }
        }
        None
    }
}

/// The partition of an IAM Identity Center region (for the role's ARN).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// The UI of a run that never signs in (renewals): no browser, nothing on the terminal.
pub struct Unattended;

impl LoginUi for Unattended {
    fn browser(&self) -> Option<String> {
        None
    }

    fn open_browser(&mut self, _command: &str, _url: &str) -> Result<(), BrowserError> {
        Err(BrowserError::Unattended)
    }

    fn say(&mut self, _line: &str) {}
}

/// What `--list` says of an IAM Identity Center account's login (the token file is read; no
/// call is made): `signed in (7h 58m left, renewable)`, `not signed in`.
pub fn login_state(sso: &SsoAccount, tokens: &TokenCache) -> String {
    let now = SystemTime::now();
    match tokens.load_token(&sso.session) {
        Ok(Some(token)) if token.time_left(now) > Duration::ZERO => format!(
            "signed in ({} left{})",
            session::hours_minutes(token.time_left(now)),
            if token.refreshable(now) {
                ", renewable"
            } else {
                ""
            }
        ),
        Ok(Some(token)) if token.refreshable(now) => "signed in (renewable)".into(),
        Ok(_) => "not signed in".into(),
        Err(_) => "token cache unusable".into(),
    }
}
