//! Every row of DESIGN §3 against moto: what the child gets, and what the cache saves.

use crate::support::moto::Moto;
use crate::support::*;
use std::time::{Duration, SystemTime};

const SESSION_VARS: [&str; 3] = [
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DELEGATION_TOKEN",
];

fn expiration_of(env: &std::collections::BTreeMap<String, String>) -> Duration {
    let exp = humantime::parse_rfc3339(&env["AWS_CREDENTIAL_EXPIRATION"]).unwrap();
    exp.duration_since(SystemTime::now()).unwrap()
}

#[test]
fn long_lived_keys_replace_stale_variables() {
    let mut sandbox = Sandbox::new();
    for (name, value) in [
        ("AWS_SESSION_TOKEN", "stale"),
        ("AWS_SECURITY_TOKEN", "stale"),
        ("AWS_DELEGATION_TOKEN", "stale"),
        ("AWS_CREDENTIAL_EXPIRATION", "2000-01-01T00:00:00Z"),
        ("AWS_PROFILE", "other"),
        ("AWS_DEFAULT_PROFILE", "other"),
        ("AWS_CREDENTIAL_FILE", "/tmp/x"),
        ("AWS_ACCESS_KEY_ID", "AKIASTALESTALESTALE1"),
        ("KEEP_ME", "yes"),
    ] {
        sandbox.set_env(name, value);
    }
    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok()
        .assert_stderr("Set keys for work AWS account")
        .assert_no_secret();
    assert_eq!(env["AWS_ACCESS_KEY_ID"], ACCESS_KEY);
    assert_eq!(env["AWS_ACCESS_KEY"], ACCESS_KEY);
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], SECRET_KEY);
    assert_eq!(env["AWS_SECRET_KEY"], SECRET_KEY);
    assert_eq!(env["STSEXEC_ACCOUNT"], "work");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert_eq!(env["AWS_DEFAULT_REGION"], "us-east-1");
    assert_eq!(env["KEEP_ME"], "yes");
    for gone in SESSION_VARS.iter().chain(&[
        "AWS_CREDENTIAL_EXPIRATION",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_CREDENTIAL_FILE",
    ]) {
        assert!(!env.contains_key(*gone), "{gone} reached the child");
    }
}

#[test]
fn account_names_are_case_insensitive_and_region_follows_the_rules() {
    let mut sandbox = Sandbox::new();
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{ACCOUNT_ARN}", "region": "eu-west-1"}}, "home": "arn:aws:iam::210987654321:"}}"#
    ));
    sandbox.write_keys("home", "AKIAHOMEHOMEHOMEHOME", "SECRETMARKER-home");
    sandbox.set_env("AWS_DEFAULT_REGION", "ap-south-1");
    let (run, env) = sandbox.child_env(&["WORK"]);
    run.assert_ok();
    assert_eq!(
        env["AWS_REGION"], "eu-west-1",
        "the account's region wins over the environment"
    );
    let (_, env) = sandbox.child_env(&["home"]);
    assert_eq!(env["AWS_REGION"], "ap-south-1", "then the environment's");
    let (_, env) = sandbox.child_env(&["home", "--region", "sa-east-1"]);
    assert_eq!(
        env["AWS_DEFAULT_REGION"], "sa-east-1",
        "--region wins over all"
    );
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "AKIAHOMEHOMEHOMEHOME");
}

