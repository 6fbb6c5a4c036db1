//! Which credentials the command gets (DESIGN §3). Each session comes through the cache
//! wrapped around an STS fetcher with an explicit expiry window: a valid cached session that
//! fits the request is used without locking; otherwise the account's lock is taken, the cache
//! read again (another process may just have refreshed it), and only then is STS called and
//! the new session written. STS and the MFA code source are traits, so the whole decision
//! table is unit-tested against a fake STS in milliseconds.
#![forbid(unsafe_code)]

use crate::accounts::{AccountName, Role};
use crate::cache::{AccountLock, AccountState, CachedSession, Miss, Slot, Unfit, Waiting};
use crate::env::Environment;
use crate::error::{Error, Result};
use crate::keys::{AccountKeys, KeyPlaces, ReadContext};
use crate::mfa;
use crate::report::Reporter;
use crate::secret::{MfaCode, Secret, mask_key_id};
use crate::session::{self, Credentials, Session, rfc3339};
use crate::sts::{
    AssumeRoleRequest, Signer, StsApi, StsError, StsFailure, WEB_IDENTITY_OPERATION,
    WebIdentityRequest,
};
use crate::web_identity::{TokenSource, WebIdentityError};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub mod durations;
pub use durations::Durations;

/// A cached session that lasts longer than an explicit `-d` by more than this is not reused.
const DURATION_SLACK: Duration = Duration::from_secs(60);

/// What the user asked of the provider, already validated: which credentials ([`Wants`]), how
/// long they last, and whether a valid cached session may be reused.
#[derive(Debug)]
pub struct Request {
    pub wants: Wants,
    pub durations: Durations,
    /// `--refresh`: fetch a new session even if a valid one is cached (the cache is updated).
    pub refresh: bool,
}

impl Request {
    /// Whether the session stands on the account's MFA session (`--mfa`, `-t`, `--mfa-process`).
    pub fn wants_mfa(&self) -> bool {
        match &self.wants {
            Wants::Session(start) | Wants::Role { from: start, .. } => start.is_mfa(),
            Wants::WebIdentity { .. } => false,
        }
    }
}

/// Which credentials the command gets: one variant per row of DESIGN §3. A role is named by
/// `R` and web-identity tokens come from `T`: as typed on the command line
/// ([`crate::invocation`]), then resolved against the accounts file and the environment
/// (`Role`, [`TokenSource`]) for the provider. Web identity without a role cannot be built.
#[derive(Debug, Clone)]
pub enum Wants<R = Role, T = TokenSource> {
    /// No role: the session `Start` names (long-lived keys, or the account's MFA session).
    Session(Start),
    /// `--role R`: AssumeRole, signed with what `from` gives.
    Role {
        role: R,
        from: Start,
        assume: AssumeOptions,
    },
    /// `--role R --web-identity`: AssumeRoleWithWebIdentity with a CI's OIDC token; no key files.
    WebIdentity {
        role: R,
        tokens: T,
        /// `--session-name`, when given.
        session_name: Option<String>,
    },
}

impl<R, T> Wants<R, T> {
    pub fn role(&self) -> Option<&R> {
        match self {
            Wants::Session(_) => None,
            Wants::Role { role, .. } | Wants::WebIdentity { role, .. } => Some(role),
        }
    }

    pub fn is_web_identity(&self) -> bool {
        matches!(self, Wants::WebIdentity { .. })
    }

    /// The same request borrowing its role and token source (the rest is small and copied).
    pub fn as_ref(&self) -> Wants<&R, &T> {
        match self {
            Wants::Session(start) => Wants::Session(start.clone()),
            Wants::Role { role, from, assume } => Wants::Role {
                role,
                from: from.clone(),
                assume: assume.clone(),
            },
            Wants::WebIdentity {
                role,
                tokens,
                session_name,
            } => Wants::WebIdentity {
                role,
                tokens,
                session_name: session_name.clone(),
            },
        }
    }

