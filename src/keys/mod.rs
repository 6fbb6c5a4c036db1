//! The credentials directory (DESIGN §2) and the one owner of the long-lived keys in it.
//!
//! An account's key is a pair: the access key id in `<account>.access_key` (plain: it is no
//! secret, and the session cache is bound to it) and the secret in the account's one
//! [`Store`] (DESIGN §13). [`AccountKeys`] is the seam everything else goes through: it says
//! where the key lives, reads the id alone (a cache hit needs nothing more), reads the pair
//! (only when STS must be called with the long-lived key, or the command gets it), and writes
//! the pair (`--rotate`). The stores: [`plain`] (`<account>.secret_key`) today; the age file
//! and the `key_process` of issue 21 are further [`Store`] variants, found in
//! [`Store::locate`], which is also the one place that refuses two stores for one account.
#![forbid(unsafe_code)]

pub mod add;
pub mod age;
pub mod age_file;
pub mod key_process;
pub mod passphrase;
pub mod plain;
pub mod process;

use crate::accounts::{self, AccountName, AccountsError};
use crate::env::Environment;
use crate::files::{self, DirectoryError, FileError, Kind, LockGuard};
use crate::report::Reporter;
use crate::secret::{Secret, is_access_key_id, mask_key_id};
use crate::session::Credentials;
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// Why an account's keys cannot be used; `Display` is the sentence for the user.
#[derive(Debug)]
pub enum KeysError {
    Missing {
        account: AccountName,
        missing: PathBuf,
        access_path: PathBuf,
        secret_path: PathBuf,
    },
    NotAKeyId(PathBuf),
    NotText(PathBuf),
    Empty(PathBuf),
    NotOneWord(PathBuf),
    /// Two stores hold a secret for one account: which one is meant is not stsexec's guess.
    TwoStores {
        account: AccountName,
        stores: Box<[Location; 2]>,
    },
    /// The store's key belongs to another access key id than `<account>.access_key` names.
    OtherKeyId(Box<OtherKeyId>),
    /// The access key id changed while this run was using it (a `--rotate` elsewhere).
    Changed {
        account: AccountName,
        was: String,
        now: String,
    },
    File(FileError),
    Directory(DirectoryError),
    /// The age store: a file that does not open, or no passphrase.
    Age(Box<crate::keys::age_file::AgeError>),
    /// The `key_process` store: a command that gave no key, or did not store one.
    KeyProcess(Box<crate::keys::key_process::KeyProcessError>),
    /// A journal holds a sealed secret but the account's store cannot open one (it changed).
    Sealed,
    /// A journal withheld the secret (the store was a `key_process`) but the account's store
    /// no longer says which key it holds (it changed).
    Withheld,
    /// `--rotate` on a `key_process` account without a `key_update_process`.
    NoUpdateProcess {
        account: String,
        command: crate::mfa::process::Shown,
    },
}

impl fmt::Display for KeysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeysError::Missing {
                account,
                missing,
                access_path,
                secret_path,
            } => write!(
                f,
                "no keys for account {account}: {} does not exist; put the access key id in {} and the secret access key in {} (chmod 600)",
                missing.display(),
                access_path.display(),
                secret_path.display()
            ),
            KeysError::NotAKeyId(path) => write!(
                f,
                "{} does not hold an access key id (16 to 128 letters and digits, like AKIA…); put the account's access key id there",
                path.display()
            ),
            KeysError::NotText(path) => write!(
                f,
                "{} holds characters that are not part of a key (not text, or control characters); write only the key there",
                path.display()
            ),
            KeysError::Empty(path) => write!(f, "{} is empty; write the key there", path.display()),
            KeysError::NotOneWord(path) => write!(
                f,
                "{} holds more than one word; it should hold only the key",
                path.display()
            ),
            KeysError::TwoStores { account, stores } => write!(
                f,
                "account {account} has two key stores, {} and {}; keep one of them",
                stores[0], stores[1]
            ),
            KeysError::OtherKeyId(other) => {
                let OtherKeyId {
                    account,
                    access_path,
                    expected,
                    found,
                    store,
                } = other.as_ref();
                write!(
                    f,
                    "the {store} of account {account} holds the key {}, but {} names {}; put the matching access key id there",
                    mask_key_id(found),
                    access_path.display(),
                    mask_key_id(expected)
                )
            }
            KeysError::Changed { account, was, now } => write!(
                f,
                "the access key of account {account} changed from {} to {} while stsexec was using it (a --rotate elsewhere?); run again",
                mask_key_id(was),
                mask_key_id(now)
            ),
            KeysError::File(e) => e.fmt(f),
            KeysError::Directory(e) => e.fmt(f),
            KeysError::Age(e) => e.fmt(f),
            KeysError::Sealed => f.write_str(
                "the rotation journal holds the new secret key encrypted, but the account's key store is no longer an age file; restore the age file, then run --rotate again",
            ),
            KeysError::Withheld => f.write_str(
                "the rotation journal holds no secret key (the account's key_process keeps it), but the account's key store is no longer a key_process; restore the key_process entry in the accounts file, then run --rotate again",
            ),
            KeysError::KeyProcess(e) => e.fmt(f),
            KeysError::NoUpdateProcess { account, command } => write!(
                f,
                "account {account} gets its key from the key command {command}, and without a key_update_process (a command that stores the new key's JSON from its stdin) --rotate could not store a new key; add one to the account's entry, nothing was changed"
            ),
        }
    }
}

