//! A local fake of IAM Identity Center: the sso-oidc service (restJson1: `POST /client/register`,
//! `/device_authorization`, `/token`; the browser's `GET /authorize`) and the portal
//! (`GET /federation/credentials?role_name=&account_id=` with the `x-amz-sso_bearer_token`
//! header), speaking the wire protocol aws-sdk-ssooidc and aws-sdk-sso (and botocore) use. It
//! checks what the real service checks — the client registration and its secret, the PKCE
//! verifier against the S256 challenge, the redirect URI, device codes and their approval,
//! refresh tokens (rotated: each works once), bearer tokens — and counts calls.

use super::server::{body_of, raw_http, status_of};
use super::{MARKER, Run, Sandbox};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// The account and role the portal knows.
pub const ACCOUNT_ID: &str = "111122223333";
pub const ROLE: &str = "ReadOnly";
pub const START_URL: &str = "https://my-org.awsapps.com/start";

#[derive(Default)]
struct Client {
    secret: String,
    grant_types: Vec<String>,
    scopes: Vec<String>,
}

struct AuthCode {
    client_id: String,
    challenge: String,
    redirect_uri: String,
}

struct Device {
    client_id: String,
    user_code: String,
    approved: bool,
}

#[derive(Default)]
struct State {
    next: usize,
    clients: HashMap<String, Client>,
    codes: HashMap<String, AuthCode>,
    devices: HashMap<String, Device>,
    /// access token → expiry
    access: HashMap<String, SystemTime>,
    /// refresh token → client id
    refresh: HashMap<String, String>,
    counts: HashMap<String, usize>,
    /// Lifetime of issued access tokens.
    token_lifetime: u64,
    /// Device flow: `interval` answered, and whether the first poll is told to slow down.
    interval: i32,
    slow_down_once: bool,
    device_expires_in: i32,
    /// Browser sign-in: the user cancels (the redirect carries `error=access_denied`).
    deny: bool,
    /// The portal answers with something that is not its answer.
    hostile: Option<Hostile>,
}

/// What a hostile (or misconfigured) endpoint sends instead of the portal's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A proxy's HTML login page, with status 200.
    NotJson,
    /// Ten megabytes.
    Huge,
}

pub struct FakeSso {
    /// The base URL: `AWS_ENDPOINT_URL_SSO_OIDC` and `AWS_ENDPOINT_URL_SSO` both.
    pub url: String,
    state: Arc<Mutex<State>>,
}

impl FakeSso {
    pub fn start() -> FakeSso {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let state = Arc::new(Mutex::new(State {
            token_lifetime: 3600,
            interval: 1,
            device_expires_in: 600,
            ..State::default()
        }));
        let shared = state.clone();
        let base = url.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (state, base) = (shared.clone(), base.clone());
                std::thread::spawn(move || serve(stream, &state, &base));
            }
        });
        FakeSso { url, state }
    }

    /// How many times `what` was called: `register`, `device_authorization`, `authorize`,
    /// `token:<grant type>`, `token:pending`, `credentials`, `credentials:refused`.
    pub fn count(&self, what: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .counts
            .get(what)
            .copied()
            .unwrap_or(0)
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.state.lock().unwrap().token_lifetime = seconds;
    }

    pub fn slow_down_once(&self) {
        self.state.lock().unwrap().slow_down_once = true;
    }

    pub fn set_device_expiry(&self, seconds: i32) {
        self.state.lock().unwrap().device_expires_in = seconds;
    }

    pub fn answer_portal_with(&self, hostile: Hostile) {
        self.state.lock().unwrap().hostile = Some(hostile);
    }

    pub fn deny_sign_in(&self) {
        self.state.lock().unwrap().deny = true;
    }

    /// Every access token stops working (a revoked session); refresh tokens too.
    pub fn revoke_all(&self) {
        let mut state = self.state.lock().unwrap();
        state.access.clear();
        state.refresh.clear();
    }
}

fn approve(state: &Mutex<State>, user_code: &str) -> bool {
    let mut state = state.lock().unwrap();
    let mut found = false;
    for device in state.devices.values_mut() {
        if device.user_code == user_code {
            device.approved = true;
            found = true;
        }
    }
    found
}

fn count(state: &mut State, what: &str) {
    *state.counts.entry(what.to_string()).or_default() += 1;
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn query(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| percent_decode(v))
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 || header == "\r\n" {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length.min(1 << 20)];
    reader.read_exact(&mut body).ok()?;
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body,
    })
}

