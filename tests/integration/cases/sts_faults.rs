//! What moto can't do, from the fault server: rejected codes, throttling, 5xx, hangs.

use crate::support::fault::{FaultServer, Reply, SESSION_TOKEN};
use crate::support::*;
use std::time::{Duration, Instant};

/// No session file (the used-code record may be written: STS accepted the code even when
/// stsexec then refuses the session it answered with).
fn no_cache_written(sandbox: &Sandbox) {
    let names: Vec<String> = std::fs::read_dir(&sandbox.creds)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.ends_with(".json") && n.starts_with(".stsexec~") && !n.ends_with("~codes.json")
        })
        .collect();
    assert!(names.is_empty(), "cache written after a failure: {names:?}");
}

#[test]
fn rejected_mfa_code_is_a_sentence_and_caches_nothing() {
    let sts = FaultServer::start(&[Reply::RejectMfa]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("rejected the MFA code for account work")
        .assert_stderr("wait for the next code")
        .assert_no_secret();
    assert_eq!(sts.hits(), 1, "a rejected code is not retried");
    let body = &sts.bodies()[0];
    assert!(
        body.contains("Action=GetSessionToken") && body.contains("TokenCode=123456"),
        "{body}"
    );
    assert!(body.contains("DurationSeconds=43200"), "{body}");
    no_cache_written(&sandbox);
}

#[test]
fn throttling_and_server_errors_are_retried() {
    for first in [Reply::Throttle, Reply::ServerError] {
        let sts = FaultServer::start(&[first, Reply::Ok]);
        let sandbox = Sandbox::new().with_sts(&sts.url);
        let (run, env) = sandbox.child_env(&["work", "-t", CODE]);
        run.assert_ok().assert_no_secret();
        assert_eq!(env["AWS_SESSION_TOKEN"], SESSION_TOKEN);
        assert_eq!(sts.hits(), 2, "{first:?}");
    }
}

#[test]
fn persistent_server_errors_give_up_after_bounded_attempts() {
    let sts = FaultServer::start(&[Reply::ServerError]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("HTTP 500")
        .assert_stderr("after 3 attempts");
    assert_eq!(sts.hits(), 3);
    no_cache_written(&sandbox);
}

#[test]
fn a_hanging_sts_gives_up_within_its_bound() {
    let sts = FaultServer::start(&[Reply::Hang]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    // The bound is a setting (default 15 s); 2 s keeps this test short. The time check below
    // is a generous hang detector, not a speed test.
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "2s");
    let started = Instant::now();
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("did not answer within 2 s")
        .assert_stderr(&sts.url);
    assert!(
        started.elapsed() <= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    no_cache_written(&sandbox);
}

#[test]
fn unreachable_sts_names_the_url() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let sandbox = Sandbox::new().with_sts(&url);
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr(&format!("STS unreachable at {url}"));
    no_cache_written(&sandbox);
}

#[test]
fn refused_keys_and_roles_are_named() {
    let sts = FaultServer::start(&[Reply::InvalidKey]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("AKIA…MPLE")
        .assert_stderr("inactive")
        .assert_no_secret();
    assert!(
        !sandbox
            .run(&["-v", "work", "-t", CODE, "--", "true"])
            .stderr
            .contains(ACCESS_KEY)
    );

    let sts = FaultServer::start(&[Reply::DenyRole]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["-v", "work", "--role", "admin", "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("may not assume arn:aws:iam::123456789012:role/admin")
        .assert_stderr("account work");
    no_cache_written(&sandbox);
}

#[test]
fn truncated_responses_do_not_echo_what_they_held() {
    let sts = FaultServer::start(&[Reply::Truncated]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("answered GetSessionToken for account work with");
    no_cache_written(&sandbox);
}

#[test]
fn malformed_responses_are_reported() {
    let sts = FaultServer::start(&[Reply::Malformed]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr("cannot read");
    no_cache_written(&sandbox);
}

#[test]
fn a_slow_sts_is_announced_on_a_terminal_after_a_second() {
    let sts = FaultServer::start(&[Reply::Hang]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "3s");
    let run = sandbox.run_on_terminal(&["work", "-t", CODE, "--", "true"], "");
    assert_eq!(run.code, Some(125), "{run:#?}");
    assert!(
        run.stdout.contains(&format!(
            "Waiting for STS at {} (GetSessionToken)…",
            sts.url
        )),
        "{run:#?}"
    );
    // Without a terminal the line is not printed (scripts get only the outcome).
    let quiet = sandbox.run(&["work", "-t", CODE, "--", "true"]);
    assert!(!quiet.stderr.contains("Waiting for STS"), "{quiet:#?}");
}

#[test]
fn sessions_of_a_suspicious_lifetime_or_size_are_refused() {
    let far = 900 * 365 * 24 * 3600;
    for (reply, sentence) in [
        (
            Reply::Lasting(far),
            "longer than the 12h asked; refused (is AWS_ENDPOINT_URL_STS an STS endpoint?)",
        ),
        (
            Reply::Lasting(2),
            "that ends in 1s, within the 5m window; refused",
        ),
        (Reply::HugeToken, "with a session token larger than 16 KiB"),
    ] {
        let sts = FaultServer::start(&[reply]);
        let sandbox = Sandbox::new().with_sts(&sts.url);
        sandbox
            .run(&["work", "-t", CODE, "--", "true"])
            .assert_code(125)
            .assert_no_secret()
            .assert_stderr(sentence);
        no_cache_written(&sandbox);
    }
}

/// A resolver that takes 30 s: the call gives up at its bound and stsexec exits then, not when
/// the lookup thread finishes (dropping a runtime would otherwise join it, holding the lock).
#[test]
fn a_slow_resolver_does_not_stretch_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("slow_dns.c");
    std::fs::write(
        &source,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <string.h>
#include <unistd.h>
int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res) {
    int (*real)(const char *, const char *, const struct addrinfo *, struct addrinfo **) = dlsym(RTLD_NEXT, "getaddrinfo");
    if (node && strstr(node, "slow-resolver")) sleep(30);
    return real(node, service, hints, res);
}
"#,
    )
    .unwrap();
    let shim = dir.path().join("slow_dns.so");
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("cc (gcc) is needed to build the slow-resolver shim");
    assert!(built.success(), "building the shim failed");
    let mut sandbox = Sandbox::new().with_sts("http://slow-resolver.invalid:9");
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "2s");
    sandbox.set_env("LD_PRELOAD", shim.to_str().unwrap());
    let started = Instant::now();
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("did not answer within 2 s");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "stsexec waited for the resolver: {:?}",
        started.elapsed()
    );
}

#[test]
fn an_endless_answer_is_cut_off_at_the_cap() {
    let sts = FaultServer::start(&[Reply::Endless]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let started = Instant::now();
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(
            "with more than 64 KiB, far more than an STS answer; refused (is AWS_ENDPOINT_URL_STS an STS endpoint?)",
        );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    no_cache_written(&sandbox);
}
