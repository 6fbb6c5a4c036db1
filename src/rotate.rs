//! Key rotation (DESIGN §10), as journaled steps under the account's lock. Each step can be
//! run again: a run that finds the journal resumes from what the files and IAM say, so a
//! crash or Ctrl-C at any point loses no secret and leaves one way forward (`--rotate` again).
//!
//! 1. GetCallerIdentity → the IAM user; ListAccessKeys: two keys already → refuse.
//! 2. CreateAccessKey, and at once the new pair into the journal (0600, fsync, rename), the
//!    secret kept as the store keeps secrets: in plain, sealed (age), or withheld (a
//!    `key_process`: the secret stays in memory; a resumed rotation finds it in the store, or
//!    deletes the new key whose secret was lost and starts again).
//! 3. GetCallerIdentity signed with the new key, retried while IAM catches up; never valid →
//!    the new key is deleted again and the journal removed.
//! 4. The key files replaced (secret first, then the id; each atomically, 0600).
//! 5. UpdateAccessKey(old, Inactive), DeleteAccessKey(old).
//! 6. The account's cached sessions and the journal removed.
//!
//! The calls go through [`KeyService`], so the steps and their resumption are unit-tested
//! against a fake IAM in milliseconds.
#![forbid(unsafe_code)]

use crate::accounts::AccountName;
use crate::aws::Transport;
use crate::cache::{AccountLock, AccountState};
use crate::files::{self, FileError, Kind, record};
use crate::iam::{IamFailure, KeyInfo, LazyIam};
use crate::keys::{AccountKeys, KeyPlaces, KeysError, ReadContext, Sealing};
use crate::report::Reporter;
use crate::secret::{Secret, mask_key_id};
use crate::session::{Credentials, hours_minutes, rfc3339};
use crate::sts::{LazySts, StsFailure};
use crate::text::clean;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// How long the new key may take to become valid (IAM is eventually consistent).
pub const DEFAULT_PROOF_WAIT: Duration = Duration::from_secs(60);
const JOURNAL_VERSION: u32 = 1;

/// The calls a rotation makes.
pub trait KeyService {
    /// GetCallerIdentity signed with `creds`: the caller's ARN.
    fn caller_arn(&mut self, creds: &Credentials) -> Result<String, StsFailure>;
    fn list_keys(&mut self, signer: &Credentials, user: &str) -> Result<Vec<KeyInfo>, IamFailure>;
    fn create_key(&mut self, signer: &Credentials, user: &str) -> Result<Credentials, IamFailure>;
    fn deactivate_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure>;
    fn delete_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure>;
    /// Where STS and IAM are, as messages name them.
    fn endpoints(&self) -> (String, String);
}

/// The real service: STS for GetCallerIdentity, aws-sdk-iam for the rest.
pub struct Aws {
    pub sts: LazySts,
    pub iam: LazyIam,
}

impl KeyService for Aws {
    fn caller_arn(&mut self, creds: &Credentials) -> Result<String, StsFailure> {
        self.sts.caller_arn(creds)
    }
    fn list_keys(&mut self, signer: &Credentials, user: &str) -> Result<Vec<KeyInfo>, IamFailure> {
        self.iam.list_keys(signer, user)
    }
    fn create_key(&mut self, signer: &Credentials, user: &str) -> Result<Credentials, IamFailure> {
        self.iam.create_key(signer, user)
    }
    fn deactivate_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure> {
        self.iam.deactivate_key(signer, user, key_id)
    }
    fn delete_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure> {
        self.iam.delete_key(signer, user, key_id)
    }
    fn endpoints(&self) -> (String, String) {
        use crate::sts::StsApi;
        (
            self.sts.endpoint().shown.clone(),
            self.iam.endpoint.shown.clone(),
        )
    }
}

/// What signs the IAM calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignerKind {
    /// The account's MFA session (cached, or new with one code).
    MfaSession,
    /// `--no-session`: the long-lived keys (after the files are replaced: the new ones).
    LongLivedKeys,
}

/// An unfinished rotation, as the journal holds it. The new secret is kept as the account's
/// store keeps secrets ([`crate::keys::Sealing`]): in plain beside a plain store; sealed the
/// same way when the store encrypts (`sealed_secret`, an armored age file); not at all for a
/// `key_process` (`secret_withheld`: nothing to encrypt to, and the user chose a vault to keep
/// it off the disk). In the last two `new_secret_access_key` is empty on disk: the journal
/// never holds the secret in plaintext unless the store does.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Journal {
    version: u32,
    account: String,
    user: String,
    user_arn: String,
    old_access_key_id: String,
    new_access_key_id: String,
    #[serde(default = "no_secret")]
    new_secret_access_key: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sealed_secret: Option<String>,
    /// The journal on disk holds no secret (absent unless set: older journals read as before).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    secret_withheld: bool,
    created: String,
    /// In memory only: `new_secret_access_key` is the new secret. False for a journal read back
    /// that withheld it, until the store is found holding the new key ([`files_state`]).
    #[serde(skip)]
    secret_known: bool,
}

fn no_secret() -> Secret {
    Secret::new("")
}

impl record::Versioned for Journal {
    const KIND: Kind = Kind::Journal;
    const FORMAT: Option<&'static str> = None;
    const VERSION: u32 = JOURNAL_VERSION;
    fn header(&self) -> (Option<&str>, u32) {
        (None, self.version)
    }
}

impl Journal {
    fn new_credentials(&self) -> Credentials {
        Credentials {
            access_key_id: self.new_access_key_id.clone(),
            secret_access_key: self.new_secret_access_key.clone(),
            session_token: None,
            expiration: None,
        }
    }