    /// The same request with its role and token source resolved (or checked) by `role` and
    /// `tokens`; each is called only when the request has one.
    pub fn try_map<R2, T2, E>(
        self,
        role: impl FnOnce(R) -> std::result::Result<R2, E>,
        tokens: impl FnOnce(T) -> std::result::Result<T2, E>,
    ) -> std::result::Result<Wants<R2, T2>, E> {
        Ok(match self {
            Wants::Session(start) => Wants::Session(start),
            Wants::Role {
                role: r,
                from,
                assume,
            } => Wants::Role {
                role: role(r)?,
                from,
                assume,
            },
            Wants::WebIdentity {
                role: r,
                tokens: t,
                session_name,
            } => {
                let tokens = tokens(t)?;
                Wants::WebIdentity {
                    role: role(r)?,
                    tokens,
                    session_name,
                }
            }
        })
    }
}

/// The credentials a session starts from.
#[derive(Debug, Clone)]
pub enum Start {
    /// No flag: the cached MFA session while valid, else the long-lived keys (`ec2switch`).
    Ambient,
    /// `--no-session`: the long-lived keys even when an MFA session is cached.
    Keys,
    /// `--mfa`: the MFA session, cached or new with a code from `MfaFrom`.
    Mfa(MfaFrom),
}

impl Start {
    pub fn is_mfa(&self) -> bool {
        matches!(self, Start::Mfa(_))
    }
}

/// Where the code for a new MFA session comes from, as the command line says (DESIGN §9).
#[derive(Debug, Clone)]
pub enum MfaFrom {
    /// `--mfa`: the account's `mfa_process`, else the prompt.
    Usual,
    /// `-t CODE` (it wins over `--mfa-process` when both are given).
    Code(MfaCode),
    /// `--mfa-process CMD`.
    Command(String),
    /// `--mfa-prompt`: the prompt, even when the account has an `mfa_process`.
    Prompt,
}

/// AssumeRole's parameters beside the role.
#[derive(Debug, Clone, Default)]
pub struct AssumeOptions {
    /// `--session-name`, when given.
    pub session_name: Option<String>,
    pub external_id: Option<Secret>,
}

/// Where MFA codes come from once the cache cannot help (DESIGN §9). The provider asks under
/// the account's lock, which also guards the used-code record at `ledger`.
pub trait CodeSource {
    /// Whether codes are typed at a prompt (the lock holder's record then says so).
    fn prompts(&self) -> bool;

    /// The next code to send. `rejected`: STS refused the previous one. `Ok(None)` (only after
    /// a rejection): this source has no other code to try, and STS's refusal is the error.
    fn next(
        &mut self,
        account: &AccountName,
        serial: &str,
        ledger: &Path,
        rejected: bool,
    ) -> Result<Option<MfaCode>>;

    /// STS accepted `code`: remember it, so it is never sent again while it could be valid.
    fn accepted(
        &mut self,
        account: &AccountName,
        serial: &str,
        ledger: &Path,
        code: &MfaCode,
    ) -> Result<()>;
}

/// The real source: `-t`, `--mfa-process`, the account's `mfa_process` or the prompt, with
/// the used-code record ([`mfa::Codes`]).
pub struct MfaCodes {
    pub codes: mfa::Codes,
    /// The environment snapshot (the command's environment, the MFA time limits).
    pub env: Environment,
    pub report: Reporter,
}

fn code_request<'a>(
    env: &'a Environment,
    report: Reporter,
    account: &'a AccountName,
    serial: &'a str,
    ledger: &'a Path,
) -> mfa::CodeRequest<'a> {
    mfa::CodeRequest {
        account: account.as_str(),
        serial,
        ledger,
        env,
        report,
    }
}

impl CodeSource for MfaCodes {
    fn prompts(&self) -> bool {
        self.codes.prompts()
    }

    fn next(
        &mut self,
        account: &AccountName,
        serial: &str,
        ledger: &Path,
        rejected: bool,
    ) -> Result<Option<MfaCode>> {
        let request = code_request(&self.env, self.report, account, serial, ledger);
        Ok(Some(self.codes.next(&request, rejected)?))
    }

    fn accepted(
        &mut self,
        account: &AccountName,
        serial: &str,
        ledger: &Path,
        code: &MfaCode,
    ) -> Result<()> {
        let request = code_request(&self.env, self.report, account, serial, ledger);
        Ok(self.codes.accepted(&request, code)?)
    }
}

