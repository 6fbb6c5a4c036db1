//! The command replaces stsexec: its status and signals are its own; 125/126/127 otherwise.

use crate::support::*;
use std::os::unix::fs::PermissionsExt;

#[test]
fn exit_status_passes_through() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["work", "--", "sh", "-c", "exit 42"])
        .assert_code(42);
    sandbox
        .run(&["work", "--", "sh", "-c", "exit 0"])
        .assert_ok();
    // Without "--" the command starts at the first word after the account.
    sandbox.run(&["work", "sh", "-c", "exit 7"]).assert_code(7);
}

#[test]
fn the_command_is_execd_in_place() {
    let sandbox = Sandbox::new();
    // Killed by a signal: the status says so (a wrapper process would report 128+n).
    let run = sandbox.run(&["work", "--", "sh", "-c", "kill -TERM $$"]);
    assert_eq!(run.signal, Some(libc::SIGTERM), "{run:#?}");
    // Same process: the command's pid is the one stsexec was started with.
    let child = sandbox
        .command(&["-q", "work", "--", "sh", "-c", "echo $$"])
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), pid.to_string());
    // Rust ignores SIGPIPE for itself; the command must get it back at its default, or
    // `stsexec work -- sh -c 'yes | head -1'` would print "Broken pipe" errors.
    let run = sandbox.run(&[
        "-q",
        "work",
        "--",
        "sh",
        "-c",
        "grep SigIgn /proc/self/status",
    ]);
    let ignored = run
        .stdout
        .trim()
        .strip_prefix("SigIgn:")
        .map(str::trim)
        .unwrap_or_default();
    let mask = u64::from_str_radix(ignored, 16).expect("a signal mask");
    assert_eq!(
        mask & (1 << (libc::SIGPIPE - 1)),
        0,
        "SIGPIPE is ignored in the command"
    );
}

#[test]
fn no_secret_on_the_command_line() {
    let sandbox = Sandbox::new();
    let run = sandbox.run(&[
        "work",
        "--",
        "sh",
        "-c",
        "cat /proc/$$/cmdline | tr '\\0' ' '",
    ]);
    run.assert_ok();
    assert!(run.stdout.contains("sh -c"), "{}", run.stdout);
    assert!(!run.stdout.contains(MARKER), "{}", run.stdout);
}

#[test]
fn default_command_is_the_users_shell() {
    let mut sandbox = Sandbox::new();
    let shell = sandbox.home.path().join("myshell");
    write_file(
        &shell,
        "#!/bin/sh\necho \"shell for $STSEXEC_ACCOUNT\"\n",
        0o755,
    );
    sandbox.set_env("SHELL", shell.to_str().unwrap());
    let run = sandbox.run(&["work"]);
    run.assert_ok();
    assert_eq!(run.stdout.trim(), "shell for work");
    sandbox.remove_env("SHELL");
    // /bin/sh reads its commands from stdin, which is empty here: it exits 0.
    sandbox.run(&["work"]).assert_ok();
}

#[test]
fn missing_and_unrunnable_commands_exit_like_env() {
    let mut sandbox = Sandbox::new();
    sandbox
        .run(&["work", "--", "no-such-command-xyz"])
        .assert_code(127)
        .assert_stderr("no-such-command-xyz: command not found");
    sandbox
        .run(&["work", "--", "/nonexistent/tool"])
        .assert_code(127)
        .assert_stderr("/nonexistent/tool");
    let plain = sandbox.home.path().join("plain");
    write_file(&plain, "echo hi\n", 0o644);
    sandbox
        .run(&["work", "--", plain.to_str().unwrap()])
        .assert_code(126)
        .assert_stderr("permission denied");
    sandbox
        .run(&["work", "--", sandbox.home.path().to_str().unwrap()])
        .assert_code(126)
        .assert_stderr("is a directory");
    // A script without "#!" runs with /bin/sh, as execvp does.
    let script = sandbox.home.path().join("script");
    write_file(&script, "exit 9\n", 0o755);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    sandbox
        .run(&["work", "--", script.to_str().unwrap()])
        .assert_code(9);
    sandbox.set_env("PATH", "");
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(127)
        .assert_stderr("PATH is empty");
}

#[test]
fn stsexec_failures_exit_125_with_a_sentence() {
    let sandbox = Sandbox::new();
    sandbox.run(&["--no-such-flag", "work"]).assert_code(125);
    sandbox.run(&[]).assert_code(125);
    sandbox
        .run(&["../x", "--", "true"])
        .assert_code(125)
        .assert_stderr("invalid account name");
    sandbox
        .run(&["nobody", "--", "true"])
        .assert_code(125)
        .assert_stderr("unknown account nobody: no nobody.access_key in ")
        .assert_stderr("; known accounts: work");
    sandbox
        .run(&["work", "-t", "12a456", "--", "true"])
        .assert_code(125)
        .assert_stderr("for '--token <CODE>': an MFA code is 6 digits");
    sandbox
        .run(&["work", "--mfa", "-d", "40h", "--", "true"])
        .assert_code(125)
        .assert_stderr("-d/--duration");
    let help = sandbox.run(&["--help"]);
    help.assert_ok();
    assert!(help.stdout.contains("--mfa"));
}

/// Issue 19: at 80 columns `--help` broke `--credential-proc`/`ess` mid-word (a usage line
/// was longer than the terminal) and `-h` was 94 lines.
#[test]
fn help_fits_an_80_column_terminal_and_h_one_screen() {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("COLUMNS", "80");
    for flag in ["-h", "--help"] {
        let run = sandbox.run(&[flag]);
        run.assert_ok();
        for line in run.stdout.lines() {
            assert!(line.chars().count() <= 80, "{flag}: {line}");
        }
    }
    let short = sandbox.run(&["-h"]).stdout;
    assert!(short.lines().count() <= 24, "{short}");
}

#[test]
fn open_secret_key_file_is_refused() {
    let sandbox = Sandbox::new();
    let secret = sandbox.creds.join("work.secret_key");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("work.secret_key")
        .assert_stderr("chmod 600")
        .assert_no_secret();
}

#[test]
fn accounts_file_errors_name_the_file() {
    let mut sandbox = Sandbox::new();
    sandbox.write_accounts("[\"work\"]");
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("accounts.json");
    sandbox.write_accounts(r#"{"work": "arn:aws:iam::01212345678:"}"#);
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("account \"work\"");
    let other = sandbox.home.path().join("other.json");
    sandbox.set_env("STSEXEC_CONFIG", other.to_str().unwrap());
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("other.json")
        .assert_stderr("does not exist");
    write_file(&other, &format!(r#"{{"work": "{ACCOUNT_ARN}"}}"#), 0o644);
    sandbox.run(&["work", "--", "true"]).assert_ok();
}
