//! An accounts-file entry's IAM Identity Center keys (`sso_start_url`, `sso_region`,
//! `sso_account_id`, `sso_role_name`, optional `sso_session`), checked as the accounts file is
//! read: all four or none; each value in the shape the services accept.
#![forbid(unsafe_code)]

use super::SsoSession;
use crate::text::clean;

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

impl SsoFields {
    /// Takes `key = value` when `key` is one of the `sso_*` keys: `Ok(false)` for other keys, `Err`
    /// with the reason when the value is not of the key's shape.
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let bad = |what: &str| Err(format!("{key} {:?} is not {what}", clean(value, 64)));
        match key {
            "sso_start_url" => {
                let ok = (value.starts_with("https://") || value.starts_with("http://"))
                    && value.len() <= 1024
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control());
                if !ok {
                    return bad("a start URL (https://<name>.awsapps.com/start)");
                }
                self.start_url = Some(value.to_string());
            }
            "sso_region" => {
                let ok = (1..=32).contains(&value.len())
                    && value
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return bad("a region name like eu-west-1");
                }
                self.region = Some(value.to_string());
            }
            "sso_account_id" => {
                if value.len() != 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
                    return bad("a 12-digit account id");
                }
                self.account_id = Some(value.to_string());
            }
            "sso_role_name" => {
                if !is_word(value, 64, "+=,.@-") {
                    return bad("a role name (1 to 64 of letters, digits and +=,.@_-)");
                }
                self.role_name = Some(value.to_string());
            }
            "sso_session" => {
                if !is_word(value, 128, "+=,.@-") {
                    return bad("a session name (letters, digits and +=,.@_-)");
                }
                self.session = Some(value.to_string());
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The account when all four keys were given, `None` when none were; `Err` names the
    /// missing ones.
    pub fn finish(self) -> Result<Option<SsoAccount>, String> {
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
            (start_url, region, account_id, role_name) => {
                let missing: Vec<&str> = [
                    ("sso_start_url", start_url.is_none()),
                    ("sso_region", region.is_none()),
                    ("sso_account_id", account_id.is_none()),
                    ("sso_role_name", role_name.is_none()),
                ]
                .into_iter()
                .filter_map(|(key, missing)| missing.then_some(key))
                .collect();
                Err(format!(
                    "an IAM Identity Center entry needs sso_start_url, sso_region, sso_account_id and sso_role_name; {} missing",
                    missing.join(", ")
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Result<Option<SsoAccount>, String> {
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
        assert_eq!(
            fields(&full[..2]).unwrap_err(),
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
}
