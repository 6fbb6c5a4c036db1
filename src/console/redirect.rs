//! The one-shot local redirect (DESIGN §16): the browser is given
//! `http://127.0.0.1:<port>/<random path>`, never the sign-in URL itself, which is a bearer
//! credential for 15 minutes and would be readable by any local user on a command line.
//!
//! The listener answers the right path once, to a connection made by a process of this user,
//! with a `302` to the sign-in URL, and then stops; any other path, any other method, a
//! second request or a request from another user's process gets `404`. Unanswered, it stops
//! at its deadline (60 s). One thread, `poll(2)` over the listener, the open connections and
//! (optionally) a pidfd of the browser command, so a browser command that fails is noticed
//! at once rather than at the deadline.
#![forbid(unsafe_code)]

use crate::secret::Secret;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::fd::{AsFd, BorrowedFd};
use rustix::io::Errno;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// How long the redirect waits for the browser.
pub const WAIT: Duration = Duration::from_secs(60);
/// The largest request head read from a connection.
const MAX_HEAD: usize = 8 * 1024;
/// Connections open at once; a new one beyond this closes the oldest.
const MAX_CONNECTIONS: usize = 16;
/// Bits of the random path.
const PATH_BYTES: usize = 32;

/// How a wait on the redirect ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The right path was asked for and answered with the redirect.
    Answered,
    /// The deadline passed unanswered.
    TimedOut,
    /// The watched process (the browser command) ended first; the redirect still stands.
    WatchedExited,
}

/// The listener and its path, until the one answer.
pub struct Redirect {
    listener: TcpListener,
    port: u16,
    path: Secret,
    deadline: Instant,
    answered: bool,
    connections: Vec<Connection>,
}

struct Connection {
    stream: TcpStream,
    head: Zeroizing<Vec<u8>>,
}

