//! The only user of aws-sdk-ssooidc and aws-sdk-sso. The login flows reach IAM Identity
//! Center through the [`OidcApi`] and [`PortalApi`] traits; [`LazySso`] is the real one, which
//! starts its current-thread runtime and clients on first use only. All four operations are
//! unsigned (the OIDC calls carry the client secret, GetRoleCredentials the bearer token), so
//! no credentials provider is configured, and nothing reads `~/.aws/config`.
#![forbid(unsafe_code)]

use crate::env::Environment;
use crate::secret::{Secret, is_access_key_id};
use crate::session::Credentials;
use crate::sts::{ResponseCap, client_settings, cut_off_by_cap, root_cause};
use crate::text::redact_url;
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};
use std::time::{Duration, SystemTime};

/// Where the two services are: `AWS_ENDPOINT_URL_SSO_OIDC` / `AWS_ENDPOINT_URL_SSO`, else
/// `AWS_ENDPOINT_URL`, else the region's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoEndpoints {
    oidc_override: Option<String>,
    portal_override: Option<String>,
    oidc: String,
    portal: String,
}

impl SsoEndpoints {
    pub fn from_env(current: &Environment, region: &str) -> SsoEndpoints {
        let general = current.get("AWS_ENDPOINT_URL");
        let oidc_override = current
            .get("AWS_ENDPOINT_URL_SSO_OIDC")
            .or(general)
            .map(str::to_string);
        let portal_override = current
            .get("AWS_ENDPOINT_URL_SSO")
            .or(general)
            .map(str::to_string);
        SsoEndpoints::new(oidc_override, portal_override, region)
    }

    /// The endpoints with these overrides (`None`: the region's).
    pub fn new(
        oidc_override: Option<String>,
        portal_override: Option<String>,
        region: &str,
    ) -> SsoEndpoints {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        SsoEndpoints {
            oidc: oidc_override
                .clone()
                .unwrap_or_else(|| format!("https://oidc.{region}.{suffix}")),
            portal: portal_override
                .clone()
                .unwrap_or_else(|| format!("https://portal.sso.{region}.{suffix}")),
            oidc_override,
            portal_override,
        }
    }

    /// The OIDC service's base URL, to which the browser's `/authorize` page is relative.
    pub fn oidc_base(&self) -> &str {
        self.oidc.trim_end_matches('/')
    }

    /// The OIDC endpoint as messages show it (no user-info).
    pub fn oidc_shown(&self) -> String {
        redact_url(&self.oidc)
    }

    /// The portal endpoint as messages show it.
    pub fn portal_shown(&self) -> String {
        redact_url(&self.portal)
    }

    /// The portal override in force (a cached role session is bound to it).
    pub fn portal_override(&self) -> Option<&str> {
        self.portal_override.as_deref()
    }

    fn oidc_override(&self) -> Option<&str> {
        self.oidc_override.as_deref()
    }
}

/// RegisterClient's parameters.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    pub client_name: String,
    pub scopes: Vec<String>,
    /// `Some` for the PKCE flow: grant types `authorization_code` and `refresh_token`.
    pub auth_code: Option<AuthCodeClient>,
}

#[derive(Debug, Clone)]
pub struct AuthCodeClient {
    pub redirect_uri: String,
    pub issuer_url: String,
}

#[derive(Debug)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Secret,
    pub expires_at: SystemTime,
}

#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
    pub interval: Option<Duration>,
}

/// What CreateToken is asked with.
#[derive(Debug)]
pub enum Grant<'a> {
    DeviceCode(&'a Secret),
    AuthorizationCode {
        code: &'a Secret,
        redirect_uri: &'a str,
        verifier: &'a Secret,
    },
    RefreshToken(&'a Secret),
}

impl Grant<'_> {
    pub fn grant_type(&self) -> &'static str {
        match self {
            Grant::DeviceCode(_) => "urn:ietf:params:oauth:grant-type:device_code",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken(_) => "refresh_token",
        }
    }
}

#[derive(Debug)]
pub struct IssuedToken {
    pub access_token: Secret,
    pub expires_in: Duration,
    pub refresh_token: Option<Secret>,
}

