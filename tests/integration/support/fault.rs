//! A small STS look-alike speaking the query protocol, for what moto cannot do: reject MFA
//! codes, throttle, fail with 5xx, hang, send garbage. It answers from a script (the last
//! reply repeats) and counts the requests it received.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Credentials, as STS answers GetSessionToken or AssumeRole.
    Ok,
    /// 400 Throttling, "Rate exceeded".
    Throttle,
    /// 500 InternalFailure.
    ServerError,
    /// 403 AccessDenied for a wrong MFA code, worded as STS words it.
    RejectMfa,
    /// 403 InvalidClientTokenId: unknown or inactive access key.
    InvalidKey,
    /// 403 AccessDenied from AssumeRole.
    DenyRole,
    /// 200 with a body that is not STS XML.
    Malformed,
    /// 200 with STS XML cut off inside the credentials (a secret already sent).
    Truncated,
    /// Accepts the connection and never answers.
    Hang,
    /// Answers Ok after this many milliseconds (to overlap or interrupt a fetch).
    Slow(u64),
    /// Credentials that expire this many seconds from now, whatever was asked.
    Lasting(u64),
    /// Credentials with a 40 KB session token (above the token cap, below the response cap).
    HugeToken,
    /// 200, chunked, and a body that never ends.
    Endless,
}

pub struct FaultServer {
    pub url: String,
    hits: Arc<AtomicUsize>,
    /// Request bodies, to check what stsexec sent.
    bodies: Arc<Mutex<Vec<String>>>,
}

pub const SESSION_SECRET: &str = "SECRETMARKER-fault-session-secret";
pub const SESSION_TOKEN: &str = "SECRETMARKER-fault-session-token";

impl FaultServer {
    pub fn start(script: &[Reply]) -> FaultServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let script = script.to_vec();
        let (thread_hits, thread_bodies) = (hits.clone(), bodies.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (hits, bodies, script) =
                    (thread_hits.clone(), thread_bodies.clone(), script.clone());
                std::thread::spawn(move || serve(stream, &script, &hits, &bodies));
            }
        });
        FaultServer { url, hits, bodies }
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    pub fn bodies(&self) -> Vec<String> {
        self.bodies.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, script: &[Reply], hits: &AtomicUsize, bodies: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let Some(body) = read_request(&mut reader) else {
            return;
        };
        let index = hits.fetch_add(1, Ordering::SeqCst);
        bodies.lock().unwrap().push(body.clone());
        let reply = script
            .get(index)
            .or(script.last())
            .copied()
            .unwrap_or(Reply::Ok);
        let action = if body.contains("Action=AssumeRole") {
            "AssumeRole"
        } else {
            "GetSessionToken"
        };
        let (status, xml) = match reply {
            Reply::Ok => (200, success(action)),
            Reply::Lasting(secs) => (200, success_lasting(action, secs)),
            Reply::HugeToken => (
                200,
                success(action).replace(SESSION_TOKEN, &"T".repeat(40_000)),
            ),
            Reply::Slow(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                (200, success(action))
            }
            Reply::Throttle => (400, error("Sender", "Throttling", "Rate exceeded")),
            Reply::ServerError => (
                500,
                error("Receiver", "InternalFailure", "An internal error occurred."),
            ),
            Reply::RejectMfa => (
                403,
                error(
                    "Sender",
                    "AccessDenied",
                    "MultiFactorAuthentication failed with invalid MFA one time pass code. ",
                ),
            ),
            Reply::InvalidKey => (
                403,
                error(
                    "Sender",
                    "InvalidClientTokenId",
                    "The security token included in the request is invalid.",
                ),
            ),
            Reply::DenyRole => (
                403,
                error(
                    "Sender",
                    "AccessDenied",
                    "User: arn:aws:iam::123456789012:user/jb is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/admin",
                ),
            ),
            Reply::Malformed => (200, "<html><body>captive portal</body></html>".to_string()),
            Reply::Truncated => {
                let full = success(action);
                let cut = full.find("</SecretAccessKey>").unwrap_or(full.len());
                (200, full[..cut].to_string())
            }
            Reply::Hang => {
                std::thread::sleep(Duration::from_secs(120));
                return;
            }
            Reply::Endless => {
                let head = "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\n";
                if stream.write_all(head.as_bytes()).is_err() {
                    return;
                }
                let chunk = format!(
                    "{:x}\r\n{}\r\n",
                    65536,
                    &"<a>".repeat(65536 / 3 + 1)[..65536]
                );
                // Until the client hangs up (or two minutes pass).
                let until = std::time::Instant::now() + Duration::from_secs(120);
                while std::time::Instant::now() < until
                    && stream.write_all(chunk.as_bytes()).is_ok()
                {}
                return;
            }
        };
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nx-amzn-RequestId: 4c1b6a1e-0000-0000-0000-000000000000\r\n\r\n",
            xml.len()
        );
        if stream
            .write_all(head.as_bytes())
            .and_then(|_| stream.write_all(xml.as_bytes()))
            .is_err()
        {
            return;
        }
    }
}

/// Reads one HTTP/1.1 request and returns its body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<String> {
    let mut length = 0usize;
    let mut first = true;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if first {
            first = false;
            continue;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(String::from_utf8_lossy(&body).into_owned())
}

fn success(action: &str) -> String {
    success_lasting(action, 3600)
}

fn success_lasting(action: &str, secs: u64) -> String {
    let expiration = humantime_rfc3339(SystemTime::now() + Duration::from_secs(secs));
    let user = if action == "AssumeRole" {
        "<AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:jb-stsexec</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/admin/jb-stsexec</Arn></AssumedRoleUser>"
    } else {
        ""
    };
    format!(
        r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result><Credentials><AccessKeyId>ASIAFAULTSERVER00001</AccessKeyId><SecretAccessKey>{SESSION_SECRET}</SecretAccessKey><SessionToken>{SESSION_TOKEN}</SessionToken><Expiration>{expiration}</Expiration></Credentials>{user}</{action}Result><ResponseMetadata><RequestId>4c1b6a1e-0000-0000-0000-000000000000</RequestId></ResponseMetadata></{action}Response>"#
    )
}

fn error(kind: &str, code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4c1b6a1e-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
    )
}

fn humantime_rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}
