//! An accounts-file entry's IAM Identity Center keys (`sso_start_url`, `sso_region`,
//! `sso_account_id`, `sso_role_name`, optional `sso_session`), checked as the accounts file is
//! read: all four or none; each value in the shape the services accept.
#![forbid(unsafe_code)]

use super::SsoSession;
use crate::text::clean;
use std::fmt;

/// An account whose credentials come from IAM Identity Center.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoAccount {
    pub session: SsoSession,
    pub account_id: String,
    pub role_name: String,
}

/// The keys as they are read, one by one.
#[derive(Debug, Default)]
pub struct SsoFields {
    start_url: Option<String>,
    region: Option<String>,
    account_id: Option<String>,
    role_name: Option<String>,
    session: Option<String>,
}

fn is_word(text: &str, max: usize, punctuation: &str) -> bool {
    (1..=max).contains(&text.len())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || punctuation.contains(c))
}

/// One of the keys [`SsoFields`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SsoKey {
    StartUrl,
    Region,
    AccountId,
    RoleName,
    Session,
}

impl SsoKey {
    /// The key in `key`'s place, if it is one of the `sso_*` keys.
    fn of(key: &str) -> Option<SsoKey> {
        Some(match key {
            "sso_start_url" => SsoKey::StartUrl,
            "sso_region" => SsoKey::Region,
            "sso_account_id" => SsoKey::AccountId,
            "sso_role_name" => SsoKey::RoleName,
            "sso_session" => SsoKey::Session,
            _ => return None,
        })
    }

    /// The key as the accounts file spells it.
    pub fn name(self) -> &'static str {
        match self {
            SsoKey::StartUrl => "sso_start_url",
            SsoKey::Region => "sso_region",
            SsoKey::AccountId => "sso_account_id",
            SsoKey::RoleName => "sso_role_name",
            SsoKey::Session => "sso_session",
        }
    }

    /// What a value of the key must be, as the message says it.
    fn shape(self) -> &'static str {
        match self {
            SsoKey::StartUrl => "a start URL (https://<name>.awsapps.com/start)",
            SsoKey::Region => "a region name like eu-west-1",
            SsoKey::AccountId => "a 12-digit account id",
            SsoKey::RoleName => "a role name (1 to 64 of letters, digits and +=,.@_-)",
            SsoKey::Session => "a session name (letters, digits and +=,.@_-)",
        }
    }

    /// Whether `value` has the shape the service accepts for this key.
    fn accepts(self, value: &str) -> bool {
        match self {
            SsoKey::StartUrl => {
                (value.starts_with("https://") || value.starts_with("http://"))
                    && value.len() <= 1024
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            SsoKey::Region => {
                (1..=32).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            }
            SsoKey::AccountId => value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()),
            SsoKey::RoleName => is_word(value, 64, "+=,.@-"),
            SsoKey::Session => is_word(value, 128, "+=,.@-"),
        }
    }
}

/// What is wrong with an accounts-file entry's IAM Identity Center keys. `Display` is the
/// rest of the sentence that `accounts::Problem::BadSso` starts with `account "work": `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoFieldError {
    /// A value not of its key's shape, as the file has it (cleaned when shown).
    BadValue { key: SsoKey, value: String },
    /// Some of the four keys are missing: these, in the order the message lists the keys.
    Missing(Vec<&'static str>),
    /// A key that an IAM Identity Center entry cannot have (`mfa_serial`, `mfa_process`,
    /// `user`: its credentials come from the role).
    DoesNotApply { key: &'static str },
    /// `arn` was given and is not the prefix that `sso_account_id` makes.
    ArnNotPrefix { arn: String, account_id: String },
}

impl fmt::Display for SsoFieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SsoFieldError::BadValue { key, value } => write!(
                f,
                "{} {:?} is not {}",
                key.name(),
                clean(value, 64),
                key.shape()
            ),
            SsoFieldError::Missing(keys) => write!(
                f,
                "an IAM Identity Center entry needs sso_start_url, sso_region, sso_account_id and sso_role_name; {} missing",
                keys.join(", ")
            ),
            SsoFieldError::DoesNotApply { key } => write!(
                f,
                "{key} does not apply to an IAM Identity Center entry (its credentials come from sso_role_name)"
            ),
            SsoFieldError::ArnNotPrefix { arn, account_id } => write!(
                f,
                "arn {:?} is not the prefix of sso_account_id {account_id}; leave arn out",
                clean(arn, 64)
            ),
        }
    }
}

