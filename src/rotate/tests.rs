use super::*;
use crate::cache::Waiting;
use crate::iam::IamFailure;
use crate::keys::{CredsDir, StoreConfig};
use std::collections::VecDeque;

const OLD: &str = "AKIAOLDOLDOLDOLD1234";
const ARN: &str = "arn:aws:iam::123456789012:user/ops/jb";

/// A fake IAM: jb's keys, scripted GetCallerIdentity answers for new keys, a call log.
#[derive(Default)]
struct Fake {
    keys: Vec<KeyInfo>,
    proof: VecDeque<Result<(), StsFailure>>,
    delete_fails: bool,
    /// DeleteAccessKey of this key is refused.
    deny_delete_of: Option<&'static str>,
    /// The pair that signed UpdateAccessKey.
    retire_signer: Option<(String, String)>,
    /// CreateAccessKey fails this way; `made`: after IAM made the key (the answer was lost).
    create_fails: Option<(IamFailure, bool)>,
    calls: Vec<String>,
}

impl KeyService for &mut Fake {
    fn caller_arn(&mut self, creds: &Credentials) -> Result<String, StsFailure> {
        self.calls
            .push(format!("GetCallerIdentity {}", creds.access_key_id));
        if creds.access_key_id != OLD && !creds.is_session() {
            self.proof.pop_front().unwrap_or(Ok(()))?;
        }
        Ok(ARN.into())
    }
    fn list_keys(&mut self, _: &Credentials, user: &str) -> Result<Vec<KeyInfo>, IamFailure> {
        assert_eq!(user, "jb");
        self.calls.push("ListAccessKeys".into());
        Ok(self.keys.clone())
    }
    fn create_key(&mut self, _: &Credentials, _: &str) -> Result<Credentials, IamFailure> {
        self.calls.push("CreateAccessKey".into());
        let id = format!("AKIANEWNEWNEWNEW{:04}", self.keys.len());
        let failed = self.create_fails.take();
        if failed.as_ref().is_none_or(|(_, made)| *made) {
            self.keys.push(KeyInfo {
                access_key_id: id.clone(),
                status: "Active".into(),
                created: None,
            });
        }
        if let Some((failure, _)) = failed {
            return Err(failure);
        }
        Ok(Credentials {
            access_key_id: id,
            secret_access_key: Secret::new("SECRETMARKER-new"),
            session_token: None,
            expiration: None,
        })
    }
    fn deactivate_key(
        &mut self,
        signer: &Credentials,
        _: &str,
        id: &str,
    ) -> Result<(), IamFailure> {
        self.calls.push(format!("UpdateAccessKey {id}"));
        self.retire_signer = Some((
            signer.access_key_id.clone(),
            signer.secret_access_key.expose().to_string(),
        ));
        match self.keys.iter_mut().find(|k| k.access_key_id == id) {
            Some(k) => {
                k.status = "Inactive".into();
                Ok(())
            }
            None => Err(IamFailure::NoSuchEntity),
        }
    }
    fn delete_key(&mut self, _: &Credentials, _: &str, id: &str) -> Result<(), IamFailure> {
        self.calls.push(format!("DeleteAccessKey {id}"));
        if (self.delete_fails && id == OLD) || self.deny_delete_of == Some(id) {
            return Err(IamFailure::Denied {
                message: "no".into(),
            });
        }
        let before = self.keys.len();
        self.keys.retain(|k| k.access_key_id != id);
        if self.keys.len() == before {
            Err(IamFailure::NoSuchEntity)
        } else {
            Ok(())
        }
    }
    fn endpoints(&self) -> (String, String) {
        ("http://sts".into(), "http://iam".into())
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    creds: CredsDir,
    cache: AccountState,
    account: AccountName,
    /// The account's entry: no `key_process` unless [`with_key_process`] set one.
    config: StoreConfig,
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let creds = CredsDir::new(dir.path().to_path_buf());
    let account = AccountName::parse_str("work").unwrap();
    files::write_atomically(
        &creds.file(&account, "access_key"),
        Kind::AccessKey,
        OLD.as_bytes(),
    )
    .unwrap();
    files::write_atomically(
        &creds.file(&account, "secret_key"),
        Kind::SecretKey,
        b"SECRETMARKER-old",
    )
    .unwrap();
    let cache = AccountState::new(dir.path(), &account);
    Setup {
        _dir: dir,
        creds,
        cache,
        account,
        config: StoreConfig::default(),
    }
}

/// The account's key in a `key_process` store: `cat`s `key.json`, and `key_update_process`
/// writes its stdin there (the plain secret file is gone; `<account>.access_key` stays).
fn with_key_process(mut s: Setup) -> Setup {
    std::fs::remove_file(s.creds.file(&s.account, "secret_key")).unwrap();
    let json = s.creds.path.join("key.json");
    write_json(&json, OLD, "SECRETMARKER-old");
    let shown = |command: String, field: &str| crate::mfa::process::Shown {
        command,
        origin: format!("{field} in the accounts file"),
    };
    s.config = StoreConfig {
        key_process: Some(shown(format!("cat '{}'", json.display()), "key_process")),
        key_update_process: Some(shown(
            format!("cat > '{}'", json.display()),
            "key_update_process",
        )),
        age_identities: Vec::new(),
        env: crate::env::Environment::from_pairs([("PATH", "/usr/bin:/bin")]),
        settings: Some(crate::mfa::Settings {
            process_timeout: Duration::from_secs(10),
            take_terminal: false,
            ..crate::mfa::Settings::DEFAULT
        }),
    };
    s
}

fn write_json(path: &Path, id: &str, secret: &str) {
    std::fs::write(
        path,
        format!(r#"{{"Version": 1, "AccessKeyId": "{id}", "SecretAccessKey": "{secret}"}}"#),
    )
    .unwrap();
}

fn keys(s: &Setup) -> AccountKeys {
    s.creds.keys_with(&s.account, &s.config).unwrap()
}

fn quiet() -> Reporter {
    Reporter::new(true, false)
}

/// The pair as the key store holds it.
fn load(s: &Setup) -> Credentials {
    keys(s)
        .read(&ReadContext {
            report: quiet(),
            lock: None,
        })
        .unwrap()
}

fn old_key() -> KeyInfo {
    KeyInfo {
        access_key_id: OLD.into(),
        status: "Active".into(),
        created: Some(SystemTime::now() - Duration::from_secs(40 * 86_400)),
    }
}

fn rotate(s: &Setup, fake: &mut Fake, kind: SignerKind) -> Result<Rotated, RotateError> {
    let lock = s.cache.lock(Waiting::ToFinish, quiet()).unwrap();
    let keys = keys(s);
    Rotation {
        account: &s.account,
        keys: &keys,
        state: &s.cache,
        service: fake,
        signer: load(s),
        signer_kind: kind,
        proof_wait: Duration::from_millis(50),
        retry_pause: Duration::from_millis(1),
        report: Reporter::new(true, false),
    }
    .run(&lock)
}

#[test]
fn the_six_steps_in_order_with_the_new_key_signing_after_the_swap() {
    let s = setup();
    let mut fake = Fake {
        keys: vec![old_key()],
        ..Fake::default()
    };
    let done = rotate(&s, &mut fake, SignerKind::LongLivedKeys).unwrap();
    assert_eq!(done.to_string(), "AKIA…1234 → AKIA…0001 (old key deleted)");
    assert_eq!(
        fake.calls,
        [
            "GetCallerIdentity AKIAOLDOLDOLDOLD1234",
            "ListAccessKeys",
            "CreateAccessKey",
            "GetCallerIdentity AKIANEWNEWNEWNEW0001",
            "UpdateAccessKey AKIAOLDOLDOLDOLD1234",
            "DeleteAccessKey AKIAOLDOLDOLDOLD1234",
        ]
    );
    assert_eq!(load(&s).access_key_id, done.new_key);
    assert!(!unfinished(&s.cache));
}

#[test]
fn two_keys_are_refused_naming_the_other() {
    let s = setup();
    let mut other = old_key();
    other.access_key_id = "AKIAOTHEROTHER009876".into();
    other.status = "Inactive".into();
    let mut fake = Fake {
        keys: vec![old_key(), other],
        ..Fake::default()
    };
    let err = rotate(&s, &mut fake, SignerKind::MfaSession)
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("the IAM user jb of account work already has two access keys, the most IAM allows, so nothing was changed: the other one is AKIA…9876 (Inactive, created 40 days ago)"), "{err}");
    assert!(!fake.calls.iter().any(|c| c == "CreateAccessKey"));
    // The hint's commands run with the account's credentials, signed as the rotation was.
    assert!(
        err.contains("stsexec work --mfa -- aws iam list-access-keys --user-name jb")
            && err.contains("run stsexec work --rotate again"),
        "{err}"
    );
    let err = rotate(&s, &mut fake, SignerKind::LongLivedKeys)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("stsexec work --no-session -- aws iam delete-access-key --user-name jb")
            && err.contains("run stsexec work --rotate --no-session again"),
        "{err}"
    );
}

