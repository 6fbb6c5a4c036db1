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

/// The warning when `--export` writes to a terminal, with the `eval` form of the shell the
/// statements are for.
pub fn export_on_terminal(shell: Shell) -> &'static str {
    match shell {
        Shell::Sh => {
            "--export prints secrets to the terminal; use eval \"$(stsexec … --export)\", or exec mode, which keeps them out of your shell"
        }
        Shell::Fish => {
            "--export prints secrets to the terminal; use eval (stsexec … --export | string collect), or exec mode, which keeps them out of your shell"
        }
    }
}

/// The warning when `--json` writes to a terminal.
pub fn json_on_terminal() -> &'static str {
    "--json prints secrets to the terminal; pipe it to the program that reads it (stsexec … --json | jq …), or use exec mode, which keeps them off the screen"
}

/// POSIX single quotes hold every byte but `'`, which is closed, escaped and reopened.
fn quote_sh(value: &str) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// In fish's single quotes only `\` and `'` are special, both escaped with a backslash.
fn quote_fish(value: &str) -> String {
    format!("'{}'", value.replace('\\', r"\\").replace('\'', r"\'"))
}

/// `ec2now`: what the current environment holds. Returns the text and whether it holds one
/// usable set of keys: false with no keys, with an expired session, and with a mixture (a
/// long-lived key beside a session token, a session key without its token, an expiration
/// beside long-lived keys, `STSEXEC_ACCOUNT` naming keys of another kind) — what an `eval`
/// that half failed leaves behind (DESIGN §5).
pub fn status(current: &Environment, now: SystemTime) -> (String, bool) {
    let Some(key_id) = current.get("AWS_ACCESS_KEY_ID") else {
        return ("No keys set\n".to_string(), false);
    };
    let label = current.get("STSEXEC_ACCOUNT");
    let mut out = match label {
        Some(label) => format!("Keys set for {} AWS account\n", crate::text::shown(label)),
        None => format!("Keys set ({}), not by stsexec\n", mask_key_id(key_id)),
    };
    match crate::env::region_in(current) {
        Some(region) => out.push_str(&format!("Region is {region}\n")),
        None => out.push_str("Region is not set\n"),
    }
    let masked = mask_key_id(key_id);
    // AWS's key ids tell their kind (AKIA long-lived, ASIA a session's); emulators (moto,
    // LocalStack) behind AWS_ENDPOINT_URL(_STS) hand out AKIA ids for sessions too, so there
    // only stsexec's own variables tell.
    let emulated =
        current.get("AWS_ENDPOINT_URL_STS").is_some() || current.get("AWS_ENDPOINT_URL").is_some();
    let long_lived = !emulated && key_id.starts_with("AKIA");
    let session_key = !emulated && key_id.starts_with("ASIA");
    let has_token = current.get("AWS_SESSION_TOKEN").is_some();
    let label_names_session = label.map(|l| l.ends_with("-STS"));
    let mut mixed = Vec::new();
    if long_lived && has_token {
        mixed.push(format!(
            "AWS_ACCESS_KEY_ID {masked} is a long-lived key, yet AWS_SESSION_TOKEN is set: the token belongs to other keys and AWS refuses the pair"
        ));
    }
    if session_key && !has_token {
        mixed.push(format!(
            "AWS_ACCESS_KEY_ID {masked} is a session's key, yet AWS_SESSION_TOKEN is not set: AWS refuses it without its token"
        ));
    }
    if let Some(label) = label {
        let shown = crate::text::shown(label);
        match label_names_session {
            Some(true) if long_lived => mixed.push(format!(
                "STSEXEC_ACCOUNT names the session {shown}, but AWS_ACCESS_KEY_ID {masked} is a long-lived key"
            )),
            Some(true) if !has_token => mixed.push(format!(
                "STSEXEC_ACCOUNT names the session {shown}, but AWS_SESSION_TOKEN is not set"
            )),
            Some(false) if session_key => mixed.push(format!(
                "STSEXEC_ACCOUNT names the long-lived keys of {shown}, but AWS_ACCESS_KEY_ID {masked} is a session's key"
            )),
            Some(false) if has_token && !long_lived => mixed.push(format!(
                "STSEXEC_ACCOUNT names the long-lived keys of {shown}, but AWS_SESSION_TOKEN is set: it belongs to an earlier session"
            )),
            _ => {}
        }
    }
    let long_lived_set = long_lived || label_names_session == Some(false);
    let mut usable = true;
    match current.get("AWS_CREDENTIAL_EXPIRATION") {
        Some(text) if long_lived_set => mixed.push(format!(
            "AWS_CREDENTIAL_EXPIRATION ({}) is set beside the long-lived key {masked}: it belongs to an earlier session",
            crate::text::shown(text)
        )),
        Some(text) => match humantime::parse_rfc3339_weak(text) {
            Ok(expiration) => match expiration.duration_since(now) {
                Ok(left) if mixed.is_empty() => out.push_str(&format!(
                    "Session valid for {} (until {text})\n",
                    human(left)
                )),
                Ok(_) => {}
                Err(past) => {
                    usable = false;
                    out.push_str(&format!(
                        "Session expired {} ago ({text}): its keys no longer work\n",
                        human(past.duration())
                    ));
                }
            },
            Err(_) => out.push_str(&format!(
                "Session expiration {:?} is not a time\n",
                crate::text::shown(text)
            )),
        },
        None if !mixed.is_empty() => {}
        None if has_token => out.push_str("Session of unknown lifetime\n"),
        None => out.push_str("Long-lived keys (they do not expire)\n"),
    }
    if !mixed.is_empty() {
        usable = false;
        out.push_str("Mixed environment: these variables do not belong together\n");
        for problem in &mixed {
            out.push_str(&format!("  {problem}\n"));
        }
        out.push_str("Run the command with stsexec ACCOUNT -- COMMAND (or a subshell: stsexec ACCOUNT), or export again with the syntax of your shell (--export follows $SHELL)\n");
    }
    (out, usable)
}

