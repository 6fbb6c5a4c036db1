//! The printing modes (DESIGN §5): --json, --export, --credential-process, --status, --list,
//! --clear — read back by real consumers (sh, fish, the AWS CLI) where there is one.

use crate::support::moto::Moto;
use crate::support::*;
use std::collections::BTreeMap;

/// A secret with every character a shell treats specially (secrets cannot hold whitespace).
const HOSTILE_SECRET: &str = r#"SECRETMARKER'"\$`!;&|<>(){}[]*?#~%^=+,.:@/'\\"#;

fn managed(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    env.iter()
        .filter(|(k, _)| k.starts_with("AWS_") || k.starts_with("STSEXEC_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

#[test]
fn json_is_the_seeds_shape() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let run = sandbox.run(&["work", "-t", CODE, "--json"]);
    run.assert_ok().assert_no_secret();
    let keys: Vec<&str> = run
        .stdout
        .lines()
        .filter_map(|l| l.trim().split('"').nth(1))
        .collect();
    assert_eq!(
        keys,
        ["access_key", "expiration", "secret_key", "session_token"],
        "{}",
        run.stdout
    );
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert!(
        value["session_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert!(humantime::parse_rfc3339(value["expiration"].as_str().unwrap()).is_ok());

    let run = sandbox.run(&["work", "--no-session", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(value["access_key"], ACCESS_KEY);
    assert_eq!(value["secret_key"], SECRET_KEY);
    assert!(value["session_token"].is_null() && value["expiration"].is_null());
}

#[test]
fn export_round_trips_through_sh_and_fish() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.write_keys("work", ACCESS_KEY, HOSTILE_SECRET);
    sandbox.set_env("AWS_PROFILE", "stale");
    sandbox.set_env("AWS_SESSION_TOKEN", "stale");
    sandbox.set_env("STSEXEC", stsexec());
    // fish sets USER from the password database, which would name another MFA device (and
    // so another cache slot) than the sandbox's USER=jb: name the IAM user in its file.
    write_file(&sandbox.creds.join("work.user"), "jb\n", 0o644);

    for args in [&["work"][..], &["work", "-t", CODE][..]] {
        let (run, exec_env) = sandbox.child_env(args);
        run.assert_ok();
        let expected = managed(&exec_env);
        assert!(expected.values().any(|v| v == HOSTILE_SECRET) || args.len() > 1);
        // The exports must print the session the exec run cached: `--mfa` without a code
        // cannot fetch another one here (no terminal), so a miss fails with its reason.
        let flags = if args.len() > 1 {
            "work --mfa".to_string()
        } else {
            args.join(" ")
        };

        let sh = sandbox.run_program(
            "sh",
            &[
                "-c",
                &format!("eval \"$(\"$STSEXEC\" {flags} --export)\" && env"),
            ],
        );
        sh.assert_ok();
        assert_eq!(managed(&parse_env(&sh.stdout)), expected, "sh {flags}");

        let fish = sandbox.run_program(
            "fish",
            &[
                "--no-config",
                "-c",
                &format!("eval (\"$STSEXEC\" {flags} --export=fish | string collect); and env"),
            ],
        );
        fish.assert_ok();
        assert_eq!(managed(&parse_env(&fish.stdout)), expected, "fish {flags}");
    }
}

#[test]
fn the_aws_cli_uses_credential_process() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    let config = sandbox.home.path().join("aws-config");
    let bin = stsexec();
    write_file(
        &config,
        &format!(
            "[profile mfa]\ncredential_process = {bin} work --mfa -t {CODE} --credential-process\n\
             [profile admin]\ncredential_process = {bin} work -t {CODE} --role admin --credential-process\n\
             [profile noterminal]\ncredential_process = {bin} work --mfa --refresh --credential-process\n\
             [profile keys]\ncredential_process = {bin} work --no-session --credential-process\n"
        ),
        0o600,
    );
    sandbox.set_env("AWS_CONFIG_FILE", config.to_str().unwrap());
    sandbox.set_env("AWS_DEFAULT_REGION", "us-east-1");
    let identity = |profile: &str| {
        let run = sandbox.run_program("aws", &["sts", "get-caller-identity", "--profile", profile]);
        (run.code, run.stdout.clone(), run.stderr.clone())
    };

    let (code, out, err) = identity("admin");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("assumed-role/admin/jb-stsexec"), "{out}");
    assert_eq!((moto.session_tokens(), moto.assumed_roles().len()), (1, 1));

    let (code, out, err) = identity("mfa");
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("123456789012"), "{out}");
    assert_eq!(
        moto.session_tokens(),
        1,
        "the MFA session came from the cache"
    );

    let (code, _, err) = identity("keys");
    assert_eq!(code, Some(0), "{err}");

    // A prompt is needed and there is no terminal: fails at once, and the CLI shows why.
    let (code, _, err) = identity("noterminal");
    assert_ne!(code, Some(0));
    assert!(
        err.contains("no terminal") && err.contains("-t/--token"),
        "{err}"
    );
    assert!(!err.contains(MARKER));
}

#[test]
fn status_describes_the_environment() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let run = sandbox.run(&[
        "work",
        "-t",
        CODE,
        "--region",
        "eu-west-1",
        "--",
        stsexec(),
        "--status",
    ]);
    run.assert_ok();
    assert!(
        run.stdout.starts_with(
            "Keys set for work-MFA-STS AWS account\nRegion is eu-west-1\nSession valid for 11h"
        ),
        "{}",
        run.stdout
    );
    let run = sandbox.run(&["work", "--no-session", "--", stsexec(), "--status"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("Keys set for work AWS account")
            && run.stdout.contains("Long-lived keys"),
        "{}",
        run.stdout
    );
    let run = sandbox.run(&["--status"]);
    run.assert_code(1);
    assert_eq!(run.stdout, "No keys set\n");
}

#[test]
fn list_shows_accounts_keys_and_sessions() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.write_accounts(&format!(
        r#"{{"work": "{ACCOUNT_ARN}", "home": {{"arn": "arn:aws:iam::210987654321:", "user": "jbh"}}}}"#
    ));
    sandbox.write_keys("solo", "AKIASOLOSOLOSOLOSOLO", "SECRETMARKER-solo");
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    sandbox
        .run(&["work", "--role", "admin", "--", "true"])
        .assert_ok();

    let run = sandbox.run(&["--list"]);
    run.assert_ok().assert_no_secret();
    assert!(!run.stdout.contains('\t'));
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{}", run.stdout);
    assert_eq!(
        lines[0],
        "home keys=missing user=jbh mfa=arn:aws:iam::210987654321:mfa/jbh sessions=-"
    );
    assert_eq!(lines[1], "solo keys=present user=jb mfa=- sessions=-");
    assert!(
        lines[2].starts_with(
            "work keys=present user=jb mfa=arn:aws:iam::123456789012:mfa/jb sessions=mfa:11h5"
        ),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains(",role:admin:5") || lines[2].contains(",role:admin:1h"),
        "{}",
        lines[2]
    );

    assert_eq!(sandbox.run(&["--list", "-q"]).stdout, "home\nsolo\nwork\n");
    let table = sandbox.run_on_terminal(&["--list"], "");
    assert!(
        table.stdout.contains("ACCOUNT  KEYS     USER"),
        "{table:#?}"
    );
}

#[test]
fn clear_forgets_sessions_and_keeps_keys() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.write_accounts(&format!(
        r#"{{"work": "{ACCOUNT_ARN}", "work.eu": "{ACCOUNT_ARN}"}}"#
    ));
    sandbox.write_keys("work.eu", ACCESS_KEY, SECRET_KEY);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    sandbox
        .run(&["work", "--role", "admin", "--", "true"])
        .assert_ok();
    // Another code: both accounts use one MFA device, which never gets a code twice.
    sandbox
        .run(&["work.eu", "-t", &fresh_code(), "--", "true"])
        .assert_ok();

    let run = sandbox.run(&["--clear", "work"]);
    run.assert_ok();
    assert_eq!(run.stdout, "Removed 2 cached sessions of account work\n");
    assert!(sandbox.cache_file(".stsexec~work.eu~session.json").exists());
    assert!(sandbox.creds.join("work.secret_key").exists());
    let (_, env) = sandbox.child_env(&["work"]);
    assert_eq!(env["STSEXEC_ACCOUNT"], "work", "the MFA session is gone");

    let run = sandbox.run(&["--clear"]);
    assert_eq!(run.stdout, "Removed 1 cached session\n");
    sandbox.run(&["--clear", "../x"]).assert_code(125);
    // An unknown account is an error naming the known ones, and gets no lock file.
    sandbox
        .run(&["--clear", "typo"])
        .assert_code(125)
        .assert_stderr("unknown account typo:");
    assert!(!sandbox.cache_file(".stsexec~typo~lock").exists());
}

