//! DESIGN §14: proxies and private CAs, as the environment snapshot names them.
//!
//! Proxies are read as curl and the AWS CLI (Python's urllib) read them: `https_proxy`, then
//! `HTTPS_PROXY`, for https endpoints; `http_proxy`, then `HTTP_PROXY` (ignored when
//! `REQUEST_METHOD` says this is a CGI script: "httpoxy"), for plain-http ones; `all_proxy`,
//! then `ALL_PROXY`, for both when the specific one is unset; `no_proxy`, then `NO_PROXY`, for
//! the hosts that bypass them. An empty variable counts as unset; a proxy URL without a scheme
//! means http. The route to an endpoint is decided here once — `NO_PROXY` evaluated by
//! hyper-util's `Matcher`, the rules aws-smithy-http-client's `ProxyConfig` applies — and the
//! connector is given that proxy or none ([`Network::proxy_config`]), so `-v` names the route
//! the connector takes. Written here, because the matcher lacks them: `*` in `NO_PROXY`
//! bypasses IP addresses too (curl's meaning; the matcher applies it to names only), and
//! `*.example.com` means `.example.com` (the matcher would compare the `*` literally);
//! `ProxyConfig::from_env` reads the process environment, not stsexec's one snapshot.
//!
//! Nothing here reads a file: the CA bundle is read by [`ca_certificates`] when the first
//! client is built, never on the cached path.
#![forbid(unsafe_code)]

use crate::env::Environment;
use crate::files::{self, FileError, Kind};
use crate::secret::Secret;
use crate::text::redact_url;
use hyper_util::client::proxy::matcher::Matcher;
use std::fmt;
use std::path::{Path, PathBuf};

/// A proxy from the environment: the URL as given (it may hold a password, so it is a
/// [`Secret`]), and what messages show.
#[derive(Debug, Clone)]
pub struct Proxy {
    url: Secret,
    /// The URL without user-info.
    pub shown: String,
    /// The variable it came from (`HTTPS_PROXY`, `https_proxy`, `ALL_PROXY`…).
    pub variable: &'static str,
}

impl Proxy {
    /// The proxy as messages name it.
    pub fn name(&self) -> super::failure::ProxyName {
        super::failure::ProxyName {
            shown: self.shown.clone(),
            variable: self.variable,
        }
    }

    fn from_value(variable: &'static str, value: &str) -> Proxy {
        let url = if value.contains("://") {
            value.to_string()
        } else {
            format!("http://{value}")
        };
        Proxy {
            shown: redact_url(&url),
            url: Secret::new(&url),
            variable,
        }
    }

    /// The URL with its user-info, for the connector only.
    pub(crate) fn url(&self) -> &Secret {
        &self.url
    }
}

impl fmt::Display for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "proxy {} ({})", self.shown, self.variable)
    }
}

/// How a call reaches a URL.
#[derive(Debug, Clone, Copy)]
pub enum Route<'a> {
    Direct,
    /// Bypassed by `NO_PROXY`/`no_proxy` (the variable named).
    Bypassed(&'static str),
    Proxy(&'a Proxy),
}

impl fmt::Display for Route<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::Direct => f.write_str("directly"),
            Route::Bypassed(variable) => write!(f, "directly ({variable} bypasses the proxy)"),
            Route::Proxy(proxy) => write!(f, "through {proxy}"),
        }
    }
}

