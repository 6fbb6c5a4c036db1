//! IAM Identity Center (DESIGN §17) against the fake sso-oidc and portal server, through the
//! real SDK clients: the device flow, the authorization-code flow with PKCE (a real headless
//! Chromium on the loopback redirect), refresh with no browser, the registration cache,
//! parallel logins under the lock, and boto3 reading the token cache stsexec wrote.

use crate::support::server::{body_of, raw_http, status_of};
use crate::support::sso::{ACCOUNT_ID, FakeSso, Hostile, ROLE, START_URL, chromium_browser};
use crate::support::{MARKER, venv};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use stsexec::testing::{BrowserError, LoginOptions, LoginUi, Method, Sso, TerminalUi};
use stsexec::testing::{LazySso, SsoEndpoints, SsoError, SsoSession, TokenCache};

const SESSION: &str = "my-sso";

fn session() -> SsoSession {
    SsoSession {
        start_url: START_URL.into(),
        region: "eu-west-1".into(),
        name: Some(SESSION.into()),
    }
}

fn endpoints(fake: &FakeSso) -> SsoEndpoints {
    // What SsoEndpoints::from_env makes of AWS_ENDPOINT_URL_SSO_OIDC and AWS_ENDPOINT_URL_SSO.
    SsoEndpoints::new(Some(fake.url.clone()), Some(fake.url.clone()), "eu-west-1")
}

/// GETs `url` as a browser would, following redirects: the page at the end.
fn follow(url: &str) -> (u16, String) {
    let mut url = url.to_string();
    for _ in 0..5 {
        let rest = url.strip_prefix("http://").expect("a plain-http URL");
        let slash = rest.find('/').unwrap_or(rest.len());
        let (authority, target) = rest.split_at(slash);
        let port: u16 = authority.rsplit_once(':').unwrap().1.parse().unwrap();
        let answer = raw_http(
            port,
            format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let status = status_of(&answer);
        if status == 302 {
            url = answer
                .lines()
                .find_map(|l| l.strip_prefix("Location: "))
                .expect("a Location header")
                .trim()
                .to_string();
            continue;
        }
        return (status, body_of(&answer).to_string());
    }
    panic!("too many redirects from {url}");
}

/// How the test's "person" acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Person {
    /// Follows the sign-in page in a browser (a plain HTTP client).
    Browser,
    /// Opens the verification URL once the first poll was told to wait.
    ApprovesDeviceCode,
    /// Never appears (a run that must not ask).
    Absent,
}

struct TestUi {
    person: Person,
    fake: Arc<FakeSso>,
    lines: Vec<String>,
    opened: Arc<AtomicUsize>,
}

