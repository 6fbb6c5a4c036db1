//! The one failure classification for outbound calls. A failed call is classified by walking
//! its `source()` chain and downcasting (the response cap's [`TooLarge`], rustls' certificate
//! errors, io and hyper errors) — never by matching message text, which changes between
//! versions and can be written by whoever answers.
#![forbid(unsafe_code)]

use super::cap::TooLarge;
use super::network::{BadBundle, BadProxy};
use crate::text::clean;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use std::error::Error;
use std::sync::Arc;
use std::time::Duration;

/// How a call failed on the way, whatever the service: what STS, IAM and plain requests
/// share. Service-specific refusals (an error code in the answer) are the services' own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// No answer within the call's bound, retries included.
    Timeout { seconds: u64 },
    /// No connection or no answer: refused, reset, DNS. `cause`: the innermost error's own
    /// words, cleaned.
    Unreachable { cause: String },
    /// The server's TLS certificate is not trusted. `cause`: rustls' words.
    UntrustedCertificate { cause: String },
    /// The answer was cut off at the response cap.
    TooLarge,
    /// An answer the client cannot read (the parser's own message may quote the body, which
    /// can hold credentials, so it is not kept).
    Unreadable,
    /// The runtime that runs calls could not start (`cause`: the io error's words).
    NoRuntime { cause: String },
    /// A request URL that does not parse (nothing was sent).
    NotAUrl,
    /// `AWS_CA_BUNDLE` cannot be used (nothing was sent).
    CaBundle(Arc<BadBundle>),
    /// A proxy variable that is no usable proxy URL (nothing was sent).
    BadProxy(BadProxy),
    /// A forward proxy answered a plain-http request with this status (407: it wants, or
    /// refused, the user name and password).
    ProxyRefused { status: u16 },
    /// The call went through a proxy and failed on the way.
    ThroughProxy {
        proxy: ProxyName,
        failure: Box<Transport>,
    },
    /// Anything else, in the innermost error's words.
    Other { cause: String },
}

/// A proxy as messages name it: its URL without user-info, and its variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyName {
    pub shown: String,
    pub variable: &'static str,
}

impl std::fmt::Display for ProxyName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "proxy {} ({})", self.shown, self.variable)
    }
}

impl PartialEq for BadBundle {
    fn eq(&self, other: &Self) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other) && self.path() == other.path()
    }
}

impl Eq for BadBundle {}

impl Transport {
    /// The proxy a failed call went through, and the failure itself.
    pub fn unwrap_proxy(&self) -> (Option<&ProxyName>, &Transport) {
        match self {
            Transport::ThroughProxy { proxy, failure } => (Some(proxy), failure),
            other => (None, other),
        }
    }

    /// What went wrong on the way through a proxy: a connection failure in its own words
    /// (`tunnel error: proxy authorization required`, `Connection refused`), else [`Self::cause`].
    pub fn reason(&self) -> String {
        match self {
            Transport::Unreachable { cause } => cause.clone(),
            other => other.cause(),
        }
    }

    /// What went wrong, as the middle of a sentence names it ("… at URL: {cause}; …").
    pub fn cause(&self) -> String {
        match self {
            Transport::Timeout { seconds } => format!("no answer within {seconds} s"),
            Transport::Unreachable { cause } => format!("unreachable: {cause}"),
            Transport::UntrustedCertificate { cause } => {
                format!("a TLS certificate stsexec does not trust: {cause}")
            }
            Transport::TooLarge => TooLarge.to_string(),
            Transport::Unreadable => "an answer stsexec cannot read".to_string(),
            Transport::NoRuntime { cause } => {
                format!("the HTTP client could not start: {cause}")
            }
            Transport::NotAUrl => "not a URL".to_string(),
            Transport::CaBundle(bad) => bad.to_string(),
            Transport::BadProxy(bad) => bad.to_string(),
            Transport::ProxyRefused { status: 407 } => {
                "the proxy wants a user name and password (HTTP 407)".to_string()
            }
            Transport::ProxyRefused { status } => format!("the proxy refused (HTTP {status})"),
            Transport::ThroughProxy { proxy, failure } => format!(
                "through {proxy}: {}; check that the proxy runs and accepts the user name and password in {}, or bypass it with NO_PROXY",
                failure.reason(),
                proxy.variable
            ),
            Transport::Other { cause } => cause.clone(),
        }
    }
}

/// What an SDK call's error comes to: the service's refusal, or a [`Transport`] failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Classified {
    /// The service answered with an error. `code` and `message` come from the SDK, or from
    /// the body when it is of a shape the SDK does not read (moto's `<Errors>`, a proxy's).
    Service {
        code: String,
        message: String,
        status: u16,
    },
    Transport(Transport),
}

