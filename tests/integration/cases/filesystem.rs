//! Planted links and files, open permissions, a permissive umask.

use crate::support::moto::Moto;
use crate::support::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;

#[test]
fn a_symlink_at_the_cache_path_is_neither_followed_nor_written_through() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let precious = sandbox.home.path().join("precious");
    write_file(&precious, "precious", 0o600);
    let cache = sandbox.cache_file(".stsexec~work~session.json");
    std::os::unix::fs::symlink(&precious, &cache).unwrap();

    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_ok()
        .assert_stderr("symbolic link");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&cache).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was replaced by a real file"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_symlink_at_the_lock_path_is_refused() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let elsewhere = sandbox.home.path().join("elsewhere");
    std::os::unix::fs::symlink(&elsewhere, sandbox.cache_file(".stsexec~work~lock")).unwrap();
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(".stsexec~work~lock")
        .assert_stderr("symbolic link");
    assert!(!elsewhere.exists(), "the link was followed");
    assert_eq!(moto.session_tokens(), 0);
}

#[test]
#[ignore = "needs root and kernel.core_pattern=core: run by scripts/test.sh"]
fn a_cache_file_of_another_user_is_not_trusted() {
    // SAFETY: geteuid cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this test gives a file to another user, which needs root (CI runs as root)"
    );
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let cache = sandbox.cache_file(".stsexec~work~session.json");
    std::os::unix::fs::chown(&cache, Some(65534), Some(65534)).unwrap();
    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok().assert_stderr("belongs to another user");
    assert_eq!(
        env["STSEXEC_ACCOUNT"], "work",
        "the untrusted session was not used"
    );
}

#[test]
fn a_cache_file_others_can_read_is_not_trusted() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    sandbox.run(&["work", "-t", CODE, "--", "true"]).assert_ok();
    let cache = sandbox.cache_file(".stsexec~work~session.json");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (run, env) = sandbox.child_env(&["work"]);
    run.assert_ok()
        .assert_stderr("accessible by group or others");
    assert_eq!(
        env["STSEXEC_ACCOUNT"], "work",
        "the untrusted session was not used"
    );
}

#[test]
fn a_credentials_directory_others_can_write_is_refused() {
    let sandbox = Sandbox::new();
    std::fs::set_permissions(&sandbox.creds, std::fs::Permissions::from_mode(0o775)).unwrap();
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("writable by group or others")
        .assert_stderr("chmod go-w");
}

#[test]
fn files_are_owner_only_whatever_the_umask() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let mut cmd = sandbox.command(&["work", "-t", CODE, "--role", "admin", "--", "true"]);
    // SAFETY: umask is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    Run::from(cmd.output().unwrap()).assert_ok();
    for name in [
        ".stsexec~work~session.json",
        ".stsexec~work~role~123456789012~admin.json",
        ".stsexec~work~lock",
    ] {
        assert_eq!(mode_of(&sandbox.cache_file(name)), 0o600, "{name}");
    }
}
