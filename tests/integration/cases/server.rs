//! `--server` (DESIGN §8): real clients (the AWS CLI, boto3) read credentials from stsexec's
//! endpoint against moto; the protocol is probed with a raw TCP client; exit status and
//! signals follow the command, as sudo's do.

use crate::support::moto::Moto;
use crate::support::server::*;
use crate::support::*;
use std::path::Path;
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

const TRAPS: &str = r#"trap 'echo TERM >> "$HOME/got"' TERM
trap 'echo INT >> "$HOME/got"' INT
echo $$ > "$HOME/ready"
while [ ! -e "$HOME/stop" ]; do sleep 0.05; done
exit 7"#;

fn count_lines(path: &Path) -> usize {
    std::fs::read_to_string(path).map_or(0, |t| t.lines().count())
}

#[test]
fn a_signal_sent_to_stsexec_is_relayed_once() {
    let (_moto, sandbox) = with_moto();
    let child = sandbox
        .command(&[
            "-q", "work", "--role", "admin", "--server", "--", "sh", "-c", TRAPS, "sig",
        ])
        .spawn()
        .unwrap();
    wait_for_file(&sandbox.home.path().join("ready"), PATIENCE);
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: kill only sends a signal to the stsexec this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let got = sandbox.home.path().join("got");
    wait_for_file(&got, PATIENCE);
    std::thread::sleep(Duration::from_millis(500));
    let run = unpark(&sandbox, child);
    run.assert_code(7);
    assert_eq!(count_lines(&got), 1, "{run:#?}");
}

#[test]
fn ctrl_c_on_the_terminal_reaches_the_command_once() {
    let (_moto, sandbox) = with_moto();
    let line = format!(
        "exec {} -q work --role admin --server -- sh -c '{}' sig",
        stsexec(),
        TRAPS.replace('\'', r"'\''")
    );
    let mut terminal = Terminal::start(&line, &sandbox.env_pairs());
    wait_for_file(&sandbox.home.path().join("ready"), PATIENCE);
    terminal.type_text(b"\x03");
    let got = sandbox.home.path().join("got");
    wait_for_file(&got, PATIENCE);
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(sandbox.home.path().join("stop"), "").unwrap();
    let (code, output) = terminal.wait();
    assert_eq!(code, Some(7), "{output}");
    assert_eq!(
        count_lines(&got),
        1,
        "SIGINT reached the command twice: {output}"
    );
}

#[test]
fn sts_down_during_a_renewal_warns_once_and_keeps_serving() {
    let (moto, mut sandbox) = with_moto();
    sandbox.set_env("STSEXEC_MIN_TTL", &format!("{}s", 15 * 60 - 3));
    let (child, p) = park(&sandbox, &["work", "--role", "admin", "-d", "15m"]);
    drop(moto);
    // Renewals fail from now on (every ~3 s, then backing off); the session is still served.
    std::thread::sleep(Duration::from_secs(12));
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
            .matches("run `stsexec work --mfa --refresh` in another terminal")
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
