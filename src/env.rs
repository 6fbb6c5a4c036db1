//! The child's environment (DESIGN §4), computed by pure functions from a snapshot of the
//! current environment and the session. The process environment is read once, in `main`.
#![forbid(unsafe_code)]

use crate::secret::Secret;
use crate::session::{Session, rfc3339};
use std::ffi::{OsStr, OsString};
use std::fmt;

pub const DEFAULT_REGION: &str = "us-east-1";

/// Token variables: set for a session, removed for long-lived keys.
const TOKEN_VARS: [&str; 4] = [
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DELEGATION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
];

/// The variables that hold credentials: the seven of aws-sts-helpers and the expiration.
pub const CREDENTIAL_VARS: [&str; 8] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DELEGATION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
];

/// Always removed: botocore ignores environment credentials when a profile is named, a
/// credential file would offer other keys than the ones stsexec chose, and the container and
/// web-identity variables make SDKs prefer another source (DESIGN §4).
pub const ALWAYS_REMOVED: [&str; 10] = [
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_CREDENTIAL_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
];

/// GitHub Actions' OIDC token request (`--web-identity`'s source in a workflow): with them any
/// process can mint tokens for any audience. Removed from the command's environment when
/// `--web-identity` used them, and never given to an `mfa_process` (issue 20).
pub const CI_TOKEN_VARS: [&str; 2] = [
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
];

/// A snapshot of an environment, in its original order.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Environment(std::sync::Arc<[(OsString, OsString)]>);

impl Environment {
    pub fn from_process() -> Self {
        Environment(std::env::vars_os().collect())
    }

    #[cfg(test)]
    pub fn from_pairs<K: Into<OsString>, V: Into<OsString>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Environment(
            pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// A variable's value when it is set, non-empty and UTF-8.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.get_os(name)
            .and_then(OsStr::to_str)
            .filter(|v| !v.is_empty())
    }

    pub fn get_os(&self, name: &str) -> Option<&OsStr> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_os_str())
    }

    pub fn pairs(&self) -> &[(OsString, OsString)] {
        &self.0
    }
}

impl fmt::Debug for Environment {
    // Names only: the environment may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(k, _)| k))
            .finish()
    }
}

/// The region an environment names: `AWS_REGION`, else `AWS_DEFAULT_REGION` (the SDKs' order).
/// The one place that knows the two variables' precedence (exec mode, `--status`, the server).
pub fn region_in(current: &Environment) -> Option<&str> {
    current
        .get("AWS_REGION")
        .or_else(|| current.get("AWS_DEFAULT_REGION"))
}

/// Where a run's region came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegionFrom {
    Flag,
    Account,
    /// The caller's environment ([`region_in`]): a nested run says it kept it.
    Environment,
    Default,
}

/// The region of a run and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub from: RegionFrom,
}

/// The region: `--region`, else the account's, else the environment's ([`region_in`]), else
/// us-east-1 (DESIGN §1).
pub fn resolve_region(
    flag: Option<&str>,
    account_region: Option<&str>,
    current: &Environment,
) -> Region {
    let (name, from) = match (flag, account_region, region_in(current)) {
        (Some(flag), _, _) => (flag, RegionFrom::Flag),
        (None, Some(account), _) => (account, RegionFrom::Account),
        (None, None, Some(inherited)) => (inherited, RegionFrom::Environment),
        (None, None, None) => (DEFAULT_REGION, RegionFrom::Default),
    };
    Region {
        name: name.to_string(),
        from,
    }
}

/// A value the child gets; secrets stay wrapped until the environment is handed to exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Plain(String),
    Secret(Secret),
}

impl Value {
    pub fn expose(&self) -> &str {
        match self {
            Value::Plain(text) => text,
            Value::Secret(secret) => secret.expose(),
        }
    }
}

/// What stsexec sets and removes, in a stable order; `Debug` shows no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildEnv {
    pub set: Vec<(&'static str, Value)>,
    pub removed: Vec<&'static str>,
}

