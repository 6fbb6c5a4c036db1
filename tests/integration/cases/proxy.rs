//! DESIGN §14 with real parts: Debian's tinyproxy (basic auth, started per test on a loopback
//! port) in front of moto served over TLS with a test CA made by openssl. Through the proxy
//! (its log shows the CONNECT; TLS end to end, so the CA must be trusted), lowercase
//! variables, bypassed by NO_PROXY by name and by CIDR, a wrong proxy password, the proxy
//! down, no CA bundle, a broken bundle; GitHub's token request and IAM through the proxy too.

use super::tls::test_pki;
use crate::support::github::{Answer, BEARER, FakeGitHub};
use crate::support::moto::Moto;
use crate::support::*;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const USER: &str = "alice";
/// The proxy password: a marker no output may show.
const PASSWORD: &str = "SECRETMARKER-proxy-pw";

/// tinyproxy on a loopback port, asking for basic auth, logging each request.
struct TinyProxy {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyProxy {
    fn start() -> TinyProxy {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("tinyproxy.log");
        let conf = dir.path().join("tinyproxy.conf");
        std::fs::write(
            &conf,
            format!(
                "Port {port}\nListen 127.0.0.1\nTimeout 30\nLogLevel Info\nLogFile \"{}\"\nMaxClients 20\nBasicAuth {USER} {PASSWORD}\nDisableViaHeader Yes\n",
                log.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("tinyproxy");
        cmd.args(["-d", "-c"])
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it makes the proxy die with the test process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .expect("tinyproxy runs (apt-get install tinyproxy)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("tinyproxy exited ({status}) before listening on port {port}");
            }
            assert!(
                Instant::now() < deadline,
                "tinyproxy did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        TinyProxy {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    /// The proxy URL with the user and password.
    fn url(&self) -> String {
        format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", self.port)
    }

    /// The proxy URL as messages show it.
    fn shown(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Lines of the log that name a request for `target` (`CONNECT localhost:4443`,
    /// `POST http://127.0.0.1:5000/`).
    fn requests_for(&self, target: &str) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("Request (file descriptor") && l.contains(target))
            .count()
    }
}

impl Drop for TinyProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// moto over TLS, its test CA, and a sandbox that trusts the CA through AWS_CA_BUNDLE.
struct Tls {
    moto: Moto,
    ca: PathBuf,
    _pki: tempfile::TempDir,
}

fn tls_moto() -> Tls {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(pki.path());
    Tls {
        moto: Moto::start_tls(&cert, &key),
        ca,
        _pki: pki,
    }
}

fn sandbox(sts: &str, ca: &Path) -> Sandbox {
    let mut sandbox = Sandbox::new().with_sts(sts);
    sandbox.set_env("AWS_CA_BUNDLE", ca.to_str().unwrap());
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "6s");
    sandbox
}

/// Nothing stsexec wrote or printed holds the password.
fn password_nowhere(sandbox: &Sandbox, run: &Run) {
    assert!(!run.stderr.contains(PASSWORD), "{run:#?}");
    for entry in std::fs::read_dir(&sandbox.creds).unwrap().flatten() {
        let text = std::fs::read(entry.path()).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&text).contains(PASSWORD),
            "{} holds the proxy password",
            entry.path().display()
        );
    }
}

#[test]
fn sts_goes_through_the_proxy_with_tls_end_to_end_and_the_child_keeps_the_variables() {
    let proxy = TinyProxy::start();
    let tls = tls_moto();
    let mut sandbox = sandbox(&tls.moto.url, &tls.ca);
    sandbox.set_env("HTTPS_PROXY", &proxy.url());
    let (run, env) = sandbox.child_env(&["-v", "work", "-t", CODE, "--role", "admin"]);
    run.assert_ok().assert_no_secret();
    assert!(env["AWS_ACCESS_KEY_ID"].starts_with("ASIA"), "{env:?}");
    // Two calls (GetSessionToken, AssumeRole), each a CONNECT to moto's name and port.
    let target = format!("CONNECT localhost:{}", tls.moto.port);
    assert!(proxy.requests_for(&target) >= 1, "{}", proxy.log());
    // -v names the route of each call, user-info redacted.
    for operation in ["GetSessionToken", "AssumeRole"] {
        let line = format!(
            "STS {operation}: {} through proxy {} (HTTPS_PROXY)",
            tls.moto.url,
            proxy.shown()
        );
        assert!(run.stderr.contains(&line), "{line}: {run:#?}");
    }
    password_nowhere(&sandbox, &run);
    // The command sees the proxy and CA variables exactly as they were.
    assert_eq!(env["HTTPS_PROXY"], proxy.url());
    assert_eq!(env["AWS_CA_BUNDLE"], tls.ca.to_str().unwrap());
}

#[test]
fn lowercase_variables_are_read() {
    let proxy = TinyProxy::start();
    let tls = tls_moto();
    let mut sandbox = sandbox(&tls.moto.url, &tls.ca);
    sandbox.set_env("https_proxy", &proxy.url());
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_ok()
        .assert_stderr(&format!("through proxy {} (https_proxy)", proxy.shown()))
        .assert_no_secret();
    let target = format!("CONNECT localhost:{}", tls.moto.port);
    assert_eq!(proxy.requests_for(&target), 1, "{}", proxy.log());
}

#[test]
fn no_proxy_bypasses_by_name_and_by_cidr() {
    let proxy = TinyProxy::start();
    let tls = tls_moto();
    // By name: moto is https://localhost:<port>.
    let mut by_name = sandbox(&tls.moto.url, &tls.ca);
    by_name.set_env("HTTPS_PROXY", &proxy.url());
    by_name.set_env("NO_PROXY", "example.com, localhost");
    by_name
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_ok()
        .assert_stderr(&format!(
            "STS GetSessionToken: {} directly (NO_PROXY bypasses the proxy)",
            tls.moto.url
        ));
    // By CIDR: the same moto as https://127.0.0.1:<port> (its certificate names the address).
    let by_address = format!("https://127.0.0.1:{}", tls.moto.port);
    let mut by_cidr = sandbox(&by_address, &tls.ca);
    by_cidr.set_env("https_proxy", &proxy.url());
    by_cidr.set_env("no_proxy", "10.0.0.0/8,127.0.0.0/8");
    by_cidr
        .run(&["-v", "work", "-t", &fresh_code(), "--", "true"])
        .assert_ok()
        .assert_stderr("directly (no_proxy bypasses the proxy)");
    assert_eq!(proxy.requests_for("CONNECT"), 0, "{}", proxy.log());
}

#[test]
fn a_wrong_proxy_password_is_named_without_the_password() {
    let proxy = TinyProxy::start();
    let tls = tls_moto();
    let mut sandbox = sandbox(&tls.moto.url, &tls.ca);
    let wrong = format!("http://{USER}:SECRETMARKER-wrong@127.0.0.1:{}", proxy.port);
    sandbox.set_env("HTTPS_PROXY", &wrong);
    let run = sandbox.run(&["work", "-t", CODE, "--", "true"]);
    run.assert_code(125)
        .assert_stderr(&format!(
            "STS at {} could not be reached through proxy {} (HTTPS_PROXY)",
            tls.moto.url,
            proxy.shown()
        ))
        .assert_stderr("user name and password in HTTPS_PROXY")
        .assert_no_secret();
    assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    assert!(proxy.requests_for("CONNECT").max(1) >= 1);
    assert!(!sandbox.cache_file(".stsexec~work~session.json").exists());
    // Without any user and password: the proxy asks for them (407).
    sandbox.set_env("HTTPS_PROXY", &proxy.shown());
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(&format!("through proxy {} (HTTPS_PROXY)", proxy.shown()));
}

#[test]
fn a_proxy_that_is_down_is_named_in_bounded_time() {
    let tls = tls_moto();
    let mut sandbox = sandbox(&tls.moto.url, &tls.ca);
    let down = format!("http://{USER}:{PASSWORD}@127.0.0.1:{}", free_port());
    sandbox.set_env("HTTPS_PROXY", &down);
    let run = sandbox.run(&["work", "-t", CODE, "--", "true"]);
    run.assert_code(125)
        .assert_stderr(&format!(
            "STS at {} could not be reached through proxy http://127.0.0.1:",
            tls.moto.url
        ))
        .assert_stderr("(HTTPS_PROXY)")
        .assert_no_secret();
    password_nowhere(&sandbox, &run);
}

#[test]
fn without_the_ca_bundle_the_re_signed_certificate_is_refused_naming_aws_ca_bundle() {
    let proxy = TinyProxy::start();
    let tls = tls_moto();
    let mut sandbox = sandbox(&tls.moto.url, &tls.ca);
    sandbox.remove_env("AWS_CA_BUNDLE");
    sandbox.set_env("HTTPS_PROXY", &proxy.url());
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("presented a TLS certificate stsexec does not trust")
        .assert_stderr("set AWS_CA_BUNDLE to a PEM file of its CA certificates")
        .assert_no_secret();
}

#[test]
fn a_broken_or_missing_bundle_is_named() {
    let tls = tls_moto();
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("corp-ca.pem");
    std::fs::write(
        &junk,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let sandbox = sandbox(&tls.moto.url, &junk);
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(&format!(
            "AWS_CA_BUNDLE names {}, which holds no usable PEM certificate",
            junk.display()
        ));
    let missing = dir.path().join("nowhere.pem");
    let sandbox = self::sandbox(&tls.moto.url, &missing);
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(&format!(
            "AWS_CA_BUNDLE names {}, which does not exist",
            missing.display()
        ));
}

#[test]
fn the_github_token_request_and_sts_go_through_the_proxy() {
    let proxy = TinyProxy::start();
    let moto = Moto::start();
    let github = FakeGitHub::start("sts.amazonaws.com", Answer::Token);
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    std::fs::remove_dir_all(&sandbox.creds).unwrap();
    sandbox.set_env("HTTP_PROXY", &proxy.url());
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &github.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
    let run = sandbox.run(&[
        "ci",
        "--role",
        "arn:aws:iam::123456789012:role/deploy",
        "--web-identity",
        "--",
        "true",
    ]);
    run.assert_ok().assert_no_secret();
    let github_origin = github.url.split("/idtoken").next().unwrap().to_string();
    assert_eq!(
        proxy.requests_for(&format!("GET {github_origin}")),
        1,
        "{}",
        proxy.log()
    );
    assert_eq!(
        proxy.requests_for(&format!("POST {}", moto.url)),
        1,
        "{}",
        proxy.log()
    );
}

#[test]
fn rotation_reaches_iam_through_the_proxy() {
    // moto checking signatures (its auth mode), set up directly by the AWS CLI; stsexec's
    // GetCallerIdentity and IAM calls are forwarded by the proxy (plain http: no CONNECT).
    let proxy = TinyProxy::start();
    let mut sandbox = Sandbox::new();
    let (moto, first) = super::rotate::moto_with_user(&mut sandbox, 0);
    sandbox.set_env("http_proxy", &proxy.url());
    let run = sandbox.run(&["-v", "work", "--rotate", "--no-session"]);
    run.assert_ok().assert_no_secret();
    for call in [
        "STS GetCallerIdentity",
        "IAM ListAccessKeys",
        "IAM CreateAccessKey",
    ] {
        let line = format!(
            "{call}: {} through proxy {} (http_proxy)",
            moto.url,
            proxy.shown()
        );
        assert!(run.stderr.contains(&line), "{line}: {run:#?}");
    }
    let (new, _) = super::rotate::key_files(&sandbox);
    assert_ne!(new, first);
    assert_eq!(super::rotate::moto_keys(&sandbox, &moto), vec![new]);
    // GetCallerIdentity twice (who, then the new key's proof) and four IAM calls.
    assert!(
        proxy.requests_for(&format!("POST {}", moto.url)) >= 6,
        "{}",
        proxy.log()
    );
    password_nowhere(&sandbox, &run);
}

#[test]
fn a_proxy_that_never_answers_is_named_within_the_bound() {
    let hanging = crate::support::fault::FaultServer::start(&[crate::support::fault::Reply::Hang]);
    let tls = tls_moto();
    let mut sandbox = sandbox(&tls.moto.url, &tls.ca);
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "2s");
    sandbox.set_env("ALL_PROXY", &hanging.url);
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(&format!(
            "STS at {} could not be reached through proxy {} (ALL_PROXY)",
            tls.moto.url,
            hanging.url.trim_end_matches('/')
        ))
        .assert_stderr("no answer within 2 s");
}

#[test]
fn status_verbose_names_endpoint_proxy_and_bundle() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_REGION", "eu-west-1");
    sandbox.set_env("AWS_USE_FIPS_ENDPOINT", "true");
    sandbox.set_env(
        "https_proxy",
        &format!("http://{USER}:{PASSWORD}@proxy.example:3128"),
    );
    sandbox.set_env("AWS_CA_BUNDLE", "/etc/ssl/corp-ca.pem");
    let run = sandbox.run(&["--status", "-v"]);
    assert!(
        run.stdout.contains(
            "STS endpoint is https://sts-fips.eu-west-1.amazonaws.com, reached through proxy http://proxy.example:3128 (https_proxy)\nCA certificates trusted: the system's and those in /etc/ssl/corp-ca.pem (AWS_CA_BUNDLE)\n"
        ),
        "{run:#?}"
    );
    assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    // Without -v, --status stays as it was.
    assert!(!sandbox.run(&["--status"]).stdout.contains("STS endpoint"));
}

#[test]
fn plain_http_through_a_proxy_on_another_host_is_warned_about() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "1s");
    // TEST-NET-1: no proxy answers there; the warning comes before the call.
    sandbox.set_env(
        "HTTP_PROXY",
        &format!("http://{USER}:{PASSWORD}@192.0.2.1:3128"),
    );
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(&format!(
            "stsexec: warning: the endpoint {} is plain http and goes through proxy http://192.0.2.1:3128 (HTTP_PROXY) on another host",
            moto.url
        ))
        .assert_no_secret();
}

#[test]
fn the_console_sign_in_goes_through_the_proxy() {
    use crate::support::signin::{self, FakeSignin};
    let proxy = TinyProxy::start();
    let moto = Moto::start();
    let fake = FakeSignin::start(signin::Answer::Token);
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("HTTP_PROXY", &proxy.url());
    sandbox.set_env("AWS_ENDPOINT_URL_SIGNIN", &fake.base);
    let run = sandbox.run(&["work", "--role", "admin", "--console=print", "-v"]);
    run.assert_ok().assert_no_secret().assert_stderr(&format!(
        "console sign-in getSigninToken: {}/federation through proxy {}",
        fake.base,
        proxy.shown()
    ));
    password_nowhere(&sandbox, &run);
    assert_eq!(fake.token_requests().len(), 1);
    assert_eq!(
        proxy.requests_for(&format!(
            "GET {}/federation?Action=getSigninToken",
            fake.base
        )),
        1,
        "{}",
        proxy.log()
    );
}
