//! Regression tests for defects found by real clients and by a red team (issues 9 and 10):
//! each failed before its fix.

use crate::support::moto::Moto;
use crate::support::*;
use std::fs;

#[test]
fn long_lived_keys_need_no_iam_user() {
    let mut sandbox = Sandbox::new();
    sandbox.remove_env("USER");
    sandbox.remove_env("LOGNAME");
    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok();
    assert_eq!(env["AWS_ACCESS_KEY_ID"], ACCESS_KEY);
    sandbox.run(&["work", "--json"]).assert_ok();
    sandbox.run(&["work", "--credential-process"]).assert_ok();
    // Where the user is needed (the default MFA device), the sentence says how to name it.
    sandbox
        .run(&["work", "--mfa", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("cannot tell the IAM user of account work: neither USER nor LOGNAME is set; write it to ");
    sandbox.set_env("USER", "not valid!");
    sandbox.run(&["work", "--", "true"]).assert_ok();
    sandbox
        .run(&["work", "--mfa", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("USER=\"not valid!\" is not an IAM user name");
}

#[test]
fn the_account_id_is_the_sessions_not_the_callers() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("AWS_ACCOUNT_ID", "111111111111");
    let (run, env) = sandbox.child_env(&["work", "--role", "arn:aws:iam::222233334444:role/x"]);
    run.assert_ok();
    assert_eq!(env["AWS_ACCOUNT_ID"], "222233334444", "the role's account");
    let (_, env) = sandbox.child_env(&["work"]);
    assert_eq!(
        env["AWS_ACCOUNT_ID"], "123456789012",
        "the accounts file's prefix"
    );
    sandbox.write_keys("other", ACCESS_KEY, SECRET_KEY);
    let (_, env) = sandbox.child_env(&["other"]);
    assert!(!env.contains_key("AWS_ACCOUNT_ID"), "unknown: removed");
}

#[test]
fn the_shared_aws_config_never_chooses_the_sts_endpoint() {
    let moto = Moto::start();
    // No endpoint in the environment: the shared config's endpoint_url (here moto, which
    // counts calls) must not be used; the regional default is, and errors name it.
    let mut sandbox = Sandbox::new();
    let aws = sandbox.home.path().join(".aws");
    fs::create_dir(&aws).unwrap();
    let config = format!(
        "[default]\nendpoint_url = {url}\n[profile evil]\nendpoint_url = {url}\n[services s]\nsts =\n  endpoint_url = {url}\n",
        url = moto.url
    );
    fs::write(aws.join("config"), config).unwrap();
    sandbox.set_env("AWS_PROFILE", "evil");
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "2s");
    sandbox
        .run(&["-v", "work", "--mfa", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("STS endpoint https://sts.us-east-1.amazonaws.com");
    assert_eq!(
        moto.session_tokens(),
        0,
        "the signed request went where ~/.aws/config said"
    );
}

#[test]
fn region_precedence_is_the_sdks_in_the_child_and_in_status() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_REGION", "eu-west-1");
    sandbox.set_env("AWS_DEFAULT_REGION", "us-west-2");
    let (_, env) = sandbox.child_env(&["work"]);
    assert_eq!(env["AWS_REGION"], "eu-west-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "eu-west-1");
    let status = sandbox.run(&["work", "--", stsexec(), "--status"]);
    status.assert_ok();
    assert!(status.stdout.contains("Region is eu-west-1"), "{status:#?}");
}

#[test]
fn endpoints_with_user_info_are_redacted_and_cleartext_is_warned_about() {
    let mut sandbox = Sandbox::new().with_sts("http://user:SECRETMARKER@192.0.2.1:9");
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "1s");
    let run = sandbox.run(&["work", "-t", CODE, "--", "true"]);
    run.assert_code(125)
        .assert_no_secret()
        .assert_stderr("the STS endpoint http://192.0.2.1:9 is plain http on another host");
}

#[test]
fn a_nested_run_says_what_it_replaces_and_which_region_it_keeps() {
    let sandbox = Sandbox::new();
    sandbox.write_keys("personal", ACCESS_KEY, SECRET_KEY);
    let run = sandbox.run(&[
        "work",
        "--region",
        "eu-west-1",
        "--",
        stsexec(),
        "personal",
        "--",
        "true",
    ]);
    run.assert_ok().assert_stderr(
        "Replacing work with personal (region eu-west-1 kept: personal has none of its own)",
    );
}

/// boto3 reads `AWS_ACCOUNT_ID` with the credentials and builds account-based endpoints from
/// it: the child must see the session's account, never the caller's.
#[test]
fn boto3_sees_the_sessions_account() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("AWS_ACCOUNT_ID", "111111111111");
    let python = venv().join("bin/python");
    let script = "import boto3; print(boto3.Session().get_credentials().account_id)";
    for (args, expected) in [
        (&["work", "--role", "admin"][..], "123456789012"),
        (
            &["work", "--role", "arn:aws:iam::222233334444:role/x"][..],
            "222233334444",
        ),
        (&["work"][..], "123456789012"),
    ] {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--", python.to_str().unwrap(), "-c", script]);
        let run = sandbox.run(&full);
        run.assert_ok();
        assert_eq!(run.stdout.trim(), expected, "{args:?}");
    }
}