/// Everything the decision needs to know about one account.
pub struct AccountSetup {
    pub account: AccountName,
    /// The long-lived key behind the seam of [`crate::keys`]: its id is read at each
    /// [`Provider::resolve`] (the sessions are bound to it), its secret only when STS is
    /// called with it, under the account's lock, or the command gets it. `None` for
    /// `--web-identity`, which reads no key files.
    pub keys: Option<AccountKeys>,
    /// The MFA device, or why it is unknown (an error only where a device is needed).
    pub mfa_serial: std::result::Result<String, Arc<Error>>,
    /// The default role session name (`<user>-stsexec`), or why it cannot be made.
    pub default_session_name: std::result::Result<String, Arc<Error>>,
    /// The id file and the key's store, which messages name when STS refuses the key.
    pub key_files: KeyPlaces,
    /// The account the accounts file gives (for `AWS_ACCOUNT_ID`).
    pub account_id: Option<String>,
    /// The account's cached sessions, lock and used-code ledger.
    pub state: AccountState,
    /// Whether the credentials directory can hold a cache: `false` only for `--web-identity`
    /// with a `HOME` that does not exist (a container), which then runs without one.
    pub cache: bool,
    pub min_ttl: Duration,
}

/// The decision of DESIGN §3 over an account, an STS and a code source. Callable again in the
/// same process (the credential server renews through it).
pub struct Provider<S: StsApi, C: CodeSource> {
    pub setup: AccountSetup,
    pub sts: S,
    pub codes: C,
    pub report: Reporter,
}

/// How much a cache lookup tells: the lock-free first look stays quiet about misses, which
/// the look under the lock then reports once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Quiet,
    Report,
}

/// A source of credentials for AssumeRole, and whether it came from the cache.
struct Source {
    credentials: Credentials,
    with_mfa: bool,
    cached_mfa: bool,
}

impl<S: StsApi, C: CodeSource> Provider<S, C> {
    /// The table of DESIGN §3.
    pub fn resolve(&mut self, request: &Request) -> Result<Session> {
        let account = self.setup.account.to_string();
        let source = match (&request.wants, &mut self.setup.keys) {
            (Wants::WebIdentity { tokens, .. }, _) => {
                format!("web identity token from {}", tokens.origin())
            }
            // The id alone, read again on every call (a `--server` renewal after a rotation
            // elsewhere gets the new key); the secret waits until STS needs it.
            (_, Some(keys)) => format!("long-lived key {}", mask_key_id(keys.read_key_id()?)),
            (_, None) => "no long-lived key".to_string(),
        };
        self.report.debug(format!(
            "account {account}: {source}; STS endpoint {}",
            self.sts.endpoint().shown
        ));
        let mut held = None;
        let (role, credentials) = match &request.wants {
            Wants::WebIdentity {
                role,
                tokens,
                session_name,
            } => {
                let name = self.session_name(session_name.as_deref())?;
                let credentials =
                    self.web_identity_session(role, request, name, tokens, &mut held)?;
                (role, credentials)
            }
            Wants::Role { role, from, assume } => {
                let credentials = self.role_session(role, from, assume, request, &mut held)?;
                (role, credentials)
            }
            Wants::Session(Start::Mfa(from)) => {
                let code_given = matches!(from, MfaFrom::Code(_));
                let credentials = self.mfa_session(request, code_given, &mut held)?;
                return Ok(self.mfa_label(credentials));
            }
            Wants::Session(Start::Ambient) => return self.ambient(false),
            Wants::Session(Start::Keys) => return self.ambient(true),
        };
        Ok(Session {
            label: session::label_for_role(&account, &role.name),
            account_id: Some(role.account_id.clone()),
            credentials,
        })
    }

    /// The long-lived key, which every row but `--web-identity` starts from.
    fn account_keys(&self) -> Result<&AccountKeys> {
        self.setup.keys.as_ref().ok_or_else(|| {
            WebIdentityError::NoKeys {
                account: self.setup.account.to_string(),
            }
            .into()
        })
    }

    /// The long-lived key's id as this call read it: what every session is bound to.
    fn key_id(&self) -> Result<String> {
        let keys = self.account_keys()?;
        Ok(keys.key_id().unwrap_or_default().to_string())
    }

