use super::*;
use crate::cache::Waiting;
use crate::iam::IamFailure;
use crate::keys::CredsDir;
use std::collections::VecDeque;

const OLD: &str = "AKIAOLDOLDOLDOLD1234";
const ARN: &str = "arn:aws:iam::123456789012:user/ops/jb";

/// A fake IAM: jb's keys, scripted GetCallerIdentity answers for new keys, a call log.
#[derive(Default)]
struct Fake {
    keys: Vec<KeyInfo>,
    proof: VecDeque<Result<(), StsFailure>>,
    delete_fails: bool,
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
    fn deactivate_key(&mut self, _: &Credentials, _: &str, id: &str) -> Result<(), IamFailure> {
        self.calls.push(format!("UpdateAccessKey {id}"));
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
        if self.delete_fails && id == OLD {
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
    }
}

fn quiet() -> Reporter {
    Reporter::new(true, false)
}

/// The pair as the key store holds it.
fn load(s: &Setup) -> Credentials {
    let keys = s.creds.keys(&s.account).unwrap();
    keys.read(&ReadContext {
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
    let keys = s.creds.keys(&s.account).unwrap();
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
