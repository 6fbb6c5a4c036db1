//! A local fake of GitHub Actions' OIDC token endpoint (`ACTIONS_ID_TOKEN_REQUEST_URL`): it
//! checks the bearer token and the audience, counts requests, and answers a new token each
//! time — or, as told, something that is not JSON.

use super::MARKER;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The bearer token the fake accepts (`ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
pub const BEARER: &str = "SECRETMARKER-github-request-token";

/// How the fake answers a request with the right bearer and audience.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Token,
    NotJson,
}

pub struct FakeGitHub {
    /// `ACTIONS_ID_TOKEN_REQUEST_URL`, with the query GitHub puts there.
    pub url: String,
    requests: Arc<AtomicUsize>,
    /// Audiences asked for, in order.
    audiences: Arc<Mutex<Vec<String>>>,
}

impl FakeGitHub {
    pub fn start(expected_audience: &str, answer: Answer) -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(AtomicUsize::new(0));
        let audiences = Arc::new(Mutex::new(Vec::new()));
        let (count, seen) = (requests.clone(), audiences.clone());
        let expected = expected_audience.to_string();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let mut authorization = String::new();
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = header.split_once(':')
                        && name.eq_ignore_ascii_case("authorization")
                    {
                        authorization = value.trim().to_string();
                    }
                }
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                let target = line.split_whitespace().nth(1).unwrap_or("");
                let audience = target
                    .split(['?', '&'])
                    .find_map(|p| p.strip_prefix("audience="))
                    .unwrap_or("")
                    .to_string();
                let audience = percent_decode(&audience);
                seen.lock().unwrap().push(audience.clone());
                let (status, body) = if !target.starts_with("/idtoken?api-version=2.0&") {
                    ("404 Not Found", r#"{"message":"Not Found"}"#.to_string())
                } else if authorization != format!("Bearer {BEARER}") {
                    (
                        "401 Unauthorized",
                        r#"{"message":"Bad credentials"}"#.to_string(),
                    )
                } else if audience != expected {
                    (
                        "400 Bad Request",
                        r#"{"message":"wrong audience"}"#.to_string(),
                    )
                } else if answer == Answer::NotJson {
                    ("200 OK", "<html>a proxy's login page</html>".to_string())
                } else {
                    (
                        "200 OK",
                        format!(
                            r#"{{"count":1,"value":"eyJhbGciOiJSUzI1NiJ9.{MARKER}-jwt-{n}.c2ln"}}"#
                        ),
                    )
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeGitHub {
            url: format!("http://127.0.0.1:{port}/idtoken?api-version=2.0"),
            requests,
            audiences,
        }
    }

    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }

    pub fn audiences(&self) -> Vec<String> {
        self.audiences.lock().unwrap().clone()
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
