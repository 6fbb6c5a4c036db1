//! Account names and the accounts file (DESIGN §2): which ARN prefix, region, MFA device,
//! IAM user and MFA command belong to an account.
#![forbid(unsafe_code)]

use crate::files::{self, FileError, Kind};
use crate::sso::account::SsoFieldError;
pub use crate::text::shown;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

/// The seed's system-wide accounts file, the last place looked.
pub const SYSTEM_ACCOUNTS_FILE: &str = "/etc/default/aws-sts-helpers/accounts.json";
const EXAMPLE: &str = r#"{"work": "arn:aws:iam::012345678901:"}"#;

/// What went wrong with an account name, the accounts file or a role; `Display` is the
/// sentence for the user.
#[derive(Debug)]
pub enum AccountsError {
    InvalidName(String),
    NameNotUtf8(String),
    ConfigMissing(PathBuf),
    File(FileError),
    Invalid {
        path: PathBuf,
        problem: Problem,
    },
    Unknown {
        name: AccountName,
        known: Vec<AccountName>,
        creds_dir: PathBuf,
    },
    Role {
        role: String,
        why: RoleProblem,
    },
    RoleNeedsPrefix {
        role: String,
        account: AccountName,
    },
    NoMfaDevice {
        account: AccountName,
        accounts_file: Option<PathBuf>,
        creds_dir: PathBuf,
    },
    NoUser {
        account: AccountName,
        user_file: PathBuf,
    },
    InvalidUser {
        source: String,
        user_file: PathBuf,
    },
}

/// Why an accounts file is not valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    NotUtf8,
    Empty,
    NotJson(String),
    BadName(String),
    Duplicate {
        name: String,
        first: String,
    },
    FieldNotString {
        account: String,
        field: String,
        found: &'static str,
    },
    UnknownField {
        account: String,
        field: String,
    },
    NoArn {
        account: String,
    },
    WrongType {
        account: String,
        found: &'static str,
    },
    BadPrefix {
        account: String,
        arn: String,
    },
    BadRegion {
        account: String,
        region: String,
    },
    BadMfaSerial {
        account: String,
        serial: String,
    },
    BadUser {
        account: String,
        user: String,
    },
    BadMfaProcess {
        account: String,
    },
    /// `key_process`, `key_update_process` or `age_identity` is not one non-empty line.
    BadKeyField {
        account: String,
        field: &'static str,
    },
    /// An IAM Identity Center key of the wrong shape, missing keys, or keys that do not go
    /// with an IAM Identity Center entry.
    BadSso {
        account: String,
        why: SsoFieldError,
    },
    /// `"roles"` is not an object of names to role ARNs or role objects.
    BadRoles {
        account: String,
        why: RolesProblem,
    },
}

/// What is wrong with an account's `"roles"`. `Display` is the rest of the sentence that
/// [`Problem::BadRoles`] starts with `account "work": "roles" `; each value is held as the file
/// has it and cleaned when shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolesProblem {
    /// `"roles"` is not an object; `found` is the kind of JSON value it is.
    NotAnObject {
        found: &'static str,
    },
    /// A role name that is not 1 to 64 of `[\w+=,.@-]` (a path or an ARN would change what
    /// `--role` means).
    BadName {
        role: String,
    },
    /// A field of a role object whose value is not a string.
    FieldNotString {
        role: String,
        field: String,
        found: &'static str,
    },
    /// `external_id` of the wrong shape (the value is a secret: not held, not shown).
    BadExternalId {
        role: String,
    },
    BadSessionName {
        role: String,
        session_name: String,
    },
    /// `duration` that does not parse or is outside AssumeRole's 15m to 12h.
    BadDuration {
        role: String,
        duration: String,
    },
    UnknownField {
        role: String,
        field: String,
    },
    /// A role object without `"arn"`.
    NoArn {
        role: String,
    },
    /// A role that is neither a string nor an object.
    WrongType {
        role: String,
        found: &'static str,
    },
    /// A role ARN that `--role ARN` would refuse.
    NotRoleArn {
        role: String,
        arn: String,
    },
}