#[test]
fn a_key_never_valid_is_deleted_and_a_failed_delete_can_be_resumed() {
    let s = setup();
    let mut fake = Fake {
        keys: vec![old_key()],
        proof: std::iter::repeat_with(|| {
            Err(StsFailure::UnknownKey {
                key_id: "x".repeat(20),
            })
        })
        .take(100)
        .collect(),
        ..Fake::default()
    };
    let err = rotate(&s, &mut fake, SignerKind::MfaSession).unwrap_err();
    assert!(
        matches!(err, RotateError::NeverValid { deleted: true, .. }),
        "{err}"
    );
    assert_eq!(
        fake.keys
            .iter()
            .map(|k| k.access_key_id.as_str())
            .collect::<Vec<_>>(),
        [OLD]
    );
    assert!(!unfinished(&s.cache));

    let mut fake = Fake {
        keys: vec![old_key()],
        delete_fails: true,
        ..Fake::default()
    };
    let err = rotate(&s, &mut fake, SignerKind::MfaSession).unwrap_err();
    assert!(
        matches!(&err, RotateError::DeleteFailed(f) if f.deactivated),
        "{err}"
    );
    assert!(unfinished(&s.cache));
    fake.delete_fails = false;
    fake.calls.clear();
    rotate(&s, &mut fake, SignerKind::MfaSession).unwrap();
    assert_eq!(fake.keys.len(), 1);
    assert!(
        !fake.calls.iter().any(|c| c == "CreateAccessKey"),
        "{:?}",
        fake.calls
    );
}

