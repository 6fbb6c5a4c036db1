//! Where MFA codes come from (DESIGN §9): `mfa_process` commands, the used-code ledger, rejected
//! codes, and the prompt on a real pseudo-terminal (text, spaces, Ctrl-D, signals).
//!
//! Time knobs (README, testing notes): `STSEXEC_MFA_STEP` shortens the TOTP step (and so the
//! ledger's 90-s window, 3 steps), `STSEXEC_MFA_PROCESS_TIMEOUT` the 60-s command limit.

use crate::support::fault::{FaultServer, Reply, SESSION_TOKEN};
use crate::support::moto::Moto;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SERIAL: &str = "arn:aws:iam::123456789012:mfa/jb";
const PROMPT: &str = "MFA code for work (arn:aws:iam::123456789012:mfa/jb): ";

/// A shell script in the sandbox's home; `$HOME/runs` gets one line per run.
fn script(sandbox: &Sandbox, name: &str, body: &str) -> PathBuf {
    let path = sandbox.home.path().join(name);
    write_file(
        &path,
        &format!("#!/bin/sh\necho run >> \"$HOME/runs\"\n{body}\n"),
        0o700,
    );
    path
}

fn runs(sandbox: &Sandbox) -> usize {
    std::fs::read_to_string(sandbox.home.path().join("runs"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// The codes GetSessionToken calls carried, in order.
fn sent_codes(sts: &FaultServer) -> Vec<String> {
    sts.bodies()
        .iter()
        .filter_map(|b| {
            b.split('&')
                .find_map(|kv| kv.strip_prefix("TokenCode="))
                .map(str::to_string)
        })
        .collect()
}

/// The one MFA device ledger in the credentials directory (`.stsexec-mfa~<hash>~codes.json`).
fn device_ledger(sandbox: &Sandbox) -> PathBuf {
    let ledgers: Vec<PathBuf> = std::fs::read_dir(&sandbox.creds)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with(".stsexec-mfa~") && name.ends_with("~codes.json")
        })
        .collect();
    assert_eq!(ledgers.len(), 1, "{ledgers:?}");
    assert_eq!(
        ledgers[0],
        sandbox
            .creds
            .join(stsexec::cache::names::device_name(SERIAL, "codes.json"))
    );
    ledgers[0].clone()
}

/// Two accounts configured with one MFA device (issue 20 item 9).
fn two_accounts_one_device(sandbox: &Sandbox) {
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{ACCOUNT_ARN}", "mfa_serial": "{SERIAL}"}}, "play": {{"arn": "arn:aws:iam::210987654321:", "mfa_serial": "{SERIAL}"}}}}"#
    ));
    sandbox.write_keys("play", "AKIAPLAYPLAYPLAY0001", "SECRETMARKER-play");
}

#[test]
fn one_device_for_two_accounts_never_gets_one_code_twice_in_sequence() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    two_accounts_one_device(&sandbox);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    sandbox
        .run(&["play", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr("-t/--token: that MFA code was already used");
    assert_eq!(sts.hits(), 1);
}

#[test]
fn one_device_for_two_accounts_never_gets_one_code_twice_in_parallel() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = std::sync::Arc::new(Sandbox::new().with_sts(&sts.url));
    two_accounts_one_device(&sandbox);
    let threads: Vec<_> = ["work", "play", "work", "play"]
        .into_iter()
        .map(|account| {
            let sandbox = sandbox.clone();
            std::thread::spawn(move || {
                sandbox.run(&[account, "-t", CODE, "--refresh", "--", "true"])
            })
        })
        .collect();
    let runs: Vec<Run> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = runs.iter().filter(|r| r.code == Some(0)).count();
    assert_eq!(ok, 1, "{runs:#?}");
    for run in runs.iter().filter(|r| r.code != Some(0)) {
        run.assert_code(125)
            .assert_stderr("that MFA code was already used");
    }
    assert_eq!(sent_codes(&sts), [CODE]);
}

/// Prints the code of the current step (STSEXEC_MFA_STEP=3s: a new code every 3 s).
const STEP_CODE: &str = "printf '%06d\\n' $(( ($(date +%s) / 3) % 1000000 ))";