/// Why `--role` cannot name a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleProblem {
    NotRoleArn,
    BadCharacters,
    TooLong,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::NotUtf8 => f.write_str("is not UTF-8 text"),
            Problem::Empty => write!(
                f,
                "is empty; it should map account names to ARN prefixes, e.g. {EXAMPLE}"
            ),
            Problem::NotJson(why) => write!(f, "is not valid: {why}; expected e.g. {EXAMPLE}"),
            Problem::BadName(name) => write!(
                f,
                "has an invalid account name {:?}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
                shown(name)
            ),
            Problem::Duplicate { name, first } => write!(
                f,
                "has account {:?} twice (also as {:?}); account names are case-insensitive, keep one",
                shown(name),
                shown(first)
            ),
            Problem::FieldNotString {
                account,
                field,
                found,
            } => write!(
                f,
                "account {:?}: \"{}\" must be a string, not {found}",
                shown(account),
                shown(field)
            ),
            Problem::UnknownField { account, field } => write!(
                f,
                "account {:?}: unknown field \"{}\"; the fields are \"arn\", \"region\", \"mfa_serial\", \"user\", \"mfa_process\", \"roles\", \"key_process\", \"key_update_process\" and \"age_identity\"",
                shown(account),
                shown(field)
            ),
            Problem::NoArn { account } => write!(
                f,
                "account {:?} has no \"arn\" field; add \"arn\": \"arn:aws:iam::012345678901:\"",
                shown(account)
            ),
            Problem::WrongType { account, found } => write!(
                f,
                "account {:?} must be an ARN prefix string or an object with \"arn\", not {found}",
                shown(account)
            ),
            Problem::BadPrefix { account, arn } => write!(
                f,
                "account {:?} has ARN prefix {:?}; it must look like \"arn:aws:iam::012345678901:\" (partition aws, aws-cn, aws-us-gov…, 12-digit account id) or be the 12-digit account id alone",
                shown(account),
                shown(arn)
            ),
            Problem::BadRegion { account, region } => write!(
                f,
                "account {:?}: region {:?} is not a region name like \"eu-west-1\"",
                shown(account),
                shown(region)
            ),
            Problem::BadMfaSerial { account, serial } => write!(
                f,
                "account {:?}: mfa_serial {:?} is not an MFA device ARN like \"arn:aws:iam::012345678901:mfa/jb\"",
                shown(account),
                shown(serial)
            ),
            Problem::BadUser { account, user } => write!(
                f,
                "account {:?}: user {:?} is not an IAM user name (1 to 64 of letters, digits and _+=,.@-)",
                shown(account),
                shown(user)
            ),
            Problem::BadMfaProcess { account } => write!(
                f,
                "account {:?}: mfa_process must be a non-empty command of at most 4096 characters on one line",
                shown(account)
            ),
            Problem::BadKeyField { account, field } => write!(
                f,
                "account {:?}: {field} must be a non-empty {} of at most 4096 characters on one line",
                shown(account),
                if *field == "age_identity" {
                    "list of identity files (separated by :)"
                } else {
                    "command"
                }
            ),
            Problem::BadSso { account, why } => {
                write!(f, "account {:?}: {why}", shown(account))
            }
            Problem::BadRoles { account, why } => write!(
                f,
                "account {:?}: \"roles\" {why}; write e.g. \"roles\": {{\"admin\": \"arn:aws:iam::012345678901:role/admin\", \"deploy\": {{\"arn\": \"arn:aws:iam::012345678901:role/deploy\", \"external_id\": \"x\", \"duration\": \"2h\", \"session_name\": \"ci\"}}}}",
                shown(account)
            ),
        }
    }
}

impl fmt::Display for RolesProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RolesProblem::NotAnObject { found } => write!(f, "must be an object, not {found}"),
            RolesProblem::BadName { role } => write!(
                f,
                "has the role name {:?}; use 1 to 64 letters, digits and +=,.@_-",
                shown(role)
            ),
            RolesProblem::FieldNotString { role, field, found } => write!(
                f,
                "role {:?}: \"{}\" must be a string, not {found}",
                shown(role),
                shown(field)
            ),
            RolesProblem::BadExternalId { role } => write!(
                f,
                "role {:?}: external_id must be 2 to 1224 of letters, digits and +=,.@:/_-",
                shown(role)
            ),
            RolesProblem::BadSessionName { role, session_name } => write!(
                f,
                "role {:?}: session_name {:?} must be 2 to 64 of letters, digits and +=,.@_-",
                shown(role),
                shown(session_name)
            ),
            RolesProblem::BadDuration { role, duration } => write!(
                f,
                "role {:?}: duration {:?} is not a duration from 15m to 12h like 90m or 2h",
                shown(role),
                shown(duration)
            ),
            RolesProblem::UnknownField { role, field } => write!(
                f,
                "role {:?}: unknown field \"{}\"; the fields are \"arn\", \"external_id\", \"duration\" and \"session_name\"",
                shown(role),
                shown(field)
            ),
            RolesProblem::NoArn { role } => write!(f, "role {:?} has no \"arn\"", shown(role)),
            RolesProblem::WrongType { role, found } => write!(
                f,
                "role {:?} must be a role ARN or an object with \"arn\", not {found}",
                shown(role)
            ),
            RolesProblem::NotRoleArn { role, arn } => write!(
                f,
                "role {:?}: {:?} is not a role ARN like \"arn:aws:iam::012345678901:role/admin\"",
                shown(role),
                shown(arn)
            ),
        }
    }
}

