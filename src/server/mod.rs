//! `--server` (DESIGN §8): the command runs as stsexec's child and reads refreshed credentials
//! from an ECS container-credentials endpoint on 127.0.0.1 served by this process.
//!
//! The caller (`app::serve`) resolves the first session as exec mode does, then calls
//!
//! ```text
//! let ended = server::run(ServerPlan { .. }, renewer)?;   // ServerError
//! ```
//!
//! and `main` ends the process as the command ended (`ended.exit()`: its status or signal).
//!
//! The server knows nothing of accounts, caches or STS: a [`Renewer`] hands it fresh sessions.
//!
//! - [`http`]: the endpoint (hyper HTTP/1 on a current-thread tokio runtime, own thread);
//!   answers from memory, never waits for STS.
//! - [`renew`]: the renewal thread; sleeps until the refresh window ([`schedule`]), renews,
//!   retries with backoff while the current session is served, prints the MFA reminders.
//! - [`supervise`]: spawns the command (in stsexec's process group on a terminal's foreground,
//!   else in a group of its own), relays signals so that each reaches it once, waits for it.
//! - [`env`]: the command's environment, a pure function of the exec-mode plan.
//! - [`shared_files`]: the AWS CLI's shared files, which would beat the endpoint.
//! - [`status`]: what `--status` says inside a server's command.
//! - [`hold`]: the port stays held (503) while the command's descendants live.
#![forbid(unsafe_code)]

pub mod env;
pub mod hold;
pub mod http;
pub mod renew;
pub mod schedule;
pub mod shared_files;
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
pub use supervise::{Ended, SpawnError};

/// Where renewed sessions come from. Implemented by `app::serve` over the provider: the same
/// cache and lock as every other run, and never a prompt (the command owns the terminal).
pub trait Renewer: Send + 'static {
    /// Why a renewal failed; its `Display` is one sentence naming the account and the fix.
    type Error: fmt::Display;

    /// A session valid for longer than `valid_for` (the refresh window), from the cache when
    /// one is there, else from STS, without prompting.
    fn renew(&mut self, valid_for: Duration) -> Result<Credentials, Self::Error>;

    /// When the source of renewals (the MFA session) ends, if it can end, and the command the
    /// user runs in another terminal to renew it ([`refresh_command`]); the server prints it
    /// 30 and 5 minutes before that end.
    fn source_end(&self) -> Option<(SystemTime, String)>;

    /// What that source is, as the reminder names it.
    fn source_name(&self) -> &'static str {
        "MFA session"
    }
}

/// The command that renews an account's MFA session from another terminal, for the reminders
/// and the refusal: with `-- true` it opens no subshell, so the user is back at the prompt.
pub fn refresh_command(account: &str) -> String {
    format!("stsexec {account} --mfa --refresh -- true")
}

/// What a `--server` subshell on a terminal says first, as an exec-mode subshell does.
pub const SUBSHELL_HINT: &str =
    "A subshell with served keys: exit to return (the server stops with it)";

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

