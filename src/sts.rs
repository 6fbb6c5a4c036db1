//! The only user of aws-sdk-sts. The provider reaches STS through the [`StsApi`] trait
//! (GetSessionToken, AssumeRole, AssumeRoleWithWebIdentity); [`LazySts`] is the real one, which starts its
//! current-thread runtime and client on first use only, so the cached path never does.
//! The client is built by hand — explicit static credentials, region, endpoint, bounded
//! timeouts, standard retries — and never through aws-config's loader, which reads
//! `~/.aws/config` and `~/.aws/credentials` (other tools' files, which could redirect a call
//! signed with the long-lived key).
#![forbid(unsafe_code)]

use crate::env::Environment;
use crate::report::Reporter;
use crate::secret::{MfaCode, Secret, is_access_key_id, mask_key_id};
use crate::session::Credentials;
use crate::text::{clean, redact_url};
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::fmt;
use std::time::{Duration, SystemTime};

/// The operation name of `--web-identity`'s call, as messages name it.
pub const WEB_IDENTITY_OPERATION: &str = "AssumeRoleWithWebIdentity";

/// The whole call, retries included, gives up after this (`STSEXEC_STS_TIMEOUT` overrides).
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
pub const MAX_ATTEMPTS: u32 = 3;
/// The largest STS response read: answers are a few KiB; a hostile endpoint's endless body
/// must not fill memory.
pub const MAX_RESPONSE_BYTES: usize = 64 * 1024;
const RESPONSE_CAP_MESSAGE: &str = "STS response larger than the cap";

/// Caps every response body before the SDK reads it into memory (the IAM client uses it too:
/// both SDKs take smithy's interceptor trait).
#[derive(Debug)]
pub(crate) struct ResponseCap;

/// Whether a call failed because [`ResponseCap`] cut its answer off.
pub(crate) fn cut_off_by_cap(err: &dyn std::error::Error) -> bool {
    let cause = root_cause(err);
    cause.contains(RESPONSE_CAP_MESSAGE) || cause.contains("length limit exceeded")
}

impl aws_sdk_sts::config::Intercept for ResponseCap {
    fn name(&self) -> &'static str {
        "stsexec::ResponseCap"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut aws_sdk_sts::config::interceptors::BeforeDeserializationInterceptorContextMut<
            '_,
        >,
        _components: &aws_sdk_sts::config::RuntimeComponents,
        _cfg: &mut aws_sdk_sts::config::ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        use aws_smithy_types::body::SdkBody;
        let response = context.response_mut();
        let declared = response
            .headers()
            .get("content-length")
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_RESPONSE_BYTES) {
            return Err(RESPONSE_CAP_MESSAGE.into());
        }
        let body = std::mem::replace(response.body_mut(), SdkBody::taken());
        *response.body_mut() =
            SdkBody::from_body_1_x(http_body_util::Limited::new(body, MAX_RESPONSE_BYTES));
        Ok(())
    }
}

/// What every AWS client stsexec builds shares (STS here, IAM in `iam.rs`): rustls with ring
/// and the platform's roots, timeouts derived from the whole call's bound, standard retries.
/// Both SDKs take smithy's types, so one definition serves both.
pub(crate) struct ClientSettings {
    pub http_client: aws_sdk_sts::config::SharedHttpClient,
    pub timeouts: TimeoutConfig,
    pub retries: RetryConfig,
}

pub(crate) fn client_settings(operation_timeout: Duration) -> ClientSettings {
    let op = operation_timeout;
    ClientSettings {
        http_client: aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https(),
        timeouts: TimeoutConfig::builder()
            .connect_timeout(op.div_f64(5.0).min(Duration::from_secs(3)))
            .operation_attempt_timeout(op.div_f64(3.0).min(Duration::from_secs(5)))
            .operation_timeout(op)
            .build(),
        retries: RetryConfig::standard()
            .with_max_attempts(MAX_ATTEMPTS)
            .with_initial_backoff(Duration::from_millis(200)),
    }
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

/// Where STS is: an override from the environment, or the regional default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, when set.
    pub url_override: Option<String>,
    /// What messages show: the override without user-info, or the regional default.
    pub shown: String,
}