impl fmt::Display for AccountsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AccountsError::InvalidName(text) => write!(
                f,
                "invalid account name {:?}: use 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
                shown(text)
            ),
            AccountsError::NameNotUtf8(lossy) => write!(
                f,
                "account name {:?} is not valid UTF-8; account names are letters, digits, '_', '.' and '-'",
                shown(lossy)
            ),
            AccountsError::ConfigMissing(path) => write!(
                f,
                "accounts file {} (from --config or STSEXEC_CONFIG) does not exist; create it, e.g. {EXAMPLE}",
                path.display()
            ),
            AccountsError::File(e) => e.fmt(f),
            AccountsError::Invalid { path, problem } => {
                write!(f, "accounts file {} {problem}", path.display())
            }
            AccountsError::Unknown {
                name,
                known,
                creds_dir,
            } => {
                write!(
                    f,
                    "unknown account {name}: no {name}.access_key in {} and no entry in the accounts file",
                    creds_dir.display()
                )?;
                match suggestion(name, known) {
                    Some(close) => write!(f, "; did you mean {close}?"),
                    None if known.is_empty() => f.write_str(
                        "; add its keys (<account>.access_key, <account>.secret_key) there first",
                    ),
                    None => write!(
                        f,
                        "; known accounts: {}",
                        known
                            .iter()
                            .take(20)
                            .map(AccountName::as_str)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                }
            }
            AccountsError::Role { role, why } => {
                let why = match why {
                    RoleProblem::NotRoleArn => "not an IAM role ARN",
                    RoleProblem::BadCharacters => {
                        "role names use letters, digits and +=,.@_- (paths separated by '/')"
                    }
                    RoleProblem::TooLong => "a role name has at most 64 characters",
                };
                write!(
                    f,
                    "--role {:?}: {why}; give a role name (--role admin) or a role ARN (arn:aws:iam::012345678901:role/admin)",
                    shown(role)
                )
            }
            AccountsError::RoleNeedsPrefix { role, account } => write!(
                f,
                "--role {}: account {account} has no ARN prefix in the accounts file to build the role ARN from; add it (e.g. {EXAMPLE}) or pass the full role ARN",
                shown(role)
            ),
            AccountsError::NoMfaDevice {
                account,
                accounts_file,
                creds_dir,
            } => {
                let fix = format!(r#"add "{account}": "arn:aws:iam::<account id>:""#);
                match accounts_file {
                    Some(path) => write!(
                        f,
                        "account {account} is not in the accounts file {}, so its MFA device is unknown; {fix}",
                        path.display()
                    ),
                    None => write!(
                        f,
                        "no accounts file found ({} or {SYSTEM_ACCOUNTS_FILE}), so the MFA device of account {account} is unknown; create one and {fix}",
                        creds_dir.join("accounts.json").display()
                    ),
                }
            }
            AccountsError::NoUser { account, user_file } => write!(
                f,
                "cannot tell the IAM user of account {account}: neither USER nor LOGNAME is set; write it to {}, or give --session-name and an mfa_serial",
                user_file.display()
            ),
            AccountsError::InvalidUser { source, user_file } => write!(
                f,
                "{source} is not an IAM user name (1 to 64 of letters, digits and _+=,.@-); write the IAM user to {}",
                user_file.display()
            ),
        }
    }
}

impl std::error::Error for AccountsError {}

impl From<FileError> for AccountsError {
    fn from(e: FileError) -> Self {
        AccountsError::File(e)
    }
}

type Result<T> = std::result::Result<T, AccountsError>;

/// The closest known name, if it is close enough to be a typo.
fn suggestion<'a>(name: &AccountName, known: &'a [AccountName]) -> Option<&'a AccountName> {
    known
        .iter()
        .map(|k| (edit_distance(name.as_str(), k.as_str()), k))
        .filter(|(d, k)| *d <= 2.max(k.as_str().len() / 3) && *d < k.as_str().len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A validated, lowercased account name: `[a-z0-9][a-z0-9_.-]{0,63}`. Only such a name is ever
/// joined to a directory, so no name can reach outside the credentials directory.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountName(String);

impl AccountName {
    pub fn parse(raw: &OsStr) -> Result<Self> {
        let Some(text) = raw.to_str() else {
            return Err(AccountsError::NameNotUtf8(
                raw.to_string_lossy().into_owned(),
            ));
        };
        Self::parse_str(text)
    }

    pub fn parse_str(text: &str) -> Result<Self> {
        let name = text.to_ascii_lowercase();
        if is_valid_account_name(&name) {
            Ok(AccountName(name))
        } else {
            Err(AccountsError::InvalidName(text.to_string()))
        }
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
    /// A command that prints an MFA code (DESIGN §9).
    pub mfa_process: Option<String>,
    /// A command that prints the long-lived key as process-credential JSON (DESIGN §13).
    pub key_process: Option<String>,
    /// A command that stores a new key given as that JSON on its stdin (`--rotate`).
    pub key_update_process: Option<String>,
    /// The age identity file(s) that open `<account>.secret_key.age` (`:`-separated).
    pub age_identity: Option<String>,
    /// IAM Identity Center (DESIGN §17): the account's credentials come from there, not from
    /// key files.
    pub sso: Option<crate::sso::account::SsoAccount>,
    /// `"roles"`: names for roles, so `--role deploy` brings its ARN and parameters.
    pub roles: BTreeMap<String, NamedRole>,
}

/// A role named in the accounts file: `"admin": "arn:…:role/admin"` or an object with the
/// ARN and the AssumeRole parameters (the command-line flags win over them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedRole {
    pub arn: String,
    pub external_id: Option<crate::secret::Secret>,
    /// As written (`2h`) and its value; the range is checked where the role is assumed.
    pub duration: Option<(String, std::time::Duration)>,
    pub session_name: Option<String>,
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

/// An ARN taken apart: `arn:<partition>:<service>:<region>:<account id>:<resource>` (the
/// resource may hold more colons). The one place stsexec splits ARNs: accounts-file prefixes,
/// role ARNs, the cache's role slots, the IAM user of a caller ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// The six parts, or `None` when `text` is not `arn:` and five more colon-separated parts.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        Some(Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account_id: parts.next()?,
            resource: parts.next()?,
        })
    }

    /// An IAM ARN (IAM is global: no region) of a well-formed partition and account id.
    pub fn parse_iam(text: &'a str) -> Option<Arn<'a>> {
        Arn::parse(text).filter(|arn| {
            arn.service == "iam"
                && arn.region.is_empty()
                && is_partition(arn.partition)
                && is_account_id(arn.account_id)
        })
    }
}

/// A role to assume: its ARN, the account it belongs to, and the short name used in labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub arn: String,
    pub account_id: String,
    pub name: String,
}

