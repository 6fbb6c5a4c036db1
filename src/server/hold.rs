//! The port outlives the command while its descendants live (issue 20): background jobs the
//! command started still hold the endpoint's URL, and once the port is free another local user
//! could bind it and serve them credentials of their choosing. So when the command ends and
//! processes of its process group remain, stsexec hands the listening socket to a small holder
//! process (itself, started as [`HOLDER_ARG0`], the socket as stdin) that answers every request
//! with 503 and exits once the group is gone; stsexec itself exits at once. Descendants that
//! leave the group (`setsid`, daemons) are not followed.
#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

/// The name a holder is started under; `main` recognises it before anything else.
pub const HOLDER_ARG0: &str = "stsexec-port-holder";

/// How often the holder looks for the group's processes.
const CHECK_EVERY: Duration = Duration::from_millis(500);

const ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nCache-Control: no-store\r\nConnection: close\r\nContent-Length: 114\r\n\r\n{\"Code\":\"CommandEnded\",\"Message\":\"the command of this stsexec --server has ended; its credentials are not served\"}";

/// Whether any process is in `group`, by a signal 0 to the group: one system call where a scan
/// of /proc reads every process's stat. Its command reaped, a group the command had to itself
/// usually has none, and then nothing needs holding.
pub fn group_exists(group: i32) -> bool {
    let Some(pid) = rustix::process::Pid::from_raw(group) else {
        return false;
    };
    // EPERM: a member that is another user's — it exists.
    rustix::process::test_kill_process_group(pid) != Err(rustix::io::Errno::SRCH)
}

/// Whether a process not in `except` whose process group is `group` is alive (not a zombie),
/// from /proc.
pub fn group_has_others(group: i32, except: &[i32]) -> bool {
    if !group_exists(group) {
        return false;
    }
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            return false;
        };
        !except.contains(&pid) && member(pid, group)
    })
}

/// The processes the holder need not wait for: stsexec and those of its ancestors in `group`
/// (on a terminal's foreground the command shared stsexec's group, which may hold the shell
/// that ran stsexec: it is not the command's).
pub fn not_the_commands(group: i32) -> Vec<i32> {
    let mut pids = vec![i32::try_from(std::process::id()).unwrap_or_default()];
    let mut pid = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
    while pid > 1 && member(pid, group) && pids.len() < 64 {
        pids.push(pid);
        pid = parent(pid).unwrap_or(0);
    }
    pids
}

/// The start of `/proc/<pid>/stat`, in one read: the fields used here (state, ppid, pgrp) come
/// right after the command name, which is at most 16 bytes (`read_to_string` probes a file
/// that says its size is 0 with five growing reads).
fn stat(pid: i32) -> Option<String> {
    let mut file = std::fs::File::open(format!("/proc/{pid}/stat")).ok()?;
    let mut buffer = [0u8; 256];
    let read = file.read(&mut buffer).ok()?;
    Some(String::from_utf8_lossy(&buffer[..read]).into_owned())
}

fn parent(pid: i32) -> Option<i32> {
    let stat = stat(pid)?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn member(pid: i32, group: i32) -> bool {
    let Some(stat) = stat(pid) else {
        return false;
    };
    // After the command name's closing parenthesis: state, ppid, pgrp.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return false;
    };
    let mut fields = rest.split_whitespace();
    let state = fields.next();
    let pgrp = fields.nth(1).and_then(|p| p.parse::<i32>().ok());
    pgrp == Some(group) && !matches!(state, Some("Z" | "X"))
}

/// Hands `listener` to a holder that watches `group` but for the processes `except`; `Err`
/// when it could not be started (the port then closes with stsexec, as before).
pub fn hand_over(listener: OwnedFd, group: i32, except: &[i32]) -> std::io::Result<()> {
    Command::new("/proc/self/exe")
        .arg0(HOLDER_ARG0)
        .arg(group.to_string())
        .args(except.iter().map(i32::to_string))
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::from(listener))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Not the terminal's signals, not the command's group.
        .process_group(0)
        .spawn()
        .map(drop)
}

/// The holder: the listening socket is stdin, the group to watch the first argument, the
/// processes not to wait for the rest. Answers 503 until the group is gone, then exits
/// (closing the port).
pub fn run(args: impl Iterator<Item = std::ffi::OsString>) {
    let numbers: Vec<i32> = args
        .skip(1)
        .map_while(|a| a.to_str().and_then(|a| a.parse::<i32>().ok()))
        .collect();
    let Some((&group, except)) = numbers.split_first().filter(|(g, _)| **g > 1) else {
        return;
    };
    let mut except = except.to_vec();
    let Ok(fd) = std::io::stdin().as_fd().try_clone_to_owned() else {
        return;
    };
    let listener = TcpListener::from(fd);
    if listener.local_addr().is_err() || listener.set_nonblocking(true).is_err() {
        return;
    }
    except.push(i32::try_from(std::process::id()).unwrap_or_default());
    while group_has_others(group, &except) {
        let wait = rustix::event::Timespec {
            tv_sec: 0,
            tv_nsec: i64::try_from(CHECK_EVERY.as_nanos()).unwrap_or(200_000_000),
        };
        let mut fds = [rustix::event::PollFd::new(
            &listener,
            rustix::event::PollFlags::IN,
        )];
        let _ = rustix::event::poll(&mut fds, Some(&wait));
        while let Ok((mut stream, _)) = listener.accept() {
            let _ = stream.set_nonblocking(false);
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
            // Whatever of the request has come; then the answer, whatever it was.
            let mut head = [0u8; 8192];
            let _ = stream.read(&mut head);
            let _ = stream.write_all(ANSWER);
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_complete_json() {
        let text = std::str::from_utf8(ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["Code"], "CommandEnded");
    }

    #[test]
    fn finds_the_members_of_a_group() {
        let own = i32::try_from(std::process::id()).unwrap();
        let group = rustix::process::getpgrp().as_raw_nonzero().get();
        assert!(member(own, group));
        assert!(!member(own, group + 1));
        // No process has group 1 but init's own, which is not the test's: and a group of none.
        assert!(!group_has_others(i32::MAX, &[own]));
        assert!(not_the_commands(group).contains(&own));
        assert!(group_exists(group));
        assert!(!group_exists(i32::MAX));
    }
}