#[test]
fn mfa_session_is_fetched_once_then_reused() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);

    let (run, env) = sandbox.child_env(&["work", "-t", CODE]);
    run.assert_ok()
        .assert_stderr("Set keys for work-MFA-STS AWS account")
        .assert_no_secret();
    assert_eq!(moto.session_tokens(), 1);
    assert_eq!(env["STSEXEC_ACCOUNT"], "work-MFA-STS");
    for name in SESSION_VARS {
        assert!(!env[name].is_empty(), "{name}");
        assert_eq!(env[name], env["AWS_SESSION_TOKEN"]);
    }
    assert_eq!(env["AWS_ACCESS_KEY"], env["AWS_ACCESS_KEY_ID"]);
    let left = expiration_of(&env);
    assert!(
        left > Duration::from_secs(11 * 3600) && left <= Duration::from_secs(12 * 3600),
        "{left:?}"
    );

    let cache = sandbox.cache_file(".stsexec~work~session.json");
    assert_eq!(mode_of(&cache), 0o600);
    let json = read_json(&cache);
    assert_eq!(json["version"], 2);
    assert_eq!(json["mfa_serial"], "arn:aws:iam::123456789012:mfa/jb");
    assert_eq!(json["produced_by"], "GetSessionToken");

    // Reused by --mfa (no terminal, no code: it would fail if it had to ask) and by plain runs.
    let (run, again) = sandbox.child_env(&["work", "--mfa"]);
    run.assert_ok()
        .assert_stderr("Cache is valid for account work");
    assert_eq!(again["AWS_SESSION_TOKEN"], env["AWS_SESSION_TOKEN"]);
    let (run, plain) = sandbox.child_env(&["work"]);
    run.assert_ok()
        .assert_stderr("Set keys for work-MFA-STS AWS account");
    assert_eq!(plain["AWS_SESSION_TOKEN"], env["AWS_SESSION_TOKEN"]);
    assert_eq!(moto.session_tokens(), 1, "the cache was not reused");

    // --no-session: the long-lived keys although a session is cached.
    let (run, keys) = sandbox.child_env(&["work", "--no-session"]);
    run.assert_ok();
    assert_eq!(keys["AWS_ACCESS_KEY_ID"], ACCESS_KEY);
    assert!(!keys.contains_key("AWS_SESSION_TOKEN"));

    // --refresh: a new session although the cached one is valid (with a new code: each
    // code works once, DESIGN §9).
    sandbox
        .run(&["work", "-t", "654321", "--refresh", "--", "true"])
        .assert_ok();
    assert_eq!(moto.session_tokens(), 2);
}

#[test]
fn role_from_long_lived_keys_is_seen_by_the_aws_cli() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let whoami = [
        "work",
        "--role",
        "admin",
        "--",
        "aws",
        "sts",
        "get-caller-identity",
    ];
    let run = sandbox.run(&whoami);
    run.assert_ok()
        .assert_stderr("Set keys for work-role-admin-STS AWS account")
        .assert_no_secret();
    let identity: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        identity["Arn"],
        "arn:aws:sts::123456789012:assumed-role/admin/jb-stsexec"
    );
    assert_eq!(
        moto.assumed_roles(),
        [(
            "arn:aws:iam::123456789012:role/admin".to_string(),
            "jb-stsexec".to_string()
        )]
    );
    assert_eq!(moto.session_tokens(), 0);

    let run = sandbox.run(&whoami);
    run.assert_ok().assert_stderr(
        "Cache is valid for account work (role arn:aws:iam::123456789012:role/admin)",
    );
    assert_eq!(
        moto.assumed_roles().len(),
        1,
        "the role cache was not reused"
    );
    let cache = sandbox.cache_file(".stsexec~work~role~123456789012~admin.json");
    assert_eq!(mode_of(&cache), 0o600);
    assert_eq!(read_json(&cache)["with_mfa"], false);
}

#[test]
fn mfa_then_role_chains_and_caches_both() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let (run, env) = sandbox.child_env(&[
        "work",
        "-t",
        CODE,
        "--role",
        "admin",
        "--session-name",
        "deploy",
        "--external-id",
        "tenant-42",
    ]);
    run.assert_ok().assert_no_secret();
    assert_eq!(env["STSEXEC_ACCOUNT"], "work-role-admin-STS");
    assert_eq!(moto.session_tokens(), 1);
    assert_eq!(moto.assumed_roles()[0].1, "deploy");
    assert!(expiration_of(&env) <= Duration::from_secs(3600));

    let run = sandbox.run(&[
        "work",
        "--mfa",
        "--role",
        "admin",
        "--",
        "aws",
        "sts",
        "get-caller-identity",
    ]);
    run.assert_ok();
    assert!(
        run.stdout.contains("assumed-role/admin/jb-stsexec"),
        "{}",
        run.stdout
    );
    // The cached role session was made for session name "deploy" and external id
    // tenant-42; this run asks for neither, so it is not reused (CloudTrail must name the
    // right session), but the cached MFA session is.
    assert_eq!((moto.session_tokens(), moto.assumed_roles().len()), (1, 2));
    assert_eq!(
        read_json(&sandbox.cache_file(".stsexec~work~role~123456789012~admin.json"))["with_mfa"],
        true
    );

    // A role session made from long-lived keys does not satisfy --mfa --role.
    let other = Sandbox::new().with_sts(&moto.url);
    other
        .run(&["work", "--role", "ops", "--", "true"])
        .assert_ok();
    other
        .run(&["work", "-t", CODE, "--role", "ops", "--", "true"])
        .assert_ok();
    assert_eq!(moto.assumed_roles().len(), 4);
}

