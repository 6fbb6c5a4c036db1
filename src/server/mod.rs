//! `--server` (DESIGN §8): the command runs as stsexec's child and reads refreshed credentials
//! from an ECS container-credentials endpoint on 127.0.0.1 served by this process.
//!
//! The caller (`main`) resolves the first session as exec mode does, then calls
//!
//! ```text
//! let ended = server::run(ServerPlan { .. }, renewer)?;   // ServerError: sentence + exit code
//! ended.exit()                                            // the command's status or signal
//! ```
//!
//! The server knows nothing of accounts, caches or STS: a [`Renewer`] hands it fresh sessions.
//!
//! - [`http`]: the endpoint (hyper HTTP/1 on a current-thread tokio runtime, own thread);
//!   answers from memory, never waits for STS.
//! - [`renew`]: the renewal thread; sleeps until the refresh window ([`schedule`]), renews,
//!   retries with backoff while the current session is served, prints the MFA reminders.
//! - [`supervise`]: spawns the command in stsexec's process group, relays the signals other
//!   processes send to stsexec (not the terminal's), waits for it.
//! - [`env`]: the command's environment, a pure function of the exec-mode plan.
//! - [`status`]: what `--status` says inside a server's command.

pub mod env;
pub mod http;
pub mod renew;
pub mod schedule;
pub mod status;
pub mod supervise;

use crate::env::{ChildEnv, Environment};
use crate::report::Reporter;
use crate::session::{Credentials, Session};
use std::ffi::OsString;
use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

pub use schedule::RefreshWindow;
pub use supervise::Ended;

/// Where renewed sessions come from. Implemented by `main` over the provider: the same cache
/// and lock as every other run, and never a prompt (the command owns the terminal).
pub trait Renewer: Send + 'static {
    /// A session valid for longer than `valid_for` (the refresh window), from the cache when
    /// one is there, else from STS, without prompting. `Err` is one sentence naming the
    /// account and the fix.
    fn renew(&mut self, valid_for: Duration) -> Result<Credentials, String>;

    /// When the source of renewals (the MFA session) ends, if it can end, and the command the
    /// user runs in another terminal to renew it (`stsexec work --mfa --refresh`); the server
    /// prints it 30 and 5 minutes before that end.
    fn source_end(&self) -> Option<(SystemTime, String)>;

    /// What that source is, as the reminder names it.
    fn source_name(&self) -> &'static str {
        "MFA session"
    }
}

/// Everything `run` needs, resolved by the caller.
pub struct ServerPlan {
    /// The first session, served until the first renewal.
    pub session: Session,
    pub program: OsString,
    pub args: Vec<OsString>,
    /// The current environment (for the command's environment and its `PATH` lookup).
    pub current: Environment,
    /// The exec-mode plan of DESIGN §4 for the first session (`crate::env::plan`).
    pub exec_env: ChildEnv,
    pub window: RefreshWindow,
    pub report: Reporter,
}

impl fmt::Debug for ServerPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerPlan")
            .field("session", &self.session)
            .field("program", &self.program)
            .field("args", &self.args.len())
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Why the server or the command could not start; `exit_code` follows DESIGN §6.
#[derive(Debug)]
pub struct ServerError {
    pub message: String,
    pub exit_code: u8,
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ServerError {}

impl From<supervise::SpawnError> for ServerError {
    fn from(e: supervise::SpawnError) -> Self {
        ServerError {
            message: e.message,
            exit_code: e.exit_code,
        }
    }
}

fn failed(message: String) -> ServerError {
    ServerError {
        message,
        exit_code: crate::error::EXIT_FAILED,
    }
}

/// Serves `plan.session` (renewed through `renewer`) to the command and runs it to its end.
/// The port is closed when this returns.
pub fn run(plan: ServerPlan, renewer: impl Renewer) -> Result<Ended, ServerError> {
    if !plan.session.credentials.is_session() || plan.session.credentials.expiration.is_none() {
        return Err(failed(format!(
            "--server serves sessions, and {} has long-lived keys that need no refresh; drop --server (exec mode gives them to the command) or add --mfa or --role",
            plan.session.label
        )));
    }
    let endpoint = Arc::new(http::Endpoint::generate().map_err(|e| {
        failed(format!(
            "--server: cannot read the OS's random source for the endpoint's token: {e}"
        ))
    })?);
    let served = Arc::new(RwLock::new(http::Served {
        label: plan.session.label.clone(),
        credentials: plan.session.credentials,
    }));
    let listening = http::Listening::start(endpoint.clone(), served.clone()).map_err(|e| {
        failed(format!(
            "--server: cannot listen on 127.0.0.1: {e}; check that the loopback interface is up"
        ))
    })?;
    let url = endpoint.url(listening.port);
    let child = env::plan(&plan.exec_env, &url, &endpoint.token);
    let env_pairs = crate::env::apply(&plan.current, &child);
    plan.report.debug(format!(
        "serving {} on 127.0.0.1:{}; the command gets {} and {}",
        plan.session.label,
        listening.port,
        env::FULL_URI,
        env::AUTHORIZATION_TOKEN
    ));
    let stop = Arc::new(renew::Stop::default());
    renew::spawn(renewer, served, plan.window, plan.report, stop.clone())
        .map_err(|e| failed(format!("--server: cannot start the renewal thread: {e}")))?;
    let ended = supervise::run(
        &plan.program,
        &plan.args,
        &env_pairs,
        plan.current.get_os("PATH"),
    );
    // The renewal thread may be inside an STS call: told to stop, not waited for.
    stop.stop();
    listening.stop();
    Ok(ended?)
}