#[test]
fn mfa_process_flag_and_accounts_file_give_the_code_with_real_sts() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    // Spaces are ignored; the command sees the account and device, and no AWS secret.
    let cmd = script(
        &sandbox,
        "code.sh",
        r#"[ "$STSEXEC_ACCOUNT_NAME" = work ] || exit 3
[ "$STSEXEC_MFA_SERIAL" = arn:aws:iam::123456789012:mfa/jb ] || exit 4
[ -z "$AWS_SECRET_ACCESS_KEY$AWS_SESSION_TOKEN" ] || exit 5
echo ' 123 456 '"#,
    );
    sandbox.set_env("AWS_SECRET_ACCESS_KEY", "SECRETMARKER-ambient");
    sandbox.set_env("AWS_SESSION_TOKEN", "SECRETMARKER-ambient-token");
    let (run, env) = sandbox.child_env(&["work", "--mfa-process", cmd.to_str().unwrap()]);
    run.assert_ok().assert_no_secret();
    assert_eq!(env["STSEXEC_ACCOUNT"], "work-MFA-STS");
    assert_eq!(moto.session_tokens(), 1);
    assert_eq!(runs(&sandbox), 1);

    // The accounts file's mfa_process: --mfa alone uses it (with --refresh, a new call).
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{ACCOUNT_ARN}", "mfa_process": "{}"}}}}"#,
        cmd.display()
    ));
    sandbox.set_env("STSEXEC_MFA_STEP", "1s");
    sandbox
        .run(&["work", "--mfa", "--refresh", "--", "true"])
        .assert_ok()
        .assert_no_secret();
    assert_eq!(moto.session_tokens(), 2);
    assert!(runs(&sandbox) >= 2);
}

#[test]
fn back_to_back_runs_never_send_one_code_twice() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("STSEXEC_MFA_STEP", "3s");
    let cmd = script(&sandbox, "step.sh", STEP_CODE);
    let mut waited = 0;
    for _ in 0..3 {
        let run = sandbox.run(&[
            "work",
            "--mfa-process",
            cmd.to_str().unwrap(),
            "--refresh",
            "--",
            "true",
        ]);
        run.assert_ok().assert_no_secret();
        if run
            .stderr
            .contains("s for a fresh MFA code (each code works once)")
        {
            assert!(run.stderr.contains("Waiting "), "{run:#?}");
            waited += 1;
        }
    }
    let codes = sent_codes(&sts);
    assert_eq!(codes.len(), 3, "{codes:?}");
    let mut distinct = codes.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 3, "a code was sent twice: {codes:?}");
    assert!(waited >= 1, "no run waited for a fresh code");
    // The ledger: the device's, owner-only, in the credentials directory, and never a session
    // secret.
    let ledger = device_ledger(&sandbox);
    assert_eq!(mode_of(&ledger), 0o600);
    let text = std::fs::read_to_string(&ledger).unwrap();
    assert!(text.contains(SERIAL) && !text.contains(MARKER), "{text}");
}

#[test]
fn a_given_code_the_ledger_just_recorded_is_refused() {
    // -t with a code the ledger just recorded is refused before STS is called.
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox
        .run(&["work", "-t", "123 456", "--", "true"])
        .assert_ok();
    sandbox
        .run(&["work", "-t", "123456", "--refresh", "--", "true"])
        .assert_code(125)
        .assert_stderr("-t/--token: that MFA code was already used for account work")
        .assert_stderr("wait for the next code");
    assert_eq!(sts.hits(), 1);
}

#[test]
fn a_garbage_ledger_is_ignored_with_a_warning() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    write_file(
        &sandbox
            .creds
            .join(stsexec::cache::names::device_name(SERIAL, "codes.json")),
        "{garbage",
        0o600,
    );
    sandbox
        .run(&["work", "-t", "123456", "--", "true"])
        .assert_ok()
        .assert_stderr("is ignored");
    assert_eq!(sts.hits(), 1);
}

