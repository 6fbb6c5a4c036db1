//! Keys at rest (DESIGN §13) with the real tools: files made by the `age` CLI (`age -p` with the
//! passphrase typed on a pseudo-terminal, `age -r` to an `age-keygen` key) are read; what
//! stsexec writes is decrypted by `age -d`; `pass` with a throwaway gpg key serves as a
//! `key_process` and a `key_update_process`.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use stsexec::Environment;
use stsexec::keys::age_file::{AgeFile, Lock};
use stsexec::keys::key_process;
use stsexec::keys::passphrase::{Known, Passphrase};
use stsexec::secret::Secret;
use stsexec::testing::Credentials;
use stsexec::testing::MfaSettings as Settings;
use stsexec::testing::Reporter;
use stsexec::testing::Shown;

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

/// The AWS CLI against moto, signed with the given key.
fn aws(moto_url: &str, home: &Path, key: (&str, &str), args: &[&str]) -> Run {
    let mut cmd = Command::new(venv().join("bin/aws"));
    cmd.args(["--endpoint-url", moto_url, "--output", "json"])
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", home)
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
    Run::from(cmd.output().expect("aws runs"))
}

/// moto checking signatures, with user jb (allowed everything) and a key of jb's, made with
/// unsigned set-up calls. Returns moto and the key.
fn moto_with_key(home: &Path) -> (crate::support::moto::Moto, String, String) {
    let moto = crate::support::moto::Moto::start_with_auth(3);
    let setup = ("AKIASETUPSETUPSETUP0", "setup");
    aws(
        &moto.url,
        home,
        setup,
        &["iam", "create-user", "--user-name", "jb"],
    )
    .assert_ok();
    aws(
        &moto.url,
        home,
        setup,
        &[
            "iam",
            "put-user-policy",
            "--user-name",
            "jb",
            "--policy-name",
            "all",
            "--policy-document",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        ],
    )
    .assert_ok();
    let run = aws(
        &moto.url,
        home,
        setup,
        &["iam", "create-access-key", "--user-name", "jb"],
    );
    let json: serde_json::Value = serde_json::from_str(&run.assert_ok().stdout).unwrap();
    let key = &json["AccessKey"];
    (
        moto,
        key["AccessKeyId"].as_str().unwrap().to_string(),
        key["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

/// `age -d -i KEY FILE`'s output.
fn age_decrypt(key: &Path, file: &Path) -> String {
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn add_converts_plain_files_to_an_age_file_proven_with_moto_checking_signatures() {
    let mut sandbox = Sandbox::new();
    let (moto, id, secret) = moto_with_key(sandbox.home.path());
    sandbox.write_keys("work", &id, &secret);
    std::fs::remove_file(sandbox.creds.join("accounts.json")).unwrap();
    sandbox.set_env("AWS_ENDPOINT_URL", &moto.url);
    let (key, _) = keygen(sandbox.home.path());
    sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());

    let run = sandbox.run(&["work", "--add"]);
    run.assert_ok().assert_no_secret();
    assert!(!run.stderr.contains(&secret), "{}", run.stderr);
    run.assert_stderr("works: it belongs to arn:aws:iam::123456789012:user/jb")
        .assert_stderr("Added account work (arn:aws:iam::123456789012:, user jb)")
        .assert_stderr("encrypted to the recipients of")
        .assert_stderr("--rotate");
    assert!(!sandbox.creds.join("work.secret_key").exists());
    let age = sandbox.creds.join("work.secret_key.age");
    assert_eq!(mode_of(&age), 0o600);
    assert_eq!(age_decrypt(&key, &age), secret);
    assert_eq!(
        read_json(&sandbox.creds.join("accounts.json")),
        serde_json::json!({"work": {"arn": "arn:aws:iam::123456789012:", "user": "jb"}})
    );
}

#[test]
fn add_refuses_a_key_sts_does_not_know_and_changes_nothing() {
    let mut sandbox = Sandbox::new();
    let (moto, id, _) = moto_with_key(sandbox.home.path());
    sandbox.write_keys("work", &id, "SECRETMARKER/not+the+real+secret+at+all+x");
    sandbox.set_env("AWS_ENDPOINT_URL", &moto.url);
    let before = std::fs::read_dir(&sandbox.creds).unwrap().count();
    let run = sandbox.run(&["work", "--add", "--store", "plain"]);
    run.assert_code(125).assert_no_secret();
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    run.assert_stderr("STS refused the secret key of access key")
        .assert_stderr("check the key taken from")
        .assert_stderr("work.secret_key");
    assert!(sandbox.creds.join("work.secret_key").exists());
    assert!(!sandbox.creds.join("work.secret_key.age").exists());
    // Only the account's lock file may have appeared.
    let after: Vec<String> = std::fs::read_dir(&sandbox.creds)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with("lock"))
        .collect();
    assert_eq!(after.len(), before, "{after:?}");
}

#[test]
fn add_asks_a_new_passphrase_twice_on_the_terminal_and_age_d_opens_the_file() {
    let sandbox = Sandbox::new();
    let run = sandbox.run_on_pty(
        &["work", "--add", "--offline"],
        &[
            ("New passphrase for work's key: ", "one\r"),
            ("The same passphrase again: ", "two\r"),
            ("The two entries differ", ""),
            ("New passphrase for work's key: ", "correct horse\r"),
            ("The same passphrase again: ", "correct horse\r"),
        ],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert_eq!(run.before, run.after);
    assert!(!run.output.contains("correct horse"), "{run:#?}");
    assert!(run.output.contains("encrypted to a passphrase"), "{run:#?}");
    let age = sandbox.creds.join("work.secret_key.age");
    assert!(!sandbox.creds.join("work.secret_key").exists());
    let (code, output) = on_pty(
        &["age", "-d", age.to_str().unwrap()],
        &[("Enter passphrase", "correct horse\r")],
    );
    assert_eq!(code, 0, "{output}");
    assert!(output.contains(SECRET_KEY), "{output}");
}

#[test]
fn add_from_a_profile_writes_the_plain_store_when_asked() {
    let sandbox = Sandbox::new();
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    std::fs::remove_file(sandbox.creds.join("work.access_key")).unwrap();
    let aws_dir = sandbox.home.path().join(".aws");
    std::fs::create_dir(&aws_dir).unwrap();
    write_file(
        &aws_dir.join("credentials"),
        &format!(
            "[default]\naws_access_key_id = AKIAI44QH8DHBEXAMPLE\naws_secret_access_key = other/secret/key/0000000000000000000\n[old]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"
        ),
        0o600,
    );
    let run = sandbox.run(&[
        "work",
        "--add",
        "--from-profile",
        "old",
        "--store",
        "plain",
        "--offline",
    ]);
    run.assert_ok().assert_no_secret();
    run.assert_stderr("plain: readable by any program you run");
    let read = |suffix: &str| {
        std::fs::read_to_string(sandbox.creds.join(format!("work.{suffix}")))
            .unwrap()
            .trim()
            .to_string()
    };
    assert_eq!(read("access_key"), ACCESS_KEY);
    assert_eq!(read("secret_key"), SECRET_KEY);
    assert_eq!(mode_of(&sandbox.creds.join("work.secret_key")), 0o600);
    sandbox
        .run(&["work", "--add", "--from-profile", "missing", "--offline"])
        .assert_code(125)
        .assert_stderr("has no profile [missing]");
}

/// Back from age to plain (`--add --store plain` on an age account): the secret decrypted
/// into `work.secret_key`, the age file removed (two stores would be refused), and the account
/// works from the plain file.
#[test]
fn add_store_plain_turns_an_age_store_back_into_the_plain_file() {
    let mut sandbox = Sandbox::new();
    let (key, _) = keygen(sandbox.home.path());
    sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());
    into_age(&sandbox, &Lock::Identities(vec![key.clone()]));
    let run = sandbox.run(&["work", "--add", "--store", "plain", "--offline"]);
    run.assert_ok().assert_no_secret();
    let plain = sandbox.creds.join("work.secret_key");
    assert_eq!(std::fs::read_to_string(&plain).unwrap().trim(), SECRET_KEY);
    assert_eq!(mode_of(&plain), 0o600);
    assert!(!sandbox.creds.join("work.secret_key.age").exists());
    let list = sandbox.run(&["--list"]);
    assert!(list.stdout.contains("keys=plain"), "{list:#?}");
    sandbox
        .run(&[
            "work",
            "--no-session",
            "--",
            "sh",
            "-c",
            "test -n \"$AWS_SECRET_ACCESS_KEY\"",
        ])
        .assert_ok();
}

/// STS refusing the key of an age account names the files to check: the id file and the age
/// file, not a plain `work.secret_key` that does not exist.
#[test]
fn a_refused_key_names_the_age_file_it_came_from() {
    use crate::support::fault::{FaultServer, Reply};
    let sts = FaultServer::start(&[Reply::InvalidKey]);
    let mut sandbox = Sandbox::new().with_sts(&sts.url);
    let (key, _) = keygen(sandbox.home.path());
    sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());
    into_age(&sandbox, &Lock::Identities(vec![key]));
    sandbox
        .run(&["work", "-t", "123456", "--", "true"])
        .assert_code(125)
        .assert_no_secret()
        .assert_stderr(&format!(
            "check {} and {}",
            sandbox.creds.join("work.access_key").display(),
            sandbox.creds.join("work.secret_key.age").display()
        ));
}

/// Whether the account still has one working copy of the key: the plain secret, or an age
/// file `key` opens, holding `secret`.
fn one_working_copy(sandbox: &Sandbox, key: &Path, secret: &str) -> bool {
    let plain = sandbox.creds.join("work.secret_key");
    let age = sandbox.creds.join("work.secret_key.age");
    let plain_ok = std::fs::read_to_string(&plain).is_ok_and(|t| t.trim() == secret);
    let age_ok = age.exists() && age_decrypt(key, &age) == secret;
    let id_ok = std::fs::read_to_string(sandbox.creds.join("work.access_key"))
        .is_ok_and(|t| t.trim() == ACCESS_KEY);
    id_ok && (plain_ok || age_ok)
}

#[test]
fn add_killed_at_any_step_leaves_one_working_copy_and_a_rerun_finishes() {
    // SIGKILL injected (strace) at the n-th call of each syscall that writes or removes a
    // file, for every n the conversion reaches.
    let mut kills = 0;
    for syscalls in [
        "write",
        "fsync",
        "rename,renameat,renameat2",
        "unlink,unlinkat",
    ] {
        for n in 1.. {
            let mut sandbox = Sandbox::new();
            let (key, _) = keygen(sandbox.home.path());
            sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());
            let inject = format!("inject={syscalls}:signal=KILL:when={n}");
            let run = sandbox.run_program(
                "strace",
                &[
                    "-f",
                    "-o",
                    "/dev/null",
                    "-e",
                    &format!("trace={syscalls}"),
                    "-e",
                    &inject,
                    stsexec(),
                    "work",
                    "--add",
                    "--offline",
                ],
            );
            assert!(
                one_working_copy(&sandbox, &key, SECRET_KEY),
                "{syscalls} #{n}: {run:#?}"
            );
            let killed = run.code != Some(0);
            // A rerun finishes the conversion.
            sandbox.run(&["work", "--add", "--offline"]).assert_ok();
            assert!(!sandbox.creds.join("work.secret_key").exists());
            assert_eq!(
                age_decrypt(&key, &sandbox.creds.join("work.secret_key.age")),
                SECRET_KEY
            );
            if !killed {
                break;
            }
            kills += 1;
        }
    }
    assert!(kills >= 4, "only {kills} kill points");
}

