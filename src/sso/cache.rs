//! The AWS CLI's SSO token cache, shared with `aws sso login` and read by boto3's SSO provider:
//! `~/.aws/sso/cache/<sha1>.json`, named by the SHA-1 of the `sso_session` name (or, in the
//! CLI's legacy form, of the start URL), with the CLI's keys (`startUrl`, `region`,
//! `accessToken`, `expiresAt`, `clientId`, `clientSecret`, `registrationExpiresAt`,
//! `refreshToken`). The client registration sits beside it under the SHA-1 of the JSON of the
//! session's parameters, as botocore's `_registration_cache_key` makes it. Files are read and
//! written through `private_file` (owner-only, no links followed, atomic), under a lock of
//! stsexec's own beside them.
#![forbid(unsafe_code)]

use super::pkce::sha1_hex;
use super::{CacheDirProblem, SsoError, SsoSession};
use crate::files::{self, FileError, Holder, Kind, LockError, LockGuard};
use crate::secret::Secret;
use crate::session::rfc3339;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use zeroize::Zeroizing;

/// The scope stsexec registers with: it brings a refresh token back.
pub const SCOPE: &str = "sso:account:access";

/// A token as the cache holds it. The access and refresh tokens and the client secret are
/// secrets (`Debug` redacted, wiped on drop).
#[derive(Debug, Clone)]
pub struct CachedToken {
    pub start_url: String,
    pub region: String,
    pub access_token: Secret,
    pub expires_at: SystemTime,
    /// The registration the token was issued to, needed to refresh it.
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    pub registration_expires_at: Option<SystemTime>,
    pub refresh_token: Option<Secret>,
}

impl CachedToken {
    /// Time left at `now` (zero once expired).
    pub fn time_left(&self, now: SystemTime) -> Duration {
        self.expires_at.duration_since(now).unwrap_or_default()
    }

    /// Whether a refresh can be tried at `now`: a refresh token and a registration that has
    /// not expired.
    pub fn refreshable(&self, now: SystemTime) -> bool {
        self.refresh_token.is_some()
            && self.client_id.is_some()
            && self.client_secret.is_some()
            && self.registration_expires_at.is_some_and(|at| at > now)
    }
}

/// A client registration (RegisterClient's answer), cached until it expires.
#[derive(Debug, Clone)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Secret,
    pub expires_at: SystemTime,
    pub scopes: Vec<String>,
    /// `["authorization_code", "refresh_token"]` for the PKCE flow; absent for the device flow,
    /// as the AWS CLI records them.
    pub grant_types: Option<Vec<String>>,
}

impl Registration {
    pub fn is_for_auth_code(&self) -> bool {
        self.grant_types
            .as_ref()
            .is_some_and(|g| g.iter().any(|t| t == "authorization_code"))
    }
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenFile {
    start_url: Option<String>,
    region: Option<String>,
    access_token: Option<Secret>,
    expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<Secret>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RegistrationFile {
    client_id: Option<String>,
    client_secret: Option<Secret>,
    expires_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grant_types: Option<Vec<String>>,
}

/// Reads the time forms the AWS CLI has written: `2026-11-29T10:00:00Z`, `…UTC` (older
/// versions), `…+00:00`, with or without a fraction.
pub fn parse_time(text: &str) -> Option<SystemTime> {
    let text = text.trim();
    let base = text
        .strip_suffix("UTC")
        .or_else(|| text.strip_suffix("+00:00"))
        .or_else(|| text.strip_suffix('Z'))
        .unwrap_or(text);
    humantime::parse_rfc3339_weak(base).ok()
}

/// Why a cached file was not used: it is then a miss, and a warning names it.
#[derive(Debug)]
pub enum Unusable {
    File(FileError),
    /// Not JSON, or without the keys a token needs.
    Malformed(PathBuf),
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unusable::File(e) => write!(f, "{e}"),
            Unusable::Malformed(path) => write!(
                f,
                "IAM Identity Center token cache file {} is not a token the AWS CLI wrote; it is replaced at the next login",
                path.display()
            ),
        }
    }
}

/// The cache directory and the names in it.
#[derive(Debug, Clone)]
pub struct TokenCache {
    dir: PathBuf,
}

impl TokenCache {
    /// `<home>/.aws/sso/cache`, the AWS CLI's.
    pub fn in_home(home: &Path) -> TokenCache {
        TokenCache {
            dir: home.join(".aws").join("sso").join("cache"),
        }
    }