/// `--role admin` → `<prefix>role/admin`; a full role ARN is taken as it is (after checking it).
pub fn resolve_role(
    role: &str,
    account: Option<&Account>,
    account_name: &AccountName,
) -> Result<Role> {
    // A name from the account's "roles" is its ARN (checked when the file was read).
    if let Some(named) = account.and_then(|a| a.roles.get(role)) {
        return resolve_role(&named.arn, account, account_name);
    }
    let bad = |why| AccountsError::Role {
        role: role.to_string(),
        why,
    };
    let (arn, account_id, path_and_name) = if role.starts_with("arn:") {
        let Some((arn, rest)) =
            Arn::parse_iam(role).and_then(|arn| Some((arn, arn.resource.strip_prefix("role/")?)))
        else {
            return Err(bad(RoleProblem::NotRoleArn));
        };
        (
            role.to_string(),
            arn.account_id.to_string(),
            rest.to_string(),
        )
    } else {
        let Some(account) = account else {
            return Err(AccountsError::RoleNeedsPrefix {
                role: role.to_string(),
                account: account_name.clone(),
            });
        };
        (
            format!("{}role/{role}", account.prefix()),
            account.account_id.clone(),
            role.to_string(),
        )
    };
    let segments: Vec<&str> = path_and_name.split('/').collect();
    if path_and_name.len() > 512 || !segments.iter().all(|s| is_aws_word(s, 1..=512, "+=,.@-")) {
        return Err(bad(RoleProblem::BadCharacters));
    }
    let name = segments.last().copied().unwrap_or_default();
    if name.len() > 64 {
        return Err(bad(RoleProblem::TooLong));
    }
    Ok(Role {
        arn,
        account_id,
        name: name.to_string(),
    })
}

/// The accounts file in use: where it was found and what it holds.
#[derive(Debug)]
pub struct AccountsFile {
    pub path: PathBuf,
    pub accounts: BTreeMap<AccountName, Account>,
}

/// The first accounts file found, read and parsed: `--config`/`$STSEXEC_CONFIG` (which must
/// exist when given), `<creds-dir>/accounts.json`, then the seed's system-wide file. Each
/// candidate is opened directly (a missing one is the next candidate), so finding costs no
/// extra `stat` on the hot path. The file goes through the private-file checks: it chooses
/// role ARNs, MFA devices and commands stsexec runs, so it must not be writable by others.
pub fn find_and_load(explicit: Option<&Path>, creds_dir: &Path) -> Result<Option<AccountsFile>> {
    if let Some(path) = explicit {
        return load(path).map(Some);
    }
    for candidate in [
        creds_dir.join("accounts.json"),
        PathBuf::from(SYSTEM_ACCOUNTS_FILE),
    ] {
        if let Some(file) = load_if_present(&candidate)? {
            return Ok(Some(file));
        }
    }
    Ok(None)
}

/// Reads and parses the accounts file at `path`, which must exist.
pub fn load(path: &Path) -> Result<AccountsFile> {
    load_if_present(path)?.ok_or_else(|| AccountsError::ConfigMissing(path.to_path_buf()))
}

fn load_if_present(path: &Path) -> Result<Option<AccountsFile>> {
    let Some(bytes) = files::read(path, Kind::AccountsFile)? else {
        return Ok(None);
    };
    let accounts = parse(&bytes).map_err(|problem| AccountsError::Invalid {
        path: path.to_path_buf(),
        problem,
    })?;
    Ok(Some(AccountsFile {
        path: path.to_path_buf(),
        accounts,
    }))
}

/// Parses the accounts file's bytes. Never panics: the bytes are untrusted (the fuzz target
/// `accounts_file` checks that).
pub fn parse(bytes: &[u8]) -> std::result::Result<BTreeMap<AccountName, Account>, Problem> {
    let text = std::str::from_utf8(bytes).map_err(|_| Problem::NotUtf8)?;
    if text.trim().is_empty() {
        return Err(Problem::Empty);
    }
    let entries: Entries = serde_json::from_str(text)
        .map_err(|e| Problem::NotJson(crate::text::clean(&e.to_string(), 200)))?;
    let mut accounts = BTreeMap::new();
    let mut spelled: BTreeMap<AccountName, String> = BTreeMap::new();
    for (raw_name, value) in entries.0 {
        let name =
            AccountName::parse_str(&raw_name).map_err(|_| Problem::BadName(raw_name.clone()))?;
        if let Some(first) = spelled.get(&name) {
            return Err(Problem::Duplicate {
                name: raw_name,
                first: first.clone(),
            });
        }
        let account = parse_entry(&raw_name, value)?;
        spelled.insert(name.clone(), raw_name);
        accounts.insert(name, account);
    }
    Ok(accounts)
}

