//! The age store in milliseconds: files encrypted here with a small scrypt work factor (2^10),
//! X25519 identities generated here; the interop with the real `age` tool is in
//! tests/integration/cases/key_stores.rs.

use super::*;
use crate::keys::passphrase::Known;
use age::secrecy::ExposeSecret;
use std::os::unix::fs::PermissionsExt;

const MARKER: &str = "SECRETMARKER/long+lived+secret+key";

fn passphrase(text: &str) -> Lock {
    Lock::Passphrase(Passphrase::new(text))
}

fn known(text: &str) -> Known {
    Known {
        account: "work".into(),
        passphrase: Passphrase::new(text),
    }
}

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn age(&self, bytes: &[u8]) -> AgeFile {
        AgeFile::new("work", self.file("work.secret_key.age", bytes))
    }

    /// A fresh X25519 identity file; returns its path.
    fn identity(&self, name: &str) -> PathBuf {
        let identity = age::x25519::Identity::generate();
        let text = format!(
            "# created: now\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        );
        self.file(name, text.as_bytes())
    }
}

fn fast(secret: &str, lock: &Lock) -> Vec<u8> {
    encrypt(&Secret::new(secret), lock, 10, "work").unwrap()
}

#[test]
fn a_passphrase_file_opens_with_its_passphrase_and_asks_again_after_a_wrong_one() {
    let dir = Dir::new();
    let file = dir.age(&fast(MARKER, &passphrase("right")));
    let secret = file.decrypt(&[], &mut known("right")).unwrap();
    assert_eq!(secret.expose(), MARKER);

    /// Wrong, then right: the store asks again with `retry`.
    struct Sequence(Vec<&'static str>, Vec<bool>);
    impl Passphrases for Sequence {
        fn next(&mut self, retry: bool) -> Result<Passphrase, PassphraseError> {
            self.1.push(retry);
            Ok(Passphrase::new(self.0.remove(0)))
        }
    }
    let mut typed = Sequence(vec!["wrong", "right"], Vec::new());
    assert_eq!(file.decrypt(&[], &mut typed).unwrap().expose(), MARKER);
    assert_eq!(typed.1, [false, true]);

    let error = file.decrypt(&[], &mut known("wrong")).unwrap_err();
    assert!(matches!(error, AgeError::Passphrase { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "no usable passphrase for account work's key after 3 tries; nothing was changed (file {})",
            file.path.display()
        )
    );
}

#[test]
fn identities_open_what_was_encrypted_to_them_and_others_are_named() {
    let dir = Dir::new();
    let mine = dir.identity("mine.txt");
    let other = dir.identity("other.txt");
    let file = dir.age(&fast(MARKER, &Lock::Identities(vec![mine.clone()])));
    let none = &mut known("unused");
    assert_eq!(
        file.decrypt(std::slice::from_ref(&mine), none)
            .unwrap()
            .expose(),
        MARKER
    );
    // Any of several identity files may match.
    assert_eq!(
        file.decrypt(&[other.clone(), mine.clone()], none)
            .unwrap()
            .expose(),
        MARKER
    );
    let error = file
        .decrypt(std::slice::from_ref(&other), none)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{} is not encrypted to any identity in {}; name the identity it was encrypted to in age_identity or STSEXEC_AGE_IDENTITY",
            file.path.display(),
            other.display()
        )
    );
    // Encrypted to recipients but no identity named.
    let error = file.decrypt(&[], none).unwrap_err();
    assert!(matches!(error, AgeError::NeedsIdentity { .. }), "{error}");
    assert!(error.to_string().contains("STSEXEC_AGE_IDENTITY"));
    // A passphrase file with identities given still asks for the passphrase.
    let file = dir.age(&fast(MARKER, &passphrase("p")));
    assert_eq!(
        file.decrypt(&[mine], &mut known("p")).unwrap().expose(),
        MARKER
    );
}

#[test]
fn identity_files_are_checked_like_keys() {
    let dir = Dir::new();
    let mine = dir.identity("mine.txt");
    let file = dir.age(&fast(MARKER, &Lock::Identities(vec![mine.clone()])));
    let none = &mut known("unused");
    std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = file.decrypt(std::slice::from_ref(&mine), none).unwrap_err();
    assert!(
        error.to_string().starts_with(&format!(
            "age identity file {} is accessible by group or others (mode 0644); run: chmod 600",
            mine.display()
        )),
        "{error}"
    );
    let garbage = dir.file("garbage.txt", format!("{MARKER}\n").as_bytes());
    let error = file.decrypt(&[garbage], none).unwrap_err();
    assert!(
        error.to_string().contains("holds no age identity"),
        "{error}"
    );
    assert!(!error.to_string().contains("SECRETMARKER"), "{error}");
    let error = file
        .decrypt(&[dir.dir.path().join("absent")], none)
        .unwrap_err();
    assert!(error.to_string().contains("does not exist"), "{error}");
}

#[test]
fn bad_files_are_one_sentence_naming_the_file() {
    let dir = Dir::new();
    let good = fast(MARKER, &passphrase("p"));
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "foreign",
            b"just some text\n".to_vec(),
            "is not an age file",
        ),
        ("empty", Vec::new(), "is not an age file"),
        (
            "truncated",
            good[..good.len() - 40].to_vec(),
            "is damaged or truncated",
        ),
        (
            "header only",
            good[..120].to_vec(),
            "is damaged or truncated",
        ),
        (
            "flipped",
            {
                let mut b = good.clone();
                let at = b.len() - 60;
                b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                b
            },
            "is damaged or truncated",
        ),
        (
            "unknown version",
            b"age-encryption.org/v2\n-> x\n--- abc\n".to_vec(),
            "format version stsexec does not know",
        ),
        ("huge", vec![b'a'; 70 * 1024], "is larger than 65536 bytes"),
    ];
    for (name, bytes, expected) in cases {
        let file = dir.age(&bytes);
        let error = file.decrypt(&[], &mut known("p")).unwrap_err();
        let text = error.to_string();
        assert!(text.contains(expected), "{name}: {text}");
        assert!(
            text.contains(&*file.path.display().to_string()),
            "{name}: {text}"
        );
        assert!(!text.contains('\n'), "{name}: {text}");
    }
}