impl TestUi {
    fn new(person: Person, fake: &Arc<FakeSso>) -> TestUi {
        TestUi {
            person,
            fake: fake.clone(),
            lines: Vec::new(),
            opened: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl LoginUi for TestUi {
    fn browser(&self) -> Option<String> {
        (self.person == Person::Browser).then(|| "test-browser".to_string())
    }

    fn open_browser(&mut self, _command: &str, url: &str) -> Result<(), BrowserError> {
        assert_eq!(self.person, Person::Browser, "no browser may open here");
        self.opened.fetch_add(1, Ordering::SeqCst);
        let url = url.to_string();
        std::thread::spawn(move || follow(&url));
        Ok(())
    }

    fn say(&mut self, line: &str) {
        assert!(!line.contains(MARKER), "a secret on the terminal: {line}");
        self.lines.push(line.to_string());
        if line.starts_with("To sign in") {
            assert_eq!(self.person, Person::ApprovesDeviceCode, "{line}");
            let url = line.lines().last().unwrap().trim().to_string();
            let fake = self.fake.clone();
            std::thread::spawn(move || {
                while fake.count("token:pending") == 0 {
                    std::thread::sleep(Duration::from_millis(20));
                }
                assert_eq!(follow(&url).0, 200);
            });
        }
    }
}

struct Rig {
    fake: Arc<FakeSso>,
    home: tempfile::TempDir,
    cache: TokenCache,
    endpoints: SsoEndpoints,
}

impl Rig {
    fn new() -> Rig {
        let fake = Arc::new(FakeSso::start());
        let home = tempfile::tempdir().unwrap();
        let cache = TokenCache::in_home(home.path());
        let endpoints = endpoints(&fake);
        Rig {
            fake,
            home,
            cache,
            endpoints,
        }
    }

    fn api(&self) -> LazySso {
        LazySso::new(
            "eu-west-1",
            self.endpoints.clone(),
            stsexec::testing::Outbound::new(
                Duration::from_secs(10),
                None,
                &stsexec::Environment::default(),
            ),
        )
    }

    fn token_json(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.cache.token_path(&session())).unwrap();
        serde_json::from_str(&text).unwrap()
    }
}

fn device() -> LoginOptions {
    LoginOptions {
        method: Method::DeviceCode,
        wait: Duration::from_secs(60),
    }
}

#[test]
fn sso_device_flow_shows_the_code_polls_and_caches_the_clis_format() {
    let rig = Rig::new();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    let session = session();
    let mut sso = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    };
    let creds = sso
        .role_credentials(ACCOUNT_ID, ROLE, Some(&device()), &mut ui)
        .unwrap();
    assert!(creds.access_key_id.starts_with("ASIASSOFAKE"));
    assert!(creds.expiration.is_some());
    let shown = ui.lines.join("\n");
    assert!(shown.contains("WXYZ-"), "{shown}");
    assert!(shown.contains(&format!("{}/device?user_code=WXYZ-", rig.fake.url)));
    assert_eq!(rig.fake.count("register"), 1);
    assert_eq!(rig.fake.count("device_authorization"), 1);
    assert!(rig.fake.count("token:pending") >= 1);
    assert_eq!(
        rig.fake
            .count("token:urn:ietf:params:oauth:grant-type:device_code"),
        rig.fake.count("token:pending") + 1
    );
    // The AWS CLI's name and keys, owner-only.
    let path = rig.cache.token_path(&session);
    assert!(path.ends_with("0ad374308c5a4e22f723adf10145eafad7c4031c.json"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = rig.token_json();
    for key in [
        "startUrl",
        "region",
        "accessToken",
        "expiresAt",
        "clientId",
        "clientSecret",
        "registrationExpiresAt",
        "refreshToken",
    ] {
        assert!(token.get(key).is_some(), "{key} missing in {token}");
    }
    assert_eq!(token["startUrl"], START_URL);
    assert_eq!(token["region"], "eu-west-1");
    // A second run finds the token: no call to sso-oidc.
    let mut api = rig.api();
    let mut absent = TestUi::new(Person::Absent, &rig.fake);
    let mut sso = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    };
    sso.role_credentials(ACCOUNT_ID, ROLE, None, &mut absent)
        .unwrap();
    assert_eq!(rig.fake.count("register"), 1);
    assert_eq!(rig.fake.count("credentials"), 2);
}

#[test]
fn sso_device_flow_slows_down_when_told() {
    let rig = Rig::new();
    rig.fake.slow_down_once();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    let session = session();
    let started = std::time::Instant::now();
    let mut sso = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    };
    sso.token(Some(&device()), &mut ui).unwrap();
    assert_eq!(rig.fake.count("token:slow_down"), 1);
    // The interval grew by 5 s after slow_down (RFC 8628 §3.5).
    assert!(started.elapsed() >= Duration::from_secs(6));
}

#[test]
fn sso_device_code_that_expires_ends_the_login_with_a_sentence() {
    let rig = Rig::new();
    rig.fake.set_device_expiry(2);
    let mut api = rig.api();
    let session = session();
    let mut sso = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    };
    // The person never approves: a UI that only records the lines.
    struct Recorder(Vec<String>);
    impl LoginUi for Recorder {
        fn browser(&self) -> Option<String> {
            None
        }
        fn open_browser(&mut self, _: &str, _: &str) -> Result<(), BrowserError> {
            unreachable!()
        }
        fn say(&mut self, line: &str) {
            self.0.push(line.to_string());
        }
    }
    let err = sso
        .token(Some(&device()), &mut Recorder(Vec::new()))
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("expired before it was approved") && text.contains("stsexec work --login"),
        "{text}"
    );
    assert!(!rig.cache.token_path(&session).exists());
}

#[test]
fn sso_refresh_uses_the_refresh_token_and_no_browser() {
    let rig = Rig::new();
    // Tokens that last 10 minutes: inside the 15-minute refresh window at once.
    rig.fake.set_token_lifetime(600);
    let session = session();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    let first = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .token(Some(&device()), &mut ui)
    .unwrap();
    let mut absent = TestUi::new(Person::Absent, &rig.fake);
    let second = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .token(None, &mut absent)
    .unwrap();
    assert_eq!(rig.fake.count("token:refresh_token"), 1);
    assert_ne!(first.access_token, second.access_token);
    assert_ne!(first.refresh_token, second.refresh_token);
    assert_eq!(rig.fake.count("device_authorization"), 1);
    assert!(absent.lines.is_empty(), "{:?}", absent.lines);
    // The new token is in the cache, for the next run and for the AWS CLI.
    assert_eq!(
        rig.token_json()["accessToken"].as_str(),
        Some(second.access_token.expose())
    );
}

