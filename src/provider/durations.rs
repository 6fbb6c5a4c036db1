//! Session lifetimes (`-d/--duration`), the cache's validity window (`STSEXEC_MIN_TTL`), and
//! the AssumeRole parameters STS constrains, checked before anything is read.
#![forbid(unsafe_code)]

use crate::accounts::is_aws_word;
use crate::error::UsageError;
use std::time::Duration;

const HOUR: Duration = Duration::from_secs(3600);
pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(5 * 60);
const SESSION_RANGE: (Duration, Duration) =
    (Duration::from_secs(15 * 60), Duration::from_secs(36 * 3600));
const ROLE_RANGE: (Duration, Duration) =
    (Duration::from_secs(15 * 60), Duration::from_secs(12 * 3600));
const DEFAULT_SESSION: Duration = Duration::from_secs(12 * 3600);
const DEFAULT_ROLE: Duration = HOUR;
/// AWS caps a role session assumed with session credentials (role chaining) at one hour.
pub const CHAINED_ROLE_MAX: Duration = HOUR;

/// A value together with the text the user typed, so messages echo the input (`-d 48h`, not
/// `2days`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Typed<T> {
    pub text: String,
    pub value: T,
}

/// `STSEXEC_MIN_TTL`: how long a cached session must still be valid to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinTtl {
    /// The window in force: the variable's, else [`DEFAULT_MIN_TTL`].
    pub window: Duration,
    /// The variable as set, when it is (the credential server then renews on this window).
    pub typed: Option<String>,
}

impl MinTtl {
    pub const DEFAULT: MinTtl = MinTtl {
        window: DEFAULT_MIN_TTL,
        typed: None,
    };

    /// The window when `STSEXEC_MIN_TTL` set it, else `None`.
    pub fn given(&self) -> Option<Duration> {
        self.typed.as_ref().map(|_| self.window)
    }

    /// The window must be shorter than the shortest session the request may fetch, or no
    /// fetched session would ever be valid.
    pub fn check_against(
        &self,
        durations: &Durations,
        mfa: bool,
        role: bool,
    ) -> Result<(), UsageError> {
        match durations.shortest_fetched(mfa, role) {
            Some(session) if self.window >= session => Err(UsageError::MinTtlTooLong {
                typed: self.typed.clone().unwrap_or_default(),
                session: humantime::format_duration(session).to_string(),
            }),
            _ => Ok(()),
        }
    }
}

/// Session lifetimes derived from `-d/--duration` and the flags it applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durations {
    pub session: Duration,
    pub role: Duration,
    /// Whether `-d` chose `session` (a longer cached session is then not reused).
    pub session_asked: bool,
    /// Whether `-d` chose `role` (and so deserves a notice when chaining caps it).
    pub role_asked: bool,
    /// `-d` as the user typed it, for messages.
    pub typed: Option<String>,
}

impl Durations {
    /// The shortest session this request may fetch (a role chained from an MFA session lasts
    /// at most an hour); `None` for long-lived keys.
    pub fn shortest_fetched(&self, mfa: bool, role: bool) -> Option<Duration> {
        match (mfa, role) {
            (_, true) => Some(self.role.min(CHAINED_ROLE_MAX)),
            (true, false) => Some(self.session),
            (false, false) => None,
        }
    }

    pub fn role_as_typed(&self) -> String {
        self.typed
            .clone()
            .unwrap_or_else(|| humantime::format_duration(self.role).to_string())
    }
}

/// Checks `-d/--duration` against the calls it will be used for.
pub fn plan(
    asked: Option<&Typed<Duration>>,
    mfa: bool,
    role: bool,
) -> Result<Durations, UsageError> {
    let typed = asked.map(|t| t.text.clone());
    let out_of_range = |call: &'static str, limits: &'static str| UsageError::DurationRange {
        typed: typed.clone().unwrap_or_default(),
        call,
        limits,
    };
    let within = |d: Duration, (min, max): (Duration, Duration)| d >= min && d <= max;
    let value = asked.map(|t| t.value);
    match (value, mfa, role) {
        (Some(_), false, false) => Err(UsageError::DurationWithoutSession {
            typed: typed.clone().unwrap_or_default(),
        }),
        (Some(d), _, true) if !within(d, ROLE_RANGE) => {
            Err(out_of_range("AssumeRole", "15m to 12h"))
        }
        (Some(d), true, true) if d > CHAINED_ROLE_MAX => Err(UsageError::DurationChained {
            typed: typed.clone().unwrap_or_default(),
        }),
        (Some(d), true, false) if !within(d, SESSION_RANGE) => {
            Err(out_of_range("GetSessionToken", "15m to 36h"))
        }
        (asked, _, true) => Ok(Durations {
            session: DEFAULT_SESSION,
            role: asked.unwrap_or(DEFAULT_ROLE),
            session_asked: false,
            role_asked: asked.is_some(),
            typed,
        }),
        (asked, _, false) => Ok(Durations {
            session: asked.unwrap_or(DEFAULT_SESSION),
            role: DEFAULT_ROLE,
            session_asked: asked.is_some(),
            role_asked: false,
            typed,
        }),
    }
}

