//! The ECS container-credentials endpoint (DESIGN §8) on 127.0.0.1: hyper's HTTP/1 server on a
//! current-thread tokio runtime in its own thread. Every answer is decided by [`answer`], a
//! pure function of the request head, the served session and the time, from memory: no
//! request ever waits for STS.
#![forbid(unsafe_code)]

use crate::secret::Secret;
use crate::session::Credentials;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};
use subtle::ConstantTimeEq;

/// A client must send its request head within this (slowloris).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Request heads larger than this are refused with 431 by hyper (its smallest buffer).
const MAX_HEAD: usize = 8192;
/// Connections the kernel completes before they are accepted. A full queue drops new
/// connections for a second (the SYN is sent again), so it is long enough for a flood to be
/// accepted and displaced while the command's connection waits its turn.
const BACKLOG: u32 = 1024;
/// No connection lives longer than this, however busy: an SDK simply opens another.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// The most connections open at once (fewer when the descriptor limit is low: see
/// [`connection_cap`]).
pub const MAX_CONNECTIONS: usize = 256;
/// Descriptors kept free for everything but connections: renewals (the account's lock, cache
/// files, STS's sockets), the runtime, the command's pipes.
pub const RESERVED_DESCRIPTORS: u64 = 128;

/// How many connections to hold at once with `nofile` descriptors in all.
pub fn connection_cap(nofile: Option<u64>) -> usize {
    let room = nofile.map_or(u64::MAX, |n| n.saturating_sub(RESERVED_DESCRIPTORS));
    usize::try_from(room)
        .unwrap_or(usize::MAX)
        .clamp(8, MAX_CONNECTIONS)
}

/// Whom a new connection displaces when all places are taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Admit {
    /// A place is free.
    Room,
    /// The connection of this id goes: the oldest that never presented the token.
    Evict(u64),
    /// Every open connection has presented the token (they are the command's): the new one
    /// is closed.
    Refuse,
}

/// The connection flood rule (issue 20): a peer without the token cannot hold places the
/// command needs. `open` is (id, has presented the token), ids growing with age.
pub fn admit(open: impl IntoIterator<Item = (u64, bool)>, cap: usize) -> Admit {
    let mut count = 0;
    let mut oldest_untrusted = None;
    for (id, trusted) in open {
        count += 1;
        if !trusted && oldest_untrusted.is_none_or(|oldest| id < oldest) {
            oldest_untrusted = Some(id);
        }
    }
    if count < cap {
        return Admit::Room;
    }
    oldest_untrusted.map_or(Admit::Refuse, Admit::Evict)
}

/// Where the credentials are and the token that opens them, made once per run.
pub struct Endpoint {
    /// `/stsexec/<128 random bits in hex>`.
    pub path: String,
    /// 256 random bits in hex; compared in constant time.
    pub token: Secret,
}

impl Endpoint {
    /// A new path and token from the OS's random source.
    pub fn generate() -> io::Result<Self> {
        let mut path_bits = [0u8; 16];
        let mut token_bits = zeroize::Zeroizing::new([0u8; 32]);
        fill_random(&mut path_bits)?;
        fill_random(token_bits.as_mut())?;
        Ok(Endpoint {
            path: format!("/stsexec/{}", hex(&path_bits)),
            token: Secret::new(hex(token_bits.as_ref())),
        })
    }

    pub fn url(&self, port: u16) -> String {
        format!("http://127.0.0.1:{port}{}", self.path)
    }
}

fn fill_random(buf: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        filled +=
            rustix::rand::getrandom(&mut buf[filled..], rustix::rand::GetRandomFlags::empty())?;
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the `Authorization` header holds the token, in time independent of where they differ.
pub fn token_matches(token: &Secret, given: Option<&[u8]>) -> bool {
    given.is_some_and(|given| bool::from(token.expose().as_bytes().ct_eq(given)))
}

/// What the server serves: the session and its label, swapped by the renewal thread.
#[derive(Debug, Clone)]
pub struct Served {
    pub label: String,
    pub credentials: Credentials,
}

/// The parts of a request the answer depends on.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub authorization: Option<&'a [u8]>,
    /// A `Content-Length` above zero or a `Transfer-Encoding`: credentials requests have none.
    pub has_body: bool,
}

