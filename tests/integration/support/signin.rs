//! A local fake of AWS's console federation endpoint (`AWS_ENDPOINT_URL_SIGNIN` points at it):
//! `GET /federation?Action=getSigninToken[&SessionDuration=N]&Session=<JSON>` records the
//! session JSON and answers `{"SigninToken": …}` (or, as told, a refusal, something that is not
//! JSON, or a huge answer); `GET /federation?Action=login&Issuer=…&Destination=…&SigninToken=…`
//! serves a login page that shows the token when it is one the fake issued.

use super::MARKER;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How the fake answers `getSigninToken`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Token,
    /// HTTP 400 with AWS's words for a bad session.
    Refuse,
    NotJson,
    /// A JSON answer of 1 MiB.
    Huge,
}

/// One `getSigninToken` request as the fake saw it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The `Session` JSON, parsed.
    pub session: serde_json::Value,
    /// `SessionDuration`, when sent.
    pub session_duration: Option<String>,
    /// The token answered.
    pub token: String,
}

/// One `login` request.
#[derive(Debug, Clone)]
pub struct Login {
    pub issuer: String,
    pub destination: String,
    pub token: String,
    /// Whether the token was one this fake issued.
    pub known: bool,
}

#[derive(Default)]
struct Seen {
    tokens: Vec<TokenRequest>,
    logins: Vec<Login>,
    other: Vec<String>,
}

pub struct FakeSignin {
    /// `AWS_ENDPOINT_URL_SIGNIN`.
    pub base: String,
    seen: Arc<(Mutex<Seen>, Condvar)>,
}

impl FakeSignin {
    pub fn start(answer: Answer) -> FakeSignin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen: Arc<(Mutex<Seen>, Condvar)> = Arc::default();
        let shared = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                        break;
                    }
                }
                let target = line.split_whitespace().nth(1).unwrap_or("").to_string();
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let params: BTreeMap<String, String> = query
                    .split('&')
                    .filter_map(|p| p.split_once('='))
                    .map(|(k, v)| (percent_decode(k), percent_decode(v)))
                    .collect();
                let (lock, changed) = &*shared;
                let mut seen = lock.lock().unwrap();
                let action = params.get("Action").map(String::as_str);
                let (status, kind, body) = match (path, action) {
                    ("/federation", Some("getSigninToken")) => {
                        let n = seen.tokens.len() + 1;
                        let token = format!("{MARKER}-signin-token-{n}");
                        let session = params
                            .get("Session")
                            .and_then(|s| serde_json::from_str(s).ok())
                            .unwrap_or(serde_json::Value::Null);
                        seen.tokens.push(TokenRequest {
                            session,
                            session_duration: params.get("SessionDuration").cloned(),
                            token: token.clone(),
                        });
                        match answer {
                            Answer::Token => (
                                "200 OK",
                                "application/json",
                                format!(r#"{{"SigninToken":"{token}"}}"#),
                            ),
                            Answer::Refuse => (
                                "400 Bad Request",
                                "text/plain",
                                "Invalid credentials parameter".to_string(),
                            ),
                            Answer::NotJson => (
                                "200 OK",
                                "text/html",
                                "<html>a proxy's login page</html>".to_string(),
                            ),
                            Answer::Huge => (
                                "200 OK",
                                "application/json",
                                format!(r#"{{"SigninToken":"{}"}}"#, "A".repeat(1 << 20)),
                            ),
                        }
                    }
                    ("/federation", Some("login")) => {
                        let token = params.get("SigninToken").cloned().unwrap_or_default();
                        let known = seen.tokens.iter().any(|t| t.token == token);
                        let login = Login {
                            issuer: params.get("Issuer").cloned().unwrap_or_default(),
                            destination: params.get("Destination").cloned().unwrap_or_default(),
                            token: token.clone(),
                            known,
                        };
                        seen.logins.push(login.clone());
                        if known {
                            (
                                "200 OK",
                                "text/html",
                                format!(
                                    "<html><head><title>Console</title></head><body><h1>Signed in to the fake console</h1><p id=\"token\">{}</p><p id=\"issuer\">{}</p><p id=\"destination\">{}</p></body></html>",
                                    html(&login.token),
                                    html(&login.issuer),
                                    html(&login.destination)
                                ),
                            )
                        } else {
                            (
                                "400 Bad Request",
                                "text/html",
                                "<html><body>Unknown sign-in token</body></html>".to_string(),
                            )
                        }
                    }
                    _ => {
                        seen.other.push(target.clone());
                        ("404 Not Found", "text/plain", "not found".to_string())
                    }
                };
                changed.notify_all();
                drop(seen);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        FakeSignin {
            base: format!("http://127.0.0.1:{port}"),
            seen,
        }
    }

    pub fn token_requests(&self) -> Vec<TokenRequest> {
        self.seen.0.lock().unwrap().tokens.clone()
    }

    pub fn logins(&self) -> Vec<Login> {
        self.seen.0.lock().unwrap().logins.clone()
    }
}

fn html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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
        } else if bytes[i] == b'+' {
            out.push(b' ');
            i += 1;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
