//! Which credentials the command gets (DESIGN §3). Each session comes through
//! [`Provider::cached_or_fetch`]: the cache wrapped around an STS fetcher with an explicit
//! expiry window, under the account's lock from "is the cache valid?" to "new session written".
#![forbid(unsafe_code)]

use crate::accounts::{AccountName, Role, is_aws_word};
use crate::cache::{Cache, CacheLock, CachedSession, Lookup, Slot};
use crate::error::{Error, Result};
use crate::prompt;
use crate::report::Reporter;
use crate::session::{self, Credentials, Session, mask_key_id};
use crate::sts::{AssumeRoleRequest, CallContext, Sts};
use std::time::{Duration, SystemTime};

const HOUR: Duration = Duration::from_secs(3600);
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
const SESSION_RANGE: (Duration, Duration) =
    (Duration::from_secs(15 * 60), Duration::from_secs(36 * 3600));
const ROLE_RANGE: (Duration, Duration) =
    (Duration::from_secs(15 * 60), Duration::from_secs(12 * 3600));
const DEFAULT_SESSION: Duration = Duration::from_secs(12 * 3600);
const DEFAULT_ROLE: Duration = HOUR;
/// AWS caps a role session assumed with session credentials (role chaining) at one hour.
const CHAINED_ROLE_MAX: Duration = HOUR;

/// Session lifetimes derived from `-d/--duration` and the flags it applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Durations {
    pub session: Duration,
    pub role: Duration,
    /// Whether `role` was asked for (and so deserves a notice when chaining caps it).
    pub role_asked: bool,
}

/// Checks `-d/--duration` against the calls it will be used for, before anything is read.
pub fn plan_durations(asked: Option<Duration>, mfa: bool, role: bool) -> Result<Durations> {
    let out_of_range = |d: Duration, (min, max): (Duration, Duration), call: &str| {
        Error::failed(format!(
            "-d/--duration {}: {call} sessions last from {} to {}",
            humantime::format_duration(d),
            humantime::format_duration(min),
            humantime::format_duration(max)
        ))
    };
    let within = |d: Duration, (min, max): (Duration, Duration)| d >= min && d <= max;
    match (asked, mfa, role) {
        (Some(_), false, false) => Err(Error::failed(
            "-d/--duration applies to sessions: add --mfa or --role (long-lived keys do not expire)",
        )),
        (Some(d), _, true) if !within(d, ROLE_RANGE) => {
            Err(out_of_range(d, ROLE_RANGE, "AssumeRole"))
        }
        (Some(d), true, true) if d > CHAINED_ROLE_MAX => Err(Error::failed(format!(
            "-d/--duration {}: a role assumed from the MFA session (role chaining) lasts at most 1h; ask for 1h or less, or drop --mfa",
            humantime::format_duration(d)
        ))),
        (Some(d), true, false) if !within(d, SESSION_RANGE) => {
            Err(out_of_range(d, SESSION_RANGE, "GetSessionToken"))
        }
        (asked, _, true) => Ok(Durations {
            session: DEFAULT_SESSION,
            role: asked.unwrap_or(DEFAULT_ROLE),
            role_asked: asked.is_some(),
        }),
        (asked, _, false) => Ok(Durations {
            session: asked.unwrap_or(DEFAULT_SESSION),
            role: DEFAULT_ROLE,
            role_asked: false,
        }),
    }
}

/// `--session-name`, else `<user>-stsexec`; STS allows 2–64 of [\w+=,.@-].
pub fn session_name(asked: Option<&str>, user: &str) -> Result<String> {
    let name = match asked {
        Some(name) => name.to_string(),
        None => {
            let user: String = user.chars().take(64 - "-stsexec".len()).collect();
            format!("{user}-stsexec")
        }
    };
    if is_aws_word(&name, 2..=64, "+=,.@-") {
        Ok(name)
    } else {
        Err(Error::failed(format!(
            "--session-name {name:?}: use 2 to 64 of letters, digits and _+=,.@-"
        )))
    }
}

/// `--external-id`: 2–1224 of [\w+=,.@:/-].
pub fn check_external_id(id: &str) -> Result<()> {
    if is_aws_word(id, 2..=1224, "+=,.@:/-") {
        Ok(())
    } else {
        Err(Error::failed(
            "--external-id: use 2 to 1224 of letters, digits and _+=,.@:/-",
        ))
    }
}

