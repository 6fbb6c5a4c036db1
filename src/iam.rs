//! The only user of aws-sdk-iam, reached by `--rotate` (DESIGN §10: ListAccessKeys,
//! CreateAccessKey, UpdateAccessKey, DeleteAccessKey) and `--add` (DESIGN §13: ListMFADevices,
//! to fill a new accounts-file entry's MFA device). The client is built through the outbound
//! layer ([`crate::aws`]) exactly as STS's is — the same settings, runtime (shared with STS's
//! client in the same run), response cap, failure classification, endpoint rule and wait
//! line — and only when the first call is made, so nothing of it is on the exec path.
#![forbid(unsafe_code)]

use crate::aws::cap::ResponseCap;
use crate::aws::endpoint::{Partition, Variant};
use crate::aws::{
    Connections, Endpoint, MAX_ATTEMPTS, Outbound, Service, Transport, Wait, static_credentials,
};
use crate::env::Environment;
use crate::secret::{Secret, is_access_key_id};
use crate::session::Credentials;
use crate::text::clean;
use aws_sdk_iam::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_iam::types::StatusType;
use std::time::SystemTime;

/// IAM is global per partition: its endpoint (`AWS_ENDPOINT_URL_IAM`, else
/// `AWS_ENDPOINT_URL`, else the partition's, FIPS and dual-stack as asked) and the region its
/// requests are signed for.
pub fn endpoint(current: &Environment, partition: Option<&str>) -> (Endpoint, &'static str) {
    let (default, region) = Partition::of(partition, "").iam_url(Variant::from_env(current));
    (Endpoint::resolve(current, Service::Iam, default), region)
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
    /// The call failed on the way: the outbound layer's classification.
    Transport(Transport),
}

impl From<Transport> for IamFailure {
    fn from(t: Transport) -> Self {
        IamFailure::Transport(t)
    }
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
            IamFailure::Transport(Transport::Timeout { seconds }) => {
                format!("did not answer {operation} within {seconds} s")
            }
            IamFailure::Transport(Transport::ThroughProxy { proxy, failure }) => format!(
                "could not be reached through {proxy} ({operation}: {}); check that the proxy runs and accepts the user name and password in {}, or bypass it with NO_PROXY",
                failure.reason(),
                proxy.variable
            ),
            IamFailure::Transport(Transport::Unreachable { cause }) => {
                format!("is unreachable ({operation}: {cause})")
            }
            IamFailure::Transport(Transport::UntrustedCertificate { cause }) => format!(
                "presented a TLS certificate stsexec does not trust ({operation}: {cause}); {}",
                crate::sts::UNTRUSTED_FIX
            ),
            IamFailure::Transport(Transport::TooLarge) => format!(
                "answered {operation} with more than {} KiB, far more than an IAM answer; refused",
                crate::aws::cap::MAX_RESPONSE_BYTES / 1024
            ),
            IamFailure::Transport(Transport::Unreadable) => format!(
                "sent a response to {operation} that stsexec cannot read (is AWS_ENDPOINT_URL_IAM an IAM endpoint?)"
            ),
            IamFailure::Transport(
                other @ (Transport::NoRuntime { .. }
                | Transport::NotAUrl
                | Transport::CaBundle(_)
                | Transport::BadProxy(_)
                | Transport::ProxyRefused { .. }
                | Transport::Other { .. }),
            ) => {
                format!("could not be called ({operation}: {})", other.cause())
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

/// The real IAM: its client is built on the first call.
pub struct LazyIam {
    region: &'static str,
    pub endpoint: Endpoint,
    outbound: Outbound,
    config: Option<aws_sdk_iam::Config>,
}

impl LazyIam {
    /// `outbound`: the layer the run's STS client calls through (one runtime for both).
    pub fn new(endpoint: Endpoint, region: &'static str, outbound: Outbound) -> Self {
        LazyIam {
            region,
            endpoint,
            outbound,
            config: None,
        }
    }

    fn client(&mut self, signer: &Credentials) -> Result<aws_sdk_iam::Client, IamFailure> {
        let config = match &self.config {
            Some(config) => config.clone(),
            None => {
                let shared = self
                    .outbound
                    .sdk_config(self.region, &self.endpoint, Connections::OnePerCall)
                    .map_err(IamFailure::Transport)?;
                let config = aws_sdk_iam::config::Builder::from(&shared)
                    .interceptor(ResponseCap)
                    .build();
                self.config = Some(config.clone());
                config
            }
        };
        let config = config
            .to_builder()
            .credentials_provider(static_credentials(signer))
            .build();
        Ok(aws_sdk_iam::Client::from_conf(config))
    }

    /// Runs one call through the layer (the wait line names IAM, the endpoint, `operation`)
    /// and classifies its failure.
    fn call<T, E, F>(&self, operation: &str, call: F) -> Result<T, IamFailure>
    where
        F: std::future::Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let wait = Wait {
            service: Service::Iam.name(),
            endpoint: &self.endpoint.shown,
            operation,
        };
        self.outbound
            .call(wait, &self.endpoint, call, from_service_error)
    }

    pub fn list_keys(
        &mut self,
        signer: &Credentials,
        user: &str,
    ) -> Result<Vec<KeyInfo>, IamFailure> {
        let call = self
            .client(signer)?
            .list_access_keys()
            .user_name(user)
            .send();
        let output = self.call("ListAccessKeys", call)?;
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

    /// ListMFADevices: the serials (ARNs) of `user`'s MFA devices. A serial the accounts file
    /// would not accept as `mfa_serial` makes the answer unreadable rather than being passed on.
    pub fn list_mfa_devices(
        &mut self,
        signer: &Credentials,
        user: &str,
    ) -> Result<Vec<String>, IamFailure> {
        let call = self
            .client(signer)?
            .list_mfa_devices()
            .user_name(user)
            .send();
        let output = self.call("ListMFADevices", call)?;
        output
            .mfa_devices()
            .iter()
            .map(|device| {
                let serial = device.serial_number();
                if crate::accounts::is_mfa_serial(serial) {
                    Ok(serial.to_string())
                } else {
                    Err(IamFailure::Transport(Transport::Unreadable))
                }
            })
            .collect()
    }

    /// CreateAccessKey: the new long-lived pair.
    pub fn create_key(
        &mut self,
        signer: &Credentials,
        user: &str,
    ) -> Result<Credentials, IamFailure> {
        let timeout = self.outbound.operation_timeout();
        let client = self.client(signer)?;
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
        let call = client
            .create_access_key()
            .user_name(user)
            .customize()
            .config_override(once)
            .send();
        let output = self.call("CreateAccessKey", call)?;
        let key = output
            .access_key()
            .ok_or(IamFailure::Transport(Transport::Unreadable))?;
        if !is_access_key_id(key.access_key_id())
            || key.secret_access_key().is_empty()
            || key.secret_access_key().len() > 1024
        {
            return Err(IamFailure::Transport(Transport::Unreadable));
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
        let call = self
            .client(signer)?
            .update_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .status(StatusType::Inactive)
            .send();
        self.call("UpdateAccessKey", call)?;
        Ok(())
    }

    pub fn delete_key(
        &mut self,
        signer: &Credentials,
        user: &str,
        key_id: &str,
    ) -> Result<(), IamFailure> {
        let call = self
            .client(signer)?
            .delete_access_key()
            .user_name(user)
            .access_key_id(key_id)
            .send();
        self.call("DeleteAccessKey", call)?;
        Ok(())
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
        "" if (200..300).contains(&status) => IamFailure::Transport(Transport::Unreadable),
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