struct Answer {
    status: &'static str,
    headers: Vec<(&'static str, String)>,
    body: String,
}

fn json(body: &serde_json::Value) -> Answer {
    Answer {
        status: "200 OK",
        headers: vec![("Content-Type", "application/json".into())],
        body: body.to_string(),
    }
}

/// A restJson1 error: the type in `x-amzn-errortype`, the OAuth error in the body (as the
/// service sends it).
fn error(status: &'static str, kind: &str, oauth: &str, description: &str) -> Answer {
    Answer {
        status,
        headers: vec![
            ("Content-Type", "application/json".into()),
            ("x-amzn-errortype", kind.to_string()),
        ],
        body: serde_json::json!({"error": oauth, "error_description": description, "message": description}).to_string(),
    }
}

fn page(status: &'static str, text: &str) -> Answer {
    Answer {
        status,
        headers: vec![("Content-Type", "text/html".into())],
        body: format!("<html><body><p>{text}</p></body></html>"),
    }
}

fn serve(mut stream: TcpStream, state: &Mutex<State>, base: &str) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let Some(request) = read_request(&stream) else {
        return;
    };
    let answer = route(&request, state, base);
    let mut head = format!(
        "HTTP/1.1 {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status,
        answer.body.len()
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if answer.status == "huge" {
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{\"roleCredentials\": {{\"sessionToken\": \""
        );
        let chunk = "A".repeat(64 * 1024);
        for _ in 0..160 {
            if stream.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
        return;
    }
    let _ = write!(stream, "{head}\r\n{}", answer.body);
    let _ = stream.flush();
}

fn route(request: &Request, state: &Mutex<State>, base: &str) -> Answer {
    match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/client/register") => register(request, state),
        ("POST", "/device_authorization") => device_authorization(request, state, base),
        ("POST", "/token") => token(request, state),
        ("GET", "/authorize") => authorize(request, state),
        ("GET", "/device") => {
            let code = request.query("user_code").unwrap_or_default();
            if approve(state, &code) {
                page("200 OK", "Request approved")
            } else {
                page("404 Not Found", "No such code")
            }
        }
        ("GET", "/federation/credentials") => credentials(request, state),
        _ => page("404 Not Found", "Not found"),
    }
}

fn register(request: &Request, state: &Mutex<State>) -> Answer {
    let body = request.json();
    let mut state = state.lock().unwrap();
    count(&mut state, "register");
    if body["clientType"] != "public" || !body["clientName"].is_string() {
        return error(
            "400 Bad Request",
            "InvalidClientMetadataException",
            "invalid_client_metadata",
            "clientName and clientType public are required",
        );
    }
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let grant_types = strings(&body["grantTypes"]);
    let redirects = strings(&body["redirectUris"]);
    if grant_types.iter().any(|g| g == "authorization_code")
        && (redirects != ["http://127.0.0.1/oauth/callback"] || body["issuerUrl"] != START_URL)
    {
        return error(
            "400 Bad Request",
            "InvalidRedirectUriException",
            "invalid_redirect_uri",
            "a loopback redirect and the issuer URL are required",
        );
    }
    state.next += 1;
    let id = format!("client-{}", state.next);
    let secret = format!("{MARKER}-client-secret-{}", state.next);
    let expires = SystemTime::now() + Duration::from_secs(90 * 86400);
    state.clients.insert(
        id.clone(),
        Client {
            secret: secret.clone(),
            grant_types,
            scopes: strings(&body["scopes"]),
        },
    );
    json(&serde_json::json!({
        "clientId": id,
        "clientSecret": secret,
        "clientIdIssuedAt": epoch(SystemTime::now()),
        "clientSecretExpiresAt": epoch(expires),
    }))
}

fn epoch(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The client named in a JSON body, when its secret matches.
fn authenticated(body: &serde_json::Value, state: &State) -> Option<String> {
    let id = body["clientId"].as_str()?;
    let client = state.clients.get(id)?;
    (body["clientSecret"].as_str() == Some(client.secret.as_str())).then(|| id.to_string())
}

fn device_authorization(request: &Request, state: &Mutex<State>, base: &str) -> Answer {
    let body = request.json();
    let mut state = state.lock().unwrap();
    count(&mut state, "device_authorization");
    let Some(client_id) = authenticated(&body, &state) else {
        return error(
            "401 Unauthorized",
            "InvalidClientException",
            "invalid_client",
            "unknown client",
        );
    };
    if body["startUrl"] != START_URL {
        return error(
            "400 Bad Request",
            "InvalidRequestException",
            "invalid_request",
            "unknown start URL",
        );
    }
    state.next += 1;
    let n = state.next;
    let device_code = format!("{MARKER}-device-{n}");
    let user_code = format!("WXYZ-{n:04}");
    state.devices.insert(
        device_code.clone(),
        Device {
            client_id,
            user_code: user_code.clone(),
            approved: false,
        },
    );
    json(&serde_json::json!({
        "deviceCode": device_code,
        "userCode": user_code,
        "verificationUri": format!("{base}/device"),
        "verificationUriComplete": format!("{base}/device?user_code={user_code}"),
        "expiresIn": state.device_expires_in,
        "interval": state.interval,
    }))
}

fn authorize(request: &Request, state: &Mutex<State>) -> Answer {
    let mut state = state.lock().unwrap();
    count(&mut state, "authorize");
    let q = |name| request.query(name).unwrap_or_default();
    let client_id = q("client_id");
    let redirect_uri = q("redirect_uri");
    let Some(client) = state.clients.get(&client_id) else {
        return page("400 Bad Request", "unknown client");
    };
    let loopback = redirect_uri
        .strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.split_once('/'))
        .is_some_and(|(port, path)| port.parse::<u16>().is_ok() && path == "oauth/callback");
    if q("response_type") != "code"
        || q("code_challenge_method") != "S256"
        || q("code_challenge").len() != 43
        || q("state").is_empty()
        || !loopback
        || !client.grant_types.iter().any(|g| g == "authorization_code")
        || !q("scopes")
            .split(' ')
            .all(|s| client.scopes.iter().any(|c| c == s))
    {
        return page("400 Bad Request", "bad authorization request");
    }
    let location = if state.deny {
        format!("{redirect_uri}?error=access_denied&state={}", q("state"))
    } else {
        state.next += 1;
        let code = format!("code-{}", state.next);
        state.codes.insert(
            code.clone(),
            AuthCode {
                client_id,
                challenge: q("code_challenge"),
                redirect_uri: redirect_uri.clone(),
            },
        );
        format!("{redirect_uri}?code={code}&state={}", q("state"))
    };
    Answer {
        status: "302 Found",
        headers: vec![("Location", location)],
        body: String::new(),
    }
}

fn issue(state: &mut State, client_id: &str) -> Answer {
    state.next += 1;
    let n = state.next;
    let access = format!("{MARKER}-access-{n}");
    let refresh = format!("{MARKER}-refresh-{n}");
    let lifetime = state.token_lifetime;
    state.access.insert(
        access.clone(),
        SystemTime::now() + Duration::from_secs(lifetime),
    );
    state.refresh.insert(refresh.clone(), client_id.to_string());
    json(&serde_json::json!({
        "accessToken": access,
        "tokenType": "Bearer",
        "expiresIn": lifetime,
        "refreshToken": refresh,
    }))
}

fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64url(digest.as_ref())
}

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