/// What the user asked for, already validated.
#[derive(Debug)]
pub struct Request {
    pub mfa: bool,
    pub token: Option<String>,
    pub role: Option<Role>,
    pub durations: Durations,
    pub session_name: String,
    pub external_id: Option<String>,
    pub refresh: bool,
    pub no_session: bool,
}

/// Everything the decision needs about one account.
pub struct Provider {
    pub account: AccountName,
    pub keys: Credentials,
    /// The MFA device; `None` when the account has no accounts-file entry.
    pub mfa_serial: Option<String>,
    /// Why `mfa_serial` is unknown, as a sentence with the fix.
    pub no_serial_hint: String,
    pub user: String,
    pub cache: Cache,
    pub min_ttl: Duration,
    pub region: String,
    pub sts_context: CallContext,
    pub report: Reporter,
    lock: Option<CacheLock>,
    sts: Option<Sts>,
}

impl Provider {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        account: AccountName,
        keys: Credentials,
        mfa_serial: Option<String>,
        no_serial_hint: String,
        user: String,
        cache: Cache,
        min_ttl: Duration,
        region: String,
        sts_context: CallContext,
        report: Reporter,
    ) -> Self {
        Provider {
            account,
            keys,
            mfa_serial,
            no_serial_hint,
            user,
            cache,
            min_ttl,
            region,
            sts_context,
            report,
            lock: None,
            sts: None,
        }
    }

    /// The table of DESIGN §3. The STS client and runtime, if any were needed, are dropped
    /// with `self` when this returns.
    pub fn resolve(mut self, request: &Request) -> Result<Session> {
        self.report.debug(format!(
            "account {}: long-lived key {}",
            self.account,
            mask_key_id(&self.keys.access_key_id)
        ));
        let account = self.account.to_string();
        match &request.role {
            Some(role) => {
                let credentials = self.role_session(role, request)?;
                Ok(Session {
                    label: session::label_for_role(&account, &role.name),
                    credentials,
                })
            }
            None if request.mfa => {
                let credentials = self.mfa_session(request, request.refresh)?;
                Ok(Session {
                    label: session::label_for_mfa(&account),
                    credentials,
                })
            }
            None => Ok(self.ambient(request)),
        }
    }

    /// No flags: the cached MFA session while valid, else the long-lived keys (`ec2switch`).
    fn ambient(&mut self, request: &Request) -> Session {
        let account = self.account.to_string();
        if !request.no_session
            && let Some(slot) = self.mfa_slot().ok()
            && let Some(credentials) = self.lookup(&slot, true, Pass::Report)
        {
            self.report
                .status(format!("Cache is valid for account {account}"));
            return Session {
                label: session::label_for_mfa(&account),
                credentials,
            };
        }
        self.report
            .debug(format!("account {account}: using the long-lived keys"));
        Session {
            label: session::label_for_keys(&account),
            credentials: self.keys.clone(),
        }
    }

    fn mfa_slot(&self) -> Result<Slot> {
        let Some(serial) = &self.mfa_serial else {
            return Err(Error::failed(self.no_serial_hint.clone()));
        };
        Ok(Slot {
            account: self.account.clone(),
            mfa_serial: Some(serial.clone()),
            role_arn: None,
            source_key_id: self.keys.access_key_id.clone(),
        })
    }

    fn mfa_session(&mut self, request: &Request, refresh: bool) -> Result<Credentials> {
        let slot = self.mfa_slot()?;
        let serial = slot.mfa_serial.clone().unwrap_or_default();
        let duration = request.durations.session;
        self.cached_or_fetch(&slot, true, refresh, "GetSessionToken", |p| {
            let code = match &request.token {
                Some(code) => code.clone(),
                None => prompt::ask_code(&p.user, p.account.as_str())?,
            };
            p.report.debug(format!(
                "account {}: GetSessionToken with key {} and MFA device {serial} for {}",
                p.account,
                mask_key_id(&p.keys.access_key_id),
                humantime::format_duration(duration)
            ));
            let sts = connect(&mut p.sts, &p.region)?;
            let credentials =
                sts.get_session_token(&p.keys, &serial, &code, duration, &p.sts_context)?;
            Ok(CachedSession {
                credentials,
                with_mfa: true,
            })
        })
    }

    fn role_session(&mut self, role: &Role, request: &Request) -> Result<Credentials> {
        let slot = Slot {
            account: self.account.clone(),
            mfa_serial: self.mfa_serial.clone(),
            role_arn: Some(role.arn.clone()),
            source_key_id: self.keys.access_key_id.clone(),
        };
        self.cached_or_fetch(&slot, request.mfa, request.refresh, "AssumeRole", |p| {
            let cached_mfa_session = if request.mfa || request.no_session {
                None
            } else {
                p.mfa_slot().ok().and_then(|s| p.lookup(&s, true, Pass::Report))
            };
            let (source, with_mfa) = if request.mfa {
                (p.mfa_session(request, false)?, true)
            } else if let Some(session) = cached_mfa_session {
                p.report.debug(format!(
                    "account {}: assuming the role from the cached MFA session",
                    p.account
                ));
                (session, true)
            } else {
                (p.keys.clone(), false)
            };
            let mut duration = request.durations.role;
            if source.is_session() && duration > CHAINED_ROLE_MAX {
                if request.durations.role_asked {
                    p.report.status(format!(
                        "Role chaining: {} is assumed from the MFA session, which AWS limits to 1h (asked {})",
                        role.name,
                        humantime::format_duration(duration)
                    ));
                }
                duration = CHAINED_ROLE_MAX;
            }
            p.report.debug(format!(
                "account {}: AssumeRole {} as {} with key {} for {}",
                p.account,
                role.arn,
                request.session_name,
                mask_key_id(&source.access_key_id),
                humantime::format_duration(duration)
            ));
            let sts = connect(&mut p.sts, &p.region)?;
            let call = AssumeRoleRequest {
                role_arn: &role.arn,
                session_name: &request.session_name,
                external_id: request.external_id.as_deref(),
                duration,
            };
            let credentials = sts.assume_role(&source, &call, &p.sts_context)?;
            Ok(CachedSession {
                credentials,
                with_mfa,
            })
        })
    }

    /// The caching wrapper: a valid cached session is returned without locking; otherwise
    /// the lock is taken, the cache re-read (another process may just have refreshed it),
    /// and only then is `fetch` called and its session written.
    fn cached_or_fetch(
        &mut self,
        slot: &Slot,
        require_mfa: bool,
        refresh: bool,
        operation: &str,
        fetch: impl FnOnce(&mut Self) -> Result<CachedSession>,
    ) -> Result<Credentials> {
        if !refresh && let Some(hit) = self.lookup(slot, require_mfa, Pass::Quiet) {
            self.report_hit(slot);
            return Ok(hit);
        }
        self.take_lock()?;
        if !refresh && let Some(hit) = self.lookup(slot, require_mfa, Pass::Report) {
            self.report_hit(slot);
            return Ok(hit);
        }
        let fetched = fetch(self)?;
        let Some(lock) = &self.lock else {
            return Ok(fetched.credentials);
        };
        match self.cache.store(lock, slot, &fetched, operation) {
            Ok(path) => self.report.debug(format!(
                "new session {} valid until {}, cached in {}",
                mask_key_id(&fetched.credentials.access_key_id),
                fetched
                    .credentials
                    .expiration
                    .map(|e| humantime::format_rfc3339_seconds(e).to_string())
                    .unwrap_or_default(),
                path.display()
            )),
            Err(e) => self
                .report
                .warn(format!("{e}; the session is used but not cached")),
        }
        Ok(fetched.credentials)
    }

    fn report_hit(&self, slot: &Slot) {
        match &slot.role_arn {
            Some(arn) => self.report.status(format!(
                "Cache is valid for account {} (role {arn})",
                self.account
            )),
            None => self
                .report
                .status(format!("Cache is valid for account {}", self.account)),
        }
    }

    fn take_lock(&mut self) -> Result<()> {
        if self.lock.is_none() {
            let report = self.report;
            let account = self.account.clone();
            self.lock = Some(self.cache.lock(|| {
                report.status(format!(
                    "Waiting for another stsexec to refresh the session of account {account}…"
                ));
            })?);
        }
        Ok(())
    }

    /// A cached session for the slot that is valid for longer than the window.
    fn lookup(&self, slot: &Slot, require_mfa: bool, pass: Pass) -> Option<Credentials> {
        let path = self.cache.path_for(slot);
        let miss = match self.cache.load(slot) {
            Lookup::Hit(hit) if require_mfa && !hit.with_mfa => {
                format!(
                    "{}: made without an MFA code; --mfa needs a new one",
                    path.display()
                )
            }
            Lookup::Hit(hit) if hit.credentials.is_valid_at(SystemTime::now(), self.min_ttl) => {
                return Some(hit.credentials);
            }
            Lookup::Hit(hit) => format!(
                "{}: expires {} (within the {} window)",
                path.display(),
                hit.credentials
                    .expiration
                    .map(|e| humantime::format_rfc3339_seconds(e).to_string())
                    .unwrap_or_default(),
                humantime::format_duration(self.min_ttl)
            ),
            Lookup::Absent => format!("{}: no cached session", path.display()),
            Lookup::Unusable(why) => {
                if pass == Pass::Report {
                    self.report
                        .warn(format!("ignoring cache file {}: it {why}", path.display()));
                }
                return None;
            }
        };
        if pass == Pass::Report {
            self.report.debug(miss);
        }
        None
    }
}

