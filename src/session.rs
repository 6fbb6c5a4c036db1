//! Credentials and the types that keep their secret parts out of logs.
#![forbid(unsafe_code)]

pub use crate::secret::{Secret, mask_key_id};
use std::fmt;
use std::time::{Duration, SystemTime};

/// A set of AWS credentials: long-lived keys (no token, no expiration) or a session.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Option<Secret>,
    pub expiration: Option<SystemTime>,
}

impl Credentials {
    pub fn is_session(&self) -> bool {
        self.session_token.is_some()
    }

    /// A session is usable while more than `min_ttl` remains; long-lived keys always are.
    pub fn is_valid_at(&self, now: SystemTime, min_ttl: Duration) -> bool {
        match self.expiration {
            None => true,
            Some(exp) => exp
                .duration_since(now)
                .map(|left| left > min_ttl)
                .unwrap_or(false),
        }
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &mask_key_id(&self.access_key_id))
            .field("secret_access_key", &self.secret_access_key)
            .field("session_token", &self.session_token)
            .field("expiration", &self.expiration.map(rfc3339))
            .finish()
    }
}

/// The one RFC 3339 form stsexec writes: UTC, whole seconds (`2026-11-26T05:28:12Z`).
pub fn rfc3339(time: SystemTime) -> String {
    humantime::format_rfc3339_seconds(time).to_string()
}

/// A time left as people read it: `11h 58m`, `42m`, `30s`.
pub fn hours_minutes(left: Duration) -> String {
    let minutes = left.as_secs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => format!("{}s", left.as_secs()),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h {m:02}m"),
    }
}

/// `time` without its fraction of a second, as STS and the cache record it.
pub fn whole_seconds(time: SystemTime) -> SystemTime {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SystemTime::UNIX_EPOCH + Duration::from_secs(since.as_secs())
}

/// Credentials together with the label the child sees in `STSEXEC_ACCOUNT`.
#[derive(Debug, Clone)]
pub struct Session {
    pub label: String,
    /// The account the credentials belong to (`AWS_ACCOUNT_ID`): the role's, else the
    /// accounts file's; `None` when unknown.
    pub account_id: Option<String>,
    pub credentials: Credentials,
}

/// Labels in the seed's words: `work` for long-lived keys, `work-MFA-STS` for the MFA
/// session, `work-role-admin-STS` for a role.
pub fn label_for_keys(account: &str) -> String {
    account.to_string()
}

pub fn label_for_mfa(account: &str) -> String {
    format!("{account}-MFA-STS")
}

pub fn label_for_role(account: &str, role_name: &str) -> String {
    format!("{account}-role-{role_name}-STS")
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "SECRETMARKER-do-not-print";

    fn sample() -> Credentials {
        Credentials {
            access_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: Secret::new(format!("{MARKER}-secret")),
            session_token: Some(Secret::new(format!("{MARKER}-token"))),
            expiration: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        }
    }

    #[test]
    fn debug_and_display_never_show_secrets() {
        let creds = sample();
        let debug = format!(
            "{creds:?} {:?}",
            Session {
                label: "x".into(),
                account_id: None,
                credentials: creds.clone()
            }
        );
        assert!(!debug.contains(MARKER), "{debug}");
        assert!(!debug.contains("AKIAIOSFODNN7EXAMPLE"), "{debug}");
        assert!(debug.contains("AKIA…MPLE"), "{debug}");
        assert!(debug.contains("** redacted **"));
    }

    #[test]
    fn validity_honours_the_window() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let mut creds = sample();
        creds.expiration = Some(now + Duration::from_secs(301));
        assert!(creds.is_valid_at(now, Duration::from_secs(300)));
        creds.expiration = Some(now + Duration::from_secs(300));
        assert!(!creds.is_valid_at(now, Duration::from_secs(300)));
        creds.expiration = Some(now - Duration::from_secs(1));
        assert!(!creds.is_valid_at(now, Duration::ZERO));
        creds.expiration = None;
        assert!(creds.is_valid_at(now, Duration::from_secs(300)));
    }
}
