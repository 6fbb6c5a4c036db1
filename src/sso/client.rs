//! The only user of aws-sdk-ssooidc and aws-sdk-sso. The login flows reach IAM Identity
//! Center through the [`OidcApi`] and [`PortalApi`] traits; [`LazySso`] is the real one, which
//! starts its current-thread runtime and clients on first use only. All four operations are
//! unsigned (the OIDC calls carry the client secret, GetRoleCredentials the bearer token), so
//! no credentials provider is configured, and nothing reads `~/.aws/config`.
#![forbid(unsafe_code)]

use crate::aws::cap::ResponseCap;
use crate::aws::{
    Classified, Connections, Endpoint, Outbound, Service, Transport, Wait, classify_sdk,
};
use crate::env::Environment;
use crate::secret::{Secret, is_access_key_id};
use crate::session::Credentials;
use crate::text::redact_url;
use aws_sdk_sso::error::{ProvideErrorMetadata, SdkError};
use std::time::{Duration, SystemTime};

/// Where the two services are: `AWS_ENDPOINT_URL_SSO_OIDC` / `AWS_ENDPOINT_URL_SSO`, else
/// `AWS_ENDPOINT_URL`, else the region's endpoints (the outbound layer's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoEndpoints {
    oidc: Endpoint,
    portal: Endpoint,
}

fn defaults(region: &str) -> (String, String) {
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    (
        format!("https://oidc.{region}.{suffix}"),
        format!("https://portal.sso.{region}.{suffix}"),
    )
}

impl SsoEndpoints {
    pub fn from_env(current: &Environment, region: &str) -> SsoEndpoints {
        let (oidc, portal) = defaults(region);
        SsoEndpoints {
            oidc: Endpoint::resolve(current, Service::SsoOidc, oidc),
            portal: Endpoint::resolve(current, Service::Sso, portal),
        }
    }

    /// The endpoints with these overrides (`None`: the region's).
    pub fn new(
        oidc_override: Option<String>,
        portal_override: Option<String>,
        region: &str,
    ) -> SsoEndpoints {
        let (oidc, portal) = defaults(region);
        let endpoint = |url_override: Option<String>, default: String| Endpoint {
            shown: url_override.as_deref().map_or(default, redact_url),
            url_override,
        };
        SsoEndpoints {
            oidc: endpoint(oidc_override, oidc),
            portal: endpoint(portal_override, portal),
        }
    }

    /// The OIDC service's base URL, to which the browser's `/authorize` page is relative.
    pub fn oidc_base(&self) -> &str {
        self.oidc.url().trim_end_matches('/')
    }

    /// The OIDC endpoint as messages show it (no user-info).
    pub fn oidc_shown(&self) -> String {
        self.oidc.shown.clone()
    }

    /// The portal endpoint as messages show it.
    pub fn portal_shown(&self) -> String {
        self.portal.shown.clone()
    }

    /// The overrides that are plain http on another host: tokens and credentials would cross
    /// the network unencrypted (shown without user-info).
    pub fn cleartext_remote(&self) -> Vec<String> {
        [&self.oidc, &self.portal]
            .into_iter()
            .filter(|e| e.is_cleartext_remote())
            .map(|e| e.shown.clone())
            .collect()
    }