/// The network settings of a run: proxies and the extra CA bundle.
#[derive(Debug, Clone, Default)]
pub struct Network {
    http: Option<Proxy>,
    https: Option<Proxy>,
    /// The bypass rules as the matcher takes them, and the variable they came from.
    no_proxy: Option<(String, &'static str)>,
    /// `NO_PROXY=*`: no proxy at all.
    bypass_all: bool,
    /// `AWS_CA_BUNDLE`: PEM certificates trusted beside the system's.
    pub ca_bundle: Option<PathBuf>,
}

impl Network {
    /// Reads the snapshot (strings only; nothing is opened).
    pub fn from_env(current: &Environment) -> Network {
        let first = |names: &[&'static str]| {
            names.iter().find_map(|&name| {
                current
                    .get(name)
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| (name, v.trim()))
            })
        };
        let cgi = current.get_os("REQUEST_METHOD").is_some();
        let all = first(&["all_proxy", "ALL_PROXY"]);
        let http_names: &[&'static str] = if cgi {
            &["http_proxy"]
        } else {
            &["http_proxy", "HTTP_PROXY"]
        };
        let proxy = |found: Option<(&'static str, &str)>| {
            found
                .or(all)
                .map(|(name, value)| Proxy::from_value(name, value))
        };
        let no_proxy = first(&["no_proxy", "NO_PROXY"]);
        let bypass_all =
            no_proxy.is_some_and(|(_, rules)| rules.split(',').any(|r| r.trim() == "*"));
        Network {
            http: proxy(first(http_names)),
            https: proxy(first(&["https_proxy", "HTTPS_PROXY"])),
            no_proxy: no_proxy.map(|(name, rules)| (normalize_no_proxy(rules), name)),
            bypass_all,
            ca_bundle: current
                .get_os("AWS_CA_BUNDLE")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        }
    }

    /// How a call to `url` goes: through which proxy, or directly.
    pub fn route(&self, url: &str) -> Route<'_> {
        let Ok(uri) = url.parse::<http::Uri>() else {
            return Route::Direct;
        };
        let proxy = match uri.scheme_str() {
            Some("https") => self.https.as_ref(),
            Some("http") => self.http.as_ref(),
            _ => None,
        };
        let Some(proxy) = proxy else {
            return Route::Direct;
        };
        let bypass = self.no_proxy.as_ref().map(|(_, name)| *name);
        if self.bypass_all {
            return Route::Bypassed(bypass.unwrap_or("NO_PROXY"));
        }
        // hyper-util's matcher evaluates the bypass rules; the proxy it is given is only a
        // marker of "not bypassed" (the real one is chosen above by the URL's scheme).
        let matcher = Matcher::builder()
            .all("http://proxy.invalid".to_string())
            .no(self
                .no_proxy
                .as_ref()
                .map(|(r, _)| r.clone())
                .unwrap_or_default())
            .build();
        match matcher.intercept(&uri) {
            Some(_) => Route::Proxy(proxy),
            None => Route::Bypassed(bypass.unwrap_or("NO_PROXY")),
        }
    }

    /// aws-smithy-http-client's proxy setting for a client that calls `url`.
    pub(crate) fn proxy_config(
        &self,
        url: &str,
    ) -> Result<aws_smithy_http_client::proxy::ProxyConfig, BadProxy> {
        use aws_smithy_http_client::proxy::ProxyConfig;
        let Route::Proxy(proxy) = self.route(url) else {
            return Ok(ProxyConfig::disabled());
        };
        let https = url
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.scheme_str().map(str::to_string));
        let config = if https.as_deref() == Some("https") {
            ProxyConfig::https(proxy.url().expose())
        } else {
            ProxyConfig::http(proxy.url().expose())
        };
        // The error's text may quote the URL, password included: only its kind is kept.
        config.map_err(|_| BadProxy {
            shown: proxy.shown.clone(),
            variable: proxy.variable,
        })
    }
}

/// `--status -v` (DESIGN §14): the STS endpoint, the route to it and the CA certificates a
/// call from this environment would use — for the environment's region, in that region's
/// partition. Reads nothing but the snapshot.
pub fn status(current: &Environment) -> String {
    let region = crate::env::resolve_region(None, None, current);
    let endpoint = crate::sts::endpoint(current, &region.name, None);
    let source = if current.get("AWS_ENDPOINT_URL_STS").is_some() {
        " (AWS_ENDPOINT_URL_STS)"
    } else if current.get("AWS_ENDPOINT_URL").is_some() {
        " (AWS_ENDPOINT_URL)"
    } else {
        ""
    };
    let network = Network::from_env(current);
    let route = match network.route(endpoint.url()) {
        Route::Direct => "directly (no proxy set for it)".to_string(),
        other => other.to_string(),
    };
    let roots = match &network.ca_bundle {
        Some(path) => format!(
            "the system's and those in {} (AWS_CA_BUNDLE)",
            path.display()
        ),
        None => "the system's".to_string(),
    };
    format!(
        "STS endpoint is {}{source}, reached {route}\nCA certificates trusted: {roots}\n",
        endpoint.shown
    )
}

