//! `stsexec ACCOUNT --add` (DESIGN §13), under the account's lock, in an order that leaves one
//! working copy of the key at every step (a crash anywhere is safe):
//! 1. the pair: `--from-profile`, else the account's plain files, else typed on the terminal;
//! 2. proven with GetCallerIdentity (`--offline` skips), which also fills a missing
//!    accounts-file entry (ARN prefix and IAM user, and the MFA device from IAM's
//!    ListMFADevices, asked with the same key before the entry is written, once);
//! 3. the new store written (atomically) and read back (age: decrypted and compared);
//! 4. the id file written (when it is new or differs);
//! 5. only then the plain secret file overwritten, fsynced and unlinked.
//!
//! Between 3 and 5 the account has two stores: the next run refuses, naming both, and both
//! hold the working key; running `--add` again finishes the conversion.
#![forbid(unsafe_code)]

use super::mfa_device::{MfaChoice, MfaDevices};
use super::{Outcome, Places};
use crate::accounts;
use crate::aws::Outbound;
use crate::cache::{AccountState, Waiting};
use crate::cli::StoreChoice;
use crate::env::{self, Environment};
use crate::error::Result;
use crate::files::{self, Kind};
use crate::iam::{self, LazyIam};
use crate::invocation::AddAsk;
use crate::keys::add::{self, AddError, Caller};
use crate::keys::age_file::{self, AgeFile, Lock};
use crate::keys::passphrase::Prompt;
use crate::report::Reporter;
use crate::secret::mask_key_id;
use crate::session::Credentials;
use crate::sts::{self, KeyOrigin, LazySts, Signer, StsError};
use std::path::PathBuf;