/// How much a cache lookup tells: the lock-free first look stays quiet about misses, which
/// the look under the lock then reports once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Quiet,
    Report,
}

/// The STS connection, made on first use only: the cached path never starts a runtime.
fn connect<'s>(slot: &'s mut Option<Sts>, region: &str) -> Result<&'s Sts> {
    if slot.is_none() {
        *slot = Some(Sts::connect(region)?);
    }
    slot.as_ref()
        .ok_or_else(|| Error::failed("the STS client could not be kept"))
}

/// `STSEXEC_MIN_TTL`: how long a cached session must still be valid to be used.
pub fn parse_min_ttl(value: Option<&str>) -> Result<Duration> {
    match value {
        None => Ok(DEFAULT_MIN_TTL),
        Some(text) => humantime::parse_duration(text).map_err(|e| {
            Error::failed(format!(
                "STSEXEC_MIN_TTL={text:?}: {e}; write it like 5m or 90s"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hours: u64) -> Duration {
        Duration::from_secs(hours * 3600)
    }

    #[test]
    fn durations_default_per_call() {
        let d = plan_durations(None, true, false).unwrap();
        assert_eq!((d.session, d.role_asked), (h(12), false));
        let d = plan_durations(None, false, true).unwrap();
        assert_eq!((d.role, d.role_asked), (h(1), false));
        let d = plan_durations(Some(h(36)), true, false).unwrap();
        assert_eq!(d.session, h(36));
        let d = plan_durations(Some(h(4)), false, true).unwrap();
        assert_eq!((d.role, d.role_asked), (h(4), true));
    }

    #[test]
    fn durations_out_of_range_are_refused() {
        let err = |asked, mfa, role| {
            plan_durations(Some(asked), mfa, role)
                .unwrap_err()
                .to_string()
        };
        assert!(err(Duration::ZERO, true, false).contains("15m to 1day 12h"));
        assert!(err(Duration::from_secs(10), true, false).contains("GetSessionToken"));
        assert!(err(h(40), true, false).contains("GetSessionToken"));
        assert!(err(h(13), false, true).contains("AssumeRole"));
        assert!(err(h(2), true, true).contains("role chaining"));
        assert!(err(h(1), false, false).contains("add --mfa or --role"));
        assert!(plan_durations(Some(h(1)), true, true).is_ok());
        assert!(plan_durations(Some(Duration::from_secs(15 * 60)), false, true).is_ok());
    }

    #[test]
    fn session_names() {
        assert_eq!(session_name(None, "jb").unwrap(), "jb-stsexec");
        assert_eq!(session_name(None, &"u".repeat(64)).unwrap().len(), 64);
        assert_eq!(
            session_name(Some("ci@build.42"), "jb").unwrap(),
            "ci@build.42"
        );
        for bad in ["a", "a/b", "has space", &"x".repeat(65)] {
            let err = session_name(Some(bad), "jb").unwrap_err().to_string();
            assert!(err.contains("--session-name"), "{bad}: {err}");
        }
    }

    #[test]
    fn external_ids() {
        assert!(check_external_id("tenant:42/x").is_ok());
        assert!(check_external_id("a").is_err());
        assert!(check_external_id("a b").is_err());
    }

    #[test]
    fn min_ttl_from_the_environment() {
        assert_eq!(parse_min_ttl(None).unwrap(), DEFAULT_MIN_TTL);
        assert_eq!(parse_min_ttl(Some("90s")).unwrap(), Duration::from_secs(90));
        assert!(
            parse_min_ttl(Some("soon"))
                .unwrap_err()
                .to_string()
                .contains("STSEXEC_MIN_TTL")
        );
    }
}