/// `*.example.com` → `.example.com` (what curl users write and the matcher would not match).
fn normalize_no_proxy(rules: &str) -> String {
    rules
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| {
            r.strip_prefix('*')
                .filter(|rest| rest.starts_with('.'))
                .unwrap_or(r)
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A proxy variable that is not a proxy URL aws-smithy-http-client can use (a `socks5://`
/// one, or one without a host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadProxy {
    pub shown: String,
    pub variable: &'static str,
}

impl fmt::Display for BadProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={} is not an http:// or https:// proxy URL stsexec can use; write it like http://proxy.example.com:3128",
            self.variable, self.shown
        )
    }
}

impl std::error::Error for BadProxy {}

/// Why `AWS_CA_BUNDLE` cannot be used.
#[derive(Debug)]
pub enum BadBundle {
    Unreadable {
        path: PathBuf,
        error: FileError,
    },
    Missing {
        path: PathBuf,
    },
    /// Not PEM, or PEM with no certificate rustls accepts as a trust anchor.
    NoCertificates {
        path: PathBuf,
    },
}

impl BadBundle {
    pub fn path(&self) -> &Path {
        match self {
            BadBundle::Unreadable { path, .. }
            | BadBundle::Missing { path }
            | BadBundle::NoCertificates { path } => path,
        }
    }
}

impl fmt::Display for BadBundle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadBundle::Unreadable { path, error } => write!(
                f,
                "AWS_CA_BUNDLE names {}, which cannot be used: {error}",
                path.display()
            ),
            BadBundle::Missing { path } => write!(
                f,
                "AWS_CA_BUNDLE names {}, which does not exist; point it at a PEM file of CA certificates, or unset it",
                path.display()
            ),
            BadBundle::NoCertificates { path } => write!(
                f,
                "AWS_CA_BUNDLE names {}, which holds no usable PEM certificate (-----BEGIN CERTIFICATE-----); point it at your CA's certificates in PEM",
                path.display()
            ),
        }
    }
}

impl std::error::Error for BadBundle {}

