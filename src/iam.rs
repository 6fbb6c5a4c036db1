//! The only user of aws-sdk-iam, reached by `--rotate` alone (DESIGN §10): ListAccessKeys,
//! CreateAccessKey, UpdateAccessKey, DeleteAccessKey. The client is built as STS's is — by
//! hand, explicit static credentials and region, rustls-ring, bounded timeouts, standard
//! retries, never aws-config's loader or the shared `~/.aws` files — and only when the first
//! call is made, so nothing of it is on the exec path.
#![forbid(unsafe_code)]

use crate::env::Environment;
use crate::secret::{Secret, is_access_key_id};
use crate::session::Credentials;
use crate::sts::{Endpoint, MAX_ATTEMPTS};
use crate::text::{clean, redact_url};
use aws_sdk_iam::config::{BehaviorVersion, Region};
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use std::time::{Duration, SystemTime};

/// IAM is global per partition: its endpoint and the region its requests are signed for.
pub fn endpoint(current: &Environment, partition: Option<&str>) -> (Endpoint, &'static str) {
    let url_override = current
        .get("AWS_ENDPOINT_URL_IAM")
        .or_else(|| current.get("AWS_ENDPOINT_URL"))
        .map(str::to_string);
    let (default, region) = match partition {
        Some("aws-cn") => ("https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        Some("aws-us-gov") => ("https://iam.us-gov.amazonaws.com", "us-gov-west-1"),
        _ => ("https://iam.amazonaws.com", "us-east-1"),
    };
    let shown = url_override
        .as_deref()
        .map_or_else(|| default.to_string(), redact_url);
    (
        Endpoint {
            url_override,
            shown,
        },
        region,
    )
}

/// One of the user's access keys, as ListAccessKeys shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub access_key_id: String,
    /// `Active` or `Inactive`.
    pub status: String,
    pub created: Option<SystemTime>,
}

/// How an IAM call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IamFailure {
    /// AccessDenied: the signer may not make this call (often: the policy requires MFA).
    Denied {
        message: String,
    },
    /// NoSuchEntity: the key (or user) does not exist.
    NoSuchEntity,
    /// LimitExceeded: the user already has two access keys.
    LimitExceeded,
    /// InvalidClientTokenId, SignatureDoesNotMatch, ExpiredToken: the signer was refused.
    SignerRefused {
        code: String,
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
    Unreadable,
    Other {
        cause: String,
    },
}

impl IamFailure {
    /// The end of a sentence that starts "IAM at <endpoint> …".
    pub fn describe(&self, operation: &str) -> String {
        match self {
            IamFailure::Denied { message } => {
                format!(
                    "refused {operation} (AccessDenied: {})",
                    clean(message, 300)
                )
            }
            IamFailure::NoSuchEntity => format!("answered {operation} with NoSuchEntity"),
            IamFailure::LimitExceeded => {
                format!("refused {operation}: the user already has two access keys")
            }
            IamFailure::SignerRefused { code } => format!(
                "refused the credentials that signed {operation} ({})",
                clean(code, 64)
            ),
            IamFailure::Throttled => {
                format!("kept throttling {operation} after {MAX_ATTEMPTS} attempts")
            }
            IamFailure::ServerError { status } => {
                format!("failed {operation} (HTTP {status}) after {MAX_ATTEMPTS} attempts")
            }
            IamFailure::Refused {
                code,
                message,
                status,
            } => {
                if code.is_empty() {
                    format!("refused {operation} (HTTP {status})")
                } else {
                    format!(
                        "refused {operation}: {}: {}",
                        clean(code, 64),
                        clean(message, 300)
                    )
                }
            }
            IamFailure::Timeout { seconds } => {
                format!("did not answer {operation} within {seconds} s")
            }
            IamFailure::Unreachable { cause } => {
                format!("is unreachable ({operation}: {})", clean(cause, 200))
            }
            IamFailure::Unreadable => format!(
                "sent a response to {operation} that stsexec cannot read (is AWS_ENDPOINT_URL_IAM an IAM endpoint?)"
            ),
            IamFailure::Other { cause } => {
                format!("could not be called ({operation}: {})", clean(cause, 200))
            }
        }
    }

    /// A failure worth another try a moment later (eventual consistency, the network).
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            IamFailure::Denied { .. } | IamFailure::NoSuchEntity | IamFailure::LimitExceeded
        )
    }
}