    /// The journal, its sealed secret opened by the account's store (`cx`: a passphrase may be
    /// asked, under the lock).
    fn read(
        path: &Path,
        account: &AccountName,
        keys: &AccountKeys,
        cx: &ReadContext<'_>,
    ) -> Result<Option<Journal>, RotateError> {
        let damaged = || RotateError::JournalDamaged {
            path: path.to_path_buf(),
        };
        let mut journal = match record::read::<Journal>(path) {
            Ok(Some(journal)) => journal,
            Ok(None) => return Ok(None),
            Err(record::RecordError::File(e)) => return Err(RotateError::File(e)),
            Err(_) => return Err(damaged()),
        };
        if journal.account != account.as_str()
            || !crate::secret::is_access_key_id(&journal.new_access_key_id)
            || !crate::secret::is_access_key_id(&journal.old_access_key_id)
        {
            return Err(damaged());
        }
        if journal.secret_withheld {
            // Found in the store, or lost with the run that wrote the journal: never a secret
            // beside the flag.
            if journal.sealed_secret.is_some() || !journal.new_secret_access_key.expose().is_empty()
            {
                return Err(damaged());
            }
            return Ok(Some(journal));
        }
        if let Some(sealed) = &journal.sealed_secret {
            journal.new_secret_access_key = keys.unseal(sealed, cx)?;
        } else if journal.new_secret_access_key.expose().is_empty() {
            return Err(damaged());
        }
        journal.secret_known = true;
        Ok(Some(journal))
    }

    /// The journal as it is written for the account's store: the secret in plain, sealed, or
    /// withheld ([`crate::keys::Sealing`]).
    fn on_disk(&self, keys: &AccountKeys) -> Result<Journal, KeysError> {
        Ok(match keys.seal(&self.new_secret_access_key)? {
            Sealing::Plain => self.clone(),
            Sealing::Sealed(sealed) => Journal {
                new_secret_access_key: no_secret(),
                sealed_secret: Some(sealed),
                ..self.clone()
            },
            Sealing::Withheld => Journal {
                new_secret_access_key: no_secret(),
                sealed_secret: None,
                secret_withheld: true,
                ..self.clone()
            },
        })
    }

    /// Writes the journal, the secret kept as the account's store keeps secrets; notes here
    /// whether the file withholds it.
    fn write(&mut self, path: &Path, keys: &AccountKeys) -> Result<(), FileError> {
        let on_disk = self.on_disk(keys).map_err(|e| FileError::Io {
            kind: Kind::Journal,
            path: path.to_path_buf(),
            action: "write",
            // The store's own error, typed, as the I/O error's source.
            source: std::io::Error::other(e),
        })?;
        record::write(path, &on_disk)?;
        self.secret_withheld = on_disk.secret_withheld;
        Ok(())
    }
}

/// Whether an unfinished rotation's journal exists: one `stat`, on every run for the account.
pub fn unfinished(cache: &AccountState) -> bool {
    cache.journal_path().symlink_metadata().is_ok()
}

/// The warning every other run for the account prints while a rotation is unfinished.
pub fn unfinished_warning(account: &AccountName, cache: &AccountState) -> String {
    format!(
        "the key rotation of account {account} is unfinished ({}); run stsexec {account} --rotate to finish it",
        cache.journal_path().display()
    )
}

/// A new key whose secret was withheld from the journal and lost with the run that made it,
/// which IAM did not delete (the journal is kept).
#[derive(Debug)]
pub struct LostKey {
    pub account: AccountName,
    pub journal: PathBuf,
    pub user: String,
    pub old_key: String,
    pub new_key: String,
    /// DeleteAccessKey's failure.
    pub failure: IamStepFailure,
}

/// The old key could not be deleted (the new one is already in the files).
#[derive(Debug)]
pub struct RetireFailure {
    pub account: AccountName,
    pub user: String,
    pub old_key: String,
    pub new_key: String,
    pub key_files: KeyPlaces,
    pub deactivated: bool,
    /// UpdateAccessKey's failure (not `deactivated`), else DeleteAccessKey's.
    pub failure: IamStepFailure,
}

/// An IAM call of a step that failed, with the endpoint it went to.
#[derive(Debug)]
pub struct IamStepFailure {
    pub operation: &'static str,
    pub endpoint: String,
    pub failure: IamFailure,
}

impl fmt::Display for IamStepFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "IAM at {} {}",
            self.endpoint,
            self.failure.describe(self.operation)
        )
    }
}

/// Why a step after the journal was written stopped, leaving the rotation unfinished.
#[derive(Debug)]
pub enum UnfinishedCause {
    /// Step 3: the new key signs as someone other than the journal's user.
    SignsAsOther {
        new_key: String,
        arn: String,
        user_arn: String,
    },
    /// Step 3: STS could not be asked about the new key (no verdict on it).
    Unproven {
        endpoint: String,
        new_key: String,
        failure: StsFailure,
    },
    /// Step 4: the key files could not take the new pair.
    KeyFiles(KeysError),
}

impl fmt::Display for UnfinishedCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnfinishedCause::SignsAsOther {
                new_key,
                arn,
                user_arn,
            } => write!(
                f,
                "the new access key {} signs as {}, not as {}",
                mask_key_id(new_key),
                clean(arn, 200),
                clean(user_arn, 200)
            ),
            UnfinishedCause::Unproven {
                endpoint,
                new_key,
                failure,
            } => write!(
                f,
                "STS at {endpoint} could not prove the new access key {} (GetCallerIdentity: {})",
                mask_key_id(new_key),
                sts_cause(failure)
            ),
            UnfinishedCause::KeyFiles(e) => e.fmt(f),
        }
    }
}

