//! `--console` (DESIGN §16) as a user runs it: moto as STS, a fake federation endpoint
//! (support/signin.rs), a `$BROWSER` that records its argv and environment and has a real
//! headless Chromium follow the one-shot local redirect; the refusal without a role; the bad
//! answers, each a sentence naming the endpoint.

use crate::support::moto::Moto;
use crate::support::signin::{Answer, FakeSignin};
use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use stsexec::console_redirect::{self as redirect, Redirect};
use stsexec::secret::Secret;

/// A `$BROWSER` that records its argv and environment, then has headless Chromium open the
/// URL it was given and dump the page it lands on. stsexec's stderr is its stderr, so a run's
/// output is complete only once it has finished.
fn recording_browser(dir: &Path) -> String {
    let script = dir.join("browser.sh");
    let d = dir.display();
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             printf '%s\\n' \"$0\" \"$@\" > '{d}/argv'\n\
             env > '{d}/env'\n\
             chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
             --disable-background-networking --disable-component-update --disable-sync \
             --user-data-dir='{d}/profile' --dump-dom \"$1\" > '{d}/page.html' 2> '{d}/chromium.log'\n\
             echo $? > '{d}/status'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// The account `work` (its role `admin`) with moto as STS and `fake` as the endpoint.
fn console_sandbox(moto: &Moto, fake: &FakeSignin) -> Sandbox {
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("AWS_ENDPOINT_URL_SIGNIN", &fake.base);
    sandbox
}

/// The role session stsexec cached for `admin`: its key id and whether MFA stands behind it.
fn cached_role(sandbox: &Sandbox) -> (String, bool) {
    let record = read_json(&sandbox.cache_file(".stsexec~work~role~123456789012~admin.json"));
    (
        record["access_key_id"].as_str().unwrap().to_string(),
        record["with_mfa"].as_bool().unwrap(),
    )
}

const HOME_US_EAST_1: &str =
    "https://us-east-1.console.aws.amazon.com/console/home?region=us-east-1";

#[test]
fn chromium_opens_the_console_as_the_role_and_the_browser_never_sees_the_token() {
    let moto = Moto::start();
    let fake = FakeSignin::start(Answer::Token);
    let mut sandbox = console_sandbox(&moto, &fake);
    let dir = tempfile::tempdir().unwrap();
    let browser = recording_browser(dir.path());
    sandbox.set_env("BROWSER", &browser);
    let code = fresh_code();
    let run = sandbox.run(&["work", "-t", &code, "--role", "admin", "--console", "-v"]);
    run.assert_ok().assert_no_secret().assert_stderr(&format!(
        "Opened the AWS console as work-role-admin-STS with {browser}"
    ));
    assert_eq!(
        read(dir.path(), "status").trim(),
        "0",
        "{}",
        read(dir.path(), "chromium.log")
    );
    // The role session exec mode would have used, chained from the MFA session.
    let (key_id, with_mfa) = cached_role(&sandbox);
    assert!(with_mfa);
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].session["sessionId"], key_id.as_str());
    assert_eq!(
        requests[0].session_duration, None,
        "role chaining: the endpoint refuses SessionDuration"
    );
    // Chromium landed on the login page, which shows the token.
    let page = read(dir.path(), "page.html");
    assert!(
        page.contains("Signed in to the fake console") && page.contains(&requests[0].token),
        "{page}"
    );
    let logins = fake.logins();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert!(logins[0].known);
    assert_eq!(
        (logins[0].issuer.as_str(), logins[0].destination.as_str()),
        ("stsexec", HOME_US_EAST_1)
    );
    // The browser's command line is the local redirect, and neither it nor its environment
    // holds a secret; -v named neither URL.
    let (argv, env) = (read(dir.path(), "argv"), read(dir.path(), "env"));
    assert!(
        !argv.contains(MARKER) && !env.contains(MARKER),
        "{argv}\n{env}"
    );
    let local = argv.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(argv.lines().count(), 2, "{argv}");
    assert!(local.starts_with("http://127.0.0.1:"), "{argv}");
    assert!(
        !run.stderr.contains(&local)
            && !run.stderr.contains("SigninToken=")
            && !run.stderr.contains("signin-token"),
        "{}",
        run.stderr
    );
    // Asked again, the redirect is gone.
    let host = local
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    assert!(std::net::TcpStream::connect(host).is_err());
    // Again: the cached role session, no STS call, no code.
    sandbox
        .run(&["work", "--role", "admin", "--console=print"])
        .assert_ok();
    assert_eq!((moto.session_tokens(), moto.assumed_roles().len()), (1, 1));
    assert_eq!(fake.token_requests().len(), 2);
}