    /// The long-lived key with its secret, read from the store now (DESIGN §13: a cache hit
    /// reads no secret). `lock`: held when STS is called with it, so parallel runs read once.
    fn long_lived(&self, lock: Option<&AccountLock>) -> Result<Credentials> {
        let keys = self.account_keys()?;
        if let Some(lock) = lock {
            lock.set_activity("reading the long-lived key");
        }
        Ok(keys.read(&ReadContext {
            report: self.report,
            lock,
        })?)
    }

    /// When the account's cached MFA session ends, if one is cached (the credential server's
    /// reminders to renew it).
    pub fn cached_mfa_end(&self) -> Option<SystemTime> {
        let slot = self.mfa_slot().ok()?;
        match self.setup.state.load(&slot) {
            Ok(hit) if hit.with_mfa => hit.credentials.expiration,
            _ => None,
        }
    }

    fn mfa_label(&self, credentials: Credentials) -> Session {
        Session {
            label: session::label_for_mfa(self.setup.account.as_str()),
            account_id: self.setup.account_id.clone(),
            credentials,
        }
    }

    /// No flags: the cached MFA session while valid, else the long-lived keys (`ec2switch`);
    /// `--no-session`: the keys.
    fn ambient(&self, no_session: bool) -> Result<Session> {
        let account = self.setup.account.to_string();
        if !no_session
            && let Ok(slot) = self.mfa_slot()
            && let Some(credentials) = self.lookup(&slot, &|_| None, Pass::Report)
        {
            self.report_hit(&slot, &credentials);
            return Ok(self.mfa_label(credentials));
        }
        self.report
            .debug(format!("account {account}: using the long-lived keys"));
        Ok(Session {
            label: session::label_for_keys(&account),
            account_id: self.setup.account_id.clone(),
            credentials: self.long_lived(None)?,
        })
    }

    fn mfa_slot(&self) -> Result<Slot> {
        let serial = match &self.setup.mfa_serial {
            Ok(serial) => serial.clone(),
            Err(why) => return Err(Error::Shared(why.clone())),
        };
        Ok(Slot {
            account: self.setup.account.clone(),
            mfa_serial: Some(serial),
            role_arn: None,
            source_key_id: self.key_id()?,
            endpoint: self.sts.endpoint().url_override.clone(),
            web_identity: false,
            identity: None,
        })
    }

    /// `--mfa`: the cached MFA session, else a code and GetSessionToken. `code_given`: `-t`,
    /// which a cache hit leaves unused (and says so).
    fn mfa_session(
        &mut self,
        request: &Request,
        code_given: bool,
        held: &mut Option<AccountLock>,
    ) -> Result<Credentials> {
        let slot = self.mfa_slot()?;
        let asked = request
            .durations
            .session_asked
            .then_some(request.durations.session);
        let fits = move |c: &CachedSession| {
            if !c.with_mfa {
                Some(Unfit::WithoutMfa)
            } else if asked.is_some_and(|d| lasts_longer_than(&c.credentials, d)) {
                Some(Unfit::LongerThanAsked)
            } else {
                None
            }
        };
        if let Some(hit) = self.cached(&slot, &fits, request.refresh, held)? {
            if code_given {
                self.report.status(format!(
                    "-t not used: a valid session is cached for account {} (--refresh uses it)",
                    self.setup.account
                ));
            }
            return Ok(hit);
        }
        self.fetch_mfa_session(request, &slot, held)
    }