/// `--session-name`: STS allows 2–64 of [\w+=,.@-].
pub fn check_session_name(name: &str) -> Result<(), UsageError> {
    if is_aws_word(name, 2..=64, "+=,.@-") {
        Ok(())
    } else {
        Err(UsageError::SessionName {
            typed: name.to_string(),
        })
    }
}

/// The default session name, `<user>-stsexec`, cut to STS's 64 characters.
pub fn default_session_name(user: &str) -> String {
    let user: String = user.chars().take(64 - "-stsexec".len()).collect();
    format!("{user}-stsexec")
}

/// `--external-id`: 2–1224 of [\w+=,.@:/-].
pub fn check_external_id(id: &str) -> Result<(), UsageError> {
    if is_aws_word(id, 2..=1224, "+=,.@:/-") {
        Ok(())
    } else {
        Err(UsageError::ExternalId)
    }
}

/// `STSEXEC_MIN_TTL`: how long a cached session must still be valid to be used. Zero, a
/// window of a day or more (no session would ever be valid), and non-UTF-8 are refused.
pub fn parse_min_ttl(value: Option<&std::ffi::OsStr>) -> Result<MinTtl, UsageError> {
    let Some(raw) = value else {
        return Ok(MinTtl::DEFAULT);
    };
    let text = raw.to_string_lossy();
    match raw.to_str().map(humantime::parse_duration) {
        Some(Ok(d)) if d > Duration::ZERO && d < Duration::from_secs(24 * 3600) => Ok(MinTtl {
            window: d,
            typed: Some(text.into_owned()),
        }),
        _ => Err(UsageError::MinTtl {
            typed: text.into_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(hours: u64) -> Duration {
        Duration::from_secs(hours * 3600)
    }

    fn typed(text: &str) -> Typed<Duration> {
        Typed {
            text: text.to_string(),
            value: humantime::parse_duration(text).unwrap(),
        }
    }

    #[test]
    fn durations_default_per_call() {
        let d = plan(None, true, false).unwrap();
        assert_eq!(
            (d.session, d.session_asked, d.role_asked),
            (h(12), false, false)
        );
        let d = plan(None, false, true).unwrap();
        assert_eq!((d.role, d.role_asked), (h(1), false));
        let d = plan(Some(&typed("36h")), true, false).unwrap();
        assert_eq!((d.session, d.session_asked), (h(36), true));
        let d = plan(Some(&typed("4h")), false, true).unwrap();
        assert_eq!((d.role, d.role_asked), (h(4), true));
    }

    #[test]
    fn durations_out_of_range_are_refused_as_typed() {
        let err =
            |text: &str, mfa, role| plan(Some(&typed(text)), mfa, role).unwrap_err().to_string();
        assert_eq!(
            err("48h", true, false),
            "-d/--duration 48h: GetSessionToken sessions last from 15m to 36h"
        );
        assert_eq!(
            err("13h", false, true),
            "-d/--duration 13h: AssumeRole sessions last from 15m to 12h"
        );
        assert_eq!(
            err("2h", true, true),
            "-d/--duration 2h: a role assumed from the MFA session (role chaining) lasts at most 1h; ask for 1h or less, or drop --mfa"
        );
        assert_eq!(
            err("1h", false, false),
            "-d/--duration 1h applies to sessions: add --mfa or --role (long-lived keys do not expire)"
        );
        assert!(plan(Some(&typed("1h")), true, true).is_ok());
        assert!(plan(Some(&typed("15m")), false, true).is_ok());
    }

    #[test]
    fn session_names_and_external_ids() {
        assert_eq!(default_session_name("jb"), "jb-stsexec");
        assert_eq!(default_session_name(&"u".repeat(64)).len(), 64);
        assert!(check_session_name("ci@build.42").is_ok());
        for bad in ["a", "a/b", "has space", &"x".repeat(65)] {
            assert_eq!(
                check_session_name(bad).unwrap_err().to_string(),
                format!(
                    "--session-name {:?}: use 2 to 64 of letters, digits and _+=,.@-",
                    crate::text::shown(bad)
                )
            );
        }
        assert!(check_external_id("tenant:42/x").is_ok());
        assert!(check_external_id("a").is_err());
        assert!(check_external_id("a b").is_err());
    }

    #[test]
    fn min_ttl_from_the_environment() {
        use std::ffi::OsStr;
        assert_eq!(parse_min_ttl(None).unwrap().window, DEFAULT_MIN_TTL);
        assert_eq!(parse_min_ttl(None).unwrap().given(), None);
        assert_eq!(
            parse_min_ttl(Some(OsStr::new("90s"))).unwrap().given(),
            Some(Duration::from_secs(90))
        );
        for bad in ["soon", "0s", "48h"] {
            assert_eq!(
                parse_min_ttl(Some(OsStr::new(bad)))
                    .unwrap_err()
                    .to_string(),
                format!(
                    "STSEXEC_MIN_TTL={bad:?} is not a window from 1s to under 24h; write it like 5m or 90s"
                )
            );
        }
    }
}