impl std::error::Error for KeysError {}

/// A store holding the key of another access key id than `<account>.access_key` names.
#[derive(Debug)]
pub struct OtherKeyId {
    pub account: AccountName,
    pub access_path: PathBuf,
    pub expected: String,
    pub found: String,
    pub store: Location,
}

impl From<FileError> for KeysError {
    fn from(e: FileError) -> Self {
        KeysError::File(e)
    }
}

type Result<T> = std::result::Result<T, KeysError>;

/// The credentials directory: `--creds-dir`, `$STSEXEC_CREDS_DIR`, else `~/aws-creds`.
#[derive(Debug, Clone)]
pub struct CredsDir {
    pub path: PathBuf,
}

impl CredsDir {
    pub fn new(path: PathBuf) -> Self {
        CredsDir { path }
    }

    pub fn file(&self, account: &AccountName, suffix: &str) -> PathBuf {
        self.path.join(format!("{account}.{suffix}"))
    }

    /// Refuses a directory that another user owns or others could plant files in: whoever
    /// can write there can replace the keys or the cached sessions.
    pub fn check(&self, home: Option<&Path>) -> std::result::Result<(), DirectoryError> {
        files::check_directory_chain(&self.path, home)
    }

    /// Accounts that have an `<account>.access_key` file.
    pub fn accounts_with_keys(&self) -> Vec<AccountName> {
        let Ok(entries) = std::fs::read_dir(&self.path) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name();
                let account = name.to_str()?.strip_suffix(".access_key")?;
                let parsed = AccountName::parse_str(account).ok()?;
                (parsed.as_str() == account).then_some(parsed)
            })
            .collect()
    }

    /// Whether the account has key files (for telling a known account from a typo).
    pub fn has_keys(&self, account: &AccountName) -> bool {
        self.file(account, "access_key").symlink_metadata().is_ok()
            || !Store::candidates(self, account, &StoreConfig::default()).is_empty()
    }

    /// [`CredsDir::keys_with`] for an account with no `key_process` and no identity files.
    pub fn keys(&self, account: &AccountName) -> Result<AccountKeys> {
        self.keys_with(account, &StoreConfig::default())
    }

    /// The account's key: where its id and its store are. Nothing is read yet (a cache hit
    /// reads the id alone, later); a missing id file, no store or two stores are refused now.
    pub fn keys_with(&self, account: &AccountName, config: &StoreConfig) -> Result<AccountKeys> {
        let access_path = self.file(account, "access_key");
        let missing = |path: PathBuf| KeysError::Missing {
            account: account.clone(),
            missing: path,
            access_path: access_path.clone(),
            secret_path: self.file(account, plain::SUFFIX),
        };
        if access_path.symlink_metadata().is_err() {
            return Err(missing(access_path.clone()));
        }
        let Some(store) = Store::locate(self, account, config)? else {
            // What is wrong with the id file (a FIFO, a link, garbage) comes first, as when
            // both files were read at once.
            read_word(&access_path, Kind::AccessKey)?;
            return Err(missing(self.file(account, plain::SUFFIX)));
        };
        Ok(AccountKeys {
            account: account.clone(),
            access_path,
            store,
            key_id: None,
        })
    }

    /// The IAM user: `<account>.user`, else the accounts file's `user`, else `USER`, else
    /// `LOGNAME`. Only the default MFA device and the default session name need it, so
    /// callers ask for it only there (a container without `USER` runs with long-lived keys).
    pub fn iam_user(
        &self,
        account: &AccountName,
        entry: Option<&accounts::Account>,
        current: &Environment,
    ) -> std::result::Result<String, UserError> {
        let user_file = self.file(account, "user");
        match read_word(&user_file, Kind::UserFile) {
            Ok(Some(user)) if accounts::is_valid_user_name(&user) => return Ok(user.to_string()),
            Ok(Some(_)) => {
                return Err(UserError::Accounts(AccountsError::InvalidUser {
                    source: user_file.display().to_string(),
                    user_file,
                }));
            }
            Ok(None) => {}
            Err(e) => return Err(UserError::Keys(e)),
        }
        if let Some(user) = entry.and_then(|a| a.user.clone()) {
            return Ok(user);
        }
        for variable in ["USER", "LOGNAME"] {
            if let Some(value) = current.get_os(variable).filter(|v| !v.is_empty()) {
                return match value.to_str().filter(|u| accounts::is_valid_user_name(u)) {
                    Some(user) => Ok(user.to_string()),
                    None => Err(UserError::Accounts(AccountsError::InvalidUser {
                        source: format!(
                            "{variable}={:?}",
                            accounts::shown(&value.to_string_lossy())
                        ),
                        user_file,
                    })),
                };
            }
        }
        Err(UserError::Accounts(AccountsError::NoUser {
            account: account.clone(),
            user_file,
        }))
    }
}

