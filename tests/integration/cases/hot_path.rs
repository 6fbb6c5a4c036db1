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