/// How a call to IAM Identity Center failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// CreateToken, device flow: the user has not approved yet.
    AuthorizationPending,
    /// CreateToken, device flow: poll more slowly.
    SlowDown,
    /// The device code, the authorization code or the refresh token has expired.
    Expired,
    /// The grant was refused (a revoked refresh token, a wrong code or verifier).
    InvalidGrant {
        message: String,
    },
    /// The client registration is unknown or expired.
    InvalidClient,
    /// GetRoleCredentials: the access token is not (or no longer) valid.
    Unauthorized,
    /// CreateToken: the user denied the authorization.
    AccessDenied {
        message: String,
    },
    /// GetRoleCredentials: no such account or role for this user.
    RoleNotFound {
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
    /// A body that is not the service's answer (not JSON, or cut off).
    Unreadable,
    TooLarge,
    /// An answer without what the call returns (no token, no credentials).
    Incomplete(&'static str),
    Other {
        cause: String,
    },
}

/// The OIDC calls the login makes.
pub trait OidcApi {
    fn register_client(&mut self, request: &RegisterRequest) -> Result<RegisteredClient, Failure>;
    fn start_device_authorization(
        &mut self,
        client_id: &str,
        client_secret: &Secret,
        start_url: &str,
    ) -> Result<DeviceAuthorization, Failure>;
    fn create_token(
        &mut self,
        client_id: &str,
        client_secret: &Secret,
        grant: &Grant<'_>,
    ) -> Result<IssuedToken, Failure>;
}

/// The portal's one call stsexec makes.
pub trait PortalApi {
    fn get_role_credentials(
        &mut self,
        access_token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<Credentials, Failure>;
}

/// The real IAM Identity Center: runtime and clients built on first use.
pub struct LazySso {
    region: String,
    endpoints: SsoEndpoints,
    operation_timeout: Duration,
    connected: Option<Connected>,
}

struct Connected {
    runtime: tokio::runtime::Runtime,
    oidc: aws_sdk_ssooidc::Client,
    portal: aws_sdk_sso::Client,
}

impl Drop for Connected {
    fn drop(&mut self) {
        // As in `sts`: a slow resolver's blocking thread must not hold the process.
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

/// The two SDK clients, configured as every AWS client stsexec builds (`sts::client_settings`:
/// TLS, bounded timeouts, standard retries; the response cap), with an explicit region and the
/// endpoint overrides. The one place the SSO clients are made.
pub fn build_clients(
    region: &str,
    endpoints: &SsoEndpoints,
    operation_timeout: Duration,
) -> (aws_sdk_ssooidc::Client, aws_sdk_sso::Client) {
    let settings = client_settings(operation_timeout);
    let mut oidc = aws_sdk_ssooidc::Config::builder()
        .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
        .region(aws_sdk_ssooidc::config::Region::new(region.to_string()))
        .http_client(settings.http_client.clone())
        .timeout_config(settings.timeouts.clone())
        .retry_config(settings.retries.clone())
        .interceptor(ResponseCap);
    if let Some(url) = endpoints.oidc_override() {
        oidc = oidc.endpoint_url(url);
    }
    let mut portal = aws_sdk_sso::Config::builder()
        .behavior_version(aws_sdk_sso::config::BehaviorVersion::latest())
        .region(aws_sdk_sso::config::Region::new(region.to_string()))
        .http_client(settings.http_client)
        .timeout_config(settings.timeouts)
        .retry_config(settings.retries)
        .interceptor(ResponseCap);
    if let Some(url) = endpoints.portal_override() {
        portal = portal.endpoint_url(url);
    }
    (
        aws_sdk_ssooidc::Client::from_conf(oidc.build()),
        aws_sdk_sso::Client::from_conf(portal.build()),
    )
}

impl LazySso {
    pub fn new(region: &str, endpoints: SsoEndpoints, operation_timeout: Duration) -> LazySso {
        LazySso {
            region: region.to_string(),
            endpoints,
            operation_timeout,
            connected: None,
        }
    }

    pub fn endpoints(&self) -> &SsoEndpoints {
        &self.endpoints
    }

    fn connect(&mut self) -> Result<&Connected, Failure> {
        if self.connected.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failure::Other {
                    cause: format!("cannot start the IAM Identity Center client: {e}"),
                })?;
            let (oidc, portal) =
                build_clients(&self.region, &self.endpoints, self.operation_timeout);
            self.connected = Some(Connected {
                runtime,
                oidc,
                portal,
            });
        }
        self.connected.as_ref().ok_or(Failure::Other {
            cause: "the IAM Identity Center client could not be kept".into(),
        })
    }
}

fn seconds(value: i32) -> Duration {
    Duration::from_secs(u64::try_from(value).unwrap_or(0))
}

/// Answers larger than this are not tokens (real ones are a few KiB).
const MAX_TOKEN_BYTES: usize = 16 * 1024;

fn secret_field(value: Option<&str>, what: &'static str) -> Result<Secret, Failure> {
    match value {
        Some(v) if !v.is_empty() && v.len() <= MAX_TOKEN_BYTES => Ok(Secret::new(v)),
        _ => Err(Failure::Incomplete(what)),
    }
}

impl OidcApi for LazySso {
    fn register_client(&mut self, request: &RegisterRequest) -> Result<RegisteredClient, Failure> {
        let timeout = self.operation_timeout;
        let connected = self.connect()?;
        let mut call = connected
            .oidc
            .register_client()
            .client_name(&request.client_name)
            .client_type("public")
            .set_scopes(Some(request.scopes.clone()));
        if let Some(auth) = &request.auth_code {
            call = call
                .grant_types("authorization_code")
                .grant_types("refresh_token")
                .redirect_uris(&auth.redirect_uri)
                .issuer_url(&auth.issuer_url);
        }
        let output = connected
            .runtime
            .block_on(call.send())
            .map_err(|e| classify(&e, timeout))?;
        let client_id = output
            .client_id()
            .filter(|c| !c.is_empty() && c.len() <= 4096)
            .ok_or(Failure::Incomplete("without a client id"))?
            .to_string();
        let client_secret = secret_field(output.client_secret(), "without a client secret")?;
        let expires_at = u64::try_from(output.client_secret_expires_at())
            .ok()
            .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
            .filter(|at| *at > SystemTime::now())
            .ok_or(Failure::Incomplete("with a registration that has expired"))?;
        Ok(RegisteredClient {
            client_id,
            client_secret,
            expires_at,
        })
    }

    fn start_device_authorization(
        &mut self,
        client_id: &str,
        client_secret: &Secret,
        start_url: &str,
    ) -> Result<DeviceAuthorization, Failure> {
        let timeout = self.operation_timeout;
        let connected = self.connect()?;
        let call = connected
            .oidc
            .start_device_authorization()
            .client_id(client_id)
            .client_secret(client_secret.expose())
            .start_url(start_url)
            .send();
        let output = connected
            .runtime
            .block_on(call)
            .map_err(|e| classify(&e, timeout))?;
        let text = |v: Option<&str>, what| {
            v.filter(|v| !v.is_empty() && v.len() <= 2048)
                .map(str::to_string)
                .ok_or(Failure::Incomplete(what))
        };
        Ok(DeviceAuthorization {
            device_code: secret_field(output.device_code(), "without a device code")?,
            user_code: text(output.user_code(), "without a user code")?,
            verification_uri: text(output.verification_uri(), "without a verification URL")?,
            verification_uri_complete: output
                .verification_uri_complete()
                .filter(|v| !v.is_empty() && v.len() <= 2048)
                .map(str::to_string),
            expires_in: seconds(output.expires_in()),
            interval: (output.interval() > 0).then(|| seconds(output.interval())),
        })
    }

    fn create_token(
        &mut self,
        client_id: &str,
        client_secret: &Secret,
        grant: &Grant<'_>,
    ) -> Result<IssuedToken, Failure> {
        let timeout = self.operation_timeout;
        let connected = self.connect()?;
        let mut call = connected
            .oidc
            .create_token()
            .client_id(client_id)
            .client_secret(client_secret.expose())
            .grant_type(grant.grant_type());
        call = match grant {
            Grant::DeviceCode(code) => call.device_code(code.expose()),
            Grant::AuthorizationCode {
                code,
                redirect_uri,
                verifier,
            } => call
                .code(code.expose())
                .redirect_uri(*redirect_uri)
                .code_verifier(verifier.expose()),
            Grant::RefreshToken(token) => call.refresh_token(token.expose()),
        };
        let output = connected
            .runtime
            .block_on(call.send())
            .map_err(|e| classify(&e, timeout))?;
        let expires_in = seconds(output.expires_in());
        if expires_in.is_zero() {
            return Err(Failure::Incomplete("with a token that has already expired"));
        }
        Ok(IssuedToken {
            access_token: secret_field(output.access_token(), "without an access token")?,
            expires_in,
            refresh_token: output
                .refresh_token()
                .filter(|t| !t.is_empty() && t.len() <= MAX_TOKEN_BYTES)
                .map(Secret::new),
        })
    }
}

impl PortalApi for LazySso {
    fn get_role_credentials(
        &mut self,
        access_token: &Secret,
        account_id: &str,
        role_name: &str,
    ) -> Result<Credentials, Failure> {
        let timeout = self.operation_timeout;
        let connected = self.connect()?;
        let call = connected
            .portal
            .get_role_credentials()
            .access_token(access_token.expose())
            .account_id(account_id)
            .role_name(role_name)
            .send();
        let output = connected
            .runtime
            .block_on(call)
            .map_err(|e| classify(&e, timeout))?;
        let creds = output
            .role_credentials()
            .ok_or(Failure::Incomplete("without credentials"))?;
        let key_id = creds.access_key_id().unwrap_or_default();
        let secret = creds.secret_access_key().unwrap_or_default();
        let token = creds.session_token().unwrap_or_default();
        if !is_access_key_id(key_id)
            || secret.is_empty()
            || secret.len() > 1024
            || token.is_empty()
            || token.len() > MAX_TOKEN_BYTES
        {
            return Err(Failure::Incomplete("with incomplete credentials"));
        }
        let expiration = u64::try_from(creds.expiration())
            .ok()
            .map(|ms| SystemTime::UNIX_EPOCH + Duration::from_millis(ms))
            .filter(|at| *at > SystemTime::now())
            .ok_or(Failure::Incomplete(
                "with credentials that have already expired",
            ))?;
        Ok(Credentials {
            access_key_id: key_id.to_string(),
            secret_access_key: Secret::new(secret),
            session_token: Some(Secret::new(token)),
            expiration: Some(crate::session::whole_seconds(expiration)),
        })
    }
}

fn classify<E>(err: &SdkError<E>, timeout: Duration) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if cut_off_by_cap(err) {
        return Failure::TooLarge;
    }
    match err {
        SdkError::ServiceError(service) => {
            let inner = service.err();
            let code = inner.code().unwrap_or_default();
            let message = inner.message().unwrap_or_default().trim().to_string();
            from_code(code, message, service.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) => Failure::Timeout {
            seconds: timeout.as_secs().max(1),
        },
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => Failure::Timeout {
            seconds: timeout.as_secs().max(1),
        },
        SdkError::DispatchFailure(_) if root_cause(err).contains("certificate") => {
            Failure::UntrustedCertificate {
                cause: root_cause(err),
            }
        }
        SdkError::DispatchFailure(_) => Failure::Unreachable {
            cause: root_cause(err),
        },
        // The parser's message may quote the body, which can hold a token.
        SdkError::ResponseError(_) => Failure::Unreadable,
        _ => Failure::Other {
            cause: root_cause(err),
        },
    }
}

fn from_code(code: &str, message: String, status: u16) -> Failure {
    match code {
        "AuthorizationPendingException" => Failure::AuthorizationPending,
        "SlowDownException" => Failure::SlowDown,
        "ExpiredTokenException" => Failure::Expired,
        "InvalidGrantException" => Failure::InvalidGrant { message },
        "InvalidClientException" | "UnauthorizedClientException" => Failure::InvalidClient,
        "UnauthorizedException" => Failure::Unauthorized,
        "AccessDeniedException" => Failure::AccessDenied { message },
        "ResourceNotFoundException" | "ForbiddenException" => Failure::RoleNotFound { message },
        "TooManyRequestsException" => Failure::Throttled,
        _ if status >= 500 => Failure::ServerError { status },
        "" if (200..300).contains(&status) => Failure::Unreadable,
        _ => Failure::Refused {
            code: code.to_string(),
            message,
            status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_sdk_names() {
        let env = Environment::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://u:p@127.0.0.1:2/"),
        ]);
        let e = SsoEndpoints::from_env(&env, "eu-west-1");
        assert_eq!(e.oidc_base(), "http://u:p@127.0.0.1:2");
        assert_eq!(e.oidc_shown(), "http://127.0.0.1:2/");
        assert_eq!(e.portal_override(), Some("http://127.0.0.1:1"));
        let d = SsoEndpoints::from_env(&Environment::default(), "eu-west-1");
        assert_eq!(d.oidc_base(), "https://oidc.eu-west-1.amazonaws.com");
        assert_eq!(
            d.portal_shown(),
            "https://portal.sso.eu-west-1.amazonaws.com"
        );
        assert_eq!(d.portal_override(), None);
    }

    #[test]
    fn codes_become_failures() {
        assert_eq!(
            from_code("AuthorizationPendingException", String::new(), 400),
            Failure::AuthorizationPending
        );
        assert_eq!(
            from_code("", String::new(), 503),
            Failure::ServerError { status: 503 }
        );
        assert_eq!(
            from_code("UnauthorizedException", String::new(), 401),
            Failure::Unauthorized
        );
    }
}
