//! The one endpoint rule (DESIGN §3, §10, §14): `AWS_ENDPOINT_URL_<SERVICE>`, else
//! `AWS_ENDPOINT_URL`, else the service's default; and the one place URLs are parsed
//! ([`http::Uri`]): what messages show, and whether a URL is plain http to another host.
#![forbid(unsafe_code)]

use crate::env::Environment;
use crate::text::redact_url;
use std::net::IpAddr;

/// A service stsexec calls, as the endpoint variables and messages name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Sts,
    Iam,
}

impl Service {
    /// The name in messages ("Waiting for IAM at …") and in `AWS_ENDPOINT_URL_<NAME>`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Sts => "STS",
            Service::Iam => "IAM",
        }
    }

    /// The service's own override variable.
    pub fn override_variable(self) -> &'static str {
        match self {
            Service::Sts => "AWS_ENDPOINT_URL_STS",
            Service::Iam => "AWS_ENDPOINT_URL_IAM",
        }
    }
}

/// Where a service is: an override from the environment, or its default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `AWS_ENDPOINT_URL_<SERVICE>`, else `AWS_ENDPOINT_URL`, when set.
    pub url_override: Option<String>,
    /// What messages show: the override without user-info, or the default.
    pub shown: String,
}

impl Endpoint {
    /// The SDK convention, read from the one environment snapshot; `default` is the URL the
    /// SDK would choose without an override.
    pub fn resolve(current: &Environment, service: Service, default: String) -> Self {
        let url_override = current
            .get(service.override_variable())
            .or_else(|| current.get("AWS_ENDPOINT_URL"))
            .map(str::to_string);
        let shown = url_override.as_deref().map_or(default, redact_url);
        Endpoint {
            url_override,
            shown,
        }
    }

    /// A plain-http override on another host: what is signed or returned would cross the
    /// network in cleartext.
    pub fn is_cleartext_remote(&self) -> bool {
        self.url_override
            .as_deref()
            .is_some_and(is_cleartext_remote)
    }
}

/// Whether `url` is plain http (any case: `HTTP://`) to a host other than this machine.
/// A URL that does not parse is not sent anywhere, so it is not cleartext either.
pub fn is_cleartext_remote(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else {
        return false;
    };
    uri.scheme() == Some(&http::uri::Scheme::HTTP) && !uri.host().is_some_and(is_loopback)
}

/// `localhost`, or an IP literal in 127.0.0.0/8 or `::1` — never a name that merely starts
/// like one (`127.evil.example`).
pub fn is_loopback(host: &str) -> bool {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if bare.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match bare.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6.is_loopback(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_variable_wins_over_the_general_one() {
        let both = Environment::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:1"),
            ("AWS_ENDPOINT_URL_IAM", "http://u:p@127.0.0.1:2"),
        ]);
        let iam = Endpoint::resolve(&both, Service::Iam, "https://iam.amazonaws.com".into());
        assert_eq!(iam.url_override.as_deref(), Some("http://u:p@127.0.0.1:2"));
        assert_eq!(iam.shown, "http://127.0.0.1:2");
        let sts = Endpoint::resolve(&both, Service::Sts, "https://sts".into());
        assert_eq!(sts.url_override.as_deref(), Some("http://127.0.0.1:1"));
        let none = Endpoint::resolve(&Environment::default(), Service::Sts, "https://d".into());
        assert_eq!(
            (none.url_override, none.shown.as_str()),
            (None, "https://d")
        );
    }

    #[test]
    fn cleartext_is_judged_by_a_real_parser() {
        for remote in [
            "http://sts.example.com",
            "http://u:p@10.0.0.1:80/",
            "HTTP://sts.example.com/",
            "Http://sts.example.com/",
            "http://127.evil.example/",
            "http://127.0.0.1.evil.example:5000/",
            "http://localhost.evil.example/",
            "http://[::2]:80/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0:80/",
            "http://127.0.0.1@evil.example/",
        ] {
            assert!(is_cleartext_remote(remote), "{remote}");
        }
        for local in [
            "http://127.0.0.1:5000",
            "http://127.8.9.10/x",
            "http://localhost:5000",
            "HTTP://LOCALHOST:5000/",
            "http://[::1]:5000/",
            "http://evil.example@127.0.0.1:5000/",
            "https://sts.example.com",
            "HTTPS://sts.example.com",
            "not a url",
        ] {
            assert!(!is_cleartext_remote(local), "{local}");
        }
    }
}
