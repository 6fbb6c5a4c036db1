//! The one outbound layer (issue 18 item 2, issue 20 item 6): IAM waits as STS does, and
//! plain http is judged by a real URL parser, so neither an upper-case scheme nor a host that
//! merely starts like a loopback address lets a secret cross the network in cleartext.

use crate::support::fault::{FaultServer, Reply};
use crate::support::iam::FakeIam;
use crate::support::moto::Moto;
use crate::support::*;

#[test]
fn a_slow_iam_is_announced_on_a_terminal_after_a_second() {
    // The fake answers GetCallerIdentity as user jb; IAM itself never answers.
    let sts = FakeIam::start();
    let iam = FaultServer::start(&[Reply::Hang]);
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_ENDPOINT_URL_STS", &sts.url);
    sandbox.set_env("AWS_ENDPOINT_URL_IAM", &iam.url);
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "3s");
    let run = sandbox.run_on_terminal(&["work", "--rotate", "--no-session"], "");
    assert_eq!(run.code, Some(125), "{run:#?}");
    assert!(
        run.stdout
            .contains(&format!("Waiting for IAM at {} (ListAccessKeys)…", iam.url)),
        "{run:#?}"
    );
    assert!(
        run.stdout
            .contains("did not answer ListAccessKeys within 3 s"),
        "{run:#?}"
    );
}

#[test]
fn the_bearer_token_never_goes_to_a_cleartext_remote_host() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "SECRETMARKER-bearer");
    for url in [
        "HTTP://gh.example/idtoken?api-version=2.0",
        "http://127.evil.example/idtoken",
        "http://127.0.0.1.evil.example:80/idtoken",
        "http://localhost.evil.example/idtoken",
    ] {
        sandbox.set_env("ACTIONS_ID_TOKEN_REQUEST_URL", url);
        sandbox
            .run(&[
                "ci",
                "--role",
                "arn:aws:iam::123456789012:role/deploy",
                "--web-identity",
                "--",
                "true",
            ])
            .assert_code(125)
            .assert_stderr("is plain http on another host")
            .assert_no_secret();
    }
}

#[test]
fn an_upper_case_plain_http_sts_endpoint_is_warned_about() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_ENDPOINT_URL_STS", "HTTP://127.evil.invalid:9/");
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "2s");
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("the STS endpoint http://127.evil.invalid:9/ is plain http on another host")
        .assert_no_secret();
}
