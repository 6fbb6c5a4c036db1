//! What a new user meets (issue 11): sentences that name the thing and the fix, the mode's
//! usage, the time left, hints on a terminal.

use crate::support::moto::Moto;
use crate::support::*;

#[test]
fn a_typo_in_an_account_name_suggests_the_known_one() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&["wrok", "--", "true"]);
    run.assert_code(125).assert_stderr(&format!(
        "stsexec: unknown account wrok: no wrok.access_key in {} and no entry in the accounts file; did you mean work?",
        sandbox.creds.display()
    ));
    assert!(!sandbox.creds.join(".stsexec~wrok~lock").exists());
    sandbox
        .run(&["--clear", "nosuch"])
        .assert_code(125)
        .assert_stderr("unknown account nosuch:");
}

#[test]
fn argument_errors_carry_the_prefix_and_point_to_help_and_list() {
    let sandbox = Sandbox::new();
    let bare = sandbox.run(&[]);
    bare.assert_code(125).assert_stderr(
        "stsexec: an ACCOUNT is needed: stsexec --list shows yours, stsexec --help every option",
    );
    let typo = sandbox.run(&["--regoin", "eu-west-1", "work"]);
    typo.assert_code(125)
        .assert_stderr("stsexec: unexpected argument '--regoin' found")
        .assert_stderr("a similar argument exists: '--region'");
    for run in [&bare, &typo] {
        assert!(!run.stderr.contains("error:"), "{run:#?}");
        assert!(
            run.stderr
                .contains("stsexec --list | --status | --clear [ACCOUNT]")
        );
    }
    sandbox.run(&["work", "--export=bash"]).assert_ok();
    sandbox.run(&["work", "--export=zsh"]).assert_ok();
}

#[test]
fn cache_hits_say_the_time_left_and_an_unused_code_is_named() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let run = sandbox.run(&["work", "-t", &fresh_code(), "--", "true"]);
    run.assert_ok()
        .assert_stderr("Cache is valid for account work (11h 59m left)")
        .assert_stderr(
            "-t not used: a valid session is cached for account work (--refresh uses it)",
        );
    assert_eq!(moto.session_tokens(), 1);
}

#[test]
fn list_without_accounts_prints_a_sentence_and_no_table() {
    let sandbox = Sandbox::new();
    std::fs::remove_file(sandbox.creds.join("work.access_key")).unwrap();
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    std::fs::remove_file(sandbox.creds.join("accounts.json")).unwrap();
    let run = sandbox.run(&["--list"]);
    run.assert_ok()
        .assert_stderr("No accounts: no *.access_key files in ");
    assert_eq!(run.stdout, "", "no empty table");
}

#[test]
fn on_a_terminal_a_subshell_says_how_to_leave_and_export_warns() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("SHELL", "/bin/sh");
    let run = sandbox.run_on_terminal_after(&["work"], "exit to return", "exit\r");
    assert_eq!(run.code, Some(0), "{run:#?}");
    assert!(
        run.stdout
            .contains("A subshell with these keys: exit to return"),
        "{run:#?}"
    );
    let run = sandbox.run_on_terminal(&["work", "--export"], "");
    assert!(
        run.stdout
            .contains("stsexec: warning: --export prints secrets to the terminal; use eval \"$(stsexec … --export)\""),
        "{run:#?}"
    );
    // In fish, the warning gives fish's form (issue 19); --json warns too.
    sandbox.set_env("SHELL", "/usr/bin/fish");
    let run = sandbox.run_on_terminal(&["work", "--export"], "");
    assert!(
        run.stdout
            .contains("use eval (stsexec … --export | string collect)")
            && run.stdout.contains("set -gx AWS_ACCESS_KEY_ID"),
        "{run:#?}"
    );
    let run = sandbox.run_on_terminal(&["work", "--json"], "");
    assert!(
        run.stdout
            .contains("stsexec: warning: --json prints secrets to the terminal"),
        "{run:#?}"
    );
}