    fn fetch_mfa_session(
        &mut self,
        request: &Request,
        slot: &Slot,
        held: &mut Option<AccountLock>,
    ) -> Result<Credentials> {
        let serial = slot.mfa_serial.clone().unwrap_or_default();
        let duration = request.durations.session;
        let lock = self.lock(held)?;
        let keys = self.long_lived(Some(lock))?;
        // Under the account's lock and then the device's, which every account configured with
        // this device takes: codes, the used-code record and the call (DESIGN §9).
        let device = self.setup.state.lock_device(&serial, self.report)?;
        let ledger = device.path().to_path_buf();
        let mut rejected = false;
        let credentials = loop {
            // A command may take a while too (a YubiKey touch, a wait for the next step).
            let activity = if self.codes.prompts() {
                "prompting for an MFA code"
            } else {
                "getting an MFA code"
            };
            lock.set_activity(activity);
            device.set_activity(activity);
            let Some(code) = self
                .codes
                .next(&self.setup.account, &serial, &ledger, rejected)?
            else {
                return Err(self.sts_error(
                    "GetSessionToken",
                    None,
                    Some(&serial),
                    None,
                    StsFailure::MfaRejected,
                ));
            };
            lock.set_activity("calling STS");
            device.set_activity("calling STS");
            self.report.debug(format!(
                "account {}: GetSessionToken with key {} and MFA device {serial} for {}",
                self.setup.account,
                mask_key_id(&keys.access_key_id),
                humantime::format_duration(duration)
            ));
            match self.sts.get_session_token(&keys, &serial, &code, duration) {
                Ok(credentials) => {
                    if let Err(e) =
                        self.codes
                            .accepted(&self.setup.account, &serial, &ledger, &code)
                    {
                        self.report.warn(format!(
                            "{e}; the next run may send the same MFA code again"
                        ));
                    }
                    if let Err(failure) =
                        crate::sts::vet_lifetime(&credentials, duration, self.setup.min_ttl)
                    {
                        return Err(self.sts_error(
                            "GetSessionToken",
                            None,
                            Some(&serial),
                            None,
                            failure,
                        ));
                    }
                    break credentials;
                }
                Err(StsFailure::MfaRejected) => rejected = true,
                Err(failure) => {
                    return Err(self.sts_error(
                        "GetSessionToken",
                        None,
                        Some(&serial),
                        None,
                        failure,
                    ));
                }
            }
        };
        // The code is recorded: another account may use the device now.
        drop(device);
        let fetched = CachedSession {
            credentials,
            with_mfa: true,
            session_name: None,
            external_id: None,
        };
        self.store(lock, slot, &fetched, "GetSessionToken");
        Ok(fetched.credentials)
    }

    /// `--session-name`, else the default (which needs the IAM user: its error is raised here).
    fn session_name(&self, given: Option<&str>) -> Result<String> {
        match (given, &self.setup.default_session_name) {
            (Some(name), _) => Ok(name.to_string()),
            (None, Ok(name)) => Ok(name.clone()),
            (None, Err(why)) => Err(Error::Shared(why.clone())),
        }
    }

    /// The cache slot of `role`'s sessions assumed with this account's keys or MFA session.
    fn role_slot(&self, role: &Role) -> Result<Slot> {
        Ok(Slot {
            account: self.setup.account.clone(),
            mfa_serial: self.setup.mfa_serial.as_ref().ok().cloned(),
            role_arn: Some(role.arn.clone()),
            source_key_id: self.key_id()?,
            endpoint: self.sts.endpoint().url_override.clone(),
            web_identity: false,
            identity: None,
        })
    }

    /// Whether the cached session of `role` (the one [`Provider::resolve`] just returned) was
    /// assumed with the MFA session, i.e. chained from temporary credentials, rather than with
    /// the long-lived keys (`--console` may ask a console session length only for the latter).
    /// `None` when no such session is cached.
    pub fn role_assumed_with_mfa(&self, role: &Role) -> Option<bool> {
        let slot = self.role_slot(role).ok()?;
        self.setup.state.load(&slot).ok().map(|hit| hit.with_mfa)
    }

