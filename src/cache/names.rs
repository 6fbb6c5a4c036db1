//! The cache's file names. Every name starts `.stsexec~<account>~`; `~` appears in no account
//! name, and role paths are escaped (only letters, digits, `_` and `-` stay as they are), so no
//! account, role or path can produce another slot's name, and a name parses back to exactly
//! the slot it was made for (the round-trip test below and the `cache_file` fuzz target check
//! both). Files of the first scheme (`.cache.<account>.…`) are recognised only so that
//! `--clear` can remove them.
#![forbid(unsafe_code)]

use crate::accounts::{AccountName, is_account_id};
use crate::files::TEMP_MARKER;

const PREFIX: &str = ".stsexec~";
const LEGACY_PREFIX: &str = ".cache.";

/// What a file in the credentials directory is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Entry {
    /// The MFA session (GetSessionToken).
    Session,
    /// A role session: the role's account id and its path and name (`ops/deploy`);
    /// `web_identity`: assumed with a CI's OIDC token (`webid~…`), never with keys (`role~…`);
    /// `identity`: the token's identity hash (64 lowercase hex digits, `webid~<hash>~…`).
    /// A web-identity name without one is an earlier version's, parsed so `--clear` finds it;
    /// no run looks such a slot up.
    Role {
        account_id: String,
        path: String,
        web_identity: bool,
        identity: Option<String>,
    },
    /// The account's lock.
    Lock,
    /// The used-MFA-code record of earlier versions (per account; now per device, see
    /// [`device_name`]).
    Codes,
    /// An unfinished key rotation.
    Rotation,
}

/// A parsed file name of this scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    pub account: AccountName,
    pub entry: Entry,
    /// A temp file left while writing `entry` (a crash between create and rename).
    pub temp: bool,
}

/// The file name for an account's entry.
pub fn name(account: &AccountName, entry: &Entry) -> String {
    let tail = match entry {
        Entry::Session => "session.json".to_string(),
        Entry::Role {
            account_id,
            path,
            web_identity,
            identity,
        } => {
            let kind = match (web_identity, identity) {
                (false, _) => "role".to_string(),
                (true, None) => "webid".to_string(),
                (true, Some(hash)) => format!("webid~{hash}"),
            };
            format!("{kind}~{account_id}~{}.json", escape(path))
        }
        Entry::Lock => "lock".to_string(),
        Entry::Codes => "codes.json".to_string(),
        Entry::Rotation => "rotation.json".to_string(),
    };
    format!("{PREFIX}{account}~{tail}")
}

/// The files of an MFA device, shared by every account configured with it:
/// `.stsexec-mfa~<16 hex digits>~<tail>` (`codes.json`, `lock`). The digits are the FNV-1a hash
/// of the serial (stable across builds; a serial can be longer than a file name allows). Two
/// devices sharing a hash would only share a lock and a file, whose record is keyed by serial.
/// The prefix is not [`PREFIX`], so no account's name is ever read as a device's.
pub fn device_name(serial: &str, tail: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in serial.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{DEVICE_PREFIX}{hash:016x}~{tail}")
}

const DEVICE_PREFIX: &str = ".stsexec-mfa~";

/// The entry a name was made for; `None` for any other name.
pub fn parse(name: &str) -> Option<FileName> {
    let rest = name.strip_prefix(PREFIX)?;
    let (rest, temp) = match rest.split_once(TEMP_MARKER) {
        Some((head, suffix)) => {
            let (pid, nanos) = suffix.split_once('~')?;
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if !digits(pid) || !digits(nanos) {
                return None;
            }
            (head, true)
        }
        None => (rest, false),
    };
    let parts: Vec<&str> = rest.split('~').collect();
    let (account, entry) = match parts.as_slice() {
        [account, "session.json"] => (*account, Entry::Session),
        [account, "lock"] if !temp => (*account, Entry::Lock),
        [account, "codes.json"] => (*account, Entry::Codes),
        [account, "rotation.json"] => (*account, Entry::Rotation),
        [account, kind @ ("role" | "webid"), account_id, escaped] => (
            *account,
            role_entry(account_id, escaped, *kind == "webid", None)?,
        ),
        [account, "webid", hash, account_id, escaped] if is_identity(hash) => {
            (*account, role_entry(account_id, escaped, true, Some(hash))?)
        }
        _ => return None,
    };
    let parsed = AccountName::parse_str(account).ok()?;
    (parsed.as_str() == account).then_some(FileName {
        account: parsed,
        entry,
        temp,
    })
}