/// Whether a failed CreateAccessKey may still have made a key: no answer, a server error, an
/// answer that could not be read. A refusal (denied, throttled, limit, bad signer) made none.
fn outcome_unknown(failure: &IamFailure) -> bool {
    match failure {
        IamFailure::ServerError { .. } => true,
        IamFailure::Transport(transport) => transport_outcome_unknown(transport),
        _ => false,
    }
}

/// Whether the request may have reached IAM: everything but the failures that happen before
/// anything is sent (no runtime, a bad URL, bundle or proxy setting, an untrusted certificate,
/// a forward proxy's refusal).
fn transport_outcome_unknown(transport: &Transport) -> bool {
    match transport {
        Transport::Timeout { .. }
        | Transport::Unreachable { .. }
        | Transport::TooLarge
        | Transport::Unreadable
        | Transport::Other { .. } => true,
        Transport::ThroughProxy { failure, .. } => transport_outcome_unknown(failure),
        Transport::UntrustedCertificate { .. }
        | Transport::NoRuntime { .. }
        | Transport::NotAUrl
        | Transport::CaBundle(_)
        | Transport::BadProxy(_)
        | Transport::ProxyRefused { .. } => false,
    }
}

/// What listing the keys found after CreateAccessKey's outcome was unknown.
#[derive(Debug)]
pub enum CreateOutcome {
    /// No key appeared: nothing was changed.
    NoNewKey,
    /// Keys appeared (their secrets never arrived): `removed` were deleted again, `left` could
    /// not be, with why.
    Appeared {
        removed: Vec<String>,
        left: Vec<(String, IamFailure)>,
    },
    /// ListAccessKeys failed too: whether a key appeared is unknown.
    Unlisted(IamFailure),
}

/// CreateAccessKey without a (readable) answer, and what came of it.
#[derive(Debug)]
pub struct CreateUnknown {
    pub account: AccountName,
    pub user: String,
    pub old_key: String,
    pub endpoint: String,
    pub failure: IamFailure,
    pub outcome: CreateOutcome,
}

impl fmt::Display for CreateUnknown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let CreateUnknown {
            account,
            user,
            old_key,
            endpoint,
            failure,
            outcome,
        } = self;
        let masked = |ids: &mut dyn Iterator<Item = &String>| {
            ids.map(|id| mask_key_id(id)).collect::<Vec<_>>().join(", ")
        };
        write!(
            f,
            "IAM at {endpoint} {} for account {account}, so stsexec checked whether a new key was made anyway: ",
            failure.describe("CreateAccessKey")
        )?;
        match outcome {
            CreateOutcome::NoNewKey => write!(
                f,
                "ListAccessKeys shows none, so nothing was changed; run stsexec {account} --rotate again (should aws iam list-access-keys --user-name {user} later show a key other than {}, delete it first)",
                mask_key_id(old_key)
            ),
            CreateOutcome::Appeared { removed, left } if left.is_empty() => write!(
                f,
                "IAM made {}, whose secret never arrived, so it was deleted again; nothing else changed (the key files still hold {}); run stsexec {account} --rotate again",
                masked(&mut removed.iter()),
                mask_key_id(old_key)
            ),
            CreateOutcome::Appeared { removed, left } => {
                let (ids, why): (Vec<&String>, Vec<&IamFailure>) =
                    left.iter().map(|(id, why)| (id, why)).unzip();
                write!(
                    f,
                    "IAM made {}, whose secret never arrived, and deleting it failed (IAM at {endpoint} {}); ",
                    masked(&mut ids.into_iter().chain(removed.iter())),
                    why[0].describe("DeleteAccessKey")
                )?;
                write!(
                    f,
                    "delete it yourself (aws iam list-access-keys --user-name {user} shows its id; aws iam delete-access-key --user-name {user} --access-key-id <id> deletes it), then run stsexec {account} --rotate again; the key files still hold {}",
                    mask_key_id(old_key)
                )
            }
            CreateOutcome::Unlisted(listing) => write!(
                f,
                "IAM at {endpoint} {} too, so a key whose secret nobody saw may exist: run aws iam list-access-keys --user-name {user}, delete any key other than {}, then run stsexec {account} --rotate again; the key files are unchanged",
                listing.describe("ListAccessKeys"),
                mask_key_id(old_key)
            ),
        }
    }
}

/// Why a rotation stopped; `Display` is the sentence, naming the account, the keys (masked)
/// and what to do.
#[derive(Debug)]
pub enum RotateError {
    TwoKeys {
        account: AccountName,
        user: String,
        other: KeyInfo,
        /// What signed the calls: the hint's commands are signed the same way.
        signer: SignerKind,
    },
    Denied {
        account: AccountName,
        operation: &'static str,
        endpoint: String,
        signer: SignerKind,
        message: String,
    },
    /// An IAM call failed before anything changed.
    Iam {
        account: AccountName,
        operation: &'static str,
        endpoint: String,
        failure: IamFailure,
    },
    /// GetCallerIdentity failed before anything changed.
    Sts {
        account: AccountName,
        endpoint: String,
        failure: StsFailure,
    },
    NotAUser {
        account: AccountName,
        arn: String,
    },
    NeverValid {
        account: AccountName,
        new_key: String,
        old_key: String,
        waited: Duration,
        deleted: bool,
    },
    /// A step after the journal was written failed; the journal keeps the new key (its
    /// secret too, unless `withheld`: then the next `--rotate` deletes it and starts again).
    Unfinished {
        account: AccountName,
        journal: PathBuf,
        withheld: bool,
        cause: Box<UnfinishedCause>,
    },
    /// A resumed rotation found the journal's new key useless (its secret withheld from the
    /// journal and never stored by the `key_process`), and IAM did not delete it.
    LostKeyUndeleted(Box<LostKey>),
    /// Step 5 failed after the files were replaced.
    DeleteFailed(Box<RetireFailure>),
    JournalDamaged {
        path: PathBuf,
    },
    /// The files hold neither the journal's old key nor its new one.
    JournalStale {
        path: PathBuf,
        files_key: String,
        old_key: String,
        new_key: String,
    },
    /// The new key could not be written to the journal: it was deleted again.
    JournalUnwritable {
        account: AccountName,
        error: FileError,
        deleted: bool,
    },
    /// CreateAccessKey got no (readable) answer: what listing the keys then found and did.
    CreateUnknown(Box<CreateUnknown>),
    File(FileError),
    /// The key files (through [`crate::keys`]) could not be read or written.
    Keys(KeysError),
}

