//! `--add`'s MFA device (DESIGN §13): what IAM's ListMFADevices said about the user's devices,
//! and what a new accounts-file entry gets from it — `mfa_serial` only when IAM lists exactly
//! one device under another name than `<prefix>mfa/<user>` — with the one line that says so.
#![forbid(unsafe_code)]

use crate::accounts::AccountName;
use crate::iam::IamFailure;
use crate::keys::add::Caller;
use std::fmt;
use std::path::Path;

/// What ListMFADevices said about the caller's MFA devices, or why it could not be asked.
#[derive(Debug)]
pub(super) enum MfaDevices {
    /// The devices' serials (ARNs), as IAM listed them.
    Listed(Vec<String>),
    /// The call failed (`--add` goes on without it).
    NotListed {
        endpoint: String,
        failure: IamFailure,
    },
}

/// The decision for a new entry, pure; its `Display` is the line for the terminal.
pub(super) struct MfaChoice<'a> {
    devices: &'a MfaDevices,
    account: &'a AccountName,
    user: &'a str,
    /// `<prefix>mfa/<user>`: the device `--mfa` uses when the entry names none.
    default: String,
    /// The accounts file that holds, or should hold, the entry.
    file: &'a Path,
}

impl<'a> MfaChoice<'a> {
    pub(super) fn new(
        account: &'a AccountName,
        caller: &'a Caller,
        devices: &'a MfaDevices,
        file: &'a Path,
    ) -> MfaChoice<'a> {
        let user = caller.user.as_deref().unwrap_or_default();
        MfaChoice {
            devices,
            account,
            user,
            default: format!("{}mfa/{user}", caller.prefix),
            file,
        }
    }

    /// The `mfa_serial` to write: the one device IAM listed, when it is not the default name.
    pub(super) fn mfa_serial(&self) -> Option<&'a str> {
        match self.devices {
            MfaDevices::Listed(serials) => match serials.as_slice() {
                [one] if *one != self.default => Some(one.as_str()),
                _ => None,
            },
            MfaDevices::NotListed { .. } => None,
        }
    }

    /// The line is a warning (IAM could not be asked), not a status line.
    pub(super) fn is_warning(&self) -> bool {
        matches!(self.devices, MfaDevices::NotListed { .. })
    }
}

impl fmt::Display for MfaChoice<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let MfaChoice {
            account,
            user,
            default,
            ..
        } = self;
        let file = self.file.display();
        match self.devices {
            MfaDevices::Listed(serials) => match serials.as_slice() {
                [] => write!(
                    f,
                    "User {user} has no MFA device, so --mfa needs one assigned to the user first (IAM console, Security credentials); if its ARN is not {default}, add \"mfa_serial\": \"<its ARN>\" to account {account} in {file}"
                ),
                [one] if one == default => write!(
                    f,
                    "--mfa will use user {user}'s MFA device {one} (the default name, so account {account} needs no \"mfa_serial\")"
                ),
                [one] => write!(
                    f,
                    "--mfa will use user {user}'s MFA device {one}, set as \"mfa_serial\" of account {account} in {file} since it is not the default name {default}"
                ),
                several => write!(
                    f,
                    "User {user} has {} MFA devices ({}); add \"mfa_serial\": \"<the ARN of the one --mfa should use>\" to account {account} in {file}",
                    several.len(),
                    several.join(", ")
                ),
            },
            MfaDevices::NotListed { endpoint, failure } => write!(
                f,
                "IAM at {endpoint} {}, so user {user}'s MFA device is unknown (--add goes on without it); if it is not {default}, add \"mfa_serial\": \"<the device's ARN>\" to account {account} in {file}",
                failure.describe("ListMFADevices")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mfa_device_is_written_only_when_one_is_listed_under_another_name() {
        let work = AccountName::parse_str("work").unwrap();
        let caller = Caller {
            prefix: "arn:aws:iam::123456789012:".into(),
            user: Some("jb".into()),
        };
        let file = Path::new("/h/.aws/accounts.json");
        let listed = |serials: &[&str]| {
            MfaDevices::Listed(serials.iter().map(|s| (*s).to_string()).collect())
        };
        let default = "arn:aws:iam::123456789012:mfa/jb";
        let phone = "arn:aws:iam::123456789012:mfa/phone";

        let devices = listed(&[phone]);
        let one_other = MfaChoice::new(&work, &caller, &devices, file);
        assert_eq!(one_other.mfa_serial(), Some(phone));
        assert!(!one_other.is_warning());
        assert_eq!(
            one_other.to_string(),
            format!(
                "--mfa will use user jb's MFA device {phone}, set as \"mfa_serial\" of account work in /h/.aws/accounts.json since it is not the default name {default}"
            )
        );

        let devices = listed(&[default]);
        let one_default = MfaChoice::new(&work, &caller, &devices, file);
        assert_eq!(one_default.mfa_serial(), None);
        assert_eq!(
            one_default.to_string(),
            format!(
                "--mfa will use user jb's MFA device {default} (the default name, so account work needs no \"mfa_serial\")"
            )
        );

        let devices = listed(&[default, phone]);
        let several = MfaChoice::new(&work, &caller, &devices, file);
        assert_eq!(several.mfa_serial(), None);
        assert_eq!(
            several.to_string(),
            format!(
                "User jb has 2 MFA devices ({default}, {phone}); add \"mfa_serial\": \"<the ARN of the one --mfa should use>\" to account work in /h/.aws/accounts.json"
            )
        );

        let devices = listed(&[]);
        let none = MfaChoice::new(&work, &caller, &devices, file).to_string();
        assert!(
            none.starts_with("User jb has no MFA device, so --mfa needs one assigned"),
            "{none}"
        );
        assert!(
            none.contains(&format!("if its ARN is not {default}, add \"mfa_serial\"")),
            "{none}"
        );

        let devices = MfaDevices::NotListed {
            endpoint: "https://iam.amazonaws.com".into(),
            failure: IamFailure::Denied {
                message: "not authorized".into(),
            },
        };
        let denied = MfaChoice::new(&work, &caller, &devices, file);
        assert_eq!(denied.mfa_serial(), None);
        assert!(denied.is_warning());
        assert_eq!(
            denied.to_string(),
            format!(
                "IAM at https://iam.amazonaws.com refused ListMFADevices (AccessDenied: not authorized), so user jb's MFA device is unknown (--add goes on without it); if it is not {default}, add \"mfa_serial\": \"<the device's ARN>\" to account work in /h/.aws/accounts.json"
            )
        );
    }
}
