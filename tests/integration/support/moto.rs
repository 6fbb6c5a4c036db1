//! moto's STS server, one per test so call counts belong to that test alone.

use super::{free_port, venv};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub port: u16,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Self::launch(&[], "http")
    }

    /// moto over TLS with the given certificate and key, at `https://localhost:<port>`.
    pub fn start_tls(cert: &Path, key: &Path) -> Moto {
        let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
        Self::launch(&["-c", cert, "-k", key], "https")
    }

    /// moto checking signatures and IAM policies (its auth mode) once it has answered
    /// `unsigned` requests, which set up users, policies and keys through the AWS CLI.
    pub fn start_with_auth(unsigned: u32) -> Moto {
        Self::launch_with(&[], "http", Some(unsigned))
    }

    fn launch(extra: &[&str], scheme: &str) -> Moto {
        Self::launch_with(extra, scheme, None)
    }

    fn launch_with(extra: &[&str], scheme: &str, unsigned: Option<u32>) -> Moto {
        let port = free_port();
        let mut cmd = Command::new(venv().join("bin/moto_server"));
        cmd.env_clear();
        if let Some(count) = unsigned {
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", count.to_string());
        }
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it makes the server die with the test process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("moto_server starts");
        let host = if scheme == "https" {
            "localhost"
        } else {
            "127.0.0.1"
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        let ready = || {
            if scheme == "https" {
                TcpStream::connect(("127.0.0.1", port)).is_ok()
            } else {
                http_get(port, "/moto-api/").is_some()
            }
        };
        while !ready() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("moto_server exited ({status}) before answering on port {port}");
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            child,
            port,
            url: format!("{scheme}://{host}:{port}"),
        }
    }

    fn sts_state(&self) -> serde_json::Value {
        let body = http_get(self.port, "/moto-api/data.json").expect("moto data.json");
        let data: serde_json::Value = serde_json::from_str(&body).expect("moto data is JSON");
        data["sts"].clone()
    }

    /// GetSessionToken calls moto has answered.
    pub fn session_tokens(&self) -> usize {
        self.sts_state()["Token"].as_array().map_or(0, Vec::len)
    }

    /// AssumeRole calls moto has answered, as (role ARN, session name).
    pub fn assumed_roles(&self) -> Vec<(String, String)> {
        self.sts_state()["AssumedRole"]
            .as_array()
            .map(|roles| {
                roles
                    .iter()
                    .map(|r| {
                        (
                            r["role_arn"].as_str().unwrap_or_default().to_string(),
                            r["session_name"].as_str().unwrap_or_default().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A plain HTTP/1.0 GET; `None` until the server answers 200.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.0 200")
        .then(|| body.to_string())
        .or_else(|| head.starts_with("HTTP/1.1 200").then(|| body.to_string()))
}
