//! The AWS CLI's shared files against the served credentials (issue 20). Every SDK reads a
//! `[default]` profile's keys, `credential_process`, role or SSO settings before it asks the
//! container endpoint, so `--server -- terraform apply` could silently run as another identity.
//! The command's `AWS_SHARED_CREDENTIALS_FILE` points at nothing ([`CREDENTIALS_FILE`]); the
//! config file stays (it also holds regions, retries, S3 settings), and when its default
//! profile holds a setting that would still win, one warning names the file, the profile and
//! the settings (never their values).
#![forbid(unsafe_code)]

use crate::env::Environment;
use std::io::Read;
use std::path::PathBuf;

pub const CREDENTIALS_FILE_VAR: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// An empty credentials file: no profile, no keys, no `credential_process`.
pub const CREDENTIALS_FILE: &str = "/dev/null";

/// Settings of a config-file profile that give an SDK credentials before the container
/// endpoint (botocore's order: assume-role, web identity, SSO, process, config-file keys).
const WINNING: [&str; 12] = [
    "aws_access_key_id",
    "aws_secret_access_key",
    "aws_session_token",
    "credential_process",
    "role_arn",
    "source_profile",
    "credential_source",
    "web_identity_token_file",
    "sso_session",
    "sso_start_url",
    "sso_account_id",
    "sso_role_name",
];

/// A config file is text of a few KB; more is not a config file worth reading for a warning.
const MAX_BYTES: u64 = 1 << 20;

/// The credential settings of the default profile (`[default]` or `[profile default]`) in
/// config-file `text`, in file order, each once. Option names compare case-insensitively, as
/// botocore's parser lowers them; indented lines continue a value (nested S3 settings).
pub fn default_profile_credentials(text: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    let mut in_default = false;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(section) = line.strip_prefix('[') {
            let name = section.split(']').next().unwrap_or_default().trim();
            let name = name.strip_prefix("profile ").map_or(name, str::trim);
            in_default = name == "default";
            continue;
        }
        if !in_default {
            continue;
        }
        let Some((key, _)) = line.split_once(['=', ':']) else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        if let Some(name) = WINNING.iter().find(|w| **w == key)
            && !found.contains(name)
        {
            found.push(*name);
        }
    }
    found
}

/// The config file the command's SDKs read: `AWS_CONFIG_FILE`, else `~/.aws/config`.
pub fn config_file(current: &Environment) -> Option<PathBuf> {
    if let Some(path) = current.get_os("AWS_CONFIG_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let home = current.get_os("HOME").filter(|h| !h.is_empty())?;
    Some(PathBuf::from(home).join(".aws/config"))
}

/// The warning for the command's config file, if its default profile would beat the server.
/// Best effort: an absent, unreadable or odd file says nothing (it is another tool's file).
pub fn warning(current: &Environment) -> Option<String> {
    let path = config_file(current)?;
    let text = read_small(&path)?;
    let settings = default_profile_credentials(&text);
    if settings.is_empty() {
        return None;
    }
    Some(format!(
        "{} gives its default profile {}, which the command's AWS SDKs use before the credentials this server serves, so the command may run as another identity; move {} from [default] to a named profile, or use exec mode",
        crate::text::clean(&path.display().to_string(), 512),
        settings.join(", "),
        if settings.len() == 1 { "it" } else { "them" }
    ))
}

/// A regular file's text, at most [`MAX_BYTES`]; never waits on a FIFO or device.
fn read_small(path: &std::path::Path) -> Option<String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(MAX_BYTES).read_to_end(&mut bytes).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_default_profiles_credential_settings_only() {
        let text = "\
# a comment with role_arn = x
[profile work]
credential_process = ykman
[default]
region = eu-west-1
Credential_Process = /usr/bin/get-creds
s3 =
  aws_access_key_id = nested, not a setting
aws_access_key_id=AKIA
; role_arn = commented out
credential_process = again
[profile default]
sso_session = corp
[other]
role_arn = arn:aws:iam::1:role/x
";
        assert_eq!(
            default_profile_credentials(text),
            ["credential_process", "aws_access_key_id", "sso_session"]
        );
        assert!(default_profile_credentials("[default]\nregion = us-east-1\n").is_empty());
        assert!(default_profile_credentials("[profile x]\nrole_arn = r\n").is_empty());
        assert!(default_profile_credentials("").is_empty());
    }

    #[test]
    fn the_config_file_is_aws_config_file_else_home() {
        let env = Environment::from_pairs([("HOME", "/home/jb")]);
        assert_eq!(
            config_file(&env),
            Some(PathBuf::from("/home/jb/.aws/config"))
        );
        let env = Environment::from_pairs([("HOME", "/home/jb"), ("AWS_CONFIG_FILE", "/etc/aws")]);
        assert_eq!(config_file(&env), Some(PathBuf::from("/etc/aws")));
        assert_eq!(config_file(&Environment::default()), None);
    }

    #[test]
    fn the_warning_names_file_profile_and_settings_but_no_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "[default]\naws_access_key_id = AKIASECRETMARKER\naws_secret_access_key = SECRETMARKER\n",
        )
        .unwrap();
        let env = Environment::from_pairs([("AWS_CONFIG_FILE", path.as_os_str())]);
        let text = warning(&env).unwrap();
        assert!(
            text.starts_with(&format!(
                "{} gives its default profile aws_access_key_id, aws_secret_access_key, which",
                path.display()
            )),
            "{text}"
        );
        assert!(!text.contains("SECRETMARKER"), "{text}");
        std::fs::write(&path, "[default]\nregion = eu-west-1\n").unwrap();
        assert_eq!(warning(&env), None);
        let env = Environment::from_pairs([("AWS_CONFIG_FILE", dir.path().join("none"))]);
        assert_eq!(warning(&env), None);
        // A directory or FIFO is not read (nor waited on).
        let env = Environment::from_pairs([("AWS_CONFIG_FILE", dir.path())]);
        assert_eq!(warning(&env), None);
    }
}
