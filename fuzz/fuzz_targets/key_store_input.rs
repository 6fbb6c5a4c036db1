//! The key stores' inputs are untrusted: an age file (any bytes: a sentence naming the file,
//! never a panic, never a prompt for a file that is not a passphrase file), a `key_process`'s
//! output and an AWS credentials file's profile (a key or a reason that never repeats the
//! input).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stsexec::keys::add::parse_profile;
use stsexec::keys::age_file::AgeFile;
use stsexec::keys::key_process;
use stsexec::keys::passphrase::{Passphrase, PassphraseError, Passphrases};

/// Asked only for a passphrase file; never gives one (no scrypt work in the fuzzer).
struct Never(bool);

impl Passphrases for Never {
    fn next(&mut self, _retry: bool) -> Result<Passphrase, PassphraseError> {
        self.0 = true;
        Err(PassphraseError::TooManyTries {
            account: "work".into(),
        })
    }
}

fuzz_target!(|data: &[u8]| {
    let file = AgeFile::new("work", "/fuzz/work.secret_key.age".into());
    let mut never = Never(false);
    let error = file
        .decrypt_bytes(data, &[], &mut never)
        .expect_err("no passphrase, no identity: nothing opens");
    let text = error.to_string();
    assert!(text.contains("/fuzz/work.secret_key.age"), "{text}");
    assert!(!text.contains('\n'));

    if let Ok(keys) = key_process::parse(data) {
        assert!(keys.session_token.is_none());
        let again = key_process::parse(key_process::to_json(&keys).as_bytes()).unwrap();
        assert_eq!(again.access_key_id, keys.access_key_id);
    }
    let text = String::from_utf8_lossy(data);
    let _ = parse_profile(&text, "default");
});