#[test]
fn failing_garbage_and_slow_commands_are_sentences_naming_the_command() {
    let moto = Moto::start();
    let mut sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.set_env("STSEXEC_MFA_PROCESS_TIMEOUT", "1s");
    let failing = script(&sandbox, "fail.sh", "echo 654321; exit 1");
    let garbage = script(&sandbox, "garbage.sh", "echo 'SECRETMARKER 654321'");
    let slow_pid = sandbox.home.path().join("slow.pid");
    let slow = script(
        &sandbox,
        "slow.sh",
        &format!("sleep 30 & echo $! > {}\nwait", slow_pid.display()),
    );
    for (cmd, why) in [
        (&failing, "exited with status 1"),
        (
            &garbage,
            "printed something other than an MFA code (it must print only the 6 digits)",
        ),
        (&slow, "gave no code within 1s and was stopped"),
    ] {
        let started = Instant::now();
        let cmd = cmd.to_str().unwrap();
        let run = sandbox.run(&["work", "--mfa-process", cmd, "--", "true"]);
        run.assert_code(125).assert_no_secret().assert_stderr(&format!(
            "stsexec: the MFA code command `{cmd}` (from --mfa-process) for account work {why}; run it yourself to see why, or fix it"
        ));
        assert!(!run.stderr.contains("654321"), "output echoed: {run:#?}");
        assert!(started.elapsed() < Duration::from_secs(15), "{cmd}");
    }
    assert_eq!(moto.session_tokens(), 0);
    // The time-out ended the command's whole process group.
    let pid: i32 = std::fs::read_to_string(&slow_pid)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(gone(pid), "the slow command's sleep {pid} survived");
}

