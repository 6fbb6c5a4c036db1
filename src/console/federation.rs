//! The federation endpoint (DESIGN §16): where it is, the two URLs built on it, the
//! `SessionDuration` rule, and the one HTTP GET (`getSigninToken`).
//!
//! Facts from AWS's IAM User Guide ("Enable custom identity broker access to the AWS
//! console") and its knowledge-center note on "Invalid credentials parameter":
//! - `GET <federation>?Action=getSigninToken&Session=<JSON>` with the JSON
//!   `{"sessionId", "sessionKey", "sessionToken"}` answers `{"SigninToken": "…"}`;
//!   `<federation>?Action=login&Issuer=…&Destination=…&SigninToken=…` is the sign-in URL,
//!   valid for 15 minutes.
//! - `SessionDuration` (900–43200 s) may be asked only for a role session that an IAM user's
//!   long-lived keys assumed. For a role session assumed with other temporary credentials
//!   (role chaining: our MFA session as the source, or another role) the endpoint refuses
//!   the parameter (HTTP 400); AWS documents the rule for `AssumeRole*` called with anything
//!   but long-term credentials, so a web-identity role session does not send it either.
//!   Without it the endpoint chooses the console session's length.
#![forbid(unsafe_code)]

use super::ConsoleError;
use crate::aws::endpoint::is_cleartext_remote;
use crate::aws::{Outbound, Route, Transport, Wait};
use crate::env::Environment;
use crate::secret::Secret;
use crate::session::Credentials;
use crate::text::{clean, redact_url};
use std::time::Duration;
use zeroize::Zeroizing;

/// The variable that replaces the federation endpoint's base URL (`<base>/federation`).
pub const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL_SIGNIN";
/// The `Issuer` the console shows (and links back to when the session ends).
pub const ISSUER: &str = "stsexec";
/// The console session lengths `SessionDuration` accepts.
pub const MIN_SESSION_DURATION: Duration = Duration::from_secs(900);
pub const MAX_SESSION_DURATION: Duration = Duration::from_secs(43_200);
/// The longest sign-in token taken from an answer.
const MAX_TOKEN_CHARS: usize = 16 * 1024;

/// The federation endpoint of one run: `<base>/federation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Federation {
    /// `…/federation`, as requests use it.
    url: String,
    /// Whether `AWS_ENDPOINT_URL_SIGNIN` chose it.
    pub overridden: bool,
}

impl Federation {
    /// `AWS_ENDPOINT_URL_SIGNIN` when set, else the sign-in host of `partition` (the role
    /// ARN's: `aws`, `aws-cn`, `aws-us-gov`).
    pub fn choose(partition: &str, current: &Environment) -> Result<Federation, ConsoleError> {
        if let Some(base) = current.get(ENDPOINT_VARIABLE).filter(|v| !v.is_empty()) {
            return Federation::from_base(base);
        }
        let host = match partition {
            "aws" => "signin.aws.amazon.com",
            "aws-cn" => "signin.amazonaws.cn",
            "aws-us-gov" => "signin.amazonaws-us-gov.com",
            other => {
                return Err(ConsoleError::UnknownPartition {
                    partition: clean(other, 40),
                });
            }
        };
        Ok(Federation {
            url: format!("https://{host}/federation"),
            overridden: false,
        })
    }

    /// `<base>/federation`, for a base URL as `AWS_ENDPOINT_URL_SIGNIN` gives it.
    pub fn from_base(base: &str) -> Result<Federation, ConsoleError> {
        let trimmed = base.trim_end_matches('/');
        let shape_ok = (trimmed.starts_with("https://") || trimmed.starts_with("http://"))
            && !trimmed.contains(['?', '#'])
            && trimmed.split_once("://").is_some_and(|(_, rest)| {
                !rest.is_empty() && !rest.bytes().any(|b| b.is_ascii_whitespace())
            });
        if !shape_ok {
            return Err(ConsoleError::BadEndpointVariable {
                value: clean(base, 100),
            });
        }
        if is_cleartext_remote(trimmed) {
            return Err(ConsoleError::CleartextEndpoint {
                url: redact_url(trimmed),
            });
        }
        Ok(Federation {
            url: format!("{trimmed}/federation"),
            overridden: true,
        })
    }

    /// The endpoint as messages name it (no user-info).
    pub fn shown(&self) -> String {
        redact_url(&self.url)
    }

