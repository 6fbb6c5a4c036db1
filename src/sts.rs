//! The only user of aws-sdk-sts. The provider reaches STS through the [`StsApi`] trait
//! (GetSessionToken, AssumeRole, AssumeRoleWithWebIdentity); [`LazySts`] is the real one. Its
//! client is built through the outbound layer ([`crate::aws`]) on the first call only, so the
//! cached path never starts a runtime or a client: explicit static credentials, region,
//! endpoint, the layer's time-outs, retries and response cap — never aws-config's loader,
//! which reads `~/.aws/config` and `~/.aws/credentials` (other tools' files, which could
//! redirect a call signed with the long-lived key).
#![forbid(unsafe_code)]

pub use crate::aws::Endpoint;
use crate::aws::cap::{MAX_RESPONSE_BYTES, ResponseCap};
use crate::aws::endpoint::{Partition, Variant};
use crate::aws::{Connections, MAX_ATTEMPTS, Outbound, Service, Transport, Wait};
use crate::env::Environment;
use crate::keys::KeyPlaces;
use crate::secret::{MfaCode, Secret, is_access_key_id, mask_key_id};
use crate::session::Credentials;
use crate::text::clean;
use crate::web_identity::TokenOrigin;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// The operation name of `--web-identity`'s call, as messages name it.
pub const WEB_IDENTITY_OPERATION: &str = "AssumeRoleWithWebIdentity";

pub use crate::aws::DEFAULT_OPERATION_TIMEOUT;

/// DESIGN §3, §14: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the region's endpoint
/// in the account's partition (its ARN prefix's, else the region's), FIPS and dual-stack as
/// `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT` ask.
pub fn endpoint(current: &Environment, region: &str, partition: Option<&str>) -> Endpoint {
    let default = Partition::of(partition, region).sts_url(region, Variant::from_env(current));
    Endpoint::resolve(current, Service::Sts, default)
}

/// The largest session token accepted.
const MAX_TOKEN_BYTES: usize = 16 * 1024;
/// How much longer than asked a session may appear to last (clock skew).
const LIFETIME_SLACK: Duration = Duration::from_secs(5 * 60);

/// Refuses a session that lasts longer than asked (an endpoint handing out near-eternal
/// sessions) or that ends within the validity window (it would be handed to the command
/// already stale).
pub fn vet_lifetime(
    credentials: &Credentials,
    asked: Duration,
    window: Duration,
) -> Result<(), StsFailure> {
    let left = credentials
        .expiration
        .and_then(|e| e.duration_since(SystemTime::now()).ok())
        .unwrap_or_default();
    if left > asked + LIFETIME_SLACK || left <= window {
        return Err(StsFailure::Lifetime {
            left,
            asked,
            window,
        });
    }
    Ok(())
}

/// The STS calls the provider makes. A fake in the provider's tests counts calls and refuses.
pub trait StsApi {
    fn get_session_token(
        &mut self,
        keys: &Credentials,
        mfa_serial: &str,
        code: &MfaCode,
        duration: Duration,
    ) -> Result<Credentials, StsFailure>;

    fn assume_role(
        &mut self,
        source: &Credentials,
        request: &AssumeRoleRequest<'_>,
    ) -> Result<Credentials, StsFailure>;

    /// Unsigned: the OIDC token is the credential (`--web-identity`, DESIGN §11).
    fn assume_role_with_web_identity(
        &mut self,
        request: &WebIdentityRequest<'_>,
    ) -> Result<Credentials, StsFailure>;

    /// The endpoint calls go to, as messages name it.
    fn endpoint(&self) -> &Endpoint;
}

/// The parameters of an AssumeRoleWithWebIdentity call.
#[derive(Debug)]
pub struct WebIdentityRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub token: &'a Secret,
    pub duration: Duration,
}

/// The parameters of an AssumeRole call.
#[derive(Debug)]
pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: Option<&'a Secret>,
    pub duration: Duration,
}