/// Why the IAM user is unknown: a bad `.user` file, or nothing names the user.
#[derive(Debug)]
pub enum UserError {
    Keys(KeysError),
    Accounts(AccountsError),
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserError::Keys(e) => e.fmt(f),
            UserError::Accounts(e) => e.fmt(f),
        }
    }
}

/// Where a key lives, as messages and `--list` name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// What it is: "secret key file" (issue 21: "age file", "key_process").
    pub what: &'static str,
    /// Where: a path, or a command and the accounts file that names it.
    pub place: String,
    /// Readable by any program the user runs (`--list` marks it).
    pub plain: bool,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.what, self.place)
    }
}

/// An account's id file and its store, as a message names them: "<id file> and <place>".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPlaces {
    pub access: PathBuf,
    pub store: Location,
}

impl KeyPlaces {
    /// The seed's two plain files, as messages name them where no store was looked up.
    pub fn plain_files(access: PathBuf, secret: &Path) -> KeyPlaces {
        KeyPlaces {
            access,
            store: Location {
                what: Kind::SecretKey.describe(),
                place: secret.display().to_string(),
                plain: true,
            },
        }
    }
}

impl fmt::Display for KeyPlaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} and {}", self.access.display(), self.store.place)
    }
}

/// What a store may need while it reads: who to tell, and the lock whose holder record says
/// what this run is doing (a passphrase prompt or a `key_process` says so there). `lock` is
/// `None` only where no STS call follows (the long-lived keys go to the command as they are).
#[derive(Clone, Copy)]
pub struct ReadContext<'a> {
    pub report: Reporter,
    pub lock: Option<&'a LockGuard>,
}

/// A secret as a store gives it back. `access_key_id`: the id the store itself holds beside
/// the secret (a `key_process`'s JSON does), checked against `<account>.access_key` by
/// [`AccountKeys::read`]; `None` for stores that hold the secret alone.
pub struct StoredSecret {
    pub secret: Secret,
    pub access_key_id: Option<String>,
}

/// How `--rotate`'s journal keeps the new secret (DESIGN §13: "never in plaintext when the
/// store is not plain").
#[derive(Debug)]
pub enum Sealing {
    /// The store keeps secrets in plain (`<account>.secret_key`): so may the journal.
    Plain,
    /// The secret sealed as the store keeps it: an armored age file, opened by
    /// [`SecretStore::unseal`].
    Sealed(String),
    /// The store has nothing to encrypt to (a `key_process`): the journal holds no secret. A
    /// resumed rotation finds the new secret in the store, or knows it was lost.
    Withheld,
}

/// What each store does; [`Store`] dispatches to it. Implementations read and write only
/// their own file or command; the id file, the pair's consistency and the choice of store are
/// [`AccountKeys`]'s and [`Store::locate`]'s.
pub trait SecretStore {
    /// Where the secret lives.
    fn location(&self) -> Location;

