//! A process killed at any moment leaves the old cache file or the new one, never a torn one,
//! and never a lock that blocks the next run.

use crate::support::fault::{FaultServer, Reply};
use crate::support::moto::Moto;
use crate::support::*;
use std::time::{Duration, Instant};

fn temp_files(sandbox: &Sandbox) -> Vec<String> {
    std::fs::read_dir(&sandbox.creds)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("~tmp~"))
        .collect()
}

#[test]
fn sigkill_at_any_moment_leaves_a_whole_cache_file() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let cache = sandbox.cache_file(".stsexec~work~session.json");
    for round in 0..30u64 {
        let mut child = sandbox
            .command(&[
                "work",
                "-t",
                fresh_code().as_str(),
                "--refresh",
                "--",
                "true",
            ])
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + (round * 37) % 150));
        child.kill().unwrap();
        let _ = child.wait();
        let json = read_json(&cache); // panics on a torn file
        assert_eq!(json["version"], 2, "round {round}");
        assert_eq!(mode_of(&cache), 0o600);
    }
    // The lock died with its holders: the next run neither hangs nor fails, and it removes
    // any temp file a killed run left between creating and renaming it.
    let started = Instant::now();
    sandbox
        .run(&[
            "work",
            "-t",
            fresh_code().as_str(),
            "--refresh",
            "--",
            "true",
        ])
        .assert_ok();
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(temp_files(&sandbox), Vec::<String>::new());
}

#[test]
fn sigkill_during_the_sts_call_keeps_the_old_session() {
    let sts = FaultServer::start(&[Reply::Ok, Reply::Slow(10_000)]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let cache = sandbox.cache_file(".stsexec~work~session.json");
    let before = std::fs::read(&cache).unwrap();

    let mut child = sandbox
        .command(&[
            "work",
            "-t",
            fresh_code().as_str(),
            "--refresh",
            "--",
            "true",
        ])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while sts.hits() < 2 {
        assert!(Instant::now() < deadline, "the refresh never reached STS");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(
        std::fs::read(&cache).unwrap(),
        before,
        "the old session was touched"
    );
    sandbox
        .run(&["work", "--mfa", "--", "true"])
        .assert_ok()
        .assert_stderr("Cache is valid for account work");
}

#[test]
fn stale_temp_files_are_ignored_and_removed() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    for name in [
        ".stsexec~work~session.json~tmp~4242~1",
        ".stsexec~work~role~123456789012~admin.json~tmp~4242~2",
    ] {
        write_file(
            &sandbox.cache_file(name),
            "{\"format\": \"stsexec-sess",
            0o600,
        );
    }
    let other = sandbox.cache_file(".stsexec~home~session.json~tmp~1~1");
    write_file(&other, "{", 0o600);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    assert_eq!(
        temp_files(&sandbox),
        [".stsexec~home~session.json~tmp~1~1"],
        "only work's were removed"
    );
    assert_eq!(
        read_json(&sandbox.cache_file(".stsexec~work~session.json"))["version"],
        2
    );
}