    fn role_session(
        &mut self,
        role: &Role,
        from: &Start,
        assume: &AssumeOptions,
        request: &Request,
        held: &mut Option<AccountLock>,
    ) -> Result<Credentials> {
        let session_name = self.session_name(assume.session_name.as_deref())?;
        let slot = self.role_slot(role)?;
        let asked = request
            .durations
            .role_asked
            .then_some(request.durations.role);
        let needs_mfa = from.is_mfa();
        let external_id = assume.external_id.clone();
        let name = session_name.clone();
        let fits = move |c: &CachedSession| {
            if needs_mfa && !c.with_mfa {
                Some(Unfit::WithoutMfa)
            } else if c.session_name.as_deref() != Some(name.as_str()) {
                Some(Unfit::OtherSessionName)
            } else if c.external_id != external_id {
                Some(Unfit::OtherExternalId)
            } else if asked.is_some_and(|d| lasts_longer_than(&c.credentials, d)) {
                Some(Unfit::LongerThanAsked)
            } else {
                None
            }
        };
        if let Some(hit) = self.cached(&slot, &fits, request.refresh, held)? {
            return Ok(hit);
        }
        let mut source = self.role_source(from, request, held)?;
        let external_id = assume.external_id.as_ref();
        let credentials = match self.assume_role(role, request, &session_name, external_id, &source)
        {
            // DESIGN §2: a cached session STS refuses is removed and treated as a miss.
            Err(StsFailure::UnknownKey { .. } | StsFailure::ExpiredSession)
                if source.cached_mfa =>
            {
                let mfa_slot = self.mfa_slot()?;
                let lock = self.lock(held)?;
                if let Ok(path) = self.setup.state.remove(lock, &mfa_slot) {
                    self.report.warn(format!(
                        "STS refused the cached MFA session of account {} ({}), so it was removed; {}",
                        self.setup.account,
                        path.display(),
                        if needs_mfa {
                            "getting a new one"
                        } else {
                            "assuming the role with the long-lived keys (add --mfa for a new MFA session)"
                        }
                    ));
                }
                source = if needs_mfa {
                    Source {
                        credentials: self.fetch_mfa_session(request, &mfa_slot, held)?,
                        with_mfa: true,
                        cached_mfa: false,
                    }
                } else {
                    Source {
                        credentials: self.long_lived(Some(lock))?,
                        with_mfa: false,
                        cached_mfa: false,
                    }
                };
                self.assume_role(role, request, &session_name, external_id, &source)
            }
            other => other,
        }
        .map_err(|failure| {
            let signer = self.signer(&source);
            self.sts_error("AssumeRole", Some(&role.arn), None, Some(signer), failure)
        })?;
        let fetched = CachedSession {
            credentials,
            with_mfa: source.with_mfa,
            session_name: Some(session_name),
            external_id: assume.external_id.clone(),
        };
        let lock = self.lock(held)?;
        self.store(lock, &slot, &fetched, "AssumeRole");
        Ok(fetched.credentials)
    }

    /// The credentials a role is assumed with: the MFA session (`--mfa`: cached or new; else
    /// cached only), else the long-lived keys.
    fn role_source(
        &mut self,
        from: &Start,
        request: &Request,
        held: &mut Option<AccountLock>,
    ) -> Result<Source> {
        if from.is_mfa() {
            let slot = self.mfa_slot()?;
            let cached = if request.refresh {
                None
            } else {
                self.lookup(
                    &slot,
                    &|c| (!c.with_mfa).then_some(Unfit::WithoutMfa),
                    Pass::Report,
                )
            };
            return Ok(match cached {
                Some(credentials) => Source {
                    credentials,
                    with_mfa: true,
                    cached_mfa: true,
                },
                None => Source {
                    credentials: self.fetch_mfa_session(request, &slot, held)?,
                    with_mfa: true,
                    cached_mfa: false,
                },
            });
        }
        if !matches!(from, Start::Keys)
            && let Ok(slot) = self.mfa_slot()
            && let Some(credentials) = self.lookup(&slot, &|_| None, Pass::Report)
        {
            self.report.debug(format!(
                "account {}: assuming the role from the cached MFA session",
                self.setup.account
            ));
            return Ok(Source {
                credentials,
                with_mfa: true,
                cached_mfa: true,
            });
        }
        // The role is assumed with the long-lived key: its secret is read now, under the lock
        // the missed lookup took.
        let lock = self.lock(held)?;
        Ok(Source {
            credentials: self.long_lived(Some(lock))?,
            with_mfa: false,
            cached_mfa: false,
        })
    }