/// The variables for a session (or long-lived keys) in a region.
pub fn plan(session: &Session, region: &str) -> ChildEnv {
    let creds = &session.credentials;
    let key_id = || Value::Plain(creds.access_key_id.clone());
    let secret = || Value::Secret(creds.secret_access_key.clone());
    let mut set = vec![
        ("AWS_ACCESS_KEY_ID", key_id()),
        ("AWS_SECRET_ACCESS_KEY", secret()),
        ("AWS_ACCESS_KEY", key_id()),
        ("AWS_SECRET_KEY", secret()),
    ];
    let mut removed = ALWAYS_REMOVED.to_vec();
    match (&creds.session_token, creds.expiration) {
        (Some(token), expiration) => {
            for name in &TOKEN_VARS[..3] {
                set.push((name, Value::Secret(token.clone())));
            }
            match expiration {
                Some(exp) => set.push(("AWS_CREDENTIAL_EXPIRATION", Value::Plain(rfc3339(exp)))),
                None => removed.push("AWS_CREDENTIAL_EXPIRATION"),
            }
        }
        (None, _) => removed.extend(TOKEN_VARS),
    }
    set.push(("AWS_REGION", Value::Plain(region.to_string())));
    set.push(("AWS_DEFAULT_REGION", Value::Plain(region.to_string())));
    match &session.account_id {
        Some(id) => set.push(("AWS_ACCOUNT_ID", Value::Plain(id.clone()))),
        None => removed.push("AWS_ACCOUNT_ID"),
    }
    set.push(("STSEXEC_ACCOUNT", Value::Plain(session.label.clone())));
    ChildEnv { set, removed }
}

