//! The flows of DESIGN §17, generic over [`OidcApi`] and [`PortalApi`]: a token fit for a call
//! (the cached one; else refreshed with its refresh token, no browser; else a new login when
//! this run may log in), all under the token's lock so parallel runs log in once; the login
//! itself (authorization code with PKCE on the loopback redirect, else the device code); and
//! role credentials from the token.
#![forbid(unsafe_code)]

use super::cache::{CachedToken, Registration, SCOPE, TokenCache};
use super::client::{
    AuthCodeClient, Failure, Grant, IssuedToken, OidcApi, PortalApi, RegisterRequest, SsoEndpoints,
};
use super::loopback::{self, BrowserError, Loopback};
use super::pkce::{Pkce, new_state, url_encode};
use super::{LoginFailure, SsoError, SsoSession};
use crate::env::Environment;
use crate::files::LockGuard;
use crate::session::Credentials;
use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

/// A token with less than this left is refreshed first (botocore's window, so boto3 reading
/// the same cache does not refresh it again at once).
pub const REFRESH_AHEAD: Duration = Duration::from_secs(15 * 60);
/// A token with less than this left is not used for a call.
pub const MIN_TOKEN_LEFT: Duration = Duration::from_secs(60);
/// A cached registration with less than this left is replaced (the AWS CLI's window).
const REGISTRATION_AHEAD: Duration = Duration::from_secs(15 * 60);
/// How long a login waits for the browser or the device approval by default.
pub const DEFAULT_LOGIN_WAIT: Duration = Duration::from_secs(5 * 60);
/// The device flow's polling interval when the service names none (RFC 8628 §3.5), and what
/// `slow_down` adds.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// How the login is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// The browser on the loopback redirect when one can be opened, else the device code.
    Auto,
    /// The device-code flow (`--no-browser`): a URL and a code on the terminal.
    DeviceCode,
}

/// What a run that may log in needs to know.
#[derive(Debug, Clone, Copy)]
pub struct LoginOptions {
    pub method: Method,
    /// How long the browser's redirect or the device approval is waited for.
    pub wait: Duration,
}

impl Default for LoginOptions {
    fn default() -> Self {
        LoginOptions {
            method: Method::Auto,
            wait: DEFAULT_LOGIN_WAIT,
        }
    }
}

/// The person's side of a login: the browser, and the lines on the terminal.
pub trait LoginUi {
    /// The command that opens a web page here, if any.
    fn browser(&self) -> Option<String>;
    fn open_browser(&mut self, command: &str, url: &str) -> Result<(), BrowserError>;
    /// A line the person must see (the URL, the code, whom we wait for); shown even with `-q`.
    fn say(&mut self, line: &str);
}

/// The real one: `$BROWSER` or `xdg-open` from the environment snapshot, lines on stderr.
pub struct TerminalUi {
    browser: Option<String>,
}

impl TerminalUi {
    pub fn new(env: &Environment) -> TerminalUi {
        TerminalUi {
            browser: loopback::browser_command(env),
        }
    }

    /// With this browser command (or none: the device flow).
    pub fn with_browser(browser: Option<String>) -> TerminalUi {
        TerminalUi { browser }
    }
}

impl LoginUi for TerminalUi {
    fn browser(&self) -> Option<String> {
        self.browser.clone()
    }

    fn open_browser(&mut self, command: &str, url: &str) -> Result<(), BrowserError> {
        loopback::open(command, url)
    }

    fn say(&mut self, line: &str) {
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }
}

/// One account's view of its IAM Identity Center login.
pub struct Sso<'a, A> {
    /// The account name, as messages name it.
    pub account: &'a str,
    pub session: &'a SsoSession,
    pub cache: &'a TokenCache,
    pub endpoints: &'a SsoEndpoints,
    pub api: &'a mut A,
}

/// Failures that say the token or registration is no good (log in again), as opposed to the
/// service being out of reach (say so; a browser would not help).
fn is_refusal(failure: &Failure) -> bool {
    matches!(
        failure,
        Failure::Expired
            | Failure::InvalidGrant { .. }
            | Failure::InvalidClient
            | Failure::Unauthorized
            | Failure::AccessDenied { .. }
            | Failure::Refused { .. }
    )
}

