//! IAM Identity Center accounts through the stsexec binary (DESIGN §17): `--login` with a real
//! headless Chromium on the loopback redirect, the device flow on the terminal, every output
//! mode, the role session cached like any other, parallel cold runs opening one browser,
//! boto3 using the login stsexec made, and `--server` renewing from the token.

use crate::support::server::{body_of, raw_http, status_of, wait_for_file};
use crate::support::sso::{ACCOUNT_ID, FakeSso, ROLE, START_URL, chromium_browser};
use crate::support::*;
use std::io::{BufRead, BufReader};
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);
/// `hashlib.sha1(b"my-sso").hexdigest()`: the AWS CLI's cache file for sso_session my-sso.
const TOKEN_FILE: &str = "0ad374308c5a4e22f723adf10145eafad7c4031c.json";

/// A sandbox whose account `work` is an IAM Identity Center entry (no key files at all), its
/// endpoints on the fake.
fn sso_sandbox(fake: &FakeSso) -> Sandbox {
    let mut sandbox = Sandbox::new();
    std::fs::remove_file(sandbox.creds.join("work.access_key")).unwrap();
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"sso_start_url": "{START_URL}", "sso_region": "eu-west-1", "sso_account_id": "{ACCOUNT_ID}", "sso_role_name": "{ROLE}", "sso_session": "my-sso"}}}}"#
    ));
    sandbox.set_env("AWS_ENDPOINT_URL_SSO_OIDC", &fake.url);
    sandbox.set_env("AWS_ENDPOINT_URL_SSO", &fake.url);
    sandbox
}

fn token_file(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.home.path().join(".aws/sso/cache").join(TOKEN_FILE)
}

/// GETs `url` as a person's browser would, following redirects.
fn follow(url: &str) -> u16 {
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
        if status_of(&answer) != 302 {
            let _ = body_of(&answer);
            return status_of(&answer);
        }
        url = answer
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap()
            .trim()
            .to_string();
    }
    panic!("too many redirects");
}

/// Runs stsexec, approves the device code it prints (as a person would, at the URL it
/// shows), and returns how it ended.
fn run_approving_device_code(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut child = sandbox.command(args).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let mut approved = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if !approved && line.starts_with("  http") && seen.contains("To sign in") {
            assert_eq!(follow(line.trim()), 200, "{seen}");
            approved = true;
        }
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        signal: None,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: seen,
    }
}

#[test]
fn sso_cli_login_in_chromium_then_every_mode_from_one_role_session() {
    let fake = FakeSso::start();
    let mut sandbox = sso_sandbox(&fake);
    let browser_dir = tempfile::tempdir().unwrap();
    sandbox.set_env("BROWSER", &chromium_browser(browser_dir.path()));

    sandbox.run(&["work", "--login"]).assert_ok().assert_no_secret();
    assert_eq!(fake.count("authorize"), 1);
    assert_eq!(fake.count("token:authorization_code"), 1);
    assert_eq!(mode_of(&token_file(&sandbox)), 0o600);
    let token = read_json(&token_file(&sandbox));
    assert_eq!(token["startUrl"], START_URL);

    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok().assert_no_secret();
    assert!(env["AWS_ACCESS_KEY_ID"].starts_with("ASIASSOFAKE"), "{env:?}");
    assert!(env.contains_key("AWS_SESSION_TOKEN"));
    assert!(env.contains_key("AWS_CREDENTIAL_EXPIRATION"));
    assert_eq!(env["AWS_ACCOUNT_ID"], ACCOUNT_ID);
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(fake.count("credentials"), 1);

    // The role session is cached like any other: the other modes reuse it.
    let json = sandbox.run(&["work", "--json"]);
    json.assert_ok();
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed["access_key"], env["AWS_ACCESS_KEY_ID"]);
    sandbox.run(&["work", "--export"]).assert_ok();
    let process = sandbox.run(&["work", "--credential-process"]);
    process.assert_ok();
    assert!(process.stdout.contains("\"Version\":1") || process.stdout.contains("\"Version\": 1"));
    assert_eq!(fake.count("credentials"), 1);
    // One browser in all.
    let opened = std::fs::read_to_string(browser_dir.path().join("opened")).unwrap();
    assert_eq!(opened.lines().count(), 1, "{opened}");

    let list = sandbox.run(&["--list"]);
    list.assert_ok();
    assert!(list.stdout.contains("work"), "{list:#?}");
    assert!(list.stdout.contains("IAM Identity Center"), "{list:#?}");
}

