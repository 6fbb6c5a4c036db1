//! The accounts file is user input: any bytes give accounts or a sentence, never a panic,
//! and every account accepted is one stsexec can use.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsexec::accounts::{self, AccountName};

fuzz_target!(|data: &[u8]| {
    let Ok(parsed) = accounts::parse(data) else {
        return;
    };
    for (name, account) in parsed {
        // Names are already valid and lowercase: parsing them again is the identity.
        assert_eq!(
            AccountName::parse_str(name.as_str()).ok().as_ref(),
            Some(&name)
        );
        // The prefix round-trips through the parser, alone and in the object form.
        let again = accounts::parse(
            serde_json::json!({ name.as_str(): account.prefix() })
                .to_string()
                .as_bytes(),
        )
        .expect("a prefix stsexec accepted parses again");
        assert_eq!(again[&name].prefix(), account.prefix());
        let serial = account.mfa_serial_for("jb");
        assert!(serial.starts_with("arn:") || account.mfa_serial.is_some());
        let _ = accounts::resolve_role("admin", Some(&account), &name);
        // Every named role accepted is one --role can assume.
        for (role_name, role) in &account.roles {
            let resolved = accounts::resolve_role(role_name, Some(&account), &name)
                .expect("a named role stsexec accepted resolves");
            assert_eq!(resolved.arn, role.arn);
        }
    }
});
