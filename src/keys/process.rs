//! The `key_process` store behind the seam (DESIGN §13): the accounts file's command prints
//! the pair as the AWS CLI's process-credential JSON; `key_update_process` stores a new one
//! (`--rotate`). Run only when STS must be called with the long-lived key, under the lock;
//! the runner and the JSON are `keys::key_process`.
#![forbid(unsafe_code)]

use super::{KeysError, Location, ReadContext, Result, Sealing, SecretStore, StoredSecret};
use crate::env::Environment;
use crate::files::LockGuard;
use crate::keys::key_process;
use crate::mfa::Settings;
use crate::mfa::process::Shown;
use crate::secret::Secret;
use crate::session::Credentials;

/// The account's `key_process` (and `key_update_process`).
#[derive(Debug, Clone)]
pub struct ProcessStore {
    pub account: String,
    pub command: Shown,
    pub update: Option<Shown>,
    pub env: Environment,
    pub settings: Settings,
}

impl SecretStore for ProcessStore {
    fn location(&self) -> Location {
        Location {
            what: "key_process",
            place: self.command.to_string(),
            plain: false,
        }
    }

    /// Never runs the command.
    fn check(&self) -> Result<()> {
        Ok(())
    }

    fn read(&self, cx: &ReadContext<'_>) -> Result<StoredSecret> {
        if let Some(lock) = cx.lock {
            lock.set_activity("running the key_process");
        }
        let pair = key_process::fetch(
            &self.command,
            &self.account,
            &self.env,
            &self.settings,
            &cx.report,
        )
        .map_err(|e| KeysError::KeyProcess(Box::new(e)))?;
        Ok(StoredSecret {
            secret: pair.secret_access_key,
            access_key_id: Some(pair.access_key_id),
        })
    }

    /// Without a `key_update_process` a new key could not be stored: refused before any call.
    fn prepare_write(&self, _cx: &ReadContext<'_>) -> Result<()> {
        match self.update {
            Some(_) => Ok(()),
            None => Err(KeysError::NoUpdateProcess {
                account: self.account.clone(),
                command: self.command.clone(),
            }),
        }
    }

    /// Nothing to encrypt to, and the user chose a vault to keep the secret off the disk: a
    /// journal withholds it (a resumed rotation asks the command which key it holds).
    fn seal(&self, _secret: &Secret) -> Result<Sealing> {
        Ok(Sealing::Withheld)
    }

    fn write(&self, _lock: &LockGuard, pair: &Credentials) -> Result<()> {
        let Some(update) = &self.update else {
            return self.prepare_write(&ReadContext {
                report: crate::report::Reporter::new(true, false),
                lock: None,
            });
        };
        key_process::update(
            update,
            &self.account,
            pair,
            &self.env,
            &self.settings,
            &crate::report::Reporter::new(false, false),
        )
        .map_err(|e| KeysError::KeyProcess(Box::new(e)))
    }
}