#[test]
fn user_names_come_from_user_arns_only() {
    assert_eq!(user_from_arn(ARN), Some("jb"));
    assert_eq!(
        user_from_arn("arn:aws-cn:iam::123456789012:user/x"),
        Some("x")
    );
    assert_eq!(
        user_from_arn("arn:aws:sts::123456789012:assumed-role/a/b"),
        None
    );
    assert_eq!(user_from_arn("arn:aws:iam::123456789012:root"), None);
}

#[test]
fn a_lost_create_answer_is_checked_and_its_key_deleted_again() {
    // Issue 20 item 7: IAM made the key but the answer never came.
    let s = setup();
    let mut fake = Fake {
        keys: vec![old_key()],
        create_fails: Some((
            IamFailure::Transport(crate::aws::Transport::Timeout { seconds: 15 }),
            true,
        )),
        ..Fake::default()
    };
    let err = rotate(&s, &mut fake, SignerKind::LongLivedKeys)
        .unwrap_err()
        .to_string();
    assert_eq!(
        fake.calls,
        [
            "GetCallerIdentity AKIAOLDOLDOLDOLD1234",
            "ListAccessKeys",
            "CreateAccessKey",
            "ListAccessKeys",
            "DeleteAccessKey AKIANEWNEWNEWNEW0001",
        ]
    );
    assert_eq!(
        err,
        "IAM at http://iam did not answer CreateAccessKey within 15 s for account work, so stsexec checked whether a new key was made anyway: IAM made AKIA…0001, whose secret never arrived, so it was deleted again; nothing else changed (the key files still hold AKIA…1234); run stsexec work --rotate again"
    );
    let ids: Vec<&str> = fake.keys.iter().map(|k| k.access_key_id.as_str()).collect();
    assert_eq!(ids, [OLD]);
    assert_eq!(load(&s).access_key_id, OLD);
    assert!(!unfinished(&s.cache));

    // No key made: nothing to delete, and the sentence says so.
    let mut fake = Fake {
        keys: vec![old_key()],
        create_fails: Some((IamFailure::ServerError { status: 503 }, false)),
        ..Fake::default()
    };
    let err = rotate(&s, &mut fake, SignerKind::LongLivedKeys)
        .unwrap_err()
        .to_string();
    assert_eq!(fake.calls.last().unwrap(), "ListAccessKeys");
    assert!(
        err.contains("ListAccessKeys shows none, so nothing was changed"),
        "{err}"
    );

    // A refusal made no key: no listing.
    let mut fake = Fake {
        keys: vec![old_key()],
        create_fails: Some((IamFailure::Throttled, false)),
        ..Fake::default()
    };
    rotate(&s, &mut fake, SignerKind::LongLivedKeys).unwrap_err();
    assert_eq!(fake.calls.last().unwrap(), "CreateAccessKey");
}

