//! The age store behind the seam: `<account>.secret_key.age` (DESIGN §13), decrypted with the
//! passphrase asked on the terminal (only here: under the account's lock, when STS must be
//! called with the long-lived key) or with the account's identity files. The file format,
//! prompt and errors are `keys::age_file` and `keys::passphrase`.
#![forbid(unsafe_code)]

use super::{KeysError, Location, ReadContext, Result, Sealing, SecretStore, StoredSecret};
use crate::files::{Kind, LockGuard};
use crate::keys::age_file::{AgeError, AgeFile, Lock};
use crate::keys::passphrase::{Known, Passphrase, Prompt};
use crate::mfa::Settings;
use crate::secret::Secret;
use crate::session::Credentials;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The file name's suffix: `<account>.secret_key.age`.
pub const SUFFIX: &str = "secret_key.age";

/// `<account>.secret_key.age` and what opens it.
#[derive(Debug, Clone)]
pub struct AgeStore {
    file: AgeFile,
    /// The account's `age_identity`, else `STSEXEC_AGE_IDENTITY`; empty: a passphrase.
    identities: Vec<PathBuf>,
    settings: Settings,
    /// The passphrase a read or `prepare_write` was given, so `--rotate` re-encrypts to it
    /// without asking twice.
    passphrase: Arc<Mutex<Option<Passphrase>>>,
}

impl AgeStore {
    pub fn new(account: &str, path: PathBuf, identities: Vec<PathBuf>, settings: Settings) -> Self {
        AgeStore {
            file: AgeFile::new(account, path),
            identities,
            settings,
            passphrase: Arc::new(Mutex::new(None)),
        }
    }

    pub fn exists(&self) -> bool {
        self.file.exists()
    }

    /// The same store (and passphrase, once given) that never prompts: `--server` renewals.
    pub fn non_interactive(mut self) -> Self {
        self.settings.take_terminal = false;
        self
    }

    pub fn path(&self) -> &std::path::Path {
        &self.file.path
    }

    /// Decrypts the file, asking the passphrase (and remembering it) when it is one.
    fn decrypt(&self, cx: &ReadContext<'_>) -> Result<crate::secret::Secret> {
        /// The prompt, keeping the passphrase that opened the file.
        struct Remembering<'a> {
            prompt: Prompt,
            last: Option<Passphrase>,
            cx: &'a ReadContext<'a>,
        }
        impl crate::keys::passphrase::Passphrases for Remembering<'_> {
            fn next(
                &mut self,
                retry: bool,
            ) -> std::result::Result<Passphrase, crate::keys::passphrase::PassphraseError>
            {
                if let Some(lock) = self.cx.lock {
                    lock.set_activity("asking for the passphrase of the key");
                }
                let passphrase = self.prompt.next(retry)?;
                self.last = Some(passphrase.clone());
                Ok(passphrase)
            }
        }
        let known = self.passphrase.lock().ok().and_then(|p| p.clone());
        let secret = match known {
            Some(passphrase) => self.file.decrypt(
                &self.identities,
                &mut Known {
                    account: self.file.account.clone(),
                    passphrase,
                },
            ),
            None => {
                let mut asking = Remembering {
                    prompt: Prompt::new(&self.file.account, &self.settings),
                    last: None,
                    cx,
                };
                let secret = self.file.decrypt(&self.identities, &mut asking);
                if secret.is_ok()
                    && let (Some(given), Ok(mut kept)) = (asking.last, self.passphrase.lock())
                {
                    *kept = Some(given);
                }
                secret
            }
        };
        secret.map_err(|e| KeysError::Age(Box::new(e)))
    }
}

impl SecretStore for AgeStore {
    fn location(&self) -> Location {
        Location {
            what: Kind::AgeFile.describe(),
            place: self.file.path.display().to_string(),
            plain: false,
        }
    }

    /// The file is readable and an age file; nothing is decrypted.
    fn check(&self) -> Result<()> {
        let bytes = crate::files::read(&self.file.path, Kind::AgeFile)?.ok_or_else(|| {
            KeysError::Age(Box::new(AgeError::Missing {
                path: self.file.path.clone(),
            }))
        })?;
        let start = bytes
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .unwrap_or(bytes.len());
        if bytes[start..].starts_with(b"age-encryption.org/v1\n")
            || bytes[start..].starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----")
        {
            Ok(())
        } else {
            Err(KeysError::Age(Box::new(AgeError::NotAge {
                path: self.file.path.clone(),
            })))
        }
    }