    pub fn at(dir: impl Into<PathBuf>) -> TokenCache {
        TokenCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<sha1 of the session name, else of the start URL>.json`.
    pub fn token_path(&self, session: &SsoSession) -> PathBuf {
        let key = session.name.as_deref().unwrap_or(&session.start_url);
        self.dir.join(format!("{}.json", sha1_hex(key)))
    }

    /// botocore's `_registration_cache_key`: the SHA-1 of
    /// `json.dumps({"tool": "botocore", "startUrl", "region", "scopes", "session_name"},
    /// sort_keys=True)`.
    pub fn registration_path(&self, session: &SsoSession) -> PathBuf {
        let session_name = session
            .name
            .as_deref()
            .map_or_else(|| "null".to_string(), python_json_string);
        let args = format!(
            "{{\"region\": {}, \"scopes\": [{}], \"session_name\": {session_name}, \"startUrl\": {}, \"tool\": \"botocore\"}}",
            python_json_string(&session.region),
            python_json_string(SCOPE),
            python_json_string(&session.start_url),
        );
        self.dir.join(format!("{}.json", sha1_hex(&args)))
    }

    /// stsexec's lock for this token (the AWS CLI takes none; its files are replaced
    /// atomically, as stsexec's are).
    pub fn lock_path(&self, session: &SsoSession) -> PathBuf {
        let key = session.name.as_deref().unwrap_or(&session.start_url);
        self.dir.join(format!("stsexec-{}.lock", sha1_hex(key)))
    }

    /// Creates the directory (and `~/.aws`, `~/.aws/sso`) owner-only where missing, and
    /// refuses one that group or others can write or another user owns: whoever can replace
    /// the token file decides which account's credentials stsexec fetches.
    pub fn prepare(&self) -> Result<(), SsoError> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt};
        let refuse = |problem| {
            Err(SsoError::CacheDirectory {
                path: self.dir.clone(),
                problem,
            })
        };
        if let Err(e) = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
        {
            return refuse(CacheDirProblem::CannotCreate(e));
        }
        let meta = match std::fs::symlink_metadata(&self.dir) {
            Ok(meta) => meta,
            Err(e) => return refuse(CacheDirProblem::CannotRead(e)),
        };
        if !meta.is_dir() {
            refuse(CacheDirProblem::NotADirectory)
        } else if meta.uid() != files::effective_uid() {
            refuse(CacheDirProblem::OtherOwner { uid: meta.uid() })
        } else if meta.mode() & 0o022 != 0 {
            refuse(CacheDirProblem::Writable {
                mode: meta.mode() & 0o7777,
            })
        } else {
            Ok(())
        }
    }

    /// Takes stsexec's lock for `session`'s token: parallel runs log in once.
    pub fn lock(
        &self,
        session: &SsoSession,
        on_wait: impl FnOnce(Option<Holder>),
    ) -> Result<LockGuard, SsoError> {
        files::lock(&self.lock_path(session), on_wait).map_err(|e| match e {
            LockError::File(e) => SsoError::File(e),
            LockError::HolderStopped { pid } => SsoError::LockHolderStopped {
                session: session.shown(),
                pid,
            },
            LockError::TimedOut { holder } => SsoError::LockTimedOut {
                session: session.shown(),
                holder,
            },
        })
    }

    /// The cached token, `Ok(None)` when there is none; an unusable file is `Err` (a miss the
    /// caller warns about).
    pub fn load_token(&self, session: &SsoSession) -> Result<Option<CachedToken>, Unusable> {
        let path = self.token_path(session);
        let Some(bytes) = files::read(&path, Kind::SsoCache).map_err(Unusable::File)? else {
            return Ok(None);
        };
        parse_token(&bytes)
            .map(Some)
            .ok_or(Unusable::Malformed(path))
    }

    /// Writes the token in the CLI's format, atomically. Callers hold the lock.
    pub fn store_token(
        &self,
        _lock: &LockGuard,
        session: &SsoSession,
        token: &CachedToken,
    ) -> Result<PathBuf, SsoError> {
        let path = self.token_path(session);
        files::write_atomically(&path, Kind::SsoCache, &encode_token(token))?;
        Ok(path)
    }

    /// Removes the token (the service refused it). Callers hold the lock.
    pub fn remove_token(&self, _lock: &LockGuard, session: &SsoSession) -> Result<(), SsoError> {
        files::remove(&self.token_path(session), Kind::SsoCache)?;
        Ok(())
    }

    /// The cached registration, if it is readable; anything else is a miss (a new one is
    /// registered).
    pub fn load_registration(&self, session: &SsoSession) -> Option<Registration> {
        let bytes = files::read(&self.registration_path(session), Kind::SsoCache)
            .ok()
            .flatten()?;
        let file: RegistrationFile = serde_json::from_slice(&bytes).ok()?;
        Some(Registration {
            client_id: file.client_id.filter(|c| !c.is_empty())?,
            client_secret: file.client_secret.filter(|s| !s.expose().is_empty())?,
            expires_at: parse_time(file.expires_at.as_deref()?)?,
            scopes: file.scopes.unwrap_or_default(),
            grant_types: file.grant_types,
        })
    }