/// Why `--server` could not serve or run the command. Each `Display` is the sentence for the
/// user; [`crate::error::Error::exit_code`] maps them to exit statuses (DESIGN §6: 126 and 127
/// when the command cannot be run, else 125).
#[derive(Debug)]
pub enum ServerError {
    /// The session handed to the server has no expiration (long-lived keys): nothing to renew.
    /// `app::serve` refuses that earlier with the account's sentence; this guards `run` itself.
    LongLivedKeys { account: String },
    /// The OS's random source failed (the endpoint's token).
    Random(std::io::Error),
    /// 127.0.0.1 could not be bound.
    Listen(std::io::Error),
    /// The renewal thread could not be started.
    RenewalThread(std::io::Error),
    /// The command could not be started or waited for.
    Command(SpawnError),
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerError::LongLivedKeys { account } => write!(
                f,
                "--server renews sessions, and {account} is long-lived keys, which need no renewal; drop --server (exec mode gives the keys to the command) or add --mfa or --role"
            ),
            ServerError::Random(e) => write!(
                f,
                "--server: cannot read the OS's random source for the endpoint's token: {e}"
            ),
            ServerError::Listen(e) => write!(
                f,
                "--server: cannot listen on 127.0.0.1: {e}; check that the loopback interface is up"
            ),
            ServerError::RenewalThread(e) => {
                write!(f, "--server: cannot start the renewal thread: {e}")
            }
            ServerError::Command(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for ServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServerError::Random(e) | ServerError::Listen(e) | ServerError::RenewalThread(e) => {
                Some(e)
            }
            ServerError::Command(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SpawnError> for ServerError {
    fn from(e: SpawnError) -> Self {
        ServerError::Command(e)
    }
}

/// The soft limit on open descriptors raised as far as the hard limit allows (up to
/// [`DescriptorLimit::WANTED`]), so that a flood of connections cannot starve renewals (issue
/// 20); the command gets the limit stsexec was started with back.
struct DescriptorLimit {
    /// The soft limit now (`None`: unlimited).
    now: Option<u64>,
    /// The limits to give the command, when they were changed.
    inherited: Option<rustix::process::Rlimit>,
}

impl DescriptorLimit {
    const WANTED: u64 = 8192;

    fn raise() -> Self {
        use rustix::process::{Resource, getrlimit, setrlimit};
        let old = getrlimit(Resource::Nofile);
        let wanted = old
            .maximum
            .map_or(Self::WANTED, |max| max.min(Self::WANTED));
        if old.current.is_none_or(|current| current >= wanted) {
            return DescriptorLimit {
                now: old.current,
                inherited: None,
            };
        }
        let raised = rustix::process::Rlimit {
            current: Some(wanted),
            maximum: old.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => DescriptorLimit {
                now: Some(wanted),
                inherited: Some(old),
            },
            Err(_) => DescriptorLimit {
                now: old.current,
                inherited: None,
            },
        }
    }
}

/// Serves `plan.session` (renewed through `renewer`) to the command and runs it to its end.
/// When this returns the port is closed, or held by a holder answering 503 while the
/// command's process group outlives it ([`hold`]).
pub fn run(plan: ServerPlan, renewer: impl Renewer) -> Result<Ended, ServerError> {
    if !plan.session.credentials.is_session() || plan.session.credentials.expiration.is_none() {
        return Err(ServerError::LongLivedKeys {
            account: plan.session.label,
        });
    }
    let endpoint = Arc::new(http::Endpoint::generate().map_err(ServerError::Random)?);
    let served = Arc::new(RwLock::new(http::Served {
        label: plan.session.label.clone(),
        credentials: plan.session.credentials,
    }));
    let descriptors = DescriptorLimit::raise();
    let listening = http::Listening::start(
        endpoint.clone(),
        served.clone(),
        http::connection_cap(descriptors.now),
    )
    .map_err(ServerError::Listen)?;
    let url = endpoint.url(listening.port);
    if let Some(warning) = shared_files::warning(&plan.current) {
        plan.report.warn(warning);
    }
    let child = env::plan(&plan.exec_env, &url, &endpoint.token);
    let env_pairs = crate::env::apply(&plan.current, &child);
    plan.report.debug(format!(
        "serving {} on 127.0.0.1:{}; the command gets no keys: {}",
        plan.session.label,
        listening.port,
        child.names()
    ));
    let stop = Arc::new(renew::Stop::default());
    renew::spawn(renewer, served, plan.window, plan.report, stop.clone())
        .map_err(ServerError::RenewalThread)?;
    let ended = supervise::run(
        &plan.program,
        &plan.args,
        &env_pairs,
        plan.current.get_os("PATH"),
        descriptors.inherited,
    );
    // The renewal thread may be inside an STS call: told to stop, not waited for.
    stop.stop();
    match &ended {
        // Most often the command's group is empty by now: one signal 0 says so, no /proc scan.
        Ok(supervised) if hold::group_exists(supervised.group) => {
            let except = hold::not_the_commands(supervised.group);
            if hold::group_has_others(supervised.group, &except) {
                listening.stop_and_hand_over(supervised.group, &except);
            } else {
                listening.stop();
            }
        }
        Ok(_) | Err(_) => listening.stop(),
    }
    Ok(ended?.ended)
}
