//! Account names and the accounts file (DESIGN §2): which ARN prefix, region, MFA serial and
//! IAM user belong to an account.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The seed's system-wide accounts file, the last place looked.
pub const SYSTEM_ACCOUNTS_FILE: &str = "/etc/default/aws-sts-helpers/accounts.json";
/// Accounts files are a few hundred bytes; anything this large is a mistake, not a config.
const MAX_ACCOUNTS_FILE_BYTES: u64 = 1024 * 1024;
const EXAMPLE: &str = r#"{"work": "arn:aws:iam::012345678901:"}"#;

/// A validated, lowercased account name: `[a-z0-9][a-z0-9_.-]{0,63}`. Only such a name is ever
/// joined to a directory, so no name can reach outside the credentials directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(raw: &OsStr) -> Result<Self> {
        let Some(text) = raw.to_str() else {
            return Err(Error::failed(format!(
                "account name {raw:?} is not valid UTF-8; account names are letters, digits, '_', '.' and '-'"
            )));
        };
        Self::parse_str(text)
    }

    pub fn parse_str(text: &str) -> Result<Self> {
        let name = text.to_ascii_lowercase();
        if is_valid_account_name(&name) {
            return Ok(AccountName(name));
        }
        let shown: String = if text.chars().count() > 70 {
            let head: String = text.chars().take(64).collect();
            format!("{head}… ({} characters)", text.chars().count())
        } else {
            text.to_string()
        };
        Err(Error::failed(format!(
            "invalid account name {shown:?}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_valid_account_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(b))
}

/// One account of the accounts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub partition: String,
    pub account_id: String,
    pub region: Option<String>,
    pub mfa_serial: Option<String>,
    pub user: Option<String>,
}

impl Account {
    /// `arn:<partition>:iam::<account id>:`
    pub fn prefix(&self) -> String {
        format!("arn:{}:iam::{}:", self.partition, self.account_id)
    }

    /// The configured MFA serial, else the seed's `<prefix>mfa/<user>`.
    pub fn mfa_serial_for(&self, user: &str) -> String {
        self.mfa_serial
            .clone()
            .unwrap_or_else(|| format!("{}mfa/{user}", self.prefix()))
    }
}

/// A role to assume: its ARN and the short name used in labels and cache file names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub name: String,
}

/// `--role admin` → `<prefix>role/admin`; a full role ARN is taken as it is (after checking it).
pub fn resolve_role(role: &str, account: Option<&Account>, account_name: &str) -> Result<Role> {
    let bad = |why: &str| {
        Error::failed(format!(
            "--role {role:?}: {why}; give a role name (--role admin) or a role ARN (arn:aws:iam::012345678901:role/admin)"
        ))
    };
    let (arn, path_and_name) = if role.starts_with("arn:") {
        let mut parts = role.splitn(6, ':');
        let (_, partition, service, region, id, resource) = (
            parts.next(),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        if !is_partition(partition) || service != "iam" || !region.is_empty() || !is_account_id(id)
        {
            return Err(bad("not an IAM role ARN"));
        }
        let Some(rest) = resource.strip_prefix("role/") else {
            return Err(bad("not an IAM role ARN"));
        };
        (role.to_string(), rest.to_string())
    } else {
        let Some(account) = account else {
            return Err(Error::failed(format!(
                "--role {role}: account {account_name} has no ARN prefix in the accounts file to build the role ARN from; add it (e.g. {EXAMPLE}) or pass the full role ARN"
            )));
        };
        (format!("{}role/{role}", account.prefix()), role.to_string())
    };
    let segments: Vec<&str> = path_and_name.split('/').collect();
    if path_and_name.len() > 512 || !segments.iter().all(|s| is_aws_word(s, 1..=512, "+=,.@-")) {
        return Err(bad(
            "role names use letters, digits and +=,.@_- (paths separated by '/')",
        ));
    }
    let name = segments.last().copied().unwrap_or_default();
    if name.len() > 64 {
        return Err(bad("a role name has at most 64 characters"));
    }
    Ok(Role {
        arn,
        name: name.to_string(),
    })
}

/// The accounts file in use: where it was found and what it holds.
#[derive(Debug)]
pub struct AccountsFile {
    pub path: PathBuf,
    pub accounts: BTreeMap<AccountName, Account>,
}

/// The first accounts file found: `--config`/`$STSEXEC_CONFIG` (which must exist when given),
/// `<creds-dir>/accounts.json`, then the seed's system-wide file.
pub fn locate(explicit: Option<&Path>, creds_dir: &Path) -> Result<Option<PathBuf>> {
    if let Some(path) = explicit {
        return if path.exists() {
            Ok(Some(path.to_path_buf()))
        } else {
            Err(Error::failed(format!(
                "accounts file {} (from --config or STSEXEC_CONFIG) does not exist; create it, e.g. {EXAMPLE}",
                path.display()
            )))
        };
    }
    let candidates = [
        creds_dir.join("accounts.json"),
        PathBuf::from(SYSTEM_ACCOUNTS_FILE),
    ];
    Ok(candidates.into_iter().find(|p| p.exists()))
}

pub fn load(path: &Path) -> Result<AccountsFile> {
    let unreadable = |e: std::io::Error| {
        Error::failed(format!("cannot read accounts file {}: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_ACCOUNTS_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    if bytes.len() as u64 > MAX_ACCOUNTS_FILE_BYTES {
        return Err(Error::failed(format!(
            "accounts file {} is larger than 1 MiB; it should map account names to ARN prefixes, e.g. {EXAMPLE}",
            path.display()
        )));
    }
    let accounts = parse(&bytes)
        .map_err(|why| Error::failed(format!("accounts file {}: {why}", path.display())))?;
    Ok(AccountsFile {
        path: path.to_path_buf(),
        accounts,
    })
}

/// Parses the accounts file's bytes. Errors are sentences without the file name, which the
/// caller adds.
pub fn parse(bytes: &[u8]) -> std::result::Result<BTreeMap<AccountName, Account>, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "is not UTF-8 text".to_string())?;
    if text.trim().is_empty() {
        return Err(format!(
            "is empty; it should map account names to ARN prefixes, e.g. {EXAMPLE}"
        ));
    }
    let entries: Entries = serde_json::from_str(text)
        .map_err(|e| format!("is not valid: {e}; expected e.g. {EXAMPLE}"))?;
    let mut accounts = BTreeMap::new();
    let mut spelled: BTreeMap<AccountName, String> = BTreeMap::new();
    for (raw_name, value) in entries.0 {
        let name = AccountName::parse_str(&raw_name).map_err(|e| e.to_string())?;
        if let Some(first) = spelled.get(&name) {
            return Err(format!(
                "account {raw_name:?} appears twice (also as {first:?}); account names are case-insensitive, keep one"
            ));
        }
        let account = parse_entry(&raw_name, value)?;
        spelled.insert(name.clone(), raw_name);
        accounts.insert(name, account);
    }
    Ok(accounts)
}

fn parse_entry(name: &str, value: Value) -> std::result::Result<Account, String> {
    let (arn, region, mfa_serial, user) = match value {
        Value::String(arn) => (arn, None, None, None),
        Value::Object(fields) => {
            let mut arn = None;
            let (mut region, mut mfa_serial, mut user) = (None, None, None);
            for (key, value) in fields {
                let Value::String(text) = value else {
                    return Err(format!(
                        "account {name:?}: \"{key}\" must be a string, not {}",
                        kind_of(&value)
                    ));
                };
                match key.as_str() {
                    "arn" => arn = Some(text),
                    "region" => region = Some(check_region(name, text)?),
                    "mfa_serial" => mfa_serial = Some(check_mfa_serial(name, text)?),
                    "user" => user = Some(check_user(name, text)?),
                    other => {
                        return Err(format!(
                            "account {name:?}: unknown field \"{other}\"; the fields are \"arn\", \"region\", \"mfa_serial\" and \"user\""
                        ));
                    }
                }
            }
            let Some(arn) = arn else {
                return Err(format!(
                    "account {name:?} has no \"arn\" field; add \"arn\": \"arn:aws:iam::012345678901:\""
                ));
            };
            (arn, region, mfa_serial, user)
        }
        other => {
            return Err(format!(
                "account {name:?} must be an ARN prefix string or an object with \"arn\", not {}",
                kind_of(&other)
            ));
        }
    };
    let (partition, account_id) = parse_prefix(&arn).ok_or_else(|| {
        format!(
            "account {name:?} has ARN prefix {arn:?}; it must look like \"arn:aws:iam::012345678901:\" (partition aws, aws-cn, aws-us-gov…, 12-digit account id, trailing colon)"
        )
    })?;
    Ok(Account {
        partition,
        account_id,
        region,
        mfa_serial,
        user,
    })
}

/// `arn:<partition>:iam::<12 digits>:` → (partition, account id).
fn parse_prefix(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let (partition, rest) = rest.split_once(':')?;
    let rest = rest.strip_prefix("iam::")?;
    let account_id = rest.strip_suffix(':')?;
    (is_partition(partition) && is_account_id(account_id))
        .then(|| (partition.to_string(), account_id.to_string()))
}

fn is_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        })
}

