//! The MFA prompt reads the controlling terminal; without one it fails at once.

use crate::support::moto::Moto;
use crate::support::*;
use std::time::{Duration, Instant};

#[test]
fn no_terminal_fails_at_once_with_a_hint() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let started = Instant::now();
    sandbox
        .run(&["work", "--mfa", "--", "true"])
        .assert_code(125)
        .assert_stderr("no terminal")
        .assert_stderr("-t/--token");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it waited for input"
    );
    assert_eq!(moto.session_tokens(), 0);
    assert!(!sandbox.cache_file(".stsexec~work~session.json").exists());
}

#[test]
fn prompt_on_the_terminal_asks_again_for_a_malformed_code() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let run = sandbox.run_on_terminal(
        &[
            "work",
            "--mfa",
            "--",
            "sh",
            "-c",
            "echo account=$STSEXEC_ACCOUNT",
        ],
        "12a456\r123456\r",
    );
    assert!(
        run.stdout
            .contains("MFA code for work (arn:aws:iam::123456789012:mfa/jb): "),
        "{run:#?}"
    );
    assert!(
        run.stdout.contains(
            "An MFA code is 6 digits (spaces are ignored), and that was letters; try again"
        ),
        "{run:#?}"
    );
    assert!(run.stdout.contains("account=work-MFA-STS"), "{run:#?}");
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert_eq!(moto.session_tokens(), 1);
}

#[test]
fn three_malformed_codes_give_up() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let run = sandbox.run_on_terminal(&["work", "--mfa", "--", "true"], "1\r22\r333\r");
    assert_eq!(run.code, Some(125), "{run:#?}");
    assert!(
        run.stdout
            .contains("after 3 tries: the entries were not codes (1 digit, 2 digits, 3 digits)"),
        "{run:#?}"
    );
    assert_eq!(moto.session_tokens(), 0);
}