/// The real IAM: runtime and client built on the first call.
pub struct LazyIam {
    region: &'static str,
    pub endpoint: Endpoint,
    operation_timeout: Duration,
    connected: Option<(tokio::runtime::Runtime, aws_sdk_iam::Config)>,
}

impl LazyIam {
    pub fn new(endpoint: Endpoint, region: &'static str, operation_timeout: Duration) -> Self {
        LazyIam {
            region,
            endpoint,
            operation_timeout,
            connected: None,
        }
    }

    fn client(
        &mut self,
        signer: &Credentials,
    ) -> Result<(&tokio::runtime::Runtime, aws_sdk_iam::Client), IamFailure> {
        if self.connected.is_none() {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| IamFailure::Other {
                    cause: format!("cannot start the IAM client: {e}"),
                })?;
            let settings = crate::sts::client_settings(self.operation_timeout);
            let mut builder = aws_sdk_iam::Config::builder()
                .behavior_version(BehaviorVersion::latest())
                .region(Region::new(self.region))
                .http_client(settings.http_client)
                .timeout_config(settings.timeouts)
                .retry_config(settings.retries)
                .interceptor(crate::sts::ResponseCap);
            if let Some(url) = &self.endpoint.url_override {
                builder = builder.endpoint_url(url);
            }
            self.connected = Some((runtime, builder.build()));
        }
        let Some((runtime, config)) = self.connected.as_ref() else {
            return Err(IamFailure::Other {
                cause: "the IAM client could not be kept".into(),
            });
        };
        let static_creds = aws_sdk_iam::config::Credentials::new(
            signer.access_key_id.clone(),
            signer.secret_access_key.expose().to_string(),
            signer
                .session_token
                .as_ref()
                .map(|t| t.expose().to_string()),
            signer.expiration,
            "stsexec",
        );
        let config = config
            .to_builder()
            .credentials_provider(static_creds)
            .build();
        Ok((runtime, aws_sdk_iam::Client::from_conf(config)))
    }

    pub fn list_keys(
        &mut self,
        signer: &Credentials,
        user: &str,
    ) -> Result<Vec<KeyInfo>, IamFailure> {
        let timeout = self.operation_timeout;
        let (runtime, client) = self.client(signer)?;
        let output = runtime
            .block_on(client.list_access_keys().user_name(user).send())
            .map_err(|e| classify(&e, timeout))?;
        Ok(output
            .access_key_metadata()
            .iter()
            .filter_map(|key| {
                Some(KeyInfo {
                    access_key_id: key.access_key_id()?.to_string(),
                    status: key
                        .status()
                        .map_or_else(|| "unknown".to_string(), |s| s.as_str().to_string()),
                    created: key
                        .create_date()
                        .and_then(|d| SystemTime::try_from(*d).ok()),
                })
            })
            .collect())
    }

    /// CreateAccessKey: the new long-lived pair.
    pub fn create_key(
        &mut self,
        signer: &Credentials,
        user: &str,
    ) -> Result<Credentials, IamFailure> {
        let timeout = self.operation_timeout;
        let (runtime, client) = self.client(signer)?;
        // CreateAccessKey is not idempotent: a retry after a slow answer would make a second
        // key whose secret nobody saw (issue 20 item 7). One attempt, given the whole call's
        // time; `rotate` lists the keys when the outcome is unknown.
        let mut once = aws_sdk_iam::Config::builder()
            .retry_config(aws_sdk_iam::config::retry::RetryConfig::disabled());
        once.set_timeout_config(
            client
                .config()
                .timeout_config()
                .map(|base| base.to_builder().operation_attempt_timeout(timeout).build()),
        );
        let output = runtime
            .block_on(
                client
                    .create_access_key()
                    .user_name(user)
                    .customize()
                    .config_override(once)
                    .send(),
            )
            .map_err(|e| classify(&e, timeout))?;
        let key = output.access_key().ok_or(IamFailure::Unreadable)?;
        if !is_access_key_id(key.access_key_id())
            || key.secret_access_key().is_empty()
            || key.secret_access_key().len() > 1024
        {
            return Err(IamFailure::Unreadable);
        }
        Ok(Credentials {
            access_key_id: key.access_key_id().to_string(),
            secret_access_key: Secret::new(key.secret_access_key()),
            session_token: None,
            expiration: None,
        })
    }

    pub fn deactivate_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure> {
        let timeout = self.operation_timeout;
        let (runtime, client) = self.client(signer)?;
        runtime
            .block_on(
                client
                    .update_access_key()
                    .user_name(user)
                    .access_key_id(key_id)
                    .status(StatusType::Inactive)
                    .send(),
            )
            .map_err(|e| classify(&e, timeout))?;
        Ok(())
    }

    pub fn delete_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure> {
        let timeout = self.operation_timeout;
        let (runtime, client) = self.client(signer)?;
        runtime
            .block_on(
                client
                    .delete_access_key()
                    .user_name(user)
                    .access_key_id(key_id)
                    .send(),
            )
            .map_err(|e| classify(&e, timeout))?;
        Ok(())
    }
}