/// Whether a process has ended (gone, or a zombie waiting for its reaper).
fn gone(pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat.rsplit(')').next().unwrap_or("").trim_start();
        if stat.is_empty() || state.starts_with('Z') {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_rejected_code_from_a_command_is_retried_once_in_the_next_step() {
    let sts = FaultServer::start(&[Reply::RejectMfa, Reply::Ok]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("STSEXEC_MFA_STEP", "3s");
    let cmd = script(&sandbox, "step.sh", STEP_CODE);
    let (run, env) = sandbox.child_env(&["work", "--mfa-process", cmd.to_str().unwrap()]);
    run.assert_ok()
        .assert_no_secret()
        .assert_stderr("STS rejected the MFA code from `")
        .assert_stderr("waiting");
    assert_eq!(env["AWS_SESSION_TOKEN"], SESSION_TOKEN);
    let codes = sent_codes(&sts);
    assert_eq!(codes.len(), 2);
    assert_ne!(codes[0], codes[1]);

    let always = FaultServer::start(&[Reply::RejectMfa]);
    let sandbox = {
        let mut s = Sandbox::new().with_sts(&always.url);
        s.set_env("STSEXEC_MFA_STEP", "2s");
        s
    };
    let cmd = script(&sandbox, "step.sh", STEP_CODE);
    sandbox
        .run(&["work", "--mfa-process", cmd.to_str().unwrap(), "--", "true"])
        .assert_code(125)
        .assert_stderr("STS rejected two MFA codes from `")
        .assert_stderr(SERIAL);
    assert_eq!(always.hits(), 2);
}

#[test]
fn the_prompt_names_account_and_device_ignores_spaces_and_asks_again_after_a_rejection() {
    let sts = FaultServer::start(&[Reply::RejectMfa, Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let run = sandbox.run_on_pty(
        &[
            "work",
            "--mfa",
            "--",
            "sh",
            "-c",
            "echo account=$STSEXEC_ACCOUNT",
        ],
        &[
            (PROMPT, "111 111\r"),
            ("STS rejected that code", "222 222\r"),
        ],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert!(run.output.contains(PROMPT), "{run:#?}");
    assert!(run.output.contains("account=work-MFA-STS"), "{run:#?}");
    // A one-time code is not a password: it is shown as typed (issue 19).
    assert!(
        run.output.contains(&format!("{PROMPT}111 111\r\n")),
        "the code was not echoed: {run:#?}"
    );
    assert_eq!(sent_codes(&sts), ["111111", "222222"]);
    assert_eq!(run.before, run.after);

    // A typed code the ledger just recorded is refused at once and asked again.
    let run = sandbox.run_on_pty(
        &["work", "--mfa", "--refresh", "--", "true"],
        &[(PROMPT, "222222\r"), ("was just used", "333333\r")],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert!(
        run.output
            .contains("That code was just used (each code works once)"),
        "{run:#?}"
    );
    assert_eq!(sent_codes(&sts), ["111111", "222222", "333333"]);
}

#[test]
fn ctrl_d_cancels_on_a_new_line_and_a_partial_entry_ends_at_eof() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let run = sandbox.run_on_pty(&["work", "--mfa", "--", "true"], &[(PROMPT, "\x04")], None);
    assert_eq!(run.returncode, 125, "{run:#?}");
    assert!(
        run.output.contains(&format!(
            "{PROMPT}\r\nstsexec: MFA code prompt for account work cancelled; nothing was changed"
        )),
        "{run:#?}"
    );
    assert_eq!(run.before, run.after);
    // `123` then Ctrl-D ends that entry (malformed: asked again), then Ctrl-D cancels.
    let run = sandbox.run_on_pty(
        &["work", "--mfa", "--", "true"],
        &[(PROMPT, "123\x04"), ("try again", "\x04")],
        None,
    );
    assert_eq!(run.returncode, 125, "{run:#?}");
    assert!(
        run.output.contains(
            "An MFA code is 6 digits (spaces are ignored), and that was 3 digits; try again"
        ),
        "{run:#?}"
    );
    assert!(run.output.contains("cancelled"), "{run:#?}");
    assert_eq!(sts.hits(), 0);
}

#[test]
fn signals_at_the_prompt_leave_the_terminal_as_it_was() {
    let sandbox = Sandbox::new().with_sts("http://127.0.0.1:9");
    for (name, typed, signal) in [
        ("Ctrl-C", "\x03", None),
        ("SIGINT", "", Some(libc::SIGINT)),
        ("SIGTERM", "", Some(libc::SIGTERM)),
        ("SIGHUP", "", Some(libc::SIGHUP)),
    ] {
        let run = sandbox.run_on_pty(&["work", "--mfa", "--", "true"], &[(PROMPT, typed)], signal);
        let expected = -signal.unwrap_or(libc::SIGINT);
        assert_eq!(run.returncode, expected, "{name}: {run:#?}");
        assert!(!run.before.is_empty(), "{name}: {run:#?}");
        assert_eq!(run.before, run.after, "{name}: terminal modes changed");
    }
}

#[test]
fn no_terminal_and_no_command_fails_at_once_with_both_hints() {
    let sandbox = Sandbox::new().with_sts("http://127.0.0.1:9");
    sandbox
        .run(&["work", "--mfa", "--", "true"])
        .assert_code(125)
        .assert_stderr("there is no terminal to ask on; pass it with -t/--token CODE, or name a command that prints it with --mfa-process CMD");
    assert!(!Path::new(&sandbox.creds.join(".stsexec~work~codes.json")).exists());
}

#[test]
fn parallel_cold_runs_run_the_command_once() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = std::sync::Arc::new(Sandbox::new().with_sts(&sts.url));
    let cmd = script(&sandbox, "code.sh", "echo 123456");
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (sandbox, cmd) = (sandbox.clone(), cmd.clone());
            std::thread::spawn(move || {
                sandbox.run(&["work", "--mfa-process", cmd.to_str().unwrap(), "--", "true"])
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap().assert_ok();
    }
    assert_eq!(runs(&sandbox), 1);
    assert_eq!(sts.hits(), 1);
}

#[test]
fn the_prompt_times_out_with_a_sentence() {
    let mut sandbox = Sandbox::new().with_sts("http://127.0.0.1:9");
    sandbox.set_env("STSEXEC_PROMPT_TIMEOUT", "1s");
    let run = sandbox.run_on_pty(&["work", "--mfa", "--", "true"], &[], None);
    assert_eq!(run.returncode, 125, "{run:#?}");
    assert!(
        run.output
            .contains("no MFA code was typed for account work within 1s, so the prompt gave up"),
        "{run:#?}"
    );
    assert_eq!(run.before, run.after);
}

/// Issue 19: `--mfa-prompt` asks on the terminal although the account has an `mfa_process`
/// (the YubiKey is at home), which never runs; the code is echoed; the terminal is restored.
#[test]
fn mfa_prompt_asks_on_the_terminal_even_with_an_mfa_process() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let cmd = script(&sandbox, "code.sh", "echo 123456");
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{ACCOUNT_ARN}", "mfa_process": "{}"}}}}"#,
        cmd.display()
    ));
    let run = sandbox.run_on_pty(
        &[
            "work",
            "--mfa-prompt",
            "--",
            "sh",
            "-c",
            "echo account=$STSEXEC_ACCOUNT",
        ],
        &[(PROMPT, "654 321\r")],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert!(
        run.output.contains(&format!("{PROMPT}654 321\r\n")),
        "{run:#?}"
    );
    assert!(run.output.contains("account=work-MFA-STS"), "{run:#?}");
    assert_eq!(runs(&sandbox), 0, "the mfa_process ran");
    assert_eq!(sent_codes(&sts), ["654321"]);
    assert_eq!(run.before, run.after);
}

/// Issue 19: an `mfa_process` that fails (ykman not installed) on a terminal says why in one
/// line and asks for the code instead of failing; without a terminal it still fails (125).
#[test]
fn a_failing_mfa_process_on_a_terminal_says_why_and_asks_for_the_code() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let command = "ykman-not-installed oath accounts code --single work";
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{ACCOUNT_ARN}", "mfa_process": "{command}"}}}}"#
    ));
    let run = sandbox.run_on_pty(
        &["work", "--mfa", "--", "true"],
        &[(PROMPT, "123456\r")],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    let said = format!(
        "stsexec: the MFA code command `{command}` (from mfa_process in {}) exited with status 127; type the code instead\r\n{PROMPT}123456\r\n",
        sandbox.creds.join("accounts.json").display()
    );
    assert!(run.output.contains(&said), "{run:#?}");
    assert_eq!(sent_codes(&sts), ["123456"]);
    assert_eq!(run.before, run.after);
    let off_terminal = sandbox.run(&["work", "--mfa", "--refresh", "--", "true"]);
    off_terminal
        .assert_code(125)
        .assert_stderr("exited with status 127; run it yourself to see why, or fix it");
}

/// Issue 19: after three malformed entries the sentence says what was wrong with them, not
/// the device's clock.
#[test]
fn three_malformed_entries_are_told_what_was_wrong() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let sandbox = Sandbox::new().with_sts(&sts.url);
    let run = sandbox.run_on_pty(
        &["work", "--mfa", "--", "true"],
        &[
            (PROMPT, "12345\r"),
            ("that was 5 digits; try again", "12a456\r"),
            ("that was letters; try again", "1234567\r"),
        ],
        None,
    );
    assert_eq!(run.returncode, 125, "{run:#?}");
    assert!(
        run.output.contains(
            "stsexec: no MFA code for account work after 3 tries: the entries were not codes (5 digits, letters, 7 digits); type the 6 digits device arn:aws:iam::123456789012:mfa/jb shows now (spaces are ignored)"
        ),
        "{run:#?}"
    );
    assert!(!run.output.contains("clock"), "{run:#?}");
    assert_eq!(sts.hits(), 0);
    assert_eq!(run.before, run.after);
}

/// Issue 19 (DESIGN §9, one touch per code): right after a code was used, the next run waits
/// for the next step and runs the `mfa_process` once — not once for the used code and again
/// after the wait (a wasted YubiKey touch). The command counts its runs.
#[test]
fn after_a_just_used_code_the_mfa_process_runs_once() {
    let sts = FaultServer::start(&[Reply::Ok]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    sandbox.set_env("STSEXEC_MFA_STEP", "4s");
    let cmd = script(
        &sandbox,
        "step.sh",
        "printf '%06d\\n' $(( ($(date +%s) / 4) % 1000000 ))",
    );
    let args = [
        "work",
        "--mfa-process",
        cmd.to_str().unwrap(),
        "--refresh",
        "--",
        "true",
    ];
    // Both runs within one step: start at the beginning of one (the condition waited on is
    // the clock's position in the step, not a duration).
    while std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        % 4000
        > 500
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    sandbox.run(&args).assert_ok();
    assert_eq!(runs(&sandbox), 1);
    // Within the first run's step it waits first, saying so; past it (a slow machine) the
    // code is new anyway. Either way the command runs once.
    let second = sandbox.run(&args);
    second.assert_ok();
    assert_eq!(
        runs(&sandbox),
        2,
        "the mfa_process ran more than once: {second:#?}"
    );
    let codes = sent_codes(&sts);
    assert_eq!(codes.len(), 2);
    assert_ne!(codes[0], codes[1]);
}