#[test]
fn sso_a_revoked_login_is_named_and_never_prompts_where_it_may_not() {
    let rig = Rig::new();
    let session = session();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .token(Some(&device()), &mut ui)
    .unwrap();
    rig.fake.revoke_all();
    let mut absent = TestUi::new(Person::Absent, &rig.fake);
    let err = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .role_credentials(ACCOUNT_ID, ROLE, None, &mut absent)
    .unwrap_err();
    assert!(matches!(err, SsoError::LoginNeeded { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "the IAM Identity Center login of account work (sso_session my-sso) was refused by IAM Identity Center (expired or revoked); run: stsexec work --login"
    );
    // A role the user does not have is a sentence naming the accounts file's keys.
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    let err = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .role_credentials(ACCOUNT_ID, "Admin", Some(&device()), &mut ui)
    .unwrap_err()
    .to_string();
    assert!(err.contains("sso_role_name"), "{err}");
    assert!(!err.contains(MARKER), "{err}");
}

#[test]
fn sso_browser_flow_checks_pkce_and_state_and_caches_the_registration() {
    let rig = Rig::new();
    let session = session();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::Browser, &rig.fake);
    let options = LoginOptions::default();
    let token = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .login(&options, &mut ui)
    .unwrap();
    assert_eq!(ui.opened.load(Ordering::SeqCst), 1);
    assert_eq!(rig.fake.count("authorize"), 1);
    assert_eq!(rig.fake.count("token:authorization_code"), 1);
    assert_eq!(rig.fake.count("token:pkce_mismatch"), 0);
    assert!(token.refresh_token.is_some());
    // --login again: the cached registration is reused, a new token replaces the old.
    let again = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .login(&options, &mut ui)
    .unwrap();
    assert_eq!(rig.fake.count("register"), 1);
    assert_ne!(again.access_token, token.access_token);
    // A cancelled sign-in ends the login with a sentence.
    rig.fake.deny_sign_in();
    let err = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .login(&options, &mut ui)
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("cancelled or refused (access_denied)"),
        "{err}"
    );
}

#[test]
fn sso_parallel_logins_open_one_browser() {
    let rig = Arc::new(Rig::new());
    let opened = Arc::new(AtomicUsize::new(0));
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let (rig, opened) = (rig.clone(), opened.clone());
            std::thread::spawn(move || {
                let session = session();
                let mut api = rig.api();
                let mut ui = TestUi::new(Person::Browser, &rig.fake);
                ui.opened = opened;
                Sso {
                    account: "work",
                    session: &session,
                    cache: &rig.cache,
                    endpoints: &rig.endpoints,
                    api: &mut api,
                }
                .role_credentials(ACCOUNT_ID, ROLE, Some(&LoginOptions::default()), &mut ui)
                .unwrap()
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
    assert_eq!(opened.load(Ordering::SeqCst), 1);
    assert_eq!(rig.fake.count("authorize"), 1);
    assert_eq!(rig.fake.count("register"), 1);
    assert_eq!(rig.fake.count("credentials"), 4);
}

#[test]
fn sso_real_chromium_completes_the_loopback_flow() {
    let rig = Rig::new();
    let browser_dir = tempfile::tempdir().unwrap();
    let browser = chromium_browser(browser_dir.path());
    let mut ui = TerminalUi::with_browser(Some(browser));
    let session = session();
    let mut api = rig.api();
    let creds = Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .role_credentials(
        ACCOUNT_ID,
        ROLE,
        Some(&LoginOptions {
            method: Method::Auto,
            wait: Duration::from_secs(120),
        }),
        &mut ui,
    )
    .unwrap();
    assert!(creds.access_key_id.starts_with("ASIASSOFAKE"));
    assert_eq!(rig.fake.count("authorize"), 1);
    assert_eq!(rig.fake.count("token:authorization_code"), 1);
    assert_eq!(rig.fake.count("token:pkce_mismatch"), 0);
    assert!(rig.cache.token_path(&session).exists());
}

#[test]
fn sso_boto3_uses_the_token_cache_stsexec_wrote() {
    let venv = venv();
    let rig = Rig::new();
    let session = session();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .token(Some(&device()), &mut ui)
    .unwrap();
    let config = rig.home.path().join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile work]\nsso_session = {SESSION}\nsso_account_id = {ACCOUNT_ID}\nsso_role_name = {ROLE}\nregion = eu-west-1\n\n[sso-session {SESSION}]\nsso_start_url = {START_URL}\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n"
        ),
    )
    .unwrap();
    let script = "import boto3\n\
        from botocore.utils import SSOTokenLoader, JSONFileCache\n\
        import os\n\
        loader = SSOTokenLoader(cache=JSONFileCache(os.path.expanduser('~/.aws/sso/cache')))\n\
        token = loader('https://my-org.awsapps.com/start', session_name='my-sso')\n\
        print('loader', token['accessToken'] != '', token['expiresAt'])\n\
        creds = boto3.Session(profile_name='work').get_credentials().get_frozen_credentials()\n\
        print('creds', creds.access_key)\n";
    let out = std::process::Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .env_clear()
        .env("HOME", rig.home.path())
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_SHARED_CREDENTIALS_FILE", rig.home.path().join("none"))
        .env("AWS_ENDPOINT_URL_SSO", &rig.fake.url)
        .env("AWS_ENDPOINT_URL_SSO_OIDC", &rig.fake.url)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("loader True"), "{stdout}");
    assert!(stdout.contains("creds ASIASSOFAKE"), "{stdout}");
    // boto3 logged in on its own nowhere: one registration, one device authorization.
    assert_eq!(rig.fake.count("register"), 1);
    assert_eq!(rig.fake.count("device_authorization"), 1);
    assert_eq!(rig.fake.count("credentials"), 1);
}

