//! N cold invocations at once make one STS call and one prompt; readers never see a torn file.

use crate::support::fault::{FaultServer, Reply};
use crate::support::moto::Moto;
use crate::support::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

const RUNS: usize = 32;

/// Reads the cache file in a loop until stopped; every read must be a whole cache file.
struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<usize>,
}

impl Watcher {
    fn start(path: PathBuf) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut whole_reads = 0;
            while !flag.load(Ordering::SeqCst) {
                if let Ok(bytes) = std::fs::read(&path) {
                    let json: serde_json::Value =
                        serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                            panic!("torn cache file ({e}): {}", String::from_utf8_lossy(&bytes))
                        });
                    assert_eq!(json["version"], 2);
                    whole_reads += 1;
                }
            }
            whole_reads
        });
        Watcher { stop, thread }
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.join().expect("a reader saw a torn cache file")
    }
}

/// Starts all runs before waiting for any, and returns each run with its child's environment.
fn run_all(
    sandbox: &Sandbox,
    args: &[&str],
) -> Vec<(Run, std::collections::BTreeMap<String, String>)> {
    let mut full: Vec<&str> = args.to_vec();
    full.extend(["--", "env"]);
    let children: Vec<_> = (0..RUNS)
        .map(|_| sandbox.command(&full).spawn().expect("stsexec starts"))
        .collect();
    children
        .into_iter()
        .map(|child| {
            let run = Run::from(child.wait_with_output().unwrap());
            let env = parse_env(&run.stdout);
            (run, env)
        })
        .collect()
}

fn distinct(
    runs: &[(Run, std::collections::BTreeMap<String, String>)],
    name: &str,
) -> BTreeSet<String> {
    runs.iter().map(|(_, env)| env[name].clone()).collect()
}

#[test]
fn parallel_cold_mfa_runs_make_one_get_session_token() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let watcher = Watcher::start(sandbox.cache_file(".stsexec~work~session.json"));
    let runs = run_all(&sandbox, &["work", "-t", CODE, "--mfa"]);
    for (run, _) in &runs {
        run.assert_ok().assert_no_secret();
    }
    assert!(watcher.finish() > 0, "the watcher never saw the cache file");
    assert_eq!(moto.session_tokens(), 1);
    assert_eq!(distinct(&runs, "AWS_SESSION_TOKEN").len(), 1);
}

#[test]
fn parallel_cold_role_runs_make_one_assume_role() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let watcher = Watcher::start(sandbox.cache_file(".stsexec~work~role~123456789012~admin.json"));
    let runs = run_all(&sandbox, &["work", "-t", CODE, "--role", "admin"]);
    for (run, _) in &runs {
        run.assert_ok().assert_no_secret();
    }
    watcher.finish();
    assert_eq!(moto.session_tokens(), 1);
    assert_eq!(moto.assumed_roles().len(), 1);
    // moto makes new keys for every AssumeRole: one key means one session shared by all.
    assert_eq!(distinct(&runs, "AWS_ACCESS_KEY_ID").len(), 1);
    assert_eq!(distinct(&runs, "AWS_SESSION_TOKEN").len(), 1);
}

#[test]
fn waiting_runs_say_so() {
    let sts = FaultServer::start(&[Reply::Slow(1500)]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let children: Vec<_> = (0..6)
        .map(|_| {
            sandbox
                .command(&["work", "-t", CODE, "--", "true"])
                .spawn()
                .unwrap()
        })
        .collect();
    let runs: Vec<Run> = children
        .into_iter()
        .map(|c| Run::from(c.wait_with_output().unwrap()))
        .collect();
    let waited = runs
        .iter()
        .filter(|r| {
            r.stderr.contains("Waiting for another stsexec (pid ")
                && r.stderr.contains(") to refresh account work…")
        })
        .count();
    for run in &runs {
        run.assert_ok();
    }
    assert_eq!(sts.hits(), 1);
    assert!(waited >= 1, "{runs:#?}");
}

#[test]
fn parallel_prompts_show_one_prompt() {
    let moto = Moto::start();
    let sandbox = Arc::new(Sandbox::new().with_sts(&moto.url));
    let threads: Vec<_> = (0..RUNS)
        .map(|_| {
            let sandbox = sandbox.clone();
            std::thread::spawn(move || {
                sandbox.run_on_terminal(&["work", "--mfa", "--", "true"], "123456\r")
            })
        })
        .collect();
    let runs: Vec<Run> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let prompts = runs
        .iter()
        .filter(|r| {
            r.stdout
                .contains("MFA code for work (arn:aws:iam::123456789012:mfa/jb): ")
        })
        .count();
    for run in &runs {
        assert_eq!(run.code, Some(0), "{run:#?}");
    }
    assert_eq!(prompts, 1, "{runs:#?}");
    assert_eq!(moto.session_tokens(), 1);
}

#[test]
fn a_stopped_lock_holder_ends_the_wait_with_a_sentence() {
    let sts = FaultServer::start(&[Reply::Hang]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "60s");
    let mut holder = sandbox
        .command(&["work", "-t", CODE, "--", "true"])
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while sts.hits() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the holder never called STS"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // SAFETY: kill is a plain syscall on a pid this test owns.
    unsafe { libc::kill(holder.id() as i32, libc::SIGSTOP) };
    let started = std::time::Instant::now();
    let run = sandbox.run(&["work", "--mfa", "-t", "654321", "--", "true"]);
    let pid = holder.id();
    holder.kill().unwrap();
    let _ = holder.wait();
    run.assert_code(125)
        .assert_stderr(&format!(
            "Waiting for another stsexec (pid {pid}, calling STS) to refresh account work…"
        ))
        .assert_stderr(&format!(
            "stsexec: stsexec pid {pid} holds account work's lock and is stopped; resume it (fg) or end it (kill {pid})"
        ));
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the wait was not bounded"
    );
}