fn parse_entry(name: &str, value: Value) -> std::result::Result<Account, Problem> {
    let account = || name.to_string();
    let mut entry = Account {
        partition: String::new(),
        account_id: String::new(),
        region: None,
        mfa_serial: None,
        user: None,
        mfa_process: None,
        key_process: None,
        key_update_process: None,
        age_identity: None,
        sso: None,
        roles: BTreeMap::new(),
    };
    let arn = match value {
        Value::String(arn) => arn,
        Value::Object(fields) => {
            let mut arn = None;
            let mut sso = crate::sso::account::SsoFields::default();
            for (key, value) in fields {
                if key == "roles" {
                    entry.roles = parse_roles(value).map_err(|why| Problem::BadRoles {
                        account: account(),
                        why,
                    })?;
                    continue;
                }
                let Value::String(text) = value else {
                    return Err(Problem::FieldNotString {
                        account: account(),
                        field: key,
                        found: kind_of(&value),
                    });
                };
                let taken = sso.take(&key, &text).map_err(|why| Problem::BadSso {
                    account: account(),
                    why,
                })?;
                if taken {
                    continue;
                }
                match key.as_str() {
                    "arn" => arn = Some(text),
                    "region" if is_region_name(&text) => entry.region = Some(text),
                    "region" => {
                        return Err(Problem::BadRegion {
                            account: account(),
                            region: text,
                        });
                    }
                    "mfa_serial" if is_mfa_serial(&text) => {
                        entry.mfa_serial = Some(text);
                    }
                    "mfa_serial" => {
                        return Err(Problem::BadMfaSerial {
                            account: account(),
                            serial: text,
                        });
                    }
                    "user" if is_valid_user_name(&text) => entry.user = Some(text),
                    "user" => {
                        return Err(Problem::BadUser {
                            account: account(),
                            user: text,
                        });
                    }
                    "mfa_process"
                        if !text.trim().is_empty()
                            && text.len() <= 4096
                            && !text.contains(['\n', '\r', '\0']) =>
                    {
                        entry.mfa_process = Some(text);
                    }
                    "mfa_process" => return Err(Problem::BadMfaProcess { account: account() }),
                    field @ ("key_process" | "key_update_process" | "age_identity") => {
                        if text.trim().is_empty()
                            || text.len() > 4096
                            || text.contains(['\n', '\r', '\0'])
                        {
                            return Err(Problem::BadKeyField {
                                account: account(),
                                field: match field {
                                    "key_process" => "key_process",
                                    "key_update_process" => "key_update_process",
                                    _ => "age_identity",
                                },
                            });
                        }
                        let slot = match field {
                            "key_process" => &mut entry.key_process,
                            "key_update_process" => &mut entry.key_update_process,
                            _ => &mut entry.age_identity,
                        };
                        *slot = Some(text);
                    }
                    _ => {
                        return Err(Problem::UnknownField {
                            account: account(),
                            field: key,
                        });
                    }
                }
            }
            entry.sso = sso.finish().map_err(|why| Problem::BadSso {
                account: account(),
                why,
            })?;
            if let Some(sso) = &entry.sso {
                // Key files, MFA devices and IAM users do not exist for such an account.
                let foreign = [
                    ("mfa_serial", entry.mfa_serial.is_some()),
                    ("mfa_process", entry.mfa_process.is_some()),
                    ("user", entry.user.is_some()),
                ]
                .into_iter()
                .find_map(|(key, set)| set.then_some(key));
                if let Some(key) = foreign {
                    return Err(Problem::BadSso {
                        account: account(),
                        why: SsoFieldError::DoesNotApply { key },
                    });
                }
                let prefix = format!(
                    "arn:{}:iam::{}:",
                    crate::sso::provider::partition_of(&sso.session.region),
                    sso.account_id
                );
                match &arn {
                    Some(given) if *given != prefix => {
                        return Err(Problem::BadSso {
                            account: account(),
                            why: SsoFieldError::ArnNotPrefix {
                                arn: given.clone(),
                                account_id: sso.account_id.clone(),
                            },
                        });
                    }
                    _ => prefix,
                }
            } else {
                arn.ok_or_else(|| Problem::NoArn { account: account() })?
            }
        }
        other => {
            return Err(Problem::WrongType {
                account: account(),
                found: kind_of(&other),
            });
        }
    };
    let (partition, account_id) = parse_prefix(&arn).ok_or_else(|| Problem::BadPrefix {
        account: account(),
        arn: arn.clone(),
    })?;
    entry.partition = partition;
    entry.account_id = account_id;
    Ok(entry)
}

/// `arn:<partition>:iam::<12 digits>:` (an IAM ARN with an empty resource) → (partition,
/// account id). What was plainly meant is accepted too: the prefix without its trailing colon,
/// and the 12-digit account id alone (partition `aws`).
fn parse_prefix(arn: &str) -> Option<(String, String)> {
    if is_account_id(arn) {
        return Some(("aws".to_string(), arn.to_string()));
    }
    let with_colon;
    let arn = if arn.matches(':').count() == 4 {
        with_colon = format!("{arn}:");
        &with_colon
    } else {
        arn
    };
    Arn::parse_iam(arn)
        .filter(|arn| arn.resource.is_empty())
        .map(|arn| (arn.partition.to_string(), arn.account_id.to_string()))
}

