//! `<account>.secret_key.age` (DESIGN §13): the secret access key in an age v1 file, the format
//! the `age` and `rage` tools read and write (binary or armored). Encrypted either to a
//! passphrase (scrypt) or to the recipients of the account's identity file(s) (`age_identity`,
//! `STSEXEC_AGE_IDENTITY`): X25519 keys from `age-keygen`, or plugin identities
//! (`age-plugin-yubikey`, `age-plugin-tpm`) that the age crate runs.
//!
//! Every file goes through `private_file` (no-follow, regular, owner-only, 64 KiB cap). Bad
//! input — a wrong passphrase, a damaged, truncated, huge or foreign file, an identity that does
//! not match — is an [`AgeError`] whose `Display` is one sentence naming the file, reached in
//! bounded time: the scrypt work factor a file may ask for is capped ([`MAX_WORK_FACTOR`]), so a
//! hostile file cannot make stsexec spend minutes and gigabytes. Nothing is written on failure.
#![forbid(unsafe_code)]

use super::passphrase::{Passphrase, PassphraseError, Passphrases};
use crate::files::{self, FileError, Kind};
use crate::mfa::prompt::Terminal;
use crate::secret::Secret;
use crate::text;
use age::armor::{ArmoredReader, ArmoredWriter, Format};
use age::{DecryptError, Decryptor, Encryptor, Identity, IdentityFile};
use std::fmt;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;
use zeroize::Zeroizing;

/// The scrypt work factor stsexec writes: N = 2^18 (256 MiB, under a second), what `age -p`
/// uses.
pub const WORK_FACTOR: u8 = 18;
/// The largest scrypt work factor a file may ask for: N = 2^20 (1 GiB, a few seconds). A file
/// asking for more is refused before any work (2^22 would be 4 GiB; each step doubles both).
pub const MAX_WORK_FACTOR: u8 = 20;
/// A secret access key is 40 characters; allow a newline and some slack.
const MAX_PLAINTEXT: u64 = 4096;

/// What opens (or locks) the file.
#[derive(Debug, Clone)]
pub enum Lock {
    /// A passphrase (scrypt).
    Passphrase(Passphrase),
    /// The recipients of these identity files.
    Identities(Vec<PathBuf>),
}

/// The age file of one account.
#[derive(Debug, Clone)]
pub struct AgeFile {
    pub account: String,
    pub path: PathBuf,
}

impl AgeFile {
    pub fn new(account: &str, path: PathBuf) -> AgeFile {
        AgeFile {
            account: account.to_string(),
            path,
        }
    }

    /// Whether the file is there (a symbolic link or anything else counts: reading it will say
    /// what is wrong).
    pub fn exists(&self) -> bool {
        self.path.symlink_metadata().is_ok()
    }

    /// The secret: with the passphrase from `passphrases` (up to its tries) when the file is
    /// encrypted to one, else with `identities`.
    pub fn decrypt(
        &self,
        identities: &[PathBuf],
        passphrases: &mut dyn Passphrases,
    ) -> Result<Secret, AgeError> {
        let bytes = files::read(&self.path, Kind::AgeFile)
            .map_err(AgeError::File)?
            .ok_or_else(|| AgeError::Missing {
                path: self.path.clone(),
            })?;
        self.decrypt_bytes(&bytes, identities, passphrases)
    }

