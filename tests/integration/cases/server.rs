//! `--server` (DESIGN §8): real clients (the AWS CLI, boto3) read credentials from stsexec's
//! endpoint against moto; the protocol is probed with a raw TCP client; exit status and
//! signals follow the command, as sudo's do.

use crate::support::fault::{FaultServer, Reply};
use crate::support::moto::Moto;
use crate::support::server::*;
use crate::support::*;
use std::process::Child;
use std::time::Duration;

const CREDENTIAL_VARS: [&str; 8] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY",
    "AWS_SECRET_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_DELEGATION_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION",
];

/// Generous: a loaded 2-core CI machine starting Python.
const PATIENCE: Duration = Duration::from_secs(60);

fn with_moto() -> (Moto, Sandbox) {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    (moto, sandbox)
}

/// A command that writes its endpoint, token and pid to `$HOME/endpoint`, then waits for
/// `$HOME/stop` and exits 0.
const PARKED: &str = r#"printf '%s %s %s\n' "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN" $$ > "$HOME/endpoint.tmp"
mv "$HOME/endpoint.tmp" "$HOME/endpoint"
while [ ! -e "$HOME/stop" ]; do sleep 0.05; done"#;

struct Parked {
    port: u16,
    path: String,
    token: String,
    command_pid: u32,
}

fn park(sandbox: &Sandbox, args: &[&str]) -> (Child, Parked) {
    let mut full = args.to_vec();
    full.extend(["--server", "--", "sh", "-c", PARKED]);
    let child = sandbox.command(&full).spawn().unwrap();
    let text = wait_for_file(&sandbox.home.path().join("endpoint"), PATIENCE);
    let words: Vec<&str> = text.split_whitespace().collect();
    let [uri, token, pid] = words[..] else {
        panic!("endpoint file: {text:?}");
    };
    let rest = uri
        .strip_prefix("http://127.0.0.1:")
        .unwrap_or_else(|| panic!("not a loopback URI by IP: {uri}"));
    let (port, path) = rest.split_at(rest.find('/').expect("a path"));
    let parked = Parked {
        port: port.parse().unwrap(),
        path: path.to_string(),
        token: token.to_string(),
        command_pid: pid.parse().unwrap(),
    };
    (child, parked)
}

fn unpark(sandbox: &Sandbox, child: Child) -> Run {
    std::fs::write(sandbox.home.path().join("stop"), "").unwrap();
    Run::from(child.wait_with_output().unwrap())
}