#[test]
fn sso_cli_first_run_signs_in_with_a_code_where_no_browser_opens() {
    let fake = FakeSso::start();
    let sandbox = sso_sandbox(&fake);
    // No BROWSER, no DISPLAY: the device flow, URL and code on stderr.
    let run = run_approving_device_code(&sandbox, &["work", "--", "sh", "-c", "echo $AWS_ACCESS_KEY_ID"]);
    run.assert_ok().assert_no_secret();
    assert!(run.stdout.starts_with("ASIASSOFAKE"), "{run:#?}");
    assert!(run.stderr.contains("WXYZ-"), "{run:#?}");
    assert_eq!(fake.count("authorize"), 0);
    assert_eq!(fake.count("device_authorization"), 1);

    // --no-browser forces the device flow even with a browser at hand.
    let mut sandbox = sandbox;
    sandbox.set_env("BROWSER", "/bin/false");
    run_approving_device_code(&sandbox, &["work", "--login", "--no-browser"]).assert_ok();
    assert_eq!(fake.count("device_authorization"), 2);
    assert_eq!(fake.count("authorize"), 0);
}

#[test]
fn sso_cli_parallel_cold_runs_open_one_browser() {
    let fake = FakeSso::start();
    let mut sandbox = sso_sandbox(&fake);
    let browser_dir = tempfile::tempdir().unwrap();
    sandbox.set_env("BROWSER", &chromium_browser(browser_dir.path()));
    let children: Vec<_> = (0..4)
        .map(|_| sandbox.command(&["work", "--", "true"]).spawn().unwrap())
        .collect();
    for child in children {
        Run::from(child.wait_with_output().unwrap()).assert_ok();
    }
    let opened = std::fs::read_to_string(browser_dir.path().join("opened")).unwrap();
    assert_eq!(opened.lines().count(), 1, "{opened}");
    assert_eq!(fake.count("authorize"), 1);
    assert_eq!(fake.count("register"), 1);
    // One role session for all four (the account's lock).
    assert_eq!(fake.count("credentials"), 1);
}

#[test]
fn sso_cli_boto3_uses_the_login_stsexec_made() {
    let fake = FakeSso::start();
    let sandbox = sso_sandbox(&fake);
    run_approving_device_code(&sandbox, &["work", "--login", "--no-browser"]).assert_ok();
    let config = sandbox.home.path().join(".aws/config");
    std::fs::write(
        &config,
        format!(
            "[profile work]\nsso_session = my-sso\nsso_account_id = {ACCOUNT_ID}\nsso_role_name = {ROLE}\nregion = eu-west-1\n\n[sso-session my-sso]\nsso_start_url = {START_URL}\nsso_region = eu-west-1\nsso_registration_scopes = sso:account:access\n"
        ),
    )
    .unwrap();
    let run = sandbox.run_program(
        &venv().join("bin/python").display().to_string(),
        &[
            "-c",
            "import boto3; print(boto3.Session(profile_name='work').get_credentials().get_frozen_credentials().access_key)",
        ],
    );
    run.assert_ok();
    assert!(run.stdout.starts_with("ASIASSOFAKE"), "{run:#?}");
    assert_eq!(fake.count("register"), 1);
    assert_eq!(fake.count("device_authorization"), 1);
}

#[test]
fn sso_cli_server_renews_from_the_token_and_asks_for_a_login_when_it_ends() {
    let fake = FakeSso::start();
    let mut sandbox = sso_sandbox(&fake);
    run_approving_device_code(&sandbox, &["work", "--login", "--no-browser"]).assert_ok();
    // The portal's sessions last an hour; renew whenever less than 3599 s remain.
    sandbox.set_env("STSEXEC_MIN_TTL", "3599s");
    let script = r#"printf '%s %s\n' "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN" > "$HOME/endpoint.tmp"
mv "$HOME/endpoint.tmp" "$HOME/endpoint"
while [ ! -e "$HOME/stop" ]; do sleep 0.05; done"#;
    let child = sandbox
        .command(&["work", "--server", "--", "sh", "-c", script])
        .spawn()
        .unwrap();
    wait_for_file(&sandbox.home.path().join("endpoint"), PATIENCE);
    let deadline = std::time::Instant::now() + PATIENCE;
    while fake.count("credentials") < 3 {
        assert!(std::time::Instant::now() < deadline, "no renewal from the token");
        std::thread::sleep(Duration::from_millis(50));
    }
    // No login on the way: the token did it all.
    assert_eq!(fake.count("device_authorization"), 1);
    fake.revoke_all();
    let refused = fake.count("credentials:refused");
    while fake.count("credentials:refused") == refused {
        assert!(std::time::Instant::now() < deadline, "no renewal tried after revocation");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(sandbox.home.path().join("stop"), "").unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    run.assert_ok().assert_no_secret();
    run.assert_stderr("stsexec work --login");
    assert_eq!(fake.count("device_authorization"), 1);
}