fn token(request: &Request, state: &Mutex<State>) -> Answer {
    let body = request.json();
    let mut state = state.lock().unwrap();
    let grant = body["grantType"].as_str().unwrap_or("").to_string();
    count(&mut state, &format!("token:{grant}"));
    let Some(client_id) = authenticated(&body, &state) else {
        return error(
            "401 Unauthorized",
            "InvalidClientException",
            "invalid_client",
            "unknown client",
        );
    };
    let invalid = || {
        error(
            "400 Bad Request",
            "InvalidGrantException",
            "invalid_grant",
            "Invalid grant provided",
        )
    };
    match grant.as_str() {
        "urn:ietf:params:oauth:grant-type:device_code" => {
            let code = body["deviceCode"].as_str().unwrap_or("");
            let Some(device) = state.devices.get(code) else {
                return invalid();
            };
            if device.client_id != client_id {
                return invalid();
            }
            if state.slow_down_once {
                state.slow_down_once = false;
                count(&mut state, "token:slow_down");
                return error(
                    "400 Bad Request",
                    "SlowDownException",
                    "slow_down",
                    "Client is polling too fast",
                );
            }
            if !device.approved {
                count(&mut state, "token:pending");
                return error(
                    "400 Bad Request",
                    "AuthorizationPendingException",
                    "authorization_pending",
                    "Authorization is still pending",
                );
            }
            state.devices.remove(code);
            issue(&mut state, &client_id)
        }
        "authorization_code" => {
            let code = body["code"].as_str().unwrap_or("");
            let Some(grant) = state.codes.remove(code) else {
                return invalid();
            };
            let verifier = body["codeVerifier"].as_str().unwrap_or("");
            if grant.client_id != client_id
                || body["redirectUri"].as_str() != Some(grant.redirect_uri.as_str())
                || s256(verifier) != grant.challenge
            {
                count(&mut state, "token:pkce_mismatch");
                return invalid();
            }
            issue(&mut state, &client_id)
        }
        "refresh_token" => {
            let refresh = body["refreshToken"].as_str().unwrap_or("");
            match state.refresh.remove(refresh) {
                Some(owner) if owner == client_id => issue(&mut state, &client_id),
                _ => invalid(),
            }
        }
        _ => error(
            "400 Bad Request",
            "UnsupportedGrantTypeException",
            "unsupported_grant_type",
            "unsupported grant type",
        ),
    }
}

