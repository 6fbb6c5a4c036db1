//! Cache files are untrusted: any bytes are a session for the slot or a reason, never a
//! panic, and a session accepted carries usable credentials.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsexec::accounts::AccountName;
use stsexec::cache::{self, Slot};
use stsexec::session::Secret;

fuzz_target!(|data: &[u8]| {
    let slot = Slot {
        account: AccountName::parse_str("work").expect("valid name"),
        mfa_serial: Some("arn:aws:iam::123456789012:mfa/jb".into()),
        role_arn: None,
        source_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
    };
    if let Ok(session) = cache::parse(data, &slot) {
        let creds = &session.credentials;
        assert!(!creds.access_key_id.is_empty());
        assert!(
            creds
                .session_token
                .as_ref()
                .is_some_and(|t| !t.expose().is_empty())
        );
        assert!(creds.expiration.is_some());
        // Debug of what came from the file does not depend on the secrets in it.
        let mut other = session.clone();
        other.credentials.secret_access_key = Secret::new("other secret");
        other.credentials.session_token = Some(Secret::new("other token"));
        assert_eq!(format!("{session:?}"), format!("{other:?}"));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = cache::classify(text);
    }
});