impl From<KeysError> for RotateError {
    fn from(e: KeysError) -> Self {
        RotateError::Keys(e)
    }
}

impl fmt::Display for RotateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RotateError::TwoKeys {
                account,
                user,
                other,
                signer,
            } => {
                let age = other
                    .created
                    .and_then(|c| SystemTime::now().duration_since(c).ok())
                    .map(|d| format!(", created {} ago", age(d)))
                    .unwrap_or_default();
                let how = match signer {
                    SignerKind::LongLivedKeys => "--no-session",
                    SignerKind::MfaSession => "--mfa",
                };
                let again = match signer {
                    SignerKind::LongLivedKeys => " --no-session",
                    SignerKind::MfaSession => "",
                };
                write!(
                    f,
                    "the IAM user {user} of account {account} already has two access keys, the most IAM allows, so nothing was changed: the other one is {} ({}{age}); delete it (stsexec {account} {how} -- aws iam list-access-keys --user-name {user} shows its id; stsexec {account} {how} -- aws iam delete-access-key --user-name {user} --access-key-id <id> deletes it) and run stsexec {account} --rotate{again} again",
                    mask_key_id(&other.access_key_id),
                    other.status,
                )
            }
            RotateError::Denied {
                account,
                operation,
                endpoint,
                signer,
                message,
            } => {
                let fix = match signer {
                    SignerKind::LongLivedKeys => format!(
                        "the policy probably requires MFA: run stsexec {account} --rotate without --no-session (it signs with the MFA session)"
                    ),
                    SignerKind::MfaSession => format!(
                        "the IAM user's policy must allow iam:{operation} on its own keys (with MFA); --mfa is already in use"
                    ),
                };
                write!(
                    f,
                    "IAM at {endpoint} refused {operation} for account {account} (AccessDenied: {}); nothing was changed; {fix}",
                    clean(message, 200)
                )
            }
            RotateError::Iam {
                account,
                operation,
                endpoint,
                failure,
            } => write!(
                f,
                "IAM at {endpoint} {} for account {account}; nothing was changed; check the network, or AWS_ENDPOINT_URL_IAM if you set it, and run --rotate again",
                failure.describe(operation)
            ),
            RotateError::Sts {
                account,
                endpoint,
                failure,
            } => write!(
                f,
                "STS at {endpoint} could not tell whose keys account {account} holds (GetCallerIdentity: {}); nothing was changed",
                sts_cause(failure)
            ),
            RotateError::NotAUser { account, arn } => write!(
                f,
                "the keys of account {account} belong to {}, not to an IAM user, so --rotate cannot replace them",
                clean(arn, 200)
            ),
            RotateError::NeverValid {
                account,
                new_key,
                old_key,
                waited,
                deleted,
            } => {
                let what = if *deleted {
                    "so it was deleted again"
                } else {
                    "and deleting it failed too: delete it in the IAM console"
                };
                write!(
                    f,
                    "the new access key {} of account {account} did not become valid within {} s, {what}; nothing else changed (the key files still hold {}); try again later",
                    mask_key_id(new_key),
                    waited.as_secs(),
                    mask_key_id(old_key)
                )
            }
            RotateError::Unfinished {
                account,
                journal,
                withheld: false,
                cause,
            } => write!(
                f,
                "{cause}; the rotation of account {account} is unfinished and the new key is kept in {}: run stsexec {account} --rotate again to finish it",
                journal.display()
            ),
            RotateError::Unfinished {
                account,
                journal,
                withheld: true,
                cause,
            } => write!(
                f,
                "{cause}; the rotation of account {account} is unfinished and {} keeps the new key's id but not its secret (the key_process keeps secrets off the disk), so that key cannot be used: run stsexec {account} --rotate again, which deletes it and rotates anew",
                journal.display()
            ),
            RotateError::LostKeyUndeleted(lost) => {
                let LostKey {
                    account,
                    journal,
                    user,
                    old_key,
                    new_key,
                    failure,
                } = lost.as_ref();
                write!(
                    f,
                    "the unfinished key rotation of account {account} created the access key {}, whose secret was lost when that run stopped before the key_process stored it, and deleting that key failed ({failure}); the key files still hold {} and {} is kept: run stsexec {account} --rotate again to retry, or delete the key yourself (aws iam delete-access-key --user-name {user} --access-key-id <id>, the id is new_access_key_id in the journal) and then remove the journal",
                    mask_key_id(new_key),
                    mask_key_id(old_key),
                    journal.display()
                )
            }
            RotateError::DeleteFailed(failure) => {
                let RetireFailure {
                    account,
                    user,
                    old_key,
                    new_key,
                    key_files,
                    deactivated,
                    failure,
                } = failure.as_ref();
                let state = if *deactivated {
                    "is inactive"
                } else {
                    "is still active"
                };
                write!(
                    f,
                    "account {account} now uses the new access key {} ({key_files}), but the old key {} {state} and was not deleted ({failure}); run stsexec {account} --rotate again to delete it, or delete it yourself (aws iam delete-access-key --user-name {user} --access-key-id <id>)",
                    mask_key_id(new_key),
                    mask_key_id(old_key),
                )
            }
            RotateError::JournalDamaged { path } => write!(
                f,
                "rotation journal {} is damaged; it may hold the only copy of a new secret key: open it, put a valid key pair into the key files if it holds one, then remove it",
                path.display()
            ),
            RotateError::JournalStale {
                path,
                files_key,
                old_key,
                new_key,
            } => write!(
                f,
                "rotation journal {} is for access keys {} → {}, but the key files hold {}; if you replaced the keys yourself, remove the journal (after deleting {} in IAM if it still exists)",
                path.display(),
                mask_key_id(old_key),
                mask_key_id(new_key),
                mask_key_id(files_key),
                mask_key_id(new_key)
            ),
            RotateError::JournalUnwritable {
                account,
                error,
                deleted,
            } => write!(
                f,
                "{error}; the new access key of account {account} could not be kept, so it was {}nothing else changed",
                if *deleted {
                    "deleted again; "
                } else {
                    "not used (delete it in the IAM console); "
                }
            ),
            RotateError::CreateUnknown(unknown) => unknown.fmt(f),
            RotateError::File(e) => e.fmt(f),
            RotateError::Keys(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for RotateError {}

fn sts_cause(failure: &StsFailure) -> String {
    match failure {
        StsFailure::UnknownKey { key_id } => format!(
            "the access key {} is unknown or inactive",
            mask_key_id(key_id)
        ),
        StsFailure::SignatureMismatch { key_id } => {
            format!("the secret key of {} does not match", mask_key_id(key_id))
        }
        StsFailure::ExpiredSession => "the MFA session has expired: run with --refresh".into(),
        StsFailure::Transport(transport) => transport.cause(),
        StsFailure::Refused { code, message, .. } => {
            format!("{}: {}", clean(code, 64), clean(message, 200))
        }
        other => clean(&format!("{other:?}"), 200),
    }
}

fn age(d: Duration) -> String {
    let days = d.as_secs() / 86_400;
    match days {
        0 => hours_minutes(d),
        1 => "1 day".into(),
        n => format!("{n} days"),
    }
}

/// The IAM user name of a user ARN (`arn:aws:iam::123456789012:user/path/jb` → `jb`).
pub fn user_from_arn(arn: &str) -> Option<&str> {
    let arn =
        crate::accounts::Arn::parse(arn).filter(|a| a.service == "iam" && a.region.is_empty())?;
    let name = arn.resource.strip_prefix("user/")?.rsplit('/').next()?;
    (!name.is_empty()).then_some(name)
}

/// How a rotation ended.
#[derive(Debug, PartialEq, Eq)]
pub struct Rotated {
    pub old_key: String,
    pub new_key: String,
}

impl fmt::Display for Rotated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} → {} (old key deleted)",
            mask_key_id(&self.old_key),
            mask_key_id(&self.new_key)
        )
    }
}