    fn read(&self, cx: &ReadContext<'_>) -> Result<StoredSecret> {
        Ok(StoredSecret {
            secret: self.decrypt(cx)?,
            access_key_id: None,
        })
    }

    /// A passphrase file: the passphrase is asked now (and proven on the current file), so the
    /// new key is encrypted to the same one without a second prompt mid-rotation.
    fn prepare_write(&self, cx: &ReadContext<'_>) -> Result<()> {
        if self.identities.is_empty() {
            self.decrypt(cx).map(drop)
        } else {
            Ok(())
        }
    }

    fn seal(&self, secret: &Secret) -> Result<Sealing> {
        let lock = self.lock()?;
        let bytes = crate::keys::age_file::encrypt(
            secret,
            &lock,
            crate::keys::age_file::WORK_FACTOR,
            &self.file.account,
        )
        .map_err(|why| {
            KeysError::Age(Box::new(AgeError::Encrypt {
                path: self.file.path.clone(),
                why,
            }))
        })?;
        Ok(Sealing::Sealed(
            String::from_utf8_lossy(&bytes).into_owned(),
        ))
    }

    fn unseal(&self, sealed: &str, cx: &ReadContext<'_>) -> Result<Secret> {
        let known = self.passphrase.lock().ok().and_then(|p| p.clone());
        let result = match known {
            Some(passphrase) => self.file.decrypt_bytes(
                sealed.as_bytes(),
                &self.identities,
                &mut Known {
                    account: self.file.account.clone(),
                    passphrase,
                },
            ),
            None => {
                if let Some(lock) = cx.lock {
                    lock.set_activity("asking for the passphrase of the key");
                }
                self.file.decrypt_bytes(
                    sealed.as_bytes(),
                    &self.identities,
                    &mut Prompt::new(&self.file.account, &self.settings),
                )
            }
        };
        result.map_err(|e| KeysError::Age(Box::new(e)))
    }

    fn write(&self, _lock: &LockGuard, pair: &Credentials) -> Result<()> {
        let lock = self.lock()?;
        self.file
            .write(&pair.secret_access_key, &lock)
            .map_err(|e| KeysError::Age(Box::new(e)))
    }
}

impl AgeStore {
    /// What a new secret is encrypted to: the passphrase given earlier in this run (read or
    /// `prepare_write`), or the identity files' recipients.
    fn lock(&self) -> Result<Lock> {
        Ok(if self.identities.is_empty() {
            let passphrase = self
                .passphrase
                .lock()
                .ok()
                .and_then(|p| p.clone())
                .ok_or_else(|| {
                    KeysError::Age(Box::new(AgeError::Passphrase {
                        path: self.file.path.clone(),
                        error: crate::keys::passphrase::PassphraseError::TooManyTries {
                            account: self.file.account.clone(),
                        },
                    }))
                })?;
            Lock::Passphrase(passphrase)
        } else {
            Lock::Identities(self.identities.clone())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Reporter;
    use std::os::unix::fs::PermissionsExt;

    /// `--server`'s renewals: a non-interactive store never prompts (whatever terminal there
    /// is), and reuses a passphrase given earlier in the run.
    #[test]
    fn a_non_interactive_store_never_prompts_but_reuses_a_given_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("work.secret_key.age");
        let bytes = crate::keys::age_file::encrypt(
            &Secret::new("SECRETMARKER/long+lived+secret+key"),
            &Lock::Passphrase(Passphrase::new("p")),
            10,
            "work",
        )
        .unwrap();
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let store = AgeStore::new("work", path, Vec::new(), Settings::DEFAULT).non_interactive();
        let cx = ReadContext {
            report: Reporter::new(true, false),
            lock: None,
        };
        let error = store.read(&cx).err().expect("no prompt, no key");
        assert!(
            error.to_string().contains("no terminal to ask it on"),
            "{error}"
        );
        *store.passphrase.lock().unwrap() = Some(Passphrase::new("p"));
        let read = store.read(&cx).unwrap();
        assert_eq!(read.secret.expose(), "SECRETMARKER/long+lived+secret+key");
        // The journal's sealed copy opens the same way.
        let Sealing::Sealed(sealed) = store.seal(&read.secret).unwrap() else {
            panic!("an age store seals");
        };
        assert!(!sealed.contains("SECRETMARKER"));
        assert_eq!(
            store.unseal(&sealed, &cx).unwrap().expose(),
            "SECRETMARKER/long+lived+secret+key"
        );
    }
}