    /// `getSigninToken`'s URL: it carries the session's secret key and token.
    fn token_request_url(
        &self,
        credentials: &Credentials,
        session_duration: Option<Duration>,
    ) -> Result<Zeroizing<String>, ConsoleError> {
        let token = credentials
            .session_token
            .as_ref()
            .ok_or(ConsoleError::NotASession)?;
        let session = Zeroizing::new(
            serde_json::json!({
                "sessionId": credentials.access_key_id,
                "sessionKey": credentials.secret_access_key.expose(),
                "sessionToken": token.expose(),
            })
            .to_string(),
        );
        let duration = session_duration
            .map(|d| format!("&SessionDuration={}", d.as_secs()))
            .unwrap_or_default();
        Ok(Zeroizing::new(format!(
            "{}?Action=getSigninToken{duration}&Session={}",
            self.url,
            Zeroizing::new(encode(&session)).as_str()
        )))
    }

    /// The sign-in URL: a bearer credential for 15 minutes.
    pub fn login_url(&self, destination: &str, token: &Secret) -> Secret {
        Secret::new(format!(
            "{}?Action=login&Issuer={ISSUER}&Destination={}&SigninToken={}",
            self.url,
            encode(destination),
            Zeroizing::new(encode(token.expose())).as_str()
        ))
    }

    /// A sign-in token for the role session `credentials` (`getSigninToken`), through the
    /// run's outbound layer (proxies, CA bundle, its bound and response cap).
    pub fn signin_token(
        &self,
        outbound: &Outbound,
        credentials: &Credentials,
        session_duration: Option<Duration>,
    ) -> Result<Secret, ConsoleError> {
        let endpoint = self.shown();
        // A loopback http endpoint reached through a plain-http proxy on another host sends
        // the session's secret key across the network all the same.
        if let Route::Proxy(proxy) = outbound.network().route(&self.url)
            && self
                .url
                .get(..7)
                .is_some_and(|s| s.eq_ignore_ascii_case("http://"))
            && is_cleartext_remote(proxy.url().expose())
        {
            return Err(ConsoleError::CleartextProxy {
                url: endpoint,
                proxy: proxy.name(),
            });
        }
        let url = self.token_request_url(credentials, session_duration)?;
        let wait = Wait {
            service: "console sign-in",
            endpoint: &endpoint,
            operation: "getSigninToken",
        };
        let answer = outbound
            .get(wait, &url, &[("accept", "application/json")])
            .map_err(|failure| match failure {
                Transport::Timeout { seconds } => ConsoleError::Timeout {
                    endpoint: endpoint.clone(),
                    seconds,
                },
                Transport::TooLarge => ConsoleError::NotAnAnswer {
                    endpoint: endpoint.clone(),
                    why: "more than 64 KiB",
                },
                failure => ConsoleError::Unreachable {
                    endpoint: endpoint.clone(),
                    failure,
                },
            })?;
        match answer.status {
            200 => token_from_answer(&answer.body, &endpoint),
            status => Err(ConsoleError::Refused {
                endpoint,
                status,
                said: refusal_words(&answer.body),
                chained_duration: session_duration.is_some() && status == 400,
            }),
        }
    }
}

/// How the role session was made, which decides whether `SessionDuration` may be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleOrigin {
    /// AssumeRole signed with the IAM user's long-lived keys.
    LongLivedKeys,
    /// AssumeRole signed with temporary credentials (the MFA session): role chaining.
    Chained,
    /// AssumeRoleWithWebIdentity (no AWS credentials behind it).
    WebIdentity,
}

/// The `SessionDuration` to ask for: the role session's time left, within 15 min–12 h, and
/// only where the endpoint accepts the parameter (see the module's notes).
pub fn session_duration(origin: RoleOrigin, left: Duration) -> Option<Duration> {
    match origin {
        RoleOrigin::LongLivedKeys => {
            let whole = Duration::from_secs(left.as_secs());
            Some(whole.clamp(MIN_SESSION_DURATION, MAX_SESSION_DURATION))
        }
        RoleOrigin::Chained | RoleOrigin::WebIdentity => None,
    }
}

/// The console home of `region` in `partition`, where the sign-in lands unless
/// `--console-destination` says otherwise.
pub fn default_destination(partition: &str, region: &str) -> String {
    let domain = match partition {
        "aws-cn" => "console.amazonaws.cn",
        "aws-us-gov" => "console.amazonaws-us-gov.com",
        _ => "console.aws.amazon.com",
    };
    let region = encode(region);
    format!("https://{region}.{domain}/console/home?region={region}")
}