/// One account as `--list` shows it.
#[derive(Debug)]
pub struct Listing {
    pub name: String,
    pub keys: bool,
    /// Where the secret is kept (`plain`, `age`, `key_process`), when there is one; plain
    /// ones are marked.
    pub store: Option<&'static str>,
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

/// `--list`. `width`: the terminal's columns, which a table never exceeds (a terminal breaks a
/// longer line mid-word): when the columns do not fit, each account's sessions, then its MFA
/// device, go on lines of their own below it, and a line still too long is cut with `…`.
pub fn list(rows: &[Listing], now: SystemTime, style: ListStyle, width: usize) -> String {
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|row| {
            [
                row.name.clone(),
                match (&row.sso, row.keys, row.store) {
                    (Some(login), _, _) if style == ListStyle::Table => {
                        format!("IAM Identity Center: {login}")
                    }
                    (Some(_), _, _) => "sso".to_string(),
                    (None, true, Some(store)) => store.to_string(),
                    (None, true, None) => "present".to_string(),
                    (None, false, _) => "missing".to_string(),
                },
                row.user.clone().unwrap_or_else(|| "-".into()),
                row.mfa_serial.clone().unwrap_or_else(|| "-".into()),
                sessions(&row.sessions, now).join(", "),
            ]
        })
        .map(|mut line| {
            if line[4].is_empty() {
                line[4] = "-".into();
            }
            line
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
            for columns in [5, 4, 3] {
                let lines = table(&header, &cells, columns);
                let fits = lines.iter().all(|l| l.chars().count() <= width);
                if !fits && columns > 3 {
                    continue;
                }
                let mut out = String::new();
                for (i, line) in lines.iter().enumerate() {
                    push_cut(&mut out, line, width);
                    // Below each account (not the header): what did not fit in its columns.
                    let Some(row) = i.checked_sub(1).map(|i| &rows[i]) else {
                        continue;
                    };
                    if columns < 4
                        && let Some(mfa) = &row.mfa_serial
                    {
                        push_cut(&mut out, &format!("  MFA device {mfa}"), width);
                    }
                    if columns < 5 {
                        for session in sessions(&row.sessions, now) {
                            push_cut(&mut out, &format!("  session {session}"), width);
                        }
                    }
                    if row.keys && row.store == Some("plain") {
                        push_cut(
                            &mut out,
                            &format!(
                                "  plain file: readable by any program you run; stsexec {} --add encrypts it",
                                row.name
                            ),
                            width,
                        );
                    }
                }
                return out;
            }
            unreachable!("three columns are always taken")
        }
    }
}