/// Classifies an SDK call's error; `timeout` is the call's bound, for the sentence.
pub fn classify_sdk<E>(err: &SdkError<E, HttpResponse>, timeout: Duration) -> Classified
where
    E: ProvideErrorMetadata + Error + 'static,
{
    let seconds = timeout.as_secs().max(1);
    if let Some(found) = classify_chain(err) {
        return Classified::Transport(match found {
            Found::TimedOut => Transport::Timeout { seconds },
            Found::Transport(t) => t,
        });
    }
    let transport = match err {
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
                    .map(error_from_body)
                    .unwrap_or_default(),
            };
            return Classified::Service {
                code,
                message,
                status,
            };
        }
        SdkError::TimeoutError(_) => Transport::Timeout { seconds },
        SdkError::DispatchFailure(dispatch) if dispatch.is_timeout() => {
            Transport::Timeout { seconds }
        }
        SdkError::DispatchFailure(_) => Transport::Unreachable {
            cause: root_cause(err),
        },
        SdkError::ResponseError(_) => Transport::Unreadable,
        _ => Transport::Other {
            cause: root_cause(err),
        },
    };
    Classified::Transport(transport)
}

/// What the chain walk found.
pub(crate) enum Found {
    /// A time-out below the SDK (an io or hyper time-out); the caller knows the bound.
    TimedOut,
    Transport(Transport),
}

/// Walks `err`'s causes, looking inside io errors too (whose `source()` skips the error they
/// wrap), for a cause that decides the failure's kind.
pub(crate) fn classify_chain(err: &(dyn Error + 'static)) -> Option<Found> {
    let mut current: Option<&(dyn Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(found) = decide(e) {
            return Some(found);
        }
        current = match e.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => e.source(),
        };
    }
    None
}

fn decide(e: &(dyn Error + 'static)) -> Option<Found> {
    if e.is::<TooLarge>() || e.is::<http_body_util::LengthLimitError>() {
        return Some(Found::Transport(Transport::TooLarge));
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(Found::Transport(match tls {
            rustls::Error::InvalidCertificate(_)
            | rustls::Error::NoCertificatesPresented
            | rustls::Error::UnsupportedNameType => Transport::UntrustedCertificate {
                cause: clean(&tls.to_string(), 200),
            },
            other => Transport::Unreachable {
                cause: clean(&other.to_string(), 200),
            },
        }));
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>()
        && io.kind() == std::io::ErrorKind::TimedOut
    {
        return Some(Found::TimedOut);
    }
    if let Some(hyper) = e.downcast_ref::<hyper::Error>()
        && hyper.is_timeout()
    {
        return Some(Found::TimedOut);
    }
    None
}

/// The innermost error's words ("Connection refused (os error 111)" rather than "dispatch
/// failure"), looking inside io errors too; cleaned, as foreign text.
pub fn root_cause(err: &(dyn Error + 'static)) -> String {
    let mut current = err;
    loop {
        let next = match current.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
            None => current.source(),
        };
        match next {
            Some(next) => current = next,
            None => return clean(&current.to_string(), 200),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(Box<dyn Error + Send + Sync>);
    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("dispatch failure: the certificate and the cap are only words here")
        }
    }
    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(self.0.as_ref())
        }
    }

    fn kind(err: &(dyn Error + 'static)) -> Option<Transport> {
        match classify_chain(err)? {
            Found::TimedOut => Some(Transport::Timeout { seconds: 0 }),
            Found::Transport(t) => Some(t),
        }
    }

    #[test]
    fn causes_are_found_by_type_inside_io_errors() {
        let tls = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(matches!(
            kind(&Wrapper(Box::new(tls))),
            Some(Transport::UntrustedCertificate { .. })
        ));
        let cap = std::io::Error::other(TooLarge);
        assert_eq!(kind(&Wrapper(Box::new(cap))), Some(Transport::TooLarge));
        let timed_out = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(
            kind(&Wrapper(Box::new(timed_out))),
            Some(Transport::Timeout { seconds: 0 })
        );
    }

    #[test]
    fn message_text_decides_nothing() {
        // Words alone — "certificate", "length limit exceeded", the cap's sentence — are no
        // evidence: a server can write them.
        for words in [
            "invalid peer certificate: UnknownIssuer",
            "length limit exceeded",
            "the answer is larger than 64 KiB",
        ] {
            let plain = std::io::Error::other(words.to_string());
            assert_eq!(kind(&Wrapper(Box::new(plain))), None, "{words}");
        }
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            root_cause(&Wrapper(Box::new(refused))),
            "connection refused"
        );
    }

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
}
