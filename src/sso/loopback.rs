//! The browser side of the authorization-code flow: the one-shot loopback redirect
//! (`http://127.0.0.1:<ephemeral port>/oauth/callback`, RFC 8252 §7.3) that receives the code,
//! and opening the sign-in page with `$BROWSER`, else `xdg-open`.
#![forbid(unsafe_code)]

use super::pkce::query_value;
use super::{IoFailure, LoginFailure};
use crate::env::Environment;
use crate::secret::Secret;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use std::fmt;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

/// The redirect URI as registered: the AWS CLI's, without the port (the service accepts any
/// port on the loopback address).
pub const REDIRECT_URI_WITHOUT_PORT: &str = "http://127.0.0.1/oauth/callback";
const CALLBACK_PATH: &str = "/oauth/callback";
/// The largest request head read from the browser.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one connection may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// A listener on 127.0.0.1, waiting for one redirect.
pub struct Loopback {
    listener: TcpListener,
    port: u16,
}

impl Loopback {
    pub fn bind() -> std::io::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        Ok(Loopback { listener, port })
    }

    /// `http://127.0.0.1:<port>/oauth/callback`: where the browser is sent back.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits up to `limit` for the redirect that carries `state`, answers the browser, and
    /// returns the authorization code. Requests for other paths, or with another state, are
    /// answered and ignored; the listener closes when this returns.
    pub fn wait_for_code(self, state: &str, limit: Duration) -> Result<Secret, LoginFailure> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(LoginFailure::TimedOut {
                    seconds: limit.as_secs(),
                });
            }
            let wait = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let mut fds = [PollFd::new(&self.listener, PollFlags::IN)];
            match rustix::event::poll(&mut fds, Some(&wait)) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => return Err(LoginFailure::Loopback(e.into())),
            }
            let stream = match self.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(LoginFailure::Loopback(e.into())),
            };
            if let Some(outcome) = handle(stream, state) {
                return outcome;
            }
        }
    }
}

/// Reads one request and answers it; `Some` when it was the redirect this login waits for.
fn handle(mut stream: TcpStream, state: &str) -> Option<Result<Secret, LoginFailure>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let target = head
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("GET "))
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if path != CALLBACK_PATH {
        answer(&mut stream, "404 Not Found", "Not found.");
        return None;
    }
    if query_value(query, "state").as_deref() != Some(state) {
        // Not this login's redirect (a stale tab, or another page probing the port).
        answer(
            &mut stream,
            "400 Bad Request",
            "This sign-in link does not belong to the stsexec login that is waiting; start the login again.",
        );
        return None;
    }
    if let Some(error) = query_value(query, "error") {
        answer(
            &mut stream,
            "200 OK",
            "Sign-in was not completed. You can close this tab and return to the terminal.",
        );
        return Some(Err(LoginFailure::Denied {
            error: crate::text::clean(&error, 64),
        }));
    }
    match query_value(query, "code").filter(|c| !c.is_empty() && c.len() <= 4096) {
        Some(code) => {
            answer(
                &mut stream,
                "200 OK",
                "Signed in to IAM Identity Center. You can close this tab and return to the terminal.",
            );
            Some(Ok(Secret::new(code)))
        }
        None => {
            answer(
                &mut stream,
                "400 Bad Request",
                "The redirect carries no code.",
            );
            None
        }
    }
}

fn answer(stream: &mut TcpStream, status: &str, text: &str) {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>stsexec</title></head><body><p>{text}</p></body></html>"
    );
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.flush();
}

/// How the sign-in page can be opened here: `$BROWSER` (a command, with arguments), else
/// `xdg-open` when a graphical session is there (`DISPLAY`, `WAYLAND_DISPLAY`). `None`: no
/// browser (an SSH session), so the device-code flow is used.
pub fn browser_command(env: &Environment) -> Option<String> {
    if let Some(browser) = env.get("BROWSER").filter(|b| !b.trim().is_empty()) {
        return Some(browser.to_string());
    }
    let graphical = ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|name| env.get(name).is_some_and(|v| !v.is_empty()));
    let on_path = env.get("PATH").is_some_and(|path| {
        path.split(':')
            .filter(|dir| !dir.is_empty())
            .any(|dir| std::path::Path::new(dir).join("xdg-open").is_file())
    });
    (graphical && on_path).then(|| "xdg-open".to_string())
}

/// Why the sign-in page was not opened; `Display` is what the warning says in its
/// parentheses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrowserError {
    /// `/bin/sh` could not be started.
    Shell(IoFailure),
    /// The shell exited with a failure: the browser command (`$BROWSER`, `xdg-open`) did not
    /// start.
    NotStarted { command: String },
    /// A run that never signs in (`--server`'s renewals) opens no browser.
    Unattended,
}

impl fmt::Display for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserError::Shell(cause) => cause.fmt(f),
            BrowserError::NotStarted { command } => write!(f, "{command} could not be started"),
            BrowserError::Unattended => f.write_str("no browser is opened by a renewal"),
        }
    }
}

