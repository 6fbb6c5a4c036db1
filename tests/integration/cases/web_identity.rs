//! `--role R --web-identity[=FILE]` (DESIGN §11): moto's AssumeRoleWithWebIdentity with a
//! token file and with a fake of GitHub Actions' token endpoint; no key files anywhere; the
//! token never on stderr or a command line; the CI's role variables never reach the command;
//! `--server` fetches a fresh token for every renewal.

use crate::support::github::{Answer, BEARER, FakeGitHub};
use crate::support::moto::Moto;
use crate::support::*;

const DEPLOY: &str = "arn:aws:iam::123456789012:role/deploy";
/// A JWS of GitHub's shape (issuer, subject, audience; the marker as its signature), whose
/// claims the cache reads for the session's identity (issue 20, item 1).
const TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9.",
    // {"iss":"https://token.actions.githubusercontent.com","sub":"repo:acme/app:ref:refs/heads/main","aud":"sts.amazonaws.com"}
    "eyJpc3MiOiJodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRlbnQuY29tIiwic3ViIjoicmVwbzphY21lL2FwcDpyZWY6cmVmcy9oZWFkcy9tYWluIiwiYXVkIjoic3RzLmFtYXpvbmF3cy5jb20ifQ",
    ".SECRETMARKER-file-jwt"
);
/// Another repository's token (a fork's): the same issuer and audience, another subject.
const FORK_TOKEN: &str = concat!(
    "eyJhbGciOiJSUzI1NiJ9.",
    // {"iss":"https://token.actions.githubusercontent.com","sub":"repo:fork/app:ref:refs/heads/main","aud":"sts.amazonaws.com"}
    "eyJpc3MiOiJodHRwczovL3Rva2VuLmFjdGlvbnMuZ2l0aHVidXNlcmNvbnRlbnQuY29tIiwic3ViIjoicmVwbzpmb3JrL2FwcDpyZWY6cmVmcy9oZWFkcy9tYWluIiwiYXVkIjoic3RzLmFtYXpvbmF3cy5jb20ifQ",
    ".SECRETMARKER-fork-jwt"
);

/// The variables a CI sets that name another role or credential source (issue 15, part 5).
const CI_VARIABLES: [(&str, &str); 6] = [
    ("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/secrets/token"),
    ("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/other"),
    ("AWS_ROLE_SESSION_NAME", "ci-session"),
    (
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "http://169.254.170.23/v1/credentials",
    ),
    (
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
        "SECRETMARKER-container",
    ),
    (
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "/v2/credentials/x",
    ),
];

/// A CI machine: no credentials directory at all (stsexec makes it for the cache), no key
/// files, no accounts file; STS is moto.
fn ci(moto: &Moto) -> Sandbox {
    let sandbox = Sandbox::new().with_sts(&moto.url);
    std::fs::remove_dir_all(&sandbox.creds).unwrap();
    sandbox
}

fn token_file(sandbox: &Sandbox) -> String {
    let path = sandbox.home.path().join("oidc.jwt");
    write_file(&path, &format!("{TOKEN}\n"), 0o644);
    path.display().to_string()
}

