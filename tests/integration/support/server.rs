//! Helpers for the `--server` tests: a raw HTTP client (to send what no SDK would), waiting for
//! files a command writes, and a pseudo-terminal that stays open while the test types.

use super::{Run, detach_from_terminal};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sends `request` as is to 127.0.0.1:`port` and returns everything the server answers until
/// it closes the connection (send `Connection: close`) or 10 s pass.
pub fn raw_http(port: u16, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the server accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A server may answer and close before it has read all of an oversized request.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status code of a raw HTTP answer (0 when there is none).
pub fn status_of(answer: &str) -> u16 {
    answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// The body of a raw HTTP answer.
pub fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, body)| body)
}

/// Waits up to `limit` for `path` to exist and returns its content.
#[track_caller]
pub fn wait_for_file(path: &Path, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        if let Ok(text) = std::fs::read_to_string(path) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{} did not appear within {limit:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A shell line run by `script` on a new pseudo-terminal; the test types into it while it runs.
pub struct Terminal {
    child: Child,
}

impl Terminal {
    pub fn start(line: &str, env: &[(String, String)]) -> Terminal {
        let mut cmd = Command::new("script");
        cmd.args(["-q", "-e", "-c", line, "/dev/null"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Terminal {
            child: cmd.spawn().expect("script runs"),
        }
    }

    pub fn type_text(&mut self, text: &[u8]) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(text).unwrap();
        stdin.flush().unwrap();
    }

    /// Waits for the line to end; its exit status (`script -e` passes the command's on).
    pub fn wait(self) -> (Option<i32>, String) {
        let out = self.child.wait_with_output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    }
}

/// A program started in a session and process group of its own, without a terminal, as a CI
/// runner or a test starts a job: its pid is its group's id.
pub struct Job {
    child: Child,
}

impl Job {
    pub fn start(program: &str, args: &[&str], env: &[(String, String)]) -> Job {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        detach_from_terminal(&mut cmd);
        Job {
            child: cmd.spawn().unwrap_or_else(|e| panic!("{program}: {e}")),
        }
    }

    pub fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).unwrap()
    }

    /// `kill -SIGNAL -PGID`: the signal to every process of the job's group.
    pub fn signal_group(&self, signal: i32) {
        signal_process(-self.pid(), signal);
    }

    /// Waits for the job to end, up to `limit` (a hang guard: the job's whole group is killed
    /// and the test fails), and returns what it printed.
    #[track_caller]
    pub fn wait(mut self, limit: Duration) -> Run {
        let deadline = Instant::now() + limit;
        while self.child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                self.signal_group(libc::SIGKILL);
                let run = Run::from(self.child.wait_with_output().unwrap());
                panic!("the job did not end within {limit:?}: {run:#?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Run::from(self.child.wait_with_output().unwrap())
    }
}

/// kill(2): `pid` below zero is a process group.
#[track_caller]
pub fn signal_process(pid: i32, signal: i32) {
    // SAFETY: kill only sends a signal; the tests name processes and groups they started.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}): {}",
        std::io::Error::last_os_error()
    );
}

/// The parent of `pid` (from /proc/PID/stat, after the command name's closing parenthesis).
pub fn parent_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(1).unwrap().parse().unwrap()
}

/// The process group of `pid` (from /proc/PID/stat).
pub fn group_of(pid: i32) -> i32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 2..];
    after_name.split(' ').nth(2).unwrap().parse().unwrap()
}
