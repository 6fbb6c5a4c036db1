//! The one outbound layer (DESIGN §3, §14): every call stsexec makes to the network — STS,
//! IAM, GitHub Actions' token request, and next console sign-in and IAM Identity Center —
//! goes through an [`Outbound`], which holds:
//! - one current-thread tokio runtime, started by the first call (never on the cached path)
//!   and shut down one way, in the background, so a slow resolver cannot hold the process;
//! - one set of client settings ([`Outbound::sdk_config`]): the HTTP client (rustls with
//!   ring, the platform's roots as `SSL_CERT_FILE`/`SSL_CERT_DIR` point, plus
//!   `AWS_CA_BUNDLE`'s; the proxy the environment names for the endpoint, [`network`]),
//!   connect and per-attempt time-outs derived from the call's bound, standard retries;
//! - one response cap ([`cap`]), one failure classification ([`failure`]) and one endpoint
//!   rule ([`endpoint`]);
//! - the wait line of DESIGN §12 ("Waiting for IAM at … (Operation)…") after a second on a
//!   terminal, and with `-v` the route each call takes (directly, or through which proxy).
//!
//! An SDK client is built from [`Outbound::sdk_config`] plus [`cap::ResponseCap`]; its calls
//! run through [`Outbound::run`]. A plain HTTPS request goes through [`Outbound::get`].
#![forbid(unsafe_code)]

pub mod cap;
pub mod endpoint;
pub mod failure;
pub mod network;

pub use endpoint::{Endpoint, Service};
pub use failure::{Classified, Transport, classify_sdk};
pub use network::{Network, Route};

use crate::env::Environment;
use crate::report::Reporter;
use crate::session::Credentials;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_runtime_api::client::http::{HttpConnector, HttpConnectorSettings};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use aws_types::SdkConfig;
use aws_types::region::Region;
use http_body_util::BodyExt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use zeroize::Zeroizing;

/// The whole call, retries included, gives up after this (`STSEXEC_STS_TIMEOUT` overrides).
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(15);
/// Attempts per call: the SDK's standard retries (throttling, 5xx, the network), and the
/// plain requests' (5xx, the network).
pub const MAX_ATTEMPTS: u32 = 3;
/// How long a call runs before stsexec says what it waits for (DESIGN §12).
const ANNOUNCE_AFTER: Duration = Duration::from_secs(1);
const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// How an SDK client's HTTP connections are used between its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// Kept alive and reused (STS, the SSO portal): each of their calls may be sent again,
    /// and the SDK's retries do so when a reused connection turns out closed.
    Reused,
    /// A new connection for every call (IAM, the SSO sign-in): some of their calls must not be
    /// sent twice — CreateAccessKey is never retried, an authorisation code is good once —,
    /// and a kept-alive connection that the server or a proxy closed after its last answer
    /// (tinyproxy does at once, without saying so) fails the next call with "connection closed
    /// before message completed" once the request is out. Their calls are few (`--rotate`,
    /// `--add`, a sign-in): a handshake each costs little.
    OnePerCall,
}

/// The layer: cheap to clone (clones share the runtime), `Send`, built with nothing started.
#[derive(Clone)]
pub struct Outbound {
    shared: Arc<Shared>,
    /// Where the wait line (on a terminal only) and `-v`'s route lines go.
    report: Option<Reporter>,
    /// Whether the wait line is printed (not for background renewals).
    announce: bool,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("operation_timeout", &self.shared.operation_timeout)
            .field("started", &self.shared.runtime.get().is_some())
            .finish_non_exhaustive()
    }
}

struct Shared {
    operation_timeout: Duration,
    /// The snapshot the proxies and the CA bundle are read from, when the first call needs
    /// them: a cache hit never parses them.
    env: Environment,
    network: OnceLock<Network>,
    runtime: OnceLock<tokio::runtime::Runtime>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Blocking DNS lookups run on the runtime's blocking threads; a slow resolver must
        // not hold the process (and the account's lock) after the call gave up.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What a call waits for, as the wait line names it: "Waiting for {service} at {endpoint}
/// ({operation})…".
#[derive(Debug, Clone, Copy)]
pub struct Wait<'a> {
    pub service: &'a str,
    pub endpoint: &'a str,
    pub operation: &'a str,
}

/// A plain request's answer (status and capped body; the body is wiped on drop, since a
/// token endpoint's answer is a secret).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Zeroizing<Vec<u8>>,
}

