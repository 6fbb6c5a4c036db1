//! Keys at rest (DESIGN §13) with the real tools: files made by the `age` CLI (`age -p` with the
//! passphrase typed on a pseudo-terminal, `age -r` to an `age-keygen` key) are read; what
//! stsexec writes is decrypted by `age -d`; `pass` with a throwaway gpg key serves as a
//! `key_process` and a `key_update_process`.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stsexec::env::Environment;
use stsexec::keystore::age_file::{AgeFile, Lock};
use stsexec::keystore::key_process;
use stsexec::keystore::passphrase::{Known, Passphrase};
use stsexec::mfa::Settings;
use stsexec::mfa::process::Shown;
use stsexec::report::Reporter;
use stsexec::secret::Secret;
use stsexec::session::Credentials;

/// Runs `argv` on a fresh pseudo-terminal (support/pty_driver.py), typing `steps`.
fn on_pty(argv: &[&str], steps: &[(&str, &str)]) -> (i64, String) {
    let driver =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/support/pty_driver.py");
    let spec = serde_json::json!({"argv": argv, "steps": steps, "timeout": 60});
    let out = Command::new("python3")
        .arg(driver)
        .arg(spec.to_string())
        .output()
        .expect("python3 runs");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("pty driver: {e}; {}", String::from_utf8_lossy(&out.stderr)));
    (
        report["returncode"].as_i64().unwrap_or(999),
        report["output"].as_str().unwrap_or_default().to_string(),
    )
}

fn known(passphrase: &str) -> Known {
    Known {
        account: "work".into(),
        passphrase: Passphrase::new(passphrase),
    }
}

fn owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// `age-keygen -o key.txt` in `dir`; returns the identity file and its recipient.
fn keygen(dir: &Path) -> (PathBuf, String) {
    let key = dir.join("key.txt");
    let status = Command::new("age-keygen")
        .arg("-o")
        .arg(&key)
        .stderr(Stdio::null())
        .status()
        .expect("age-keygen runs (apt-get install age)");
    assert!(status.success());
    owner_only(&key);
    let out = Command::new("age-keygen")
        .arg("-y")
        .arg(&key)
        .output()
        .unwrap();
    (
        key,
        String::from_utf8(out.stdout).unwrap().trim().to_string(),
    )
}

#[test]
fn a_file_made_by_age_p_opens_with_the_passphrase_typed_there() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain");
    write_file(&plain, &format!("{SECRET_KEY}\n"), 0o600);
    let path = dir.path().join("work.secret_key.age");
    for armor in [false, true] {
        let _ = std::fs::remove_file(&path);
        let mut argv = vec!["age", "-p", "-o", path.to_str().unwrap()];
        if armor {
            argv.insert(1, "-a");
        }
        argv.push(plain.to_str().unwrap());
        let (code, output) = on_pty(
            &argv,
            &[
                ("Enter passphrase", "correct horse\r"),
                ("Confirm passphrase", "correct horse\r"),
            ],
        );
        assert_eq!(code, 0, "{output}");
        owner_only(&path);
        let file = AgeFile::new("work", path.clone());
        let secret = file.decrypt(&[], &mut known("correct horse")).unwrap();
        assert_eq!(secret.expose(), SECRET_KEY, "armor: {armor}");
        let error = file.decrypt(&[], &mut known("wrong")).unwrap_err();
        assert!(error.to_string().contains("after 3 tries"), "{error}");
    }
}

#[test]
fn a_file_made_by_age_r_opens_with_the_age_keygen_identity() {
    let dir = tempfile::tempdir().unwrap();
    let (key, recipient) = keygen(dir.path());
    let path = dir.path().join("work.secret_key.age");
    let mut age = Command::new("age")
        .args(["-r", &recipient, "-o"])
        .arg(&path)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    age.stdin
        .take()
        .unwrap()
        .write_all(SECRET_KEY.as_bytes())
        .unwrap();
    assert!(age.wait().unwrap().success());
    owner_only(&path);
    let file = AgeFile::new("work", path);
    let secret = file.decrypt(&[key], &mut known("unused")).unwrap();
    assert_eq!(secret.expose(), SECRET_KEY);
    // Another key does not open it, and the message names both files.
    let other = tempfile::tempdir().unwrap();
    let (other_key, _) = keygen(other.path());
    let error = file
        .decrypt(std::slice::from_ref(&other_key), &mut known("unused"))
        .unwrap_err()
        .to_string();
    assert!(error.contains(&*other_key.display().to_string()), "{error}");
    assert!(error.contains("work.secret_key.age"), "{error}");
}

