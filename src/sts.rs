//! The only user of aws-sdk-sts: GetSessionToken and AssumeRole with explicit static
//! credentials and region, bounded timeouts and the SDK's standard retries, and STS errors
//! turned into sentences. The tokio runtime and the SDK client exist only inside [`Sts`],
//! which the caller drops before exec.
#![forbid(unsafe_code)]

use crate::error::{Error, Result};
use crate::session::{Credentials, Secret, mask_key_id};
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use std::time::{Duration, SystemTime};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
/// The whole call, retries included, gives up after this: a hung STS cannot hang the user.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
pub const MAX_ATTEMPTS: u32 = 3;

/// What a call is about, for the sentences its errors become.
#[derive(Debug, Clone)]
pub struct CallContext {
    pub account: String,
    /// The STS endpoint as the user would recognise it (for "unreachable at URL").
    pub endpoint: String,
    /// The file or flag that fixes a refused key, e.g. "~/aws-creds/work.access_key".
    pub key_hint: String,
}

/// A connection to STS: a current-thread runtime and an SDK configuration built once.
pub struct Sts {
    runtime: tokio::runtime::Runtime,
    sdk_config: aws_config::SdkConfig,
}

impl Sts {
    /// Builds the client configuration. aws-config's loader is used (rather than a hand-built
    /// `aws_sdk_sts::Config`) because it resolves `AWS_ENDPOINT_URL_STS` and `AWS_ENDPOINT_URL`;
    /// its credential chain is never consulted: every call brings static credentials.
    pub fn connect(region: &str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::failed(format!("cannot start the STS client: {e}")))?;
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .no_credentials()
            .http_client(http_client)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .operation_timeout(OPERATION_TIMEOUT)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(Duration::from_millis(200)),
            );
        let sdk_config = runtime.block_on(loader.load());
        Ok(Sts {
            runtime,
            sdk_config,
        })
    }

    fn client(&self, creds: &Credentials) -> aws_sdk_sts::Client {
        let static_creds = aws_sdk_sts::config::Credentials::new(
            creds.access_key_id.clone(),
            creds.secret_access_key.expose().to_string(),
            creds.session_token.as_ref().map(|t| t.expose().to_string()),
            creds.expiration,
            "stsexec",
        );
        let config = aws_sdk_sts::config::Builder::from(&self.sdk_config)
            .credentials_provider(static_creds)
            .build();
        aws_sdk_sts::Client::from_conf(config)
    }

    pub fn get_session_token(
        &self,
        keys: &Credentials,
        mfa_serial: &str,
        code: &str,
        duration: Duration,
        ctx: &CallContext,
    ) -> Result<Credentials> {
        let call = self
            .client(keys)
            .get_session_token()
            .serial_number(mfa_serial)
            .token_code(code)
            .duration_seconds(seconds(duration))
            .send();
        let output = self.runtime.block_on(call).map_err(|e| {
            describe(
                e,
                &Failure {
                    ctx,
                    operation: "GetSessionToken",
                    caller_key: &keys.access_key_id,
                    role_arn: None,
                    mfa_serial: Some(mfa_serial),
                },
            )
        })?;
        convert(output.credentials(), ctx, "GetSessionToken")
    }

    pub fn assume_role(
        &self,
        source: &Credentials,
        request: &AssumeRoleRequest<'_>,
        ctx: &CallContext,
    ) -> Result<Credentials> {
        let mut call = self
            .client(source)
            .assume_role()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .duration_seconds(seconds(request.duration));
        if let Some(id) = request.external_id {
            call = call.external_id(id);
        }
        let output = self.runtime.block_on(call.send()).map_err(|e| {
            describe(
                e,
                &Failure {
                    ctx,
                    operation: "AssumeRole",
                    caller_key: &source.access_key_id,
                    role_arn: Some(request.role_arn),
                    mfa_serial: None,
                },
            )
        })?;
        convert(output.credentials(), ctx, "AssumeRole")
    }
}

/// The parameters of an AssumeRole call.
#[derive(Debug)]
pub struct AssumeRoleRequest<'a> {
    pub role_arn: &'a str,
    pub session_name: &'a str,
    pub external_id: Option<&'a str>,
    pub duration: Duration,
}

fn seconds(duration: Duration) -> i32 {
    i32::try_from(duration.as_secs()).unwrap_or(i32::MAX)
}