/// `--console-destination URL`: an https URL (the console, or a page on it).
pub fn check_destination(typed: &str) -> Result<(), ConsoleError> {
    let ok = typed.len() <= 2048
        && typed
            .strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && typed.bytes().all(|b| b.is_ascii_graphic());
    if ok {
        Ok(())
    } else {
        Err(ConsoleError::BadDestination {
            typed: clean(typed, 100),
        })
    }
}

/// Percent-encoding for a query value (RFC 3986 unreserved characters kept).
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token in the answer `{"SigninToken": "…"}`.
fn token_from_answer(body: &[u8], endpoint: &str) -> Result<Secret, ConsoleError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "SigninToken")]
        signin_token: Option<Secret>,
    }
    let not = |why| ConsoleError::NotAnAnswer {
        endpoint: endpoint.to_string(),
        why,
    };
    let answer: Answer = serde_json::from_slice(body).map_err(|_| not("not JSON"))?;
    let token = answer.signin_token.ok_or_else(|| not("no SigninToken"))?;
    let text = token.expose();
    if text.is_empty()
        || text.len() > MAX_TOKEN_CHARS
        || !text.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(not("a SigninToken that is empty, huge or not printable"));
    }
    Ok(token)
}

/// A refusal's own words, when it has a short text or JSON message.
fn refusal_words(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        message: Option<String>,
        #[serde(rename = "Message")]
        message_upper: Option<String>,
    }
    if let Ok(refusal) = serde_json::from_slice::<Refusal>(body)
        && let Some(message) = refusal.message.or(refusal.message_upper)
    {
        return clean(&message, 160);
    }
    match std::str::from_utf8(body) {
        Ok(text) if !text.contains('<') && text.len() <= 400 => clean(text.trim(), 160),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    fn session() -> Credentials {
        Credentials {
            access_key_id: "ASIAEXAMPLEEXAMPLE12".to_string(),
            secret_access_key: Secret::new("SECRETMARKER/key+x"),
            session_token: Some(Secret::new("SECRETMARKER token=")),
            expiration: None,
        }
    }

    #[test]
    fn each_partition_has_its_endpoint_and_console() {
        let none = env(&[]);
        let cases = [
            (
                "aws",
                "https://signin.aws.amazon.com/federation",
                "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1",
                "eu-west-1",
            ),
            (
                "aws-cn",
                "https://signin.amazonaws.cn/federation",
                "https://cn-north-1.console.amazonaws.cn/console/home?region=cn-north-1",
                "cn-north-1",
            ),
            (
                "aws-us-gov",
                "https://signin.amazonaws-us-gov.com/federation",
                "https://us-gov-west-1.console.amazonaws-us-gov.com/console/home?region=us-gov-west-1",
                "us-gov-west-1",
            ),
        ];
        for (partition, endpoint, console, region) in cases {
            let federation = Federation::choose(partition, &none).unwrap();
            assert_eq!(federation.shown(), endpoint);
            assert!(!federation.overridden);
            assert_eq!(default_destination(partition, region), console);
        }
        let iso = Federation::choose("aws-iso", &none)
            .unwrap_err()
            .to_string();
        assert!(
            iso.contains("aws-iso") && iso.contains("AWS_ENDPOINT_URL_SIGNIN"),
            "{iso}"
        );
    }

    #[test]
    fn the_variable_replaces_the_base_url() {
        let local = env(&[("AWS_ENDPOINT_URL_SIGNIN", "http://127.0.0.1:4567/")]);
        let federation = Federation::choose("aws-cn", &local).unwrap();
        assert_eq!(federation.shown(), "http://127.0.0.1:4567/federation");
        assert!(federation.overridden);
        let proxy = env(&[("AWS_ENDPOINT_URL_SIGNIN", "https://u:p@signin.corp/x")]);
        assert_eq!(
            Federation::choose("aws", &proxy).unwrap().shown(),
            "https://signin.corp/x/federation"
        );
        for bad in [
            "signin.corp",
            "ftp://x",
            "https://",
            "https://a/b?c",
            "https://a b",
        ] {
            let e = Federation::choose("aws", &env(&[("AWS_ENDPOINT_URL_SIGNIN", bad)]));
            assert!(
                matches!(e, Err(ConsoleError::BadEndpointVariable { .. })),
                "{bad}"
            );
        }
        let cleartext = Federation::choose(
            "aws",
            &env(&[("AWS_ENDPOINT_URL_SIGNIN", "http://signin.example")]),
        );
        assert!(matches!(
            cleartext,
            Err(ConsoleError::CleartextEndpoint { .. })
        ));
    }

    #[test]
    fn the_token_request_carries_the_session_json_encoded() {
        let federation = Federation::choose("aws", &env(&[])).unwrap();
        let url = federation
            .token_request_url(&session(), Some(Duration::from_secs(3600)))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://signin.aws.amazon.com/federation?Action=getSigninToken&SessionDuration=3600&Session=%7B%22sessionId%22%3A%22ASIAEXAMPLEEXAMPLE12%22%2C%22sessionKey%22%3A%22SECRETMARKER%2Fkey%2Bx%22%2C%22sessionToken%22%3A%22SECRETMARKER%20token%3D%22%7D"
        );
        let without = federation.token_request_url(&session(), None).unwrap();
        assert!(!without.contains("SessionDuration"));
        let mut keys = session();
        keys.session_token = None;
        assert!(matches!(
            federation.token_request_url(&keys, None),
            Err(ConsoleError::NotASession)
        ));
    }

    #[test]
    fn the_login_url_names_the_issuer_destination_and_token() {
        let federation = Federation::choose(
            "aws",
            &env(&[("AWS_ENDPOINT_URL_SIGNIN", "http://localhost:9/base")]),
        )
        .unwrap();
        let url = federation.login_url(
            "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1",
            &Secret::new("tok+en/=="),
        );
        assert_eq!(
            url.expose(),
            "http://localhost:9/base/federation?Action=login&Issuer=stsexec&Destination=https%3A%2F%2Fus-east-1.console.aws.amazon.com%2Fconsole%2Fhome%3Fregion%3Dus-east-1&SigninToken=tok%2Ben%2F%3D%3D"
        );
        assert!(!format!("{url:?}").contains("tok"));
    }

    #[test]
    fn session_duration_only_for_roles_assumed_with_long_lived_keys() {
        let h = |n: u64| Duration::from_secs(n * 3600);
        assert_eq!(
            session_duration(RoleOrigin::LongLivedKeys, h(1)),
            Some(h(1))
        );
        assert_eq!(
            session_duration(RoleOrigin::LongLivedKeys, Duration::from_millis(3_599_700)),
            Some(Duration::from_secs(3599))
        );
        assert_eq!(
            session_duration(RoleOrigin::LongLivedKeys, Duration::from_secs(60)),
            Some(MIN_SESSION_DURATION)
        );
        assert_eq!(
            session_duration(RoleOrigin::LongLivedKeys, h(36)),
            Some(MAX_SESSION_DURATION)
        );
        assert_eq!(session_duration(RoleOrigin::Chained, h(1)), None);
        assert_eq!(session_duration(RoleOrigin::WebIdentity, h(1)), None);
    }

    #[test]
    fn destinations_are_https_urls() {
        assert!(check_destination("https://console.aws.amazon.com/s3/home").is_ok());
        for bad in [
            "http://console.aws.amazon.com/",
            "https://",
            "https:///x",
            "https://a b",
            "javascript:alert(1)",
        ] {
            assert!(check_destination(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn answers_are_checked_without_echoing_them() {
        let token = token_from_answer(br#"{"SigninToken":"abc-DEF_123"}"#, "e").unwrap();
        assert_eq!(token.expose(), "abc-DEF_123");
        for (body, why) in [
            (&b"<html>SECRETMARKER</html>"[..], "not JSON"),
            (br#"{"other":1}"#, "no SigninToken"),
            (
                br#"{"SigninToken":"a b"}"#,
                "a SigninToken that is empty, huge or not printable",
            ),
        ] {
            match token_from_answer(body, "e") {
                Err(ConsoleError::NotAnAnswer { why: got, .. }) => assert_eq!(got, why),
                other => panic!("{:?}", other.map(|_| ())),
            }
        }
        assert_eq!(
            refusal_words(b"Invalid credentials parameter\n"),
            "Invalid credentials parameter"
        );
        assert_eq!(refusal_words(b"<html>x</html>"), "");
        assert_eq!(refusal_words(br#"{"message":"no \u001b[2J"}"#), "no [2J");
    }
}