    /// [`AgeFile::decrypt`] of bytes already read (the fuzz target's way in).
    pub fn decrypt_bytes(
        &self,
        bytes: &[u8],
        identities: &[PathBuf],
        passphrases: &mut dyn Passphrases,
    ) -> Result<Secret, AgeError> {
        match looks_like_age(bytes) {
            Some(true) => {}
            Some(false) => {
                return Err(AgeError::UnknownVersion {
                    path: self.path.clone(),
                });
            }
            None => {
                return Err(AgeError::NotAge {
                    path: self.path.clone(),
                });
            }
        }
        let header = self.open(bytes)?;
        if header.is_scrypt() {
            let mut retry = false;
            loop {
                let passphrase = passphrases.next(retry).map_err(|e| AgeError::Passphrase {
                    path: self.path.clone(),
                    error: e,
                })?;
                let mut identity = age::scrypt::Identity::new(passphrase.to_age());
                identity.set_max_work_factor(MAX_WORK_FACTOR);
                match self.decrypt_with(self.open(bytes)?, &identity) {
                    Err(AgeError::Undecryptable { .. }) => retry = true,
                    other => return other,
                }
            }
        }
        if identities.is_empty() {
            return Err(AgeError::NeedsIdentity {
                path: self.path.clone(),
            });
        }
        let loaded = load_identities(identities, &self.account)?;
        let result = self.decrypt_many(header, &loaded);
        match result {
            Err(AgeError::NoMatchingIdentity { path, .. }) => Err(AgeError::NoMatchingIdentity {
                path,
                identities: identities.to_vec(),
            }),
            other => other,
        }
    }

    fn open<'a>(
        &self,
        bytes: &'a [u8],
    ) -> Result<Decryptor<ArmoredReader<BufReader<&'a [u8]>>>, AgeError> {
        Decryptor::new(ArmoredReader::new(bytes)).map_err(|e| self.error(e))
    }

    fn decrypt_with(
        &self,
        decryptor: Decryptor<ArmoredReader<BufReader<&[u8]>>>,
        identity: &dyn Identity,
    ) -> Result<Secret, AgeError> {
        let reader = decryptor
            .decrypt(std::iter::once(identity))
            .map_err(|e| match e {
                // scrypt: the passphrase did not unwrap the file key.
                DecryptError::DecryptionFailed | DecryptError::KeyDecryptionFailed => {
                    AgeError::Undecryptable {
                        path: self.path.clone(),
                    }
                }
                e => self.error(e),
            })?;
        self.plaintext(reader)
    }

    fn decrypt_many(
        &self,
        decryptor: Decryptor<ArmoredReader<BufReader<&[u8]>>>,
        identities: &[Box<dyn Identity + Send + Sync>],
    ) -> Result<Secret, AgeError> {
        let reader = decryptor
            .decrypt(identities.iter().map(|i| i.as_ref() as &dyn Identity))
            .map_err(|e| self.error(e))?;
        self.plaintext(reader)
    }

    fn plaintext(&self, reader: impl Read) -> Result<Secret, AgeError> {
        let mut plain = Zeroizing::new(Vec::new());
        reader
            .take(MAX_PLAINTEXT + 1)
            .read_to_end(&mut plain)
            .map_err(|_| AgeError::Damaged {
                path: self.path.clone(),
            })?;
        if plain.len() as u64 > MAX_PLAINTEXT {
            return Err(AgeError::NotAKey {
                path: self.path.clone(),
            });
        }
        secret_from(&plain).ok_or_else(|| AgeError::NotAKey {
            path: self.path.clone(),
        })
    }

    fn error(&self, e: DecryptError) -> AgeError {
        let path = self.path.clone();
        match e {
            DecryptError::ExcessiveWork { required, .. } => {
                AgeError::TooMuchWork { path, required }
            }
            DecryptError::NoMatchingKeys => AgeError::NoMatchingIdentity {
                path,
                identities: Vec::new(),
            },
            DecryptError::UnknownFormat => AgeError::UnknownVersion { path },
            DecryptError::Plugin(errors) => AgeError::Plugin {
                path,
                message: text::clean(
                    &errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                    200,
                ),
            },
            DecryptError::PluginResolve(e) => AgeError::Plugin {
                path,
                message: text::clean(&e.to_string(), 200),
            },
            _ => AgeError::Damaged { path },
        }
    }

    /// Encrypts `secret` with `lock` and writes the file atomically (owner-only), then reads
    /// it back with the same lock and compares: the file on disk is proven to open before the
    /// caller removes anything else. A plugin identity may ask for its touch twice.
    pub fn write(&self, secret: &Secret, lock: &Lock) -> Result<(), AgeError> {
        self.write_with(secret, lock, WORK_FACTOR)
    }

    /// [`AgeFile::write`] with another scrypt work factor (tests: a small one).
    pub(crate) fn write_with(
        &self,
        secret: &Secret,
        lock: &Lock,
        work_factor: u8,
    ) -> Result<(), AgeError> {
        let bytes =
            encrypt(secret, lock, work_factor, &self.account).map_err(|why| AgeError::Encrypt {
                path: self.path.clone(),
                why,
            })?;
        files::write_atomically(&self.path, Kind::AgeFile, &bytes).map_err(AgeError::Write)?;
        self.verify(secret, lock)
    }

    /// Decrypts the file with `lock` and compares with `secret`.
    pub fn verify(&self, secret: &Secret, lock: &Lock) -> Result<(), AgeError> {
        let read = match lock {
            Lock::Passphrase(passphrase) => self.decrypt(
                &[],
                &mut super::passphrase::Known {
                    account: self.account.clone(),
                    passphrase: passphrase.clone(),
                },
            ),
            Lock::Identities(paths) => self.decrypt(paths, &mut NoPassphrase(&self.account)),
        }?;
        if read.expose() == secret.expose() {
            Ok(())
        } else {
            Err(AgeError::Mismatch {
                path: self.path.clone(),
            })
        }
    }
}

