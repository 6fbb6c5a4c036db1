//! A small stateful IAM + STS look-alike for `--rotate`, for what moto cannot do: a new key
//! that IAM takes a while to accept (eventual consistency), calls held open so a test can
//! kill stsexec between two steps, a policy that requires MFA, a failing DeleteAccessKey.
//! It keeps user jb's access keys, tells the signer of each request from its Authorization
//! header (signatures are not checked: moto's auth mode does that), and logs every action.

use super::{ACCESS_KEY, SECRET_KEY};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

pub const USER_ARN: &str = "arn:aws:iam::123456789012:user/jb";

#[derive(Debug, Clone)]
pub struct Key {
    pub id: String,
    pub secret: String,
    pub active: bool,
    /// Made by CreateAccessKey (not the key the test started with).
    pub created: bool,
}

/// Calls held open, so a test can kill stsexec between two steps.
#[derive(Debug, Default)]
pub struct Holds {
    /// GetCallerIdentity signed with a created key.
    pub proof: bool,
    /// UpdateAccessKey.
    pub retire: bool,
    /// CreateAccessKey, after the key is made: the answer never comes.
    pub create: bool,
}

/// What IAM refuses.
#[derive(Debug, Default)]
pub struct Policy {
    /// GetCallerIdentity signed with a created key always fails.
    pub new_key_never_valid: bool,
    /// IAM calls signed with a long-lived key are refused (a policy that requires MFA).
    pub require_mfa: bool,
    pub deny_delete: bool,
}

#[derive(Debug, Default)]
pub struct State {
    pub keys: Vec<Key>,
    /// Session access key id → the key that made it.
    pub sessions: HashMap<String, String>,
    /// GetCallerIdentity signed with a created key fails this many more times.
    pub new_key_invalid_for: usize,
    pub holds: Holds,
    pub policy: Policy,
    /// (action, signing key id), in order.
    pub calls: Vec<(String, String)>,
    /// Each connection is closed this long after its first answer, without a `Connection:
    /// close` (as tinyproxy does, at once): a client that reuses it meanwhile finds it closed
    /// after sending.
    pub closes_after_answer: Option<Duration>,
    /// Connections accepted.
    pub connections: usize,
    next: u32,
}