    /// `--role R --web-identity`: a fresh token on every call (a `--server` renewal sends a
    /// new one), then the cached role session of the slot of that token's identity (its
    /// issuer, subject and audience: a session goes only to a run presenting a token with the
    /// same claims, issue 20), else AssumeRoleWithWebIdentity, unsigned. No token, no
    /// session; no key file is involved.
    fn web_identity_session(
        &mut self,
        role: &Role,
        request: &Request,
        session_name: String,
        tokens: &TokenSource,
        held: &mut Option<AccountLock>,
    ) -> Result<Credentials> {
        let token = tokens.fetch()?;
        let identity = crate::web_identity::identity(&token);
        let cache = self.setup.cache && identity.is_some();
        if self.setup.cache && identity.is_none() {
            self.report.debug(format!(
                "account {}: the token from {} has no readable issuer, subject and audience, so no cached session is used or kept",
                self.setup.account,
                tokens.origin()
            ));
        }
        let slot = Slot {
            account: self.setup.account.clone(),
            mfa_serial: None,
            role_arn: Some(role.arn.clone()),
            source_key_id: String::new(),
            endpoint: self.sts.endpoint().url_override.clone(),
            web_identity: true,
            identity,
        };
        let asked = request
            .durations
            .role_asked
            .then_some(request.durations.role);
        let name = session_name.clone();
        let fits = move |c: &CachedSession| {
            if c.session_name.as_deref() != Some(name.as_str()) {
                Some(Unfit::OtherSessionName)
            } else if c.external_id.is_some() {
                Some(Unfit::OtherExternalId)
            } else if asked.is_some_and(|d| lasts_longer_than(&c.credentials, d)) {
                Some(Unfit::LongerThanAsked)
            } else {
                None
            }
        };
        if cache {
            if let Some(hit) = self.cached(&slot, &fits, request.refresh, held)? {
                return Ok(hit);
            }
            self.lock(held)?.set_activity("calling STS");
        }
        let duration = request.durations.role;
        self.report.debug(format!(
            "account {}: {WEB_IDENTITY_OPERATION} {} as {session_name} with a token from {} for {}",
            self.setup.account,
            role.arn,
            tokens.origin(),
            humantime::format_duration(duration)
        ));
        let call = WebIdentityRequest {
            role_arn: &role.arn,
            session_name: &session_name,
            token: &token,
            duration,
        };
        let min_ttl = self.setup.min_ttl;
        let credentials = self
            .sts
            .assume_role_with_web_identity(&call)
            .and_then(|c| crate::sts::vet_lifetime(&c, duration, min_ttl).map(|()| c))
            .map_err(|failure| {
                self.sts_error(
                    WEB_IDENTITY_OPERATION,
                    Some(&role.arn),
                    None,
                    Some(Signer::WebIdentityToken(tokens.origin())),
                    failure,
                )
            })?;
        drop(token);
        let fetched = CachedSession {
            credentials,
            with_mfa: false,
            session_name: Some(session_name),
            external_id: None,
        };
        if cache {
            let lock = self.lock(held)?;
            self.store(lock, &slot, &fetched, WEB_IDENTITY_OPERATION);
        }
        Ok(fetched.credentials)
    }

    fn assume_role(
        &mut self,
        role: &Role,
        request: &Request,
        session_name: &str,
        external_id: Option<&Secret>,
        source: &Source,
    ) -> std::result::Result<Credentials, StsFailure> {
        let mut duration = request.durations.role;
        if source.credentials.is_session() && duration > durations::CHAINED_ROLE_MAX {
            if request.durations.role_asked {
                self.report.status(format!(
                    "Role chaining: {} is assumed from the MFA session, which AWS limits to 1h (asked {})",
                    role.name,
                    request.durations.role_as_typed()
                ));
            }
            duration = durations::CHAINED_ROLE_MAX;
        }
        self.report.debug(format!(
            "account {}: AssumeRole {} as {session_name} with key {} for {}",
            self.setup.account,
            role.arn,
            mask_key_id(&source.credentials.access_key_id),
            humantime::format_duration(duration)
        ));
        let call = AssumeRoleRequest {
            role_arn: &role.arn,
            session_name,
            external_id,
            duration,
        };
        let min_ttl = self.setup.min_ttl;
        self.sts
            .assume_role(&source.credentials, &call)
            .and_then(|c| crate::sts::vet_lifetime(&c, duration, min_ttl).map(|()| c))
    }

    /// What signed AssumeRole: the cached MFA session (its file), a new one, or the keys.
    fn signer(&self, source: &Source) -> Signer {
        if source.cached_mfa {
            Signer::CachedMfaSession {
                file: self
                    .mfa_slot()
                    .ok()
                    .map(|slot| self.setup.state.path_for(&slot)),
            }
        } else if source.credentials.is_session() {
            Signer::NewMfaSession
        } else {
            Signer::Keys(self.setup.key_files.clone())
        }
    }