impl SsoFields {
    /// Takes `key = value` when `key` is one of the `sso_*` keys: `Ok(false)` for other keys, `Err`
    /// when the value is not of the key's shape.
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool, SsoFieldError> {
        let Some(key) = SsoKey::of(key) else {
            return Ok(false);
        };
        if !key.accepts(value) {
            return Err(SsoFieldError::BadValue {
                key,
                value: value.to_string(),
            });
        }
        let slot = match key {
            SsoKey::StartUrl => &mut self.start_url,
            SsoKey::Region => &mut self.region,
            SsoKey::AccountId => &mut self.account_id,
            SsoKey::RoleName => &mut self.role_name,
            SsoKey::Session => &mut self.session,
        };
        *slot = Some(value.to_string());
        Ok(true)
    }

    /// The account when all four keys were given, `None` when none were; `Err` names the
    /// missing ones.
    pub fn finish(self) -> Result<Option<SsoAccount>, SsoFieldError> {
        match (self.start_url, self.region, self.account_id, self.role_name) {
            (Some(start_url), Some(region), Some(account_id), Some(role_name)) => {
                Ok(Some(SsoAccount {
                    session: SsoSession {
                        start_url,
                        region,
                        name: self.session,
                    },
                    account_id,
                    role_name,
                }))
            }
            (None, None, None, None) if self.session.is_none() => Ok(None),
            (start_url, region, account_id, role_name) => Err(SsoFieldError::Missing(
                [
                    (SsoKey::StartUrl, start_url.is_none()),
                    (SsoKey::Region, region.is_none()),
                    (SsoKey::AccountId, account_id.is_none()),
                    (SsoKey::RoleName, role_name.is_none()),
                ]
                .into_iter()
                .filter_map(|(key, missing)| missing.then_some(key.name()))
                .collect(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Result<Option<SsoAccount>, SsoFieldError> {
        let mut fields = SsoFields::default();
        for (k, v) in pairs {
            assert!(fields.take(k, v)?, "{k}");
        }
        fields.finish()
    }

    #[test]
    fn all_four_or_none() {
        let full = [
            ("sso_start_url", "https://my-org.awsapps.com/start"),
            ("sso_region", "eu-west-1"),
            ("sso_account_id", "111122223333"),
            ("sso_role_name", "ReadOnly"),
        ];
        let account = fields(&full).unwrap().unwrap();
        assert_eq!(account.session.name, None);
        assert_eq!(account.role_name, "ReadOnly");
        let mut named = full.to_vec();
        named.push(("sso_session", "my-sso"));
        assert_eq!(
            fields(&named).unwrap().unwrap().session.name.as_deref(),
            Some("my-sso")
        );
        assert_eq!(fields(&[]).unwrap(), None);
        let missing = fields(&full[..2]).unwrap_err();
        assert_eq!(
            missing,
            SsoFieldError::Missing(vec!["sso_account_id", "sso_role_name"])
        );
        assert_eq!(
            missing.to_string(),
            "an IAM Identity Center entry needs sso_start_url, sso_region, sso_account_id and sso_role_name; sso_account_id, sso_role_name missing"
        );
        assert!(fields(&[("sso_session", "x")]).is_err());
    }

    #[test]
    fn values_are_checked() {
        let mut f = SsoFields::default();
        assert!(f.take("sso_account_id", "1234").is_err());
        assert!(f.take("sso_start_url", "ftp://x").is_err());
        assert!(f.take("sso_region", "EU WEST").is_err());
        assert!(f.take("sso_role_name", "a/b").is_err());
        assert!(f.take("sso_session", "").is_err());
        assert_eq!(f.take("region", "eu-west-1"), Ok(false));
    }

    #[test]
    fn each_error_is_its_sentence() {
        let mut f = SsoFields::default();
        let bad = f.take("sso_account_id", "12\u{7}34").unwrap_err();
        assert_eq!(
            bad,
            SsoFieldError::BadValue {
                key: SsoKey::AccountId,
                value: "12\u{7}34".into()
            }
        );
        assert_eq!(
            bad.to_string(),
            "sso_account_id \"1234\" is not a 12-digit account id"
        );
        assert_eq!(
            f.take("sso_start_url", "ftp://x").unwrap_err().to_string(),
            "sso_start_url \"ftp://x\" is not a start URL (https://<name>.awsapps.com/start)"
        );
        assert_eq!(
            f.take("sso_session", "").unwrap_err().to_string(),
            "sso_session \"\" is not a session name (letters, digits and +=,.@_-)"
        );
        assert_eq!(
            SsoFieldError::DoesNotApply { key: "mfa_serial" }.to_string(),
            "mfa_serial does not apply to an IAM Identity Center entry (its credentials come from sso_role_name)"
        );
        assert_eq!(
            SsoFieldError::ArnNotPrefix {
                arn: "arn:aws:iam::999988887777:".into(),
                account_id: "111122223333".into()
            }
            .to_string(),
            "arn \"arn:aws:iam::999988887777:\" is not the prefix of sso_account_id 111122223333; leave arn out"
        );
    }
}