/// The bundle's bytes, once every certificate in it is known to parse as a trust anchor
/// (aws-smithy-http-client panics on one that does not, so nothing unchecked reaches it).
pub(crate) fn ca_certificates(path: &Path) -> Result<Vec<u8>, BadBundle> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bytes = files::read(path, Kind::CaBundle)
        .map_err(|error| BadBundle::Unreadable {
            path: path.to_path_buf(),
            error,
        })?
        .ok_or_else(|| BadBundle::Missing {
            path: path.to_path_buf(),
        })?;
    let none = || BadBundle::NoCertificates {
        path: path.to_path_buf(),
    };
    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| none())?;
    if certificates.is_empty() {
        return Err(none());
    }
    let mut roots = rustls::RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|_| none())?;
    }
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn network(pairs: &[(&str, &str)]) -> Network {
        Network::from_env(&Environment::from_pairs(pairs.iter().copied()))
    }

    fn route(n: &Network, url: &str) -> String {
        n.route(url).to_string()
    }

    #[test]
    fn proxies_are_read_as_curl_reads_them() {
        let n = network(&[
            ("HTTPS_PROXY", "http://upper:3128"),
            ("https_proxy", "http://u:SECRETMARKER@lower:3128"),
            ("HTTP_PROXY", "plain:8080"),
        ]);
        assert_eq!(
            route(&n, "https://sts.us-east-1.amazonaws.com"),
            "through proxy http://lower:3128 (https_proxy)"
        );
        assert_eq!(
            route(&n, "http://127.0.0.1:5000/"),
            "through proxy http://plain:8080 (HTTP_PROXY)"
        );
        assert!(!format!("{n:?}").contains("SECRETMARKER"));
        let all = network(&[("ALL_PROXY", "http://all:1"), ("http_proxy", "")]);
        assert_eq!(
            route(&all, "http://h/"),
            "through proxy http://all:1 (ALL_PROXY)"
        );
        assert_eq!(
            route(&all, "https://h/"),
            "through proxy http://all:1 (ALL_PROXY)"
        );
        let cgi = network(&[("HTTP_PROXY", "http://evil:1"), ("REQUEST_METHOD", "GET")]);
        assert_eq!(route(&cgi, "http://h/"), "directly");
        assert_eq!(route(&network(&[]), "https://h/"), "directly");
    }

    #[test]
    fn no_proxy_takes_suffixes_stars_addresses_and_ranges() {
        let n = |rules: &str| network(&[("HTTPS_PROXY", "http://p:1"), ("NO_PROXY", rules)]);
        let bypassed =
            |rules: &str, url: &str| n(rules).route(url).to_string().starts_with("directly");
        assert!(bypassed("example.com", "https://sts.example.com/"));
        assert!(bypassed(".example.com", "https://sts.example.com/"));
        assert!(bypassed("*.example.com", "https://sts.example.com/"));
        assert!(!bypassed("example.com", "https://notexample.com/"));
        assert!(bypassed("localhost, 10.0.0.0/8", "https://10.1.2.3:443/"));
        assert!(bypassed("127.0.0.0/8", "https://127.0.0.1:5000/"));
        assert!(bypassed("::1", "https://[::1]:5000/"));
        assert!(bypassed("*", "https://127.0.0.1:5000/"));
        assert!(bypassed("*", "https://sts.amazonaws.com/"));
        assert!(!bypassed("10.0.0.0/8", "https://127.0.0.1:5000/"));
        assert_eq!(
            route(
                &network(&[("https_proxy", "http://p:1"), ("no_proxy", "h")]),
                "https://h/"
            ),
            "directly (no_proxy bypasses the proxy)"
        );
    }

    #[test]
    fn status_names_endpoint_route_and_bundle_without_the_password() {
        let text = status(&Environment::from_pairs([
            ("AWS_REGION", "eu-west-1"),
            ("HTTPS_PROXY", "http://u:SECRETMARKER@proxy:3128"),
            ("AWS_CA_BUNDLE", "/etc/corp.pem"),
        ]));
        assert_eq!(
            text,
            "STS endpoint is https://sts.eu-west-1.amazonaws.com, reached through proxy http://proxy:3128 (HTTPS_PROXY)\nCA certificates trusted: the system's and those in /etc/corp.pem (AWS_CA_BUNDLE)\n"
        );
        let plain = status(&Environment::from_pairs([(
            "AWS_ENDPOINT_URL",
            "http://127.0.0.1:5000",
        )]));
        assert_eq!(
            plain,
            "STS endpoint is http://127.0.0.1:5000 (AWS_ENDPOINT_URL), reached directly (no proxy set for it)\nCA certificates trusted: the system's\n"
        );
    }

    #[test]
    fn the_connector_gets_the_proxy_the_route_names() {
        let n = network(&[("HTTPS_PROXY", "socks5://p:1080")]);
        let bad = n.proxy_config("https://sts.amazonaws.com").unwrap_err();
        assert_eq!(bad.variable, "HTTPS_PROXY");
        assert!(
            bad.to_string()
                .starts_with("HTTPS_PROXY=socks5://p:1080 is not"),
            "{bad}"
        );
        let ok = network(&[("HTTPS_PROXY", "http://u:p@p:1"), ("NO_PROXY", "h")]);
        assert!(!ok.proxy_config("https://x/").unwrap().is_disabled());
        assert!(ok.proxy_config("https://h/").unwrap().is_disabled());
    }

    #[test]
    fn a_bundle_must_hold_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.pem");
        assert!(matches!(
            ca_certificates(&missing),
            Err(BadBundle::Missing { .. })
        ));
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate\n").unwrap();
        let sentence = ca_certificates(&junk).unwrap_err().to_string();
        assert!(
            sentence.contains("holds no usable PEM certificate"),
            "{sentence}"
        );
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(
            ca_certificates(&broken),
            Err(BadBundle::NoCertificates { .. })
        ));
    }
}
