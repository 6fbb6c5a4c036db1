//! stsexec's parts; `main.rs` wires them together. One module owns each outside thing:
//! `sts` alone touches aws-sdk-sts, `exec` alone execs, `files` alone opens
//! stsexec's files, `mfa` alone reads the terminal. The library exists so the tests, the
//! completion and man page generation and the fuzz targets reach the same code the binary
//! runs. ARCHITECTURE.md describes the layout. Every `unsafe` block is in `sys`; the rest of the
//! crate cannot have one.
#![deny(unsafe_code)]

// Crate-private, so rustc's dead-code lint sees every item, but for `accounts`, `cache`,
// `keys` and `secret`, whose parsers the fuzz targets drive (fuzz/fuzz_targets); `main` and
// the library-level integration tests take the re-exports at the end.

pub mod accounts;
mod app;
mod aws;
pub mod cache;
mod cli;
mod console;
mod env;
mod error;
mod exec;
mod fastpath;
mod files;
mod hardening;
mod iam;
mod invocation;
pub mod keys;
mod mfa;
mod output;
mod provider;
mod report;
mod rotate;
pub mod secret;
mod server;
mod session;
mod sso;
mod sts;
pub(crate) mod sys;
mod text;
mod web_identity;

// What the binary and the integration tests take from the crate-private modules.
pub use app::{Outcome, run};
pub use cli::Cli;
pub use console::redirect as console_redirect;
pub use env::Environment;
pub use error::EXIT_FAILED;
pub use exec::exec;
pub use fastpath::parse as parse_fast;
pub use hardening::no_core_dumps;
pub use server::hold::{HOLDER_ARG0, run as hold_port};
pub use sys::start_as_rust_runtime_would;

/// What the library-level integration tests drive (the key stores' prompts and runner, the IAM
/// Identity Center flows against a fake), and nothing the binary needs.
#[doc(hidden)]
pub mod testing {
    pub use crate::aws::{Network, Outbound};
    pub use crate::mfa::Settings as MfaSettings;
    pub use crate::mfa::process::Shown;
    pub use crate::report::Reporter;
    pub use crate::session::Credentials;
    pub use crate::sso::account::SsoAccount;
    pub use crate::sso::login::{LoginOptions, LoginUi, Method, Sso, TerminalUi};
    pub use crate::sso::loopback::BrowserError;
    pub use crate::sso::provider::SsoProvider;
    pub use crate::sso::{LazySso, SsoEndpoints, SsoError, SsoSession, TokenCache};
}
