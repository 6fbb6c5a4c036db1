//! The modes that print instead of exec (DESIGN §5). Every function here is pure: it turns
//! what `main` gathered into text.
#![forbid(unsafe_code)]

use crate::cache::Summary;
use crate::env::{ChildEnv, Environment};
use crate::session::{Session, mask_key_id, rfc3339};
use serde_json::json;
use std::time::{Duration, SystemTime};

/// The seed's `generate-sts-role-token` shape: pretty, keys sorted, null token and
/// expiration for long-lived keys.
pub fn json(session: &Session) -> String {
    let creds = &session.credentials;
    let value = json!({
        "access_key": creds.access_key_id,
        "secret_key": creds.secret_access_key.expose(),
        "session_token": creds.session_token.as_ref().map(crate::secret::Secret::expose),
        "expiration": creds.expiration.map(rfc3339),
    });
    format!("{}\n", pretty(&value))
}

/// The AWS CLI's process-credential JSON (`credential_process` in `~/.aws/config`).
pub fn credential_process(session: &Session) -> String {
    let creds = &session.credentials;
    let mut value = json!({
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.expose(),
    });
    if let Some(token) = &creds.session_token {
        value["SessionToken"] = token.expose().into();
    }
    if let Some(expiration) = creds.expiration {
        value["Expiration"] = rfc3339(expiration).into();
    }
    format!("{value}\n")
}

fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Sh,
    Fish,
}

/// Statements that give a shell exactly the environment the command would get.
pub fn export(child: &ChildEnv, shell: Shell) -> String {
    let mut out = String::new();
    for name in &child.removed {
        out.push_str(&match shell {
            Shell::Sh => format!("unset {name}\n"),
            // `set -e` fails on an unset variable, and fish's `set` keeps the previous status,
            // so without `or true` the whole `eval` would report failure.
            Shell::Fish => format!("set -e {name}; or true\n"),
        });
    }
    for (name, value) in &child.set {
        let value = value.expose();
        out.push_str(&match shell {
            Shell::Sh => format!("export {name}={}\n", quote_sh(value)),
            Shell::Fish => format!("set -gx {name} {}\n", quote_fish(value)),
        });
    }
    out
}