/// One rotation of one account.
pub struct Rotation<'a, K: KeyService> {
    pub account: &'a AccountName,
    /// The account's key, read and written only through the seam of [`crate::keys`].
    pub keys: &'a AccountKeys,
    /// The journal's and the cached sessions' place, and the lock's.
    pub state: &'a AccountState,
    pub service: K,
    /// The credentials that sign IAM calls, and what they are.
    pub signer: Credentials,
    pub signer_kind: SignerKind,
    pub proof_wait: Duration,
    /// Pause between tries (tests shorten it).
    pub retry_pause: Duration,
    pub report: Reporter,
}

/// What the key files hold compared with a journal.
#[derive(Debug, PartialEq, Eq)]
enum Files {
    Old,
    New,
    /// Crashed between the two renames of step 4.
    Torn,
}

/// Step 4's first half left the files torn (the new secret beside the old id, or the other way
/// round): finish writing the new pair before anything reads the keys. Callers hold the lock.
pub fn repair_torn_files(
    lock: &AccountLock,
    account: &AccountName,
    keys: &AccountKeys,
    state: &AccountState,
    report: Reporter,
) -> Result<(), RotateError> {
    let path = state.journal_path();
    let cx = ReadContext {
        report,
        lock: Some(lock),
    };
    let Some(mut journal) = Journal::read(&path, account, keys, &cx)? else {
        return Ok(());
    };
    if files_state(&mut journal, keys, lock, report, &path)? == Files::Torn {
        report.debug(format!(
            "account {account}: the key files were half replaced; writing {} again",
            mask_key_id(&journal.new_access_key_id)
        ));
        write_key_files(&journal, keys, lock)?;
    }
    Ok(())
}

/// What the key files hold, read through the key store (the id checked, the secret whole).
/// A journal read back without its secret is compared by key ids alone ([`withheld_state`]).
fn files_state(
    journal: &mut Journal,
    keys: &AccountKeys,
    lock: &AccountLock,
    report: Reporter,
    path: &Path,
) -> Result<Files, RotateError> {
    let cx = ReadContext {
        report,
        lock: Some(lock),
    };
    if !journal.secret_known {
        return withheld_state(journal, keys, &cx, path);
    }
    let pair = keys.read(&cx)?;
    let id = pair.access_key_id;
    let new_id = id == journal.new_access_key_id;
    let new_secret = pair.secret_access_key.expose() == journal.new_secret_access_key.expose();
    match (new_id, new_secret) {
        (true, true) => Ok(Files::New),
        (true, false) | (false, true) => Ok(Files::Torn),
        (false, false) if id == journal.old_access_key_id => Ok(Files::Old),
        (false, false) => Err(RotateError::JournalStale {
            path: path.to_path_buf(),
            files_key: id,
            old_key: journal.old_access_key_id.clone(),
            new_key: journal.new_access_key_id.clone(),
        }),
    }
}