/// A status and its JSON body.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    Answer {
        status,
        body: serde_json::json!({ "Code": code, "Message": message }).to_string(),
    }
}

/// The protocol of DESIGN §8: the path first (404), then the method (405), a body (413), the
/// token (403), the session's expiry (503), and only then the credentials (200).
pub fn answer(head: &Head, endpoint: &Endpoint, served: &Served, now: SystemTime) -> Answer {
    if head.path != endpoint.path {
        return error(
            404,
            "NotFound",
            "stsexec serves credentials only at the path in AWS_CONTAINER_CREDENTIALS_FULL_URI",
        );
    }
    if head.method != "GET" {
        return error(
            405,
            "MethodNotAllowed",
            "stsexec's credentials endpoint answers GET only",
        );
    }
    if head.has_body {
        return error(413, "RequestTooLarge", "a credentials request has no body");
    }
    if !token_matches(&endpoint.token, head.authorization) {
        return error(
            403,
            "AccessDenied",
            "the Authorization header must hold the value of AWS_CONTAINER_AUTHORIZATION_TOKEN",
        );
    }
    let creds = &served.credentials;
    let expiration = creds.expiration.unwrap_or(SystemTime::UNIX_EPOCH);
    if expiration <= now {
        return error(
            503,
            "CredentialsExpired",
            &format!(
                "the session of {} expired at {} and stsexec could not renew it; its warnings on stderr say why",
                served.label,
                crate::session::rfc3339(expiration)
            ),
        );
    }
    let body = serde_json::json!({
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key.expose(),
        "Token": creds.session_token.as_ref().map(Secret::expose),
        "Expiration": crate::session::rfc3339(expiration),
    });
    Answer {
        status: 200,
        body: body.to_string(),
    }
}

fn respond(
    req: &Request<Incoming>,
    endpoint: &Endpoint,
    served: &RwLock<Served>,
    trusted: &AtomicBool,
) -> Response<Full<Bytes>> {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|len| len.as_bytes() != b"0");
    let head = Head {
        method: req.method().as_str(),
        path: req.uri().path(),
        authorization: headers
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
        has_body,
    };
    let answer = {
        let served = served
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        answer(&head, endpoint, &served, SystemTime::now())
    };
    let mut response = Response::new(Full::new(Bytes::from(answer.body)));
    *response.status_mut() =
        StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if answer.status == 405 {
        h.insert(header::ALLOW, HeaderValue::from_static("GET"));
    }
    // 200 and 503 come only after the token matched: the command's own connection.
    let presented_token = matches!(answer.status, 200 | 503);
    if presented_token {
        trusted.store(true, Ordering::Relaxed);
    }
    if has_body || !presented_token {
        // A body is not read, so the connection cannot be reused; a client without the token
        // gets no connection to keep.
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The running server; dropping it (or [`Listening::stop`]) closes the port.
pub struct Listening {
    pub port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// A duplicate of the listening socket, to hand over when the command's descendants
    /// outlive it ([`super::hold`]).
    socket: Option<std::os::fd::OwnedFd>,
}

impl Listening {
    /// Binds 127.0.0.1 on an ephemeral port and serves `served` at `endpoint` until stopped,
    /// holding at most `cap` connections at once.
    pub fn start(
        endpoint: Arc<Endpoint>,
        served: Arc<RwLock<Served>>,
        cap: usize,
    ) -> io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()?;
        let listener = {
            let _runtime = runtime.enter();
            let socket = tokio::net::TcpSocket::new_v4()?;
            socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
            socket.listen(BACKLOG)?
        };
        let socket = std::os::fd::AsFd::as_fd(&listener).try_clone_to_owned()?;
        let port = listener.local_addr()?.port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("stsexec-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    tokio::spawn(accept_loop(listener, endpoint, served, cap));
                    let _ = stopped.await;
                });
                // Dropping the runtime drops the listener and every connection.
            })?;
        Ok(Listening {
            port,
            stop: Some(stop),
            thread: Some(thread),
            socket: Some(socket),
        })
    }

    /// Closes the port and waits for the server thread.
    pub fn stop(mut self) {
        self.shut();
    }

    /// Stops serving, and hands the port to a holder answering 503 while processes of `group`
    /// but `except` remain (when no holder can start, the port closes).
    pub fn stop_and_hand_over(mut self, group: i32, except: &[i32]) {
        self.shut();
        if let Some(socket) = self.socket.take() {
            let _ = super::hold::hand_over(socket, group, except);
        }
    }

    fn shut(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.shut();
    }
}

