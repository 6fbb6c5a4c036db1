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
    /// IAM Identity Center's OIDC service (sso-oidc): the login and its refresh.
    SsoOidc,
    /// IAM Identity Center's portal: GetRoleCredentials.
    Sso,
}

impl Service {
    /// The name in messages ("Waiting for IAM at …") and in `AWS_ENDPOINT_URL_<NAME>`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Sts => "STS",
            Service::Iam => "IAM",
            Service::SsoOidc => "IAM Identity Center (OIDC)",
            Service::Sso => "IAM Identity Center",
        }
    }

    /// The service's own override variable.
    pub fn override_variable(self) -> &'static str {
        match self {
            Service::Sts => "AWS_ENDPOINT_URL_STS",
            Service::Iam => "AWS_ENDPOINT_URL_IAM",
            Service::SsoOidc => "AWS_ENDPOINT_URL_SSO_OIDC",
            Service::Sso => "AWS_ENDPOINT_URL_SSO",
        }
    }
}

/// `AWS_USE_FIPS_ENDPOINT` and `AWS_USE_DUALSTACK_ENDPOINT` (`true`, any case), as the SDKs
/// read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Variant {
    pub fips: bool,
    pub dual_stack: bool,
}

impl Variant {
    pub fn from_env(current: &Environment) -> Self {
        let on = |name| {
            current
                .get(name)
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        };
        Variant {
            fips: on("AWS_USE_FIPS_ENDPOINT"),
            dual_stack: on("AWS_USE_DUALSTACK_ENDPOINT"),
        }
    }
}

/// An AWS partition: its name and DNS domains (the SDKs' partitions.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    pub name: &'static str,
    domain: &'static str,
    dual_stack_domain: &'static str,
    /// IAM's global endpoint host: plain, FIPS, dual-stack, FIPS and dual-stack.
    iam: [&'static str; 4],
    /// The region IAM requests are signed for.
    iam_region: &'static str,
}

const PARTITIONS: [Partition; 8] = [
    Partition {
        name: "aws",
        domain: "amazonaws.com",
        dual_stack_domain: "api.aws",
        iam: [
            "iam.amazonaws.com",
            "iam-fips.amazonaws.com",
            "iam.global.api.aws",
            "iam-fips.global.api.aws",
        ],
        iam_region: "us-east-1",
    },
    Partition {
        name: "aws-cn",
        domain: "amazonaws.com.cn",
        dual_stack_domain: "api.amazonwebservices.com.cn",
        iam: [
            "iam.cn-north-1.amazonaws.com.cn",
            "iam-fips.amazonaws.com.cn",
            "iam.global.api.amazonwebservices.com.cn",
            "iam-fips.api.amazonwebservices.com.cn",
        ],
        iam_region: "cn-north-1",
    },
    Partition {
        name: "aws-us-gov",
        domain: "amazonaws.com",
        dual_stack_domain: "api.aws",
        iam: [
            "iam.us-gov.amazonaws.com",
            "iam.us-gov.amazonaws.com",
            "iam.us-gov.api.aws",
            "iam.us-gov.api.aws",
        ],
        iam_region: "us-gov-west-1",
    },
    Partition {
        name: "aws-iso",
        domain: "c2s.ic.gov",
        dual_stack_domain: "api.aws.ic.gov",
        iam: [
            "iam.us-iso-east-1.c2s.ic.gov",
            "iam-fips.us-iso-east-1.c2s.ic.gov",
            "iam.api.aws.ic.gov",
            "iam-fips.api.aws.ic.gov",
        ],
        iam_region: "us-iso-east-1",
    },
    Partition {
        name: "aws-iso-b",
        domain: "sc2s.sgov.gov",
        dual_stack_domain: "api.aws.scloud",
        iam: [
            "iam.us-isob-east-1.sc2s.sgov.gov",
            "iam-fips.us-isob-east-1.sc2s.sgov.gov",
            "iam.api.aws.scloud",
            "iam-fips.api.aws.scloud",
        ],
        iam_region: "us-isob-east-1",
    },
    Partition {
        name: "aws-iso-e",
        domain: "cloud.adc-e.uk",
        dual_stack_domain: "api.cloud-aws.adc-e.uk",
        iam: [
            "iam.eu-isoe-west-1.cloud.adc-e.uk",
            "iam-fips.cloud.adc-e.uk",
            "iam.api.cloud-aws.adc-e.uk",
            "iam-fips.api.cloud-aws.adc-e.uk",
        ],
        iam_region: "eu-isoe-west-1",
    },
    Partition {
        name: "aws-iso-f",
        domain: "csp.hci.ic.gov",
        dual_stack_domain: "api.aws.hci.ic.gov",
        iam: [
            "iam.us-isof-south-1.csp.hci.ic.gov",
            "iam-fips.csp.hci.ic.gov",
            "iam.api.aws.hci.ic.gov",
            "iam-fips.api.aws.hci.ic.gov",
        ],
        iam_region: "us-isof-south-1",
    },
    Partition {
        name: "aws-eusc",
        domain: "amazonaws.eu",
        dual_stack_domain: "api.amazonwebservices.eu",
        iam: [
            "iam.eusc-de-east-1.amazonaws.eu",
            "iam-fips.amazonaws.eu",
            "iam.global.api.amazonwebservices.eu",
            "iam-fips.api.amazonwebservices.eu",
        ],
        iam_region: "eusc-de-east-1",
    },
];