/// How an STS call failed, with what the sentence needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StsFailure {
    MfaRejected,
    /// InvalidClientTokenId: the access key (or the session's) is unknown or inactive.
    UnknownKey {
        key_id: String,
    },
    SignatureMismatch {
        key_id: String,
    },
    /// ExpiredToken: the session used to sign has expired or was revoked.
    ExpiredSession,
    RoleDenied {
        key_id: String,
        message: String,
    },
    /// AssumeRoleWithWebIdentity refused the OIDC token (invalid, expired, rejected claim,
    /// or the identity provider could not be reached by STS).
    TokenRejected {
        code: String,
        message: String,
    },
    Throttled,
    ServerError {
        status: u16,
    },
    Refused {
        code: String,
        message: String,
        status: u16,
    },
    /// The call failed on the way (time-out, network, TLS, the response cap, an unreadable
    /// answer): the outbound layer's classification.
    Transport(Transport),
    /// An answer without complete, unexpired credentials.
    Incomplete(Lacking),
    /// A session that lasts longer than asked (beyond clock skew) or ends within the window.
    Lifetime {
        left: Duration,
        asked: Duration,
        window: Duration,
    },
}

/// What an answer lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lacking {
    Credentials,
    UnexpiredCredentials,
    CompleteCredentials,
    SmallToken,
    CallerArn,
}

impl fmt::Display for Lacking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lacking::Credentials => "without credentials",
            Lacking::UnexpiredCredentials => "with credentials that have already expired",
            Lacking::CompleteCredentials => "with incomplete credentials",
            Lacking::SmallToken => "with a session token larger than 16 KiB",
            Lacking::CallerArn => "without the caller's ARN",
        })
    }
}

impl From<Transport> for StsFailure {
    fn from(t: Transport) -> Self {
        StsFailure::Transport(t)
    }
}

impl StsFailure {
    /// STS refused the credentials that signed the call (not the request itself).
    pub fn refused_signer(&self) -> bool {
        matches!(
            self,
            StsFailure::UnknownKey { .. } | StsFailure::ExpiredSession
        )
    }
}

/// A failed call in context: which call, for which account and role, signed by what.
#[derive(Debug)]
pub struct StsError {
    pub operation: &'static str,
    pub account: String,
    pub role_arn: Option<String>,
    pub mfa_serial: Option<String>,
    pub endpoint: String,
    /// What to check when STS refuses the signing key: the key files, or the cache file;
    /// for AssumeRoleWithWebIdentity, the token's source.
    pub signer: Signer,
    pub failure: StsFailure,
}

/// What signed a call (for AssumeRoleWithWebIdentity, which is unsigned: where its token came
/// from), as the sentence that says what to check names it.
#[derive(Debug, Clone)]
pub enum Signer {
    /// The long-lived key: its id file and the store its secret came from.
    Keys(KeyPlaces),
    /// The MFA session this run has just got.
    NewMfaSession,
    /// The account's cached MFA session: its file, when the file's name could be made.
    CachedMfaSession { file: Option<PathBuf> },
    /// `--add`: the key it took from a profile or a file.
    AddedKey(KeyOrigin),
    /// `--web-identity`: the token's source.
    WebIdentityToken(TokenOrigin),
}

impl fmt::Display for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Signer::Keys(places) => places.fmt(f),
            Signer::NewMfaSession => f.write_str("the new MFA session"),
            Signer::CachedMfaSession { file: Some(file) } => write!(
                f,
                "the cached MFA session {} (run with --mfa --refresh)",
                file.display()
            ),
            Signer::CachedMfaSession { file: None } => f.write_str("the cached MFA session"),
            Signer::AddedKey(origin) => write!(f, "the key taken from {origin}"),
            Signer::WebIdentityToken(origin) => origin.fmt(f),
        }
    }
}

/// Where `--add` took the key pair from.
#[derive(Debug, Clone)]
pub enum KeyOrigin {
    /// `--from-profile`: a profile of the AWS shared credentials file.
    Profile { profile: String, file: PathBuf },
    /// The account's plain or age secret file (the id from `<account>.access_key`).
    File(PathBuf),
    /// Typed at the terminal, hidden.
    Terminal,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Profile { profile, file } => {
                write!(f, "profile [{profile}] of {}", file.display())
            }
            KeyOrigin::File(path) => path.display().fmt(f),
            KeyOrigin::Terminal => f.write_str("the terminal"),
        }
    }
}