const LOST: &str = "AKIALOSTLOSTLOST0009";
const NEW: &str = "AKIANEWNEWNEWNEW0001";

fn created_key(id: &str) -> KeyInfo {
    KeyInfo {
        access_key_id: id.into(),
        status: "Active".into(),
        created: Some(SystemTime::now()),
    }
}

/// The journal a run writes right after CreateAccessKey made `new`.
fn journal_of(new: &str) -> Journal {
    Journal {
        version: JOURNAL_VERSION,
        account: "work".into(),
        user: "jb".into(),
        user_arn: ARN.into(),
        old_access_key_id: OLD.into(),
        new_access_key_id: new.into(),
        new_secret_access_key: Secret::new("SECRETMARKER-new"),
        sealed_secret: None,
        secret_withheld: false,
        created: rfc3339(SystemTime::now()),
        secret_known: true,
    }
}

/// A run killed right after it wrote the journal for `new` (before the proof).
fn killed_after_the_journal(s: &Setup, new: &str) -> String {
    let path = s.cache.journal_path();
    journal_of(new).write(&path, &keys(s)).unwrap();
    std::fs::read_to_string(path).unwrap()
}

fn read_journal(s: &Setup) -> Result<Option<Journal>, RotateError> {
    Journal::read(
        &s.cache.journal_path(),
        &s.account,
        &keys(s),
        &ReadContext {
            report: quiet(),
            lock: None,
        },
    )
}

fn ids(fake: &Fake) -> Vec<&str> {
    fake.keys.iter().map(|k| k.access_key_id.as_str()).collect()
}