/// A file encrypted to recipients needs no passphrase; one that is encrypted to a passphrase
/// after all is an error here, not a prompt.
struct NoPassphrase<'a>(&'a str);

impl Passphrases for NoPassphrase<'_> {
    fn next(&mut self, _retry: bool) -> Result<Passphrase, PassphraseError> {
        Err(PassphraseError::TooManyTries {
            account: self.0.to_string(),
        })
    }
}

/// `Some(true)`: an age v1 file, binary or armored; `Some(false)`: an age file of another
/// version; `None`: not an age file.
fn looks_like_age(bytes: &[u8]) -> Option<bool> {
    let start = bytes
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    if bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----") {
        Some(true)
    } else if bytes.starts_with(b"age-encryption.org/") {
        Some(bytes.starts_with(b"age-encryption.org/v1\n"))
    } else {
        None
    }
}

/// The decrypted text as a secret key: one word of printable ASCII, trimmed.
fn secret_from(plain: &[u8]) -> Option<Secret> {
    let text = std::str::from_utf8(plain).ok()?.trim();
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic())).then(|| Secret::new(text))
}

/// Why the key could not be encrypted; the part of [`AgeError::Encrypt`]'s sentence in
/// parentheses.
#[derive(Debug)]
pub enum EncryptFailure {
    /// An identity file the recipients come from is missing, unreadable or holds none.
    Identity(Box<AgeError>),
    /// The age crate refused the recipients (a plugin's, or none). Boxed: it is large.
    Recipients(Box<age::EncryptError>),
    /// Writing the encrypted, armored output failed (a plugin's wrapping fails here too).
    Output(std::io::Error),
}

impl fmt::Display for EncryptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncryptFailure::Identity(e) => e.fmt(f),
            // The age crate's and its plugins' words: foreign text, cleaned and capped.
            EncryptFailure::Recipients(e) => f.write_str(&text::clean(&e.to_string(), 200)),
            EncryptFailure::Output(e) => f.write_str(&text::clean(&e.to_string(), 200)),
        }
    }
}

/// Encrypts `secret` (armored, so the file is text) to `lock`. `work_factor` is scrypt's
/// (tests use a small one).
pub(crate) fn encrypt(
    secret: &Secret,
    lock: &Lock,
    work_factor: u8,
    account: &str,
) -> Result<Vec<u8>, EncryptFailure> {
    let encryptor = match lock {
        Lock::Passphrase(passphrase) => {
            let mut recipient = age::scrypt::Recipient::new(passphrase.to_age());
            recipient.set_work_factor(work_factor);
            Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| EncryptFailure::Recipients(Box::new(e)))?
        }
        Lock::Identities(paths) => {
            let mut recipients: Vec<Box<dyn age::Recipient + Send>> = Vec::new();
            for path in paths {
                let file = identity_file(path, account)
                    .map_err(|e| EncryptFailure::Identity(Box::new(e)))?;
                recipients.extend(
                    file.to_recipients()
                        .map_err(|e| EncryptFailure::Recipients(Box::new(e)))?,
                );
            }
            Encryptor::with_recipients(recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient))
                .map_err(|e| EncryptFailure::Recipients(Box::new(e)))?
        }
    };
    let armored = ArmoredWriter::wrap_output(Vec::new(), Format::AsciiArmor)
        .map_err(EncryptFailure::Output)?;
    let mut writer = encryptor
        .wrap_output(armored)
        .map_err(EncryptFailure::Output)?;
    writer
        .write_all(secret.expose().as_bytes())
        .map_err(EncryptFailure::Output)?;
    writer.write_all(b"\n").map_err(EncryptFailure::Output)?;
    writer
        .finish()
        .and_then(ArmoredWriter::finish)
        .map_err(EncryptFailure::Output)
}

