//! Where `--web-identity` gets the CI's OIDC token (DESIGN §11), first found:
//! `--web-identity=FILE`; `$AWS_WEB_IDENTITY_TOKEN_FILE`; GitHub Actions' token request
//! (`$ACTIONS_ID_TOKEN_REQUEST_URL&audience=…` with `Authorization: Bearer
//! $ACTIONS_ID_TOKEN_REQUEST_TOKEN`, answer `{"value": "<JWT>"}`). Each source is read anew
//! for every call, so a `--server` renewal sends a fresh token (GitHub's expire in minutes,
//! Kubernetes rotates its file). The token is a [`Secret`]: no message, debug line or command
//! line holds it.
//!
//! The GitHub request is a plain GET through the outbound layer ([`crate::aws::Outbound::get`]):
//! the TLS roots, time-outs, retries, response cap and failure classification every call
//! shares. Its runtime starts only here. The token is read on every run, a cache hit included:
//! a cached session goes only to a token of the same identity ([`identity`]), so with GitHub
//! even a hit makes the token request.
#![forbid(unsafe_code)]

use crate::aws::{Outbound, Transport, Wait};
use crate::env::Environment;
use crate::files::{self, FileError, Kind};
use crate::secret::Secret;
use crate::text::{clean, redact_url, shown};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The audience GitHub's token is made for unless `--audience` says otherwise: what AWS's
/// OIDC providers for GitHub list as the client id.
pub const DEFAULT_AUDIENCE: &str = "sts.amazonaws.com";
/// The longest `WebIdentityToken` STS accepts.
pub const MAX_TOKEN_CHARS: usize = 20_000;

/// Where the file path came from, as messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOrigin {
    Flag,
    Environment,
}

/// One source of OIDC tokens, chosen once per run and read on every call.
#[derive(Debug, Clone)]
pub enum TokenSource {
    File {
        path: PathBuf,
        origin: FileOrigin,
    },
    GitHub {
        /// `ACTIONS_ID_TOKEN_REQUEST_URL` as given (it carries `api-version` already).
        url: String,
        bearer: Secret,
        audience: String,
        /// The run's outbound layer, silent (a `--server` renewal fetches a token while the
        /// command owns the terminal); its bound is `STSEXEC_STS_TIMEOUT`.
        outbound: Outbound,
    },
}

/// Where a run's tokens come from, as messages name it ([`TokenSource::origin`]).
#[derive(Debug, Clone)]
pub enum TokenOrigin {
    File {
        path: PathBuf,
        origin: FileOrigin,
    },
    GitHub {
        /// The request URL without its query and user-info.
        url: String,
        audience: String,
    },
}

impl fmt::Display for TokenOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenOrigin::File { path, origin } => write!(
                f,
                "the token file {} ({})",
                path.display(),
                match origin {
                    FileOrigin::Flag => "--web-identity",
                    FileOrigin::Environment => "AWS_WEB_IDENTITY_TOKEN_FILE",
                }
            ),
            TokenOrigin::GitHub { url, audience } => write!(
                f,
                "GitHub Actions' token from {url} (audience {})",
                shown(audience)
            ),
        }
    }
}