fn credentials(request: &Request, state: &Mutex<State>) -> Answer {
    let mut state = state.lock().unwrap();
    count(&mut state, "credentials");
    let token = request.header("x-amz-sso_bearer_token").unwrap_or("");
    let valid = state
        .access
        .get(token)
        .is_some_and(|expires| *expires > SystemTime::now());
    if !valid {
        count(&mut state, "credentials:refused");
        return error(
            "401 Unauthorized",
            "UnauthorizedException",
            "unauthorized",
            "Session token not found or invalid",
        );
    }
    match state.hostile {
        Some(Hostile::NotJson) => {
            return page("200 OK", "<form>Proxy login</form>");
        }
        Some(Hostile::Huge) => {
            return Answer {
                status: "huge",
                headers: vec![],
                body: String::new(),
            };
        }
        None => {}
    }
    if request.query("account_id").as_deref() != Some(ACCOUNT_ID)
        || request.query("role_name").as_deref() != Some(ROLE)
    {
        return error(
            "403 Forbidden",
            "ForbiddenException",
            "forbidden",
            "No access",
        );
    }
    state.next += 1;
    let n = state.next;
    let expiration = SystemTime::now() + Duration::from_secs(3600);
    json(&serde_json::json!({
        "roleCredentials": {
            "accessKeyId": format!("ASIASSOFAKE{n:09}"),
            "secretAccessKey": format!("{MARKER}-sso-secret-{n}"),
            "sessionToken": format!("{MARKER}-sso-session-{n}"),
            "expiration": epoch(expiration) * 1000,
        }
    }))
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

/// A `$BROWSER` that runs headless Chromium on the URL and exits once the page has loaded;
/// each URL it was given is appended to `<dir>/opened`.
pub fn chromium_browser(dir: &Path) -> String {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|name| {
            std::process::Command::new("sh")
                .args(["-c", &format!("command -v {name}")])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .expect(
            "chromium is not installed: scripts/test.sh installs it (apt-get install chromium)",
        );
    let script = dir.join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$1\" >> {}/opened\nexec {chromium} --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking --disable-component-update --disable-sync --user-data-dir={} --dump-dom \"$1\" > {}/dom.html 2>/dev/null\n",
            dir.display(),
            dir.join("profile").display(),
            dir.display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script.display().to_string()
}

/// `hashlib.sha1(b"my-sso").hexdigest()`: the AWS CLI's cache file for sso_session my-sso.
pub const TOKEN_FILE: &str = "0ad374308c5a4e22f723adf10145eafad7c4031c.json";

/// A sandbox whose account `work` is an IAM Identity Center entry (no key files at all), its
/// endpoints on the fake.
pub fn sso_sandbox(fake: &FakeSso) -> Sandbox {
    let mut sandbox = Sandbox::new();
    std::fs::remove_file(sandbox.creds.join("work.access_key")).unwrap();
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"sso_start_url": "{START_URL}", "sso_region": "eu-west-1", "sso_account_id": "{ACCOUNT_ID}", "sso_role_name": "{ROLE}", "sso_session": "my-sso"}}}}"#
    ));
    sandbox.set_env("AWS_ENDPOINT_URL_SSO_OIDC", &fake.url);
    sandbox.set_env("AWS_ENDPOINT_URL_SSO", &fake.url);
    sandbox
}

pub fn token_file(sandbox: &Sandbox) -> std::path::PathBuf {
    sandbox.home.path().join(".aws/sso/cache").join(TOKEN_FILE)
}

/// GETs `url` as a person's browser would, following redirects.
pub fn follow(url: &str) -> u16 {
    let mut url = url.to_string();
    for _ in 0..5 {
        let rest = url.strip_prefix("http://").expect("a plain-http URL");
        let slash = rest.find('/').unwrap_or(rest.len());
        let (authority, target) = rest.split_at(slash);
        let port: u16 = authority.rsplit_once(':').unwrap().1.parse().unwrap();
        let answer = raw_http(
            port,
            format!("GET {target} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        if status_of(&answer) != 302 {
            let _ = body_of(&answer);
            return status_of(&answer);
        }
        url = answer
            .lines()
            .find_map(|l| l.strip_prefix("Location: "))
            .unwrap()
            .trim()
            .to_string();
    }
    panic!("too many redirects");
}

/// Runs stsexec, approves the device code it prints (as a person would, at the URL it
/// shows), and returns how it ended.
pub fn run_approving_device_code(sandbox: &Sandbox, args: &[&str]) -> Run {
    let mut child = sandbox.command(args).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut seen = String::new();
    let mut approved = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        seen.push_str(&line);
        seen.push('\n');
        if !approved && line.starts_with("  http") && seen.contains("To sign in") {
            assert_eq!(follow(line.trim()), 200, "{seen}");
            approved = true;
        }
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code(),
        signal: None,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: seen,
    }
}