impl fmt::Display for StsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let account = &self.account;
        let endpoint = &self.endpoint;
        let op = self.operation;
        let target = match &self.role_arn {
            Some(role) => format!("role {role} from account {account}"),
            None => format!("account {account}"),
        };
        let check = "check the network, or AWS_ENDPOINT_URL_STS if you set it";
        match &self.failure {
            StsFailure::MfaRejected => write!(
                f,
                "STS rejected the MFA code for {target} (device {}): wait for the next code and try again",
                self.mfa_serial.as_deref().unwrap_or("unknown")
            ),
            StsFailure::UnknownKey { key_id } => write!(
                f,
                "STS does not know access key {} ({target}), or it is inactive: check {}",
                mask_key_id(key_id),
                self.signer
            ),
            StsFailure::SignatureMismatch { key_id } => write!(
                f,
                "STS refused the secret key of access key {} ({target}): check {}",
                mask_key_id(key_id),
                self.signer
            ),
            StsFailure::ExpiredSession => write!(
                f,
                "the session used for {target} has expired: run again with --refresh (and --mfa for the MFA session)"
            ),
            StsFailure::RoleDenied { message, .. } if op == WEB_IDENTITY_OPERATION => write!(
                f,
                "STS refused the OIDC token from {} for {target}: {}; the role's trust policy must allow sts:AssumeRoleWithWebIdentity for this token's issuer, audience and subject",
                self.signer,
                clean(message, 300)
            ),
            StsFailure::TokenRejected { code, message } => write!(
                f,
                "STS refused the OIDC token from {} for {target}: {}: {}; check that the IAM OIDC provider of its issuer exists and lists its audience, and that the token has not expired",
                self.signer,
                clean(code, 64),
                clean(message, 300)
            ),
            StsFailure::RoleDenied { key_id, message } => write!(
                f,
                "access key {} of account {account} may not assume {}: {}",
                mask_key_id(key_id),
                self.role_arn.as_deref().unwrap_or_default(),
                clean(message, 300)
            ),
            StsFailure::Throttled => write!(
                f,
                "STS kept throttling {op} for {target} after {MAX_ATTEMPTS} attempts; wait a moment and try again"
            ),
            StsFailure::ServerError { status } => write!(
                f,
                "STS at {endpoint} failed {op} for {target} (HTTP {status}) after {MAX_ATTEMPTS} attempts; try again later"
            ),
            StsFailure::Refused {
                code,
                message,
                status,
            } => {
                if code.is_empty() {
                    write!(f, "STS refused {op} for {target} (HTTP {status})")
                } else {
                    write!(
                        f,
                        "STS refused {op} for {target}: {}: {}",
                        clean(code, 64),
                        clean(message, 300)
                    )
                }
            }
            StsFailure::Transport(Transport::Timeout { seconds }) => write!(
                f,
                "STS at {endpoint} did not answer within {seconds} s ({target}); {check}"
            ),
            StsFailure::Transport(Transport::ThroughProxy { proxy, failure }) => write!(
                f,
                "STS at {endpoint} could not be reached through {proxy} ({target}): {}; check that the proxy runs and accepts the user name and password in {}, or bypass it with NO_PROXY",
                failure.reason(),
                proxy.variable
            ),
            StsFailure::Transport(Transport::Unreachable { cause }) => write!(
                f,
                "STS unreachable at {endpoint} ({target}): {cause}; {check}"
            ),
            StsFailure::Transport(Transport::UntrustedCertificate { cause }) => write!(
                f,
                "STS at {endpoint} presented a TLS certificate stsexec does not trust ({target}): {cause}; {UNTRUSTED_FIX}"
            ),
            StsFailure::Transport(Transport::Unreadable) => write!(
                f,
                "STS at {endpoint} sent a response to {op} that stsexec cannot read ({target}); is AWS_ENDPOINT_URL_STS an STS endpoint?"
            ),
            StsFailure::Incomplete(what) => write!(
                f,
                "STS at {endpoint} answered {op} for account {account} {what}; is AWS_ENDPOINT_URL_STS an STS endpoint?"
            ),
            StsFailure::Transport(Transport::TooLarge) => write!(
                f,
                "STS at {endpoint} answered {op} for {target} with more than {} KiB, far more than an STS answer; refused (is AWS_ENDPOINT_URL_STS an STS endpoint?)",
                MAX_RESPONSE_BYTES / 1024
            ),
            StsFailure::Lifetime {
                left,
                asked,
                window,
            } => {
                let how = if left > asked {
                    format!(
                        "that lasts {}, longer than the {} asked",
                        crate::session::hours_minutes(*left),
                        crate::session::hours_minutes(*asked)
                    )
                } else {
                    format!(
                        "that ends in {}, within the {} window",
                        crate::session::hours_minutes(*left),
                        crate::session::hours_minutes(*window)
                    )
                };
                write!(
                    f,
                    "STS at {endpoint} answered {op} for {target} with a session {how}; refused (is AWS_ENDPOINT_URL_STS an STS endpoint?)"
                )
            }
            StsFailure::Transport(
                other @ (Transport::NoRuntime { .. }
                | Transport::NotAUrl
                | Transport::CaBundle(_)
                | Transport::BadProxy(_)
                | Transport::ProxyRefused { .. }
                | Transport::Other { .. }),
            ) => {
                write!(f, "cannot call STS {op} for {target}: {}", other.cause())
            }
        }
    }
}