impl Endpoint {
    /// DESIGN §3: the SDK convention, read from the one environment snapshot.
    pub fn from_env(current: &Environment, region: &str, partition: Option<&str>) -> Self {
        let url_override = current
            .get("AWS_ENDPOINT_URL_STS")
            .or_else(|| current.get("AWS_ENDPOINT_URL"))
            .map(str::to_string);
        let shown = match &url_override {
            Some(url) => redact_url(url),
            None => {
                let suffix = match partition {
                    Some("aws-cn") => "amazonaws.com.cn",
                    _ => "amazonaws.com",
                };
                format!("https://sts.{region}.{suffix}")
            }
        };
        Endpoint {
            url_override,
            shown,
        }
    }

    /// A plain-http endpoint on another host: the signed request and the session it returns
    /// would cross the network in cleartext.
    pub fn is_cleartext_remote(&self) -> bool {
        let Some(url) = &self.url_override else {
            return false;
        };
        let Some(rest) = url.strip_prefix("http://") else {
            return false;
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.split_once(']').map(|(h, _)| h))
            .unwrap_or_else(|| host.rsplit_once(':').map_or(host, |(h, _)| h));
        !(host == "localhost" || host.starts_with("127.") || host == "::1")
    }
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
    Timeout {
        seconds: u64,
    },
    Unreachable {
        cause: String,
    },
    UntrustedCertificate {
        cause: String,
    },
    Unreadable,
    /// An answer without complete, unexpired credentials.
    Incomplete(&'static str),
    /// An answer larger than [`MAX_RESPONSE_BYTES`].
    TooLarge,
    /// A session that lasts longer than asked (beyond clock skew) or ends within the window.
    Lifetime {
        left: Duration,
        asked: Duration,
        window: Duration,
    },
    Other {
        cause: String,
    },
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
    pub signer_hint: String,
    pub failure: StsFailure,
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
                self.signer_hint
            ),
            StsFailure::SignatureMismatch { key_id } => write!(
                f,
                "STS refused the secret key of access key {} ({target}): check {}",
                mask_key_id(key_id),
                self.signer_hint
            ),
            StsFailure::ExpiredSession => write!(
                f,
                "the session used for {target} has expired: run again with --refresh (and --mfa for the MFA session)"
            ),
            StsFailure::RoleDenied { message, .. } if op == WEB_IDENTITY_OPERATION => write!(
                f,
                "STS refused the OIDC token from {} for {target}: {}; the role's trust policy must allow sts:AssumeRoleWithWebIdentity for this token's issuer, audience and subject",
                self.signer_hint,
                clean(message, 300)
            ),
            StsFailure::TokenRejected { code, message } => write!(
                f,
                "STS refused the OIDC token from {} for {target}: {}: {}; check that the IAM OIDC provider of its issuer exists and lists its audience, and that the token has not expired",
                self.signer_hint,
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
            StsFailure::Timeout { seconds } => write!(
                f,
                "STS at {endpoint} did not answer within {seconds} s ({target}); {check}"
            ),
            StsFailure::Unreachable { cause } => write!(
                f,
                "STS unreachable at {endpoint} ({target}): {}; {check}",
                clean(cause, 200)
            ),
            StsFailure::UntrustedCertificate { cause } => write!(
                f,
                "STS at {endpoint} presented a TLS certificate stsexec does not trust ({target}): {}; if a proxy or a private CA is in the way, point SSL_CERT_FILE at its CA certificates",
                clean(cause, 200)
            ),
            StsFailure::Unreadable => write!(
                f,
                "STS at {endpoint} sent a response to {op} that stsexec cannot read ({target}); is AWS_ENDPOINT_URL_STS an STS endpoint?"
            ),
            StsFailure::Incomplete(what) => write!(
                f,
                "STS at {endpoint} answered {op} for account {account} {what}; is AWS_ENDPOINT_URL_STS an STS endpoint?"
            ),
            StsFailure::TooLarge => write!(
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
            StsFailure::Other { cause } => {
                write!(
                    f,
                    "cannot call STS {op} for {target}: {}",
                    clean(cause, 200)
                )
            }
        }
    }
}

impl std::error::Error for StsError {}

/// The real STS: built on first use, dropped with the provider before exec.
pub struct LazySts {
    region: String,
    endpoint: Endpoint,
    operation_timeout: Duration,
    connected: Option<Connected>,
    /// Where "Waiting for STS…" goes when a call passes a second (on a terminal only).
    announce: Option<Reporter>,
}

/// How long a call runs before stsexec says what it waits for (DESIGN §12).
const ANNOUNCE_AFTER: Duration = Duration::from_secs(1);