    /// The portal override in force (a cached role session is bound to it).
    pub fn portal_override(&self) -> Option<&str> {
        self.portal.url_override.as_deref()
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

/// The real IAM Identity Center: its clients are built on the first call, through the run's
/// outbound layer (TLS, proxies, time-outs, retries, the response cap, the wait line).
pub struct LazySso {
    region: String,
    endpoints: SsoEndpoints,
    outbound: Outbound,
    clients: Option<(aws_sdk_ssooidc::Client, aws_sdk_sso::Client)>,
}

/// The two SDK clients, built from the outbound layer's settings with an explicit region and
/// the endpoint overrides. The one place the SSO clients are made.
pub fn build_clients(
    outbound: &Outbound,
    region: &str,
    endpoints: &SsoEndpoints,
) -> Result<(aws_sdk_ssooidc::Client, aws_sdk_sso::Client), Failure> {
    let oidc = outbound
        .sdk_config(region, &endpoints.oidc, Connections::OnePerCall)
        .map_err(from_transport)?;
    let portal = outbound
        .sdk_config(region, &endpoints.portal, Connections::Reused)
        .map_err(from_transport)?;
    Ok((
        aws_sdk_ssooidc::Client::from_conf(
            aws_sdk_ssooidc::config::Builder::from(&oidc)
                .interceptor(ResponseCap)
                .build(),
        ),
        aws_sdk_sso::Client::from_conf(
            aws_sdk_sso::config::Builder::from(&portal)
                .interceptor(ResponseCap)
                .build(),
        ),
    ))
}

impl LazySso {
    pub fn new(region: &str, endpoints: SsoEndpoints, outbound: Outbound) -> LazySso {
        LazySso {
            region: region.to_string(),
            endpoints,
            outbound,
            clients: None,
        }
    }

    /// The same client, silent about slow calls (`--server` renewals).
    #[must_use]
    pub fn without_announcements(mut self) -> Self {
        self.outbound = self.outbound.without_announcements();
        self
    }

    pub fn endpoints(&self) -> &SsoEndpoints {
        &self.endpoints
    }

    fn clients(&mut self) -> Result<(aws_sdk_ssooidc::Client, aws_sdk_sso::Client), Failure> {
        if self.clients.is_none() {
            self.clients = Some(build_clients(
                &self.outbound,
                &self.region,
                &self.endpoints,
            )?);
        }
        self.clients.clone().ok_or(Failure::Other {
            cause: "the IAM Identity Center clients could not be kept".into(),
        })
    }

    /// Runs one call through the layer and classifies its failure.
    fn call<T, E, F>(&self, service: Service, operation: &str, call: F) -> Result<T, Failure>
    where
        F: std::future::Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let endpoint = match service {
            Service::Sso => &self.endpoints.portal.shown,
            _ => &self.endpoints.oidc.shown,
        };
        let wait = Wait {
            service: service.name(),
            endpoint,
            operation,
        };
        let timeout = self.outbound.operation_timeout();
        self.outbound
            .run(wait, call)
            .map_err(from_transport)?
            .map_err(|e| match classify_sdk(&e, timeout) {
                Classified::Service {
                    code,
                    message,
                    status,
                } => from_code(&code, message, status),
                Classified::Transport(t) => from_transport(t),
            })
    }
}

fn from_transport(transport: Transport) -> Failure {
    match transport {
        Transport::Timeout { seconds } => Failure::Timeout { seconds },
        Transport::Unreachable { cause } => Failure::Unreachable { cause },
        Transport::UntrustedCertificate { cause } => Failure::UntrustedCertificate { cause },
        Transport::TooLarge => Failure::TooLarge,
        Transport::Unreadable => Failure::Unreadable,
        other => Failure::Other {
            cause: other.cause(),
        },
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
        let (oidc, _) = self.clients()?;
        let mut call = oidc
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
        let output = self.call(Service::SsoOidc, "RegisterClient", call.send())?;
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
        let (oidc, _) = self.clients()?;
        let call = oidc
            .start_device_authorization()
            .client_id(client_id)
            .client_secret(client_secret.expose())
            .start_url(start_url)
            .send();
        let output = self.call(Service::SsoOidc, "StartDeviceAuthorization", call)?;
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
        let (oidc, _) = self.clients()?;
        let mut call = oidc
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
        let output = self.call(Service::SsoOidc, "CreateToken", call.send())?;
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
        let (_, portal) = self.clients()?;
        let call = portal
            .get_role_credentials()
            .access_token(access_token.expose())
            .account_id(account_id)
            .role_name(role_name)
            .send();
        let output = self.call(Service::Sso, "GetRoleCredentials", call)?;
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
        assert!(e.cleartext_remote().is_empty());
        let remote = SsoEndpoints::new(Some("http://sso.example.com".into()), None, "eu-west-1");
        assert_eq!(remote.cleartext_remote(), ["http://sso.example.com"]);
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