pub(super) fn add(
    ask: &AddAsk,
    places: &Places,
    current: &Environment,
    report: Reporter,
) -> Result<Outcome> {
    let account = &ask.account;
    let creds_dir = places.creds_dir;
    if creds_dir.path.symlink_metadata().is_err() {
        files::create_directory(&creds_dir.path)?;
        report.status(format!(
            "Created the credentials directory {}",
            creds_dir.path.display()
        ));
    }
    creds_dir.check(places.home)?;
    let accounts_file = accounts::find_and_load(places.config, &creds_dir.path)?;
    let entry = accounts_file
        .as_ref()
        .and_then(|f| f.accounts.get(account))
        .cloned();
    if entry.as_ref().is_some_and(|e| e.key_process.is_some()) {
        return Err(AddError::KeyProcess {
            account: account.clone(),
        }
        .into());
    }
    let lock = AccountState::new(&creds_dir.path, account).lock(Waiting::ToFinish, report)?;
    lock.set_activity("setting up the account's key (--add)");

    let access_path = creds_dir.file(account, "access_key");
    let plain_path = creds_dir.file(account, "secret_key");
    let age_path = creds_dir.file(account, "secret_key.age");
    let plain_exists = plain_path.symlink_metadata().is_ok();

    // 1. The pair.
    let (pair, from) = if let Some(profile) = &ask.from_profile {
        let path = shared_credentials_file(current, places.home);
        let pair = add::from_profile(&path, profile)?;
        let from = KeyOrigin::Profile {
            profile: profile.clone(),
            file: path,
        };
        (pair, from)
    } else if plain_exists {
        let secret = crate::keys::read_word(&plain_path, Kind::SecretKey)?.ok_or_else(|| {
            AddError::NoSource {
                account: account.clone(),
            }
        })?;
        let pair = Credentials {
            access_key_id: read_id(&access_path)?,
            secret_access_key: crate::secret::Secret::new(secret.as_str()),
            session_token: None,
            expiration: None,
        };
        (pair, KeyOrigin::File(plain_path.clone()))
    } else if age_path.symlink_metadata().is_ok() {
        if ask.store == StoreChoice::Age {
            report.status(format!(
                "The key of account {account} is already kept in {}; nothing to do",
                age_path.display()
            ));
            return Ok(Outcome::Exit(0));
        }
        // Back to the plain file (--store plain): decrypted as any run would.
        let identities = age_identities(entry.as_ref(), current, places);
        let mut prompt = Prompt::new(account.as_str(), &ask.knobs.mfa);
        let secret = AgeFile::new(account.as_str(), age_path.clone())
            .decrypt(&identities, &mut prompt)
            .map_err(AddError::Age)?;
        let id = read_id(&access_path)?;
        let pair = Credentials {
            access_key_id: id,
            secret_access_key: secret,
            session_token: None,
            expiration: None,
        };
        (pair, KeyOrigin::File(age_path.clone()))
    } else {
        let pair = add::from_terminal(account, ask.knobs.mfa.prompt_timeout)?;
        (pair, KeyOrigin::Terminal)
    };
    report.debug(format!(
        "account {account}: --add takes key {} from {from}",
        mask_key_id(&pair.access_key_id)
    ));

    // 2. The proof, and a missing accounts-file entry.
    if ask.offline {
        report.status(format!(
            "Not proving key {} with STS (--offline)",
            mask_key_id(&pair.access_key_id)
        ));
    } else {
        let region = env::resolve_region(
            None,
            entry.as_ref().and_then(|e| e.region.as_deref()),
            current,
        );
        let partition = entry.as_ref().map(|e| e.partition.as_str());
        let endpoint = sts::endpoint(current, &region.name, partition);
        let shown = endpoint.shown.clone();
        let outbound = Outbound::new(ask.knobs.sts_timeout, Some(report), current);
        let mut sts = LazySts::new(&region.name, endpoint, outbound);
        let arn = sts.caller_arn(&pair).map_err(|failure| {
            Box::new(StsError {
                operation: "GetCallerIdentity",
                account: account.to_string(),
                role_arn: None,
                mfa_serial: None,
                endpoint: shown.clone(),
                signer: Signer::AddedKey(from),
                failure,
            })
        })?;
        let caller = Caller::from_arn(&arn)
            .filter(|c| c.user.is_some())
            .ok_or_else(|| AddError::NotAUser {
                account: account.clone(),
                key_id: pair.access_key_id.clone(),
                arn: arn.clone(),
            })?;
        report.status(format!(
            "Key {} of account {account} works: it belongs to {arn}",
            mask_key_id(&pair.access_key_id)
        ));
        if entry.is_none() {
            // Asked now, before anything is written, so the entry is written once.
            let devices = mfa_devices(current, &sts, &pair, &caller, report);
            fill_entry(
                accounts_file.as_ref(),
                places,
                account,
                &caller,
                &devices,
                report,
            )?;
        }
    }

    // 3–5. The store, the id, the plain secret.
    match ask.store {
        StoreChoice::Age => {
            let identities = age_identities(entry.as_ref(), current, places);
            let (lock_with, how) = if identities.is_empty() {
                let passphrase = Prompt::new(account.as_str(), &ask.knobs.mfa)
                    .ask_new()
                    .map_err(AddError::Passphrase)?;
                (Lock::Passphrase(passphrase), "a passphrase".to_string())
            } else {
                let names = identities
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    Lock::Identities(identities),
                    format!("the recipients of {names}"),
                )
            };
            lock.set_activity("writing the account's encrypted key (--add)");
            AgeFile::new(account.as_str(), age_path.clone())
                .write(&pair.secret_access_key, &lock_with)
                .map_err(AddError::Age)?;
            write_id(&access_path, &pair)?;
            let removed = plain_exists && plain_path.symlink_metadata().is_ok();
            if removed {
                add::remove_plain_secret(&plain_path)?;
            }
            report.status(format!(
                "Stored the key {} of account {account} in {}, encrypted to {how}{}",
                mask_key_id(&pair.access_key_id),
                age_path.display(),
                if removed {
                    format!(
                        "; removed the plain {} (overwritten first, but copies can survive on journaling or copy-on-write file systems and SSDs: run stsexec {account} --rotate to make the old key worthless)",
                        plain_path.display()
                    )
                } else {
                    String::new()
                }
            ));
        }
        StoreChoice::Plain => {
            files::write_atomically(
                &plain_path,
                Kind::SecretKey,
                zeroize::Zeroizing::new(format!("{}\n", pair.secret_access_key.expose()))
                    .as_bytes(),
            )
            .map_err(AddError::File)?;
            write_id(&access_path, &pair)?;
            // The encrypted copy goes once the plain one is in place: two stores are refused.
            files::remove(&age_path, Kind::AgeFile).map_err(AddError::File)?;
            report.status(format!(
                "Stored the key {} of account {account} in {} (plain: readable by any program you run; stsexec {account} --add encrypts it)",
                mask_key_id(&pair.access_key_id),
                plain_path.display()
            ));
        }
    }
    drop(lock);
    Ok(Outcome::Exit(0))
}