struct Connected {
    runtime: tokio::runtime::Runtime,
    config: aws_sdk_sts::Config,
}

impl Drop for Connected {
    fn drop(&mut self) {
        // Blocking DNS lookups run on the runtime's blocking threads; a slow resolver must
        // not hold the process (and the account's lock) after the call gave up.
        let runtime = std::mem::replace(
            &mut self.runtime,
            match tokio::runtime::Builder::new_current_thread().build() {
                Ok(rt) => rt,
                Err(_) => return,
            },
        );
        runtime.shutdown_background();
    }
}

impl LazySts {
    /// `announce`: the reporter for the wait line (printed only when stderr is a terminal).
    pub fn new(
        region: &str,
        endpoint: Endpoint,
        operation_timeout: Duration,
        announce: Option<Reporter>,
    ) -> Self {
        LazySts {
            region: region.to_string(),
            endpoint,
            operation_timeout,
            connected: None,
            announce,
        }
    }

    /// The same client, silent about slow calls (renewals in the background must not write
    /// on the terminal the command owns).
    #[must_use]
    pub fn without_announcements(mut self) -> Self {
        self.announce = None;
        self
    }

    /// Runs a call to completion, saying once what it waits for if it takes over a second.
    fn wait<F: std::future::Future>(
        runtime: &tokio::runtime::Runtime,
        announce: Option<(Reporter, String)>,
        call: F,
    ) -> F::Output {
        runtime.block_on(async {
            let mut call = std::pin::pin!(call);
            if let Some((report, line)) = announce {
                match tokio::time::timeout(ANNOUNCE_AFTER, &mut call).await {
                    Ok(output) => return output,
                    Err(_) => report.status(line),
                }
            }
            call.await
        })
    }

    fn announcement(&self, operation: &str) -> Option<(Reporter, String)> {
        use std::io::IsTerminal;
        // Asked at call time, not on the cached path, which never calls STS.
        if !std::io::stderr().is_terminal() {
            return None;
        }
        self.announce.map(|report| {
            (
                report,
                format!("Waiting for STS at {} ({operation})…", self.endpoint.shown),
            )
        })
    }

    fn connect(&mut self) -> Result<&Connected, StsFailure> {
        if self.connected.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| StsFailure::Other {
                    cause: format!("cannot start the STS client: {e}"),
                })?;
            let settings = client_settings(self.operation_timeout);
            let mut builder = aws_sdk_sts::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(self.region.clone()))
                .http_client(settings.http_client)
                .timeout_config(settings.timeouts)
                .retry_config(settings.retries)
                .interceptor(ResponseCap);
            if let Some(url) = &self.endpoint.url_override {
                builder = builder.endpoint_url(url);
            }
            self.connected = Some(Connected {
                runtime,
                config: builder.build(),
            });
        }
        self.connected.as_ref().ok_or(StsFailure::Other {
            cause: "the STS client could not be kept".into(),
        })
    }

    fn client(config: &aws_sdk_sts::Config, creds: &Credentials) -> aws_sdk_sts::Client {
        let static_creds = aws_sdk_sts::config::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose().to_string(),
            creds.session_token.as_ref().map(|t| t.expose().to_string()),
            creds.expiration,
            "stsexec",
        );
        let config = config
            .to_builder()
            .credentials_provider(static_creds)
            .build();
        aws_sdk_sts::Client::from_conf(config)
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
        let timeout = self.operation_timeout;
        let announce = self.announcement("GetSessionToken");
        let connected = self.connect()?;
        let call = Self::client(&connected.config, keys)
            .get_session_token()
            .serial_number(mfa_serial)
            .token_code(code.expose())
            .duration_seconds(seconds(duration))
            .send();
        let output = Self::wait(&connected.runtime, announce, call)
            .map_err(|e| classify(&e, &keys.access_key_id, false, timeout))?;
        convert(output.credentials())
    }

    fn assume_role(
        &mut self,
        source: &Credentials,
        request: &AssumeRoleRequest<'_>,
    ) -> Result<Credentials, StsFailure> {
        let timeout = self.operation_timeout;
        let announce = self.announcement("AssumeRole");
        let connected = self.connect()?;
        let mut call = Self::client(&connected.config, source)
            .assume_role()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .duration_seconds(seconds(request.duration));
        if let Some(id) = request.external_id {
            call = call.external_id(id.expose());
        }
        let output = Self::wait(&connected.runtime, announce, call.send())
            .map_err(|e| classify(&e, &source.access_key_id, true, timeout))?;
        convert(output.credentials())
    }

    fn assume_role_with_web_identity(
        &mut self,
        request: &WebIdentityRequest<'_>,
    ) -> Result<Credentials, StsFailure> {
        let timeout = self.operation_timeout;
        let announce = self.announcement(WEB_IDENTITY_OPERATION);
        let connected = self.connect()?;
        // No credentials provider: the SDK models this operation as unsigned (its only auth
        // scheme is smithy's noAuth), so the client sends it without a signature.
        let call = aws_sdk_sts::Client::from_conf(connected.config.clone())
            .assume_role_with_web_identity()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .web_identity_token(request.token.expose())
            .duration_seconds(seconds(request.duration))
            .send();
        let output = Self::wait(&connected.runtime, announce, call)
            .map_err(|e| classify(&e, "", true, timeout))?;
        convert(output.credentials())
    }

    fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }
}