impl<A: OidcApi> Sso<'_, A> {
    /// The cached token, refreshed or replaced by a new login as needed. `login: None` never
    /// opens a browser or asks anything (`--server`'s renewals): without a usable token it
    /// fails with [`SsoError::LoginNeeded`].
    pub fn token(
        &mut self,
        login: Option<&LoginOptions>,
        ui: &mut dyn LoginUi,
    ) -> Result<CachedToken, SsoError> {
        // A fresh token needs no lock (nor the directory check: it is only read).
        if let Ok(Some(token)) = self.cache.load_token(self.session)
            && token.time_left(SystemTime::now()) > REFRESH_AHEAD
        {
            return Ok(token);
        }
        let lock = self.lock(ui)?;
        let cached = match self.cache.load_token(self.session) {
            Ok(token) => token,
            Err(unusable) => {
                ui.say(&format!("stsexec: warning: {unusable}"));
                None
            }
        };
        if let Some(token) = cached {
            let now = SystemTime::now();
            if token.time_left(now) > REFRESH_AHEAD {
                return Ok(token);
            }
            if token.refreshable(now) {
                lock.set_activity("refreshing the IAM Identity Center token");
                match self.refresh(&token) {
                    Ok(fresh) => {
                        self.cache.store_token(&lock, self.session, &fresh)?;
                        return Ok(fresh);
                    }
                    Err(failure) if token.time_left(SystemTime::now()) > MIN_TOKEN_LEFT => {
                        let _ = failure;
                        return Ok(token);
                    }
                    Err(failure) if !is_refusal(&failure) => {
                        return Err(self.call_error("CreateToken", None, failure));
                    }
                    Err(_) => {}
                }
            } else if token.time_left(now) > MIN_TOKEN_LEFT {
                return Ok(token);
            }
        }
        match login {
            Some(options) => self.login_locked(&lock, options, ui),
            None => Err(SsoError::LoginNeeded {
                account: self.account.to_string(),
                session: self.session.shown(),
                why: "has expired or was never made",
            }),
        }
    }

    /// A new login whatever the cache holds (`--login`), under the lock.
    pub fn login(
        &mut self,
        options: &LoginOptions,
        ui: &mut dyn LoginUi,
    ) -> Result<CachedToken, SsoError> {
        let lock = self.lock(ui)?;
        self.login_locked(&lock, options, ui)
    }

    fn lock(&mut self, ui: &mut dyn LoginUi) -> Result<LockGuard, SsoError> {
        self.cache.prepare()?;
        let session = self.session.shown();
        let lock = self.cache.lock(self.session, |holder| {
            let who = holder.map_or_else(
                || "another stsexec".to_string(),
                |h| format!("another stsexec (pid {}, {})", h.pid, h.activity),
            );
            ui.say(&format!(
                "Waiting for {who} to sign in to IAM Identity Center ({session})…"
            ));
        })?;
        lock.set_activity("signing in to IAM Identity Center");
        Ok(lock)
    }

    fn refresh(&mut self, token: &CachedToken) -> Result<CachedToken, Failure> {
        let (Some(client_id), Some(secret), Some(refresh)) = (
            token.client_id.as_deref(),
            token.client_secret.as_ref(),
            token.refresh_token.as_ref(),
        ) else {
            return Err(Failure::InvalidClient);
        };
        let issued = self
            .api
            .create_token(client_id, secret, &Grant::RefreshToken(refresh))?;
        let mut fresh = self.token_from(issued, client_id, secret, token.registration_expires_at);
        // A service that does not rotate refresh tokens leaves the old one valid.
        if fresh.refresh_token.is_none() {
            fresh.refresh_token = token.refresh_token.clone();
        }
        Ok(fresh)
    }

    fn token_from(
        &self,
        issued: IssuedToken,
        client_id: &str,
        client_secret: &crate::secret::Secret,
        registration_expires_at: Option<SystemTime>,
    ) -> CachedToken {
        CachedToken {
            start_url: self.session.start_url.clone(),
            region: self.session.region.clone(),
            access_token: issued.access_token,
            expires_at: crate::session::whole_seconds(SystemTime::now() + issued.expires_in),
            client_id: Some(client_id.to_string()),
            client_secret: Some(client_secret.clone()),
            registration_expires_at,
            refresh_token: issued.refresh_token,
        }
    }

    fn login_locked(
        &mut self,
        lock: &LockGuard,
        options: &LoginOptions,
        ui: &mut dyn LoginUi,
    ) -> Result<CachedToken, SsoError> {
        let browser = match options.method {
            Method::Auto => ui.browser(),
            Method::DeviceCode => None,
        };
        let token = match browser {
            Some(command) => match self.auth_code_flow(lock, &command, options.wait, ui)? {
                Some(token) => token,
                None => self.device_flow(lock, options.wait, ui)?,
            },
            None => self.device_flow(lock, options.wait, ui)?,
        };
        self.cache.store_token(lock, self.session, &token)?;
        Ok(token)
    }

    /// The cached registration of the right kind with time left, else a new one (cached).
    fn registration(
        &mut self,
        lock: &LockGuard,
        auth_code: Option<AuthCodeClient>,
    ) -> Result<Registration, SsoError> {
        let for_auth_code = auth_code.is_some();
        if let Some(cached) = self.cache.load_registration(self.session)
            && cached
                .expires_at
                .duration_since(SystemTime::now())
                .is_ok_and(|left| left > REGISTRATION_AHEAD)
            && cached.is_for_auth_code() == for_auth_code
            && cached.scopes.iter().any(|s| s == SCOPE)
        {
            return Ok(cached);
        }
        let client_name = match &self.session.name {
            Some(name) => format!("stsexec-{name}"),
            None => format!(
                "stsexec-{}",
                SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs()
            ),
        };
        let request = RegisterRequest {
            client_name,
            scopes: vec![SCOPE.to_string()],
            auth_code,
        };
        let client = self
            .api
            .register_client(&request)
            .map_err(|f| self.call_error("RegisterClient", None, f))?;
        let registration = Registration {
            client_id: client.client_id,
            client_secret: client.client_secret,
            expires_at: client.expires_at,
            scopes: request.scopes,
            grant_types: for_auth_code
                .then(|| vec!["authorization_code".into(), "refresh_token".into()]),
        };
        self.cache
            .store_registration(lock, self.session, &registration)?;
        Ok(registration)
    }

    /// The authorization-code flow with PKCE. `Ok(None)`: the browser could not be started
    /// (the device flow follows).
    fn auth_code_flow(
        &mut self,
        lock: &LockGuard,
        browser: &str,
        wait: Duration,
        ui: &mut dyn LoginUi,
    ) -> Result<Option<CachedToken>, SsoError> {
        let loopback =
            Loopback::bind().map_err(|e| self.login_error(LoginFailure::Loopback(e.into())))?;
        let redirect_uri = loopback.redirect_uri();
        let registration = self.registration(
            lock,
            Some(AuthCodeClient {
                redirect_uri: loopback::REDIRECT_URI_WITHOUT_PORT.to_string(),
                issuer_url: self.session.start_url.clone(),
            }),
        )?;
        let pkce = Pkce::new().map_err(|e| self.login_error(LoginFailure::Loopback(e.into())))?;
        let state = new_state().map_err(|e| self.login_error(LoginFailure::Loopback(e.into())))?;
        let url = format!(
            "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state={state}&code_challenge_method=S256&scopes={}&code_challenge={}",
            self.endpoints.oidc_base(),
            url_encode(&registration.client_id),
            url_encode(&redirect_uri),
            url_encode(SCOPE),
            pkce.challenge
        );
        lock.set_activity("waiting for the IAM Identity Center sign-in in a browser");
        if let Err(why) = ui.open_browser(browser, &url) {
            ui.say(&format!(
                "stsexec: warning: cannot open a browser ({}); signing in with a code instead",
                crate::text::clean(&why.to_string(), 200)
            ));
            return Ok(None);
        }
        ui.say(&format!(
            "Signing in to IAM Identity Center for account {} in your browser; if no page opened, open this URL on this computer:\n  {url}",
            self.account
        ));
        let code = loopback
            .wait_for_code(&state, wait)
            .map_err(|f| self.login_error(f))?;
        let issued = self
            .api
            .create_token(
                &registration.client_id,
                &registration.client_secret,
                &Grant::AuthorizationCode {
                    code: &code,
                    redirect_uri: &redirect_uri,
                    verifier: &pkce.verifier,
                },
            )
            .map_err(|f| match f {
                Failure::Expired => self.login_error(LoginFailure::TimedOut {
                    seconds: wait.as_secs(),
                }),
                f => self.call_error("CreateToken", None, f),
            })?;
        Ok(Some(self.token_from(
            issued,
            &registration.client_id,
            &registration.client_secret,
            Some(registration.expires_at),
        )))
    }

    /// The device-code flow: the URL and code on the terminal, then CreateToken polled at
    /// the interval the service asks for.
    fn device_flow(
        &mut self,
        lock: &LockGuard,
        wait: Duration,
        ui: &mut dyn LoginUi,
    ) -> Result<CachedToken, SsoError> {
        let registration = self.registration(lock, None)?;
        let authorization = self
            .api
            .start_device_authorization(
                &registration.client_id,
                &registration.client_secret,
                &self.session.start_url,
            )
            .map_err(|f| self.call_error("StartDeviceAuthorization", None, f))?;
        let shown_url = crate::text::clean(
            authorization
                .verification_uri_complete
                .as_deref()
                .unwrap_or(&authorization.verification_uri),
            2048,
        );
        let code = crate::text::clean(&authorization.user_code, 64);
        lock.set_activity("waiting for the IAM Identity Center code to be approved");
        ui.say(&format!(
            "To sign in to IAM Identity Center for account {}, open this URL in a browser on any device and check that it shows the code {code}:\n  {shown_url}",
            self.account
        ));
        let started = Instant::now();
        let code_lasts = if authorization.expires_in.is_zero() {
            wait
        } else {
            authorization.expires_in
        };
        let (limit, on_limit) = if code_lasts < wait {
            (code_lasts, LoginFailure::DeviceCodeExpired)
        } else {
            (
                wait,
                LoginFailure::TimedOut {
                    seconds: wait.as_secs(),
                },
            )
        };
        let mut interval = authorization
            .interval
            .unwrap_or(DEFAULT_INTERVAL)
            .clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            if started.elapsed() + interval > limit {
                return Err(self.login_error(on_limit));
            }
            std::thread::sleep(interval);
            match self.api.create_token(
                &registration.client_id,
                &registration.client_secret,
                &Grant::DeviceCode(&authorization.device_code),
            ) {
                Ok(issued) => {
                    return Ok(self.token_from(
                        issued,
                        &registration.client_id,
                        &registration.client_secret,
                        Some(registration.expires_at),
                    ));
                }
                Err(Failure::AuthorizationPending) => {}
                Err(Failure::SlowDown) => interval += SLOW_DOWN_STEP,
                Err(Failure::Expired) => {
                    return Err(self.login_error(LoginFailure::DeviceCodeExpired));
                }
                Err(Failure::AccessDenied { .. }) => {
                    return Err(self.login_error(LoginFailure::Denied {
                        error: "access_denied".into(),
                    }));
                }
                Err(f) => return Err(self.call_error("CreateToken", None, f)),
            }
        }
    }

    fn login_error(&self, failure: LoginFailure) -> SsoError {
        SsoError::Login {
            account: self.account.to_string(),
            failure,
        }
    }

    fn call_error(
        &self,
        operation: &'static str,
        role: Option<&str>,
        failure: Failure,
    ) -> SsoError {
        let endpoint = if operation == "GetRoleCredentials" {
            self.endpoints.portal_shown()
        } else {
            self.endpoints.oidc_shown()
        };
        SsoError::Call(Box::new(super::CallError {
            account: self.account.to_string(),
            operation,
            endpoint,
            role: role.map(str::to_string),
            failure,
        }))
    }
}