/// The header and the rows as aligned text, the first `columns` columns.
fn table(header: &[String; 5], cells: &[[String; 5]], columns: usize) -> Vec<String> {
    let mut widths = [0usize; 5];
    for line in std::iter::once(header).chain(cells) {
        for (width, cell) in widths.iter_mut().zip(line) {
            *width = (*width).max(cell.chars().count());
        }
    }
    std::iter::once(header)
        .chain(cells)
        .map(|line| {
            let mut text = String::new();
            for (i, (cell, width)) in line.iter().zip(widths).take(columns).enumerate() {
                if i + 1 == columns {
                    text.push_str(cell);
                } else {
                    text.push_str(&format!("{cell:<width$}  "));
                }
            }
            text.trim_end().to_string()
        })
        .collect()
}

/// Appends `line` and a newline, cut to `width` characters with `…`.
fn push_cut(out: &mut String, line: &str, width: usize) {
    if line.chars().count() <= width {
        out.push_str(line);
    } else {
        out.extend(line.chars().take(width.saturating_sub(1)));
        out.push('…');
    }
    out.push('\n');
}

/// Each cached session, `mfa:11h58m`, `role:admin:45m`, `webid:deploy:30m` (assumed with a
/// CI's OIDC token), `expired` or `unusable` in place of the time left.
fn sessions(sessions: &[Summary], now: SystemTime) -> Vec<String> {
    sessions
        .iter()
        .map(|s| {
            let what = match (&s.role_arn, s.web_identity) {
                (None, false) => "mfa".to_string(),
                (None, true) => "webid".to_string(),
                (Some(arn), web) => format!(
                    "{}:{}",
                    if web { "webid" } else { "role" },
                    arn.rsplit('/').next().unwrap_or(arn)
                ),
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
        .collect()
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
        let (text, set) = status(&env, at(1_800_000_000 + 600));
        assert!(text.contains("Session expired 10m ago"), "{text}");
        assert!(!set, "an expired session is not usable: exit 1");
        let (text, set) = status(&Environment::from_pairs([("PATH", "/bin")]), now);
        assert_eq!((text.as_str(), set), ("No keys set\n", false));
        let foreign = Environment::from_pairs([("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE")]);
        let (text, _) = status(&foreign, now);
        assert!(
            text.contains("AKIA…MPLE") && text.contains("Long-lived keys"),
            "{text}"
        );
    }

    /// What fish made of sh's `--export` (issue 19): the new long-lived key beside the old
    /// session's token and expiration. Each mixture is named, none is called valid, exit 1.
    #[test]
    fn status_names_a_mixed_environment() {
        let now = at(1_800_000_000 - 3600);
        let mixed = |pairs: &[(&str, &str)]| {
            let (text, usable) = status(&Environment::from_pairs(pairs.iter().copied()), now);
            assert!(!usable, "{text}");
            assert!(text.contains("Mixed environment"), "{text}");
            assert!(!text.contains("Session valid"), "{text}");
            text
        };
        let text = mixed(&[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SESSION_TOKEN", "old"),
            ("AWS_CREDENTIAL_EXPIRATION", "2027-01-15T08:00:00Z"),
            ("STSEXEC_ACCOUNT", "personal"),
        ]);
        assert!(
            text.contains("AKIA…MPLE is a long-lived key, yet AWS_SESSION_TOKEN is set")
                && text.contains("AWS_CREDENTIAL_EXPIRATION (2027-01-15T08:00:00Z) is set beside"),
            "{text}"
        );
        let text = mixed(&[
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("STSEXEC_ACCOUNT", "work-MFA-STS"),
        ]);
        assert!(
            text.contains("STSEXEC_ACCOUNT names the session work-MFA-STS"),
            "{text}"
        );
        let text = mixed(&[
            ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEKEY123456"),
            ("AWS_SESSION_TOKEN", "t"),
            ("STSEXEC_ACCOUNT", "work"),
        ]);
        assert!(text.contains("names the long-lived keys of work"), "{text}");
        let text = mixed(&[("AWS_ACCESS_KEY_ID", "ASIAEXAMPLEKEY123456")]);
        assert!(text.contains("AWS_SESSION_TOKEN is not set"), "{text}");
        // Behind an emulator (AKIA ids for sessions) stsexec's own variables still tell.
        let text = mixed(&[
            ("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:5000"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
            ("AWS_SESSION_TOKEN", "old"),
            ("AWS_CREDENTIAL_EXPIRATION", "2027-01-15T08:00:00Z"),
            ("STSEXEC_ACCOUNT", "personal"),
        ]);
        assert!(
            text.contains("names the long-lived keys of personal, but AWS_SESSION_TOKEN is set")
                && text.contains("AWS_CREDENTIAL_EXPIRATION (2027-01-15T08:00:00Z) is set beside"),
            "{text}"
        );
        let (text, usable) = status(
            &Environment::from_pairs([
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
                ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
                ("AWS_SESSION_TOKEN", "t"),
                ("AWS_CREDENTIAL_EXPIRATION", "2027-01-15T08:00:00Z"),
                ("STSEXEC_ACCOUNT", "work-MFA-STS"),
            ]),
            now,
        );
        assert!(usable && text.contains("Session valid for 1h"), "{text}");
        // One clean set of long-lived keys is fine.
        let (text, usable) = status(
            &Environment::from_pairs([
                ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"),
                ("STSEXEC_ACCOUNT", "personal"),
            ]),
            now,
        );
        assert!(usable && text.contains("Long-lived keys"), "{text}");
    }

    fn rows() -> Vec<Listing> {
        vec![
            Listing {
                name: "work".into(),
                keys: true,
                store: Some("plain"),
                user: Some("jb".into()),
                mfa_serial: Some("arn:aws:iam::012123456789:mfa/jb".into()),
                sessions: vec![
                    Summary {
                        role_arn: None,
                        web_identity: false,
                        expiration: Ok(at(1_000_000 + 11 * 3600 + 58 * 60 + 30)),
                    },
                    Summary {
                        role_arn: Some("arn:aws:iam::012123456789:role/ops/admin".into()),
                        web_identity: false,
                        expiration: Ok(at(10)),
                    },
                ],
                sso: None,
            },
            Listing {
                name: "x".into(),
                keys: false,
                store: None,
                user: None,
                mfa_serial: None,
                sessions: vec![],
                sso: None,
            },
        ]
    }

    #[test]
    fn list_styles() {
        let now = at(1_000_000);
        let rows = rows();
        assert_eq!(
            list(&rows, now, ListStyle::Plain, 80),
            "work keys=plain user=jb mfa=arn:aws:iam::012123456789:mfa/jb sessions=mfa:11h58m,role:admin:expired\nx keys=missing user=- mfa=- sessions=-\n"
        );
        assert_eq!(list(&rows, now, ListStyle::Names, 80), "work\nx\n");
        let table = list(&rows, now, ListStyle::Table, 120);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "ACCOUNT  KEYS     USER  MFA DEVICE                        SESSIONS"
        );
        assert_eq!(
            lines[2],
            "  plain file: readable by any program you run; stsexec work --add encrypts it"
        );
        assert_eq!(
            lines[3],
            "x        missing  -     -                                 -"
        );
        assert!(!table.contains('\t'));
    }

    /// Issue 19: at 80 columns the table wrapped; a web-identity session was not marked.
    #[test]
    fn the_table_never_exceeds_the_terminal() {
        let now = at(1_000_000);
        let mut rows = rows();
        rows[0].sessions.push(Summary {
            role_arn: Some("arn:aws:iam::012123456789:role/deploy".into()),
            web_identity: true,
            expiration: Ok(at(1_000_000 + 1800)),
        });
        rows.push(Listing {
            name: "a-rather-long-account-name-for-the-platform-team".into(),
            keys: true,
            store: Some("age"),
            user: Some("someone.with.a.long.name@example.com".into()),
            mfa_serial: Some(format!("arn:aws:iam::012123456789:mfa/{}", "d".repeat(60))),
            sessions: vec![],
            sso: None,
        });
        for width in [40, 80, 100] {
            let table = list(&rows, now, ListStyle::Table, width);
            for line in table.lines() {
                assert!(line.chars().count() <= width, "{width}: {line}\n{table}");
            }
            assert!(table.contains("webid:deploy:30m"), "{table}");
        }
        let table = list(&rows[..1], now, ListStyle::Table, 80);
        assert_eq!(
            table,
            "ACCOUNT  KEYS   USER  MFA DEVICE\n\
             work     plain  jb    arn:aws:iam::012123456789:mfa/jb\n  \
             session mfa:11h58m\n  session role:admin:expired\n  session webid:deploy:30m\n  \
             plain file: readable by any program you run; stsexec work --add encrypts it\n"
        );
    }

    #[test]
    fn durations_for_people() {
        assert_eq!(compact(Duration::from_secs(59)), "<1m");
        assert_eq!(compact(Duration::from_secs(7200)), "2h");
        assert_eq!(human(Duration::from_secs(30)), "less than a minute");
        assert_eq!(human(Duration::from_secs(3 * 3600 + 150)), "3h 2m");
    }
}