/// The sandbox's key moved into `work.secret_key.age`, encrypted to `lock` (the plain file
/// removed).
fn into_age(sandbox: &Sandbox, lock: &Lock) {
    AgeFile::new("work", sandbox.creds.join("work.secret_key.age"))
        .write(&Secret::new(SECRET_KEY), lock)
        .unwrap();
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
}

const PASSPHRASE_PROMPT: &str = "Passphrase for work's key: ";
const MFA_PROMPT: &str = "MFA code for work (arn:aws:iam::123456789012:mfa/jb): ";

#[test]
fn with_mfa_a_cold_run_asks_the_passphrase_then_the_code_and_a_warm_one_nothing() {
    let moto = crate::support::moto::Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    into_age(
        &sandbox,
        &Lock::Passphrase(Passphrase::new("correct horse")),
    );
    let run = sandbox.run_on_pty(
        &[
            "work",
            "--mfa",
            "--",
            "sh",
            "-c",
            "echo account=$STSEXEC_ACCOUNT",
        ],
        &[
            (PASSPHRASE_PROMPT, "wrong\r"),
            ("does not open the key; try again", ""),
            (PASSPHRASE_PROMPT, "correct horse\r"),
            (MFA_PROMPT, &format!("{CODE}\r")),
        ],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert_eq!(run.before, run.after);
    assert!(!run.output.contains("correct horse"), "{run:#?}");
    assert!(run.output.contains("account=work-MFA-STS"), "{run:#?}");
    let passphrase_at = run.output.find(PASSPHRASE_PROMPT).unwrap();
    let code_at = run.output.find(MFA_PROMPT).unwrap();
    assert!(passphrase_at < code_at, "{run:#?}");
    assert_eq!(moto.session_tokens(), 1);
    // Warm: no prompt at all, no terminal needed.
    sandbox.run(&["work", "--mfa", "--", "true"]).assert_ok();
    assert_eq!(moto.session_tokens(), 1);
}

#[test]
fn three_wrong_passphrases_end_the_run_with_the_terminal_restored_and_nothing_cached() {
    let moto = crate::support::moto::Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    into_age(
        &sandbox,
        &Lock::Passphrase(Passphrase::new("correct horse")),
    );
    let run = sandbox.run_on_pty(
        &["work", "--mfa", "--", "true"],
        &[
            (PASSPHRASE_PROMPT, "one\r"),
            ("try again", ""),
            (PASSPHRASE_PROMPT, "two\r"),
            ("try again", ""),
            (PASSPHRASE_PROMPT, "three\r"),
        ],
        None,
    );
    assert_eq!(run.returncode, 125, "{run:#?}");
    assert_eq!(run.before, run.after);
    assert!(
        run.output.contains(
            "no usable passphrase for account work's key after 3 tries; nothing was changed (file "
        ),
        "{run:#?}"
    );
    assert_eq!(moto.session_tokens(), 0);
    assert!(!sandbox.cache_file(".stsexec~work~session.json").exists());
}

#[test]
fn two_stores_for_one_account_are_refused_naming_both() {
    let sandbox = Sandbox::new();
    AgeFile::new("work", sandbox.creds.join("work.secret_key.age"))
        .write(
            &Secret::new(SECRET_KEY),
            &Lock::Passphrase(Passphrase::new("p")),
        )
        .unwrap();
    let run = sandbox.run(&["work", "--", "true"]);
    run.assert_code(125)
        .assert_stderr("account work has two key stores")
        .assert_stderr("work.secret_key and")
        .assert_stderr("work.secret_key.age; keep one of them");
    let mut sandbox = Sandbox::new();
    sandbox.write_accounts(
        &serde_json::json!({"work": {"arn": ACCOUNT_ARN, "key_process": "pass show aws/work"}})
            .to_string(),
    );
    sandbox.set_env("X", "y");
    sandbox
        .run(&["work", "--", "true"])
        .assert_code(125)
        .assert_stderr("key_process `pass show aws/work`");
}

#[test]
fn parallel_cold_runs_run_the_key_process_once() {
    let moto = crate::support::moto::Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    let script = sandbox.home.path().join("key.sh");
    write_file(
        &script,
        &format!(
            "#!/bin/sh\necho run >> \"$HOME/key_runs\"\nsleep 1\necho '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY}\", \"SecretAccessKey\": \"{SECRET_KEY}\"}}'\n"
        ),
        0o700,
    );
    sandbox.write_accounts(
        &serde_json::json!({"work": {"arn": ACCOUNT_ARN, "key_process": script}}).to_string(),
    );
    let children: Vec<_> = (0..4)
        .map(|_| {
            sandbox
                .command(&["work", "-t", CODE, "--mfa", "--", "true"])
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        Run::from(child.wait_with_output().unwrap())
            .assert_ok()
            .assert_no_secret();
    }
    let runs = std::fs::read_to_string(sandbox.home.path().join("key_runs")).unwrap();
    assert_eq!(runs.lines().count(), 1, "{runs}");
    assert_eq!(moto.session_tokens(), 1);
}

#[test]
fn rotate_re_encrypts_the_new_key_to_the_same_recipients_with_moto_checking_signatures() {
    let mut sandbox = Sandbox::new();
    let (moto, id, secret) = moto_with_key(sandbox.home.path());
    sandbox.write_keys("work", &id, &secret);
    sandbox.set_env("AWS_ENDPOINT_URL", &moto.url);
    let (key, _) = keygen(sandbox.home.path());
    sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());
    sandbox.run(&["work", "--add"]).assert_ok();
    // The converted key works for a real command.
    let run = sandbox.run(&["work", "--", "aws", "sts", "get-caller-identity"]);
    run.assert_ok();
    assert!(run.stdout.contains("user/jb"), "{run:#?}");

    let run = sandbox.run(&["work", "--rotate", "--no-session"]);
    run.assert_ok().assert_no_secret();
    let age = sandbox.creds.join("work.secret_key.age");
    let new_secret = age_decrypt(&key, &age);
    assert_ne!(new_secret, secret);
    assert!(
        !sandbox.creds.join("work.secret_key").exists(),
        "a plain file appeared"
    );
    let new_id = std::fs::read_to_string(sandbox.creds.join("work.access_key"))
        .unwrap()
        .trim()
        .to_string();
    assert_ne!(new_id, id);
    // The new pair is the one IAM knows.
    aws(
        &moto.url,
        sandbox.home.path(),
        (&new_id, &new_secret),
        &["sts", "get-caller-identity"],
    )
    .assert_ok();
    let run = sandbox.run(&["work", "--", "aws", "sts", "get-caller-identity"]);
    run.assert_ok();
}

#[test]
fn rotate_refuses_a_key_process_without_an_update_command_before_any_call() {
    let sts = crate::support::fault::FaultServer::start(&[]);
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_ENDPOINT_URL", &sts.url);
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    sandbox.write_accounts(
        &serde_json::json!({"work": {"arn": ACCOUNT_ARN, "key_process": format!("echo '{{\"Version\": 1, \"AccessKeyId\": \"{ACCESS_KEY}\", \"SecretAccessKey\": \"{SECRET_KEY}\"}}'")}})
            .to_string(),
    );
    let run = sandbox.run(&["work", "--rotate", "--no-session"]);
    run.assert_code(125)
        .assert_stderr("without a key_update_process")
        .assert_stderr("nothing was changed");
    assert_eq!(sts.hits(), 0, "{run:#?}");
}

#[test]
fn a_rotation_journal_for_an_age_store_holds_the_new_secret_sealed_and_a_rerun_finishes() {
    use crate::support::iam::FakeIam;
    let fake = FakeIam::start();
    fake.with(|s| s.holds.proof = true);
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_ENDPOINT_URL", &fake.url);
    let (key, _) = keygen(sandbox.home.path());
    sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());
    into_age(&sandbox, &Lock::Identities(vec![key.clone()]));

    let new = fake.kill_rotation_at(&sandbox, &["--no-session"], "GetCallerIdentity", true);
    let journal_path = sandbox.cache_file(".stsexec~work~rotation.json");
    let text = std::fs::read_to_string(&journal_path).unwrap();
    assert!(
        !text.contains(&new.secret),
        "the journal holds the secret in plaintext: {text}"
    );
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    let sealed = saved["sealed_secret"].as_str().unwrap();
    assert!(
        sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    // age -d opens it with the account's identity.
    let sealed_file = sandbox.home.path().join("sealed.age");
    std::fs::write(&sealed_file, sealed).unwrap();
    assert_eq!(age_decrypt(&key, &sealed_file), new.secret);

    fake.with(|s| s.holds.proof = false);
    sandbox
        .run(&["work", "--rotate", "--no-session"])
        .assert_ok()
        .assert_no_secret()
        .assert_stderr("Resuming the unfinished key rotation of account work");
    assert_eq!(
        age_decrypt(&key, &sandbox.creds.join("work.secret_key.age")),
        new.secret
    );
    assert!(!journal_path.exists());
    assert!(!sandbox.creds.join("work.secret_key").exists());
}

#[test]
fn rotate_asks_the_passphrase_once_and_encrypts_the_new_key_to_it() {
    let mut sandbox = Sandbox::new();
    let (moto, id, secret) = moto_with_key(sandbox.home.path());
    sandbox.write_keys("work", &id, &secret);
    sandbox.set_env("AWS_ENDPOINT_URL", &moto.url);
    let age = sandbox.creds.join("work.secret_key.age");
    AgeFile::new("work", age.clone())
        .write(
            &Secret::new(&secret),
            &Lock::Passphrase(Passphrase::new("correct horse")),
        )
        .unwrap();
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();

    let run = sandbox.run_on_pty(
        &["work", "--rotate", "--no-session"],
        &[(PASSPHRASE_PROMPT, "correct horse\r")],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert_eq!(run.output.matches(PASSPHRASE_PROMPT).count(), 1, "{run:#?}");
    assert_eq!(run.before, run.after);
    let new_secret = AgeFile::new("work", age)
        .decrypt(&[], &mut known("correct horse"))
        .unwrap();
    assert_ne!(new_secret.expose(), secret);
    let new_id = std::fs::read_to_string(sandbox.creds.join("work.access_key"))
        .unwrap()
        .trim()
        .to_string();
    aws(
        &moto.url,
        sandbox.home.path(),
        (&new_id, new_secret.expose()),
        &["sts", "get-caller-identity"],
    )
    .assert_ok();
}

#[test]
fn a_new_user_types_the_key_into_add_and_it_works_at_once() {
    let mut sandbox = Sandbox::new();
    let (moto, id, secret) = moto_with_key(sandbox.home.path());
    for file in ["work.access_key", "work.secret_key", "accounts.json"] {
        std::fs::remove_file(sandbox.creds.join(file)).unwrap();
    }
    sandbox.set_env("AWS_ENDPOINT_URL", &moto.url);
    let (key, _) = keygen(sandbox.home.path());
    sandbox.set_env("STSEXEC_AGE_IDENTITY", key.to_str().unwrap());
    let run = sandbox.run_on_pty(
        &["work", "--add"],
        &[
            ("Access key id for work (AKIA…): ", &format!("{id}\r")),
            ("Secret access key for work: ", &format!("{secret}\r")),
        ],
        None,
    );
    assert_eq!(run.returncode, 0, "{run:#?}");
    assert_eq!(run.before, run.after);
    assert!(
        !run.output.contains(&secret),
        "the secret was echoed: {run:#?}"
    );
    assert!(run.output.contains("Added account work"), "{run:#?}");
    assert_eq!(
        age_decrypt(&key, &sandbox.creds.join("work.secret_key.age")),
        secret
    );
    let run = sandbox.run(&["work", "--", "aws", "sts", "get-caller-identity"]);
    run.assert_ok();
    assert!(run.stdout.contains("user/jb"), "{run:#?}");
}

/// A `key_process` account against the fake IAM: the key_process `cat`s `store.json` in HOME
/// and the key_update_process writes its stdin there (a vault in miniature); no secret file.
fn key_process_sandbox(fake: &crate::support::iam::FakeIam) -> (Sandbox, PathBuf) {
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_ENDPOINT_URL", &fake.url);
    std::fs::remove_file(sandbox.creds.join("work.secret_key")).unwrap();
    let store = sandbox.home.path().join("store.json");
    write_file(
        &store,
        &serde_json::json!({"Version": 1, "AccessKeyId": ACCESS_KEY, "SecretAccessKey": SECRET_KEY})
            .to_string(),
        0o600,
    );
    sandbox.write_accounts(
        &serde_json::json!({"work": {
            "arn": ACCOUNT_ARN,
            "key_process": format!("cat '{}'", store.display()),
            "key_update_process": format!("cat > '{}'", store.display()),
        }})
        .to_string(),
    );
    (sandbox, store)
}

/// The pair the key_process store holds.
fn stored_pair(store: &Path) -> (String, String) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store).unwrap()).unwrap();
    (
        json["AccessKeyId"].as_str().unwrap().to_string(),
        json["SecretAccessKey"].as_str().unwrap().to_string(),
    )
}