fn is_account_id(id: &str) -> bool {
    id.len() == 12 && id.bytes().all(|b| b.is_ascii_digit())
}

/// A region name's shape (`eu-west-1`): lowercase letters, digits and '-'.
pub fn is_region_name(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn check_region(name: &str, region: String) -> std::result::Result<String, String> {
    if is_region_name(&region) {
        Ok(region)
    } else {
        Err(format!(
            "account {name:?}: region {region:?} is not a region name like \"eu-west-1\""
        ))
    }
}

fn check_mfa_serial(name: &str, serial: String) -> std::result::Result<String, String> {
    // STS accepts 9–256 characters of [\w+=/:,.@-]: an MFA device ARN or a hardware serial.
    if is_aws_word(&serial, 9..=256, "+=/:,.@-") {
        Ok(serial)
    } else {
        Err(format!(
            "account {name:?}: mfa_serial {serial:?} is not an MFA device ARN like \"arn:aws:iam::012345678901:mfa/jb\""
        ))
    }
}

/// The shape of AWS identifiers: a length in `lengths` of ASCII letters, digits and the
/// characters of `punctuation` (STS and IAM document theirs as `[\w<punctuation>]{min,max}`).
pub fn is_aws_word(
    text: &str,
    lengths: std::ops::RangeInclusive<usize>,
    punctuation: &str,
) -> bool {
    lengths.contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || punctuation.contains(c))
}