impl<A: OidcApi + PortalApi> Sso<'_, A> {
    /// GetRoleCredentials with a token fit for the call (see [`Sso::token`]). A token the
    /// portal refuses (revoked, expired early) is replaced by a new login when this run may
    /// log in, once; otherwise the error says to run `--login`.
    pub fn role_credentials(
        &mut self,
        account_id: &str,
        role_name: &str,
        login: Option<&LoginOptions>,
        ui: &mut dyn LoginUi,
    ) -> Result<Credentials, SsoError> {
        let token = self.token(login, ui)?;
        match self
            .api
            .get_role_credentials(&token.access_token, account_id, role_name)
        {
            Ok(credentials) => return Ok(credentials),
            Err(Failure::Unauthorized) => {}
            Err(f) => return Err(self.call_error("GetRoleCredentials", Some(role_name), f)),
        }
        let Some(options) = login else {
            return Err(SsoError::LoginNeeded {
                account: self.account.to_string(),
                session: self.session.shown(),
                why: "was refused by IAM Identity Center (expired or revoked)",
            });
        };
        let token = self.login(options, ui)?;
        self.api
            .get_role_credentials(&token.access_token, account_id, role_name)
            .map_err(|f| self.call_error("GetRoleCredentials", Some(role_name), f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use crate::sso::client::{DeviceAuthorization, RegisteredClient};

    /// An sso-oidc that only refreshes, answering as told.
    struct Refresher {
        answer: Option<Failure>,
        calls: usize,
    }

    impl OidcApi for Refresher {
        fn register_client(&mut self, _: &RegisterRequest) -> Result<RegisteredClient, Failure> {
            panic!("no registration expected")
        }
        fn start_device_authorization(
            &mut self,
            _: &str,
            _: &Secret,
            _: &str,
        ) -> Result<DeviceAuthorization, Failure> {
            panic!("no login expected")
        }
        fn create_token(
            &mut self,
            _: &str,
            _: &Secret,
            grant: &Grant<'_>,
        ) -> Result<IssuedToken, Failure> {
            assert!(matches!(grant, Grant::RefreshToken(_)));
            self.calls += 1;
            match self.answer.clone() {
                Some(failure) => Err(failure),
                None => Ok(IssuedToken {
                    access_token: Secret::new("fresh"),
                    expires_in: Duration::from_secs(3600),
                    refresh_token: None,
                }),
            }
        }
    }

    struct Quiet;
    impl LoginUi for Quiet {
        fn browser(&self) -> Option<String> {
            None
        }
        fn open_browser(&mut self, _: &str, _: &str) -> Result<(), BrowserError> {
            unreachable!()
        }
        fn say(&mut self, _: &str) {}
    }

    fn setup(left: Duration) -> (tempfile::TempDir, TokenCache, SsoSession) {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::at(dir.path().join("cache"));
        cache.prepare().unwrap();
        let session = SsoSession {
            start_url: "https://x.awsapps.com/start".into(),
            region: "eu-west-1".into(),
            name: None,
        };
        let token = CachedToken {
            start_url: session.start_url.clone(),
            region: session.region.clone(),
            access_token: Secret::new("old"),
            expires_at: SystemTime::now() + left,
            client_id: Some("c".into()),
            client_secret: Some(Secret::new("s")),
            registration_expires_at: Some(SystemTime::now() + Duration::from_secs(86400)),
            refresh_token: Some(Secret::new("r")),
        };
        let lock = cache.lock(&session, |_| {}).unwrap();
        cache.store_token(&lock, &session, &token).unwrap();
        (dir, cache, session)
    }

    fn token_with(
        left: Duration,
        answer: Option<Failure>,
    ) -> (Result<CachedToken, SsoError>, usize) {
        let (_dir, cache, session) = setup(left);
        let endpoints = SsoEndpoints::from_env(&Environment::default(), "eu-west-1");
        let mut api = Refresher { answer, calls: 0 };
        let result = Sso {
            account: "work",
            session: &session,
            cache: &cache,
            endpoints: &endpoints,
            api: &mut api,
        }
        .token(None, &mut Quiet);
        (result, api.calls)
    }

    #[test]
    fn a_fresh_token_is_used_without_a_call() {
        let (token, calls) = token_with(Duration::from_secs(3600), None);
        assert_eq!(token.unwrap().access_token.expose(), "old");
        assert_eq!(calls, 0);
    }

    #[test]
    fn a_token_in_the_window_is_refreshed_and_keeps_its_refresh_token() {
        let (token, calls) = token_with(Duration::from_secs(600), None);
        let token = token.unwrap();
        assert_eq!(token.access_token.expose(), "fresh");
        assert_eq!(token.refresh_token.unwrap().expose(), "r");
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_failed_refresh_falls_back_to_the_token_while_it_lasts() {
        let unreachable = Failure::Unreachable {
            cause: "down".into(),
        };
        let (token, _) = token_with(Duration::from_secs(600), Some(unreachable.clone()));
        assert_eq!(token.unwrap().access_token.expose(), "old");
        // Expired, and the service out of reach: say so (a login would not help).
        let (err, _) = token_with(Duration::ZERO, Some(unreachable));
        let err = err.unwrap_err().to_string();
        assert!(
            err.contains("unreachable") && err.contains("CreateToken"),
            "{err}"
        );
        // Expired, and the refresh token refused: a login is needed.
        let (err, _) = token_with(
            Duration::ZERO,
            Some(Failure::InvalidGrant {
                message: "revoked".into(),
            }),
        );
        assert!(matches!(err.unwrap_err(), SsoError::LoginNeeded { .. }));
    }
}
