//! `--console` (DESIGN §16): the sign-in URL from the federation endpoint (a fake of it in
//! support/signin.rs), the one-shot local redirect followed by a real headless Chromium, and
//! the bad answers, each a sentence naming the endpoint.

use crate::support::MARKER;
use crate::support::signin::{Answer, FakeSignin};
use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};
use stsexec::console::browser::Candidate;
use stsexec::console::redirect::{self, Redirect};
use stsexec::console::{self, Federation, RoleOrigin};
use stsexec::report::Reporter;
use stsexec::secret::Secret;
use stsexec::session::Credentials;

/// A bound for a broken run, never a timing the test depends on.
const LIMIT: Duration = Duration::from_secs(90);

fn role_session() -> Credentials {
    Credentials {
        access_key_id: "ASIAROLESESSION00001".to_string(),
        secret_access_key: Secret::new(format!("{MARKER}/role+session+key")),
        session_token: Some(Secret::new(format!("{MARKER}-role-session-token=="))),
        expiration: Some(SystemTime::now() + Duration::from_secs(3600)),
    }
}

fn federation(fake: &FakeSignin) -> Federation {
    Federation::from_base(&fake.base).unwrap()
}

const DESTINATION: &str = "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1";

fn sign_in(fake: &FakeSignin, origin: RoleOrigin) -> Result<Secret, console::ConsoleError> {
    console::sign_in_url(
        &federation(fake),
        &role_session(),
        origin,
        DESTINATION,
        Duration::from_secs(10),
        SystemTime::now(),
    )
}

#[test]
fn the_endpoint_gets_the_session_json_and_session_duration_only_when_allowed() {
    let fake = FakeSignin::start(Answer::Token);
    let url = sign_in(&fake, RoleOrigin::LongLivedKeys).unwrap();
    sign_in(&fake, RoleOrigin::Chained).unwrap();
    sign_in(&fake, RoleOrigin::WebIdentity).unwrap();
    let requests = fake.token_requests();
    assert_eq!(requests.len(), 3);
    let creds = role_session();
    assert_eq!(
        requests[0].session,
        serde_json::json!({
            "sessionId": creds.access_key_id,
            "sessionKey": creds.secret_access_key.expose(),
            "sessionToken": creds.session_token.as_ref().unwrap().expose(),
        })
    );
    let asked: u64 = requests[0]
        .session_duration
        .as_deref()
        .unwrap()
        .parse()
        .unwrap();
    assert!((3500..=3600).contains(&asked), "{asked}");
    assert_eq!(requests[1].session_duration, None, "role chaining");
    assert_eq!(requests[2].session_duration, None, "web identity");
    let expected = format!(
        "{}/federation?Action=login&Issuer=stsexec&Destination=https%3A%2F%2Feu-west-1.console.aws.amazon.com%2Fconsole%2Fhome%3Fregion%3Deu-west-1&SigninToken={}-signin-token-1",
        fake.base, MARKER
    );
    assert_eq!(url.expose(), expected);
}

#[test]
fn bad_answers_are_one_sentence_naming_the_endpoint() {
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
        let e = sign_in(&fake, RoleOrigin::Chained).unwrap_err().to_string();
        let endpoint = format!("the console sign-in endpoint {}/federation", fake.base);
        assert!(
            e.contains(&endpoint) && e.contains(words),
            "{answer:?}: {e}"
        );
        assert!(!e.contains(MARKER) && !e.contains('\n'), "{e}");
    }
    // Down: a port that was just free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = console::sign_in_url(
        &Federation::from_base(&format!("http://127.0.0.1:{port}")).unwrap(),
        &role_session(),
        RoleOrigin::Chained,
        DESTINATION,
        Duration::from_secs(10),
        SystemTime::now(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.starts_with(&format!(
            "cannot reach the console sign-in endpoint http://127.0.0.1:{port}/federation: "
        )),
        "{e}"
    );
}

/// A `$BROWSER` that records its argv and environment, then has headless Chromium open the
/// URL it was given and dump the page it lands on; `done` (a FIFO) says it has finished.
pub fn recording_browser(dir: &Path) -> String {
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
             echo $? > '{d}/done'\n"
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let fifo = dir.join("done");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    script.display().to_string()
}

/// Waits for the recording browser to finish; its exit status.
pub fn browser_finished(dir: &Path) -> String {
    let fifo = dir.join("done");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || tx.send(std::fs::read_to_string(fifo)));
    rx.recv_timeout(LIMIT)
        .expect("the browser script finished")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn chromium_follows_the_one_shot_redirect_to_the_login_page() {
    let fake = FakeSignin::start(Answer::Token);
    let url = sign_in(&fake, RoleOrigin::Chained).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let browser = recording_browser(dir.path());
    let environment: Vec<(OsString, OsString)> = [
        ("PATH", "/usr/bin:/bin".to_string()),
        ("HOME", dir.path().display().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.into(), v.into()))
    .collect();
    let candidates = [Candidate::from_command(&browser).unwrap()];
    let opened = console::open_with(&url, &candidates, &environment, Reporter::new(true, false));
    assert_eq!(browser_finished(dir.path()), "0");
    assert_eq!(opened.unwrap(), browser);
    let page = std::fs::read_to_string(dir.path().join("page.html")).unwrap();
    let token = format!("{MARKER}-signin-token-1");
    assert!(
        page.contains("Signed in to the fake console") && page.contains(&token),
        "{page}"
    );
    let logins = fake.logins();
    assert_eq!(logins.len(), 1, "{logins:?}");
    assert!(logins[0].known && logins[0].issuer == "stsexec");
    assert_eq!(logins[0].destination, DESTINATION);
    let argv = std::fs::read_to_string(dir.path().join("argv")).unwrap();
    let env = std::fs::read_to_string(dir.path().join("env")).unwrap();
    assert!(
        !argv.contains(MARKER) && !env.contains(MARKER),
        "{argv}\n{env}"
    );
    let local = argv.lines().nth(1).unwrap();
    assert!(local.starts_with("http://127.0.0.1:"), "{argv}");
    assert_eq!(
        argv.lines().count(),
        2,
        "the URL is the only argument: {argv}"
    );
    // The redirect answered once and is gone.
    assert!(
        std::net::TcpStream::connect(
            local
                .trim_start_matches("http://")
                .split('/')
                .next()
                .unwrap()
        )
        .is_err()
    );
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