impl TokenSource {
    /// DESIGN §11's order. `flag`: `Some(None)` for a bare `--web-identity`, `Some(Some(FILE))`
    /// for `--web-identity=FILE`. `audience`: `--audience`, which applies to GitHub only.
    pub fn choose(
        flag: Option<&Path>,
        audience: Option<&str>,
        outbound: &Outbound,
        current: &Environment,
    ) -> Result<TokenSource, WebIdentityError> {
        if let Some(path) = flag {
            return Ok(TokenSource::File {
                path: path.to_path_buf(),
                origin: FileOrigin::Flag,
            });
        }
        if let Some(path) = current
            .get_os("AWS_WEB_IDENTITY_TOKEN_FILE")
            .filter(|p| !p.is_empty())
        {
            return Ok(TokenSource::File {
                path: PathBuf::from(path),
                origin: FileOrigin::Environment,
            });
        }
        let url = current
            .get("ACTIONS_ID_TOKEN_REQUEST_URL")
            .filter(|v| !v.is_empty());
        let bearer = current
            .get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            .filter(|v| !v.is_empty());
        match (url, bearer) {
            (Some(url), Some(bearer)) => {
                let source = TokenSource::GitHub {
                    url: url.to_string(),
                    bearer: Secret::new(bearer),
                    audience: audience.unwrap_or(DEFAULT_AUDIENCE).to_string(),
                    outbound: outbound.clone().without_announcements(),
                };
                if let TokenSource::GitHub { url, .. } = &source
                    && crate::aws::endpoint::is_cleartext_remote(url)
                {
                    return Err(WebIdentityError::CleartextEndpoint {
                        url: redact_url(url),
                    });
                }
                Ok(source)
            }
            (Some(_), None) => Err(WebIdentityError::NoSource {
                github: GitHubHint::HalfSet("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
            }),
            (None, Some(_)) => Err(WebIdentityError::NoSource {
                github: GitHubHint::HalfSet("ACTIONS_ID_TOKEN_REQUEST_URL"),
            }),
            (None, None) => Err(WebIdentityError::NoSource {
                github: if current.get("GITHUB_ACTIONS") == Some("true") {
                    GitHubHint::InActionsWithoutPermission
                } else {
                    GitHubHint::NotInActions
                },
            }),
        }
    }

    /// Whether `--audience` means anything to this source (a file's audience is fixed where
    /// the file is made).
    pub fn takes_audience(&self) -> bool {
        matches!(self, TokenSource::GitHub { .. })
    }

    /// The source as messages name it: no bearer token, no URL query or user-info.
    pub fn origin(&self) -> TokenOrigin {
        match self {
            TokenSource::File { path, origin } => TokenOrigin::File {
                path: path.clone(),
                origin: *origin,
            },
            TokenSource::GitHub { url, audience, .. } => TokenOrigin::GitHub {
                url: shown_url(url),
                audience: audience.clone(),
            },
        }
    }

    /// A fresh token.
    pub fn fetch(&self) -> Result<Secret, WebIdentityError> {
        match self {
            TokenSource::File { path, origin } => read_file(path, *origin),
            TokenSource::GitHub {
                url,
                bearer,
                audience,
                outbound,
            } => request_github(outbound, url, bearer, audience),
        }
    }
}

/// Who a token speaks for, as the cache keys its session (DESIGN §11, issue 20): the SHA-256
/// of the JWT payload's `iss`, `sub` and `aud` claims (the audiences sorted), as 64 hex digits.
/// The payload is only decoded here, never trusted for anything else: STS checks the
/// signature when the session is made, and a cached session is served only to a later token
/// whose claims hash the same. `None` when the token is not a JWS with those three claims
/// (such a token gets no cached session and leaves none).
pub fn identity(token: &Secret) -> Option<String> {
    use base64::Engine as _;
    use sha2::Digest as _;
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum Audience {
        One(String),
        Many(Vec<String>),
    }
    #[derive(serde::Deserialize)]
    struct Claims {
        iss: String,
        sub: String,
        aud: Audience,
    }
    let mut parts = token.expose().split('.');
    let (Some(_header), Some(payload), Some(_signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let bytes = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?,
    );
    let claims: Claims = serde_json::from_slice(&bytes).ok()?;
    let mut audiences = match claims.aud {
        Audience::One(aud) => vec![aud],
        Audience::Many(auds) => auds,
    };
    audiences.sort();
    audiences.dedup();
    if claims.iss.is_empty() || claims.sub.is_empty() || audiences.iter().all(String::is_empty) {
        return None;
    }
    // JSON of a tuple: one encoding per (iss, sub, aud), no two claims' texts run together.
    let canonical = serde_json::to_vec(&(
        "stsexec-web-identity-1",
        &claims.iss,
        &claims.sub,
        &audiences,
    ))
    .ok()?;
    let digest = sha2::Sha256::digest(&canonical);
    Some(digest.iter().map(|b| format!("{b:02x}")).collect())
}

/// The URL without its query (which may hold ids) and user-info.
fn shown_url(url: &str) -> String {
    let without_query = url.split(['?', '#']).next().unwrap_or(url);
    redact_url(without_query)
}

fn read_file(path: &Path, origin: FileOrigin) -> Result<Secret, WebIdentityError> {
    let bytes = files::read(path, Kind::WebIdentityToken)
        .map_err(WebIdentityError::File)?
        .ok_or_else(|| WebIdentityError::FileMissing {
            path: path.to_path_buf(),
            origin,
        })?;
    let from = || TokenFrom::File(path.to_path_buf());
    let text = std::str::from_utf8(&bytes).map_err(|_| WebIdentityError::NotAToken {
        from: from(),
        flaw: Flaw::NotText,
    })?;
    check_token(text.trim(), from)
}

/// A token as STS accepts one: printable ASCII without spaces, at most 20 000 characters.
fn check_token(token: &str, from: impl Fn() -> TokenFrom) -> Result<Secret, WebIdentityError> {
    let flaw = if token.is_empty() {
        Flaw::Empty
    } else if token.len() > MAX_TOKEN_CHARS {
        Flaw::TooLong
    } else if !token.bytes().all(|b| b.is_ascii_graphic()) {
        Flaw::Characters
    } else {
        return Ok(Secret::new(token));
    };
    Err(WebIdentityError::NotAToken { from: from(), flaw })
}

/// `url` with `audience` added as a query parameter, percent-encoded.
fn request_url(url: &str, audience: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    let encoded: String = audience
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{url}{separator}audience={encoded}")
}

/// The token in GitHub's answer `{"value": "<JWT>", …}`.
fn token_from_answer(body: &[u8], from: &str) -> Result<Secret, WebIdentityError> {
    #[derive(serde::Deserialize)]
    struct Answer {
        value: Option<Secret>,
    }
    let answer: Answer =
        serde_json::from_slice(body).map_err(|_| WebIdentityError::GitHubNotJson {
            url: from.to_string(),
        })?;
    let Some(value) = answer.value else {
        return Err(WebIdentityError::GitHubNoValue {
            url: from.to_string(),
        });
    };
    check_token(value.expose(), || TokenFrom::GitHub {
        url: from.to_string(),
    })
}

fn request_github(
    outbound: &Outbound,
    url: &str,
    bearer: &Secret,
    audience: &str,
) -> Result<Secret, WebIdentityError> {
    let shown = shown_url(url);
    // Checked where the source is chosen, and again here, where the bearer token leaves.
    if crate::aws::endpoint::is_cleartext_remote(url) {
        return Err(WebIdentityError::CleartextEndpoint { url: shown });
    }
    // A plain-http URL on this machine, sent through a proxy on another host, crosses the
    // network in cleartext all the same.
    if let crate::aws::Route::Proxy(proxy) = outbound.network().route(url)
        && url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.scheme_str().map(str::to_string))
            == Some("http".to_string())
        && crate::aws::endpoint::is_cleartext_remote(proxy.url().expose())
    {
        return Err(WebIdentityError::CleartextProxy {
            url: shown,
            proxy: proxy.name(),
        });
    }
    let authorization = Zeroizing::new(format!("Bearer {}", bearer.expose()));
    let wait = Wait {
        service: "GitHub Actions' token endpoint",
        endpoint: &shown,
        operation: "token request",
    };
    let answer = outbound
        .get(
            wait,
            &request_url(url, audience),
            &[
                ("authorization", authorization.as_str()),
                ("accept", "application/json; api-version=2.0"),
            ],
        )
        .map_err(|failure| match failure {
            Transport::Timeout { seconds } => WebIdentityError::GitHubTimeout {
                url: shown.clone(),
                seconds,
            },
            Transport::TooLarge => WebIdentityError::GitHubNotJson { url: shown.clone() },
            failure => WebIdentityError::GitHubUnreachable {
                url: shown.clone(),
                failure,
            },
        })?;
    match answer.status {
        200 => token_from_answer(&answer.body, &shown),
        status => Err(WebIdentityError::GitHubRefused {
            url: shown,
            status,
            message: refusal_message(&answer.body),
        }),
    }
}

/// A refusal's own words, when it has some: GitHub answers `{"message": "…"}`.
fn refusal_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Refusal {
        message: Option<String>,
    }
    serde_json::from_slice::<Refusal>(body)
        .ok()
        .and_then(|r| r.message)
        .map(|m| clean(&m, 200))
        .unwrap_or_default()
}