#[test]
fn role_from_a_cached_mfa_session_is_capped_at_one_hour_with_a_notice() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let (run, env) = sandbox.child_env(&["work", "--role", "admin", "-d", "4h"]);
    run.assert_ok().assert_stderr("Role chaining");
    assert!(expiration_of(&env) <= Duration::from_secs(3600));
    assert_eq!(
        read_json(&sandbox.cache_file(".stsexec~work~role~123456789012~admin.json"))["with_mfa"],
        true
    );
    // Asked explicitly (--mfa --role), a longer duration is refused before any call.
    sandbox
        .run(&["work", "--mfa", "--role", "admin", "-d", "2h", "--", "true"])
        .assert_code(125)
        .assert_stderr("role chaining");
    assert_eq!(moto.assumed_roles().len(), 1);
}

#[test]
fn expired_sessions_are_fetched_again() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let cache = sandbox.cache_file(".stsexec~work~session.json");

    // Past its expiration: the plain run falls back to the keys, --mfa fetches a new one.
    let mut json = read_json(&cache);
    json["expiration"] = "2020-01-01T00:00:00Z".into();
    write_file(&cache, &json.to_string(), 0o600);
    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok();
    assert_eq!(env["STSEXEC_ACCOUNT"], "work");
    sandbox
        .run(&["work", "-t", fresh_code().as_str(), "--", "true"])
        .assert_ok();
    assert_eq!(moto.session_tokens(), 2);

    // Inside the 5-minute window: also refetched.
    let mut json = read_json(&cache);
    let soon = std::time::SystemTime::now() + Duration::from_secs(180);
    json["expiration"] = humantime::format_rfc3339_seconds(soon).to_string().into();
    write_file(&cache, &json.to_string(), 0o600);
    sandbox
        .run(&["work", "--mfa", "-t", fresh_code().as_str(), "--", "true"])
        .assert_ok();
    assert_eq!(moto.session_tokens(), 3);

    // A window as long as the session would make every session stale at once: refused.
    sandbox.set_env("STSEXEC_MIN_TTL", "13h");
    sandbox
        .run(&["work", "--mfa", "--refresh", "-t", fresh_code().as_str(), "--", "true"])
        .assert_code(125)
        .assert_stderr("stsexec: STSEXEC_MIN_TTL=\"13h\" is as long as the 12h session it would apply to; make it shorter (the default is 5m)");
}

#[test]
fn garbage_cache_is_a_miss_that_gets_replaced() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let cache = sandbox.cache_file(".stsexec~work~session.json");
    for garbage in [
        "",
        "{\"format\": \"stsexec-session-cache\", \"ver",
        "\u{0}\u{1}binary",
        "{\"format\": \"stsexec-session-cache\", \"version\": 7}",
    ] {
        write_file(&cache, garbage, 0o600);
        let run = sandbox.run(&["work", "-t", fresh_code().as_str(), "--", "true"]);
        run.assert_ok()
            .assert_stderr("ignoring cache file")
            .assert_stderr(".stsexec~work~session.json");
        assert_eq!(
            read_json(&cache)["version"],
            2,
            "replaced by a good session"
        );
    }
    assert_eq!(moto.session_tokens(), 4);
    // Another key in the key file: the session belongs to the old one.
    sandbox.write_keys("work", "AKIAROTATEDROTATED12", SECRET_KEY);
    sandbox
        .run(&["work", "-t", fresh_code().as_str(), "--", "true"])
        .assert_ok()
        .assert_stderr("for other keys");
    assert_eq!(moto.session_tokens(), 5);
}

