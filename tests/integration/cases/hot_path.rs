//! The cached path must stay cheap: no thread, no socket, no CA certificates, no ~/.aws —
//! checked from the syscalls strace sees between stsexec's start and the command's exec,
//! so a change that puts tokio or the SDK back on this path fails here, whatever the clock.

use crate::support::moto::Moto;
use crate::support::*;

/// The syscalls stsexec itself made, up to (not including) the exec of the command.
fn syscalls_before_the_command(sandbox: &Sandbox, args: &[&str]) -> Vec<String> {
    let trace = sandbox.home.path().join("strace.out");
    let mut full = vec![
        "-f",
        "-qq",
        "-o",
        trace.to_str().unwrap(),
        "-e",
        "trace=clone,clone3,fork,vfork,socket,connect,openat,open,execve",
        stsexec(),
    ];
    full.extend_from_slice(args);
    full.extend(["--", "/bin/true"]);
    sandbox.run_program("strace", &full).assert_ok();
    let text = std::fs::read_to_string(&trace).unwrap();
    // With -f every line starts with the pid.
    let mut lines = text
        .lines()
        // strace pads the pid to a width ("1712  openat(...)"), so strip digits then spaces.
        .map(|l| {
            l.trim_start_matches(|c: char| c.is_ascii_digit())
                .trim_start()
        })
        .map(str::to_string);
    let first = lines.next().unwrap_or_default();
    assert!(
        first.contains("execve(") && first.contains("stsexec"),
        "{text}"
    );
    let calls: Vec<String> = lines
        .take_while(|l| !l.contains("execve(\"/bin/true\""))
        .collect();
    // Every line must now start with a syscall name (or strace's <...>, +++, --- notes), or
    // the starts_with checks below would pass without looking at anything.
    assert!(
        calls
            .iter()
            .all(|l| l.starts_with(|c: char| c.is_ascii_lowercase() || "<+-".contains(c))),
        "unexpected strace output: {calls:#?}"
    );
    calls
}

fn opened(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|l| l.starts_with("openat(") || l.starts_with("open("))
        .filter(|l| !l.contains("= -1"))
        .filter_map(|l| l.split('"').nth(1).map(str::to_string))
        .collect()
}

#[test]
fn cache_hits_start_no_thread_open_no_socket_and_read_only_their_files() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox
        .run(&["work", "-t", CODE, "--role", "admin", "--", "true"])
        .assert_ok();
    let creds = sandbox.creds.display().to_string();

    for args in [
        &["work"][..],
        &["work", "--mfa"][..],
        &["work", "--role", "admin"][..],
        &["work", "--mfa", "--role", "admin"][..],
        &["work", "--no-session"][..],
    ] {
        let calls = syscalls_before_the_command(&sandbox, args);
        let spawned: Vec<&String> = calls
            .iter()
            .filter(|l| {
                ["clone", "clone3", "fork", "vfork", "socket", "connect"]
                    .iter()
                    .any(|s| l.starts_with(&format!("{s}(")))
            })
            .collect();
        assert!(
            spawned.is_empty(),
            "{args:?} made threads or sockets: {spawned:#?}"
        );
        let files = opened(&calls);
        let own: Vec<&String> = files.iter().filter(|f| f.starts_with(&creds)).collect();
        let foreign: Vec<&String> = files
            .iter()
            .filter(|f| {
                !f.starts_with(&creds)
                    && !f.starts_with("/lib")
                    && !f.starts_with("/usr/lib")
                    && *f != "/etc/ld.so.cache"
                    && *f != "/proc/self/maps"
            })
            .collect();
        assert!(
            foreign.is_empty(),
            "{args:?} read files it does not need: {foreign:#?}"
        );
        // accounts.json, the access key file (and for --no-session the secret key file), at
        // most the session and the role session.
        assert!(own.len() <= 4, "{args:?} read {own:#?}");
        // DESIGN §13: a cache hit reads no secret: no `*.secret_key*` file is opened (only
        // --no-session, which hands the long-lived key itself to the command, reads one).
        let secrets: Vec<&&String> = own.iter().filter(|f| f.contains(".secret_key")).collect();
        if args.contains(&"--no-session") {
            assert_eq!(secrets.len(), 1, "{args:?} read {own:#?}");
        } else {
            assert!(
                secrets.is_empty(),
                "{args:?} is a cache hit and read {secrets:#?}"
            );
        }
    }

    // The same trace sees the network when there is an STS call, so the checks above bite.
    let calls = syscalls_before_the_command(
        &sandbox,
        &["work", "-t", fresh_code().as_str(), "--refresh"],
    );
    assert!(
        calls.iter().any(|l| l.starts_with("connect(")),
        "{calls:#?}"
    );
}