/// The web-identity cache files (`.stsexec~<account>~webid~<identity>~…`).
fn webid_files(sandbox: &Sandbox) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(&sandbox.creds)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains("~webid~"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn key_files(sandbox: &Sandbox) -> Vec<String> {
    std::fs::read_dir(&sandbox.creds)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with("_key") || n == "accounts.json")
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_token_file_gives_the_aws_cli_the_role_without_any_key_file() {
    let moto = Moto::start();
    let sandbox = ci(&moto);
    let jwt = token_file(&sandbox);
    let flag = format!("--web-identity={jwt}");
    let args = [
        "ci",
        "--role",
        DEPLOY,
        &flag,
        "--",
        "aws",
        "sts",
        "get-caller-identity",
        "--query",
        "Arn",
        "--output",
        "text",
    ];
    let run = sandbox.run(&args);
    run.assert_ok().assert_no_secret();
    assert!(
        run.stdout
            .trim()
            .starts_with("arn:aws:sts::123456789012:assumed-role/deploy/"),
        "{run:#?}"
    );
    assert_eq!(moto.assumed_roles().len(), 1);
    assert_eq!(
        key_files(&sandbox),
        Vec::<String>::new(),
        "no key files exist"
    );
    assert_eq!(mode_of(&sandbox.creds), 0o700);
    let cached = webid_files(&sandbox);
    assert!(
        matches!(&cached[..], [name] if name.starts_with(".stsexec~ci~webid~") && name.ends_with("~123456789012~deploy.json")),
        "{cached:?}"
    );
    // Cached like any role session: the next run makes no call.
    let again = sandbox.run(&args);
    again.assert_ok().assert_stderr(
        "Cache is valid for account ci (role arn:aws:iam::123456789012:role/deploy)",
    );
    assert_eq!(moto.assumed_roles().len(), 1);
}

/// Issue 20, item 1: a cached web-identity session goes only to a run that presents a token
/// of the same identity (issuer, subject, audience); the token is read on every run.
#[test]
fn a_cached_session_is_served_only_to_a_token_of_the_same_identity() {
    let moto = Moto::start();
    let sandbox = ci(&moto);
    let jwt = token_file(&sandbox);
    let flag = format!("--web-identity={jwt}");
    let args = ["ci", "--role", DEPLOY, &flag, "--json"];
    let first = sandbox.run(&args);
    first.assert_ok().assert_no_secret();
    let again = sandbox.run(&args);
    again
        .assert_ok()
        .assert_stderr("Cache is valid for account ci");
    assert_eq!(again.stdout, first.stdout);
    assert_eq!(moto.assumed_roles().len(), 1);
    // The token file is gone (a job without the token): no session, STS not called.
    std::fs::remove_file(&jwt).unwrap();
    let tokenless = sandbox.run(&args);
    tokenless.assert_code(125).assert_stderr(&format!(
        "stsexec: web identity token file {jwt} does not exist; check the path given to --web-identity=FILE\n"
    ));
    assert_eq!(tokenless.stdout, "");
    // Another repository's token: never the first job's session; STS decides (moto grants it
    // a session of its own, cached apart).
    write_file(std::path::Path::new(&jwt), FORK_TOKEN, 0o644);
    let fork = sandbox.run(&args);
    fork.assert_ok().assert_no_secret();
    let key =
        |out: &str| serde_json::from_str::<serde_json::Value>(out).unwrap()["access_key"].clone();
    assert_ne!(key(&fork.stdout), key(&first.stdout), "{fork:#?}");
    assert_eq!(moto.assumed_roles().len(), 2);
    assert_eq!(webid_files(&sandbox).len(), 2);
    // And the first identity still gets its own session back.
    write_file(std::path::Path::new(&jwt), TOKEN, 0o644);
    let back = sandbox.run(&args);
    back.assert_ok();
    assert_eq!(key(&back.stdout), key(&first.stdout));
    assert_eq!(moto.assumed_roles().len(), 2);
}

/// Issue 19: a container whose HOME does not exist. No file is needed, so the run goes
/// without a cache, saying so in one warning line, in every output mode.
#[test]
fn a_home_that_does_not_exist_runs_without_a_cache_in_every_mode() {
    let moto = Moto::start();
    let mut sandbox = ci(&moto);
    let jwt = token_file(&sandbox);
    let home = sandbox.home.path().join("nonexistent");
    sandbox.set_env("HOME", home.to_str().unwrap());
    sandbox.remove_env("STSEXEC_CREDS_DIR");
    let flag = format!("--web-identity={jwt}");
    let warning = format!(
        "stsexec: warning: HOME {} does not exist, so the web-identity session is not cached and each run calls STS; set HOME or --creds-dir to a directory that exists to cache it\n",
        home.display()
    );
    let modes: [&[&str]; 5] = [
        &["--", "sh", "-c", "echo $STSEXEC_ACCOUNT"],
        &["--json"],
        &["--export"],
        &["--export=fish"],
        &["--credential-process"],
    ];
    for (n, mode) in modes.iter().enumerate() {
        let mut args = vec!["ci", "--role", DEPLOY, &flag];
        args.extend_from_slice(mode);
        let run = sandbox.run(&args);
        run.assert_ok().assert_no_secret();
        assert!(run.stderr.starts_with(&warning), "{run:#?}");
        assert_eq!(run.stderr.matches("warning").count(), 1, "{run:#?}");
        assert!(!run.stdout.is_empty());
        assert_eq!(
            moto.assumed_roles().len(),
            n + 1,
            "no cache: one call per run"
        );
    }
    assert!(!home.exists(), "nothing was created");
}

#[test]
fn aws_web_identity_token_file_and_a_role_name_work_and_every_output_mode_serves_it() {
    let moto = Moto::start();
    let mut sandbox = ci(&moto);
    std::fs::create_dir(&sandbox.creds).unwrap();
    std::fs::set_permissions(
        &sandbox.creds,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    sandbox.write_accounts(&format!(r#"{{"prod": "{ACCOUNT_ARN}"}}"#));
    let jwt = token_file(&sandbox);
    sandbox.set_env("AWS_WEB_IDENTITY_TOKEN_FILE", &jwt);
    sandbox.set_env("GITHUB_RUN_ID", "1234567");
    sandbox.set_env("GITHUB_RUN_ATTEMPT", "2");
    let json = sandbox.run(&["prod", "--role", "deploy", "--web-identity", "--json"]);
    json.assert_ok().assert_no_secret();
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(parsed["session_token"].is_string() && parsed["expiration"].is_string());
    // The session is named after the CI run.
    assert_eq!(
        moto.assumed_roles(),
        [(DEPLOY.to_string(), "1234567-2".to_string())]
    );
    let process = sandbox.run(&[
        "prod",
        "--role",
        "deploy",
        "--web-identity",
        "--credential-process",
    ]);
    process.assert_ok();
    assert!(process.stdout.contains("\"Version\":1") || process.stdout.contains("\"Version\": 1"));
    let export = sandbox.run(&["prod", "--role", "deploy", "--web-identity", "--export"]);
    export.assert_ok();
    assert!(
        export.stdout.contains("unset AWS_WEB_IDENTITY_TOKEN_FILE"),
        "{export:#?}"
    );
    assert_eq!(
        moto.assumed_roles().len(),
        1,
        "every mode reused the cached session"
    );
}

#[test]
fn the_token_stays_off_stderr_and_command_lines_and_ci_variables_stay_out_of_the_child() {
    let moto = Moto::start();
    let mut sandbox = ci(&moto);
    let jwt = token_file(&sandbox);
    for (name, value) in CI_VARIABLES {
        sandbox.set_env(name, value);
    }
    let flag = format!("--web-identity={jwt}");
    let show = r#"tr '\0' ' ' < /proc/$$/cmdline; echo; env"#;
    let run = sandbox.run(&["-v", "ci", "--role", DEPLOY, &flag, "--", "sh", "-c", show]);
    run.assert_ok().assert_no_secret();
    assert!(run.stderr.contains("AssumeRoleWithWebIdentity"), "{run:#?}");
    let (cmdline, env_text) = run.stdout.split_once('\n').unwrap();
    assert!(!cmdline.contains(MARKER), "{cmdline}");
    let env = parse_env(env_text);
    for (name, _) in CI_VARIABLES {
        assert!(!env.contains_key(name), "{name} reached the command");
    }
    assert_eq!(env["STSEXEC_ACCOUNT"], "ci-role-deploy-STS");
    assert_eq!(env["AWS_ACCOUNT_ID"], "123456789012");
    assert!(
        !env_text.contains(MARKER),
        "the token reached the environment"
    );
}

#[test]
fn github_actions_token_request_success_and_audience() {
    let moto = Moto::start();
    let github = FakeGitHub::start("sts.amazonaws.com", Answer::Token);
    let mut sandbox = ci(&moto);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &github.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
    let run = sandbox.run(&[
        "-v",
        "ci",
        "--role",
        DEPLOY,
        "--web-identity",
        "--",
        "aws",
        "sts",
        "get-caller-identity",
        "--query",
        "Arn",
        "--output",
        "text",
    ]);
    run.assert_ok().assert_no_secret();
    assert!(
        run.stdout.contains("assumed-role/deploy/stsexec-ci"),
        "{run:#?}"
    );
    assert_eq!(github.requests(), 1);
    assert_eq!(github.audiences(), ["sts.amazonaws.com"]);

    let custom = FakeGitHub::start("api://AzureADTokenExchange", Answer::Token);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &custom.url);
    let run = sandbox.run(&[
        "ci",
        "--role",
        DEPLOY,
        "--web-identity",
        "--audience",
        "api://AzureADTokenExchange",
        "--refresh",
        "--",
        "true",
    ]);
    run.assert_ok().assert_no_secret();
    assert_eq!(custom.audiences(), ["api://AzureADTokenExchange"]);
}

#[test]
fn github_actions_refusals_are_sentences() {
    let moto = Moto::start();
    let mut sandbox = ci(&moto);
    let args = ["ci", "--role", DEPLOY, "--web-identity", "--", "true"];

    // Not in a job with `permissions: id-token: write`: the three sources are named.
    let none = sandbox.run(&args);
    none.assert_code(125).assert_stderr(
        "stsexec: --web-identity found no OIDC token: pass --web-identity=FILE, set AWS_WEB_IDENTITY_TOKEN_FILE, or in GitHub Actions give the job `permissions: id-token: write` (ACTIONS_ID_TOKEN_REQUEST_URL is not set)\n",
    );

    let github = FakeGitHub::start("sts.amazonaws.com", Answer::Token);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &github.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SECRETMARKER-wrong");
    let wrong = sandbox.run(&args);
    wrong.assert_code(125).assert_no_secret().assert_stderr(&format!(
        "stsexec: GitHub Actions' token endpoint {} refused the token request (HTTP 401: Bad credentials); ACTIONS_ID_TOKEN_REQUEST_TOKEN was not accepted",
        github.url.split('?').next().unwrap()
    ));
    assert_eq!(wrong.stderr.lines().count(), 1, "{wrong:#?}");

    let html = FakeGitHub::start("sts.amazonaws.com", Answer::NotJson);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &html.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
    let not_json = sandbox.run(&args);
    not_json
        .assert_code(125)
        .assert_stderr("answered with something other than the JSON {\"value\": …} it sends");
    assert_eq!(html.requests(), 1, "a 200 that is not JSON is not retried");

    // Nobody listening: a bounded wait and a sentence.
    sandbox.set_env(
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        &format!("http://127.0.0.1:{}/idtoken?api-version=2.0", free_port()),
    );
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "3s");
    let down = sandbox.run(&args);
    down.assert_code(125)
        .assert_stderr("stsexec: cannot reach GitHub Actions' token endpoint http://127.0.0.1:");
    assert_eq!(moto.assumed_roles().len(), 0);
}

#[test]
fn usage_mistakes_name_the_fix() {
    let sandbox = Sandbox::new();
    let no_role = sandbox.run(&["work", "--web-identity", "--", "true"]);
    no_role.assert_code(125).assert_stderr(
        "stsexec: --web-identity assumes a role with the CI's OIDC token: add --role ROLE (a role name from the accounts file, or a full role ARN)\n",
    );
    for extra in [
        &["--mfa"][..],
        &["-t", CODE],
        &["--mfa-process", "x"],
        &["--no-session"],
    ] {
        let mut args = vec!["work", "--role", "admin", "--web-identity"];
        args.extend_from_slice(extra);
        let run = sandbox.run(&args);
        run.assert_code(125).assert_stderr("cannot be used with");
    }
    let missing = sandbox.run(&["work", "--role", "admin", "--web-identity=/nonexistent/jwt"]);
    missing.assert_code(125).assert_stderr(
        "stsexec: web identity token file /nonexistent/jwt does not exist; check the path given to --web-identity=FILE\n",
    );
}

/// The long job of the server tests, on web identity: sessions of 15 minutes renewed once
/// 14m55s remain, so a renewal every few seconds; each must ask GitHub for a new token.
const LONG_JOB: &str = r#"
import json, os, sys, time
import boto3

session = boto3.Session()
sts = session.client("sts")
keys, failures = set(), []
end = time.time() + float(sys.argv[1])
while time.time() < end:
    try:
        arn = sts.get_caller_identity()["Arn"]
        keys.add(session.get_credentials().get_frozen_credentials().access_key)
        if "assumed-role/deploy" not in arn:
            failures.append(arn)
    except Exception as e:
        failures.append(repr(e))
    time.sleep(0.5)
with open("/proc/%d/cmdline" % os.getppid(), "rb") as f:
    parent = f.read().decode(errors="replace")
with open("/proc/self/cmdline", "rb") as f:
    own = f.read().decode(errors="replace")
print(json.dumps({"keys": len(keys), "failures": failures, "cmdlines": parent + " " + own}))
"#;

#[test]
fn a_server_renewal_requests_a_fresh_github_token_each_time() {
    let moto = Moto::start();
    let github = FakeGitHub::start("sts.amazonaws.com", Answer::Token);
    let mut sandbox = ci(&moto);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &github.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
    let window = 15 * 60 - 5;
    sandbox.set_env("STSEXEC_MIN_TTL", &format!("{window}s"));
    let script = sandbox.home.path().join("long_job.py");
    write_file(&script, LONG_JOB, 0o644);
    let run = sandbox.run(&[
        "ci",
        "--role",
        DEPLOY,
        "--web-identity",
        "-d",
        "15m",
        "--server",
        "--",
        "python3",
        script.to_str().unwrap(),
        "16",
    ]);
    run.assert_ok().assert_no_secret();
    let report: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}; {run:#?}"));
    assert_eq!(report["failures"], serde_json::json!([]), "{run:#?}");
    assert!(report["keys"].as_u64().unwrap() >= 3, "{report}; {run:#?}");
    assert!(!report["cmdlines"].as_str().unwrap().contains(MARKER));
    // One token request per STS call: the first session and each renewal.
    let calls = moto.assumed_roles().len();
    assert!(calls >= 3, "{calls}");
    assert_eq!(github.requests(), calls);
}

/// Issue 19: `--list` left out an account that has only a web-identity session (while
/// `--clear ci` found it), did not mark such sessions, and its table wrapped at 80 columns.
#[test]
fn list_shows_web_identity_sessions_and_fits_80_columns() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    let flag = format!("--web-identity={}", token_file(&sandbox));
    sandbox
        .run(&["ci", "--role", DEPLOY, &flag, "--", "true"])
        .assert_ok();
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    for role in ["admin", "operations-readonly"] {
        sandbox
            .run(&["work", "--role", role, "--", "true"])
            .assert_ok();
    }

    let run = sandbox.run(&["--list"]);
    run.assert_ok();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("ci keys=missing ") && l.contains(" sessions=webid:deploy:")),
        "{run:#?}"
    );
    assert_eq!(sandbox.run(&["--list", "-q"]).stdout, "ci\nwork\n");

    sandbox.set_env("COLUMNS", "80");
    let table = sandbox.run_on_terminal(&["--list"], "");
    assert_eq!(table.code, Some(0), "{table:#?}");
    for line in table.stdout.lines() {
        assert!(
            line.trim_end_matches('\r').chars().count() <= 80,
            "wider than 80 columns: {line}\n{}",
            table.stdout
        );
    }
    assert!(
        table.stdout.contains("webid:deploy:")
            && table.stdout.contains("role:operations-readonly:"),
        "{}",
        table.stdout
    );
}

