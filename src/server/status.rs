//! `--status` inside a `--server` command (DESIGN §5): the environment holds no keys but the
//! endpoint and the label the server set.
#![forbid(unsafe_code)]

use super::env::FULL_URI;
use crate::env::Environment;

/// The status lines when the environment points at a stsexec server, else `None` (the
/// exec-mode status applies). Keys in the environment win, as they do in every SDK.
pub fn status(current: &Environment) -> Option<String> {
    if current.get("AWS_ACCESS_KEY_ID").is_some() {
        return None;
    }
    let uri = current.get(FULL_URI)?;
    let label = current.get("STSEXEC_ACCOUNT")?;
    let origin = uri
        .strip_prefix("http://")
        .and_then(|rest| rest.split('/').next())
        .filter(|host| host.starts_with("127.0.0.1:"))?;
    let region = match crate::env::region_in(current) {
        Some(region) => format!("Region is {region}\n"),
        None => "Region is not set\n".to_string(),
    };
    Some(format!(
        "Keys served for {label} AWS account by stsexec --server at {origin}\n{region}Sessions are renewed while the command runs\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_served_account() {
        let env = Environment::from_pairs([
            (FULL_URI, "http://127.0.0.1:4242/stsexec/abc"),
            ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "SECRETMARKER"),
            ("STSEXEC_ACCOUNT", "work-role-admin-STS"),
            ("AWS_REGION", "eu-west-1"),
        ]);
        let text = status(&env).unwrap();
        assert_eq!(
            text,
            "Keys served for work-role-admin-STS AWS account by stsexec --server at 127.0.0.1:4242\nRegion is eu-west-1\nSessions are renewed while the command runs\n"
        );
        assert!(!text.contains("SECRETMARKER") && !text.contains("/stsexec/abc"));
    }

    #[test]
    fn other_environments_are_left_to_the_exec_mode_status() {
        let ecs = Environment::from_pairs([(FULL_URI, "http://169.254.170.2/v2/creds")]);
        assert_eq!(status(&ecs), None);
        let keys = Environment::from_pairs([
            (FULL_URI, "http://127.0.0.1:1/x"),
            ("STSEXEC_ACCOUNT", "work"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
        ]);
        assert_eq!(status(&keys), None);
        assert_eq!(status(&Environment::default()), None);
    }
}