#[test]
fn the_journal_keeps_the_new_secret_as_the_store_keeps_secrets() {
    // Plain store: in plain, as before (no new field on disk).
    let s = setup();
    let text = killed_after_the_journal(&s, NEW);
    assert!(
        text.contains(r#""new_secret_access_key": "SECRETMARKER-new""#),
        "{text}"
    );
    assert!(
        !text.contains("sealed_secret") && !text.contains("secret_withheld"),
        "{text}"
    );
    let read = read_journal(&s).unwrap().unwrap();
    assert!(read.secret_known);
    assert_eq!(read.new_secret_access_key.expose(), "SECRETMARKER-new");

    // Age store (to an X25519 identity): sealed, nothing in plain.
    let mut s = setup();
    use age::secrecy::ExposeSecret;
    let identity = age::x25519::Identity::generate();
    let identity_path = s.creds.path.join("identity.txt");
    files::write_atomically(
        &identity_path,
        Kind::SecretKey,
        identity.to_string().expose_secret().as_bytes(),
    )
    .unwrap();
    std::fs::remove_file(s.creds.file(&s.account, "secret_key")).unwrap();
    let lock = crate::keys::age_file::Lock::Identities(vec![identity_path.clone()]);
    crate::keys::age_file::AgeFile::new("work", s.creds.file(&s.account, "secret_key.age"))
        .write(&Secret::new("SECRETMARKER-old"), &lock)
        .unwrap();
    s.config.age_identities = vec![identity_path];
    let text = killed_after_the_journal(&s, NEW);
    assert!(!text.contains("SECRETMARKER"), "{text}");
    assert!(!text.contains("secret_withheld"), "{text}");
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["new_secret_access_key"], "");
    assert!(
        saved["sealed_secret"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    let read = read_journal(&s).unwrap().unwrap();
    assert!(read.secret_known);
    assert_eq!(read.new_secret_access_key.expose(), "SECRETMARKER-new");

    // key_process store: withheld, neither in plain nor sealed.
    let s = with_key_process(setup());
    let text = killed_after_the_journal(&s, NEW);
    assert!(!text.contains("SECRETMARKER"), "{text}");
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["secret_withheld"], true);
    assert_eq!(saved["new_secret_access_key"], "");
    assert!(saved.get("sealed_secret").is_none(), "{text}");
    assert_eq!(saved["new_access_key_id"], NEW);
    assert_eq!(saved["old_access_key_id"], OLD);
    assert_eq!(saved["user"], "jb");
    let read = read_journal(&s).unwrap().unwrap();
    assert!(read.secret_withheld && !read.secret_known);
    assert!(read.new_secret_access_key.expose().is_empty());

    // A flag beside a secret is no journal stsexec wrote.
    let mut damaged = saved.clone();
    damaged["new_secret_access_key"] = "SECRETMARKER-new".into();
    files::write_atomically(
        &s.cache.journal_path(),
        Kind::Journal,
        damaged.to_string().as_bytes(),
    )
    .unwrap();
    assert!(matches!(
        read_journal(&s),
        Err(RotateError::JournalDamaged { .. })
    ));
    // A journal that withheld the secret, read for a store that no longer says which key it
    // holds (the key_process entry removed, a plain file back): refused, nothing compared.
    let plain_again = setup();
    files::write_atomically(
        &plain_again.cache.journal_path(),
        Kind::Journal,
        text.as_bytes(),
    )
    .unwrap();
    let lock = plain_again.cache.lock(Waiting::ToFinish, quiet()).unwrap();
    let err = repair_torn_files(
        &lock,
        &plain_again.account,
        &keys(&plain_again),
        &plain_again.cache,
        quiet(),
    )
    .unwrap_err();
    assert!(
        matches!(err, RotateError::Keys(KeysError::Withheld)),
        "{err}"
    );
}

#[test]
fn a_withheld_secret_lost_with_its_run_has_its_key_deleted_and_the_rotation_starts_again() {
    let s = with_key_process(setup());
    let mut fake = Fake {
        keys: vec![old_key(), created_key(LOST)],
        ..Fake::default()
    };
    killed_after_the_journal(&s, LOST);
    // A normal run meanwhile: the store still holds the old key, and torn-file repair (which
    // compares ids, never an empty secret) leaves it alone.
    {
        let lock = s.cache.lock(Waiting::ToFinish, quiet()).unwrap();
        repair_torn_files(&lock, &s.account, &keys(&s), &s.cache, quiet()).unwrap();
    }
    assert_eq!(load(&s).access_key_id, OLD);
    assert_eq!(load(&s).secret_access_key.expose(), "SECRETMARKER-old");
    assert!(unfinished(&s.cache));

    let done = rotate(&s, &mut fake, SignerKind::LongLivedKeys).unwrap();
    assert_eq!(done.to_string(), "AKIA…1234 → AKIA…0001 (old key deleted)");
    assert_eq!(
        fake.calls,
        [
            "DeleteAccessKey AKIALOSTLOSTLOST0009",
            "GetCallerIdentity AKIAOLDOLDOLDOLD1234",
            "ListAccessKeys",
            "CreateAccessKey",
            "GetCallerIdentity AKIANEWNEWNEWNEW0001",
            "UpdateAccessKey AKIAOLDOLDOLDOLD1234",
            "DeleteAccessKey AKIAOLDOLDOLDOLD1234",
        ]
    );
    assert_eq!(ids(&fake), [NEW]);
    let pair = load(&s);
    assert_eq!(pair.access_key_id, NEW);
    assert_eq!(pair.secret_access_key.expose(), "SECRETMARKER-new");
    assert!(!unfinished(&s.cache));
}

#[test]
fn a_withheld_secret_the_store_took_finishes_the_rotation_without_a_new_key() {
    // Killed after key_update_process and the id file, before the old key was retired.
    let s = with_key_process(setup());
    let mut fake = Fake {
        keys: vec![old_key(), created_key(NEW)],
        ..Fake::default()
    };
    killed_after_the_journal(&s, NEW);
    write_json(&s.creds.path.join("key.json"), NEW, "SECRETMARKER-new");
    files::write_atomically(
        &s.creds.file(&s.account, "access_key"),
        Kind::AccessKey,
        NEW.as_bytes(),
    )
    .unwrap();
    rotate(&s, &mut fake, SignerKind::LongLivedKeys).unwrap();
    assert_eq!(
        fake.calls,
        [
            "UpdateAccessKey AKIAOLDOLDOLDOLD1234",
            "DeleteAccessKey AKIAOLDOLDOLDOLD1234",
        ]
    );
    // The new key, its secret from the store, signed the retirement.
    assert_eq!(
        fake.retire_signer,
        Some((NEW.into(), "SECRETMARKER-new".into()))
    );
    assert_eq!(ids(&fake), [NEW]);
    assert!(!unfinished(&s.cache));

    // Killed between key_update_process and the id file: the id file is written again first.
    let s = with_key_process(setup());
    let mut fake = Fake {
        keys: vec![old_key(), created_key(NEW)],
        ..Fake::default()
    };
    killed_after_the_journal(&s, NEW);
    write_json(&s.creds.path.join("key.json"), NEW, "SECRETMARKER-new");
    {
        let lock = s.cache.lock(Waiting::ToFinish, quiet()).unwrap();
        repair_torn_files(&lock, &s.account, &keys(&s), &s.cache, quiet()).unwrap();
    }
    assert_eq!(load(&s).access_key_id, NEW);
    rotate(&s, &mut fake, SignerKind::MfaSession).unwrap();
    assert!(!fake.calls.iter().any(|c| c == "CreateAccessKey"));
    assert_eq!(ids(&fake), [NEW]);
    assert!(!unfinished(&s.cache));
}

#[test]
fn a_withheld_journal_whose_key_cannot_be_deleted_or_is_stale_is_kept() {
    let s = with_key_process(setup());
    let mut fake = Fake {
        keys: vec![old_key(), created_key(LOST)],
        deny_delete_of: Some(LOST),
        ..Fake::default()
    };
    killed_after_the_journal(&s, LOST);
    let err = rotate(&s, &mut fake, SignerKind::MfaSession).unwrap_err();
    assert!(matches!(err, RotateError::LostKeyUndeleted { .. }), "{err}");
    let text = err.to_string();
    let journal = s.cache.journal_path();
    assert_eq!(
        text,
        format!(
            "the unfinished key rotation of account work created the access key AKIA…0009, whose secret was lost when that run stopped before the key_process stored it, and deleting that key failed (IAM at http://iam refused DeleteAccessKey (AccessDenied: no)); the key files still hold AKIA…1234 and {} is kept: run stsexec work --rotate again to retry, or delete the key yourself (aws iam delete-access-key --user-name jb --access-key-id <id>, the id is new_access_key_id in the journal) and then remove the journal",
            journal.display()
        )
    );
    assert!(!text.contains(LOST) && !text.contains(OLD));
    assert!(unfinished(&s.cache));
    assert!(!fake.calls.iter().any(|c| c == "CreateAccessKey"));
    assert_eq!(load(&s).access_key_id, OLD);

    // The store holds a third key: neither the journal's old nor its new one.
    write_json(
        &s.creds.path.join("key.json"),
        "AKIATHIRDTHIRD000003",
        "SECRETMARKER-third",
    );
    fake.calls.clear();
    let err = rotate_unread(&s, &mut fake).unwrap_err();
    assert!(matches!(err, RotateError::JournalStale { .. }), "{err}");
    assert!(fake.calls.is_empty(), "{:?}", fake.calls);
    assert!(unfinished(&s.cache));
}

#[test]
fn a_failed_key_update_process_leaves_a_journal_the_next_rotate_starts_again_from() {
    let mut s = with_key_process(setup());
    let update = s.config.key_update_process.take().unwrap();
    s.config.key_update_process = Some(crate::mfa::process::Shown {
        command: "cat > /dev/null; exit 3".into(),
        origin: update.origin.clone(),
    });
    let mut fake = Fake {
        keys: vec![old_key()],
        ..Fake::default()
    };
    let err = rotate(&s, &mut fake, SignerKind::LongLivedKeys).unwrap_err();
    assert!(
        matches!(err, RotateError::Unfinished { withheld: true, .. }),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("keeps the new key's id but not its secret")
            && text.contains("run stsexec work --rotate again, which deletes it and rotates anew"),
        "{text}"
    );
    assert!(!text.contains("SECRETMARKER"));
    let journal = std::fs::read_to_string(s.cache.journal_path()).unwrap();
    assert!(!journal.contains("SECRETMARKER"), "{journal}");

    s.config.key_update_process = Some(update);
    fake.calls.clear();
    rotate(&s, &mut fake, SignerKind::LongLivedKeys).unwrap();
    assert_eq!(fake.calls[0], "DeleteAccessKey AKIANEWNEWNEWNEW0001");
    assert_eq!(ids(&fake), [NEW]);
    assert_eq!(load(&s).access_key_id, NEW);
    assert!(!unfinished(&s.cache));
}

/// [`rotate`] for a store whose pair cannot be read as the signer (a stale journal): an MFA
/// session signs.
fn rotate_unread(s: &Setup, fake: &mut Fake) -> Result<Rotated, RotateError> {
    let lock = s.cache.lock(Waiting::ToFinish, quiet()).unwrap();
    let keys = keys(s);
    Rotation {
        account: &s.account,
        keys: &keys,
        state: &s.cache,
        service: fake,
        signer: Credentials {
            access_key_id: "ASIASESSIONSESSION01".into(),
            secret_access_key: Secret::new("SECRETMARKER-session"),
            session_token: Some(Secret::new("token")),
            expiration: None,
        },
        signer_kind: SignerKind::MfaSession,
        proof_wait: Duration::from_millis(50),
        retry_pause: Duration::from_millis(1),
        report: quiet(),
    }
    .run(&lock)
}

#[test]
fn unfinished_and_retire_failures_are_sentences_built_from_their_data() {
    let account = AccountName::parse_str("work").unwrap();
    let journal = PathBuf::from("/h/.stsexec~work~rotation.json");
    let unfinished = |withheld, cause| {
        RotateError::Unfinished {
            account: account.clone(),
            journal: journal.clone(),
            withheld,
            cause: Box::new(cause),
        }
        .to_string()
    };
    assert_eq!(
        unfinished(
            false,
            UnfinishedCause::SignsAsOther {
                new_key: "AKIANEWNEWNEWNEW0009".into(),
                arn: "arn:aws:iam::123456789012:user/\u{1b}[2Jeve".into(),
                user_arn: ARN.into(),
            }
        ),
        "the new access key AKIA…0009 signs as arn:aws:iam::123456789012:user/[2Jeve, not as arn:aws:iam::123456789012:user/ops/jb; the rotation of account work is unfinished and the new key is kept in /h/.stsexec~work~rotation.json: run stsexec work --rotate again to finish it"
    );
    assert_eq!(
        unfinished(
            true,
            UnfinishedCause::Unproven {
                endpoint: "http://sts".into(),
                new_key: "AKIANEWNEWNEWNEW0009".into(),
                failure: StsFailure::Refused {
                    code: "Odd".into(),
                    message: "later".into(),
                    status: 400,
                },
            }
        ),
        "STS at http://sts could not prove the new access key AKIA…0009 (GetCallerIdentity: Odd: later); the rotation of account work is unfinished and /h/.stsexec~work~rotation.json keeps the new key's id but not its secret (the key_process keeps secrets off the disk), so that key cannot be used: run stsexec work --rotate again, which deletes it and rotates anew"
    );
    let keys = KeysError::Empty(PathBuf::from("/h/work.secret_key"));
    let keys_sentence = keys.to_string();
    assert_eq!(
        unfinished(false, UnfinishedCause::KeyFiles(keys)),
        format!(
            "{keys_sentence}; the rotation of account work is unfinished and the new key is kept in /h/.stsexec~work~rotation.json: run stsexec work --rotate again to finish it"
        )
    );
    let retire = |deactivated, operation, failure| {
        RotateError::DeleteFailed(Box::new(RetireFailure {
            account: account.clone(),
            user: "jb".into(),
            old_key: OLD.into(),
            new_key: "AKIANEWNEWNEWNEW0009".into(),
            key_files: KeyPlaces {
                access: "/h/work.access_key".into(),
                store: crate::keys::Location {
                    what: "secret key file",
                    place: "/h/work.secret_key".into(),
                    plain: true,
                },
            },
            deactivated,
            failure: IamStepFailure {
                operation,
                endpoint: "http://iam".into(),
                failure,
            },
        }))
        .to_string()
    };
    assert_eq!(
        retire(false, "UpdateAccessKey", IamFailure::Throttled),
        "account work now uses the new access key AKIA…0009 (/h/work.access_key and /h/work.secret_key), but the old key AKIA…1234 is still active and was not deleted (IAM at http://iam kept throttling UpdateAccessKey after 3 attempts); run stsexec work --rotate again to delete it, or delete it yourself (aws iam delete-access-key --user-name jb --access-key-id <id>)"
    );
    assert_eq!(
        retire(
            true,
            "DeleteAccessKey",
            IamFailure::Denied {
                message: "no".into()
            }
        ),
        "account work now uses the new access key AKIA…0009 (/h/work.access_key and /h/work.secret_key), but the old key AKIA…1234 is inactive and was not deleted (IAM at http://iam refused DeleteAccessKey (AccessDenied: no)); run stsexec work --rotate again to delete it, or delete it yourself (aws iam delete-access-key --user-name jb --access-key-id <id>)"
    );
}
