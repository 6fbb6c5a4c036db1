use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

fn slot() -> Slot {
    Slot {
        account: AccountName::parse_str("work").unwrap(),
        mfa_serial: Some("arn:aws:iam::012123456789:mfa/jb".into()),
        role_arn: None,
        source_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        endpoint: None,
        web_identity: false,
        identity: None,
    }
}

fn session() -> CachedSession {
    CachedSession {
        credentials: Credentials {
            access_key_id: "ASIAEXAMPLEEXAMPLE12".into(),
            secret_access_key: Secret::new("SECRETMARKER-secret"),
            session_token: Some(Secret::new("SECRETMARKER-token")),
            expiration: Some(crate::session::whole_seconds(
                SystemTime::now() + Duration::from_secs(3600),
            )),
        },
        with_mfa: true,
        session_name: None,
        external_id: None,
    }
}

fn setup() -> (tempfile::TempDir, AccountState) {
    let dir = tempfile::tempdir().unwrap();
    let cache = AccountState::new(dir.path(), &AccountName::parse_str("work").unwrap());
    (dir, cache)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn round_trip_is_owner_only_and_leaves_no_temp_file() {
    let (dir, cache) = setup();
    let lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    let stored = session();
    let path = cache
        .store(&lock, &slot(), &stored, "GetSessionToken")
        .unwrap();
    assert_eq!(path.file_name().unwrap(), ".stsexec~work~session.json");
    assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}"); // session + lock
    assert_eq!(cache.load(&slot()).unwrap().credentials, stored.credentials);
}

#[test]
fn misses_say_why_in_a_sentence() {
    let (_dir, cache) = setup();
    assert!(matches!(cache.load(&slot()), Err(Miss::Absent)));
    let path = cache.path_for(&slot());
    for (text, reason) in [
        ("", "is not a stsexec session cache"),
        (
            "{\"format\": \"stsexec-session-cache\", \"version\"",
            "is not a stsexec session cache",
        ),
        ("[1,2]", "is not a stsexec session cache"),
        (
            "{\"format\": \"stsexec-session-cache\", \"version\": 1}",
            "was written by another stsexec version (format 1; this one reads 2)",
        ),
        (
            "{\"format\": \"stsexec-session-cache\", \"version\": 2}",
            "is damaged (fields missing or of the wrong type)",
        ),
    ] {
        write(&path, text);
        let miss = cache.load(&slot()).unwrap_err();
        assert!(miss.is_unusable_file(), "{text}");
        assert_eq!(miss.to_string(), reason, "{text}");
    }
    let lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    cache
        .store(&lock, &slot(), &session(), "GetSessionToken")
        .unwrap();
    let mut other_keys = slot();
    other_keys.source_key_id = "AKIAOTHEROTHEROTHER1".into();
    assert_eq!(
        cache.load(&other_keys).unwrap_err().to_string(),
        "is for other keys (the access key has changed)"
    );
    let mut other_serial = slot();
    other_serial.mfa_serial = Some("arn:aws:iam::012123456789:mfa/other".into());
    assert_eq!(
        cache.load(&other_serial).unwrap_err().to_string(),
        "is for another account, role or MFA device"
    );
    let mut other_endpoint = slot();
    other_endpoint.endpoint = Some("http://127.0.0.1:1".into());
    assert_eq!(
        cache.load(&other_endpoint).unwrap_err().to_string(),
        "was made by another STS endpoint"
    );
}