fn access_key_file(sandbox: &Sandbox) -> String {
    std::fs::read_to_string(sandbox.creds.join("work.access_key"))
        .unwrap()
        .trim()
        .to_string()
}

/// The key that signed the last call of `action` the fake saw.
fn last_signer(fake: &crate::support::iam::FakeIam, action: &str) -> String {
    fake.with(|s| {
        s.calls
            .iter()
            .rev()
            .find(|(a, _)| a == action)
            .map(|(_, signer)| signer.clone())
            .unwrap_or_else(|| panic!("no {action}: {:?}", s.calls))
    })
}

/// `stsexec work -- aws sts get-caller-identity` against the fake: it answers, signed with `key`.
fn works_with(sandbox: &Sandbox, fake: &crate::support::iam::FakeIam, key: &str) -> Run {
    let run = sandbox.run(&["work", "--", "aws", "sts", "get-caller-identity"]);
    run.assert_ok().assert_no_secret();
    assert!(run.stdout.contains("user/jb"), "{run:#?}");
    assert_eq!(last_signer(fake, "GetCallerIdentity"), key);
    run
}

#[test]
fn a_rotation_journal_for_a_key_process_withholds_the_new_secret_and_a_rerun_replaces_the_lost_key()
{
    use crate::support::iam::FakeIam;
    let fake = FakeIam::start();
    fake.with(|s| s.holds.proof = true);
    let (sandbox, store) = key_process_sandbox(&fake);

    let lost = fake.kill_rotation_at(&sandbox, &["--no-session"], "GetCallerIdentity", true);
    let journal_path = sandbox.cache_file(".stsexec~work~rotation.json");
    let text = std::fs::read_to_string(&journal_path).unwrap();
    assert!(
        !text.contains(&lost.secret) && !text.contains(SECRET_KEY) && !text.contains(MARKER),
        "the journal holds a secret: {text}"
    );
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(saved["secret_withheld"], true, "{text}");
    assert_eq!(saved["new_access_key_id"], lost.id.as_str());
    assert_eq!(saved["old_access_key_id"], ACCESS_KEY);
    assert!(saved.get("sealed_secret").is_none(), "{text}");
    assert_eq!(stored_pair(&store), (ACCESS_KEY.into(), SECRET_KEY.into()));

    // Every other run still uses the old key, and says the rotation is unfinished.
    works_with(&sandbox, &fake, ACCESS_KEY)
        .assert_stderr("the key rotation of account work is unfinished")
        .assert_stderr("run stsexec work --rotate to finish it");
    let (run, env) = sandbox.child_env(&["work", "--no-session"]);
    run.assert_ok()
        .assert_stderr("the key rotation of account work is unfinished");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], ACCESS_KEY);
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], SECRET_KEY);

    // The rerun: the lost key deleted (signed with the old key), a new one made and stored.
    fake.with(|s| {
        s.holds.proof = false;
        s.calls.clear();
    });
    let run = sandbox.run(&["work", "--rotate", "--no-session"]);
    run.assert_ok()
        .assert_no_secret()
        .assert_stderr(&format!(
            "The unfinished key rotation of account work had created the access key AKIA…{}",
            &lost.id[lost.id.len() - 4..]
        ))
        .assert_stderr("so that key was deleted in IAM");
    assert!(!run.stderr.contains(&lost.id), "a full key id: {run:#?}");
    assert_eq!(
        fake.actions(),
        [
            "DeleteAccessKey",
            "GetCallerIdentity",
            "ListAccessKeys",
            "CreateAccessKey",
            "GetCallerIdentity",
            "UpdateAccessKey",
            "DeleteAccessKey",
        ]
    );
    assert_eq!(
        fake.with(|s| s.calls[0].1.clone()),
        ACCESS_KEY,
        "the lost key is deleted as the rotation signs"
    );
    let last = fake.with(|s| s.keys.iter().find(|k| k.created).unwrap().clone());
    assert_ne!(last.id, lost.id);
    assert_eq!(fake.key_ids(), vec![last.id.clone()]);
    assert_eq!(stored_pair(&store), (last.id.clone(), last.secret.clone()));
    assert_eq!(access_key_file(&sandbox), last.id);
    assert!(!journal_path.exists());

    // The final key works.
    let run = works_with(&sandbox, &fake, &last.id);
    assert!(!run.stderr.contains("unfinished"), "{run:#?}");
    let (run, env) = sandbox.child_env(&["work", "--no-session"]);
    run.assert_ok();
    assert!(!run.stderr.contains("unfinished"), "{run:#?}");
    assert_eq!(env["AWS_ACCESS_KEY_ID"], last.id);
    assert_eq!(env["AWS_SECRET_ACCESS_KEY"], last.secret);
}