    pub fn store_registration(
        &self,
        _lock: &LockGuard,
        session: &SsoSession,
        registration: &Registration,
    ) -> Result<(), SsoError> {
        let file = RegistrationFile {
            client_id: Some(registration.client_id.clone()),
            client_secret: Some(registration.client_secret.clone()),
            expires_at: Some(rfc3339(registration.expires_at)),
            scopes: Some(registration.scopes.clone()),
            grant_types: registration.grant_types.clone(),
        };
        let bytes = Zeroizing::new(serde_json::to_vec(&file).unwrap_or_default());
        files::write_atomically(&self.registration_path(session), Kind::SsoCache, &bytes)?;
        Ok(())
    }
}

fn parse_token(bytes: &[u8]) -> Option<CachedToken> {
    let file: TokenFile = serde_json::from_slice(bytes).ok()?;
    let access_token = file.access_token.filter(|t| !t.expose().is_empty())?;
    Some(CachedToken {
        start_url: file.start_url.unwrap_or_default(),
        region: file.region.unwrap_or_default(),
        access_token,
        expires_at: parse_time(file.expires_at.as_deref()?)?,
        client_id: file.client_id,
        client_secret: file.client_secret,
        registration_expires_at: file.registration_expires_at.as_deref().and_then(parse_time),
        refresh_token: file.refresh_token.filter(|t| !t.expose().is_empty()),
    })
}

