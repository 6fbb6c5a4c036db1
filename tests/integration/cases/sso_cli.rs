//! IAM Identity Center accounts through the stsexec binary (DESIGN §17): `--login` with a real
//! headless Chromium on the loopback redirect, the device flow on the terminal, every output
//! mode, the role session cached like any other, parallel cold runs opening one browser,
//! boto3 using the login stsexec made, and `--server` renewing from the token.

use crate::support::server::wait_for_file;
use crate::support::sso::{
    ACCOUNT_ID, FakeSso, ROLE, START_URL, chromium_browser, run_approving_device_code, sso_sandbox,
    token_file,
};
use crate::support::*;
use std::time::Duration;

const PATIENCE: Duration = Duration::from_secs(60);

#[test]
fn sso_cli_login_in_chromium_then_every_mode_from_one_role_session() {
    let fake = FakeSso::start();
    let mut sandbox = sso_sandbox(&fake);
    let browser_dir = tempfile::tempdir().unwrap();
    sandbox.set_env("BROWSER", &chromium_browser(browser_dir.path()));

    sandbox
        .run(&["work", "--login"])
        .assert_ok()
        .assert_no_secret();
    assert_eq!(fake.count("authorize"), 1);
    assert_eq!(fake.count("token:authorization_code"), 1);
    assert_eq!(mode_of(&token_file(&sandbox)), 0o600);
    let token = read_json(&token_file(&sandbox));
    assert_eq!(token["startUrl"], START_URL);

    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok().assert_no_secret();
    assert!(
        env["AWS_ACCESS_KEY_ID"].starts_with("ASIASSOFAKE"),
        "{env:?}"
    );
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
    assert!(list.stdout.contains("keys=sso"), "{list:#?}");
    assert!(list.stdout.contains("login=\"signed in ("), "{list:#?}");
}

#[test]
fn sso_cli_first_run_signs_in_with_a_code_where_no_browser_opens() {
    let fake = FakeSso::start();
    let sandbox = sso_sandbox(&fake);
    // No BROWSER, no DISPLAY: the device flow, URL and code on stderr.
    let run = run_approving_device_code(
        &sandbox,
        &["work", "--", "sh", "-c", "echo $AWS_ACCESS_KEY_ID"],
    );
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
fn sso_cli_server_renews_from_the_token_asks_for_a_login_when_it_ends_and_picks_it_up() {
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
        assert!(
            std::time::Instant::now() < deadline,
            "no renewal from the token"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // No login on the way: the token did it all.
    assert_eq!(fake.count("device_authorization"), 1);
    fake.revoke_all();
    let refused = fake.count("credentials:refused");
    while fake.count("credentials:refused") == refused {
        assert!(
            std::time::Instant::now() < deadline,
            "no renewal tried after revocation"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // The login in another terminal; the server's next retry picks the new token up.
    run_approving_device_code(&sandbox, &["work", "--login", "--no-browser"]).assert_ok();
    let served = |fake: &FakeSso| fake.count("credentials") - fake.count("credentials:refused");
    let before = served(&fake);
    while served(&fake) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the new login was not picked up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::fs::write(sandbox.home.path().join("stop"), "").unwrap();
    let run = Run::from(child.wait_with_output().unwrap());
    run.assert_ok().assert_no_secret();
    run.assert_stderr("stsexec work --login");
    assert_eq!(fake.count("device_authorization"), 2);
}

#[test]
fn sso_cli_what_does_not_apply_is_one_sentence_and_calls_nothing() {
    let fake = FakeSso::start();
    let sandbox = sso_sandbox(&fake);
    for (args, needle) in [
        (
            &["work", "--mfa", "--", "true"][..],
            "so --mfa does not apply",
        ),
        (
            &["work", "--role", "admin", "--", "true"][..],
            "so --role does not apply",
        ),
        (&["work", "--rotate"][..], "has no access key to rotate"),
    ] {
        sandbox
            .run(args)
            .assert_code(125)
            .assert_stderr(needle)
            .assert_stderr("stsexec: ");
    }
    assert_eq!(fake.count("register") + fake.count("credentials"), 0);
    // --login of an account with keys.
    let plain = Sandbox::new();
    plain
        .run(&["work", "--login"])
        .assert_code(125)
        .assert_stderr("has no sso_start_url");
    // Half an entry is refused, naming what is missing.
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"sso_start_url": "{START_URL}", "sso_region": "eu-west-1"}}}}"#
    ));
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("sso_account_id, sso_role_name missing");
}