#[test]
fn the_aws_cli_and_boto3_reach_the_role_through_the_server() {
    let (moto, sandbox) = with_moto();
    let script = r#"aws sts get-caller-identity --query Arn --output text
python3 -c 'import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])'
env"#;
    let run = sandbox.run(&[
        "-v", "work", "--role", "admin", "--server", "--", "sh", "-c", script,
    ]);
    run.assert_ok().assert_no_secret();
    let lines: Vec<&str> = run.stdout.lines().collect();
    for line in &lines[..2] {
        assert_eq!(
            *line, "arn:aws:sts::123456789012:assumed-role/admin/jb-stsexec",
            "{run:#?}"
        );
    }
    let env = parse_env(&run.stdout);
    for name in CREDENTIAL_VARS {
        assert!(
            !env.contains_key(name),
            "{name} in the command's environment"
        );
    }
    assert!(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"].starts_with("http://127.0.0.1:"));
    assert_eq!(env["STSEXEC_ACCOUNT"], "work-role-admin-STS");
    let token = &env["AWS_CONTAINER_AUTHORIZATION_TOKEN"];
    assert_eq!(token.len(), 64);
    assert!(
        !run.stderr.contains(token.as_str()),
        "the token reached stderr"
    );
    assert_eq!(
        moto.assumed_roles().len(),
        1,
        "served from memory, not from STS"
    );
}

#[test]
fn the_protocol_as_a_raw_client_sees_it() {
    let (_moto, sandbox) = with_moto();
    let (child, p) = park(&sandbox, &["-v", "work", "--role", "admin"]);
    let get = |path: &str, auth: Option<&str>| {
        let auth = auth
            .map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default();
        raw_http(
            p.port,
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}Connection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    let ok = get(&p.path, Some(&p.token));
    assert_eq!(status_of(&ok), 200, "{ok}");
    assert!(
        ok.to_lowercase().contains("content-type: application/json"),
        "{ok}"
    );
    let creds: serde_json::Value = serde_json::from_str(body_of(&ok)).unwrap();
    assert!(
        creds["AccessKeyId"].as_str().unwrap().starts_with("ASIA"),
        "{creds}"
    );
    for field in ["SecretAccessKey", "Token", "Expiration"] {
        assert!(creds[field].is_string(), "{field}: {creds}");
    }

    for (answer, status) in [
        (get(&p.path, None), 403),
        (get(&p.path, Some("wrong")), 403),
        (get(&p.path, Some(&p.token[..63])), 403),
        (get("/", Some(&p.token)), 404),
        (get(&format!("{}x", p.path), Some(&p.token)), 404),
    ] {
        assert_eq!(status_of(&answer), status, "{answer}");
        let json: serde_json::Value = serde_json::from_str(body_of(&answer)).unwrap();
        assert!(
            json["Code"].is_string() && json["Message"].is_string(),
            "{json}"
        );
        assert!(
            !answer.contains("ASIA"),
            "an error carried credentials: {answer}"
        );
    }
    let post = raw_http(
        p.port,
        format!(
            "POST {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            p.path, p.token
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&post), 405, "{post}");
    let with_body = raw_http(
        p.port,
        format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Length: 5\r\n\r\nhello",
            p.path, p.token
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&with_body), 413, "{with_body}");
    let huge = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        p.path,
        "a".repeat(64 * 1024)
    );
    let refused = raw_http(p.port, huge.as_bytes());
    assert!(
        refused.is_empty() || status_of(&refused) == 431,
        "an oversized request was answered: {refused}"
    );
    let garbage = raw_http(p.port, b"\x00\x01 not http at all\r\n\r\n");
    assert!(
        garbage.is_empty() || status_of(&garbage) == 400,
        "{garbage}"
    );
    // A slowloris holding a half-sent head and a burst of 200 concurrent requests stall nobody.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", p.port)).unwrap();
    std::io::Write::write_all(&mut slow, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    let started = std::time::Instant::now();
    let burst: Vec<_> = (0..200)
        .map(|_| {
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
                p.path, p.token
            );
            let port = p.port;
            std::thread::spawn(move || status_of(&raw_http(port, request.as_bytes())))
        })
        .collect();
    for request in burst {
        assert_eq!(request.join().unwrap(), 200);
    }
    assert_eq!(status_of(&get(&p.path, Some(&p.token))), 200);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    drop(slow);

    // Loopback 127.0.0.1 only.
    assert!(std::net::TcpStream::connect(("127.0.0.2", p.port)).is_err());
    // The token is on no command line, stsexec's or the command's.
    for pid in [child.id(), p.command_pid] {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        assert!(
            !String::from_utf8_lossy(&cmdline).contains(&p.token),
            "token on the command line of {pid}"
        );
    }

    let run = unpark(&sandbox, child);
    run.assert_ok().assert_no_secret();
    assert!(!run.stderr.contains(&p.token), "the token reached stderr");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", p.port)).is_err(),
        "the port is open after the command ended"
    );
}

const LONG_JOB: &str = r#"
import calendar, json, os, sys, time, urllib.request
import boto3