impl Redirect {
    /// A listener on an ephemeral loopback port with a fresh random path from the OS's
    /// random source, answering until `wait` from now.
    pub fn bind(wait: Duration) -> io::Result<Redirect> {
        let listener = TcpListener::bind(SocketAddrV4::new([127, 0, 0, 1].into(), 0))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let mut bits = Zeroizing::new([0u8; PATH_BYTES]);
        let mut filled = 0;
        while filled < bits.len() {
            filled += rustix::rand::getrandom(
                &mut bits[filled..],
                rustix::rand::GetRandomFlags::empty(),
            )?;
        }
        let path = Secret::new(format!(
            "/{}",
            bits.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        Ok(Redirect {
            listener,
            port,
            path,
            deadline: Instant::now() + wait,
            answered: false,
            connections: Vec::new(),
        })
    }

    /// The URL the browser is given. Not the sign-in URL, but the one way to it while the
    /// redirect stands: it is never logged.
    pub fn local_url(&self) -> Secret {
        Secret::new(format!(
            "http://127.0.0.1:{}{}",
            self.port,
            self.path.expose()
        ))
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until the one answer (redirecting to `target`), the deadline, or the end of
    /// `watched` (a pidfd), whichever comes first. Called again after `WatchedExited`, it
    /// goes on with the same path and deadline.
    pub fn serve(&mut self, target: &Secret, watched: Option<BorrowedFd<'_>>) -> io::Result<Ended> {
        loop {
            if self.answered {
                return Ok(Ended::Answered);
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(Ended::TimedOut);
            }
            let wait = Timespec {
                tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                tv_nsec: i64::from(left.subsec_nanos()),
            };
            let (listener_ready, watched_ready, ready) = {
                let mut fds = Vec::with_capacity(self.connections.len() + 2);
                fds.push(PollFd::new(&self.listener, PollFlags::IN));
                for c in &self.connections {
                    fds.push(PollFd::new(&c.stream, PollFlags::IN));
                }
                if let Some(fd) = &watched {
                    fds.push(PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN));
                }
                match rustix::event::poll(&mut fds, Some(&wait)) {
                    Ok(_) => {}
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(e.into()),
                }
                let n = self.connections.len();
                let ready: Vec<bool> = fds[1..=n].iter().map(|f| !f.revents().is_empty()).collect();
                let watched_ready = watched.is_some() && !fds[n + 1].revents().is_empty();
                (!fds[0].revents().is_empty(), watched_ready, ready)
            };
            // Connections first: an answer that was due wins over the watched process's end.
            let mut keep = Vec::with_capacity(self.connections.len());
            for (connection, is_ready) in self.connections.drain(..).zip(ready) {
                if !is_ready {
                    keep.push(connection);
                    continue;
                }
                if let Some(connection) = step(
                    connection,
                    &self.path,
                    target,
                    &mut self.answered,
                    self.port,
                ) {
                    keep.push(connection);
                }
            }
            self.connections = keep;
            if self.answered {
                return Ok(Ended::Answered);
            }
            if listener_ready {
                self.accept_all();
            }
            if watched_ready {
                return Ok(Ended::WatchedExited);
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    // Idle connections cannot crowd the browser out: the oldest makes way.
                    if self.connections.len() >= MAX_CONNECTIONS {
                        self.connections.remove(0);
                    }
                    self.connections.push(Connection {
                        stream,
                        head: Zeroizing::new(Vec::new()),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }
}

/// Reads what a connection has sent; answers when its request head is complete. `None`: the
/// connection is done (answered or closed).
fn step(
    mut connection: Connection,
    path: &Secret,
    target: &Secret,
    answered: &mut bool,
    port: u16,
) -> Option<Connection> {
    let mut buf = [0u8; 2048];
    loop {
        match connection.stream.read(&mut buf) {
            Ok(0) => return None,
            Ok(n) => {
                connection.head.extend_from_slice(&buf[..n]);
                if connection.head.windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
                if connection.head.len() > MAX_HEAD {
                    not_found(&mut connection.stream);
                    return None;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Some(connection),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
    let line_end = connection
        .head
        .iter()
        .position(|&b| b == b'\r')
        .unwrap_or(connection.head.len());
    let line = &connection.head[..line_end];
    let mut words = line.split(|&b| b == b' ');
    let (method, asked) = (words.next().unwrap_or(b""), words.next().unwrap_or(b""));
    let right_path = bool::from(asked.ct_eq(path.expose().as_bytes()));
    if method == b"GET" && right_path && !*answered && same_user(&connection.stream, port) {
        *answered = true;
        let answer = Zeroizing::new(format!(
            "HTTP/1.1 302 Found\r\nLocation: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            target.expose()
        ));
        let _ = connection.stream.set_nonblocking(false);
        let _ = connection
            .stream
            .set_write_timeout(Some(Duration::from_secs(5)));
        let _ = connection.stream.write_all(answer.as_bytes());
    } else {
        not_found(&mut connection.stream);
    }
    None
}

fn not_found(stream: &mut TcpStream) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let _ = stream.write_all(
        b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nConnection: close\r\n\r\nNot found\n",
    );
}

/// Whether the peer of a loopback connection belongs to this user: its socket's owner, from
/// the kernel's table of TCP sockets. Anything unreadable or unexpected is "no".
fn same_user(stream: &TcpStream, port: u16) -> bool {
    let Ok(SocketAddr::V4(peer)) = stream.peer_addr() else {
        return false;
    };
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let uid = rustix::process::geteuid().as_raw();
    let local = SocketAddrV4::new([127, 0, 0, 1].into(), port);
    socket_owner(&table, peer, local) == Some(uid)
}

/// The uid owning the socket whose local address is `peer` and remote address is `ours`,
/// in `/proc/net/tcp`'s format (addresses as the kernel stores them: hex, IPv4 in host order).
fn socket_owner(table: &str, peer: SocketAddrV4, ours: SocketAddrV4) -> Option<u32> {
    let hex = |a: SocketAddrV4| {
        format!(
            "{:08X}:{:04X}",
            u32::from_ne_bytes(a.ip().octets()),
            a.port()
        )
    };
    let (want_local, want_remote) = (hex(peer), hex(ours));
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&want_local.as_str())
            && fields.get(2) == Some(&want_remote.as_str()))
        .then(|| fields.get(7)?.parse().ok())
        .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;

    fn target() -> Secret {
        Secret::new("https://signin.example/federation?Action=login&SigninToken=SECRETMARKER")
    }

    /// Sends one request on a new connection and returns the status line and Location.
    fn ask(port: u16, request: &str) -> (String, Option<String>) {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.write_all(request.as_bytes()).unwrap();
        read_answer(stream)
    }

    fn read_answer(stream: TcpStream) -> (String, Option<String>) {
        let mut reader = io::BufReader::new(stream);
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut location = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            if let Some(value) = line.strip_prefix("Location: ") {
                location = Some(value.trim().to_string());
            }
        }
        (status.trim().to_string(), location)
    }

    fn get(path: &str) -> String {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn the_right_path_is_answered_once_and_everything_else_is_404() {
        let mut redirect = Redirect::bind(WAIT).unwrap();
        let port = redirect.port();
        let url = redirect.local_url();
        let path = url
            .expose()
            .strip_prefix(&format!("http://127.0.0.1:{port}"))
            .unwrap()
            .to_string();
        assert_eq!(path.len(), 1 + 2 * PATH_BYTES);
        assert!(path[1..].bytes().all(|b| b.is_ascii_hexdigit()));
        // Every request is sent before the server runs, in this order: no thread, no race.
        let send = |request: String| {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream.write_all(request.as_bytes()).unwrap();
            stream
        };
        let wrong = send(get("/"));
        let near = send(get(&format!("{path}x")));
        let head = send(format!("HEAD {path} HTTP/1.1\r\n\r\n"));
        let right = send(get(&path));
        let second = send(get(&path));
        assert_eq!(redirect.serve(&target(), None).unwrap(), Ended::Answered);
        for stream in [wrong, near, head] {
            assert_eq!(
                read_answer(stream),
                ("HTTP/1.1 404 Not Found".to_string(), None)
            );
        }
        let (status, location) = read_answer(right);
        assert_eq!(status, "HTTP/1.1 302 Found");
        assert_eq!(location.as_deref(), Some(target().expose()));
        assert_eq!(
            read_answer(second),
            ("HTTP/1.1 404 Not Found".to_string(), None),
            "a second request"
        );
        drop(redirect);
        assert!(
            TcpStream::connect(("127.0.0.1", port)).is_err(),
            "the listener is closed after the answer"
        );
    }

    #[test]
    fn unanswered_it_ends_at_its_deadline() {
        let mut redirect = Redirect::bind(Duration::from_millis(200)).unwrap();
        let port = redirect.port();
        // A connection that never sends a request does not hold it past the deadline.
        let _idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert_eq!(redirect.serve(&target(), None).unwrap(), Ended::TimedOut);
    }

    #[test]
    fn a_watched_process_that_ends_is_noticed() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = rustix::process::Pid::from_child(&child);
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).unwrap();
        let mut redirect = Redirect::bind(WAIT).unwrap();
        assert_eq!(
            redirect.serve(&target(), Some(pidfd.as_fd())).unwrap(),
            Ended::WatchedExited
        );
        assert!(child.wait().unwrap().success());
    }

    #[test]
    fn idle_connections_cannot_crowd_the_browser_out() {
        let mut redirect = Redirect::bind(WAIT).unwrap();
        let port = redirect.port();
        let path = redirect
            .local_url()
            .expose()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS * 2)
            .map(|_| TcpStream::connect(("127.0.0.1", port)).unwrap())
            .collect();
        let mut right = TcpStream::connect(("127.0.0.1", port)).unwrap();
        right
            .write_all(get(&format!("/{path}")).as_bytes())
            .unwrap();
        assert_eq!(redirect.serve(&target(), None).unwrap(), Ended::Answered);
        assert_eq!(read_answer(right).0, "HTTP/1.1 302 Found");
        drop(idle);
    }

    #[test]
    fn huge_heads_are_refused_without_taking_the_redirect() {
        let mut redirect = Redirect::bind(WAIT).unwrap();
        let port = redirect.port();
        let path = redirect
            .local_url()
            .expose()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        let client = std::thread::spawn(move || {
            let huge = ask(port, &format!("GET /{}", "a".repeat(MAX_HEAD + 1024)));
            (huge, ask(port, &get(&format!("/{path}"))))
        });
        assert_eq!(redirect.serve(&target(), None).unwrap(), Ended::Answered);
        let (huge, right) = client.join().unwrap();
        assert_eq!(huge.0, "HTTP/1.1 404 Not Found");
        assert_eq!(right.0, "HTTP/1.1 302 Found");
    }

    #[test]
    fn socket_owners_are_read_from_the_kernel_table() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:A1B2 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 1 1 0 20 4 30 10 -1\n   1: 0100007F:1F90 0100007F:A1B2 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1\n";
        let peer = SocketAddrV4::new([127, 0, 0, 1].into(), 0xA1B2);
        let ours = SocketAddrV4::new([127, 0, 0, 1].into(), 0x1F90);
        if cfg!(target_endian = "little") {
            assert_eq!(socket_owner(table, peer, ours), Some(1000));
            assert_eq!(socket_owner(table, ours, peer), Some(0));
        }
        assert_eq!(
            socket_owner(table, SocketAddrV4::new([127, 0, 0, 1].into(), 1), ours),
            None
        );
    }
}