/// A role entry from the parts of its name.
fn role_entry(
    account_id: &str,
    escaped: &str,
    web_identity: bool,
    identity: Option<&str>,
) -> Option<Entry> {
    let path = unescape(escaped.strip_suffix(".json")?)?;
    if !is_account_id(account_id) || path.is_empty() {
        return None;
    }
    Some(Entry::Role {
        account_id: account_id.to_string(),
        path,
        web_identity,
        identity: identity.map(str::to_string),
    })
}

/// An identity hash as names hold it: SHA-256 in 64 lowercase hex digits.
pub fn is_identity(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-'
}

fn escape(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if is_plain(b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The inverse of [`escape`], accepting only its canonical output, so one path has one name.
fn unescape(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                if hex.bytes().any(|b| b.is_ascii_lowercase()) {
                    return None;
                }
                let b = u8::from_str_radix(hex, 16).ok()?;
                if is_plain(b) {
                    return None;
                }
                out.push(b);
                i += 3;
            }
            b if is_plain(b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    String::from_utf8(out).ok()
}

/// The account a file of the first naming scheme belonged to, read from the right as that
/// scheme did; only `--clear` uses this, to remove such files.
pub fn legacy_account(name: &str) -> Option<AccountName> {
    let rest = name.strip_prefix(LEGACY_PREFIX)?;
    let rest = rest.split_once(".tmp-").map_or(rest, |(head, _)| head);
    if rest == "lock" {
        return None;
    }
    let account = if let Some(account) = rest.strip_suffix(".lock") {
        account
    } else {
        let stem = rest.strip_suffix(".json")?;
        match stem.strip_suffix(".session") {
            Some(account) => account,
            None => {
                let mut parts = stem.rsplitn(4, '.');
                let (_role, _id, marker, account) =
                    (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
                if marker != "role" {
                    return None;
                }
                account
            }
        }
    };
    let parsed = AccountName::parse_str(account).ok()?;
    (parsed.as_str() == account).then_some(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(text: &str) -> AccountName {
        AccountName::parse_str(text).unwrap()
    }

    #[test]
    fn device_files_have_their_own_stable_names() {
        let serial = "arn:aws:iam::123456789012:mfa/jb";
        let ledger = device_name(serial, "codes.json");
        // Stable across builds: the FNV-1a hash, written out.
        assert_eq!(ledger, ".stsexec-mfa~78d64bcd71dec543~codes.json");
        assert_eq!(
            device_name(serial, "lock"),
            ".stsexec-mfa~78d64bcd71dec543~lock"
        );
        assert_ne!(
            device_name("arn:aws:iam::123456789012:mfa/jc", "lock"),
            device_name(serial, "lock")
        );
        // Never read as an account's file.
        assert_eq!(parse(&ledger), None);
        assert_eq!(legacy_account(&ledger), None);
    }

    #[test]
    fn names_of_each_entry() {
        let work = account("work");
        assert_eq!(name(&work, &Entry::Session), ".stsexec~work~session.json");
        assert_eq!(name(&work, &Entry::Lock), ".stsexec~work~lock");
        assert_eq!(
            name(
                &work,
                &Entry::Role {
                    account_id: "012123456789".into(),
                    path: "ops/deploy+x".into(),
                    web_identity: false,
                    identity: None,
                }
            ),
            ".stsexec~work~role~012123456789~ops%2Fdeploy%2Bx.json"
        );
        assert_eq!(
            name(
                &work,
                &Entry::Role {
                    account_id: "012123456789".into(),
                    path: "deploy".into(),
                    web_identity: true,
                    identity: Some("ab".repeat(32)),
                }
            ),
            format!(
                ".stsexec~work~webid~{}~012123456789~deploy.json",
                "ab".repeat(32)
            )
        );
        // An earlier version's web-identity name (no identity) still parses, for --clear.
        assert_eq!(
            parse(".stsexec~work~webid~012123456789~deploy.json").map(|n| n.entry),
            Some(Entry::Role {
                account_id: "012123456789".into(),
                path: "deploy".into(),
                web_identity: true,
                identity: None,
            })
        );
    }

    #[test]
    fn names_that_collided_in_the_first_scheme_are_distinct() {
        // A role called "session" and an account called "work.role.<id>"; accounts whose
        // names contain the temp marker or ".session.json".
        let role_session = name(
            &account("work"),
            &Entry::Role {
                account_id: "012123456789".into(),
                path: "session".into(),
                web_identity: false,
                identity: None,
            },
        );
        let dotted = name(&account("work.role.012123456789"), &Entry::Session);
        assert_ne!(role_session, dotted);
        assert_eq!(parse(&role_session).unwrap().account, account("work"));
        assert_eq!(
            parse(&dotted).unwrap().account,
            account("work.role.012123456789")
        );
        let tricky = account("a.session.json.tmp-x");
        let parsed = parse(&name(&tricky, &Entry::Session)).unwrap();
        assert_eq!((parsed.account, parsed.temp), (tricky, false));
        let prod = account("prod.tmp-eu");
        assert_eq!(parse(&name(&prod, &Entry::Session)).unwrap().account, prod);
    }

    #[test]
    fn temp_names_parse_to_their_entry() {
        let name = format!(".stsexec~work~session.json{TEMP_MARKER}12~34");
        let parsed = parse(&name).unwrap();
        assert_eq!(
            (parsed.account.as_str(), parsed.entry, parsed.temp),
            ("work", Entry::Session, true)
        );
        for other in [
            ".stsexec~work~session.json~tmp~x~1",
            ".stsexec~Work~session.json",
            ".stsexec~~session.json",
            ".stsexec~work~role~12~x.json",
            ".stsexec~work~webid~12~x.json",
            ".stsexec~work~role~abababababababababababababababababababababababababababababababab~012123456789~x.json",
            ".stsexec~work~webid~ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB~012123456789~x.json",
            ".stsexec~work~webid~abab~012123456789~x.json",
            ".stsexec~work~WebId~012123456789~x.json",
            ".stsexec~work~role~012123456789~a%2fb.json",
            ".stsexec~work~role~012123456789~a%41.json",
            ".stsexec~work~role~012123456789~a.b.json",
            ".stsexec~work~lock~tmp~1~2",
            "work.access_key",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    /// slot → name → slot over many generated accounts and role paths (a small deterministic
    /// generator: the property, not a few examples).
    #[test]
    fn every_name_parses_back_to_its_slot() {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            usize::try_from(state % 1_000_000_007).unwrap()
        };
        let account_chars = b"abcz09_.-";
        let role_chars = b"aZ09_+=,.@-/~%";
        for _ in 0..20_000 {
            let len = 1 + next() % 64;
            let mut text: String = (0..len)
                .map(|_| account_chars[next() % account_chars.len()] as char)
                .collect();
            text.replace_range(0..1, "a");
            let acct = account(&text);
            let role_len = 1 + next() % 40;
            let path: String = (0..role_len)
                .map(|_| role_chars[next() % role_chars.len()] as char)
                .collect();
            let hex = b"0123456789abcdef";
            let entry = match next() % 5 {
                0 => Entry::Session,
                1 => Entry::Codes,
                kind => Entry::Role {
                    account_id: format!("{:06}{:06}", next() % 1_000_000, next() % 1_000_000),
                    path,
                    web_identity: kind >= 3,
                    identity: (kind == 4)
                        .then(|| (0..64).map(|_| hex[next() % hex.len()] as char).collect()),
                },
            };
            let made = name(&acct, &entry);
            let parsed = parse(&made).unwrap_or_else(|| panic!("{made}"));
            assert_eq!(
                (parsed.account, parsed.entry, parsed.temp),
                (acct, entry, false)
            );
            let temp = format!("{made}{TEMP_MARKER}1~2");
            assert!(parse(&temp).unwrap().temp);
        }
    }

    #[test]
    fn first_scheme_names_are_recognised_for_clearing() {
        for (old, owner) in [
            (".cache.work.session.json", "work"),
            (".cache.prod.eu.session.json", "prod.eu"),
            (".cache.work.role.012123456789.admin.json", "work"),
            (".cache.work.session.json.tmp-1-2", "work"),
            (".cache.work.lock", "work"),
        ] {
            assert_eq!(legacy_account(old), Some(account(owner)), "{old}");
        }
        assert_eq!(legacy_account(".stsexec~work~session.json"), None);
    }
}