    /// Whether the store looks usable, for `--list`: never prompts, decrypts or runs anything.
    fn check(&self) -> Result<()>;

    /// The secret. Bad content is a [`KeysError`] naming the file or command; callers about to
    /// call STS hold the account's lock (`cx.lock`), so parallel runs read (and ask) once.
    fn read(&self, cx: &ReadContext<'_>) -> Result<StoredSecret>;

    /// Gets ready to write before anything changes: asks what [`SecretStore::write`] will need
    /// (the passphrase to re-encrypt to, asked once) or refuses (a `key_process` without a
    /// `key_update_process`). `--rotate` calls it under the lock before CreateAccessKey; a
    /// store keeps what it asked for itself (interior mutability: `&self`).
    fn prepare_write(&self, _cx: &ReadContext<'_>) -> Result<()> {
        Ok(())
    }

    /// Replaces the secret with `pair`'s (atomically, owner-only; a store that holds the id
    /// too writes both). Callers hold the account's lock; [`AccountKeys::write`] then replaces
    /// the id file.
    fn write(&self, lock: &LockGuard, pair: &Credentials) -> Result<()>;

    /// How `--rotate`'s journal may keep a new secret for this store (see [`Sealing`]): in
    /// plain for a plain store, sealed as the store keeps it (an armored age file), or not at
    /// all. Called after [`SecretStore::prepare_write`].
    fn seal(&self, _secret: &Secret) -> Result<Sealing> {
        Ok(Sealing::Plain)
    }

    /// Opens what [`SecretStore::seal`] made.
    fn unseal(&self, _sealed: &str, _cx: &ReadContext<'_>) -> Result<Secret> {
        Err(KeysError::Sealed)
    }
}

/// What the accounts file and the environment say about an account's stores: its
/// `key_process` / `key_update_process`, the identity files that open its age file
/// (`age_identity`, else `STSEXEC_AGE_IDENTITY`), and what a command or a prompt needs (the
/// environment snapshot, the time limits).
#[derive(Debug, Clone, Default)]
pub struct StoreConfig {
    pub key_process: Option<crate::mfa::process::Shown>,
    pub key_update_process: Option<crate::mfa::process::Shown>,
    pub age_identities: Vec<PathBuf>,
    pub env: Environment,
    pub settings: Option<crate::mfa::Settings>,
}

impl StoreConfig {
    /// From the account's entry (if any) in `accounts_file`, and the environment.
    pub fn new(
        entry: Option<&accounts::Account>,
        accounts_file: Option<&Path>,
        current: &Environment,
        settings: crate::mfa::Settings,
    ) -> StoreConfig {
        let origin = |field: &str| match accounts_file {
            Some(path) => format!("{field} in {}", path.display()),
            None => format!("{field} in the accounts file"),
        };
        let shown = |command: Option<&String>, field: &str| {
            command.map(|c| crate::mfa::process::Shown {
                command: c.clone(),
                origin: origin(field),
            })
        };
        let home = current.get_os("HOME").map(PathBuf::from);
        let identities = entry
            .and_then(|e| e.age_identity.as_deref())
            .or_else(|| current.get("STSEXEC_AGE_IDENTITY"))
            .map(|v| crate::keys::age_file::identity_paths(v, home.as_deref()))
            .unwrap_or_default();
        StoreConfig {
            key_process: shown(entry.and_then(|e| e.key_process.as_ref()), "key_process"),
            key_update_process: shown(
                entry.and_then(|e| e.key_update_process.as_ref()),
                "key_update_process",
            ),
            age_identities: identities,
            env: current.clone(),
            settings: Some(settings),
        }
    }
}

/// The store holding an account's secret: one per account (DESIGN §13).
#[derive(Debug, Clone)]
pub enum Store {
    /// `<account>.secret_key`: the seed's plain file.
    Plain(plain::PlainFile),
    /// `<account>.secret_key.age`: the secret in an age file.
    Age(age::AgeStore),
    /// The accounts file's `key_process`.
    Process(process::ProcessStore),
}

impl Store {
    /// Every store present for the account: only `stat`s and the accounts file's entry,
    /// nothing is opened or run.
    fn candidates(creds: &CredsDir, account: &AccountName, config: &StoreConfig) -> Vec<Store> {
        let mut found = Vec::new();
        let settings = config.settings.unwrap_or(crate::mfa::Settings::DEFAULT);
        let plain = plain::PlainFile::new(creds.file(account, plain::SUFFIX));
        if plain.exists() {
            found.push(Store::Plain(plain));
        }
        let age = age::AgeStore::new(
            account.as_str(),
            creds.file(account, age::SUFFIX),
            config.age_identities.clone(),
            settings,
        );
        if age.exists() {
            found.push(Store::Age(age));
        }
        if let Some(command) = &config.key_process {
            found.push(Store::Process(process::ProcessStore {
                account: account.to_string(),
                command: command.clone(),
                update: config.key_update_process.clone(),
                env: config.env.clone(),
                settings,
            }));
        }
        found
    }