impl Outbound {
    /// `operation_timeout`: the bound of one call, retries included; `current`: the snapshot
    /// whose proxy and CA variables the calls follow. Nothing starts, is parsed or is read
    /// here.
    pub fn new(
        operation_timeout: Duration,
        report: Option<Reporter>,
        current: &Environment,
    ) -> Self {
        Outbound {
            shared: Arc::new(Shared {
                operation_timeout,
                env: current.clone(),
                network: OnceLock::new(),
                runtime: OnceLock::new(),
            }),
            report,
            announce: true,
        }
    }

    /// The same layer, silent about slow calls (renewals in the background must not write on
    /// the terminal the command owns).
    #[must_use]
    pub fn without_announcements(mut self) -> Self {
        self.announce = false;
        self
    }

    /// The bound of one call, retries included.
    pub fn operation_timeout(&self) -> Duration {
        self.shared.operation_timeout
    }

    /// The proxies and CA bundle calls use.
    pub fn network(&self) -> &Network {
        self.shared
            .network
            .get_or_init(|| Network::from_env(&self.shared.env))
    }

    /// Classifies an SDK call's error (see [`classify_sdk`]); a failure on the way through a
    /// proxy names the proxy, and a forward proxy's own refusal is the proxy's.
    pub fn classify<E>(&self, err: &SdkError<E, HttpResponse>, endpoint: &Endpoint) -> Classified
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let classified = classify_sdk(err, self.shared.operation_timeout);
        let Route::Proxy(proxy) = self.network().route(endpoint.url()) else {
            return classified;
        };
        let failure = match classified {
            Classified::Service {
                status: status @ (407 | 403),
                ref code,
                ..
            } if code.is_empty() => Transport::ProxyRefused { status },
            Classified::Transport(t) => t,
            service => return service,
        };
        Classified::Transport(through(proxy, failure))
    }

    /// The settings every SDK client starts from (`aws_sdk_x::config::Builder::from(&it)`,
    /// then [`cap::ResponseCap`] as its interceptor): region, endpoint, HTTP client, time-outs,
    /// retries. Never aws-config's loader: no shared `~/.aws` files, no default credential
    /// chain (each call is signed with [`static_credentials`], or unsigned).
    pub fn sdk_config(
        &self,
        region: &str,
        endpoint: &Endpoint,
        connections: Connections,
    ) -> Result<SdkConfig, Transport> {
        let op = self.shared.operation_timeout;
        let tls = self.tls_context()?;
        let proxy = self
            .network()
            .proxy_config(endpoint.url())
            .map_err(Transport::BadProxy)?;
        self.warn_if_proxied_in_cleartext(endpoint);
        // aws-smithy-http-client's client builder takes no proxy; its connector builder does,
        // so the SDK gets a connector function that builds one with the settings it passes.
        let http_client = aws_smithy_http_client::Builder::new().build_with_connector_fn(
            move |settings, components| {
                let mut builder = aws_smithy_http_client::Connector::builder();
                builder.set_connector_settings(settings.cloned());
                if let Some(components) = components {
                    builder.set_sleep_impl(components.sleep_impl());
                }
                if connections == Connections::OnePerCall {
                    builder = builder.pool_max_idle_per_host(0);
                }
                builder
                    .proxy_config(proxy.clone())
                    .tls_provider(tls_provider())
                    .tls_context(tls.clone())
                    .build()
            },
        );
        Ok(SdkConfig::builder()
            .behavior_version(
                aws_smithy_runtime_api::client::behavior_version::BehaviorVersion::latest(),
            )
            .region(Region::new(region.to_string()))
            .http_client(http_client)
            .endpoint_url(endpoint.url())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(connect_timeout(op))
                    .operation_attempt_timeout(attempt_timeout(op))
                    .operation_timeout(op)
                    .build(),
            )
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(MAX_ATTEMPTS)
                    .with_initial_backoff(INITIAL_BACKOFF),
            )
            .build())
    }

    /// A plain-http endpoint on this machine, reached through a plain-http proxy on another
    /// host, crosses the network in cleartext all the same (the endpoint's own check sees
    /// only its host).
    fn warn_if_proxied_in_cleartext(&self, endpoint: &Endpoint) {
        let Route::Proxy(proxy) = self.network().route(endpoint.url()) else {
            return;
        };
        let plain = |url: &str| {
            url.parse::<http::Uri>()
                .is_ok_and(|u| u.scheme() == Some(&http::uri::Scheme::HTTP))
        };
        if plain(endpoint.url())
            && endpoint::is_cleartext_remote(proxy.url().expose())
            && let Some(report) = self.report
        {
            report.warn(format!(
                "the endpoint {} is plain http and goes through {proxy} on another host: the signed request and its answer cross the network unencrypted; use https, or add the endpoint's host to NO_PROXY",
                endpoint.shown
            ));
        }
    }

    /// The platform's roots plus `AWS_CA_BUNDLE`'s certificates, read now (never on the
    /// cached path: only a client being built asks).
    fn tls_context(&self) -> Result<tls::TlsContext, Transport> {
        let mut store = tls::TrustStore::default();
        if let Some(path) = &self.network().ca_bundle {
            let pem =
                network::ca_certificates(path).map_err(|bad| Transport::CaBundle(Arc::new(bad)))?;
            store = store.with_pem_certificate(pem);
        }
        tls::TlsContext::builder()
            .with_trust_store(store)
            .build()
            .map_err(|e| Transport::Other {
                cause: crate::text::clean(&e.to_string(), 200),
            })
    }

    /// Runs one SDK call of `service` at `endpoint` (the wait line names them and `operation`)
    /// and classifies its failure: the service's own refusal through `refused` (code, message,
    /// HTTP status), anything on the way as the area's transport failure.
    pub fn call<T, E, F, X>(
        &self,
        wait: Wait<'_>,
        endpoint: &Endpoint,
        call: F,
        refused: impl FnOnce(&str, &str, u16) -> X,
    ) -> Result<T, X>
    where
        F: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + std::error::Error + 'static,
        X: From<Transport>,
    {
        self.run(wait, call)?
            .map_err(|e| match self.classify(&e, endpoint) {
                Classified::Service {
                    code,
                    message,
                    status,
                } => refused(&code, &message, status),
                Classified::Transport(t) => X::from(t),
            })
    }

    /// Runs `call` to completion on the layer's runtime (started by the first call), saying
    /// once what it waits for if it takes over a second on a terminal.
    pub fn run<F: Future>(&self, wait: Wait<'_>, call: F) -> Result<F::Output, Transport> {
        if let Some(report) = self.report {
            report.debug(format!(
                "{} {}: {} {}",
                wait.service,
                wait.operation,
                wait.endpoint,
                self.network().route(wait.endpoint)
            ));
        }
        let runtime = self.runtime()?;
        let announce = self.announcement(wait);
        Ok(runtime.block_on(async {
            let mut call = std::pin::pin!(call);
            if let Some((report, line)) = announce {
                match tokio::time::timeout(ANNOUNCE_AFTER, &mut call).await {
                    Ok(output) => return output,
                    Err(_) => report.status(line),
                }
            }
            call.await
        }))
    }

    /// A plain GET with the layer's TLS, time-outs and cap, retried (5xx, the network) up to
    /// [`MAX_ATTEMPTS`] within the call's bound. For endpoints that are not AWS services: GitHub's token request,
    /// the console's federation endpoint.
    pub fn get(
        &self,
        wait: Wait<'_>,
        url: &str,
        headers: &[(&'static str, &str)],
    ) -> Result<Answer, Transport> {
        let op = self.shared.operation_timeout;
        let seconds = op.as_secs().max(1);
        let tls = self.tls_context()?;
        let network = self.network();
        let proxy = network.proxy_config(url).map_err(Transport::BadProxy)?;
        let outcome = self.run(wait, async {
            let connector = aws_smithy_http_client::Connector::builder()
                .connector_settings(
                    HttpConnectorSettings::builder()
                        .connect_timeout(connect_timeout(op))
                        .read_timeout(attempt_timeout(op))
                        .build(),
                )
                .proxy_config(proxy)
                .tls_provider(tls_provider())
                .tls_context(tls)
                .build();
            tokio::time::timeout(op, async {
                let mut pause = INITIAL_BACKOFF;
                let mut attempt = 1;
                loop {
                    let last = get_once(&connector, url, headers).await;
                    let again = match &last {
                        Ok(answer) => answer.status >= 500,
                        Err(Transport::Unreachable { .. } | Transport::Timeout { .. }) => true,
                        Err(_) => false,
                    };
                    if !again || attempt >= MAX_ATTEMPTS {
                        break last;
                    }
                    attempt += 1;
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
            })
            .await
        })?;
        let result = match outcome {
            Err(_) | Ok(Err(Transport::Timeout { .. })) => Err(Transport::Timeout { seconds }),
            Ok(result) => result,
        };
        let Route::Proxy(proxy) = network.route(url) else {
            return result;
        };
        match result {
            Ok(Answer { status: 407, .. }) => {
                Err(through(proxy, Transport::ProxyRefused { status: 407 }))
            }
            Ok(answer) => Ok(answer),
            Err(failure) => Err(through(proxy, failure)),
        }
    }

    fn runtime(&self) -> Result<&tokio::runtime::Runtime, Transport> {
        if let Some(runtime) = self.shared.runtime.get() {
            return Ok(runtime);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Transport::NoRuntime {
                cause: crate::text::clean(&e.to_string(), 200),
            })?;
        // Another thread may have won the race; its runtime is kept, this one dropped.
        Ok(self.shared.runtime.get_or_init(|| runtime))
    }

    fn announcement(&self, wait: Wait<'_>) -> Option<(Reporter, String)> {
        use std::io::IsTerminal;
        // Asked at call time, not on the cached path, which never calls out.
        if !std::io::stderr().is_terminal() {
            return None;
        }
        if !self.announce {
            return None;
        }
        self.report.map(|report| {
            (
                report,
                format!(
                    "Waiting for {} at {} ({})…",
                    wait.service, wait.endpoint, wait.operation
                ),
            )
        })
    }
}

/// A failure on the way through `proxy` names it; one that is about the endpoint itself (its
/// certificate, its answer) does not.
fn through(proxy: &network::Proxy, failure: Transport) -> Transport {
    match failure {
        Transport::Unreachable { .. }
        | Transport::Timeout { .. }
        | Transport::Other { .. }
        | Transport::ProxyRefused { .. } => Transport::ThroughProxy {
            proxy: proxy.name(),
            failure: Box::new(failure),
        },
        other => other,
    }
}

/// rustls with ring; the roots are the platform's (which `SSL_CERT_FILE`/`SSL_CERT_DIR`
/// point) plus `AWS_CA_BUNDLE`'s, from the TLS context.
fn tls_provider() -> tls::Provider {
    tls::Provider::Rustls(CryptoMode::Ring)
}

fn connect_timeout(op: Duration) -> Duration {
    op.div_f64(5.0).min(Duration::from_secs(3))
}

fn attempt_timeout(op: Duration) -> Duration {
    op.div_f64(3.0).min(Duration::from_secs(5))
}

async fn get_once(
    connector: &aws_smithy_http_client::Connector,
    url: &str,
    headers: &[(&'static str, &str)],
) -> Result<Answer, Transport> {
    let mut request = HttpRequest::new(SdkBody::empty());
    if request.set_uri(url).is_err() {
        return Err(Transport::NotAUrl);
    }
    for (name, value) in headers {
        request.headers_mut().insert(*name, value.to_string());
    }
    request
        .headers_mut()
        .insert("user-agent", concat!("stsexec/", env!("CARGO_PKG_VERSION")));
    let response =
        connector
            .call(request)
            .await
            .map_err(|e| match failure::classify_chain(&e) {
                Some(failure::Found::Transport(t)) => t,
                Some(failure::Found::TimedOut) => Transport::Timeout { seconds: 0 },
                None if e.is_timeout() => Transport::Timeout { seconds: 0 },
                None => Transport::Unreachable {
                    cause: failure::root_cause(&e),
                },
            })?;
    let status = response.status().as_u16();
    match cap::capped(response.into_body()).collect().await {
        Ok(collected) => Ok(Answer {
            status,
            body: Zeroizing::new(collected.to_bytes().to_vec()),
        }),
        Err(e) => Err(match failure::classify_chain(e.as_ref()) {
            Some(failure::Found::Transport(t)) => t,
            Some(failure::Found::TimedOut) => Transport::Timeout { seconds: 0 },
            None => Transport::Unreachable {
                cause: failure::root_cause(e.as_ref()),
            },
        }),
    }
}

/// The static credentials one call is signed with (the SDK's own type, which both SDKs take).
pub fn static_credentials(creds: &Credentials) -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.expose().to_string(),
        creds.session_token.as_ref().map(|t| t.expose().to_string()),
        creds.expiration,
        "stsexec",
    )
}