/// The current environment with the plan applied: everything else passes through untouched,
/// in its original order; stale copies of the variables stsexec manages are dropped first.
pub fn apply(current: &Environment, plan: &ChildEnv) -> Vec<(OsString, OsString)> {
    let managed = |name: &OsStr| {
        plan.removed.iter().any(|r| name == *r) || plan.set.iter().any(|(s, _)| name == *s)
    };
    current
        .pairs()
        .iter()
        .filter(|(name, _)| !managed(name))
        .cloned()
        .chain(
            plan.set
                .iter()
                .map(|(name, value)| (OsString::from(name), OsString::from(value.expose()))),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Credentials;
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    fn session(token: bool) -> Session {
        Session {
            label: if token { "work-MFA-STS" } else { "work" }.into(),
            account_id: token.then(|| "012123456789".to_string()),
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLEKEY123456".into(),
                secret_access_key: Secret::new("SECRETMARKER-secret"),
                session_token: token.then(|| Secret::new("SECRETMARKER-token")),
                expiration: token
                    .then(|| SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            },
        }
    }

    fn as_map(pairs: Vec<(OsString, OsString)>) -> BTreeMap<String, String> {
        pairs
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect()
    }

    fn stale_env() -> Environment {
        Environment::from_pairs([
            ("PATH", "/usr/bin"),
            ("AWS_PROFILE", "old"),
            ("AWS_DEFAULT_PROFILE", "old"),
            ("AWS_CREDENTIAL_FILE", "/x"),
            ("AWS_SESSION_TOKEN", "stale"),
            ("AWS_SECURITY_TOKEN", "stale"),
            ("AWS_DELEGATION_TOKEN", "stale"),
            ("AWS_CREDENTIAL_EXPIRATION", "2000-01-01T00:00:00Z"),
            ("AWS_ACCESS_KEY_ID", "AKIAOLD"),
            ("STSEXEC_ACCOUNT", "outer"),
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
            ("AWS_ACCOUNT_ID", "111111111111"),
            ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/creds"),
            ("AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/ci"),
        ])
    }

    #[test]
    fn session_sets_all_seven_variables_and_expiration() {
        let env = as_map(apply(&stale_env(), &plan(&session(true), "eu-west-1")));
        for name in ["AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY"] {
            assert_eq!(env[name], "ASIAEXAMPLEKEY123456");
        }
        for name in ["AWS_SECRET_ACCESS_KEY", "AWS_SECRET_KEY"] {
            assert_eq!(env[name], "SECRETMARKER-secret");
        }
        for name in [
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_DELEGATION_TOKEN",
        ] {
            assert_eq!(env[name], "SECRETMARKER-token");
        }
        assert_eq!(env["AWS_CREDENTIAL_EXPIRATION"], "2027-01-15T08:00:00Z");
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
        assert_eq!(env["STSEXEC_ACCOUNT"], "work-MFA-STS");
        assert_eq!(
            env["AWS_ACCOUNT_ID"], "012123456789",
            "the caller's must not leak in"
        );
        assert_eq!(env["PATH"], "/usr/bin");
        assert_eq!(env["AWS_ENDPOINT_URL_STS"], "http://127.0.0.1:1");
        for gone in ["AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_CREDENTIAL_FILE"] {
            assert!(!env.contains_key(gone), "{gone}");
        }
    }

    #[test]
    fn long_lived_keys_remove_stale_tokens() {
        let env = as_map(apply(&stale_env(), &plan(&session(false), "us-east-1")));
        assert_eq!(env["AWS_ACCESS_KEY_ID"], "ASIAEXAMPLEKEY123456");
        assert_eq!(env["STSEXEC_ACCOUNT"], "work");
        for gone in TOKEN_VARS
            .iter()
            .chain(&ALWAYS_REMOVED)
            .chain(&["AWS_ACCOUNT_ID"])
        {
            assert!(!env.contains_key(*gone), "{gone}");
        }
    }

    #[test]
    fn each_variable_appears_once_and_others_keep_their_order() {
        let current = Environment::from_pairs([("B", "1"), ("AWS_REGION", "x"), ("A", "2")]);
        let pairs = apply(&current, &plan(&session(true), "us-east-1"));
        let names: Vec<_> = pairs.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(&names[..2], ["B", "A"]);
        assert_eq!(names.iter().filter(|n| **n == "AWS_REGION").count(), 1);
    }

    #[test]
    fn non_utf8_values_pass_through() {
        use std::os::unix::ffi::OsStrExt;
        let odd = OsStr::from_bytes(b"\xff\xfe").to_os_string();
        let current = Environment::from_pairs([(OsString::from("ODD"), odd.clone())]);
        let pairs = apply(&current, &plan(&session(false), "us-east-1"));
        assert!(pairs.contains(&(OsString::from("ODD"), odd)));
    }

    #[test]
    fn region_precedence() {
        let none = Environment::default();
        let both = Environment::from_pairs([
            ("AWS_DEFAULT_REGION", "eu-central-1"),
            ("AWS_REGION", "ap-south-1"),
        ]);
        let only_region = Environment::from_pairs([("AWS_REGION", "ap-south-1")]);
        let region = |flag, account, env| {
            let r = resolve_region(flag, account, env);
            (r.name, r.from)
        };
        assert_eq!(
            region(Some("sa-east-1"), Some("eu-west-1"), &both),
            ("sa-east-1".into(), RegionFrom::Flag)
        );
        assert_eq!(
            region(None, Some("eu-west-1"), &both),
            ("eu-west-1".into(), RegionFrom::Account)
        );
        assert_eq!(
            region(None, None, &both),
            ("ap-south-1".into(), RegionFrom::Environment)
        );
        assert_eq!(region(None, None, &only_region).0, "ap-south-1");
        let only_default = Environment::from_pairs([("AWS_DEFAULT_REGION", "eu-central-1")]);
        assert_eq!(region_in(&only_default), Some("eu-central-1"));
        assert_eq!(
            region(None, None, &none),
            ("us-east-1".into(), RegionFrom::Default)
        );
    }

    #[test]
    fn debug_shows_names_not_values() {
        let child = plan(&session(true), "us-east-1");
        let shown = format!("{child:?} {:?}", stale_env());
        assert!(
            !shown.contains("SECRETMARKER") && !shown.contains("AKIAOLD"),
            "{shown}"
        );
        assert!(shown.contains("AWS_SESSION_TOKEN"));
    }
}