/// `"roles"`: an object of role names to a role ARN or `{"arn", "external_id", "duration",
/// "session_name"}`.
fn parse_roles(value: Value) -> std::result::Result<BTreeMap<String, NamedRole>, RolesProblem> {
    let Value::Object(roles) = value else {
        return Err(RolesProblem::NotAnObject {
            found: kind_of(&value),
        });
    };
    let mut named = BTreeMap::new();
    for (name, value) in roles {
        // A name must not look like a path or an ARN: `--role ops/x` and `--role arn:…` keep
        // their meaning.
        if !is_aws_word(&name, 1..=64, "+=,.@-") {
            return Err(RolesProblem::BadName { role: name });
        }
        let mut role = NamedRole {
            arn: String::new(),
            external_id: None,
            duration: None,
            session_name: None,
        };
        match value {
            Value::String(arn) => role.arn = arn,
            Value::Object(fields) => {
                for (key, value) in fields {
                    let Value::String(text) = value else {
                        return Err(RolesProblem::FieldNotString {
                            role: name,
                            field: key,
                            found: kind_of(&value),
                        });
                    };
                    match key.as_str() {
                        "arn" => role.arn = text,
                        "external_id" if is_aws_word(&text, 2..=1224, "+=,.@:/-") => {
                            role.external_id = Some(crate::secret::Secret::new(&text));
                        }
                        "external_id" => return Err(RolesProblem::BadExternalId { role: name }),
                        "session_name" if is_aws_word(&text, 2..=64, "+=,.@-") => {
                            role.session_name = Some(text);
                        }
                        "session_name" => {
                            return Err(RolesProblem::BadSessionName {
                                role: name,
                                session_name: text,
                            });
                        }
                        // AssumeRole's range: 15m to 12h.
                        "duration" => match humantime::parse_duration(&text) {
                            Ok(d) if (900..=43_200).contains(&d.as_secs()) => {
                                role.duration = Some((text, d));
                            }
                            _ => {
                                return Err(RolesProblem::BadDuration {
                                    role: name,
                                    duration: text,
                                });
                            }
                        },
                        _ => {
                            return Err(RolesProblem::UnknownField {
                                role: name,
                                field: key,
                            });
                        }
                    }
                }
                if role.arn.is_empty() {
                    return Err(RolesProblem::NoArn { role: name });
                }
            }
            other => {
                return Err(RolesProblem::WrongType {
                    role: name,
                    found: kind_of(&other),
                });
            }
        }
        // The checks `--role ARN` gets, so every role accepted here can be assumed.
        let is_role_arn = role.arn.starts_with("arn:")
            && resolve_role(&role.arn, None, &AccountName(String::from("roles"))).is_ok();
        if !is_role_arn {
            return Err(RolesProblem::NotRoleArn {
                role: name,
                arn: role.arn,
            });
        }
        named.insert(name, role);
    }
    Ok(named)
}

fn is_partition(p: &str) -> bool {
    p == "aws"
        || p.strip_prefix("aws-").is_some_and(|rest| {
            rest.split('-')
                .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        })
}