#[test]
fn sso_hostile_portal_answers_are_sentences_in_bounded_time() {
    let rig = Rig::new();
    let session = session();
    let mut api = rig.api();
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    Sso {
        account: "work",
        session: &session,
        cache: &rig.cache,
        endpoints: &rig.endpoints,
        api: &mut api,
    }
    .token(Some(&device()), &mut ui)
    .unwrap();
    for (hostile, expected) in [
        (Hostile::NotJson, "that stsexec cannot read"),
        (Hostile::Huge, "with more than 64 KiB"),
    ] {
        rig.fake.answer_portal_with(hostile);
        let mut absent = TestUi::new(Person::Absent, &rig.fake);
        let err = Sso {
            account: "work",
            session: &session,
            cache: &rig.cache,
            endpoints: &rig.endpoints,
            api: &mut api,
        }
        .role_credentials(ACCOUNT_ID, ROLE, None, &mut absent)
        .unwrap_err()
        .to_string();
        assert!(err.contains(expected), "{hostile:?}: {err}");
        assert!(err.contains("GetRoleCredentials"), "{err}");
        assert!(!err.contains(MARKER), "{err}");
    }
}

#[test]
fn sso_role_sessions_are_cached_per_account_and_reused_without_the_token() {
    use stsexec::accounts::AccountName;
    use stsexec::cache::AccountState;
    use stsexec::testing::Reporter;
    use stsexec::testing::SsoAccount;
    use stsexec::testing::SsoProvider;
    let rig = Rig::new();
    let creds_dir = tempfile::tempdir().unwrap();
    let account = AccountName::parse_str("work").unwrap();
    let provider = |rig: &Rig| SsoProvider {
        account: account.clone(),
        sso: SsoAccount {
            session: session(),
            account_id: ACCOUNT_ID.into(),
            role_name: ROLE.into(),
        },
        cache: AccountState::new(creds_dir.path(), &account),
        tokens: rig.cache.clone(),
        endpoints: rig.endpoints.clone(),
        api: rig.api(),
        min_ttl: Duration::from_secs(300),
        report: Reporter::new(true, false),
    };
    let mut ui = TestUi::new(Person::ApprovesDeviceCode, &rig.fake);
    let first = provider(&rig)
        .resolve(false, Some(&device()), &mut ui)
        .unwrap();
    assert_eq!(first.label, "work-sso-ReadOnly-STS");
    assert_eq!(first.account_id.as_deref(), Some(ACCOUNT_ID));
    // A hit: no portal call, and the token file is not even needed.
    std::fs::remove_file(rig.cache.token_path(&session())).unwrap();
    let mut absent = TestUi::new(Person::Absent, &rig.fake);
    let again = provider(&rig).resolve(false, None, &mut absent).unwrap();
    assert_eq!(again.credentials, first.credentials);
    assert_eq!(rig.fake.count("credentials"), 1);
    // --refresh without a token and without a login allowed: the sentence names --login.
    let err = provider(&rig)
        .resolve(true, None, &mut absent)
        .unwrap_err()
        .to_string();
    assert!(err.ends_with("run: stsexec work --login"), "{err}");
}