/// `STSEXEC_STS_TIMEOUT`: the bound of one STS call, retries included.
pub fn operation_timeout(value: Option<&str>) -> Result<Duration, String> {
    match value {
        None => Ok(DEFAULT_OPERATION_TIMEOUT),
        Some(text) => match humantime::parse_duration(text) {
            Ok(d) if d >= Duration::from_millis(100) && d <= Duration::from_secs(600) => Ok(d),
            _ => Err(format!(
                "STSEXEC_STS_TIMEOUT={:?} is not a duration from 100ms to 10m; write it like 15s",
                clean(text, 64)
            )),
        },
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
        return Err(StsFailure::Incomplete("without credentials"));
    };
    let expiration = SystemTime::try_from(*creds.expiration())
        .ok()
        .filter(|exp| *exp > SystemTime::now())
        .ok_or(StsFailure::Incomplete(
            "with credentials that have already expired",
        ))?;
    let key_id = creds.access_key_id();
    if !is_access_key_id(key_id)
        || creds.secret_access_key().is_empty()
        || creds.session_token().is_empty()
    {
        return Err(StsFailure::Incomplete("with incomplete credentials"));
    }
    // Real tokens are a few KiB; a huge one would not fit a cache file or an environment.
    if creds.session_token().len() > MAX_TOKEN_BYTES || creds.secret_access_key().len() > 1024 {
        return Err(StsFailure::Incomplete(
            "with a session token larger than 16 KiB",
        ));
    }
    Ok(Credentials {
        access_key_id: key_id.to_string(),
        secret_access_key: Secret::new(creds.secret_access_key()),
        session_token: Some(Secret::new(creds.session_token())),
        expiration: Some(expiration),
    })
}

fn classify<E>(
    err: &SdkError<E>,
    caller_key: &str,
    assume_role: bool,
    timeout: Duration,
) -> StsFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if cut_off_by_cap(err) {
        return StsFailure::TooLarge;
    }
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let raw = service.raw();
            let status = raw.status().as_u16();
            let (code, message) = match inner.code() {
                Some(code) => (
                    code.to_string(),
                    inner.message().unwrap_or("").trim().to_string(),
                ),
                // Moto and LocalStack wrap errors in <Errors>, which the SDK does not read.
                None => raw
                    .body()
                    .bytes()
                    .and_then(|body| std::str::from_utf8(body).ok())
                    .map(error_from_body)
                    .unwrap_or_default(),
            };
            from_service_error(&code, &message, status, caller_key, assume_role)
        }
        SdkError::TimeoutError(_) => StsFailure::Timeout {
            seconds: timeout.as_secs().max(1),
        },
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => StsFailure::Timeout {
            seconds: timeout.as_secs().max(1),
        },
        SdkError::DispatchFailure(_) if root_cause(err).contains("certificate") => {
            StsFailure::UntrustedCertificate {
                cause: root_cause(err),
            }
        }
        SdkError::DispatchFailure(_) => StsFailure::Unreachable {
            cause: root_cause(err),
        },
        // The parser's own message may quote the body, which can hold credentials.
        SdkError::ResponseError(_) => StsFailure::Unreadable,
        _ => StsFailure::Other {
            cause: root_cause(err),
        },
    }
}