/// Where a token that is not one came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenFrom {
    File(PathBuf),
    /// The answer of GitHub's token endpoint (its URL as shown).
    GitHub {
        url: String,
    },
}

impl fmt::Display for TokenFrom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenFrom::File(path) => write!(f, "the token file {}", path.display()),
            TokenFrom::GitHub { url } => {
                write!(f, "the answer of GitHub's token endpoint {url}")
            }
        }
    }
}

/// What is wrong with a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flaw {
    NotText,
    Empty,
    TooLong,
    Characters,
}

impl fmt::Display for Flaw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Flaw::NotText => "it is not text",
            Flaw::Empty => "it is empty",
            Flaw::TooLong => "it is longer than the 20000 characters STS accepts",
            Flaw::Characters => "it holds spaces, control or non-ASCII characters",
        })
    }
}

/// Which GitHub variable is missing, for the no-source sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GitHubHint {
    NotInActions,
    /// `GITHUB_ACTIONS=true` without the request variables: the job lacks the permission.
    InActionsWithoutPermission,
    /// One of the two request variables is set, this one is not.
    HalfSet(&'static str),
}

/// Why no token was had; `Display` is the sentence, naming the source and the fix.
#[derive(Debug)]
pub enum WebIdentityError {
    /// `--web-identity` without `--role`.
    NoRole,
    /// A row that needs the long-lived keys in a run that read none.
    NoKeys {
        account: String,
    },
    NoSource {
        github: GitHubHint,
    },
    FileMissing {
        path: PathBuf,
        origin: FileOrigin,
    },
    File(FileError),
    NotAToken {
        from: TokenFrom,
        flaw: Flaw,
    },
    CleartextEndpoint {
        url: String,
    },
    /// A plain-http token URL routed through a plain-http proxy on another host.
    CleartextProxy {
        url: String,
        proxy: crate::aws::failure::ProxyName,
    },
    GitHubUnreachable {
        url: String,
        failure: Transport,
    },
    GitHubTimeout {
        url: String,
        seconds: u64,
    },
    GitHubRefused {
        url: String,
        status: u16,
        message: String,
    },
    GitHubNotJson {
        url: String,
    },
    GitHubNoValue {
        url: String,
    },
    BadAudience {
        typed: String,
    },
}