#[test]
fn print_mode_prints_the_sign_in_url_and_keys_based_roles_ask_a_console_session_length() {
    let moto = Moto::start();
    let fake = FakeSignin::start(Answer::Token);
    let sandbox = console_sandbox(&moto, &fake);
    let run = sandbox.run(&[
        "work",
        "--role",
        "admin",
        "--region",
        "eu-west-1",
        "--console=print",
    ]);
    run.assert_ok().assert_no_secret();
    let (key_id, with_mfa) = cached_role(&sandbox);
    assert!(!with_mfa);
    let requests = fake.token_requests();
    assert_eq!(requests[0].session["sessionId"], key_id.as_str());
    let asked: u64 = requests[0]
        .session_duration
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (3000..=3600).contains(&asked),
        "the role session's time left: {asked}"
    );
    assert_eq!(
        run.stdout,
        format!(
            "{}/federation?Action=login&Issuer=stsexec&Destination=https%3A%2F%2Feu-west-1.console.aws.amazon.com%2Fconsole%2Fhome%3Fregion%3Deu-west-1&SigninToken={}\n",
            fake.base, requests[0].token
        )
    );
    let page = sandbox
        .run(&[
            "work",
            "--role",
            "admin",
            "--console=print",
            "--console-destination",
            "https://console.aws.amazon.com/s3/home",
        ])
        .stdout
        .clone();
    assert!(
        page.contains("Destination=https%3A%2F%2Fconsole.aws.amazon.com%2Fs3%2Fhome&"),
        "{page}"
    );
}

#[test]
fn a_web_identity_role_opens_the_console_too() {
    let moto = Moto::start();
    let fake = FakeSignin::start(Answer::Token);
    let sandbox = console_sandbox(&moto, &fake);
    std::fs::remove_dir_all(&sandbox.creds).unwrap();
    let jwt = sandbox.home.path().join("oidc.jwt");
    write_file(&jwt, "eyJhbGciOiJSUzI1NiJ9.SECRETMARKER-jwt.c2ln\n", 0o644);
    let flag = format!("--web-identity={}", jwt.display());
    let run = sandbox.run(&[
        "ci",
        "--role",
        "arn:aws:iam::123456789012:role/deploy",
        &flag,
        "--console=print",
    ]);
    run.assert_ok().assert_no_secret();
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].session["sessionToken"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(
        requests[0].session_duration, None,
        "web identity: no SessionDuration"
    );
    assert!(run.stdout.contains(&requests[0].token));
}