#[test]
fn a_file_asking_for_too_much_scrypt_work_is_refused_before_any_work() {
    let dir = Dir::new();
    // A binary file at work factor 10, its stanza edited to ask for 2^40.
    let mut recipient = age::scrypt::Recipient::new(Passphrase::new("p").to_age());
    recipient.set_work_factor(10);
    let encryptor =
        Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient)).unwrap();
    let mut out = Vec::new();
    let mut writer = encryptor.wrap_output(&mut out).unwrap();
    writer.write_all(MARKER.as_bytes()).unwrap();
    writer.finish().unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let edited = text.replacen(" 10\n", " 40\n", 1);
    assert_ne!(text, edited);
    let file = dir.age(edited.as_bytes());
    let started = std::time::Instant::now();
    let error = file.decrypt(&[], &mut known("p")).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        error.to_string(),
        format!(
            "{} asks for an scrypt work factor of 2^40, more than the 2^20 stsexec accepts (so a planted file cannot exhaust time and memory); re-encrypt the key with age -p or stsexec ACCOUNT --add",
            file.path.display()
        )
    );
}

#[test]
fn what_is_inside_must_be_a_key() {
    let dir = Dir::new();
    for plain in ["", "two words", "\u{1b}[2J"] {
        let file = dir.age(&fast(plain, &passphrase("p")));
        let error = file.decrypt(&[], &mut known("p")).unwrap_err();
        assert!(
            matches!(error, AgeError::NotAKey { .. }),
            "{plain:?}: {error}"
        );
    }
}

#[test]
fn written_files_are_owner_only_armored_and_read_back() {
    let dir = Dir::new();
    let path = dir.dir.path().join("work.secret_key.age");
    let file = AgeFile::new("work", path.clone());
    // (`age -d` reads a file written at the real work factor: tests/integration.)
    file.write_with(&Secret::new(MARKER), &passphrase("p"), 10)
        .unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!String::from_utf8_lossy(&bytes).contains("SECRETMARKER"));
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let mine = dir.identity("mine.txt");
    file.write_with(
        &Secret::new(MARKER),
        &Lock::Identities(vec![mine.clone()]),
        10,
    )
    .unwrap();
    assert_eq!(
        file.decrypt(&[mine], &mut known("x")).unwrap().expose(),
        MARKER
    );
    // Nothing is written when encryption cannot start.
    let error = file
        .write(
            &Secret::new(MARKER),
            &Lock::Identities(vec![dir.dir.path().join("absent")]),
        )
        .unwrap_err();
    assert!(error.to_string().contains("nothing was written"), "{error}");
}

#[test]
fn debug_never_shows_a_secret() {
    let lock = passphrase(MARKER);
    assert!(!format!("{lock:?}").contains("SECRETMARKER"));
    let dir = Dir::new();
    let file = dir.age(&fast(MARKER, &passphrase(MARKER)));
    let secret = file.decrypt(&[], &mut known(MARKER)).unwrap();
    assert!(!format!("{secret:?}").contains("SECRETMARKER"));
    let error = file.decrypt(&[], &mut known("wrong")).unwrap_err();
    assert!(!format!("{error:?} {error}").contains("SECRETMARKER"));
}

#[test]
fn identity_paths_split_like_path_and_expand_home() {
    assert_eq!(
        identity_paths("~/k.txt: /etc/age/yubi.txt ::", Some(Path::new("/home/jb"))),
        [
            PathBuf::from("/home/jb/k.txt"),
            PathBuf::from("/etc/age/yubi.txt")
        ]
    );
}

#[test]
fn an_encryption_that_fails_says_why_in_one_sentence_and_writes_nothing() {
    let dir = Dir::new();
    let path = dir.dir.path().join("work.secret_key.age");
    let file = AgeFile::new("work", path.clone());
    let missing = dir.dir.path().join("gone.txt");
    let error = file
        .write_with(
            &Secret::new(MARKER),
            &Lock::Identities(vec![missing.clone()]),
            10,
        )
        .unwrap_err();
    assert!(
        matches!(
            &error,
            AgeError::Encrypt {
                why: EncryptFailure::Identity(inner),
                ..
            } if matches!(**inner, AgeError::IdentityMissing { .. })
        ),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "cannot encrypt the key for {} (age identity file {} does not exist; fix age_identity or STSEXEC_AGE_IDENTITY); nothing was written",
            path.display(),
            missing.display()
        )
    );
    assert!(!path.exists());

    // No recipient at all: the age crate's words, as they are.
    let none = encrypt(
        &Secret::new(MARKER),
        &Lock::Identities(Vec::new()),
        10,
        "work",
    )
    .unwrap_err();
    let EncryptFailure::Recipients(age_says) = &none else {
        panic!("{none:?}");
    };
    assert_eq!(none.to_string(), text::clean(&age_says.to_string(), 200));
    // Foreign text is cleaned and capped.
    assert_eq!(
        EncryptFailure::Output(std::io::Error::other("plugin\u{7} failed")).to_string(),
        "plugin failed"
    );
}