fn encode_token(token: &CachedToken) -> Zeroizing<Vec<u8>> {
    let file = TokenFile {
        start_url: Some(token.start_url.clone()),
        region: Some(token.region.clone()),
        access_token: Some(token.access_token.clone()),
        expires_at: Some(rfc3339(token.expires_at)),
        client_id: token.client_id.clone(),
        client_secret: token.client_secret.clone(),
        registration_expires_at: token.registration_expires_at.map(rfc3339),
        refresh_token: token.refresh_token.clone(),
    };
    Zeroizing::new(serde_json::to_vec(&file).unwrap_or_default())
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii`): what the SHA-1 of the
/// registration's name is taken over.
fn python_json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e && (c as u32) != 0x7f => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARKER: &str = "SECRETMARKER-sso";

    fn session(name: Option<&str>) -> SsoSession {
        SsoSession {
            start_url: "https://my-org.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            name: name.map(str::to_string),
        }
    }

    fn token() -> CachedToken {
        CachedToken {
            start_url: "https://my-org.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            access_token: Secret::new(format!("{MARKER}-access")),
            expires_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000),
            client_id: Some("client-1".into()),
            client_secret: Some(Secret::new(format!("{MARKER}-client-secret"))),
            registration_expires_at: Some(
                SystemTime::UNIX_EPOCH + Duration::from_secs(1_910_000_000),
            ),
            refresh_token: Some(Secret::new(format!("{MARKER}-refresh"))),
        }
    }

    #[test]
    fn names_are_the_clis() {
        let cache = TokenCache::at("/c");
        // hashlib.sha1(b"my-sso").hexdigest()
        assert_eq!(
            cache.token_path(&session(Some("my-sso"))),
            Path::new("/c/0ad374308c5a4e22f723adf10145eafad7c4031c.json")
        );
        // hashlib.sha1(b"https://my-org.awsapps.com/start").hexdigest()
        assert_eq!(
            cache.token_path(&session(None)),
            Path::new(&format!(
                "/c/{}.json",
                sha1_hex("https://my-org.awsapps.com/start")
            ))
        );
        // hashlib.sha1(json.dumps({'tool': 'botocore', 'startUrl': 'https://my-org.awsapps.com/start',
        //   'region': 'eu-west-1', 'scopes': ['sso:account:access'], 'session_name': 'my-sso'},
        //   sort_keys=True).encode()).hexdigest()
        assert_eq!(
            cache.registration_path(&session(Some("my-sso"))),
            Path::new(&format!(
                "/c/{}.json",
                sha1_hex(
                    r#"{"region": "eu-west-1", "scopes": ["sso:account:access"], "session_name": "my-sso", "startUrl": "https://my-org.awsapps.com/start", "tool": "botocore"}"#
                )
            ))
        );
        assert_eq!(
            python_json_string("a\"é\u{1F600}"),
            r#""a\"\u00e9\ud83d\ude00""#
        );
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let registration = Registration {
            client_id: "c".into(),
            client_secret: Secret::new(MARKER),
            expires_at: SystemTime::UNIX_EPOCH,
            scopes: vec![],
            grant_types: None,
        };
        let debug = format!("{:?} {registration:?}", token());
        assert!(!debug.contains(MARKER), "{debug}");
        assert!(debug.contains("redacted"));
    }

    #[test]
    fn the_format_round_trips_with_the_clis_keys() {
        let bytes = encode_token(&token());
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        for key in [
            "startUrl",
            "region",
            "accessToken",
            "expiresAt",
            "clientId",
            "clientSecret",
            "registrationExpiresAt",
            "refreshToken",
        ] {
            assert!(keys.contains(&key), "{key} in {keys:?}");
        }
        assert_eq!(value["expiresAt"], "2030-03-17T17:46:40Z");
        let back = parse_token(&bytes).unwrap();
        assert_eq!(back.access_token, token().access_token);
        assert_eq!(back.expires_at, token().expires_at);
        assert_eq!(back.refresh_token, token().refresh_token);
    }

    #[test]
    fn clis_time_forms_are_read() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000);
        for text in [
            "2030-03-17T17:46:40Z",
            "2030-03-17T17:46:40UTC",
            "2030-03-17T17:46:40+00:00",
        ] {
            assert_eq!(parse_time(text), Some(at), "{text}");
        }
        assert!(parse_time("2030-03-17T17:46:40.5Z").is_some());
        assert_eq!(parse_time("tomorrow"), None);
    }

    #[test]
    fn a_token_without_its_keys_is_malformed() {
        assert!(parse_token(b"{}").is_none());
        assert!(parse_token(b"not json").is_none());
        assert!(parse_token(br#"{"accessToken": "x"}"#).is_none());
        let minimal =
            parse_token(br#"{"accessToken": "x", "expiresAt": "2030-03-17T17:46:40Z"}"#).unwrap();
        assert!(!minimal.refreshable(SystemTime::UNIX_EPOCH));
        assert!(
            parse_token(&encode_token(&token()))
                .unwrap()
                .refreshable(SystemTime::UNIX_EPOCH)
        );
    }

    #[test]
    fn files_are_owner_only_and_the_directory_is_checked() {
        use std::os::unix::fs::PermissionsExt;
        let home = tempfile::tempdir().unwrap();
        let cache = TokenCache::in_home(home.path());
        cache.prepare().unwrap();
        let mode = std::fs::metadata(cache.dir()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let s = session(Some("my-sso"));
        assert!(cache.load_token(&s).unwrap().is_none());
        let lock = cache.lock(&s, |_| {}).unwrap();
        cache.store_token(&lock, &s, &token()).unwrap();
        let mode = std::fs::metadata(cache.token_path(&s))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let back = cache.load_token(&s).unwrap().unwrap();
        assert_eq!(back.access_token, token().access_token);
        std::fs::write(cache.token_path(&s), "{").unwrap();
        assert!(matches!(cache.load_token(&s), Err(Unusable::Malformed(_))));
        std::fs::set_permissions(cache.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = cache.prepare().unwrap_err();
        assert!(
            matches!(
                err,
                SsoError::CacheDirectory {
                    problem: CacheDirProblem::Writable { mode: 0o777 },
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "IAM Identity Center token cache directory {} is writable by group or others (mode 0777); run: chmod go-w {}",
                cache.dir().display(),
                cache.dir().display()
            )
        );
    }

    #[test]
    fn each_cache_directory_problem_is_its_sentence() {
        let path = PathBuf::from("/h/.aws/sso/cache");
        let say = |problem| {
            SsoError::CacheDirectory {
                path: path.clone(),
                problem,
            }
            .to_string()
        };
        let denied = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(
            say(CacheDirProblem::CannotCreate(
                std::io::Error::from_raw_os_error(libc::EACCES)
            )),
            format!(
                "IAM Identity Center token cache directory /h/.aws/sso/cache cannot be created: {denied}; check its parent directories"
            )
        );
        assert_eq!(
            say(CacheDirProblem::CannotRead(
                std::io::Error::from_raw_os_error(libc::EACCES)
            )),
            format!(
                "IAM Identity Center token cache directory /h/.aws/sso/cache cannot be read: {denied}; check its parent directories"
            )
        );
        assert_eq!(
            say(CacheDirProblem::NotADirectory),
            "IAM Identity Center token cache directory /h/.aws/sso/cache is not a directory; remove it"
        );
        assert_eq!(
            say(CacheDirProblem::OtherOwner { uid: 1001 }),
            "IAM Identity Center token cache directory /h/.aws/sso/cache belongs to another user (uid 1001); take ownership (chown) or remove it"
        );
        assert_eq!(
            say(CacheDirProblem::Writable { mode: 0o2775 }),
            "IAM Identity Center token cache directory /h/.aws/sso/cache is writable by group or others (mode 2775); run: chmod go-w /h/.aws/sso/cache"
        );
    }
}
