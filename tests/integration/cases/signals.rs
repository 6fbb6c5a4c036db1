//! `--server`: every signal reaches the command exactly once (DESIGN §8, issue 19), in the
//! ways jobs are really stopped: Ctrl-C on a terminal, a script's `kill $!`, `timeout`, a
//! signal to a script's whole process group, and a CI runner signalling the group of the
//! `bash -c` it started. The command is a job that counts what it receives.

use crate::support::fault::{FaultServer, Reply};
use crate::support::server::*;
use crate::support::*;
use std::path::PathBuf;
use std::time::Duration;

/// Generous: a loaded 2-core machine. Only a hang guard; nothing is timed.
const PATIENCE: Duration = Duration::from_secs(120);

/// The job: writes each TERM, INT, USR1 and USR2 it receives to `$HOME/got`, its pid to
/// `$HOME/ready`, and exits 7 once `$HOME/stop` exists. USR1 and USR2 are the tests' markers:
/// stsexec relays one signal after the other, so once the job has seen a marker sent after
/// some signal, a second copy of that signal would have come before it.
const JOB: &str = r#"#!/bin/sh
trap 'echo TERM >> "$HOME/got"' TERM
trap 'echo INT >> "$HOME/got"' INT
trap 'echo USR1 >> "$HOME/got"' USR1
trap 'echo USR2 >> "$HOME/got"' USR2
echo $$ > "$HOME/ready.tmp" && mv "$HOME/ready.tmp" "$HOME/ready"
while [ ! -e "$HOME/stop" ]; do sleep 0.05; done
exit 7
"#;

struct Rig {
    _sts: FaultServer,
    sandbox: Sandbox,
    job: PathBuf,
}