#[test]
fn group_readable_or_symlinked_files_are_not_trusted() {
    let (dir, cache) = setup();
    let lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    let path = cache
        .store(&lock, &slot(), &session(), "GetSessionToken")
        .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        cache.load(&slot()).unwrap_err().to_string(),
        "is accessible by group or others (mode 0644)"
    );
    std::fs::remove_file(&path).unwrap();
    let target = dir.path().join("elsewhere");
    std::fs::write(&target, "x").unwrap();
    std::os::unix::fs::symlink(&target, &path).unwrap();
    assert_eq!(
        cache.load(&slot()).unwrap_err().to_string(),
        "is a symbolic link, which stsexec does not follow"
    );
    // Storing replaces the link itself; the file it pointed to is untouched.
    cache
        .store(&lock, &slot(), &session(), "GetSessionToken")
        .unwrap();
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "x");
    assert!(
        !std::fs::symlink_metadata(&path)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn stale_temp_files_are_removed_under_the_lock() {
    let (dir, cache) = setup();
    let stale = dir.path().join(".stsexec~work~session.json~tmp~1~2");
    let other_account = dir.path().join(".stsexec~home~session.json~tmp~1~2");
    let longer_name = dir.path().join(".stsexec~work.eu~session.json~tmp~1~2");
    for path in [&stale, &other_account, &longer_name] {
        write(path, "{");
    }
    let _lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    assert!(!stale.exists());
    assert!(other_account.exists());
    assert!(longer_name.exists());
}

#[test]
fn clear_removes_sessions_of_both_schemes_but_not_the_lock_or_other_accounts() {
    let (dir, cache) = setup();
    let lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    cache
        .store(&lock, &slot(), &session(), "GetSessionToken")
        .unwrap();
    let mut role = slot();
    role.role_arn = Some("arn:aws:iam::012123456789:role/session".into());
    cache.store(&lock, &role, &session(), "AssumeRole").unwrap();
    write(&dir.path().join("work.access_key"), "AKIA");
    write(&dir.path().join(".cache.work.session.json"), "{}");
    // The first scheme's collision: this account's role "session" looked like account
    // "work.role.<id>"'s session; now each has its own name.
    let dotted = AccountState::new(
        dir.path(),
        &AccountName::parse_str("work.role.012123456789").unwrap(),
    );
    let mut dotted_slot = slot();
    dotted_slot.account = AccountName::parse_str("work.role.012123456789").unwrap();
    let dotted_lock = dotted
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    dotted
        .store(&dotted_lock, &dotted_slot, &session(), "GetSessionToken")
        .unwrap();
    assert_eq!(cache.summaries().len(), 2);
    assert!(cache.summaries().iter().all(|s| s.expiration.is_ok()));
    assert_eq!(
        accounts_with_cache(dir.path()),
        [
            AccountName::parse_str("work").unwrap(),
            AccountName::parse_str("work.role.012123456789").unwrap()
        ]
    );
    assert_eq!(cache.clear(&lock).unwrap(), 3);
    assert!(cache.lock_path().exists());
    assert!(dir.path().join("work.access_key").exists());
    assert!(cache.summaries().is_empty());
    assert!(dotted.load(&dotted_slot).is_ok());
}

#[test]
fn role_files_are_named_safely() {
    let (_dir, cache) = setup();
    let mut role = slot();
    role.role_arn = Some("arn:aws:iam::012123456789:role/ops/deploy+x".into());
    assert_eq!(
        cache.path_for(&role).file_name().unwrap(),
        ".stsexec~work~role~012123456789~ops%2Fdeploy%2Bx.json"
    );
}

/// A role assumed with an OIDC token and the same role assumed with keys never share a
/// session: separate files, and a record of one kind is not a session for the other.
#[test]
fn web_identity_role_sessions_have_their_own_slot() {
    let (_dir, cache) = setup();
    let mut keyed = slot();
    keyed.role_arn = Some("arn:aws:iam::012123456789:role/deploy".into());
    let mut webid = keyed.clone();
    webid.web_identity = true;
    webid.identity = Some("0f".repeat(32));
    webid.mfa_serial = None;
    webid.source_key_id = String::new();
    assert_eq!(
        cache
            .path_for(&webid)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap(),
        format!(
            ".stsexec~work~webid~{}~012123456789~deploy.json",
            "0f".repeat(32)
        )
    );
    // Another identity (another repository's token): another file, and this record copied
    // over its name is for another slot.
    let mut other = webid.clone();
    other.identity = Some("e1".repeat(32));
    assert_ne!(cache.path_for(&other), cache.path_for(&webid));
    assert_ne!(cache.path_for(&webid), cache.path_for(&keyed));
    let lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    let path = cache
        .store(&lock, &webid, &session(), "AssumeRoleWithWebIdentity")
        .unwrap();
    assert!(cache.load(&webid).is_ok());
    assert!(matches!(cache.load(&keyed), Err(Miss::Absent)));
    // The web identity file copied over the keyed one's name is for another slot.
    std::fs::copy(&path, cache.path_for(&keyed)).unwrap();
    assert!(matches!(cache.load(&keyed), Err(Miss::OtherSlot)));
    std::fs::copy(&path, cache.path_for(&other)).unwrap();
    assert!(matches!(cache.load(&other), Err(Miss::OtherSlot)));
    assert_eq!(cache.clear(&lock).unwrap(), 3);
}

#[test]
fn cache_debug_is_redacted() {
    let (_dir, cache) = setup();
    let lock = cache
        .lock(Waiting::ToRefresh, Reporter::new(true, false))
        .unwrap();
    cache
        .store(&lock, &slot(), &session(), "GetSessionToken")
        .unwrap();
    let shown = format!("{:?}", cache.load(&slot()));
    assert!(!shown.contains("SECRETMARKER"), "{shown}");
}