/// Starts `command URL` in the background (the shell exits at once, so the browser is never
/// stsexec's child and never holds its terminal), with no input and its output discarded.
/// The URL carries no credential: a client id, the redirect, `state` and the PKCE challenge.
pub fn open(command: &str, url: &str) -> Result<(), BrowserError> {
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("$STSEXEC_BROWSER \"$1\" </dev/null >/dev/null 2>&1 &")
        .arg("stsexec-browser")
        .arg(url)
        .env("STSEXEC_BROWSER", command)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| BrowserError::Shell(e.into()))?;
    if status.success() {
        Ok(())
    } else {
        Err(BrowserError::NotStarted {
            command: command.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(port: u16, target: &str) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stream, "GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
    }

    #[test]
    fn the_code_comes_with_the_right_state_only() {
        let loopback = Loopback::bind().unwrap();
        let port = loopback.port;
        assert_eq!(
            loopback.redirect_uri(),
            format!("http://127.0.0.1:{port}/oauth/callback")
        );
        let browser = std::thread::spawn(move || {
            let a = get(port, "/favicon.ico");
            let b = get(port, "/oauth/callback?code=stolen&state=other");
            let c = get(port, "/oauth/callback?code=the%2Bcode&state=s1");
            (a, b, c)
        });
        let code = loopback
            .wait_for_code("s1", Duration::from_secs(30))
            .unwrap();
        assert_eq!(code.expose(), "the+code");
        let (a, b, c) = browser.join().unwrap();
        assert!(a.starts_with("HTTP/1.1 404"), "{a}");
        assert!(b.starts_with("HTTP/1.1 400"), "{b}");
        assert!(
            c.starts_with("HTTP/1.1 200") && c.contains("Signed in"),
            "{c}"
        );
        // One-shot: the port is closed once the code is in.
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn a_denied_sign_in_and_a_silent_browser_end_the_wait() {
        let loopback = Loopback::bind().unwrap();
        let port = loopback.port;
        let browser =
            std::thread::spawn(move || get(port, "/oauth/callback?error=access_denied&state=s2"));
        assert_eq!(
            loopback
                .wait_for_code("s2", Duration::from_secs(30))
                .unwrap_err(),
            LoginFailure::Denied {
                error: "access_denied".into()
            }
        );
        browser.join().unwrap();
        let quiet = Loopback::bind().unwrap();
        assert_eq!(
            quiet
                .wait_for_code("s3", Duration::from_millis(200))
                .unwrap_err(),
            LoginFailure::TimedOut { seconds: 0 }
        );
    }

    #[test]
    fn failures_are_data_and_say_what_the_system_said() {
        // An OS error reads as the standard library writes it, from the number alone.
        let in_use = std::io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(IoFailure::from(&in_use), IoFailure::Os(libc::EADDRINUSE));
        assert_eq!(IoFailure::from(&in_use).to_string(), in_use.to_string());
        assert_eq!(
            IoFailure::from(Errno::ADDRINUSE).to_string(),
            Errno::ADDRINUSE.to_string()
        );
        let spawn = std::process::Command::new("/nonexistent/stsexec-test")
            .status()
            .unwrap_err();
        assert_eq!(
            BrowserError::Shell(IoFailure::from(&spawn)).to_string(),
            spawn.to_string()
        );
        assert_eq!(
            IoFailure::Kind(std::io::ErrorKind::WouldBlock).to_string(),
            std::io::Error::from(std::io::ErrorKind::WouldBlock).to_string()
        );
        assert_eq!(
            BrowserError::NotStarted {
                command: "firefox --new-tab".into()
            }
            .to_string(),
            "firefox --new-tab could not be started"
        );
        assert_eq!(
            BrowserError::Unattended.to_string(),
            "no browser is opened by a renewal"
        );
        let login = super::super::SsoError::Login {
            account: "work".into(),
            failure: LoginFailure::Loopback(IoFailure::Os(libc::EADDRINUSE)),
        };
        assert_eq!(
            login.to_string(),
            format!(
                "cannot receive the IAM Identity Center sign-in for account work on 127.0.0.1: {in_use}; run stsexec work --login --no-browser"
            )
        );
    }

    #[test]
    fn the_browser_is_browser_else_xdg_open_in_a_graphical_session() {
        let env = |pairs: &[(&str, &str)]| Environment::from_pairs(pairs.iter().copied());
        assert_eq!(
            browser_command(&env(&[("BROWSER", "firefox --new-tab")])).as_deref(),
            Some("firefox --new-tab")
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("xdg-open"), "").unwrap();
        let path = dir.path().display().to_string();
        assert_eq!(browser_command(&env(&[("PATH", &path)])), None);
        assert_eq!(
            browser_command(&env(&[("PATH", &path), ("DISPLAY", ":0")])).as_deref(),
            Some("xdg-open")
        );
    }
}