/// [`files_state`] for a journal that withheld the secret (a `key_process` store, whose JSON
/// holds the id beside the secret): the store, not the journal, says which key it holds, and no
/// secret is compared. The new key: the update happened, and the store's secret becomes the
/// journal's (`Torn` when `<account>.access_key` still names the old one). The old key: the
/// new secret was lost with the run that wrote the journal (`Old`, the secret still unknown).
fn withheld_state(
    journal: &mut Journal,
    keys: &AccountKeys,
    cx: &ReadContext<'_>,
    path: &Path,
) -> Result<Files, RotateError> {
    let stored = keys.read_store(cx)?;
    let store_id = stored.access_key_id.ok_or(KeysError::Withheld)?;
    let file_id = keys.id_from_file()?;
    let stale = |files_key: String| RotateError::JournalStale {
        path: path.to_path_buf(),
        files_key,
        old_key: journal.old_access_key_id.clone(),
        new_key: journal.new_access_key_id.clone(),
    };
    if store_id == journal.new_access_key_id {
        let state = if file_id == journal.new_access_key_id {
            Files::New
        } else if file_id == journal.old_access_key_id {
            Files::Torn
        } else {
            return Err(stale(file_id));
        };
        journal.new_secret_access_key = stored.secret;
        journal.secret_known = true;
        Ok(state)
    } else if store_id != journal.old_access_key_id {
        Err(stale(store_id))
    } else if file_id != journal.old_access_key_id {
        Err(stale(file_id))
    } else {
        Ok(Files::Old)
    }
}

fn write_key_files(
    journal: &Journal,
    keys: &AccountKeys,
    lock: &AccountLock,
) -> Result<(), KeysError> {
    keys.write(lock, &journal.new_credentials())
}