/// Issue 20 item 10: with GitHub's token request variables a process can mint OIDC tokens for
/// any audience. When `--web-identity` used them, the command (exec mode and `--server`) does
/// not get them; an `mfa_process` never does. A token file leaves them alone.
#[test]
fn github_token_request_variables_reach_neither_the_command_nor_an_mfa_process() {
    use crate::support::fault::{FaultServer, Reply};
    let moto = Moto::start();
    let github = FakeGitHub::start("sts.amazonaws.com", Answer::Token);
    let mut sandbox = ci(&moto);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &github.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
    let names = [
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    ];
    for server in [false, true] {
        let mut args = vec!["ci", "--role", DEPLOY, "--web-identity"];
        if server {
            args.push("--server");
        }
        let (run, env) = sandbox.child_env(&args);
        run.assert_ok().assert_no_secret();
        for name in names {
            assert!(
                !env.contains_key(name),
                "{name} (server: {server}): {run:#?}"
            );
        }
    }
    assert!(github.requests() >= 1);
    // A token file: the variables were not used and pass through.
    let jwt = token_file(&sandbox);
    let (run, env) = sandbox.child_env(&["ci", "--role", DEPLOY, &format!("--web-identity={jwt}")]);
    run.assert_ok();
    assert_eq!(env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"], BEARER);

    // An mfa_process, with the variables in stsexec's environment, never sees them.
    let sts = FaultServer::start(&[Reply::Ok]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", &github.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", BEARER);
    let seen = sandbox.home.path().join("mfa.env");
    let codes = sandbox.home.path().join("codes.sh");
    write_file(
        &codes,
        &format!("#!/bin/sh\nenv > {}\necho 123456\n", seen.display()),
        0o755,
    );
    sandbox
        .run(&[
            "work",
            "--mfa-process",
            codes.to_str().unwrap(),
            "--",
            "true",
        ])
        .assert_ok();
    let env = parse_env(&std::fs::read_to_string(&seen).unwrap());
    assert_eq!(env["STSEXEC_ACCOUNT_NAME"], "work", "the process ran");
    for name in names {
        assert!(!env.contains_key(name), "{name} reached the mfa_process");
    }
}
