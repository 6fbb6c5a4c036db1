//! The environment of a `--server` command (DESIGN §8): the exec-mode plan of DESIGN §4 minus
//! the credential variables, plus the ECS container-credentials endpoint and its token, and
//! without every variable that makes an SDK prefer another source; the shared credentials
//! file points at nothing. Pure: the caller applies it
//! with [`crate::env::apply`].
#![forbid(unsafe_code)]

use super::shared_files;
use crate::env::{CREDENTIAL_VARS, ChildEnv, Value};
use crate::secret::Secret;

pub const FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
pub const AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";

/// `exec` (the plan of DESIGN §4 for the first session) turned into the server's plan: every
/// non-credential variable it sets is kept (region, `STSEXEC_ACCOUNT`, `AWS_ACCOUNT_ID`).
pub fn plan(exec: &ChildEnv, endpoint: &str, token: &Secret) -> ChildEnv {
    let mut set: Vec<(&'static str, Value)> = exec
        .set
        .iter()
        .filter(|(name, _)| !CREDENTIAL_VARS.contains(name))
        .cloned()
        .collect();
    set.push((FULL_URI, Value::Plain(endpoint.to_string())));
    set.push((AUTHORIZATION_TOKEN, Value::Secret(token.clone())));
    // A `[default]` profile's keys in the credentials file would beat the endpoint.
    set.push((
        shared_files::CREDENTIALS_FILE_VAR,
        Value::Plain(shared_files::CREDENTIALS_FILE.to_string()),
    ));
    let mut removed = exec.removed.clone();
    // `exec` already removes what would make an SDK prefer another source (DESIGN §4).
    for name in &CREDENTIAL_VARS {
        if !removed.contains(name) {
            removed.push(name);
        }
    }
    // A name is either set or removed, never both.
    removed.retain(|name| !set.iter().any(|(s, _)| s == name));
    ChildEnv { set, removed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{ALWAYS_REMOVED, Environment, apply};
    use crate::session::{Credentials, Session};
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    fn exec_plan() -> ChildEnv {
        let session = Session {
            label: "work-role-admin-STS".into(),
            account_id: None,
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLEKEY123456".into(),
                secret_access_key: Secret::new("SECRETMARKER-secret"),
                session_token: Some(Secret::new("SECRETMARKER-token")),
                expiration: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
            },
        };
        crate::env::plan(&session, "eu-west-1")
    }

    fn current() -> Environment {
        let pairs: Vec<(&str, &str)> = CREDENTIAL_VARS
            .iter()
            .chain(&ALWAYS_REMOVED)
            .map(|name| (*name, "stale"))
            .chain([
                ("PATH", "/usr/bin"),
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                    "http://169.254.170.2/old",
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "old"),
                ("STSEXEC_ACCOUNT", "outer"),
                ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:1"),
            ])
            .collect();
        Environment::from_pairs(pairs)
    }

    #[test]
    fn the_command_gets_the_endpoint_and_no_credential() {
        let token = Secret::new("SECRETMARKER-server-token");
        let child = plan(&exec_plan(), "http://127.0.0.1:4321/stsexec/abc", &token);
        let env: BTreeMap<String, String> = apply(&current(), &child)
            .into_iter()
            .map(|(k, v)| (k.into_string().unwrap(), v.into_string().unwrap()))
            .collect();
        assert_eq!(env[FULL_URI], "http://127.0.0.1:4321/stsexec/abc");
        assert_eq!(env[AUTHORIZATION_TOKEN], "SECRETMARKER-server-token");
        for gone in CREDENTIAL_VARS
            .iter()
            .chain(&ALWAYS_REMOVED)
            .filter(|n| **n != FULL_URI && **n != AUTHORIZATION_TOKEN)
        {
            assert!(!env.contains_key(*gone), "{gone} is left");
        }
        assert_eq!(env["STSEXEC_ACCOUNT"], "work-role-admin-STS");
        assert_eq!(env["AWS_REGION"], "eu-west-1");
        assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
        assert_eq!(env["PATH"], "/usr/bin");
        assert_eq!(env["AWS_ENDPOINT_URL_STS"], "http://127.0.0.1:1");
        assert_eq!(env["AWS_SHARED_CREDENTIALS_FILE"], "/dev/null");
        let values: Vec<&String> = env.values().collect();
        assert!(
            !values
                .iter()
                .any(|v| v.contains("SECRETMARKER-secret") || v.contains("SECRETMARKER-token")),
            "a credential reached the command: {values:?}"
        );
    }

    #[test]
    fn each_name_is_either_set_or_removed_and_debug_hides_the_token() {
        let token = Secret::new("SECRETMARKER-server-token");
        let child = plan(&exec_plan(), "http://127.0.0.1:1/x", &token);
        for (name, _) in &child.set {
            assert!(!child.removed.contains(name), "{name} set and removed");
        }
        let mut removed = child.removed.clone();
        removed.sort_unstable();
        removed.dedup();
        assert_eq!(removed.len(), child.removed.len(), "duplicates");
        let shown = format!("{child:?}");
        assert!(!shown.contains("SECRETMARKER"), "{shown}");
        assert!(shown.contains(AUTHORIZATION_TOKEN), "{shown}");
    }
}
