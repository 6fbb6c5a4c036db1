//! stsexec's parts; `main.rs` wires them together. One module owns each outside thing:
//! `sts` alone touches aws-sdk-sts, `exec` alone execs, `files` alone opens
//! stsexec's files, `mfa` alone reads the terminal. The library exists so the tests, the
//! completion and man page generation and the fuzz targets reach the same code the binary
//! runs. ARCHITECTURE.md describes the layout. Every `unsafe` block is in `sys`; the rest of the
//! crate cannot have one.
#![deny(unsafe_code)]

// Crate-private unless something outside reaches in, so rustc's dead-code lint sees the rest:
// `accounts`, `cache` and `secret` for the fuzz targets (fuzz/fuzz_targets); `aws`, `env`,
// `keys`, `mfa`, `report`, `session` and `sso` for the integration tests that drive the key
// stores and the IAM Identity Center flows through the library; `main` takes the re-exports
// at the end.

pub mod accounts;
mod app;
pub mod aws;
pub mod cache;
mod cli;
mod console;
pub mod env;
mod error;
mod exec;
mod fastpath;
mod files;
mod hardening;
mod iam;
mod invocation;
pub mod keys;
pub mod mfa;
mod output;
mod provider;
pub mod report;
mod rotate;
pub mod secret;
mod server;
pub mod session;
pub mod sso;
mod sts;
pub(crate) mod sys;
mod text;
mod web_identity;

// What the binary and the integration tests take from the crate-private modules.
pub use app::{Outcome, run};
pub use cli::Cli;
pub use console::redirect as console_redirect;
pub use error::EXIT_FAILED;
pub use exec::exec;
pub use fastpath::parse as parse_fast;
pub use hardening::no_core_dumps;
pub use server::hold::{HOLDER_ARG0, run as hold_port};