const PERMISSION: &str = "`permissions: id-token: write`";

impl fmt::Display for WebIdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebIdentityError::NoRole => f.write_str(
                "--web-identity assumes a role with the CI's OIDC token: add --role ROLE (a role name from the accounts file, or a full role ARN)",
            ),
            WebIdentityError::NoKeys { account } => write!(
                f,
                "this run reads no key files for account {account} (--web-identity), yet needs its long-lived keys; drop --web-identity or add --role"
            ),
            WebIdentityError::NoSource { github } => {
                let github = match github {
                    GitHubHint::NotInActions => format!(
                        "in GitHub Actions give the job {PERMISSION} (ACTIONS_ID_TOKEN_REQUEST_URL is not set)"
                    ),
                    GitHubHint::InActionsWithoutPermission => format!(
                        "this GitHub Actions job cannot request one: give it {PERMISSION} in the workflow (ACTIONS_ID_TOKEN_REQUEST_URL is not set)"
                    ),
                    GitHubHint::HalfSet(missing) => format!(
                        "in GitHub Actions give the job {PERMISSION} ({missing} is not set)"
                    ),
                };
                write!(
                    f,
                    "--web-identity found no OIDC token: pass --web-identity=FILE, set AWS_WEB_IDENTITY_TOKEN_FILE, or {github}"
                )
            }
            WebIdentityError::FileMissing { path, origin } => write!(
                f,
                "web identity token file {} does not exist; {}",
                path.display(),
                match origin {
                    FileOrigin::Flag => "check the path given to --web-identity=FILE",
                    FileOrigin::Environment =>
                        "check AWS_WEB_IDENTITY_TOKEN_FILE, or pass --web-identity=FILE",
                }
            ),
            WebIdentityError::File(e) => e.fmt(f),
            WebIdentityError::NotAToken { from, flaw } => write!(
                f,
                "{from} does not hold an OIDC token ({flaw}); check what writes it"
            ),
            WebIdentityError::CleartextEndpoint { url } => write!(
                f,
                "ACTIONS_ID_TOKEN_REQUEST_URL {url} is plain http on another host, so the request token would cross the network unencrypted; use https"
            ),
            WebIdentityError::CleartextProxy { url, proxy } => write!(
                f,
                "ACTIONS_ID_TOKEN_REQUEST_URL {url} is plain http and {proxy} is on another host, so the request token would cross the network unencrypted; add the token host to NO_PROXY or use https"
            ),
            WebIdentityError::GitHubUnreachable {
                url,
                failure: Transport::UntrustedCertificate { cause },
            } => write!(
                f,
                "GitHub Actions' token endpoint {url} presented a TLS certificate stsexec does not trust: {cause}; {}",
                crate::sts::UNTRUSTED_FIX
            ),
            WebIdentityError::GitHubUnreachable { url, failure } => write!(
                f,
                "cannot reach GitHub Actions' token endpoint {url}: {}; check the runner's network",
                match failure {
                    Transport::Unreachable { cause } => cause.clone(),
                    other => other.cause(),
                }
            ),
            WebIdentityError::GitHubTimeout { url, seconds } => write!(
                f,
                "GitHub Actions' token endpoint {url} did not answer within {seconds} s; try again (STSEXEC_STS_TIMEOUT sets the limit)"
            ),
            WebIdentityError::GitHubRefused {
                url,
                status,
                message,
            } => {
                let said = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                let fix = match status {
                    401 | 403 => format!(
                        "ACTIONS_ID_TOKEN_REQUEST_TOKEN was not accepted; it is valid only in the job that received it, and the job needs {PERMISSION}"
                    ),
                    400 => "check --audience (default sts.amazonaws.com)".to_string(),
                    _ => format!("check the job's {PERMISSION} and try again"),
                };
                write!(
                    f,
                    "GitHub Actions' token endpoint {url} refused the token request (HTTP {status}{said}); {fix}"
                )
            }
            WebIdentityError::GitHubNotJson { url } => write!(
                f,
                "GitHub Actions' token endpoint {url} answered with something other than the JSON {{\"value\": …}} it sends; is ACTIONS_ID_TOKEN_REQUEST_URL GitHub's?"
            ),
            WebIdentityError::GitHubNoValue { url } => write!(
                f,
                "GitHub Actions' token endpoint {url} answered without a token (no \"value\"); is ACTIONS_ID_TOKEN_REQUEST_URL GitHub's?"
            ),
            WebIdentityError::BadAudience { typed } => write!(
                f,
                "--audience {:?}: use 1 to 256 printable characters without spaces, like sts.amazonaws.com",
                shown(typed)
            ),
        }
    }
}