/// Reads one identity file through the private-file checks.
fn identity_file(path: &Path, account: &str) -> Result<IdentityFile<PluginUi>, AgeError> {
    let bytes = files::read(path, Kind::AgeIdentity)
        .map_err(AgeError::IdentityFile)?
        .ok_or_else(|| AgeError::IdentityMissing {
            identity: path.to_path_buf(),
        })?;
    let file = IdentityFile::from_buffer(&bytes[..]).map_err(|_| AgeError::NotIdentities {
        identity: path.to_path_buf(),
    })?;
    Ok(file.with_callbacks(PluginUi {
        account: account.to_string(),
    }))
}

fn load_identities(
    paths: &[PathBuf],
    account: &str,
) -> Result<Vec<Box<dyn Identity + Send + Sync>>, AgeError> {
    let mut all = Vec::new();
    for path in paths {
        let identities = identity_file(path, account)?
            .into_identities()
            .map_err(|e| AgeError::Plugin {
                path: path.clone(),
                message: text::clean(&e.to_string(), 200),
            })?;
        if identities.is_empty() {
            return Err(AgeError::NotIdentities {
                identity: path.clone(),
            });
        }
        all.extend(identities);
    }
    Ok(all)
}

/// The identity files named by `STSEXEC_AGE_IDENTITY` or an account's `age_identity`: paths
/// separated by `:` (as `PATH`), `~/` meaning the home directory.
pub fn identity_paths(value: &str, home: Option<&Path>) -> Vec<PathBuf> {
    value
        .split(':')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| match (p.strip_prefix("~/"), home) {
            (Some(rest), Some(home)) => home.join(rest),
            _ => PathBuf::from(p),
        })
        .collect()
}

/// What a plugin (age-plugin-yubikey, -tpm) shows and asks: on the terminal ("touch your
/// key", a PIN with echo off), else its messages on stderr and no answers.
#[derive(Clone)]
struct PluginUi {
    account: String,
}

impl age::Callbacks for PluginUi {
    fn display_message(&self, message: &str) {
        let line = format!("{}\n", text::clean(message, 200));
        match Terminal::open() {
            Ok(mut terminal) => terminal.say(&line),
            Err(_) => {
                let _ = std::io::stderr().write_all(format!("stsexec: {line}").as_bytes());
            }
        }
    }

    fn confirm(&self, _message: &str, _yes: &str, _no: Option<&str>) -> Option<bool> {
        None
    }

    fn request_public_string(&self, _description: &str) -> Option<String> {
        None
    }

    fn request_passphrase(&self, description: &str) -> Option<age::secrecy::SecretString> {
        let mut terminal = Terminal::open().ok()?;
        let prompt = format!(
            "{} (account {}): ",
            text::clean(description, 120),
            self.account
        );
        match terminal
            .read_hidden(&prompt, Duration::from_secs(300))
            .ok()?
        {
            crate::mfa::prompt::Entry::Line(line) => {
                Some(age::secrecy::SecretString::from(line.to_string()))
            }
            _ => None,
        }
    }
}