#[test]
fn a_key_process_rotation_killed_after_the_store_took_the_key_finishes_without_another_key() {
    use crate::support::iam::FakeIam;
    let fake = FakeIam::start();
    fake.with(|s| s.holds.retire = true);
    let (sandbox, store) = key_process_sandbox(&fake);

    let new = fake.kill_rotation_at(&sandbox, &["--no-session"], "UpdateAccessKey", false);
    assert_eq!(stored_pair(&store), (new.id.clone(), new.secret.clone()));
    assert_eq!(access_key_file(&sandbox), new.id);
    let journal_path = sandbox.cache_file(".stsexec~work~rotation.json");
    let text = std::fs::read_to_string(&journal_path).unwrap();
    assert!(!text.contains(MARKER), "the journal holds a secret: {text}");
    assert_eq!(fake.key_ids().len(), 2);

    fake.with(|s| {
        s.holds.retire = false;
        s.calls.clear();
    });
    sandbox
        .run(&["work", "--rotate", "--no-session"])
        .assert_ok()
        .assert_no_secret()
        .assert_stderr("Resuming the unfinished key rotation of account work");
    assert_eq!(fake.actions(), ["UpdateAccessKey", "DeleteAccessKey"]);
    // Signed with the new key, its secret read from the store.
    assert_eq!(last_signer(&fake, "DeleteAccessKey"), new.id);
    assert_eq!(fake.key_ids(), vec![new.id.clone()]);
    assert_eq!(stored_pair(&store), (new.id.clone(), new.secret));
    assert!(!journal_path.exists());
    works_with(&sandbox, &fake, &new.id);
}