    /// The account's one store; `None` when it has none; two or more are refused, naming them.
    pub fn locate(
        creds: &CredsDir,
        account: &AccountName,
        config: &StoreConfig,
    ) -> Result<Option<Store>> {
        let mut found = Self::candidates(creds, account, config).into_iter();
        let first = found.next();
        match (first, found.next()) {
            (Some(first), Some(second)) => Err(KeysError::TwoStores {
                account: account.clone(),
                stores: Box::new([first.location(), second.location()]),
            }),
            (first, None) => Ok(first),
            (None, Some(_)) => unreachable!("a second store without a first"),
        }
    }

    fn inner(&self) -> &dyn SecretStore {
        match self {
            Store::Plain(store) => store,
            Store::Age(store) => store,
            Store::Process(store) => store,
        }
    }

    pub fn location(&self) -> Location {
        self.inner().location()
    }
}

/// An account's long-lived key, behind the seam: the id file and the one store.
#[derive(Debug, Clone)]
pub struct AccountKeys {
    account: AccountName,
    access_path: PathBuf,
    store: Store,
    /// The id as [`AccountKeys::read_key_id`] last read it.
    key_id: Option<String>,
}

impl AccountKeys {
    pub fn account(&self) -> &AccountName {
        &self.account
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The id file and the store, as a message names them ("… and …").
    pub fn describe(&self) -> KeyPlaces {
        KeyPlaces {
            access: self.access_path.clone(),
            store: self.store.location(),
        }
    }

    /// Reads `<account>.access_key` (checked, the shape of an access key id) and remembers it
    /// as this run's id: every session is bound to it. Reads no secret.
    pub fn read_key_id(&mut self) -> Result<&str> {
        let id = self.id_from_file()?;
        Ok(self.key_id.insert(id))
    }

    /// The id [`AccountKeys::read_key_id`] last read, if it has been.
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// Reads `<account>.access_key` now, without remembering it (`--rotate` compares it with
    /// its journal).
    pub fn id_from_file(&self) -> Result<String> {
        let id =
            read_word(&self.access_path, Kind::AccessKey)?.ok_or_else(|| KeysError::Missing {
                account: self.account.clone(),
                missing: self.access_path.clone(),
                access_path: self.access_path.clone(),
                secret_path: self.store.location().place.into(),
            })?;
        if !is_access_key_id(&id) {
            return Err(KeysError::NotAKeyId(self.access_path.clone()));
        }
        Ok(id.to_string())
    }

    /// Whether the pair looks usable, for `--list` (no prompt, no decryption, no command).
    pub fn check(&self) -> Result<()> {
        self.id_from_file()?;
        self.store.inner().check()
    }

    /// The pair: the id file read again and the store's secret. When this run already read
    /// the id ([`AccountKeys::read_key_id`]) and it has changed since, the pair would not be
    /// the key the run's sessions are bound to: refused. A store that holds an id must hold
    /// the id file's.
    pub fn read(&self, cx: &ReadContext<'_>) -> Result<Credentials> {
        let id = self.id_from_file()?;
        if let Some(was) = &self.key_id
            && *was != id
        {
            return Err(KeysError::Changed {
                account: self.account.clone(),
                was: was.clone(),
                now: id,
            });
        }
        let stored = self.store.inner().read(cx)?;
        if let Some(found) = stored.access_key_id
            && found != id
        {
            return Err(KeysError::OtherKeyId(Box::new(OtherKeyId {
                account: self.account.clone(),
                access_path: self.access_path.clone(),
                expected: id,
                found,
                store: self.store.location(),
            })));
        }
        Ok(Credentials {
            access_key_id: id,
            secret_access_key: stored.secret,
            session_token: None,
            expiration: None,
        })
    }

    /// Removes the temp files a killed writer of the account's key files left
    /// (`work.secret_key~tmp~<pid>~<nanos>`: a `--rotate` killed before a rename). Every writer
    /// holds the account's lock, so under it such a file is stale; it may hold a secret.
    /// Returns how many were removed.
    pub fn remove_stale_temp_files(&self, _lock: &LockGuard) -> usize {
        let Some(dir) = self.access_path.parent() else {
            return 0;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let prefix = format!("{}.", self.account);
        entries
            .flatten()
            .filter(|entry| {
                let name = entry.file_name();
                let Some((file, pid_nanos)) =
                    name.to_str().and_then(|n| n.split_once(files::TEMP_MARKER))
                else {
                    return false;
                };
                let Some(suffix) = file.strip_prefix(&prefix) else {
                    return false;
                };
                let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
                (suffix == "access_key" || suffix.starts_with(plain::SUFFIX))
                    && pid_nanos
                        .split_once('~')
                        .is_some_and(|(pid, nanos)| digits(pid) && digits(nanos))
            })
            .filter(|entry| files::remove(&entry.path(), Kind::SecretKey).is_ok())
            .count()
    }

    /// The same key whose store never prompts or lends the terminal (a passphrase given earlier
    /// in this run is still used): `--server`'s renewals run while the command owns the terminal.
    #[must_use]
    pub fn non_interactive(mut self) -> Self {
        self.store = match self.store {
            Store::Age(store) => Store::Age(store.non_interactive()),
            Store::Process(mut store) => {
                store.settings.take_terminal = false;
                Store::Process(store)
            }
            plain @ Store::Plain(_) => plain,
        };
        self
    }

    /// How a journal may keep the secret (see [`SecretStore::seal`]).
    pub fn seal(&self, secret: &Secret) -> Result<Sealing> {
        self.store.inner().seal(secret)
    }

    /// What the store itself holds, not checked against `<account>.access_key`: its secret and
    /// the id it keeps beside it (a `key_process`'s JSON; `None` for a file that holds the
    /// secret alone). `--rotate` resuming a journal that withheld the secret asks the store
    /// which key it holds. Callers hold the account's lock.
    pub fn read_store(&self, cx: &ReadContext<'_>) -> Result<StoredSecret> {
        self.store.inner().read(cx)
    }

    /// Opens what [`AccountKeys::seal`] made.
    pub fn unseal(&self, sealed: &str, cx: &ReadContext<'_>) -> Result<Secret> {
        self.store.inner().unseal(sealed, cx)
    }

    /// Gets the store ready to take a new pair (see [`SecretStore::prepare_write`]), before
    /// anything changes. Callers hold the account's lock.
    pub fn prepare_write(&self, cx: &ReadContext<'_>) -> Result<()> {
        self.store.inner().prepare_write(cx)
    }

    /// Replaces the pair: the store's secret first, then the id file (each atomically,
    /// owner-only), so a crash between leaves the new secret beside the old id, which
    /// `--rotate`'s journal recognises. Callers hold the account's lock.
    pub fn write(&self, lock: &LockGuard, pair: &Credentials) -> Result<()> {
        self.store.inner().write(lock, pair)?;
        files::write_atomically(
            &self.access_path,
            Kind::AccessKey,
            format!("{}\n", pair.access_key_id).as_bytes(),
        )?;
        Ok(())
    }
}

/// A key file's one word, trimmed; `None` when the file does not exist.
pub(crate) fn read_word(path: &Path, kind: Kind) -> Result<Option<Zeroizing<String>>> {
    let Some(bytes) = files::read(path, kind)? else {
        return Ok(None);
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| KeysError::NotText(path.to_path_buf()))?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(KeysError::Empty(path.to_path_buf()));
    }
    if trimmed.chars().any(char::is_whitespace) {
        return Err(KeysError::NotOneWord(path.to_path_buf()));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(KeysError::NotText(path.to_path_buf()));
    }
    Ok(Some(Zeroizing::new(trimmed.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    fn setup() -> (tempfile::TempDir, CredsDir, AccountName) {
        let dir = tempfile::tempdir().unwrap();
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o700)).unwrap();
        let creds = CredsDir::new(dir.path().to_path_buf());
        (dir, creds, AccountName::parse_str("work").unwrap())
    }

    fn write(path: &Path, text: &str, mode: u32) {
        fs::write(path, text).unwrap();
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// The pair, read without a lock (as the long-lived keys for the command are).
    fn load(creds: &CredsDir, account: &AccountName) -> Result<Credentials> {
        creds.keys(account)?.read(&ReadContext {
            report: Reporter::new(true, false),
            lock: None,
        })
    }

    #[test]
    fn keys_are_trimmed() {
        let (_dir, creds, work) = setup();
        write(
            &creds.file(&work, "access_key"),
            " AKIAIOSFODNN7EXAMPLE\n",
            0o644,
        );
        write(
            &creds.file(&work, "secret_key"),
            "wJalr/K7MDENG+bPxRfiCY\n\n",
            0o600,
        );
        let keys = load(&creds, &work).unwrap();
        assert_eq!(keys.access_key_id, "AKIAIOSFODNN7EXAMPLE");
        assert_eq!(keys.secret_access_key.expose(), "wJalr/K7MDENG+bPxRfiCY");
        assert!(!keys.is_session());
    }

    #[test]
    fn open_secret_key_is_refused_with_the_fix() {
        let (_dir, creds, work) = setup();
        write(
            &creds.file(&work, "access_key"),
            "AKIAIOSFODNN7EXAMPLE",
            0o644,
        );
        write(&creds.file(&work, "secret_key"), "SECRETMARKER", 0o640);
        let err = load(&creds, &work).unwrap_err().to_string();
        assert!(
            err.contains("work.secret_key") && err.contains("chmod 600"),
            "{err}"
        );
        assert!(!err.contains("SECRETMARKER"));
    }

    #[test]
    fn missing_keys_name_the_file() {
        let (_dir, creds, work) = setup();
        let err = load(&creds, &work).unwrap_err().to_string();
        assert!(
            err.contains("work.access_key") && err.contains("no keys for account work"),
            "{err}"
        );
        write(
            &creds.file(&work, "access_key"),
            "AKIAIOSFODNN7EXAMPLE",
            0o644,
        );
        let err = load(&creds, &work).unwrap_err().to_string();
        assert!(err.contains("work.secret_key does not exist"), "{err}");
    }

    #[test]
    fn malformed_key_files_are_refused() {
        let (_dir, creds, work) = setup();
        write(&creds.file(&work, "access_key"), "not-a-key", 0o644);
        write(&creds.file(&work, "secret_key"), "x", 0o600);
        assert!(
            load(&creds, &work)
                .unwrap_err()
                .to_string()
                .contains("access key id")
        );
        write(
            &creds.file(&work, "access_key"),
            "AKIAIOSFODNN7EXAMPLE",
            0o644,
        );
        write(&creds.file(&work, "secret_key"), "  \n", 0o600);
        assert!(
            load(&creds, &work)
                .unwrap_err()
                .to_string()
                .contains("is empty")
        );
        write(&creds.file(&work, "secret_key"), "abc\0def", 0o600);
        assert!(matches!(load(&creds, &work), Err(KeysError::NotText(_))));
    }

    #[test]
    fn the_pair_is_the_key_the_run_is_bound_to_and_two_stores_are_refused() {
        let (_dir, creds, work) = setup();
        write(
            &creds.file(&work, "access_key"),
            "AKIAOLDOLDOLDOLD1234",
            0o644,
        );
        write(&creds.file(&work, "secret_key"), "old-secret", 0o600);
        let mut keys = creds.keys(&work).unwrap();
        assert_eq!(keys.read_key_id().unwrap(), "AKIAOLDOLDOLDOLD1234");
        assert_eq!(
            keys.describe().to_string(),
            format!(
                "{} and {}",
                creds.file(&work, "access_key").display(),
                creds.file(&work, "secret_key").display()
            )
        );
        assert!(keys.store().location().plain);
        // Replaced between the id and the secret: the pair is refused, never mixed.
        write(
            &creds.file(&work, "access_key"),
            "AKIANEWNEWNEWNEW0001",
            0o644,
        );
        let cx = ReadContext {
            report: Reporter::new(true, false),
            lock: None,
        };
        let err = keys.read(&cx).unwrap_err().to_string();
        assert!(err.contains("changed from AKIA…1234 to AKIA…0001"), "{err}");
        keys.read_key_id().unwrap();
        assert_eq!(
            keys.read(&cx).unwrap().access_key_id,
            "AKIANEWNEWNEWNEW0001"
        );
        // Written through the seam: secret, then id, both owner-only.
        let lock = crate::files::lock(&creds.path.join("lock"), |_| {}).unwrap();
        let pair = Credentials {
            access_key_id: "AKIATHIRDTHIRD000003".into(),
            secret_access_key: Secret::new("third-secret"),
            session_token: None,
            expiration: None,
        };
        keys.write(&lock, &pair).unwrap();
        let again = load(&creds, &work).unwrap();
        assert_eq!(again.access_key_id, "AKIATHIRDTHIRD000003");
        assert_eq!(again.secret_access_key.expose(), "third-secret");
        for suffix in ["access_key", "secret_key"] {
            let mode = fs::metadata(creds.file(&work, suffix))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Two stores for one account: both named, nothing read.
        let two = KeysError::TwoStores {
            account: work.clone(),
            stores: Box::new([
                keys.store().location(),
                Location {
                    what: "age file",
                    place: "/h/work.secret_key.age".into(),
                    plain: false,
                },
            ]),
        };
        assert_eq!(
            two.to_string(),
            format!(
                "account work has two key stores, secret key file {} and age file /h/work.secret_key.age; keep one of them",
                creds.file(&work, "secret_key").display()
            )
        );
    }

    #[test]
    fn temp_files_a_killed_writer_left_are_removed_under_the_lock() {
        // Issue 20 item 11: a rotation killed before a rename left these for ever.
        let (_dir, creds, work) = setup();
        write(
            &creds.file(&work, "access_key"),
            "AKIAOLDOLDOLDOLD1234",
            0o644,
        );
        write(&creds.file(&work, "secret_key"), "old-secret", 0o600);
        let stale = [
            "work.secret_key~tmp~4242~123456789",
            "work.access_key~tmp~4242~123456790",
            "work.secret_key.age~tmp~1~2",
        ];
        let kept = [
            "play.secret_key~tmp~4242~1",
            "work.user~tmp~4242~1",
            "work.secret_key~tmp~x~1",
            "work.secret_key",
            "work.access_key",
        ];
        for name in stale.iter().chain(&kept[..3]) {
            write(&creds.path.join(name), "SECRETMARKER", 0o600);
        }
        let keys = creds.keys(&work).unwrap();
        let lock = crate::files::lock(&creds.path.join("lock"), |_| {}).unwrap();
        assert_eq!(keys.remove_stale_temp_files(&lock), 3);
        for name in stale {
            assert!(!creds.path.join(name).exists(), "{name}");
        }
        for name in kept {
            assert!(creds.path.join(name).exists(), "{name}");
        }
    }

    #[test]
    fn the_user_comes_from_the_file_the_entry_or_the_environment() {
        let (_dir, creds, work) = setup();
        let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
        let user = |current: &Environment| {
            creds
                .iam_user(&work, None, current)
                .map_err(|e| e.to_string())
        };
        assert_eq!(user(&env(&[("USER", "jb")])).unwrap(), "jb");
        assert_eq!(user(&env(&[("LOGNAME", "lg")])).unwrap(), "lg");
        let d = creds.path.display();
        assert_eq!(
            user(&env(&[])).unwrap_err(),
            format!(
                "cannot tell the IAM user of account work: neither USER nor LOGNAME is set; write it to {d}/work.user, or give --session-name and an mfa_serial"
            )
        );
        assert_eq!(
            user(&env(&[("USER", "j b")])).unwrap_err(),
            format!(
                "USER=\"j b\" is not an IAM user name (1 to 64 of letters, digits and _+=,.@-); write the IAM user to {d}/work.user"
            )
        );
        write(&creds.file(&work, "user"), "file-user\n", 0o644);
        assert_eq!(user(&env(&[("USER", "jb")])).unwrap(), "file-user");
        write(&creds.file(&work, "user"), "a,b;c", 0o644);
        assert!(
            user(&env(&[("USER", "jb")]))
                .unwrap_err()
                .contains("work.user is not an IAM user name")
        );
    }

    #[test]
    fn directory_writable_by_others_is_refused() {
        let (dir, creds, _) = setup();
        assert!(creds.check(None).is_ok());
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let err = creds.check(None).unwrap_err().to_string();
        assert!(err.contains("chmod go-w"), "{err}");
        let missing = CredsDir::new(dir.path().join("nope"));
        let err = missing.check(None).unwrap_err().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }
}