/// DESIGN §13, per store: while a cached session fits, no secret file or identity file is
/// opened, no `key_process` runs, nothing is decrypted — for the age file opened by a
/// passphrase, the age file opened by an identity file, and a `key_process`.
#[test]
fn cache_hits_read_no_secret_from_any_store() {
    use stsexec::keys::age_file::{AgeFile, Lock};
    use stsexec::keys::passphrase::Passphrase;
    use stsexec::secret::Secret;

    let moto = Moto::start();
    for store in ["age passphrase", "age identity", "key_process"] {
        let mut sandbox = Sandbox::new().with_sts(&moto.url);
        // The sessions are made with the plain file; then the secret moves to the store (the
        // key id, which the sessions are bound to, stays).
        sandbox
            .run(&["work", "-t", &fresh_code(), "--role", "admin", "--", "true"])
            .assert_ok();
        std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
        let age = AgeFile::new("work", sandbox.creds.join("work.secret_key.age"));
        let identity = sandbox.home.path().join("identity.txt");
        match store {
            "age passphrase" => age
                .write(
                    &Secret::new(SECRET_KEY),
                    &Lock::Passphrase(Passphrase::new("correct horse")),
                )
                .unwrap(),
            "age identity" => {
                let status = std::process::Command::new("age-keygen")
                    .arg("-o")
                    .arg(&identity)
                    .stderr(std::process::Stdio::null())
                    .status()
                    .unwrap();
                assert!(status.success());
                age.write(
                    &Secret::new(SECRET_KEY),
                    &Lock::Identities(vec![identity.clone()]),
                )
                .unwrap();
                sandbox.set_env("STSEXEC_AGE_IDENTITY", identity.to_str().unwrap());
            }
            _ => {
                let script = sandbox.home.path().join("key.sh");
                write_file(
                    &script,
                    &format!(
                        "#!/bin/sh\necho run >> \"$HOME/key_runs\"\necho '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY}\", \"SecretAccessKey\": \"{SECRET_KEY}\"}}'\n"
                    ),
                    0o700,
                );
                sandbox.write_accounts(
                    &serde_json::json!({"work": {"arn": ACCOUNT_ARN, "key_process": script}})
                        .to_string(),
                );
            }
        }
        for args in [
            &["work"][..],
            &["work", "--mfa"][..],
            &["work", "--role", "admin"][..],
            &["work", "--mfa", "--role", "admin"][..],
        ] {
            let calls = syscalls_before_the_command(&sandbox, args);
            let spawned: Vec<&String> = calls
                .iter()
                .filter(|l| {
                    [
                        "clone", "clone3", "fork", "vfork", "socket", "connect", "execve",
                    ]
                    .iter()
                    .any(|s| l.starts_with(&format!("{s}(")))
                })
                .collect();
            assert!(
                spawned.is_empty(),
                "{store}: {args:?} started something: {spawned:#?}"
            );
            let files = opened(&calls);
            let secrets: Vec<&String> = files
                .iter()
                .filter(|f| f.contains(".secret_key") || f.contains("identity"))
                .collect();
            assert!(
                secrets.is_empty(),
                "{store}: {args:?} is a cache hit and read {secrets:#?}"
            );
        }
        assert!(
            !sandbox.home.path().join("key_runs").exists(),
            "{store}: the key_process ran"
        );
        // The check bites: the long-lived key itself (--no-session) does read the store.
        let run = sandbox.run(&[
            "work",
            "--no-session",
            "--",
            "sh",
            "-c",
            "echo $AWS_SECRET_ACCESS_KEY",
        ]);
        match store {
            // No terminal to ask on: at once, naming the unattended ways.
            "age passphrase" => {
                run.assert_code(125)
                    .assert_stderr("there is no terminal to ask it on")
                    .assert_stderr("key_process")
                    .assert_stderr("STSEXEC_AGE_IDENTITY");
            }
            _ => {
                run.assert_ok();
                assert_eq!(run.stdout.trim(), SECRET_KEY);
            }
        }
        assert_eq!(
            sandbox.home.path().join("key_runs").exists(),
            store == "key_process"
        );
    }
}

#[test]
fn an_sso_cache_hit_starts_no_thread_opens_no_socket_and_reads_no_token() {
    use crate::support::sso::{FakeSso, run_approving_device_code, sso_sandbox};
    let fake = FakeSso::start();
    let sandbox = sso_sandbox(&fake);
    run_approving_device_code(&sandbox, &["work", "--no-browser", "--", "true"]).assert_ok();
    let creds = sandbox.creds.display().to_string();
    let calls = syscalls_before_the_command(&sandbox, &["work"]);
    let spawned: Vec<&String> = calls
        .iter()
        .filter(|l| {
            ["clone", "clone3", "fork", "vfork", "socket", "connect"]
                .iter()
                .any(|s| l.starts_with(&format!("{s}(")))
        })
        .collect();
    assert!(spawned.is_empty(), "made threads or sockets: {spawned:#?}");
    let files = opened(&calls);
    let foreign: Vec<&String> = files
        .iter()
        .filter(|f| {
            !f.starts_with(&creds)
                && !f.starts_with("/lib")
                && !f.starts_with("/usr/lib")
                && *f != "/etc/ld.so.cache"
                && *f != "/proc/self/maps"
        })
        .collect();
    // Not the token (~/.aws/sso/cache), nothing of ~/.aws: the role session is enough.
    assert!(
        foreign.is_empty(),
        "read files it does not need: {foreign:#?}"
    );
    assert_eq!(fake.count("credentials"), 1);
}