#[test]
fn without_a_role_it_refuses_and_says_why_before_any_call() {
    let moto = Moto::start();
    let fake = FakeSignin::start(Answer::Token);
    let sandbox = console_sandbox(&moto, &fake);
    for args in [
        &["work", "--console"][..],
        &["work", "--mfa", "--console"],
        &["work", "-t", "123456", "--console=print"],
    ] {
        sandbox
            .run(args)
            .assert_code(125)
            .assert_stderr("stsexec: --console opens the console only as a role session, because without a role it would take GetFederationToken (what aws-vault and granted use), which cannot carry MFA, so policies that require MFA deny in the console; use a role that trusts the user with MFA: stsexec work --mfa --role NAME --console\n");
    }
    assert_eq!((moto.session_tokens(), moto.assumed_roles().len()), (0, 0));
    assert!(fake.token_requests().is_empty());
    // The other usage mistakes are clap's or one sentence.
    sandbox
        .run(&["work", "--role", "admin", "--console", "--", "true"])
        .assert_code(125)
        .assert_stderr("'--console[=<HOW>]' cannot be used with '[COMMAND]...'");
    sandbox
        .run(&["work", "--role", "admin", "--console", "--json"])
        .assert_code(125)
        .assert_stderr("cannot be used with");
    sandbox
        .run(&[
            "work",
            "--role",
            "admin",
            "--console",
            "--console-destination",
            "http://x/",
        ])
        .assert_code(125)
        .assert_stderr("--console-destination \"http://x/\" is not an https URL");
}

#[test]
fn bad_answers_are_one_sentence_naming_the_endpoint() {
    let moto = Moto::start();
    let cases = [
        (
            Answer::Refuse,
            "refused the role session (HTTP 400: Invalid credentials parameter)",
        ),
        (
            Answer::NotJson,
            "answered with something other than a sign-in token (not JSON)",
        ),
        (
            Answer::Huge,
            "answered with something other than a sign-in token (more than 64 KiB)",
        ),
    ];
    for (answer, words) in cases {
        let fake = FakeSignin::start(answer);
        let sandbox = console_sandbox(&moto, &fake);
        let run = sandbox.run(&["work", "--role", "admin", "--console", "-v"]);
        run.assert_code(125)
            .assert_no_secret()
            .assert_stderr(&format!(
                "stsexec: the console sign-in endpoint {}/federation {words}",
                fake.base
            ));
        assert_eq!(
            run.stderr.matches("stsexec: the console").count(),
            1,
            "{}",
            run.stderr
        );
    }
    // Down: nothing listens.
    let port = free_port();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env(
        "AWS_ENDPOINT_URL_SIGNIN",
        &format!("http://127.0.0.1:{port}"),
    );
    sandbox
        .run(&["work", "--role", "admin", "--console"])
        .assert_code(125)
        .assert_stderr(&format!(
            "stsexec: cannot reach the console sign-in endpoint http://127.0.0.1:{port}/federation: "
        ));
}

#[test]
fn print_on_a_terminal_warns_first() {
    let moto = Moto::start();
    let fake = FakeSignin::start(Answer::Token);
    let sandbox = console_sandbox(&moto, &fake);
    let run = sandbox.run_on_terminal(&["work", "--role", "admin", "--console=print"], "");
    let seen = format!("{}{}", run.stdout, run.stderr);
    assert!(
        seen.contains("stsexec: warning: --console=print writes a sign-in URL to the terminal"),
        "{seen}"
    );
    assert!(seen.contains("Action=login&Issuer=stsexec"), "{seen}");
}

#[test]
fn another_users_request_gets_404_and_leaves_the_redirect_for_ours() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test asks the redirect as another user, which needs root (CI runs as root)"
    );
    let mut redirect = Redirect::bind(redirect::WAIT).unwrap();
    let local = redirect.local_url().expose().to_string();
    let target = Secret::new(format!("https://signin.example/?SigninToken={MARKER}"));
    let server = std::thread::spawn(move || (redirect.serve(&target, None).unwrap(), redirect));
    let as_nobody = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args([
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &local,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&as_nobody.stdout),
        "404",
        "{}",
        String::from_utf8_lossy(&as_nobody.stderr)
    );
    let ours = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code} %{redirect_url}",
            &local,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ours.stdout),
        format!("302 https://signin.example/?SigninToken={MARKER}")
    );
    let (ended, _redirect) = server.join().unwrap();
    assert_eq!(ended, redirect::Ended::Answered);
}
