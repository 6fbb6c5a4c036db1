//! The small pieces of OAuth 2.0 the login needs: the PKCE pair (RFC 7636, S256), the `state`
//! value, URL encoding, and the SHA-1 file names of the AWS CLI's cache.
#![forbid(unsafe_code)]

use crate::secret::Secret;
use ring::digest;

/// `len` bytes from the OS's random source.
pub fn random_bytes(len: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        filled +=
            rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(buf)
}

/// base64url without padding (RFC 4648 §5), as PKCE and `state` use it.
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let index = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[index as usize]));
        }
    }
    out
}

/// Lower-case hex SHA-1 of `text`: the AWS CLI's cache file names (not a security use).
pub fn sha1_hex(text: &str) -> String {
    hex(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, text.as_bytes()).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The S256 code challenge of a verifier: base64url(SHA-256(verifier)).
pub fn challenge_s256(verifier: &str) -> String {
    base64url(digest::digest(&digest::SHA256, verifier.as_bytes()).as_ref())
}

/// A PKCE pair: the verifier stays in this process (a secret until the token is issued), the
/// challenge goes into the browser's URL.
#[derive(Debug)]
pub struct Pkce {
    pub verifier: Secret,
    pub challenge: String,
}

impl Pkce {
    /// 32 random bytes → a 43-character verifier (RFC 7636 §4.1 asks for 43 to 128).
    pub fn new() -> std::io::Result<Pkce> {
        let verifier = base64url(&random_bytes(32)?);
        let challenge = challenge_s256(&verifier);
        Ok(Pkce {
            verifier: Secret::new(verifier),
            challenge,
        })
    }
}

/// A fresh `state` for one authorization request: 128 random bits.
pub fn new_state() -> std::io::Result<String> {
    Ok(base64url(&random_bytes(16)?))
}

/// Percent-encodes everything but RFC 3986's unreserved characters (a query value).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes a query value (`+` is a space, as forms send it); `None` when it is not UTF-8.
pub fn url_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The value of `name` in a query string (`a=1&b=2`), decoded; the first one wins.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (url_decode(key)? == name).then(|| url_decode(value))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_challenge() {
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn base64url_has_no_padding() {
        assert_eq!(base64url(b""), "");
        assert_eq!(base64url(b"f"), "Zg");
        assert_eq!(base64url(b"fo"), "Zm8");
        assert_eq!(base64url(b"foo"), "Zm9v");
        assert_eq!(base64url(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn pairs_are_fresh_and_well_formed() {
        let a = Pkce::new().unwrap();
        let b = Pkce::new().unwrap();
        assert_ne!(a.verifier, b.verifier);
        assert_eq!(a.verifier.expose().len(), 43);
        assert!(
            a.verifier
                .expose()
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(a.challenge, challenge_s256(a.verifier.expose()));
        assert_eq!(format!("{a:?}").matches("redacted").count(), 1);
        assert_ne!(new_state().unwrap(), new_state().unwrap());
    }

    #[test]
    fn sha1_names_match_the_cli() {
        // hashlib.sha1(b"my-sso").hexdigest()
        assert_eq!(
            sha1_hex("my-sso"),
            "0ad374308c5a4e22f723adf10145eafad7c4031c"
        );
        assert_eq!(sha1_hex("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[test]
    fn queries_round_trip() {
        let value = "http://127.0.0.1:5/oauth/callback?x=1&y=a b";
        let query = format!("a=1&redirect_uri={}&b=", url_encode(value));
        assert_eq!(query_value(&query, "redirect_uri").as_deref(), Some(value));
        assert_eq!(query_value(&query, "b").as_deref(), Some(""));
        assert_eq!(query_value(&query, "c"), None);
        assert_eq!(query_value("s=a+b%2Bc", "s").as_deref(), Some("a b+c"));
        assert_eq!(url_decode("%zz"), None);
    }
}
