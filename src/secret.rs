//! Types that hold secrets: the value is wiped on drop, `Debug` prints `** redacted **`, and
//! there is no `Display`, so a secret cannot end up in a message by accident. The value is
//! reachable only through `expose`, which makes every use visible in review.
#![forbid(unsafe_code)]

use std::fmt;
use zeroize::Zeroizing;

pub const REDACTED: &str = "** redacted **";

/// A secret string: a secret access key, a session token, an MFA code, an external id.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret::new)
    }
}

/// A one-time MFA code: six ASCII digits. Parsing ignores spaces, as authenticator apps show
/// codes like `123 456`.
#[derive(Clone, PartialEq, Eq)]
pub struct MfaCode(Secret);

/// Why a text is not an MFA code (the text itself is never repeated: it may be a real code
/// with a typo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotAnMfaCode;

impl fmt::Display for NotAnMfaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MFA code is 6 digits (spaces are ignored)")
    }
}

impl std::error::Error for NotAnMfaCode {}

impl MfaCode {
    pub fn parse(raw: &str) -> Result<Self, NotAnMfaCode> {
        let digits: Zeroizing<String> =
            Zeroizing::new(raw.chars().filter(|c| !c.is_whitespace()).collect());
        if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(MfaCode(Secret::new(digits.as_str())))
        } else {
            Err(NotAnMfaCode)
        }
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

impl fmt::Debug for MfaCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// An access key id shown to people: the first and last four characters (`AKIA…WXYZ`).
pub fn mask_key_id(key_id: &str) -> String {
    let chars: Vec<char> = key_id.chars().collect();
    if chars.len() <= 8 {
        return "…".to_string();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// The shape of an access key id (AKIA…/ASIA…): 16 to 128 ASCII letters and digits. The one
/// check for key files, cache records and STS answers.
pub fn is_access_key_id(text: &str) -> bool {
    (16..=128).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "SECRETMARKER-do-not-print";

    #[test]
    fn debug_is_exactly_redacted() {
        assert_eq!(format!("{:?}", Secret::new(MARKER)), "** redacted **");
        let code = MfaCode::parse("123 456").unwrap();
        assert_eq!(format!("{code:?}"), "** redacted **");
        assert_eq!(code.expose(), "123456");
    }

    #[test]
    fn codes_are_six_digits_spaces_ignored() {
        for good in ["123456", " 123456\n", "123 456", "12 34 56"] {
            assert_eq!(MfaCode::parse(good).unwrap().expose().len(), 6, "{good}");
        }
        for bad in ["12345", "1234567", "12a456", "", "１２３４５６"] {
            assert_eq!(MfaCode::parse(bad), Err(NotAnMfaCode), "{bad}");
        }
        assert_eq!(
            NotAnMfaCode.to_string(),
            "an MFA code is 6 digits (spaces are ignored)"
        );
    }

    #[test]
    fn key_ids_are_masked_and_shaped() {
        assert_eq!(mask_key_id("AKIAIOSFODNN7EXAMPLE"), "AKIA…MPLE");
        assert_eq!(mask_key_id("SHORT"), "…");
        assert!(is_access_key_id("AKIAIOSFODNN7EXAMPLE"));
        assert!(!is_access_key_id("AKIA"));
        assert!(!is_access_key_id("AKIA IOSFODNN7EXAMPLE"));
    }
}