impl std::error::Error for WebIdentityError {}

/// A JWS-shaped token for tests: `header.payload.signature` with the claims given (`aud` as
/// JSON: a string or an array) and `marker` in its `jti` claim and signature.
#[cfg(test)]
pub(crate) fn test_jwt(iss: &str, sub: &str, aud: &str, marker: &str) -> String {
    use base64::Engine as _;
    let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
    let payload = format!(
        r#"{{"iss":{},"sub":{},"aud":{aud},"jti":{}}}"#,
        serde_json::to_string(iss).unwrap(),
        serde_json::to_string(sub).unwrap(),
        serde_json::to_string(marker).unwrap()
    );
    format!(
        "{}.{}.{}",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&payload),
        b64(marker)
    )
}

/// `--audience`: what an OIDC audience looks like.
pub fn check_audience(typed: &str) -> Result<(), WebIdentityError> {
    if typed.is_empty() || typed.len() > 256 || !typed.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(WebIdentityError::BadAudience {
            typed: typed.to_string(),
        });
    }
    Ok(())
}

/// The role session name when `--session-name` is not given: the CI run when known
/// (`GITHUB_RUN_ID-GITHUB_RUN_ATTEMPT`, or GitLab's `CI_JOB_ID`), else `stsexec-<account>`.
pub fn default_session_name(current: &Environment, account: &str) -> String {
    let word = |name: &str| {
        current
            .get(name)
            .filter(|v| !v.is_empty() && v.len() <= 20 && v.bytes().all(|b| b.is_ascii_digit()))
    };
    if let Some(run) = word("GITHUB_RUN_ID") {
        let attempt = word("GITHUB_RUN_ATTEMPT").unwrap_or("1");
        return format!("{run}-{attempt}");
    }
    if let Some(job) = word("CI_JOB_ID") {
        return format!("gitlab-{job}");
    }
    // An account name is [a-z0-9][a-z0-9_.-]{0,63}; the session name allows [\w+=,.@-]{2,64}.
    let mut name = format!("stsexec-{account}");
    name.truncate(64);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_identity_is_its_issuer_subject_and_audience() {
        const GH: &str = "https://token.actions.githubusercontent.com";
        const MAIN: &str = "repo:acme/app:ref:refs/heads/main";
        let id = |token: &str| identity(&Secret::new(token));
        let one = id(&test_jwt(
            GH,
            MAIN,
            r#""sts.amazonaws.com""#,
            "SECRETMARKER-1",
        ))
        .unwrap();
        assert!(crate::cache::names::is_identity(&one), "{one}");
        // Another token of the same job's identity (new jti, signature): the same slot.
        assert_eq!(
            id(&test_jwt(GH, MAIN, r#"["sts.amazonaws.com"]"#, "2")),
            Some(one.clone())
        );
        assert_eq!(
            id(&test_jwt(GH, MAIN, r#"["b","a"]"#, "3")),
            id(&test_jwt(GH, MAIN, r#"["a","b","a"]"#, "4"))
        );
        // Any other claim: another identity (a fork, another issuer, another audience), and
        // no two claims run together.
        for other in [
            test_jwt(
                GH,
                "repo:fork/app:ref:refs/heads/main",
                r#""sts.amazonaws.com""#,
                "1",
            ),
            test_jwt("https://gitlab.com", MAIN, r#""sts.amazonaws.com""#, "1"),
            test_jwt(GH, MAIN, r#""other""#, "1"),
            test_jwt(
                &format!("{GH}repo:acme"),
                "/app:ref:refs/heads/main",
                r#""sts.amazonaws.com""#,
                "1",
            ),
        ] {
            assert_ne!(id(&other).as_deref(), Some(one.as_str()));
            assert!(id(&other).is_some());
        }
        assert!(!one.contains("SECRETMARKER"));
        // Not a JWS with the three claims: no identity (no cached session).
        for not in [
            "eyJ.first.sig".to_string(),
            "a.b".to_string(),
            format!("{}.x", test_jwt(GH, MAIN, r#""a""#, "1")),
            test_jwt("", MAIN, r#""a""#, "1"),
            test_jwt(GH, MAIN, "[]", "1"),
            test_jwt(GH, MAIN, "5", "1"),
        ] {
            assert_eq!(id(&not), None, "{not}");
        }
    }

    fn layer() -> Outbound {
        Outbound::new(
            crate::aws::DEFAULT_OPERATION_TIMEOUT,
            None,
            &Environment::default(),
        )
    }

    fn env(pairs: &[(&str, &str)]) -> Environment {
        Environment::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn sources_are_taken_in_order() {
        let all = env(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token"),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://gh.example/idtoken?api-version=2.0",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SECRETMARKER-bearer"),
        ]);
        let flag = TokenSource::choose(Some(Path::new("/tmp/jwt")), None, &layer(), &all).unwrap();
        assert!(
            matches!(&flag, TokenSource::File { path, origin: FileOrigin::Flag } if path == Path::new("/tmp/jwt"))
        );
        let from_env = TokenSource::choose(None, None, &layer(), &all).unwrap();
        assert_eq!(
            from_env.origin().to_string(),
            "the token file /var/run/token (AWS_WEB_IDENTITY_TOKEN_FILE)"
        );
        let github = env(&[
            ("AWS_WEB_IDENTITY_TOKEN_FILE", ""),
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "https://u:p@gh.example/idtoken?api-version=2.0",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SECRETMARKER-bearer"),
        ]);
        let source = TokenSource::choose(None, Some("my-aud"), &layer(), &github).unwrap();
        let shown = source.origin().to_string();
        assert_eq!(
            shown,
            "GitHub Actions' token from https://gh.example/idtoken (audience my-aud)"
        );
        assert!(!format!("{source:?}").contains("SECRETMARKER"));
        assert!(source.takes_audience() && !from_env.takes_audience());
    }

    #[test]
    fn no_source_names_all_three_and_the_permission() {
        let none = TokenSource::choose(None, None, &layer(), &env(&[]))
            .unwrap_err()
            .to_string();
        assert_eq!(
            none,
            "--web-identity found no OIDC token: pass --web-identity=FILE, set AWS_WEB_IDENTITY_TOKEN_FILE, or in GitHub Actions give the job `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is not set)"
        );
        let in_actions =
            TokenSource::choose(None, None, &layer(), &env(&[("GITHUB_ACTIONS", "true")]))
                .unwrap_err()
                .to_string();
        assert!(
            in_actions.contains("this GitHub Actions job cannot request one"),
            "{in_actions}"
        );
        let half = TokenSource::choose(
            None,
            None,
            &layer(),
            &env(&[("ACTIONS_ID_TOKEN_REQUEST_URL", "https://x/")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            half.contains("(ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set)"),
            "{half}"
        );
        let cleartext = TokenSource::choose(
            None,
            None,
            &layer(),
            &env(&[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://gh.example/x"),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "t"),
            ]),
        )
        .unwrap_err();
        assert!(matches!(
            cleartext,
            WebIdentityError::CleartextEndpoint { .. }
        ));
    }

    #[test]
    fn a_plain_http_token_url_never_goes_through_a_remote_plain_http_proxy() {
        let current = env(&[("HTTP_PROXY", "http://u:SECRETMARKER@proxy.example:3128")]);
        let outbound = Outbound::new(crate::aws::DEFAULT_OPERATION_TIMEOUT, None, &current);
        let bearer = Secret::new("SECRETMARKER-bearer");
        let refused = request_github(&outbound, "http://127.0.0.1:1/t", &bearer, "a").unwrap_err();
        let sentence = refused.to_string();
        assert!(
            matches!(refused, WebIdentityError::CleartextProxy { .. }),
            "{sentence}"
        );
        assert!(
            sentence.contains("proxy http://proxy.example:3128 (HTTP_PROXY) is on another host"),
            "{sentence}"
        );
        assert!(!sentence.contains("SECRETMARKER"));
    }

    #[test]
    fn the_audience_is_added_to_the_query_encoded() {
        assert_eq!(
            request_url("https://gh/idtoken?api-version=2.0", "sts.amazonaws.com"),
            "https://gh/idtoken?api-version=2.0&audience=sts.amazonaws.com"
        );
        assert_eq!(
            request_url("http://127.0.0.1:1/t", "a b&c=d/é"),
            "http://127.0.0.1:1/t?audience=a%20b%26c%3Dd%2F%C3%A9"
        );
        assert!(check_audience("sts.amazonaws.com").is_ok());
        assert!(check_audience("").is_err() && check_audience("a b").is_err());
    }

    #[test]
    fn answers_and_files_are_checked_without_echoing_them() {
        let token = token_from_answer(br#"{"count": 1, "value": "eyJ.a.b"}"#, "u").unwrap();
        assert_eq!(token.expose(), "eyJ.a.b");
        assert!(matches!(
            token_from_answer(b"<html>SECRETMARKER</html>", "u"),
            Err(WebIdentityError::GitHubNotJson { .. })
        ));
        assert!(matches!(
            token_from_answer(br#"{"message": "x"}"#, "u"),
            Err(WebIdentityError::GitHubNoValue { .. })
        ));
        let spaced = token_from_answer(br#"{"value": "SECRETMARKER with spaces"}"#, "u")
            .unwrap_err()
            .to_string();
        assert!(!spaced.contains("SECRETMARKER"), "{spaced}");
        assert!(
            check_token(&"a".repeat(MAX_TOKEN_CHARS + 1), || TokenFrom::File(
                "x".into()
            ))
            .is_err()
        );
        assert_eq!(
            refusal_message(br#"{"message": "Bad \u001b[2J bearer"}"#),
            "Bad [2J bearer"
        );
        assert_eq!(refusal_message(b"no json"), "");
    }

    #[test]
    fn token_files_may_be_links_owned_by_others_but_not_writable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..data");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("token"), "  eyJhbGciOi.payload.sig\n").unwrap();
        std::fs::set_permissions(data.join("token"), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        let link = dir.path().join("token");
        std::os::unix::fs::symlink("..data/token", &link).unwrap();
        let token = read_file(&link, FileOrigin::Flag).unwrap();
        assert_eq!(token.expose(), "eyJhbGciOi.payload.sig");
        std::fs::set_permissions(data.join("token"), std::fs::Permissions::from_mode(0o646))
            .unwrap();
        let open = read_file(&link, FileOrigin::Flag).unwrap_err().to_string();
        assert!(
            open.contains("is writable by others") && open.contains("chmod o-w"),
            "{open}"
        );
        let missing = read_file(&dir.path().join("nope"), FileOrigin::Environment)
            .unwrap_err()
            .to_string();
        assert!(
            missing.contains("check AWS_WEB_IDENTITY_TOKEN_FILE"),
            "{missing}"
        );
        std::fs::write(data.join("empty"), "\n").unwrap();
        assert!(read_file(&data.join("empty"), FileOrigin::Flag).is_err());
    }

    #[test]
    fn the_default_session_name_is_the_ci_run() {
        assert_eq!(
            default_session_name(
                &env(&[("GITHUB_RUN_ID", "9876543210"), ("GITHUB_RUN_ATTEMPT", "2")]),
                "prod"
            ),
            "9876543210-2"
        );
        assert_eq!(
            default_session_name(&env(&[("CI_JOB_ID", "42")]), "prod"),
            "gitlab-42"
        );
        assert_eq!(
            default_session_name(&env(&[("GITHUB_RUN_ID", "x;rm")]), "prod"),
            "stsexec-prod"
        );
        let long = "a".repeat(64);
        assert_eq!(default_session_name(&env(&[]), &long).len(), 64);
    }
}