#[test]
fn role_arns_and_accounts_without_an_entry() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.write_keys("solo", "AKIASOLOSOLOSOLOSOLO", "SECRETMARKER-solo");
    // No accounts-file entry: the keys still work, and a full role ARN can be assumed.
    let (run, env) = sandbox.child_env(&["solo"]);
    run.assert_ok();
    assert_eq!(env["AWS_ACCESS_KEY_ID"], "AKIASOLOSOLOSOLOSOLO");
    sandbox
        .run(&[
            "solo",
            "--role",
            "arn:aws:iam::123456789012:role/x",
            "--",
            "true",
        ])
        .assert_ok();
    assert_eq!(
        moto.assumed_roles()[0].0,
        "arn:aws:iam::123456789012:role/x"
    );
    // But --mfa needs the account's MFA device, which only the entry can tell.
    sandbox
        .run(&["solo", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("account solo is not in the accounts file");
}

/// Issue 19: the accounts file takes the account id alone, and names roles with their
/// parameters, so `--role deploy` needs no retyping; the flags win over the file.
#[test]
fn named_roles_bring_their_arn_and_parameters_and_flags_win() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.write_accounts(
        r#"{"work": {"arn": "123456789012", "roles": {
              "admin": "arn:aws:iam::123456789012:role/admin",
              "deploy": {"arn": "arn:aws:iam::123456789012:role/ci/deploy-prod",
                         "external_id": "tenant-7", "duration": "30m", "session_name": "ci-run"}}},
            "lab": "123456789012"}"#,
    );
    sandbox.write_keys("lab", ACCESS_KEY, SECRET_KEY);
    let (run, env) = sandbox.child_env(&["work", "--no-session", "--role", "deploy"]);
    run.assert_ok().assert_no_secret();
    assert_eq!(env["STSEXEC_ACCOUNT"], "work-role-deploy-prod-STS");
    assert_eq!(env["AWS_ACCOUNT_ID"], "123456789012");
    assert_eq!(
        moto.assumed_roles(),
        [(
            "arn:aws:iam::123456789012:role/ci/deploy-prod".to_string(),
            "ci-run".to_string()
        )]
    );
    let left = expiration_of(&env);
    assert!(
        left <= Duration::from_secs(1800) && left > Duration::from_secs(1500),
        "{left:?}"
    );
    let cache =
        read_json(&sandbox.cache_file(".stsexec~work~role~123456789012~ci%2Fdeploy-prod.json"));
    assert_eq!(cache["external_id"], "tenant-7");

    // The same role again: served from the cache made with the file's parameters.
    sandbox
        .run(&["work", "--no-session", "--role", "deploy", "--", "true"])
        .assert_ok();
    assert_eq!(moto.assumed_roles().len(), 1);

    // Flags win over the file.
    let (run, env) = sandbox.child_env(&[
        "work",
        "--no-session",
        "--role",
        "deploy",
        "--session-name",
        "mine",
        "-d",
        "20m",
    ]);
    run.assert_ok();
    assert_eq!(moto.assumed_roles()[1].1, "mine");
    assert!(expiration_of(&env) <= Duration::from_secs(1200));

    // A plain name that is not in "roles" is <prefix>role/NAME, as before; a bare id works.
    sandbox
        .run(&["work", "--no-session", "--role", "ops", "--", "true"])
        .assert_ok();
    assert_eq!(
        moto.assumed_roles()[2].0,
        "arn:aws:iam::123456789012:role/ops"
    );
    sandbox
        .run(&["lab", "--role", "admin", "--", "true"])
        .assert_ok();
    assert_eq!(
        moto.assumed_roles()[3].0,
        "arn:aws:iam::123456789012:role/admin"
    );
}
