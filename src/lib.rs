//! stsexec's parts; `main.rs` wires them together. One module owns each outside thing:
//! `sts` alone touches aws-sdk-sts, `exec` alone execs, `files` alone opens
//! stsexec's files, `mfa` alone reads the terminal. The library exists so the tests, the
//! completion and man page generation and the fuzz targets reach the same code the binary
//! runs. ARCHITECTURE.md describes the layout. Every `unsafe` block is in `sys`; the rest of the
//! crate cannot have one.
#![deny(unsafe_code)]

pub mod accounts;
pub mod app;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod console;
pub mod env;
pub mod error;
pub mod exec;
pub mod fastpath;
pub mod files;
pub mod hardening;
pub mod iam;
pub mod invocation;
pub mod keys;
pub mod mfa;
pub mod output;
pub mod provider;
pub mod report;
pub mod rotate;
pub mod secret;
pub mod server;
pub mod session;
pub mod sso;
pub mod sts;
pub(crate) mod sys;
pub mod text;
pub mod web_identity;