/// POSIX single quotes hold every byte but `'`, which is closed, escaped and reopened.
fn quote_sh(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// In fish's single quotes only `\` and `'` are special, both escaped with a backslash.
fn quote_fish(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// `ec2now`: what the current environment holds. Returns the text and whether keys are set.
pub fn status(current: &Environment, now: SystemTime) -> (String, bool) {
    let Some(key_id) = current.get("AWS_ACCESS_KEY_ID") else {
        return ("No keys set\n".to_string(), false);
    };
    let mut out = match current.get("STSEXEC_ACCOUNT") {
        Some(label) => format!("Keys set for {label} AWS account\n"),
        None => format!("Keys set ({}), not by stsexec\n", mask_key_id(key_id)),
    };
    match crate::env::region_in(current) {
        Some(region) => out.push_str(&format!("Region is {region}\n")),
        None => out.push_str("Region is not set\n"),
    }
    let has_token = current.get("AWS_SESSION_TOKEN").is_some();
    match current.get("AWS_CREDENTIAL_EXPIRATION") {
        Some(text) => match humantime::parse_rfc3339_weak(text) {
            Ok(expiration) => match expiration.duration_since(now) {
                Ok(left) => out.push_str(&format!(
                    "Session valid for {} (until {text})\n",
                    human(left)
                )),
                Err(past) => out.push_str(&format!(
                    "Session expired {} ago ({text})\n",
                    human(past.duration())
                )),
            },
            Err(_) => out.push_str(&format!("Session expiration {text:?} is not a time\n")),
        },
        None if has_token => out.push_str("Session of unknown lifetime\n"),
        None => out.push_str("Long-lived keys (they do not expire)\n"),
    }
    (out, true)
}

/// One account as `--list` shows it.
#[derive(Debug)]
pub struct Listing {
    pub name: String,
    pub keys: bool,
    pub user: Option<String>,
    pub mfa_serial: Option<String>,
    pub sessions: Vec<Summary>,
    /// An IAM Identity Center account: its login's state (`signed in (7h 58m left)`).
    pub sso: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStyle {
    /// Aligned columns with a header, for a person at a terminal.
    Table,
    /// One stable `name key=value…` line per account, for scripts.
    Plain,
    /// Account names only (`--list -q`), for completion.
    Names,
}

pub fn list(rows: &[Listing], now: SystemTime, style: ListStyle) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                match &row.sso {
                    Some(login) if style == ListStyle::Table => {
                        format!("IAM Identity Center: {login}")
                    }
                    Some(_) => "sso".to_string(),
                    None if row.keys => "present".to_string(),
                    None => "missing".to_string(),
                },
                row.user.clone().unwrap_or_else(|| "-".into()),
                row.mfa_serial.clone().unwrap_or_else(|| "-".into()),
                sessions_cell(&row.sessions, now),
            ]
        })
        .collect();
    match style {
        ListStyle::Names => rows.iter().map(|r| format!("{}\n", r.name)).collect(),
        ListStyle::Plain => cells
            .iter()
            .zip(rows)
            .map(|([name, keys, user, mfa, sessions], row)| {
                let login = row
                    .sso
                    .as_ref()
                    .map(|login| format!(" login={login:?}"))
                    .unwrap_or_default();
                format!(
                    "{name} keys={keys} user={user} mfa={mfa} sessions={}{login}\n",
                    sessions.replace(' ', "")
                )
            })
            .collect(),
        ListStyle::Table => {
            let header = ["ACCOUNT", "KEYS", "USER", "MFA DEVICE", "SESSIONS"].map(String::from);
            let mut widths = [0usize; 5];
            for line in std::iter::once(&header).chain(&cells) {
                for (width, cell) in widths.iter_mut().zip(line) {
                    *width = (*width).max(cell.chars().count());
                }
            }
            std::iter::once(&header)
                .chain(&cells)
                .map(|line| {
                    let mut text = String::new();
                    for (i, (cell, width)) in line.iter().zip(widths).enumerate() {
                        if i + 1 == line.len() {
                            text.push_str(cell);
                        } else {
                            text.push_str(&format!("{cell:<width$}  "));
                        }
                    }
                    format!("{}\n", text.trim_end())
                })
                .collect()
        }
    }
}