window = float(sys.argv[1])
session = boto3.Session()
sts = session.client("sts")
keys, failures, closest, calls = set(), [], None, 0
req = urllib.request.Request(
    os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
    headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        arn = sts.get_caller_identity()["Arn"]
        calls += 1
        keys.add(session.get_credentials().get_frozen_credentials().access_key)
        if "assumed-role/admin" not in arn:
            failures.append(arn)
    except Exception as e:
        failures.append(repr(e))
    served = json.load(urllib.request.urlopen(req))
    expires = calendar.timegm(time.strptime(served["Expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    left = expires - time.time()
    closest = left if closest is None else min(closest, left)
    time.sleep(0.5)
print(json.dumps({"keys": len(keys), "failures": failures, "closest": closest, "calls": calls}))
"#;

#[test]
fn a_long_job_sees_renewed_credentials_without_a_prompt() {
    let (moto, mut sandbox) = with_moto();
    // 15-minute role sessions renewed once 14m55s remain: a new session every ~5 s.
    let window = 15 * 60 - 5;
    sandbox.set_env("STSEXEC_MIN_TTL", &format!("{window}s"));
    let script = sandbox.home.path().join("long_job.py");
    write_file(&script, LONG_JOB, 0o644);
    let run = sandbox.run(&[
        "-t",
        CODE,
        "work",
        "--role",
        "admin",
        "-d",
        "15m",
        "--server",
        "--",
        "python3",
        script.to_str().unwrap(),
        &window.to_string(),
        "16",
    ]);
    run.assert_ok().assert_no_secret();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!("{e}; {run:#?}");
    });
    assert_eq!(report["failures"], serde_json::json!([]), "{run:#?}");
    assert!(report["keys"].as_u64().unwrap() >= 3, "{report}; {run:#?}");
    // Never within the window, beyond the time one renewal takes (and whole seconds).
    let closest = report["closest"].as_f64().unwrap();
    assert!(closest > f64::from(window) - 4.0, "{report}");
    assert_eq!(moto.session_tokens(), 1, "a renewal asked for an MFA code");
    assert!(moto.assumed_roles().len() >= 3);
}

#[test]
fn exit_status_and_signal_pass_through() {
    let (_moto, sandbox) = with_moto();
    let server = ["-q", "work", "--role", "admin", "--server", "--"];
    let with = |command: &[&str]| {
        let mut args = server.to_vec();
        args.extend(command);
        sandbox.run(&args)
    };
    with(&["sh", "-c", "exit 42"]).assert_code(42);
    with(&["true"]).assert_ok();
    let killed = with(&["sh", "-c", "kill -TERM $$"]);
    assert_eq!(killed.signal, Some(libc::SIGTERM), "{killed:#?}");
    // A shell sees it as 143.
    let shell = sandbox.run_program(
        "sh",
        &[
            "-c",
            &format!(
                "{} -q work --role admin --server -- sh -c 'kill -TERM $$'; echo $?",
                stsexec()
            ),
        ],
    );
    assert_eq!(shell.stdout.trim(), "143", "{shell:#?}");
    with(&["no-such-command-here"]).assert_code(127);
    // A script without "#!" runs with /bin/sh, as execvp and exec mode run it; a file that
    // is not executable exits 126, as in exec mode.
    let script = sandbox.home.path().join("script");
    write_file(&script, "exit 9\n", 0o755);
    with(&[script.to_str().unwrap()]).assert_code(9);
    write_file(&script, "exit 9\n", 0o644);
    with(&[script.to_str().unwrap()])
        .assert_code(126)
        .assert_stderr("script");
}

#[test]
fn refused_combinations() {
    let (moto, sandbox) = with_moto();
    for output in ["--json", "--export", "--credential-process"] {
        let run = sandbox.run(&["work", "--role", "admin", "--server", output]);
        run.assert_code(125).assert_stderr("stsexec: --server");
        assert_eq!(run.stderr.lines().count(), 1, "{run:#?}");
    }
    let run = sandbox.run(&["work", "--server", "--", "true"]);
    run.assert_code(125).assert_stderr("long-lived keys");
    assert_eq!(moto.assumed_roles().len(), 0);
}

#[test]
fn status_inside_says_what_the_server_serves() {
    let (_moto, sandbox) = with_moto();
    let run = sandbox.run(&[
        "work",
        "--role",
        "admin",
        "--server",
        "--",
        stsexec(),
        "--status",
    ]);
    run.assert_ok();
    assert!(
        run.stdout.starts_with(
            "Keys served for work-role-admin-STS AWS account by stsexec --server at 127.0.0.1:"
        ),
        "{run:#?}"
    );
}

#[test]
fn sts_refusing_renewals_warns_once_and_keeps_serving() {
    // The first session lasts 15 minutes and is renewed once 14m57s remain; every renewal is
    // refused (one request each: a 403 is not retried), at 3 s, then after 2 s, 4 s … backoff.
    let sts = FaultServer::start(&[Reply::Lasting(15 * 60), Reply::DenyRole]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("STSEXEC_MIN_TTL", &format!("{}s", 15 * 60 - 3));
    let (child, p) = park(&sandbox, &["work", "--role", "admin"]);
    // The third renewal's request: the first two failures have been handled (one thread
    // renews, one request at a time), so both had their chance to warn.
    let deadline = std::time::Instant::now() + PATIENCE;
    while sts.hits() < 4 {
        assert!(std::time::Instant::now() < deadline, "{} hits", sts.hits());
        std::thread::sleep(Duration::from_millis(50));
    }
    let answer = raw_http(
        p.port,
        format!(
            "GET {} HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nConnection: close\r\n\r\n",
            p.path, p.token
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&answer), 200, "{answer}");
    let run = unpark(&sandbox, child);
    run.assert_ok().assert_no_secret();
    assert_eq!(
        run.stderr
            .matches("renewing the session of work-role-admin-STS failed")
            .count(),
        1,
        "{run:#?}"
    );
}

#[test]
fn a_server_on_a_short_mfa_session_says_how_to_renew_it() {
    let (moto, sandbox) = with_moto();
    // A 15-minute MFA session: the 30-minute reminder is due at once.
    let run = sandbox.run(&[
        "-t", CODE, "work", "-d", "15m", "--server", "--", "sleep", "2",
    ]);
    run.assert_ok().assert_no_secret();
    assert_eq!(
        run.stderr
            .matches("run `stsexec work --mfa --refresh -- true` in another terminal")
            .count(),
        1,
        "{run:#?}"
    );
    assert_eq!(moto.session_tokens(), 1);
}

/// DESIGN §8: with an `mfa_process`, the server renews the MFA session itself — the command
/// on the terminal is never interrupted by a prompt.
#[test]
fn an_mfa_session_renews_through_the_mfa_process() {
    let (moto, mut sandbox) = with_moto();
    let window = 15 * 60 - 5;
    sandbox.set_env("STSEXEC_MIN_TTL", &format!("{window}s"));
    // Renewals a few seconds apart: a TOTP step of 1 s, since a command runs only once the
    // last used code's step has passed (DESIGN §9, one touch per code).
    sandbox.set_env("STSEXEC_MFA_STEP", "1s");
    let counter = sandbox.home.path().join("runs");
    let codes = sandbox.home.path().join("codes.sh");
    // A fresh code each run (the used-code record refuses a repeat).
    write_file(
        &codes,
        &format!(
            "#!/bin/sh\nn=$(cat {c} 2>/dev/null || echo 0)\nn=$((n + 1))\necho $n > {c}\nprintf '%06d\\n' $((200000 + n))\n",
            c = counter.display()
        ),
        0o755,
    );
    let script = sandbox.home.path().join("long_job.py");
    write_file(&script, LONG_JOB, 0o644);
    let run = sandbox.run(&[
        "work",
        "--mfa-process",
        codes.to_str().unwrap(),
        "-d",
        "15m",
        "--server",
        "--",
        "python3",
        script.to_str().unwrap(),
        &window.to_string(),
        "12",
    ]);
    run.assert_ok().assert_no_secret();
    let report: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| {
        panic!("{e}; {run:#?}");
    });
    // LONG_JOB expects a role; here the caller is the MFA session's user, and any other
    // failure (an exception, an expired session) would show as something else.
    let failures = report["failures"].as_array().unwrap();
    assert!(
        failures
            .iter()
            .all(|f| f == "arn:aws:sts::123456789012:user/moto"),
        "{run:#?}"
    );
    assert!(report["calls"].as_u64().unwrap() >= 10, "{report}");
    assert!(
        report["closest"].as_f64().unwrap() > f64::from(window) - 4.0,
        "{report}"
    );
    assert!(
        !run.stderr.contains("in another terminal"),
        "no reminder: the mfa_process renews; {run:#?}"
    );
    let runs: u32 = std::fs::read_to_string(&counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(runs >= 2, "the mfa_process ran {runs} time(s)");
    assert_eq!(
        moto.session_tokens(),
        runs as usize,
        "one GetSessionToken per code"
    );
}

/// Issue 19: `-v` says what the command really gets (not the key variables exec mode sets),
/// and a subshell on a terminal says how to leave it, as an exec-mode subshell does.
#[test]
fn verbose_says_what_the_command_gets_and_a_subshell_how_to_leave() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    let run = sandbox.run(&["-v", "work", "--role", "admin", "--server", "--", "true"]);
    run.assert_ok();
    let line = run
        .stderr
        .lines()
        .find(|l| l.contains("serving work-role-admin-STS on 127.0.0.1:"))
        .unwrap_or_else(|| panic!("{run:#?}"));
    let (setting, removing) = line.split_once("; removing ").unwrap();
    assert!(
        setting.contains("the command gets no keys: setting AWS_REGION"),
        "{line}"
    );
    for name in [
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    ] {
        assert!(setting.contains(name), "{line}");
    }
    for name in CREDENTIAL_VARS {
        assert!(!setting.contains(name), "{name}: {line}");
        assert!(removing.split(' ').any(|n| n == name), "{name}: {line}");
    }
    assert!(
        !run.stderr.contains("setting AWS_ACCESS_KEY_ID"),
        "{run:#?}"
    );

    sandbox.set_env("SHELL", "/bin/sh");
    let run = sandbox.run_on_terminal_after(
        &["work", "--role", "admin", "--server"],
        "exit to return",
        "exit\r",
    );
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout
            .contains("A subshell with served keys: exit to return (the server stops with it)"),
        "{run:#?}"
    );
}

/// Issue 20 item 2: a `[default]` profile in `~/.aws/credentials` beat the served role (the
/// AWS CLI and boto3 ran as the file's user); the command's credentials file is now nothing.
/// A default profile in `~/.aws/config` that would still win is named in a warning.
#[test]
fn the_shared_files_do_not_beat_the_served_role_and_the_config_file_is_warned_about() {
    let (_moto, sandbox) = with_moto();
    let aws = sandbox.home.path().join(".aws");
    std::fs::create_dir(&aws).unwrap();
    write_file(
        &aws.join("credentials"),
        "[default]\naws_access_key_id = AKIAOTHERUSEROTHER01\naws_secret_access_key = SECRETMARKER-other\n",
        0o600,
    );
    write_file(
        &aws.join("config"),
        "[default]\nregion = eu-west-1\n",
        0o600,
    );
    let script = r#"aws sts get-caller-identity --query Arn --output text
python3 -c 'import boto3; print(boto3.client("sts").get_caller_identity()["Arn"])'"#;
    let run = sandbox.run(&[
        "work", "--role", "admin", "--server", "--", "sh", "-c", script,
    ]);
    run.assert_ok().assert_no_secret();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{run:#?}");
    for line in lines {
        assert_eq!(
            line, "arn:aws:sts::123456789012:assumed-role/admin/jb-stsexec",
            "{run:#?}"
        );
    }
    assert!(!run.stderr.contains("warning"), "{run:#?}");

    // The config file's default profile with a credential_process: said, with file and
    // profile, not its value.
    let config = aws.join("config");
    write_file(
        &config,
        "[default]\nregion = eu-west-1\ncredential_process = /bin/echo SECRETMARKER\n",
        0o600,
    );
    let run = sandbox.run(&["work", "--role", "admin", "--server", "--", "true"]);
    run.assert_ok().assert_no_secret();
    run.assert_stderr(&format!(
        "stsexec: warning: {} gives its default profile credential_process, which the command's AWS SDKs use before the credentials this server serves",
        config.display()
    ));
}

/// Tries to hold `want` connections to 127.0.0.1:`port` (replacing those the server closes)
/// until its stdin ends; prints a line once it has opened `announce` (more than the descriptors
/// stsexec had). As uid `uid` when started as root (another local user, as the red team
/// attacked), else as the same user.
const FLOODER: &str = r#"
import os, resource, select, socket, sys, time
port, want, announce, uid = (int(a) for a in sys.argv[1:5])
if os.getuid() == 0 and uid != 0:
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
socks, opened, announced = [], 0, False
while not select.select([sys.stdin], [], [], 0)[0]:
    alive = []
    for s in socks:
        try:
            if s.recv(1, socket.MSG_DONTWAIT | socket.MSG_PEEK) == b"":
                s.close()
                continue
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            continue
        alive.append(s)
    socks = alive
    while len(socks) < want:
        s = socket.socket()
        s.settimeout(0.1)
        try:
            s.connect(("127.0.0.1", port))
        except OSError:
            s.close()
            break
        s.setblocking(False)
        socks.append(s)
        opened += 1
    if not announced and opened >= announce:
        print(opened, os.getuid(), flush=True)
        announced = True
    time.sleep(0.01)
"#;

/// The command under the flood: 25 credential fetches, then more until a renewal shows (a new
/// expiration), and its own descriptor limit. (Before the fix this test did not end within
/// 15 minutes: fetches waited behind the flood and renewals failed with EMFILE.)
const UNDER_FLOOD: &str = r#"
import json, os, resource, time, urllib.request
home = os.environ["HOME"]
uri = os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"]
with open(home + "/endpoint.tmp", "w") as f:
    f.write(uri)
os.rename(home + "/endpoint.tmp", home + "/endpoint")
while not os.path.exists(home + "/go"):
    time.sleep(0.05)
req = urllib.request.Request(uri, headers={"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
failures, expirations, fetches, slowest = [], set(), 0, 0.0
def fetch():
    global fetches, slowest
    fetches += 1
    started = time.time()
    try:
        expirations.add(json.load(urllib.request.urlopen(req, timeout=20))["Expiration"])
    except Exception as e:
        failures.append(repr(e))
    slowest = max(slowest, time.time() - started)
for _ in range(25):
    fetch()
    time.sleep(0.1)
# Renewals come every ~3 s; without them (or with failures) the job gives up, it does not hang.
while len(expirations) < 2 and len(failures) < 3 and fetches < 600:
    fetch()
    time.sleep(0.1)
print(json.dumps({"fetches": fetches, "failures": failures, "expirations": len(expirations), "slowest": slowest,
                  "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}))
"#;

/// Issue 20 item 3: another local user holding thousands of connections made credential
/// fetches and a renewal fail ("Too many open files", stsexec at 1024 descriptors). Now
/// connections without the token are capped and displaced, connections live briefly, and the
/// descriptor limit is raised with a reserve: every fetch and every renewal succeeds.
#[test]
fn a_connection_flood_from_another_user_does_not_starve_the_command() {
    let sts = FaultServer::start(&[Reply::Lasting(15 * 60)]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    // Renewed once 14m57s remain: every ~3 s.
    sandbox.set_env("STSEXEC_MIN_TTL", &format!("{}s", 15 * 60 - 3));
    let job = sandbox.home.path().join("under_flood.py");
    write_file(&job, UNDER_FLOOD, 0o644);
    let flooder = sandbox.home.path().join("flooder.py");
    write_file(&flooder, FLOODER, 0o644);
    // The usual desktop limit, as the red team's stsexec had.
    let line = format!(
        "ulimit -Sn 1024 && exec {} -q work --role admin --server -- python3 {}",
        stsexec(),
        job.display()
    );
    let server = sandbox.run_program_spawn("sh", &["-c", &line]);
    let uri = wait_for_file(&sandbox.home.path().join("endpoint"), PATIENCE);
    let port = uri
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split('/').next())
        .unwrap()
        .to_string();
    // SAFETY: geteuid has no preconditions.
    let flood_uid = if unsafe { libc::geteuid() } == 0 {
        "65534"
    } else {
        "0"
    };
    let mut flood = std::process::Command::new("/usr/bin/python3")
        .args([flooder.to_str().unwrap(), &port, "3000", "1200", flood_uid])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut flooding = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(flood.stdout.take().unwrap()),
        &mut flooding,
    )
    .unwrap();
    let uid = flooding
        .split_whitespace()
        .nth(1)
        .expect("the flood started");
    if flood_uid != "0" {
        assert_eq!(uid, flood_uid, "the flood runs as another user");
    }
    std::fs::write(sandbox.home.path().join("go"), "").unwrap();
    let run = Run::from(server.wait_with_output().unwrap());
    drop(flood.stdin.take());
    let _ = flood.wait();
    run.assert_ok().assert_no_secret();
    let report: serde_json::Value =
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{e}; {run:#?}"));
    assert_eq!(report["failures"], serde_json::json!([]), "{run:#?}");
    assert!(
        report["expirations"].as_u64().unwrap() >= 2,
        "no renewal seen: {report}"
    );
    assert!(
        !run.stderr.contains("renewing the session"),
        "a renewal failed under the flood: {run:#?}"
    );
    // The command keeps the limit stsexec was started with.
    assert_eq!(report["nofile"], 1024, "{report}");
}

/// Issue 20 item 4: a background job the command started outlives it and still holds the
/// endpoint's URL; the port must not become free for another user to bind while the job
/// lives. stsexec exits at once with the command's status; the port answers 503 until the
/// command's process group is gone, then closes.
#[test]
fn the_port_stays_held_answering_503_while_the_commands_descendants_live() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let script = r#"(
  printf '%s %s\n' "$AWS_CONTAINER_CREDENTIALS_FULL_URI" "$AWS_CONTAINER_AUTHORIZATION_TOKEN" > "$HOME/endpoint.tmp"
  mv "$HOME/endpoint.tmp" "$HOME/endpoint"
  while [ ! -e "$HOME/stop" ]; do sleep 0.05; done
) </dev/null >/dev/null 2>&1 &
while [ ! -e "$HOME/endpoint" ]; do sleep 0.05; done
exit 3"#;
    let run = sandbox.run(&[
        "work", "--role", "admin", "--server", "--", "sh", "-c", script,
    ]);
    // stsexec did not wait for the background job (it still runs: no stop file yet).
    run.assert_code(3).assert_no_secret();
    let text = std::fs::read_to_string(sandbox.home.path().join("endpoint")).unwrap();
    let (uri, token) = text.trim().split_once(' ').unwrap();
    let rest = uri.strip_prefix("http://127.0.0.1:").unwrap();
    let (port, path) = rest.split_at(rest.find('/').unwrap());
    let port: u16 = port.parse().unwrap();
    let answer = raw_http(
        port,
        format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert_eq!(status_of(&answer), 503, "{answer}");
    assert!(body_of(&answer).contains("CommandEnded"), "{answer}");
    assert!(
        !answer.contains("ASIA"),
        "credentials after the command ended: {answer}"
    );
    // Nobody else can take the port meanwhile.
    assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());

    std::fs::write(sandbox.home.path().join("stop"), "").unwrap();
    let deadline = std::time::Instant::now() + PATIENCE;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
        assert!(
            std::time::Instant::now() < deadline,
            "the port stayed held after the job ended"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