/// `<account>.access_key`'s id.
fn read_id(path: &std::path::Path) -> Result<String> {
    let bytes = files::read(path, Kind::AccessKey)
        .map_err(AddError::File)?
        .unwrap_or_default();
    let id = String::from_utf8_lossy(&bytes).trim().to_string();
    if crate::secret::is_access_key_id(&id) {
        Ok(id)
    } else {
        Err(crate::keys::KeysError::NotAKeyId(path.to_path_buf()).into())
    }
}

/// `<account>.access_key`, written when missing or naming another key.
fn write_id(path: &std::path::Path, pair: &Credentials) -> Result<()> {
    let current = files::read(path, Kind::AccessKey).map_err(AddError::File)?;
    let same = current
        .as_ref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .is_some_and(|t| t.trim() == pair.access_key_id);
    if !same {
        files::write_atomically(
            path,
            Kind::AccessKey,
            format!("{}\n", pair.access_key_id).as_bytes(),
        )
        .map_err(AddError::File)?;
    }
    Ok(())
}

/// The account's `age_identity`, else `STSEXEC_AGE_IDENTITY`.
fn age_identities(
    entry: Option<&accounts::Account>,
    current: &Environment,
    places: &Places,
) -> Vec<PathBuf> {
    entry
        .and_then(|e| e.age_identity.as_deref())
        .or_else(|| current.get("STSEXEC_AGE_IDENTITY"))
        .map(|value| age_file::identity_paths(value, places.home))
        .unwrap_or_default()
}

/// `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`.
fn shared_credentials_file(current: &Environment, home: Option<&std::path::Path>) -> PathBuf {
    current
        .get("AWS_SHARED_CREDENTIALS_FILE")
        .map(PathBuf::from)
        .or_else(|| home.map(|h| h.join(".aws/credentials")))
        .unwrap_or_else(|| PathBuf::from(".aws/credentials"))
}

/// The caller's MFA devices, from IAM's ListMFADevices signed with the key being added,
/// through the run's outbound layer (STS's runtime and time bound); a failure is an answer
/// too: `--add` never fails because of it.
fn mfa_devices(
    current: &Environment,
    sts: &LazySts,
    pair: &Credentials,
    caller: &Caller,
    report: Reporter,
) -> MfaDevices {
    let user = caller.user.as_deref().unwrap_or_default();
    let (endpoint, region) = iam::endpoint(current, caller.partition());
    let shown = endpoint.shown.clone();
    let mut iam = LazyIam::new(endpoint, region, sts.outbound().clone());
    report.debug(format!(
        "asking IAM at {shown} for user {user}'s MFA devices (ListMFADevices), signed with key {}",
        mask_key_id(&pair.access_key_id)
    ));
    match iam.list_mfa_devices(pair, user) {
        Ok(serials) => MfaDevices::Listed(serials),
        Err(failure) => MfaDevices::NotListed {
            endpoint: shown,
            failure,
        },
    }
}

/// Adds the account to the accounts file in use when that is the user's own (`--config` or
/// `<creds-dir>/accounts.json`), or creates `<creds-dir>/accounts.json`; a system-wide file is
/// left alone, with the entry to add said. Either way one line says which MFA device `--mfa`
/// will use, or how to add `mfa_serial`.
fn fill_entry(
    file: Option<&accounts::AccountsFile>,
    places: &Places,
    account: &crate::accounts::AccountName,
    caller: &Caller,
    devices: &MfaDevices,
    report: Reporter,
) -> Result<()> {
    let own = places.creds_dir.path.join("accounts.json");
    let target = match file {
        None => Some(own),
        Some(f) if places.config.is_some() || f.path == own => Some(f.path.clone()),
        Some(_) => None,
    };
    let user = caller.user.as_deref().unwrap_or_default();
    let place = target
        .clone()
        .or_else(|| file.map(|f| f.path.clone()))
        .unwrap_or_default();
    let choice = MfaChoice::new(account, caller, devices, &place);
    match target {
        Some(path) => {
            if !add::fill_accounts_entry(&path, account, caller, choice.mfa_serial())? {
                return Ok(());
            }
            report.status(format!(
                "Added account {account} ({}, user {user}) to {}",
                caller.prefix,
                path.display(),
            ));
        }
        None => report.warn(format!(
            "account {account} has no entry in the accounts file {}; add \"{account}\": {} there",
            place.display(),
            add::entry_json(caller, choice.mfa_serial())
        )),
    }
    if choice.is_warning() {
        report.warn(choice.to_string());
    } else {
        report.status(choice.to_string());
    }
    Ok(())
}