/// IAM user names: 1–64 of [\w+=,.@-].
pub fn is_valid_user_name(user: &str) -> bool {
    is_aws_word(user, 1..=64, "+=,.@-")
}

fn check_user(name: &str, user: String) -> std::result::Result<String, String> {
    if is_valid_user_name(&user) {
        Ok(user)
    } else {
        Err(format!(
            "account {name:?}: user {user:?} is not an IAM user name (1 to 64 of letters, digits and _+=,.@-)"
        ))
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The top-level object as written, duplicates included: serde_json's own maps keep only the
/// last of two equal keys, which would hide a mistake.
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object mapping account names to ARN prefixes")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> BTreeMap<AccountName, Account> {
        parse(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn parse_err(text: &str) -> String {
        parse(text.as_bytes()).expect_err(text)
    }

    fn name(s: &str) -> AccountName {
        AccountName::parse_str(s).unwrap()
    }

    #[test]
    fn account_names_are_lowercased_and_checked() {
        assert_eq!(name("Work").as_str(), "work");
        assert_eq!(name("a").as_str(), "a");
        assert_eq!(name("prod-eu_1.x").as_str(), "prod-eu_1.x");
        for bad in [
            "",
            "../x",
            "/etc/passwd",
            "a/b",
            ".hidden",
            "-x",
            "a b",
            "ü",
        ] {
            let err = AccountName::parse_str(bad).unwrap_err().to_string();
            assert!(err.contains("invalid account name"), "{bad}: {err}");
        }
        let long = "a".repeat(10_000);
        let err = AccountName::parse_str(&long).unwrap_err().to_string();
        assert!(err.contains("10000 characters") && err.len() < 300, "{err}");
        assert!(AccountName::parse_str(&"a".repeat(64)).is_ok());
        assert!(AccountName::parse_str(&"a".repeat(65)).is_err());
    }

    #[test]
    fn non_utf8_account_name_is_refused() {
        use std::os::unix::ffi::OsStrExt;
        let err = AccountName::parse(OsStr::from_bytes(b"wo\xffrk")).unwrap_err();
        assert!(err.to_string().contains("not valid UTF-8"), "{err}");
    }

    #[test]
    fn both_forms_parse_and_mix() {
        let accounts = parse_ok(
            r#"{"Work": "arn:aws:iam::012123456789:",
                "cn": {"arn": "arn:aws-cn:iam::111122223333:", "region": "cn-north-1",
                       "mfa_serial": "arn:aws-cn:iam::111122223333:mfa/phone", "user": "jb"},
                "gov": {"arn": "arn:aws-us-gov:iam::444455556666:"}}"#,
        );
        let work = &accounts[&name("work")];
        assert_eq!(work.prefix(), "arn:aws:iam::012123456789:");
        assert_eq!(
            work.mfa_serial_for("jb"),
            "arn:aws:iam::012123456789:mfa/jb"
        );
        assert_eq!(work.region, None);
        let cn = &accounts[&name("cn")];
        assert_eq!(cn.partition, "aws-cn");
        assert_eq!(cn.region.as_deref(), Some("cn-north-1"));
        assert_eq!(cn.user.as_deref(), Some("jb"));
        assert_eq!(
            cn.mfa_serial_for("other"),
            "arn:aws-cn:iam::111122223333:mfa/phone"
        );
        assert_eq!(accounts[&name("gov")].partition, "aws-us-gov");
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        assert!(parse_err("").contains("is empty"));
        assert!(parse_err("  \n").contains("is empty"));
        assert!(parse_err("{not json").contains("is not valid"));
        assert!(parse_err(r#"["work"]"#).contains("JSON object mapping account names"));
        assert!(parse_err(r#"{"work": 12}"#).contains("not a number"));
        assert!(parse_err(r#"{"work": {"arn": 1}}"#).contains("\"arn\" must be a string"));
        assert!(parse_err(r#"{"work": {"region": "eu-west-1"}}"#).contains("no \"arn\" field"));
        assert!(
            parse_err(r#"{"work": {"arn": "arn:aws:iam::012123456789:", "regoin": "x"}}"#)
                .contains("unknown field \"regoin\"")
        );
        let dup = parse_err(
            r#"{"work": "arn:aws:iam::012123456789:", "WORK": "arn:aws:iam::012123456789:"}"#,
        );
        assert!(
            dup.contains("appears twice") && dup.contains("WORK"),
            "{dup}"
        );
        assert!(
            parse_err(r#"{"../x": "arn:aws:iam::012123456789:"}"#).contains("invalid account name")
        );
        assert!(parse(b"\xff\xfe").unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn malformed_prefixes_name_the_account() {
        for bad in [
            "arn:aws:iam::01212345678:",   // 11 digits
            "arn:aws:iam::012123456789",   // no trailing colon
            "arn:AWS:iam::012123456789:",  // partition shape
            "arn:aws-:iam::012123456789:", // partition shape
            "arn:aws:sts::012123456789:",  // not iam
            "arn:aws:iam:us-east-1:012123456789:",
            "012123456789",
        ] {
            let err = parse_err(&format!(r#"{{"work": "{bad}"}}"#));
            assert!(
                err.contains("account \"work\"") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn roles_resolve_from_names_and_arns() {
        let accounts = parse_ok(r#"{"work": "arn:aws:iam::012123456789:"}"#);
        let work = accounts.get(&name("work"));
        let role = resolve_role("admin", work, "work").unwrap();
        assert_eq!(role.arn, "arn:aws:iam::012123456789:role/admin");
        assert_eq!(role.name, "admin");
        let role = resolve_role("ops/deploy", work, "work").unwrap();
        assert_eq!(role.arn, "arn:aws:iam::012123456789:role/ops/deploy");
        assert_eq!(role.name, "deploy");
        let role = resolve_role("arn:aws:iam::999988887777:role/x", None, "work").unwrap();
        assert_eq!(role.arn, "arn:aws:iam::999988887777:role/x");
        for bad in [
            "",
            "a b",
            "../x/",
            "arn:aws:iam::1:role/x",
            "arn:aws:s3:::bucket",
        ] {
            assert!(resolve_role(bad, work, "work").is_err(), "{bad}");
        }
        let err = resolve_role("admin", None, "work").unwrap_err().to_string();
        assert!(err.contains("no ARN prefix"), "{err}");
    }
}