fn sessions_cell(sessions: &[Summary], now: SystemTime) -> String {
    if sessions.is_empty() {
        return "-".into();
    }
    sessions
        .iter()
        .map(|s| {
            let what = match &s.role_arn {
                None => "mfa".to_string(),
                Some(arn) => format!("role:{}", arn.rsplit('/').next().unwrap_or(arn)),
            };
            let state = match &s.expiration {
                Ok(exp) => match exp.duration_since(now) {
                    Ok(left) => compact(left),
                    Err(_) => "expired".into(),
                },
                Err(_) => "unusable".into(),
            };
            format!("{what}:{state}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whole minutes in humantime's words: `11h 58m`.
fn human(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    if minutes == 0 {
        return "less than a minute".into();
    }
    humantime::format_duration(Duration::from_secs(minutes * 60)).to_string()
}

/// `11h58m`, `45m`, `<1m`: no spaces, for columns and `key=value` lines.
fn compact(duration: Duration) -> String {
    let minutes = duration.as_secs() / 60;
    match (minutes / 60, minutes % 60) {
        (0, 0) => "<1m".into(),
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::plan;
    use crate::session::{Credentials, Secret};

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn session(token: bool) -> Session {
        Session {
            label: "work-MFA-STS".into(),
            account_id: None,
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLEKEY123456".into(),
                secret_access_key: Secret::new("se'cr\\et $x"),
                session_token: token.then(|| Secret::new("to\"ken")),
                expiration: token.then(|| at(1_800_000_000)),
            },
        }
    }

    #[test]
    fn json_is_the_seeds_shape() {
        assert_eq!(
            json(&session(true)),
            "{\n  \"access_key\": \"ASIAEXAMPLEKEY123456\",\n  \"expiration\": \"2027-01-15T08:00:00Z\",\n  \"secret_key\": \"se'cr\\\\et $x\",\n  \"session_token\": \"to\\\"ken\"\n}\n"
        );
        let keys: serde_json::Value = serde_json::from_str(&json(&session(false))).unwrap();
        assert!(keys["session_token"].is_null() && keys["expiration"].is_null());
    }

    #[test]
    fn credential_process_has_version_1_and_expiration_only_for_sessions() {
        let value: serde_json::Value =
            serde_json::from_str(&credential_process(&session(true))).unwrap();
        assert_eq!(value["Version"], 1);
        assert_eq!(value["SessionToken"], "to\"ken");
        assert_eq!(value["Expiration"], "2027-01-15T08:00:00Z");
        let value: serde_json::Value =
            serde_json::from_str(&credential_process(&session(false))).unwrap();
        assert!(value.get("SessionToken").is_none() && value.get("Expiration").is_none());
    }

    #[test]
    fn export_quotes_for_each_shell() {
        let sh = export(&plan(&session(true), "us-east-1"), Shell::Sh);
        assert!(sh.starts_with("unset AWS_PROFILE\n"));
        assert!(
            sh.contains("export AWS_SECRET_ACCESS_KEY='se'\\''cr\\et $x'\n"),
            "{sh}"
        );
        let fish = export(&plan(&session(false), "us-east-1"), Shell::Fish);
        assert!(fish.contains("set -e AWS_SESSION_TOKEN; or true\n"));
        assert!(
            fish.contains("set -gx AWS_SECRET_KEY 'se\\'cr\\\\et $x'\n"),
            "{fish}"
        );
    }

    #[test]
    fn status_reads_the_environment() {
        let now = at(1_800_000_000 - 3 * 3600 - 125);
        let env = Environment::from_pairs([
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEKEY123456"),
            ("AWS_SESSION_TOKEN", "t"),
            ("STSEXEC_ACCOUNT", "work-MFA-STS"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_CREDENTIAL_EXPIRATION", "2027-01-15T08:00:00Z"),
        ]);
        let (text, set) = status(&env, now);
        assert!(set);
        assert_eq!(
            text,
            "Keys set for work-MFA-STS AWS account\nRegion is eu-west-1\nSession valid for 3h 2m (until 2027-01-15T08:00:00Z)\n"
        );
        let (text, _) = status(&env, at(1_800_000_000 + 600));
        assert!(text.contains("Session expired 10m ago"), "{text}");
        let (text, set) = status(&Environment::from_pairs([("PATH", "/bin")]), now);
        assert_eq!((text.as_str(), set), ("No keys set\n", false));
        let foreign = Environment::from_pairs([("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]);
        let (text, _) = status(&foreign, now);
        assert!(
            text.contains("AKIA…MPLE") && text.contains("Long-lived keys"),
            "{text}"
        );
    }

    #[test]
    fn list_styles() {
        let now = at(1_000_000);
        let rows = vec![
            Listing {
                name: "work".into(),
                keys: true,
                user: Some("jb".into()),
                mfa_serial: Some("arn:aws:iam::012123456789:mfa/jb".into()),
                sessions: vec![
                    Summary {
                        role_arn: None,
                        expiration: Ok(at(1_000_000 + 11 * 3600 + 58 * 60 + 30)),
                    },
                    Summary {
                        role_arn: Some("arn:aws:iam::012123456789:role/ops/admin".into()),
                        expiration: Ok(at(10)),
                    },
                ],
                sso: None,
            },
            Listing {
                name: "x".into(),
                keys: false,
                user: None,
                mfa_serial: None,
                sessions: vec![],
                sso: None,
            },
        ];
        assert_eq!(
            list(&rows, now, ListStyle::Plain),
            "work keys=present user=jb mfa=arn:aws:iam::012123456789:mfa/jb sessions=mfa:11h58m,role:admin:expired\nx keys=missing user=- mfa=- sessions=-\n"
        );
        assert_eq!(list(&rows, now, ListStyle::Names), "work\nx\n");
        let table = list(&rows, now, ListStyle::Table);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ACCOUNT  KEYS     USER  MFA DEVICE                        SESSIONS"
        );
        assert_eq!(
            lines[2],
            "x        missing  -     -                                 -"
        );
        assert!(!table.contains('\t'));
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(compact(Duration::from_secs(59)), "<1m");
        assert_eq!(compact(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(30)), "less than a minute");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 150)), "3h 2m");
    }
}