    fn sts_error(
        &self,
        operation: &'static str,
        role_arn: Option<&str>,
        mfa_serial: Option<&str>,
        signer: Option<Signer>,
        failure: StsFailure,
    ) -> Error {
        Error::from(StsError {
            operation,
            account: self.setup.account.to_string(),
            role_arn: role_arn.map(str::to_string),
            mfa_serial: mfa_serial.map(str::to_string),
            endpoint: self.sts.endpoint().shown.clone(),
            signer: signer.unwrap_or_else(|| Signer::Keys(self.setup.key_files.clone())),
            failure,
        })
    }

    /// A valid cached session that fits, looked up without the lock and then, on a miss, again
    /// under it (taken into `held`). `None`: the caller fetches, holding the lock.
    fn cached(
        &self,
        slot: &Slot,
        fits: &dyn Fn(&CachedSession) -> Option<Unfit>,
        refresh: bool,
        held: &mut Option<AccountLock>,
    ) -> Result<Option<Credentials>> {
        if !refresh && let Some(hit) = self.lookup(slot, fits, Pass::Quiet) {
            self.report_hit(slot, &hit);
            return Ok(Some(hit));
        }
        self.lock(held)?;
        if !refresh && let Some(hit) = self.lookup(slot, fits, Pass::Report) {
            self.report_hit(slot, &hit);
            return Ok(Some(hit));
        }
        Ok(None)
    }

    fn lock<'h>(&self, held: &'h mut Option<AccountLock>) -> Result<&'h AccountLock> {
        let lock = match held.take() {
            Some(lock) => lock,
            None => {
                let lock = self.setup.state.lock(Waiting::ToRefresh, self.report)?;
                if let Some(keys) = &self.setup.keys {
                    keys.remove_stale_temp_files(&lock);
                }
                lock
            }
        };
        Ok(held.insert(lock))
    }

    fn store(&self, lock: &AccountLock, slot: &Slot, session: &CachedSession, operation: &str) {
        match self.setup.state.store(lock, slot, session, operation) {
            Ok(path) => self.report.debug(format!(
                "new session {} valid until {}, cached in {}",
                mask_key_id(&session.credentials.access_key_id),
                session
                    .credentials
                    .expiration
                    .map(rfc3339)
                    .unwrap_or_default(),
                path.display()
            )),
            Err(e) => self
                .report
                .warn(format!("{e}; the session is used but not cached")),
        }
    }

    fn report_hit(&self, slot: &Slot, credentials: &Credentials) {
        let left = credentials
            .expiration
            .and_then(|e| e.duration_since(SystemTime::now()).ok())
            .map(|d| format!(" ({} left)", session::hours_minutes(d)))
            .unwrap_or_default();
        match &slot.role_arn {
            Some(arn) => self.report.status(format!(
                "Cache is valid for account {} (role {arn}){left}",
                self.setup.account
            )),
            None => self.report.status(format!(
                "Cache is valid for account {}{left}",
                self.setup.account
            )),
        }
    }

    /// A cached session for the slot that fits and is valid for longer than the window.
    fn lookup(
        &self,
        slot: &Slot,
        fits: &dyn Fn(&CachedSession) -> Option<Unfit>,
        pass: Pass,
    ) -> Option<Credentials> {
        let miss = match self.setup.state.load(slot) {
            Ok(hit) => match fits(&hit) {
                Some(unfit) => Miss::NotForThisRequest(unfit),
                None if hit
                    .credentials
                    .is_valid_at(SystemTime::now(), self.setup.min_ttl) =>
                {
                    return Some(hit.credentials);
                }
                None => Miss::Expiring {
                    expiration: hit.credentials.expiration.unwrap_or(SystemTime::UNIX_EPOCH),
                    window: self.setup.min_ttl,
                },
            },
            Err(miss) => miss,
        };
        if pass == Pass::Report {
            let path = self.setup.state.path_for(slot);
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

fn lasts_longer_than(credentials: &Credentials, asked: Duration) -> bool {
    credentials
        .expiration
        .and_then(|e| e.duration_since(SystemTime::now()).ok())
        .is_some_and(|left| left > asked + DURATION_SLACK)
}

#[cfg(test)]
mod tests;