impl Partition {
    /// The account's partition (its ARN prefix's, when known), else the region's as the SDKs
    /// infer it.
    pub fn of(arn_partition: Option<&str>, region: &str) -> Partition {
        let by_name = |name: &str| PARTITIONS.iter().find(|p| p.name == name).copied();
        if let Some(partition) = arn_partition.and_then(by_name) {
            return partition;
        }
        let name = [
            ("cn-", "aws-cn"),
            ("us-gov-", "aws-us-gov"),
            ("us-isob-", "aws-iso-b"),
            ("us-isof-", "aws-iso-f"),
            ("us-iso-", "aws-iso"),
            ("eu-isoe-", "aws-iso-e"),
            ("eusc-", "aws-eusc"),
        ]
        .iter()
        .find(|(prefix, _)| region.starts_with(prefix))
        .map_or("aws", |(_, name)| name);
        by_name(name).unwrap_or(PARTITIONS[0])
    }

    /// The regional STS endpoint, as the SDK resolves it.
    pub fn sts_url(&self, region: &str, variant: Variant) -> String {
        // GovCloud's regional STS endpoints are FIPS endpoints already.
        let fips = variant.fips && (variant.dual_stack || self.name != "aws-us-gov");
        let host = if fips { "sts-fips" } else { "sts" };
        let domain = if variant.dual_stack {
            self.dual_stack_domain
        } else {
            self.domain
        };
        format!("https://{host}.{region}.{domain}")
    }

    /// IAM's global endpoint in this partition, and the region its requests are signed for.
    pub fn iam_url(&self, variant: Variant) -> (String, &'static str) {
        let host = self.iam[usize::from(variant.fips) + 2 * usize::from(variant.dual_stack)];
        (format!("https://{host}"), self.iam_region)
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

    /// The URL calls go to: the override as given, else the default.
    pub fn url(&self) -> &str {
        self.url_override.as_deref().unwrap_or(&self.shown)
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

    /// The table against aws-sdk-sts's and aws-sdk-iam's own endpoint rules.
    #[test]
    fn default_endpoints_are_the_sdks() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let regions = [
            "us-east-1",
            "eu-west-1",
            "ap-southeast-7",
            "cn-north-1",
            "cn-northwest-1",
            "us-gov-west-1",
            "us-gov-east-1",
            "us-iso-east-1",
            "us-isob-east-1",
            "eu-isoe-west-1",
            "us-isof-south-1",
            "eusc-de-east-1",
        ];
        for region in regions {
            for (fips, dual_stack) in [(false, false), (true, false), (false, true), (true, true)] {
                let variant = Variant { fips, dual_stack };
                let partition = Partition::of(None, region);
                let sts = {
                    use aws_sdk_sts::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
                    let params = Params::builder()
                        .region(region)
                        .use_fips(fips)
                        .use_dual_stack(dual_stack)
                        .use_global_endpoint(false)
                        .build()
                        .unwrap();
                    rt.block_on(DefaultResolver::new().resolve_endpoint(&params))
                        .unwrap()
                        .url()
                        .to_string()
                };
                assert_eq!(
                    partition.sts_url(region, variant),
                    sts,
                    "STS {region} {variant:?}"
                );
                let iam = {
                    use aws_sdk_iam::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
                    let params = Params::builder()
                        .region(region)
                        .use_fips(fips)
                        .use_dual_stack(dual_stack)
                        .build()
                        .unwrap();
                    rt.block_on(DefaultResolver::new().resolve_endpoint(&params))
                        .unwrap()
                        .url()
                        .to_string()
                };
                // IAM is global: one endpoint per partition (the iso ones' regions are their
                // only IAM regions).
                if !region.starts_with("cn-northwest") {
                    assert_eq!(
                        partition.iam_url(variant).0,
                        iam,
                        "IAM {region} {variant:?}"
                    );
                }
            }
        }
        // The ARN's partition wins over the region's.
        assert_eq!(
            Partition::of(Some("aws-cn"), "us-east-1").sts_url("cn-north-1", Variant::default()),
            "https://sts.cn-north-1.amazonaws.com.cn"
        );
        assert_eq!(Partition::of(Some("aws-us-gov"), "x").name, "aws-us-gov");
        assert_eq!(Partition::of(Some("nonsense"), "eu-west-1").name, "aws");
    }

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