impl<K: KeyService> Rotation<'_, K> {
    fn key_files(&self) -> KeyPlaces {
        self.keys.describe()
    }

    /// The six steps, or the rest of them after a crash. Callers hold the account's lock.
    pub fn run(&mut self, lock: &AccountLock) -> Result<Rotated, RotateError> {
        // A rotation killed before a rename left a temp copy of a key file: gone now.
        let removed = self.keys.remove_stale_temp_files(lock);
        if removed > 0 {
            self.report.debug(format!(
                "account {}: removed {removed} temp file(s) a killed rotation left",
                self.account
            ));
        }
        let path = self.state.journal_path();
        // Whatever the store needs to take the new key (a passphrase), asked before any change.
        self.keys.prepare_write(&ReadContext {
            report: self.report,
            lock: Some(lock),
        })?;
        let cx = ReadContext {
            report: self.report,
            lock: Some(lock),
        };
        let mut journal = match Journal::read(&path, self.account, self.keys, &cx)? {
            Some(journal) => {
                if journal.secret_known {
                    self.resuming(&journal);
                }
                journal
            }
            None => {
                lock.set_activity("rotating the access key");
                self.begin(&path)?
            }
        };
        let secret_known = journal.secret_known;
        let mut state = files_state(&mut journal, self.keys, lock, self.report, &path)?;
        if !secret_known {
            if journal.secret_known {
                self.resuming(&journal);
            } else {
                // The store never took the withheld secret: that key is useless; start again.
                self.discard_lost_key(&journal, &path)?;
                lock.set_activity("rotating the access key");
                journal = self.begin(&path)?;
                state = Files::Old;
            }
        }
        let unfinished = |cause: UnfinishedCause| RotateError::Unfinished {
            account: self.account.clone(),
            journal: path.clone(),
            withheld: journal.secret_withheld,
            cause: Box::new(cause),
        };
        match state {
            Files::Old => {
                self.prove(&journal, &path)?;
                write_key_files(&journal, self.keys, lock)
                    .map_err(|e| unfinished(UnfinishedCause::KeyFiles(e)))?;
                self.report.debug(format!(
                    "account {}: {} now hold {}",
                    self.account,
                    self.key_files(),
                    mask_key_id(&journal.new_access_key_id)
                ));
            }
            Files::Torn => {
                write_key_files(&journal, self.keys, lock)
                    .map_err(|e| unfinished(UnfinishedCause::KeyFiles(e)))?;
            }
            Files::New => {}
        }
        self.retire_old(&journal)?;
        if let Err(e) = self.state.clear(lock) {
            self.report.warn(format!(
                "{e}; the account's cached sessions were made with the old key and will be replaced"
            ));
        }
        files::remove(&path, Kind::Journal).map_err(RotateError::File)?;
        Ok(Rotated {
            old_key: journal.old_access_key_id.clone(),
            new_key: journal.new_access_key_id.clone(),
        })
    }

    fn resuming(&self, journal: &Journal) {
        self.report.status(format!(
            "Resuming the unfinished key rotation of account {}: {} → {}",
            self.account,
            mask_key_id(&journal.old_access_key_id),
            mask_key_id(&journal.new_access_key_id)
        ));
    }

    /// A journal that withheld the new secret, and the store still holds the old key: the
    /// secret was lost with the run that wrote the journal, so the new key can never be used.
    /// It is deleted in IAM (signed as the rotation signs: the old key still works) and the
    /// journal removed, saying so; the caller rotates again. A failed delete keeps the journal.
    fn discard_lost_key(&mut self, journal: &Journal, path: &Path) -> Result<(), RotateError> {
        let (user, new) = (&journal.user, &journal.new_access_key_id);
        let signer = &self.signer;
        let service = &mut self.service;
        match retried(self.retry_pause, || service.delete_key(signer, user, new)) {
            Ok(()) | Err(IamFailure::NoSuchEntity) => {}
            Err(failure) => {
                let (_, endpoint) = self.service.endpoints();
                return Err(RotateError::LostKeyUndeleted(Box::new(LostKey {
                    account: self.account.clone(),
                    journal: path.to_path_buf(),
                    user: user.clone(),
                    old_key: journal.old_access_key_id.clone(),
                    new_key: new.clone(),
                    failure: IamStepFailure {
                        operation: "DeleteAccessKey",
                        endpoint,
                        failure,
                    },
                })));
            }
        }
        files::remove(path, Kind::Journal).map_err(RotateError::File)?;
        self.report.status(format!(
            "The unfinished key rotation of account {} had created the access key {}, whose secret was lost before the key_process stored it (the journal withholds it), so that key was deleted in IAM; rotating {} again",
            self.account,
            mask_key_id(new),
            mask_key_id(&journal.old_access_key_id)
        ));
        Ok(())
    }

    /// Steps 1 and 2: the user, its keys, a new key, the journal.
    fn begin(&mut self, path: &Path) -> Result<Journal, RotateError> {
        let (sts_endpoint, _) = self.service.endpoints();
        let arn = self
            .service
            .caller_arn(&self.signer)
            .map_err(|failure| RotateError::Sts {
                account: self.account.clone(),
                endpoint: sts_endpoint,
                failure,
            })?;
        let user = user_from_arn(&arn)
            .ok_or_else(|| RotateError::NotAUser {
                account: self.account.clone(),
                arn: arn.clone(),
            })?
            .to_string();
        let old_key = self.old_key_id()?;
        self.report.debug(format!(
            "account {}: IAM user {user} ({arn}); access key {}",
            self.account,
            mask_key_id(&old_key)
        ));
        let keys = self
            .service
            .list_keys(&self.signer, &user)
            .map_err(|f| self.iam_error("ListAccessKeys", f))?;
        if keys.len() >= 2 {
            let other = keys
                .iter()
                .find(|k| k.access_key_id != old_key)
                .unwrap_or(&keys[0])
                .clone();
            return Err(RotateError::TwoKeys {
                account: self.account.clone(),
                user,
                other,
                signer: self.signer_kind,
            });
        }
        // Tried once (no automatic retry: it is not idempotent).
        let new = match self.service.create_key(&self.signer, &user) {
            Ok(new) => new,
            Err(IamFailure::LimitExceeded) => {
                return Err(RotateError::TwoKeys {
                    account: self.account.clone(),
                    signer: self.signer_kind,
                    user,
                    other: KeyInfo {
                        access_key_id: String::new(),
                        status: "unknown".into(),
                        created: None,
                    },
                });
            }
            Err(failure) if outcome_unknown(&failure) => {
                return Err(self.after_unknown_create(user, old_key, &keys, failure));
            }
            Err(failure) => return Err(self.iam_error("CreateAccessKey", failure)),
        };
        let mut journal = Journal {
            version: JOURNAL_VERSION,
            account: self.account.to_string(),
            user,
            user_arn: arn,
            old_access_key_id: old_key,
            new_access_key_id: new.access_key_id.clone(),
            new_secret_access_key: new.secret_access_key.clone(),
            sealed_secret: None,
            secret_withheld: false,
            created: rfc3339(SystemTime::now()),
            secret_known: true,
        };
        if let Err(error) = journal.write(path, self.keys) {
            // The only copy of the new secret is in memory: without a journal, take it back.
            let deleted = self
                .service
                .delete_key(&self.signer, &journal.user, &journal.new_access_key_id)
                .is_ok();
            return Err(RotateError::JournalUnwritable {
                account: self.account.clone(),
                error,
                deleted,
            });
        }
        self.report.debug(format!(
            "account {}: created access key {}; journal {}",
            self.account,
            mask_key_id(&journal.new_access_key_id),
            path.display()
        ));
        Ok(journal)
    }

    /// CreateAccessKey's answer never came (or came unreadable): IAM may have made a key whose
    /// secret nobody saw. The keys are listed; one that appeared is deleted again; the error
    /// says which of these happened.
    fn after_unknown_create(
        &mut self,
        user: String,
        old_key: String,
        before: &[KeyInfo],
        failure: IamFailure,
    ) -> RotateError {
        let (_, endpoint) = self.service.endpoints();
        let outcome = match self.service.list_keys(&self.signer, &user) {
            Err(listing) => CreateOutcome::Unlisted(listing),
            Ok(now) => {
                let appeared: Vec<String> = now
                    .into_iter()
                    .map(|k| k.access_key_id)
                    .filter(|id| !before.iter().any(|b| b.access_key_id == *id))
                    .collect();
                if appeared.is_empty() {
                    CreateOutcome::NoNewKey
                } else {
                    let mut removed = Vec::new();
                    let mut left = Vec::new();
                    for id in appeared {
                        match self.service.delete_key(&self.signer, &user, &id) {
                            Ok(()) | Err(IamFailure::NoSuchEntity) => removed.push(id),
                            Err(f) => left.push((id, f)),
                        }
                    }
                    CreateOutcome::Appeared { removed, left }
                }
            }
        };
        self.report.debug(format!(
            "account {}: CreateAccessKey's outcome was unknown: {outcome:?}",
            self.account
        ));
        RotateError::CreateUnknown(Box::new(CreateUnknown {
            account: self.account.clone(),
            user,
            old_key,
            endpoint,
            failure,
            outcome,
        }))
    }

    fn old_key_id(&self) -> Result<String, RotateError> {
        Ok(self.keys.id_from_file()?)
    }

    fn iam_error(&self, operation: &'static str, failure: IamFailure) -> RotateError {
        let (_, endpoint) = self.service.endpoints();
        match failure {
            IamFailure::Denied { message } => RotateError::Denied {
                account: self.account.clone(),
                operation,
                endpoint,
                signer: self.signer_kind,
                message,
            },
            failure => RotateError::Iam {
                account: self.account.clone(),
                operation,
                endpoint,
                failure,
            },
        }
    }

    /// Step 3: the new key signs GetCallerIdentity and is the same user, retried while IAM
    /// catches up. Never valid: the new key is deleted and the journal removed.
    fn prove(&mut self, journal: &Journal, path: &Path) -> Result<(), RotateError> {
        let new = journal.new_credentials();
        let started = Instant::now();
        let mut pause = self.retry_pause;
        let mut announced = false;
        let last = loop {
            match self.service.caller_arn(&new) {
                Ok(arn) if arn == journal.user_arn => return Ok(()),
                Ok(arn) => {
                    return Err(RotateError::Unfinished {
                        account: self.account.clone(),
                        journal: path.to_path_buf(),
                        withheld: journal.secret_withheld,
                        cause: Box::new(UnfinishedCause::SignsAsOther {
                            new_key: new.access_key_id.clone(),
                            arn,
                            user_arn: journal.user_arn.clone(),
                        }),
                    });
                }
                Err(failure) => {
                    self.report.debug(format!(
                        "account {}: the new key {} is not valid yet ({})",
                        self.account,
                        mask_key_id(&new.access_key_id),
                        sts_cause(&failure)
                    ));
                    if started.elapsed() + pause > self.proof_wait {
                        break failure;
                    }
                    if !announced {
                        announced = true;
                        self.report.status(format!(
                            "Waiting for the new access key {} of account {} to become valid (IAM is eventually consistent)…",
                            mask_key_id(&new.access_key_id),
                            self.account
                        ));
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(8));
                }
            }
        };
        if !matches!(
            last,
            StsFailure::UnknownKey { .. } | StsFailure::SignatureMismatch { .. }
        ) {
            // STS unreachable is no verdict on the key: keep it for the next run.
            let (endpoint, _) = self.service.endpoints();
            return Err(RotateError::Unfinished {
                account: self.account.clone(),
                journal: path.to_path_buf(),
                withheld: journal.secret_withheld,
                cause: Box::new(UnfinishedCause::Unproven {
                    endpoint,
                    new_key: new.access_key_id.clone(),
                    failure: last,
                }),
            });
        }
        let deleted =
            match self
                .service
                .delete_key(&self.signer, &journal.user, &journal.new_access_key_id)
            {
                Ok(()) | Err(IamFailure::NoSuchEntity) => true,
                Err(_) => false,
            };
        if deleted {
            files::remove(path, Kind::Journal).map_err(RotateError::File)?;
        }
        Err(RotateError::NeverValid {
            account: self.account.clone(),
            new_key: journal.new_access_key_id.clone(),
            old_key: journal.old_access_key_id.clone(),
            waited: started.elapsed(),
            deleted,
        })
    }

    /// Step 5: the old key made inactive, then deleted (gone already is fine).
    fn retire_old(&mut self, journal: &Journal) -> Result<(), RotateError> {
        // Long-lived keys: the old one stops working once inactive, so the new one signs.
        let signer = match self.signer_kind {
            SignerKind::LongLivedKeys => journal.new_credentials(),
            SignerKind::MfaSession => self.signer.clone(),
        };
        let old = journal.old_access_key_id.as_str();
        let user = journal.user.as_str();
        let (_, endpoint) = self.service.endpoints();
        let key_files = self.key_files();
        let account = self.account.clone();
        let failed = |deactivated: bool, operation: &'static str, failure: IamFailure| {
            RotateError::DeleteFailed(Box::new(RetireFailure {
                account: account.clone(),
                user: journal.user.clone(),
                old_key: old.to_string(),
                new_key: journal.new_access_key_id.clone(),
                key_files: key_files.clone(),
                deactivated,
                failure: IamStepFailure {
                    operation,
                    endpoint: endpoint.clone(),
                    failure,
                },
            }))
        };
        let pause = self.retry_pause;
        match retried(pause, || self.service.deactivate_key(&signer, user, old)) {
            Ok(()) => {}
            Err(IamFailure::NoSuchEntity) => return Ok(()),
            Err(f) => return Err(failed(false, "UpdateAccessKey", f)),
        }
        self.report.debug(format!(
            "account {}: access key {} is inactive",
            self.account,
            mask_key_id(old)
        ));
        match retried(pause, || self.service.delete_key(&signer, user, old)) {
            Ok(()) | Err(IamFailure::NoSuchEntity) => Ok(()),
            Err(f) => Err(failed(true, "DeleteAccessKey", f)),
        }
    }
}

/// A call tried up to three times while its failure is transient (IAM is eventually
/// consistent: a key just made inactive may not be deletable for a moment).
fn retried<T>(
    pause: Duration,
    mut call: impl FnMut() -> Result<T, IamFailure>,
) -> Result<T, IamFailure> {
    let mut tries = 0;
    loop {
        tries += 1;
        match call() {
            Err(f) if f.is_transient() && tries < 3 => std::thread::sleep(pause),
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests;
