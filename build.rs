//! The text of `stsexec --version` (DESIGN §15): the version, the commit it was built from and
//! whether the binary is statically linked, handed to the crate as one compile-time string
//! (`STSEXEC_LONG_VERSION`), so nothing is computed when stsexec runs.
//!
//! The commit comes from `git rev-parse` when the source is a git checkout and git is there,
//! else from `STSEXEC_BUILD_COMMIT` (for builds from an unpacked source archive), else it is
//! "unknown". "static" follows the target's C runtime linking: `+crt-static` (scripts/install.sh
//! and scripts/package.sh on glibc, the default on musl) shows in the target's features.

use std::path::{Path, PathBuf};
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env_path("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

fn env_path(name: &str) -> PathBuf {
    PathBuf::from(std::env::var_os(name).unwrap_or_default())
}

/// Rebuild when HEAD moves: HEAD itself, the branch it names and packed-refs (where a branch
/// may live after `git gc`). `--git-path` resolves each inside a linked worktree too.
fn watch_git() {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for path in paths {
        if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", &path])
            && Path::new(&file).exists()
        {
            println!("cargo:rerun-if-changed={file}");
        }
    }
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=STSEXEC_BUILD_COMMIT");
    // Only stsexec's own checkout counts, not a repository it was copied into.
    let own_checkout = git(&["rev-parse", "--show-toplevel"]).is_some_and(|top| {
        Path::new(&top).canonicalize().ok() == env_path("CARGO_MANIFEST_DIR").canonicalize().ok()
    });
    let commit = if let Some(commit) = own_checkout
        .then(|| git(&["rev-parse", "--short=12", "HEAD"]))
        .flatten()
    {
        watch_git();
        commit
    } else {
        std::env::var("STSEXEC_BUILD_COMMIT")
            .ok()
            .filter(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or_else(|| "unknown".to_string())
    };
    let features = std::env::var("CARGO_CFG_TARGET_FEATURE").unwrap_or_default();
    let linking = if features.split(',').any(|f| f == "crt-static") {
        "statically linked"
    } else {
        "dynamically linked"
    };
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    println!(
        "cargo:rustc-env=STSEXEC_LONG_VERSION={version} (commit {commit}, {linking}, {target})"
    );
}