/// The open connections: whether each has presented the token, and how to close it.
#[derive(Default)]
struct Connections {
    next: u64,
    open: BTreeMap<u64, (Arc<AtomicBool>, tokio::task::AbortHandle)>,
}

/// Removes its connection from the table when the connection's task ends or is aborted.
struct Place {
    id: u64,
    table: Arc<Mutex<Connections>>,
}

impl Drop for Place {
    fn drop(&mut self) {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .open
            .remove(&self.id);
    }
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    endpoint: Arc<Endpoint>,
    served: Arc<RwLock<Served>>,
    cap: usize,
) {
    let table = Arc::new(Mutex::new(Connections::default()));
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let mut connections = table.lock().unwrap_or_else(PoisonError::into_inner);
        let open = connections
            .open
            .iter()
            .map(|(id, (trusted, _))| (*id, trusted.load(Ordering::Relaxed)));
        match admit(open, cap) {
            Admit::Room => {}
            Admit::Evict(id) => {
                if let Some((_, task)) = connections.open.remove(&id) {
                    task.abort();
                }
            }
            Admit::Refuse => continue,
        }
        let _ = stream.set_nodelay(true);
        let id = connections.next;
        connections.next += 1;
        let trusted = Arc::new(AtomicBool::new(false));
        let place = Place {
            id,
            table: table.clone(),
        };
        let (endpoint, served, flag) = (endpoint.clone(), served.clone(), trusted.clone());
        let task = tokio::spawn(async move {
            let _place = place;
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let response = respond(&req, &endpoint, &served, &flag);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEAD)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, connection).await;
        });
        // The task cannot have ended yet: it runs on this thread, which holds the table.
        connections.open.insert(id, (trusted, task.abort_handle()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint() -> Endpoint {
        Endpoint {
            path: "/stsexec/0123".into(),
            token: Secret::new("a".repeat(64)),
        }
    }

    fn served(expires_in: i64, now: SystemTime) -> Served {
        let expiration = if expires_in >= 0 {
            now + Duration::from_secs(expires_in.unsigned_abs())
        } else {
            now - Duration::from_secs(expires_in.unsigned_abs())
        };
        Served {
            label: "work-role-admin-STS".into(),
            credentials: Credentials {
                access_key_id: "ASIAEXAMPLEKEY123456".into(),
                secret_access_key: Secret::new("SECRETMARKER-secret"),
                session_token: Some(Secret::new("SECRETMARKER-token")),
                expiration: Some(expiration),
            },
        }
    }

    fn head<'a>(method: &'a str, path: &'a str, auth: Option<&'a [u8]>) -> Head<'a> {
        Head {
            method,
            path,
            authorization: auth,
            has_body: false,
        }
    }

    #[test]
    fn endpoints_are_random_and_long_enough() {
        let (a, b) = (Endpoint::generate().unwrap(), Endpoint::generate().unwrap());
        assert_ne!(a.path, b.path);
        assert_ne!(a.token, b.token);
        assert_eq!(a.token.expose().len(), 64, "256 bits in hex");
        assert!(a.token.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(a.path.starts_with("/stsexec/") && a.path.len() == "/stsexec/".len() + 32);
        assert_eq!(a.url(4242), format!("http://127.0.0.1:4242{}", a.path));
    }

    #[test]
    fn tokens_compare_whole() {
        let token = Secret::new("abcd");
        assert!(token_matches(&token, Some(b"abcd")));
        for wrong in [&b"abce"[..], b"abc", b"abcde", b"", b"ABCD"] {
            assert!(!token_matches(&token, Some(wrong)), "{wrong:?}");
        }
        assert!(!token_matches(&token, None));
    }

    #[test]
    fn the_protocol() {
        let now = SystemTime::now();
        let (e, s) = (endpoint(), served(3600, now));
        let token = "a".repeat(64);
        let good = Some(token.as_bytes());
        let ok = answer(&head("GET", "/stsexec/0123", good), &e, &s, now);
        assert_eq!(ok.status, 200);
        let json: serde_json::Value = serde_json::from_str(&ok.body).unwrap();
        assert_eq!(json["AccessKeyId"], "ASIAEXAMPLEKEY123456");
        assert_eq!(json["SecretAccessKey"], "SECRETMARKER-secret");
        assert_eq!(json["Token"], "SECRETMARKER-token");
        let expiration = json["Expiration"].as_str().unwrap();
        assert!(
            expiration.ends_with('Z') && expiration.len() == 20,
            "{expiration}"
        );

        let status = |h: Head| answer(&h, &e, &s, now).status;
        assert_eq!(status(head("GET", "/stsexec/0123", None)), 403);
        assert_eq!(status(head("GET", "/stsexec/0123", Some(b"wrong"))), 403);
        assert_eq!(status(head("GET", "/", good)), 404);
        assert_eq!(status(head("GET", "/stsexec/0124", good)), 404);
        assert_eq!(status(head("POST", "/stsexec/0123", good)), 405);
        assert_eq!(status(head("PUT", "/stsexec/0123", None)), 405);
        let mut with_body = head("GET", "/stsexec/0123", good);
        with_body.has_body = true;
        assert_eq!(status(with_body), 413);
    }

    #[test]
    fn errors_are_json_and_never_carry_the_secret() {
        let now = SystemTime::now();
        let e = endpoint();
        for (s, h) in [
            (served(3600, now), head("GET", "/stsexec/0123", None)),
            (served(3600, now), head("GET", "/nope", None)),
            (
                served(-1, now),
                head("GET", "/stsexec/0123", Some(&[b'a'; 64])),
            ),
        ] {
            let a = answer(&h, &e, &s, now);
            let json: serde_json::Value = serde_json::from_str(&a.body).unwrap();
            assert!(json["Code"].is_string() && json["Message"].is_string());
            assert!(!a.body.contains("SECRETMARKER"), "{}", a.body);
        }
    }

    #[test]
    fn an_expired_session_is_never_served() {
        let now = SystemTime::now();
        let e = endpoint();
        let good = "a".repeat(64);
        let h = head("GET", "/stsexec/0123", Some(good.as_bytes()));
        let a = answer(&h, &e, &served(0, now), now);
        assert_eq!(a.status, 503);
        assert!(a.body.contains("work-role-admin-STS"), "{}", a.body);
        assert_eq!(answer(&h, &e, &served(1, now), now).status, 200);
    }

    #[test]
    fn a_flood_displaces_only_connections_without_the_token() {
        assert_eq!(admit([(1, false), (2, true)], 3), Admit::Room);
        // Full: the oldest that never presented the token goes, not the command's.
        assert_eq!(
            admit([(5, true), (7, false), (9, false)], 3),
            Admit::Evict(7)
        );
        assert_eq!(
            admit([(9, false), (3, false), (4, true)], 3),
            Admit::Evict(3)
        );
        // Full of the command's own connections: the newcomer is refused.
        assert_eq!(admit([(1, true), (2, true)], 2), Admit::Refuse);
        assert_eq!(admit([], 0), Admit::Refuse);
    }

    #[test]
    fn the_connection_cap_leaves_descriptors_in_reserve() {
        assert_eq!(connection_cap(Some(20_000)), MAX_CONNECTIONS);
        assert_eq!(connection_cap(None), MAX_CONNECTIONS);
        assert_eq!(connection_cap(Some(256)), 128);
        assert_eq!(connection_cap(Some(64)), 8);
    }
}