/// An AWS account id: 12 digits. The one check for prefixes and role ARNs.
pub fn is_account_id(id: &str) -> bool {
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

/// An `mfa_serial` the accounts file accepts: STS takes 9–256 characters of [\w+=/:,.@-], a
/// device ARN or a hardware device's serial.
pub fn is_mfa_serial(serial: &str) -> bool {
    is_aws_word(serial, 9..=256, "+=/:,.@-")
}

/// IAM user names: 1–64 of [\w+=,.@-].
pub fn is_valid_user_name(user: &str) -> bool {
    is_aws_word(user, 1..=64, "+=,.@-")
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
        parse(text.as_bytes()).expect_err(text).to_string()
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
        assert!(dup.contains("twice") && dup.contains("WORK"), "{dup}");
        assert!(
            parse_err(r#"{"../x": "arn:aws:iam::012123456789:"}"#)
                .contains("invalid account name \"../x\"")
        );
        assert_eq!(parse(b"\xff\xfe").unwrap_err(), Problem::NotUtf8);
    }

    #[test]
    fn malformed_prefixes_name_the_account() {
        for bad in [
            "arn:aws:iam::01212345678:",   // 11 digits
            "arn:AWS:iam::012123456789:",  // partition shape
            "arn:aws-:iam::012123456789:", // partition shape
            "arn:aws:sts::012123456789:",  // not iam
            "arn:aws:iam:us-east-1:012123456789:",
            "arn:aws:iam::012123456789:user/jb",
            "01212345678",
            "0121234567890",
        ] {
            let err = parse_err(&format!(r#"{{"work": "{bad}"}}"#));
            assert!(
                err.contains("account \"work\"") && err.contains(bad),
                "{bad}: {err}"
            );
        }
    }

    /// Issue 19: what was plainly meant is accepted — the account id alone, the prefix
    /// without its trailing colon.
    #[test]
    fn a_bare_account_id_and_a_prefix_without_its_colon_are_accepted() {
        let accounts = parse_ok(
            r#"{"lab": "123456789012", "work": "arn:aws:iam::012123456789",
                "cn": {"arn": "arn:aws-cn:iam::111122223333"}, "id": {"arn": "210987654321"}}"#,
        );
        assert_eq!(
            accounts[&name("lab")].prefix(),
            "arn:aws:iam::123456789012:"
        );
        assert_eq!(
            accounts[&name("work")].prefix(),
            "arn:aws:iam::012123456789:"
        );
        assert_eq!(
            accounts[&name("cn")].prefix(),
            "arn:aws-cn:iam::111122223333:"
        );
        assert_eq!(accounts[&name("id")].prefix(), "arn:aws:iam::210987654321:");
    }

    #[test]
    fn named_roles_carry_their_arn_and_parameters() {
        let accounts = parse_ok(
            r#"{"work": {"arn": "arn:aws:iam::012123456789:", "roles": {
                  "admin": "arn:aws:iam::012123456789:role/admin",
                  "deploy": {"arn": "arn:aws:iam::999988887777:role/ci/deploy",
                             "external_id": "tenant-7", "duration": "2h", "session_name": "ci-run"}}}}"#,
        );
        let work = &accounts[&name("work")];
        assert_eq!(work.roles.len(), 2);
        let deploy = &work.roles["deploy"];
        assert_eq!(
            deploy
                .external_id
                .as_ref()
                .map(crate::secret::Secret::expose),
            Some("tenant-7")
        );
        assert_eq!(
            deploy
                .duration
                .as_ref()
                .map(|(t, d)| (t.as_str(), d.as_secs())),
            Some(("2h", 7200))
        );
        assert_eq!(deploy.session_name.as_deref(), Some("ci-run"));
        let role = resolve_role("deploy", Some(work), &name("work")).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::999988887777:role/ci/deploy");
        assert_eq!(
            (role.name.as_str(), role.account_id.as_str()),
            ("deploy", "999988887777")
        );
        let role = resolve_role("admin", Some(work), &name("work")).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::012123456789:role/admin");
        // Other names still build <prefix>role/NAME.
        let role = resolve_role("ops", Some(work), &name("work")).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::012123456789:role/ops");
        // The external id is not shown by Debug.
        assert!(!format!("{work:?}").contains("tenant-7"));

        let bad = |roles: &str| {
            parse_err(&format!(
                r#"{{"work": {{"arn": "arn:aws:iam::012123456789:", "roles": {roles}}}}}"#
            ))
        };
        for (roles, says) in [
            ("[]", "must be an object, not a list"),
            (
                r#"{"a/b": "arn:aws:iam::012123456789:role/x"}"#,
                "role name \"a/b\"",
            ),
            (
                r#"{"x": "arn:aws:iam::012123456789:user/x"}"#,
                "is not a role ARN",
            ),
            (
                r#"{"x": "arn:aws:iam::012123456789:role/a b"}"#,
                "is not a role ARN",
            ),
            (r#"{"x": "admin"}"#, "is not a role ARN"),
            (r#"{"x": 1}"#, "must be a role ARN or an object"),
            (r#"{"x": {"external_id": "abc"}}"#, "has no \"arn\""),
            (
                r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "duration": "13h"}}"#,
                "from 15m to 12h",
            ),
            (
                r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "session_name": "a b"}}"#,
                "session_name",
            ),
            (
                r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "extern_id": "a"}}"#,
                "unknown field \"extern_id\"",
            ),
        ] {
            let err = bad(roles);
            assert!(
                err.contains("account \"work\": \"roles\"") && err.contains(says),
                "{roles}: {err}"
            );
        }
    }

    #[test]
    fn roles_problems_are_typed_and_their_sentences_pinned() {
        let roles = |json: &str| parse_roles(serde_json::from_str(json).unwrap()).unwrap_err();
        let cases = [
            (
                roles("[]"),
                RolesProblem::NotAnObject { found: "a list" },
                "must be an object, not a list",
            ),
            (
                roles(r#"{"a/b": "arn:aws:iam::012123456789:role/x"}"#),
                RolesProblem::BadName { role: "a/b".into() },
                "has the role name \"a/b\"; use 1 to 64 letters, digits and +=,.@_-",
            ),
            (
                roles(r#"{"x": {"arn": 5}}"#),
                RolesProblem::FieldNotString {
                    role: "x".into(),
                    field: "arn".into(),
                    found: "a number",
                },
                "role \"x\": \"arn\" must be a string, not a number",
            ),
            (
                roles(r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "external_id": "a"}}"#),
                RolesProblem::BadExternalId { role: "x".into() },
                "role \"x\": external_id must be 2 to 1224 of letters, digits and +=,.@:/_-",
            ),
            (
                roles(
                    r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "session_name": "a b"}}"#,
                ),
                RolesProblem::BadSessionName {
                    role: "x".into(),
                    session_name: "a b".into(),
                },
                "role \"x\": session_name \"a b\" must be 2 to 64 of letters, digits and +=,.@_-",
            ),
            (
                roles(r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "duration": "13h"}}"#),
                RolesProblem::BadDuration {
                    role: "x".into(),
                    duration: "13h".into(),
                },
                "role \"x\": duration \"13h\" is not a duration from 15m to 12h like 90m or 2h",
            ),
            (
                roles(r#"{"x": {"arn": "arn:aws:iam::012123456789:role/x", "extern_id": "a"}}"#),
                RolesProblem::UnknownField {
                    role: "x".into(),
                    field: "extern_id".into(),
                },
                "role \"x\": unknown field \"extern_id\"; the fields are \"arn\", \"external_id\", \"duration\" and \"session_name\"",
            ),
            (
                roles(r#"{"x": {"external_id": "abc"}}"#),
                RolesProblem::NoArn { role: "x".into() },
                "role \"x\" has no \"arn\"",
            ),
            (
                roles(r#"{"x": 1}"#),
                RolesProblem::WrongType {
                    role: "x".into(),
                    found: "a number",
                },
                "role \"x\" must be a role ARN or an object with \"arn\", not a number",
            ),
            (
                roles(r#"{"x": "admin"}"#),
                RolesProblem::NotRoleArn {
                    role: "x".into(),
                    arn: "admin".into(),
                },
                "role \"x\": \"admin\" is not a role ARN like \"arn:aws:iam::012345678901:role/admin\"",
            ),
        ];
        for (found, expected, sentence) in cases {
            assert_eq!(found, expected);
            assert_eq!(found.to_string(), sentence);
        }
        // In the whole sentence, after the account and "roles".
        assert_eq!(
            parse_err(r#"{"work": {"arn": "arn:aws:iam::012123456789:", "roles": {"x": 1}}}"#),
            "account \"work\": \"roles\" role \"x\" must be a role ARN or an object with \"arn\", not a number; write e.g. \"roles\": {\"admin\": \"arn:aws:iam::012345678901:role/admin\", \"deploy\": {\"arn\": \"arn:aws:iam::012345678901:role/deploy\", \"external_id\": \"x\", \"duration\": \"2h\", \"session_name\": \"ci\"}}"
        );
    }

    #[test]
    fn sso_problems_follow_the_account() {
        assert_eq!(
            parse_err(
                r#"{"work": {"sso_start_url": "https://my-org.awsapps.com/start", "sso_region": "eu-west-1", "sso_account_id": "111122223333", "sso_role_name": "ReadOnly", "user": "jb"}}"#
            ),
            "account \"work\": user does not apply to an IAM Identity Center entry (its credentials come from sso_role_name)"
        );
        assert_eq!(
            parse_err(r#"{"work": {"sso_region": "EU WEST"}}"#),
            "account \"work\": sso_region \"EU WEST\" is not a region name like eu-west-1"
        );
    }

    #[test]
    fn roles_resolve_from_names_and_arns() {
        let accounts = parse_ok(r#"{"work": "arn:aws:iam::012123456789:"}"#);
        let work = accounts.get(&name("work"));
        let role = resolve_role("admin", work, &name("work")).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::012123456789:role/admin");
        assert_eq!(
            (role.name.as_str(), role.account_id.as_str()),
            ("admin", "012123456789")
        );
        let role = resolve_role("ops/deploy", work, &name("work")).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::012123456789:role/ops/deploy");
        assert_eq!(role.name, "deploy");
        let role = resolve_role("arn:aws:iam::999988887777:role/x", None, &name("work")).unwrap();
        assert_eq!(role.arn, "arn:aws:iam::999988887777:role/x");
        assert_eq!(role.account_id, "999988887777");
        for bad in [
            "",
            "a b",
            "../x/",
            "arn:aws:iam::1:role/x",
            "arn:aws:s3:::bucket",
        ] {
            assert!(resolve_role(bad, work, &name("work")).is_err(), "{bad}");
        }
        let err = resolve_role("admin", None, &name("work"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("no ARN prefix"), "{err}");
    }

    #[test]
    fn arns_split_in_one_place() {
        let arn = Arn::parse("arn:aws:iam::012123456789:role/ops/x:y").unwrap();
        assert_eq!((arn.partition, arn.service, arn.region), ("aws", "iam", ""));
        assert_eq!(
            (arn.account_id, arn.resource),
            ("012123456789", "role/ops/x:y")
        );
        assert!(Arn::parse("arn:aws:iam::012123456789").is_none());
        assert!(Arn::parse("urn:aws:iam::012123456789:").is_none());
        assert!(Arn::parse_iam("arn:aws:sts::012123456789:x").is_none());
        assert!(Arn::parse_iam("arn:aws:iam:eu-west-1:012123456789:x").is_none());
        assert!(Arn::parse_iam("arn:aws-cn:iam::012123456789:").is_some());
    }

    #[test]
    fn unknown_accounts_suggest_the_closest() {
        let known = vec![name("work"), name("personal")];
        let err = |n: &str, known: &[AccountName]| {
            AccountsError::Unknown {
                name: name(n),
                known: known.to_vec(),
                creds_dir: PathBuf::from("/h/aws-creds"),
            }
            .to_string()
        };
        assert_eq!(
            err("wrok", &known),
            "unknown account wrok: no wrok.access_key in /h/aws-creds and no entry in the accounts file; did you mean work?"
        );
        assert_eq!(
            err("zzz", &known),
            "unknown account zzz: no zzz.access_key in /h/aws-creds and no entry in the accounts file; known accounts: work, personal"
        );
        assert_eq!(
            err("zzz", &[]),
            "unknown account zzz: no zzz.access_key in /h/aws-creds and no entry in the accounts file; add its keys (<account>.access_key, <account>.secret_key) there first"
        );
    }

    #[test]
    fn mfa_process_is_a_one_line_command() {
        let accounts = parse_ok(
            r#"{"work": {"arn": "arn:aws:iam::012123456789:", "mfa_process": "ykman oath accounts code --single work"}}"#,
        );
        assert_eq!(
            accounts[&name("work")].mfa_process.as_deref(),
            Some("ykman oath accounts code --single work")
        );
        assert!(
            parse_err(r#"{"work": {"arn": "arn:aws:iam::012123456789:", "mfa_process": "a\nb"}}"#)
                .contains("mfa_process must be")
        );
    }

    #[test]
    fn key_store_fields_are_one_line_each() {
        let accounts = parse_ok(
            r#"{"work": {"arn": "arn:aws:iam::012123456789:", "key_process": "pass show aws/work", "key_update_process": "pass insert -m -f aws/work", "age_identity": "~/.config/age/key.txt"}}"#,
        );
        let work = &accounts[&name("work")];
        assert_eq!(work.key_process.as_deref(), Some("pass show aws/work"));
        assert_eq!(
            work.key_update_process.as_deref(),
            Some("pass insert -m -f aws/work")
        );
        assert_eq!(work.age_identity.as_deref(), Some("~/.config/age/key.txt"));
        assert_eq!(
            parse_err(r#"{"work": {"arn": "arn:aws:iam::012123456789:", "key_process": " "}}"#),
            parse_err(r#"{"work": {"arn": "arn:aws:iam::012123456789:", "key_process": "a\nb"}}"#)
        );
        assert!(
            parse_err(r#"{"work": {"arn": "arn:aws:iam::012123456789:", "age_identity": ""}}"#)
                .contains("age_identity must be a non-empty list of identity files")
        );
    }
}