impl std::error::Error for StsError {}

/// The fix the untrusted-certificate sentences name (STS's and IAM's alike).
pub(crate) const UNTRUSTED_FIX: &str = "if a proxy or a private CA re-signs TLS, set AWS_CA_BUNDLE to a PEM file of its CA certificates (trusted beside the system's; SSL_CERT_FILE replaces them)";

/// The real STS: its client is built on first use, and dropped with the provider before exec.
pub struct LazySts {
    region: String,
    endpoint: Endpoint,
    outbound: Outbound,
    config: Option<aws_sdk_sts::Config>,
}

impl LazySts {
    /// `outbound`: the run's layer (its reporter prints the wait line on a terminal).
    pub fn new(region: &str, endpoint: Endpoint, outbound: Outbound) -> Self {
        LazySts {
            region: region.to_string(),
            endpoint,
            outbound,
            config: None,
        }
    }

    /// The same client, silent about slow calls (renewals in the background must not write
    /// on the terminal the command owns).
    #[must_use]
    pub fn without_announcements(mut self) -> Self {
        self.outbound = self.outbound.without_announcements();
        self
    }

    /// The outbound layer this client calls through (IAM's client shares it in `--rotate`).
    pub fn outbound(&self) -> &Outbound {
        &self.outbound
    }

    /// A client signing with `creds`, or unsigned; the configuration is built on first use.
    fn client(&mut self, creds: Option<&Credentials>) -> Result<aws_sdk_sts::Client, StsFailure> {
        let config = match &self.config {
            Some(config) => config.clone(),
            None => {
                let shared = self
                    .outbound
                    .sdk_config(&self.region, &self.endpoint, Connections::Reused)
                    .map_err(StsFailure::Transport)?;
                let config = aws_sdk_sts::config::Builder::from(&shared)
                    .interceptor(ResponseCap)
                    .build();
                self.config = Some(config.clone());
                config
            }
        };
        let config = match creds {
            Some(creds) => config
                .to_builder()
                .credentials_provider(crate::aws::static_credentials(creds))
                .build(),
            None => config,
        };
        Ok(aws_sdk_sts::Client::from_conf(config))
    }

    /// Runs one call through the layer (the wait line names STS, the endpoint, `operation`)
    /// and classifies its failure.
    fn call<T, E, F>(
        &self,
        operation: &str,
        caller_key: &str,
        assume_role: bool,
        call: F,
    ) -> Result<T, StsFailure>
    where
        F: std::future::Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let wait = Wait {
            service: Service::Sts.name(),
            endpoint: &self.endpoint.shown,
            operation,
        };
        self.outbound
            .call(wait, &self.endpoint, call, |code, message, status| {
                from_service_error(code, message, status, caller_key, assume_role)
            })
    }
}

impl StsApi for LazySts {
    fn get_session_token(
        &mut self,
        keys: &Credentials,
        mfa_serial: &str,
        code: &MfaCode,
        duration: Duration,
    ) -> Result<Credentials, StsFailure> {
        let call = self
            .client(Some(keys))?
            .get_session_token()
            .serial_number(mfa_serial)
            .token_code(code.expose())
            .duration_seconds(seconds(duration))
            .send();
        let output = self.call("GetSessionToken", &keys.access_key_id, false, call)?;
        convert(output.credentials())
    }

    fn assume_role(
        &mut self,
        source: &Credentials,
        request: &AssumeRoleRequest<'_>,
    ) -> Result<Credentials, StsFailure> {
        let mut call = self
            .client(Some(source))?
            .assume_role()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .duration_seconds(seconds(request.duration));
        if let Some(id) = request.external_id {
            call = call.external_id(id.expose());
        }
        let output = self.call("AssumeRole", &source.access_key_id, true, call.send())?;
        convert(output.credentials())
    }