impl Drop for LazyIam {
    fn drop(&mut self) {
        // As for STS: a slow resolver must not hold the process after a call gave up.
        if let Some((runtime, _)) = self.connected.take() {
            runtime.shutdown_background();
        }
    }
}

fn classify<E>(err: &SdkError<E>, timeout: Duration) -> IamFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    if crate::sts::cut_off_by_cap(err) {
        return IamFailure::Other {
            cause: format!(
                "its answer was larger than {} KiB, far more than an IAM answer",
                crate::sts::MAX_RESPONSE_BYTES / 1024
            ),
        };
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
                None => raw
                    .body()
                    .bytes()
                    .and_then(|body| std::str::from_utf8(body).ok())
                    .map(crate::sts::error_from_body)
                    .unwrap_or_default(),
            };
            from_service_error(&code, &message, status)
        }
        SdkError::TimeoutError(_) => IamFailure::Timeout {
            seconds: timeout.as_secs().max(1),
        },
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => IamFailure::Timeout {
            seconds: timeout.as_secs().max(1),
        },
        SdkError::DispatchFailure(_) => IamFailure::Unreachable {
            cause: crate::sts::root_cause(err),
        },
        // The parser's own message may quote the body, which can hold a new secret.
        SdkError::ResponseError(_) => IamFailure::Unreadable,
        _ => IamFailure::Other {
            cause: crate::sts::root_cause(err),
        },
    }
}

fn from_service_error(code: &str, message: &str, status: u16) -> IamFailure {
    match code {
        "AccessDenied" | "AccessDeniedException" => IamFailure::Denied {
            message: message.to_string(),
        },
        "NoSuchEntity" => IamFailure::NoSuchEntity,
        "LimitExceeded" => IamFailure::LimitExceeded,
        "InvalidClientTokenId" | "SignatureDoesNotMatch" | "ExpiredToken" => {
            IamFailure::SignerRefused {
                code: code.to_string(),
            }
        }
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => IamFailure::Throttled,
        _ if status >= 500 => IamFailure::ServerError { status },
        "" if (200..300).contains(&status) => IamFailure::Unreadable,
        _ => IamFailure::Refused {
            code: code.to_string(),
            message: message.to_string(),
            status,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_is_global_per_partition_unless_overridden() {
        let none = Environment::default();
        assert_eq!(endpoint(&none, None).0.shown, "https://iam.amazonaws.com");
        assert_eq!(endpoint(&none, Some("aws")).1, "us-east-1");
        assert_eq!(
            endpoint(&none, Some("aws-cn")).0.shown,
            "https://iam.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(
            endpoint(&none, Some("aws-us-gov")).0.shown,
            "https://iam.us-gov.amazonaws.com"
        );
        let both = Environment::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_IAM", "http://u:p@127.0.0.1:2"),
        ]);
        let (chosen, _) = endpoint(&both, None);
        assert_eq!(
            chosen.url_override.as_deref(),
            Some("http://u:p@127.0.0.1:2")
        );
        assert_eq!(chosen.shown, "http://127.0.0.1:2");
        let general = Environment::from_pairs([("AWS_ENDPOINT_URL", "http://127.0.0.1:1")]);
        assert_eq!(
            endpoint(&general, None).0.url_override.as_deref(),
            Some("http://127.0.0.1:1")
        );
    }

    #[test]
    fn error_codes_become_failures() {
        assert!(matches!(
            from_service_error("AccessDenied", "needs MFA", 403),
            IamFailure::Denied { .. }
        ));
        assert_eq!(
            from_service_error("LimitExceeded", "", 409),
            IamFailure::LimitExceeded
        );
        assert_eq!(
            from_service_error("NoSuchEntity", "", 404),
            IamFailure::NoSuchEntity
        );
        assert!(!IamFailure::NoSuchEntity.is_transient());
        assert!(IamFailure::ServerError { status: 503 }.is_transient());
    }
}