#[test]
fn sso_cli_uses_a_login_botocore_made() {
    let fake = FakeSso::start();
    let sandbox = sso_sandbox(&fake);
    // What `aws sso login --sso-session my-sso` leaves behind: botocore's own clients and its
    // own cache writer (JSONFileCache with the SSO token serializer).
    let script = format!(
        r#"import datetime, os, urllib.request
import boto3
from botocore.utils import JSONFileCache, SSOTokenLoader
from botocore.tokens import _sso_json_dumps
c = boto3.client('sso-oidc', region_name='eu-west-1', endpoint_url='{url}')
r = c.register_client(clientName='botocore-client-my-sso', clientType='public', scopes=['sso:account:access'])
d = c.start_device_authorization(clientId=r['clientId'], clientSecret=r['clientSecret'], startUrl='{start}')
urllib.request.urlopen(d['verificationUriComplete']).read()
t = c.create_token(grantType='urn:ietf:params:oauth:grant-type:device_code', clientId=r['clientId'], clientSecret=r['clientSecret'], deviceCode=d['deviceCode'])
now = datetime.datetime.now(datetime.timezone.utc)
token = {{
    'startUrl': '{start}', 'region': 'eu-west-1', 'accessToken': t['accessToken'],
    'expiresAt': now + datetime.timedelta(seconds=t['expiresIn']),
    'clientId': r['clientId'], 'clientSecret': r['clientSecret'],
    'registrationExpiresAt': datetime.datetime.fromtimestamp(r['clientSecretExpiresAt'], datetime.timezone.utc),
    'refreshToken': t['refreshToken'],
}}
cache = JSONFileCache(os.path.expanduser('~/.aws/sso/cache'), dumps_func=_sso_json_dumps)
SSOTokenLoader(cache=cache).save_token('{start}', token, session_name='my-sso')
"#,
        url = fake.url,
        start = START_URL
    );
    sandbox
        .run_program(
            &venv().join("bin/python").display().to_string(),
            &["-c", &script],
        )
        .assert_ok();
    assert_eq!(fake.count("device_authorization"), 1);
    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok().assert_no_secret();
    assert!(
        env["AWS_ACCESS_KEY_ID"].starts_with("ASIASSOFAKE"),
        "{run:#?}"
    );
    // No login of stsexec's own: the token botocore wrote was enough.
    assert_eq!(fake.count("register"), 1);
    assert_eq!(fake.count("device_authorization"), 1);
    assert_eq!(fake.count("authorize"), 0);
}

#[test]
fn sso_cli_a_browser_that_never_comes_back_ends_the_login_in_bounded_time() {
    let fake = FakeSso::start();
    let mut sandbox = sso_sandbox(&fake);
    // A browser that opens nothing: the redirect never comes.
    sandbox.set_env("BROWSER", "/bin/true");
    sandbox.set_env("STSEXEC_LOGIN_TIMEOUT", "2s");
    let run = sandbox.run(&["work", "--", "true"]);
    run.assert_code(125)
        .assert_no_secret()
        .assert_stderr("was not completed within 2 s")
        .assert_stderr("--no-browser");
    assert_eq!(fake.count("credentials"), 0);
    assert!(!token_file(&sandbox).exists());
    sandbox.set_env("STSEXEC_LOGIN_TIMEOUT", "1h");
    sandbox
        .run(&["work", "--login"])
        .assert_code(125)
        .assert_stderr("STSEXEC_LOGIN_TIMEOUT=\"1h\" is not a duration from 1s to 5m");
}