    fn assume_role_with_web_identity(
        &mut self,
        request: &WebIdentityRequest<'_>,
    ) -> Result<Credentials, StsFailure> {
        // No credentials provider: the SDK models this operation as unsigned (its only auth
        // scheme is smithy's noAuth), so the client sends it without a signature.
        let call = self
            .client(None)?
            .assume_role_with_web_identity()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .web_identity_token(request.token.expose())
            .duration_seconds(seconds(request.duration))
            .send();
        let output = self.call(WEB_IDENTITY_OPERATION, "", true, call)?;
        convert(output.credentials())
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// The SDK's parser is lenient: a response cut off inside `<Credentials>` still yields
/// credentials, with empty fields and an expiration at the epoch. Only complete, unexpired
/// credentials leave this module.
fn convert(creds: Option<&aws_sdk_sts::types::Credentials>) -> Result<Credentials, StsFailure> {
    let Some(creds) = creds else {
        return Err(StsFailure::Incomplete(Lacking::Credentials));
    };
    let expiration = SystemTime::try_from(*creds.expiration())
        .ok()
        .filter(|exp| *exp > SystemTime::now())
        .ok_or(StsFailure::Incomplete(Lacking::UnexpiredCredentials))?;
    let key_id = creds.access_key_id();
    if !is_access_key_id(key_id)
        || creds.secret_access_key().is_empty()
        || creds.session_token().is_empty()
    {
        return Err(StsFailure::Incomplete(Lacking::CompleteCredentials));
    }
    // Real tokens are a few KiB; a huge one would not fit a cache file or an environment.
    if creds.session_token().len() > MAX_TOKEN_BYTES || creds.secret_access_key().len() > 1024 {
        return Err(StsFailure::Incomplete(Lacking::SmallToken));
    }
    Ok(Credentials {
        access_key_id: key_id.to_string(),
        secret_access_key: Secret::new(creds.secret_access_key()),
        session_token: Some(Secret::new(creds.session_token())),
        expiration: Some(expiration),
    })
}

fn from_service_error(
    code: &str,
    message: &str,
    status: u16,
    caller_key: &str,
    assume_role: bool,
) -> StsFailure {
    let lower = message.to_ascii_lowercase();
    let key_id = caller_key.to_string();
    match code {
        // AssumeRoleWithWebIdentity's own refusals of the token (no key signed the call).
        "InvalidIdentityToken"
        | "ExpiredTokenException"
        | "IDPRejectedClaim"
        | "IDPCommunicationError"
            if caller_key.is_empty() =>
        {
            StsFailure::TokenRejected {
                code: code.to_string(),
                message: message.to_string(),
            }
        }
        "AccessDenied" if lower.contains("multifactorauthentication") || lower.contains("mfa") => {
            StsFailure::MfaRejected
        }
        "InvalidClientTokenId" => StsFailure::UnknownKey { key_id },
        "SignatureDoesNotMatch" => StsFailure::SignatureMismatch { key_id },
        "ExpiredToken" => StsFailure::ExpiredSession,
        "AccessDenied" if assume_role => StsFailure::RoleDenied {
            key_id,
            message: message.to_string(),
        },
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => StsFailure::Throttled,
        _ if status >= 500 => StsFailure::ServerError { status },
        "" if (200..300).contains(&status) => StsFailure::Transport(Transport::Unreadable),
        _ => StsFailure::Refused {
            code: code.to_string(),
            message: message.to_string(),
            status,
        },
    }
}

/// `--rotate` (DESIGN §10): who the credentials belong to, and the proof that a new key works.
impl LazySts {
    /// GetCallerIdentity signed with `creds`: the caller's ARN.
    pub fn caller_arn(&mut self, creds: &Credentials) -> Result<String, StsFailure> {
        let call = self.client(Some(creds))?.get_caller_identity().send();
        let output = self.call("GetCallerIdentity", &creds.access_key_id, false, call)?;
        output
            .arn()
            .filter(|arn| arn.starts_with("arn:") && arn.len() <= 2048)
            .map(str::to_string)
            .ok_or(StsFailure::Incomplete(Lacking::CallerArn))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_name_the_account_role_and_fix() {
        let error = |failure| {
            StsError {
                operation: "AssumeRole",
                account: "work".into(),
                role_arn: Some("arn:aws:iam::012123456789:role/admin".into()),
                mfa_serial: None,
                endpoint: "http://127.0.0.1:5000".into(),
                signer: Signer::CachedMfaSession {
                    file: Some("/h/.stsexec~work~session.json".into()),
                },
                failure,
            }
            .to_string()
        };
        assert_eq!(
            error(StsFailure::UnknownKey {
                key_id: "ASIAEXAMPLEEXAMPLE12".into()
            }),
            "STS does not know access key ASIA…LE12 (role arn:aws:iam::012123456789:role/admin from account work), or it is inactive: check the cached MFA session /h/.stsexec~work~session.json (run with --mfa --refresh)"
        );
        let long = error(StsFailure::Refused {
            code: "Weird\u{1b}[2J".into(),
            message: "m".repeat(1000),
            status: 400,
        });
        assert!(long.starts_with("STS refused AssumeRole for role arn:aws:iam::012123456789:role/admin from account work: Weird[2J: mmm"), "{long}");
        assert!(
            long.ends_with("m… (1000 characters)") && long.len() < 450,
            "{long}"
        );
    }

    #[test]
    fn the_signer_is_named_by_what_it_is() {
        let refused = |signer| {
            StsError {
                operation: "GetCallerIdentity",
                account: "work".into(),
                role_arn: None,
                mfa_serial: None,
                endpoint: "http://127.0.0.1:5000".into(),
                signer,
                failure: StsFailure::SignatureMismatch {
                    key_id: "AKIAEXAMPLEEXAMPLE12".into(),
                },
            }
            .to_string()
        };
        let check = |signer| {
            let text = refused(signer);
            let prefix =
                "STS refused the secret key of access key AKIA…LE12 (account work): check ";
            text.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("{text}"))
                .to_string()
        };
        assert_eq!(
            check(Signer::Keys(KeyPlaces::plain_files(
                "/h/aws-creds/work.access_key".into(),
                std::path::Path::new("/h/aws-creds/work.secret_key")
            ))),
            "/h/aws-creds/work.access_key and /h/aws-creds/work.secret_key"
        );
        assert_eq!(
            check(Signer::Keys(KeyPlaces {
                access: "/h/aws-creds/work.access_key".into(),
                store: crate::keys::Location {
                    what: "age file",
                    place: "/h/aws-creds/work.secret_key.age".into(),
                    plain: false,
                },
            })),
            "/h/aws-creds/work.access_key and /h/aws-creds/work.secret_key.age"
        );
        assert_eq!(check(Signer::NewMfaSession), "the new MFA session");
        assert_eq!(
            check(Signer::CachedMfaSession { file: None }),
            "the cached MFA session"
        );
        assert_eq!(
            check(Signer::AddedKey(KeyOrigin::Profile {
                profile: "old".into(),
                file: "/h/.aws/credentials".into(),
            })),
            "the key taken from profile [old] of /h/.aws/credentials"
        );
        assert_eq!(
            check(Signer::AddedKey(KeyOrigin::File(
                "/h/aws-creds/work.secret_key".into()
            ))),
            "the key taken from /h/aws-creds/work.secret_key"
        );
        assert_eq!(
            check(Signer::AddedKey(KeyOrigin::Terminal)),
            "the key taken from the terminal"
        );
        let token = StsError {
            operation: WEB_IDENTITY_OPERATION,
            account: "ci".into(),
            role_arn: Some("arn:aws:iam::012123456789:role/deploy".into()),
            mfa_serial: None,
            endpoint: "http://127.0.0.1:5000".into(),
            signer: Signer::WebIdentityToken(TokenOrigin::GitHub {
                url: "https://gh.example/idtoken".into(),
                audience: "sts.amazonaws.com".into(),
            }),
            failure: StsFailure::TokenRejected {
                code: "InvalidIdentityToken".into(),
                message: "expired".into(),
            },
        };
        assert_eq!(
            token.to_string(),
            "STS refused the OIDC token from GitHub Actions' token from https://gh.example/idtoken (audience sts.amazonaws.com) for role arn:aws:iam::012123456789:role/deploy from account ci: InvalidIdentityToken: expired; check that the IAM OIDC provider of its issuer exists and lists its audience, and that the token has not expired"
        );
    }

    #[test]
    fn the_endpoint_follows_the_override_and_the_partition() {
        let endpoint = |url: &str| {
            endpoint(
                &Environment::from_pairs([("AWS_ENDPOINT_URL_STS", url)]),
                "us-east-1",
                None,
            )
        };
        assert!(endpoint("http://sts.example.com").is_cleartext_remote());
        assert!(endpoint("HTTP://127.evil.example/").is_cleartext_remote());
        assert!(!endpoint("http://127.0.0.1:5000").is_cleartext_remote());
        assert_eq!(endpoint("http://u:p@h:1/").shown, "http://h:1/");
        let default = super::endpoint(&Environment::default(), "cn-north-1", Some("aws-cn"));
        assert_eq!(default.shown, "https://sts.cn-north-1.amazonaws.com.cn");
        assert!(!default.is_cleartext_remote());
    }
}