/// Why the age file gave no key; each `Display` is one sentence naming the file and the fix.
#[derive(Debug)]
pub enum AgeError {
    File(FileError),
    Missing {
        path: PathBuf,
    },
    NotAge {
        path: PathBuf,
    },
    UnknownVersion {
        path: PathBuf,
    },
    Damaged {
        path: PathBuf,
    },
    /// Internal: a passphrase that did not open the file (the caller asks again).
    Undecryptable {
        path: PathBuf,
    },
    Passphrase {
        path: PathBuf,
        error: PassphraseError,
    },
    TooMuchWork {
        path: PathBuf,
        required: u8,
    },
    NeedsIdentity {
        path: PathBuf,
    },
    NoMatchingIdentity {
        path: PathBuf,
        identities: Vec<PathBuf>,
    },
    IdentityFile(FileError),
    IdentityMissing {
        identity: PathBuf,
    },
    NotIdentities {
        identity: PathBuf,
    },
    Plugin {
        path: PathBuf,
        message: String,
    },
    NotAKey {
        path: PathBuf,
    },
    Encrypt {
        path: PathBuf,
        why: EncryptFailure,
    },
    Write(FileError),
    Mismatch {
        path: PathBuf,
    },
}

impl fmt::Display for AgeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AgeError::File(e) | AgeError::IdentityFile(e) | AgeError::Write(e) => e.fmt(f),
            AgeError::Missing { path } => write!(f, "{} does not exist", path.display()),
            AgeError::NotAge { path } => write!(
                f,
                "{} is not an age file (it starts neither with age-encryption.org/v1 nor with -----BEGIN AGE ENCRYPTED FILE-----); put the encrypted key there (stsexec ACCOUNT --add writes it) or remove the file",
                path.display()
            ),
            AgeError::UnknownVersion { path } => write!(
                f,
                "{} is an age file of a format version stsexec does not know; decrypt it with the tool that made it and set the key up again with stsexec ACCOUNT --add",
                path.display()
            ),
            AgeError::Damaged { path } | AgeError::Undecryptable { path } => write!(
                f,
                "{} is damaged or truncated (it does not decrypt whole); restore it from a backup, or set the key up again with stsexec ACCOUNT --add",
                path.display()
            ),
            AgeError::Passphrase { path, error } => {
                write!(f, "{error} (file {})", path.display())
            }
            AgeError::TooMuchWork { path, required } => write!(
                f,
                "{} asks for an scrypt work factor of 2^{required}, more than the 2^{MAX_WORK_FACTOR} stsexec accepts (so a planted file cannot exhaust time and memory); re-encrypt the key with age -p or stsexec ACCOUNT --add",
                path.display()
            ),
            AgeError::NeedsIdentity { path } => write!(
                f,
                "{} is encrypted to age recipients, not to a passphrase, and no identity file is named; name it in the account's age_identity (accounts file) or in STSEXEC_AGE_IDENTITY",
                path.display()
            ),
            AgeError::NoMatchingIdentity { path, identities } => write!(
                f,
                "{} is not encrypted to any identity in {}; name the identity it was encrypted to in age_identity or STSEXEC_AGE_IDENTITY",
                path.display(),
                if identities.is_empty() {
                    "the identity files given".to_string()
                } else {
                    identities
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            AgeError::IdentityMissing { identity } => write!(
                f,
                "age identity file {} does not exist; fix age_identity or STSEXEC_AGE_IDENTITY",
                identity.display()
            ),
            AgeError::NotIdentities { identity } => write!(
                f,
                "age identity file {} holds no age identity (AGE-SECRET-KEY-1… or AGE-PLUGIN-…); name the file age-keygen or the plugin wrote",
                identity.display()
            ),
            AgeError::Plugin { path, message } => write!(
                f,
                "the age plugin for {} failed ({message}); check that the plugin is installed and its key is present",
                path.display()
            ),
            AgeError::NotAKey { path } => write!(
                f,
                "{} decrypts to something other than a secret access key (one word of text); put the key there with stsexec ACCOUNT --add",
                path.display()
            ),
            AgeError::Encrypt { path, why } => write!(
                f,
                "cannot encrypt the key for {} ({why}); nothing was written",
                path.display()
            ),
            AgeError::Mismatch { path } => write!(
                f,
                "{} was written but does not read back as the key; the plain key was kept, check the disk and try again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for AgeError {}

#[cfg(test)]
mod tests;