#[test]
fn what_stsexec_writes_age_d_decrypts() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = keygen(dir.path());
    let path = dir.path().join("work.secret_key.age");
    let file = AgeFile::new("work", path.clone());

    file.write(
        &Secret::new(SECRET_KEY),
        &Lock::Identities(vec![key.clone()]),
    )
    .unwrap();
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(&key)
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), SECRET_KEY);

    // The passphrase file at the real work factor, typed into `age -d` on a terminal.
    file.write(
        &Secret::new(SECRET_KEY),
        &Lock::Passphrase(Passphrase::new("correct horse")),
    )
    .unwrap();
    let (code, output) = on_pty(
        &["age", "-d", path.to_str().unwrap()],
        &[("Enter passphrase", "correct horse\r")],
    );
    assert_eq!(code, 0, "{output}");
    assert!(output.contains(SECRET_KEY), "{output}");
}

/// A throwaway gpg key (no passphrase) and a password store in `dir`.
struct Pass {
    dir: tempfile::TempDir,
}

impl Pass {
    fn new() -> Pass {
        let pass = Pass {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(pass.gnupg()).unwrap();
        owner_only_dir(&pass.gnupg());
        let status = pass
            .command("gpg")
            .args([
                "--batch",
                "--passphrase",
                "",
                "--quick-gen-key",
                "stsexec test <test@example.invalid>",
                "default",
                "default",
                "never",
            ])
            .stderr(Stdio::null())
            .status()
            .expect("gpg runs (apt-get install gnupg)");
        assert!(status.success());
        let status = pass
            .command("pass")
            .args(["init", "test@example.invalid"])
            .stdout(Stdio::null())
            .status()
            .expect("pass runs (apt-get install pass)");
        assert!(status.success());
        pass
    }

    fn gnupg(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    fn pairs(&self) -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("HOME".into(), self.dir.path().display().to_string()),
            ("GNUPGHOME".into(), self.gnupg().display().to_string()),
            (
                "PASSWORD_STORE_DIR".into(),
                self.dir.path().join("store").display().to_string(),
            ),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear().envs(self.pairs());
        cmd
    }

    fn insert(&self, name: &str, text: &str) {
        use std::io::Write;
        let mut child = self
            .command("pass")
            .args(["insert", "-m", "-f", name])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success());
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        let _ = self
            .command("gpgconf")
            .args(["--kill", "gpg-agent"])
            .status();
    }
}

fn owner_only_dir(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).unwrap();
}

#[test]
fn pass_serves_as_key_process_and_key_update_process() {
    let pass = Pass::new();
    pass.insert(
        "aws/work",
        &format!(
            r#"{{"Version": 1, "AccessKeyId": "{ACCESS_KEY}", "SecretAccessKey": "{SECRET_KEY}"}}"#
        ),
    );
    // The commands name their store themselves (the test's own environment is passed on,
    // minus AWS variables).
    let env = Environment::from_process();
    let prefix = pass
        .pairs()
        .iter()
        .map(|(k, v)| format!("{k}='{v}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let settings = Settings {
        take_terminal: false,
        ..Settings::DEFAULT
    };
    let report = Reporter::new(true, false);
    let show = Shown {
        command: format!("{prefix} pass show aws/work"),
        origin: "key_process in the accounts file".into(),
    };
    let keys = key_process::fetch(&show, "work", &env, &settings, &report).unwrap();
    assert_eq!(keys.access_key_id, ACCESS_KEY);
    assert_eq!(keys.secret_access_key.expose(), SECRET_KEY);

    let new = Credentials {
        access_key_id: "AKIAI44QH8DHBEXAMPLE".into(),
        secret_access_key: Secret::new("SECRETMARKER/the+new+one"),
        session_token: None,
        expiration: None,
    };
    let update = Shown {
        command: format!("{prefix} pass insert -m -f aws/work >/dev/null"),
        origin: "key_update_process in the accounts file".into(),
    };
    key_process::update(&update, "work", &new, &env, &settings, &report).unwrap();
    let keys = key_process::fetch(&show, "work", &env, &settings, &report).unwrap();
    assert_eq!(keys.access_key_id, "AKIAI44QH8DHBEXAMPLE");
    assert_eq!(keys.secret_access_key.expose(), "SECRETMARKER/the+new+one");

    // A missing entry: pass fails, the sentence names the command.
    let missing = Shown {
        command: format!("{prefix} pass show aws/nothing"),
        origin: "key_process in the accounts file".into(),
    };
    let error = key_process::fetch(&missing, "work", &env, &settings, &report)
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("the key command `")
            && error.contains(
                "(from key_process in the accounts file) for account work exited with status 1"
            ),
        "{error}"
    );
}