/// `<Code>` and `<Message>` from an XML error body of any wrapping.
pub(crate) fn error_from_body(body: &str) -> (String, String) {
    let element = |name: &str| {
        let open = format!("<{name}>");
        let close = format!("</{name}>");
        let start = body.find(&open)? + open.len();
        let len = body[start..].find(&close)?;
        Some(body[start..start + len].trim().to_string())
    };
    let code = element("Code").filter(|c| c.len() <= 128 && !c.contains('<'));
    (
        code.unwrap_or_default(),
        element("Message")
            .map(|m| clean(&m, 300))
            .unwrap_or_default(),
    )
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
        "" if (200..300).contains(&status) => StsFailure::Unreadable,
        _ => StsFailure::Refused {
            code: code.to_string(),
            message: message.to_string(),
            status,
        },
    }
}

/// The innermost error message: "Connection refused (os error 111)" rather than "dispatch failure".
pub(crate) fn root_cause(err: &dyn std::error::Error) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// `--rotate` (DESIGN §10): who the credentials belong to, and the proof that a new key works.
impl LazySts {
    /// GetCallerIdentity signed with `creds`: the caller's ARN.
    pub fn caller_arn(&mut self, creds: &Credentials) -> Result<String, StsFailure> {
        let timeout = self.operation_timeout;
        let announce = self.announcement("GetCallerIdentity");
        let connected = self.connect()?;
        let call = Self::client(&connected.config, creds)
            .get_caller_identity()
            .send();
        let output = Self::wait(&connected.runtime, announce, call)
            .map_err(|e| classify(&e, &creds.access_key_id, false, timeout))?;
        output
            .arn()
            .filter(|arn| arn.starts_with("arn:") && arn.len() <= 2048)
            .map(str::to_string)
            .ok_or(StsFailure::Incomplete("without the caller's ARN"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_read_from_either_shape() {
        let moto = "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>not allowed</Message></Error></Errors></ErrorResponse>";
        assert_eq!(
            error_from_body(moto),
            ("AccessDenied".to_string(), "not allowed".to_string())
        );
        let aws = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>x</Message></Error></ErrorResponse>";
        assert_eq!(error_from_body(aws).0, "InvalidClientTokenId");
        assert_eq!(error_from_body("not xml"), (String::new(), String::new()));
    }

    #[test]
    fn sentences_name_the_account_role_and_fix() {
        let error = |failure| {
            StsError {
                operation: "AssumeRole",
                account: "work".into(),
                role_arn: Some("arn:aws:iam::012123456789:role/admin".into()),
                mfa_serial: None,
                endpoint: "http://127.0.0.1:5000".into(),
                signer_hint: "the cached MFA session /h/.stsexec~work~session.json".into(),
                failure,
            }
            .to_string()
        };
        assert_eq!(
            error(StsFailure::UnknownKey {
                key_id: "ASIAEXAMPLEEXAMPLE12".into()
            }),
            "STS does not know access key ASIA…LE12 (role arn:aws:iam::012123456789:role/admin from account work), or it is inactive: check the cached MFA session /h/.stsexec~work~session.json"
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
    fn cleartext_to_another_host_is_noticed() {
        let endpoint = |url: &str| {
            Endpoint::from_env(
                &Environment::from_pairs([("AWS_ENDPOINT_URL_STS", url)]),
                "us-east-1",
                None,
            )
        };
        assert!(endpoint("http://sts.example.com").is_cleartext_remote());
        assert!(endpoint("http://u:p@10.0.0.1:80/").is_cleartext_remote());
        assert!(!endpoint("http://127.0.0.1:5000").is_cleartext_remote());
        assert!(!endpoint("http://localhost:5000").is_cleartext_remote());
        assert!(!endpoint("https://sts.example.com").is_cleartext_remote());
        assert_eq!(endpoint("http://u:p@h:1/").shown, "http://h:1/");
        let default = Endpoint::from_env(&Environment::default(), "cn-north-1", Some("aws-cn"));
        assert_eq!(default.shown, "https://sts.cn-north-1.amazonaws.com.cn");
    }

    #[test]
    fn the_timeout_setting_is_checked() {
        assert_eq!(operation_timeout(None).unwrap(), DEFAULT_OPERATION_TIMEOUT);
        assert_eq!(
            operation_timeout(Some("2s")).unwrap(),
            Duration::from_secs(2)
        );
        assert!(operation_timeout(Some("0s")).is_err());
        assert!(operation_timeout(Some("soon")).is_err());
    }
}