impl Rig {
    fn new() -> Rig {
        let sts = FaultServer::start(&[Reply::Ok]);
        let sandbox = Sandbox::new().with_sts(&sts.url);
        let job = sandbox.home.path().join("job.sh");
        write_file(&job, JOB, 0o755);
        Rig {
            _sts: sts,
            sandbox,
            job,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.sandbox.home.path().join(name)
    }

    /// `stsexec … --server -- job.sh` as a shell line.
    fn stsexec_line(&self) -> String {
        format!(
            "{} -q work --role admin --server -- {}",
            stsexec(),
            self.job.display()
        )
    }

    /// The job's pid, once it runs.
    fn job_pid(&self) -> i32 {
        wait_for_file(&self.path("ready"), PATIENCE)
            .trim()
            .parse()
            .unwrap()
    }

    /// Waits until the job has written `line`.
    #[track_caller]
    fn wait_for(&self, line: &str) {
        let deadline = std::time::Instant::now() + PATIENCE;
        while self.count(line) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the job never got {line}: {:?}",
                std::fs::read_to_string(self.path("got"))
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(&self, line: &str) -> usize {
        std::fs::read_to_string(self.path("got"))
            .map_or(0, |t| t.lines().filter(|l| *l == line).count())
    }

    /// Sends the marker (USR1) to stsexec, waits for the job to see it, and returns how often
    /// the job got `signal` by then.
    fn count_after_marker(&self, stsexec_pid: i32, signal: &str) -> usize {
        self.count_after(stsexec_pid, (libc::SIGUSR1, "USR1"), signal)
    }

    /// As `count_after_marker` with another marker (the same signal twice within a second is
    /// relayed once).
    fn count_after(&self, stsexec_pid: i32, marker: (i32, &str), signal: &str) -> usize {
        signal_process(stsexec_pid, marker.0);
        self.wait_for(marker.1);
        self.count(signal)
    }

    fn stop(&self) {
        std::fs::write(self.path("stop"), "").unwrap();
    }
}

fn sh(rig: &Rig, script: &str) -> Job {
    Job::start("sh", &["-c", script], &rig.sandbox.env_pairs())
}

#[test]
fn ctrl_c_on_a_terminal_reaches_the_job_once_and_the_job_shares_the_terminal() {
    let rig = Rig::new();
    let mut terminal = Terminal::start(
        &format!("exec {}", rig.stsexec_line()),
        &rig.sandbox.env_pairs(),
    );
    let job = rig.job_pid();
    let stsexec_pid = parent_of(job);
    // In the terminal's foreground the job stays in stsexec's group, which the terminal
    // signals (and which `fg`/`bg` and Ctrl-Z act on).
    assert_eq!(group_of(job), group_of(stsexec_pid));
    terminal.type_text(b"\x03");
    rig.wait_for("INT");
    // Another process's signal to stsexec is relayed; any relay of the terminal's SIGINT
    // would have come before it.
    assert_eq!(rig.count_after_marker(stsexec_pid, "INT"), 1);
    rig.stop();
    let (code, output) = terminal.wait();
    assert_eq!(code, Some(7), "{output}");
}

/// Before: the script and stsexec share a process group, the sudo rule dropped the script's
/// TERM, and the job ran on.
#[test]
fn a_scripts_kill_of_the_background_stsexec_reaches_the_job_once() {
    let rig = Rig::new();
    let script = format!(
        r#"{line} &
pid=$!
while [ ! -e "$HOME/ready" ]; do sleep 0.05; done
kill $pid
while ! grep -qx TERM "$HOME/got" 2>/dev/null; do sleep 0.05; done
kill -USR1 $pid
while ! grep -qx USR1 "$HOME/got" 2>/dev/null; do sleep 0.05; done
touch "$HOME/stop"
wait $pid
echo "stsexec ended with $?""#,
        line = rig.stsexec_line()
    );
    let run = sh(&rig, &script).wait(PATIENCE);
    assert_eq!(run.stdout.trim(), "stsexec ended with 7", "{run:#?}");
    assert_eq!(rig.count("TERM"), 1, "{run:#?}");
}

/// `timeout` sends its signal to stsexec and then to its own process group, stsexec included:
/// one TERM for the job. (Before: both came from stsexec's group and were dropped.) The test
/// sets off timeout's expiry path by signalling timeout, so no wall-clock guess is needed.
#[test]
fn timeout_stops_the_job_with_one_term() {
    let rig = Rig::new();
    let mut args = vec!["600"];
    let line = rig.stsexec_line();
    args.extend(line.split(' '));
    let timeout = Job::start("timeout", &args, &rig.sandbox.env_pairs());
    let job = rig.job_pid();
    let stsexec_pid = parent_of(job);
    assert_eq!(parent_of(stsexec_pid), timeout.pid());
    assert_ne!(group_of(job), group_of(stsexec_pid), "the job's own group");
    signal_process(timeout.pid(), libc::SIGTERM);
    rig.wait_for("TERM");
    assert_eq!(rig.count_after_marker(stsexec_pid, "TERM"), 1);
    rig.stop();
    let run = timeout.wait(PATIENCE);
    assert_eq!(run.code, Some(7), "{run:#?}");
}

/// `kill -TERM -<pgid>` of a script that runs stsexec in the background: the script's group
/// holds stsexec but not the job, which gets the TERM once, from stsexec. (Before, the job
/// was in the script's group too and got it directly and again from stsexec.)
#[test]
fn a_signal_to_the_scripts_group_reaches_the_job_once() {
    let rig = Rig::new();
    let script = format!(
        r#"{line} &
echo $! > "$HOME/stsexec.pid"
wait"#,
        line = rig.stsexec_line()
    );
    let group = sh(&rig, &script);
    let job = rig.job_pid();
    let stsexec_pid: i32 = std::fs::read_to_string(rig.path("stsexec.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(group_of(stsexec_pid), group.pid());
    assert_ne!(group_of(job), group.pid());
    group.signal_group(libc::SIGTERM);
    rig.wait_for("TERM");
    assert_eq!(rig.count_after_marker(stsexec_pid, "TERM"), 1);
    rig.stop();
    group.wait(PATIENCE);
}

/// A CI runner cancels a step by signalling the process group of the `bash -c` it started
/// (GitHub's runner sends SIGINT, then SIGTERM; GitLab's SIGTERM to the group). The job counts
/// one of each. bash waits out the SIGINT (its foreground stsexec did not die of it) and dies
/// of the SIGTERM; the job, in a group of its own, gets both from stsexec alone. (Before, the
/// job was in bash's group and got each directly and again from stsexec.)
#[test]
fn a_ci_runner_signalling_the_bash_parents_group_reaches_the_job_once_per_signal() {
    let rig = Rig::new();
    let script = format!(
        r#"{line}
echo "stsexec ended with $?""#,
        line = rig.stsexec_line()
    );
    let bash = Job::start("bash", &["-c", &script], &rig.sandbox.env_pairs());
    let job = rig.job_pid();
    let stsexec_pid = parent_of(job);
    assert_eq!(parent_of(stsexec_pid), bash.pid(), "bash stayed the parent");
    bash.signal_group(libc::SIGINT);
    rig.wait_for("INT");
    assert_eq!(rig.count_after_marker(stsexec_pid, "INT"), 1);
    bash.signal_group(libc::SIGTERM);
    rig.wait_for("TERM");
    assert_eq!(
        rig.count_after(stsexec_pid, (libc::SIGUSR2, "USR2"), "TERM"),
        1
    );
    assert_eq!(rig.count("INT"), 1);
    rig.stop();
    bash.wait(PATIENCE);
}