/// Issue 19: `eval (stsexec work --export | string collect)` in fish printed sh's `unset`
/// (fish: "Unknown command: unset"), set the new key and kept the old session's token, and
/// `--status` called the mixture valid. `--export` now follows `$SHELL`; real fish and bash
/// read it over an old session's variables; `--status` names what sh's statements leave in fish.
#[test]
fn export_follows_shell_in_fish_and_bash_and_status_names_a_mixture() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("STSEXEC", stsexec());
    // fish sets USER from the password database: name the IAM user in its file.
    write_file(&sandbox.creds.join("work.user"), "jb\n", 0o644);
    // What an earlier `--export` of a session left in the shell.
    sandbox.set_env("AWS_SESSION_TOKEN", "old-session-token");
    sandbox.set_env("AWS_CREDENTIAL_EXPIRATION", "2099-01-01T00:00:00Z");
    sandbox.set_env("STSEXEC_ACCOUNT", "work-MFA-STS");
    let (run, exec_env) = sandbox.child_env(&["work", "--no-session"]);
    run.assert_ok();
    let expected = managed(&exec_env);
    assert!(!expected.contains_key("AWS_SESSION_TOKEN"), "{expected:?}");

    for (shell, script) in [
        (
            "/usr/bin/fish",
            r#"eval ("$STSEXEC" work --no-session --export | string collect); and env; and echo ---; and "$STSEXEC" --status"#,
        ),
        (
            "/usr/bin/bash",
            r#"eval "$("$STSEXEC" work --no-session --export)" && env && echo --- && "$STSEXEC" --status"#,
        ),
    ] {
        sandbox.set_env("SHELL", shell);
        let args: &[&str] = if shell.ends_with("fish") {
            &["--no-config", "-c", script]
        } else {
            &["--norc", "-c", script]
        };
        let run = sandbox.run_program(shell, args);
        assert_eq!(run.code, Some(0), "{shell}: {run:#?}");
        assert!(!run.stderr.contains("Unknown command"), "{shell}: {run:#?}");
        let (env, status) = run.stdout.split_once("---\n").expect("both parts");
        assert_eq!(managed(&parse_env(env)), expected, "{shell}");
        assert_eq!(
            status,
            "Keys set for work AWS account\nRegion is us-east-1\nLong-lived keys (they do not expire)\n",
            "{shell}"
        );
    }

    // sh's statements read by fish: the old token stays beside the new key.
    sandbox.set_env("SHELL", "/usr/bin/fish");
    let run = sandbox.run_program(
        "fish",
        &[
            "--no-config",
            "-c",
            r#"eval ("$STSEXEC" work --no-session --export=sh | string collect) 2>/dev/null; "$STSEXEC" --status"#,
        ],
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    assert!(
        run.stdout.contains("Mixed environment")
            && run
                .stdout
                .contains("is a long-lived key, yet AWS_SESSION_TOKEN is set")
            && !run.stdout.contains("Session valid"),
        "{run:#?}"
    );
}