pub struct FakeIam {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

impl FakeIam {
    /// User jb holding the sandbox's key.
    pub fn start() -> FakeIam {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            keys: vec![Key {
                id: ACCESS_KEY.into(),
                secret: SECRET_KEY.into(),
                active: true,
                created: false,
            }],
            ..State::default()
        }));
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = shared.clone();
                state.lock().unwrap().connections += 1;
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        FakeIam { url, state }
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.with(|s| s.keys.iter().map(|k| k.id.clone()).collect())
    }

    pub fn actions(&self) -> Vec<String> {
        self.with(|s| s.calls.iter().map(|(a, _)| a.clone()).collect())
    }

    /// Starts `stsexec work --rotate OPTIONS…` in `sandbox`, kills it (SIGKILL) once this
    /// fake has seen `action` ([`FakeIam::wait_for`]; hold the step with [`Holds`] so the run
    /// is still inside it), and returns the key that run created.
    pub fn kill_rotation_at(
        &self,
        sandbox: &super::Sandbox,
        options: &[&str],
        action: &str,
        by_new: bool,
    ) -> Key {
        let args: Vec<&str> = ["work", "--rotate"]
            .iter()
            .chain(options)
            .copied()
            .collect();
        let mut child = sandbox.command(&args).spawn().unwrap();
        self.wait_for(action, by_new);
        child.kill().unwrap();
        let _ = child.wait();
        self.with(|s| s.keys.iter().find(|k| k.created).unwrap().clone())
    }

    /// Waits until an action signed by a created key (or any signer, `by_new: false`) is seen.
    pub fn wait_for(&self, action: &str, by_new: bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let seen = self.with(|s| {
                s.calls.iter().any(|(a, signer)| {
                    a == action && (!by_new || s.keys.iter().any(|k| k.created && &k.id == signer))
                })
            });
            if seen {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{action} never came: {:?}",
                self.actions()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

enum Answer {
    Ok(String),
    Error(u16, &'static str, String),
    Hold,
}

fn handle(state: &Mutex<State>, params: &HashMap<String, String>, signer: &str) -> Answer {
    let mut s = state.lock().unwrap();
    let action = params.get("Action").cloned().unwrap_or_default();
    s.calls.push((action.clone(), signer.to_string()));
    let key = s.keys.iter().find(|k| k.id == signer).cloned();
    let session_of = s.sessions.get(signer).cloned();
    let valid = key.as_ref().is_some_and(|k| k.active)
        || session_of
            .as_ref()
            .is_some_and(|from| s.keys.iter().any(|k| &k.id == from));
    let invalid = || {
        Answer::Error(
            403,
            "InvalidClientTokenId",
            "The security token included in the request is invalid.".into(),
        )
    };
    if !valid {
        return invalid();
    }
    let is_session = session_of.is_some();
    let created = key.as_ref().is_some_and(|k| k.created);
    let user = params.get("UserName").map(String::as_str).unwrap_or("jb");
    let key_id = params.get("AccessKeyId").cloned().unwrap_or_default();
    match action.as_str() {
        "GetSessionToken" => {
            s.next += 1;
            let n = s.next;
            let id = format!("ASIAFAKESESSION{n:05}");
            s.sessions.insert(id.clone(), signer.to_string());
            let expiration =
                humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
            Answer::Ok(sts(
                "GetSessionToken",
                &format!(
                    "<Credentials><AccessKeyId>{id}</AccessKeyId><SecretAccessKey>SECRETMARKER-session-{n}</SecretAccessKey><SessionToken>SECRETMARKER-token-{n}</SessionToken><Expiration>{expiration}</Expiration></Credentials>"
                ),
            ))
        }
        "GetCallerIdentity" => {
            if created && s.holds.proof {
                return Answer::Hold;
            }
            if created && s.policy.new_key_never_valid {
                return invalid();
            }
            if created && s.new_key_invalid_for > 0 {
                s.new_key_invalid_for -= 1;
                return invalid();
            }
            Answer::Ok(sts(
                "GetCallerIdentity",
                &format!(
                    "<Arn>{USER_ARN}</Arn><UserId>AIDAFAKEUSER00000001</UserId><Account>123456789012</Account>"
                ),
            ))
        }
        _ if s.policy.require_mfa && !is_session => Answer::Error(
            403,
            "AccessDenied",
            format!(
                "User: {USER_ARN} is not authorized to perform: iam:{action} with an explicit deny (MFA required)"
            ),
        ),
        _ if user != "jb" => Answer::Error(
            404,
            "NoSuchEntity",
            format!("The user {user} cannot be found."),
        ),
        "ListAccessKeys" => {
            let members: String = s
                .keys
                .iter()
                .map(|k| {
                    format!(
                        "<member><UserName>jb</UserName><AccessKeyId>{}</AccessKeyId><Status>{}</Status><CreateDate>2026-01-02T03:04:05Z</CreateDate></member>",
                        k.id,
                        if k.active { "Active" } else { "Inactive" }
                    )
                })
                .collect();
            Answer::Ok(iam(
                "ListAccessKeys",
                &format!(
                    "<AccessKeyMetadata>{members}</AccessKeyMetadata><IsTruncated>false</IsTruncated>"
                ),
            ))
        }
        "CreateAccessKey" => {
            if s.keys.len() >= 2 {
                return Answer::Error(
                    409,
                    "LimitExceeded",
                    "Cannot exceed quota for AccessKeysPerUser: 2".into(),
                );
            }
            s.next += 1;
            let n = s.next;
            let key = Key {
                id: format!("AKIAROTATEDKEY{n:06}"),
                secret: format!("SECRETMARKER-new-secret-{n}"),
                active: true,
                created: true,
            };
            s.keys.push(key.clone());
            if s.holds.create {
                return Answer::Hold;
            }
            Answer::Ok(iam(
                "CreateAccessKey",
                &format!(
                    "<AccessKey><UserName>jb</UserName><AccessKeyId>{}</AccessKeyId><Status>Active</Status><SecretAccessKey>{}</SecretAccessKey><CreateDate>2026-01-02T03:04:05Z</CreateDate></AccessKey>",
                    key.id, key.secret
                ),
            ))
        }
        "UpdateAccessKey" => {
            if s.holds.retire {
                return Answer::Hold;
            }
            match s.keys.iter_mut().find(|k| k.id == key_id) {
                Some(k) => {
                    k.active = params.get("Status").map(String::as_str) == Some("Active");
                    Answer::Ok(iam("UpdateAccessKey", ""))
                }
                None => no_such_key(&key_id),
            }
        }
        "DeleteAccessKey" => {
            if s.policy.deny_delete {
                return Answer::Error(
                    403,
                    "AccessDenied",
                    "not authorized to perform: iam:DeleteAccessKey".into(),
                );
            }
            let before = s.keys.len();
            s.keys.retain(|k| k.id != key_id);
            if s.keys.len() == before {
                no_such_key(&key_id)
            } else {
                Answer::Ok(iam("DeleteAccessKey", ""))
            }
        }
        other => Answer::Error(400, "InvalidAction", format!("unknown action {other}")),
    }
}

fn no_such_key(id: &str) -> Answer {
    Answer::Error(
        404,
        "NoSuchEntity",
        format!("The Access Key with id {id} cannot be found."),
    )
}

fn sts(action: &str, result: &str) -> String {
    format!(
        r#"<{action}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><{action}Result>{result}</{action}Result><ResponseMetadata><RequestId>4c1b6a1e-0000-0000-0000-000000000000</RequestId></ResponseMetadata></{action}Response>"#
    )
}

fn iam(action: &str, result: &str) -> String {
    let result = if result.is_empty() {
        String::new()
    } else {
        format!("<{action}Result>{result}</{action}Result>")
    };
    format!(
        r#"<{action}Response xmlns="https://iam.amazonaws.com/doc/2010-05-08/">{result}<ResponseMetadata><RequestId>4c1b6a1e-0000-0000-0000-000000000000</RequestId></ResponseMetadata></{action}Response>"#
    )
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let Some((signer, body)) = read_request(&mut reader) else {
            return;
        };
        let params: HashMap<String, String> = body
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect();
        let (status, xml) = match handle(state, &params, &signer) {
            Answer::Ok(xml) => (200, xml),
            Answer::Error(status, code, message) => (
                status,
                format!(
                    r#"<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>4c1b6a1e-0000-0000-0000-000000000000</RequestId></ErrorResponse>"#
                ),
            ),
            Answer::Hold => {
                std::thread::sleep(Duration::from_secs(120));
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
        let closes = state.lock().unwrap().closes_after_answer;
        if let Some(after) = closes {
            // Whatever arrives meanwhile is never answered.
            std::thread::sleep(after);
            return;
        }
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("00");
                out.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One HTTP/1.1 request: the access key id that signed it, and its body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, String)> {
    let mut length = 0usize;
    let mut signer = String::new();
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
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            } else if name.eq_ignore_ascii_case("authorization")
                && let Some(rest) = value.split("Credential=").nth(1)
            {
                signer = rest.split('/').next().unwrap_or_default().to_string();
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((signer, String::from_utf8_lossy(&body).into_owned()))
}
