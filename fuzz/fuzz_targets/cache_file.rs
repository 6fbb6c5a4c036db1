//! Cache files are untrusted: any bytes are a session for the slot or a reason, never a
//! panic, and a session accepted carries usable credentials. File names too: any name that
//! parses as one of stsexec's is exactly the name made for what it parsed to (slot → name →
//! slot, read backwards), so no two slots share a file.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsexec::accounts::AccountName;
use stsexec::cache::{Slot, names, record};
use stsexec::secret::Secret;

fuzz_target!(|data: &[u8]| {
    let slot = Slot {
        account: AccountName::parse_str("work").expect("valid name"),
        mfa_serial: Some("arn:aws:iam::123456789012:mfa/jb".into()),
        role_arn: None,
        source_key_id: "AKIAIOSFODNN7EXAMPLE".into(),
        endpoint: None,
        web_identity: false,
        identity: None,
    };
    if let Ok(session) = record::parse(data, &slot) {
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
        if let Some(parsed) = names::parse(text) {
            let made = names::name(&parsed.account, &parsed.entry);
            if parsed.temp {
                assert!(text.starts_with(&made), "{text} is a temp file of {made}");
            } else {
                assert_eq!(made, text);
            }
        }
        let _ = names::legacy_account(text);
    }
});