/// The SDK's parser is lenient: a response cut off inside `<Credentials>` still yields
/// credentials, with empty fields and an expiration at the epoch. Only complete, unexpired
/// credentials leave this module.
fn convert(
    creds: Option<&aws_sdk_sts::types::Credentials>,
    ctx: &CallContext,
    operation: &str,
) -> Result<Credentials> {
    let unusable = |what: &str| {
        Error::failed(format!(
            "STS at {} answered {operation} for account {} {what}; is AWS_ENDPOINT_URL_STS an STS endpoint?",
            ctx.endpoint, ctx.account
        ))
    };
    let Some(creds) = creds else {
        return Err(unusable("without credentials"));
    };
    let expiration = SystemTime::try_from(*creds.expiration())
        .ok()
        .filter(|exp| *exp > SystemTime::now())
        .ok_or_else(|| unusable("with credentials that have already expired"))?;
    let key_id = creds.access_key_id();
    let complete = !key_id.is_empty()
        && key_id.bytes().all(|b| b.is_ascii_alphanumeric())
        && !creds.secret_access_key().is_empty()
        && !creds.session_token().is_empty();
    if !complete {
        return Err(unusable("with incomplete credentials"));
    }
    Ok(Credentials {
        access_key_id: key_id.to_string(),
        secret_access_key: Secret::new(creds.secret_access_key()),
        session_token: Some(Secret::new(creds.session_token())),
        expiration: Some(expiration),
    })
}

struct Failure<'a> {
    ctx: &'a CallContext,
    operation: &'a str,
    caller_key: &'a str,
    role_arn: Option<&'a str>,
    mfa_serial: Option<&'a str>,
}

/// STS errors as sentences: what happened, to which account (and role), and what to do.
fn describe<E>(err: SdkError<E>, f: &Failure<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let ctx = f.ctx;
    let account = &ctx.account;
    let endpoint = &ctx.endpoint;
    let target = match f.role_arn {
        Some(role) => format!("role {role} from account {account}"),
        None => format!("account {account}"),
    };
    let sentence = match &err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or("");
            let message = inner.message().unwrap_or("").trim();
            let status = service.raw().status().as_u16();
            describe_service_error(code, message, status, f, &target)
        }
        SdkError::TimeoutError(_) => format!(
            "STS at {endpoint} did not answer within {} s ({target}); check the network, or AWS_ENDPOINT_URL_STS if you set it",
            OPERATION_TIMEOUT.as_secs()
        ),
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => format!(
            "STS at {endpoint} did not answer in time ({target}); check the network, or AWS_ENDPOINT_URL_STS if you set it"
        ),
        SdkError::DispatchFailure(_) if root_cause(&err).contains("certificate") => format!(
            "STS at {endpoint} presented a TLS certificate stsexec does not trust ({target}): {}; if a proxy or a private CA is in the way, point SSL_CERT_FILE at its CA certificates",
            root_cause(&err)
        ),
        SdkError::DispatchFailure(_) => format!(
            "STS unreachable at {endpoint} ({target}): {}; check the network, or AWS_ENDPOINT_URL_STS if you set it",
            root_cause(&err)
        ),
        // The parser's own message may quote the body, which can hold credentials.
        SdkError::ResponseError(_) => format!(
            "STS at {endpoint} sent a response to {} that stsexec cannot read ({target}); is AWS_ENDPOINT_URL_STS an STS endpoint?",
            f.operation
        ),
        _ => format!(
            "cannot call STS {} for {target}: {}",
            f.operation,
            root_cause(&err)
        ),
    };
    Error::failed(sentence)
}

fn describe_service_error(
    code: &str,
    message: &str,
    status: u16,
    f: &Failure<'_>,
    target: &str,
) -> String {
    let ctx = f.ctx;
    let key = mask_key_id(f.caller_key);
    let lower = message.to_ascii_lowercase();
    match code {
        "AccessDenied" if lower.contains("multifactorauthentication") || lower.contains("mfa") => {
            format!(
                "STS rejected the MFA code for {target} (device {}): wait for the next code and try again",
                f.mfa_serial.unwrap_or("?")
            )
        }
        "InvalidClientTokenId" => format!(
            "STS does not know access key {key} ({target}), or it is inactive: check {}",
            ctx.key_hint
        ),
        "SignatureDoesNotMatch" => format!(
            "STS refused the secret key of access key {key} ({target}): check {}",
            ctx.key_hint
        ),
        "ExpiredToken" => format!(
            "the session used for {target} has expired: run again with --refresh (and --mfa for the MFA session)"
        ),
        "AccessDenied" if f.role_arn.is_some() => format!(
            "access key {key} of account {} may not assume {}: {message}",
            ctx.account,
            f.role_arn.unwrap_or_default()
        ),
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => format!(
            "STS kept throttling {} for {target} after {MAX_ATTEMPTS} attempts; wait a moment and try again",
            f.operation
        ),
        _ if status >= 500 => format!(
            "STS at {} failed {} for {target} (HTTP {}) after {MAX_ATTEMPTS} attempts; try again later",
            ctx.endpoint, f.operation, status
        ),
        "" if (200..300).contains(&status) => format!(
            "STS at {} sent a response to {} that stsexec cannot read ({target}); is AWS_ENDPOINT_URL_STS an STS endpoint?",
            ctx.endpoint, f.operation
        ),
        "" => format!("STS refused {} for {target} (HTTP {status})", f.operation),
        _ => format!(
            "STS refused {} for {target}: {code}: {message}",
            f.operation
        ),
    }
}

/// The innermost error message: "Connection refused (os error 111)" rather than "dispatch failure".
fn root_cause(err: &dyn std::error::Error) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
