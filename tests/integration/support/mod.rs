//! Hermetic test rig: a temp HOME with a credentials directory, a scrubbed environment, the
//! real moto STS server per test, and a small fault-injecting STS server for what moto can't do.

pub mod fault;
pub mod github;
pub mod iam;
pub mod moto;
pub mod server;
pub mod signin;
pub mod sso;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const ACCOUNT_ARN: &str = "arn:aws:iam::123456789012:";
pub const ACCESS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
/// Every secret the tests hand to stsexec contains this, so a leak is one `contains` away.
pub const MARKER: &str = "SECRETMARKER";
pub const SECRET_KEY: &str = "SECRETMARKER/long+lived+secret+key";
pub const CODE: &str = "123456";

/// A code no earlier call of this test binary returned: STS accepts each code once, and so
/// does stsexec's ledger (DESIGN §9), so a test that fetches twice needs two codes.
pub fn fresh_code() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(200_000);
    format!(
        "{:06}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

pub fn stsexec() -> &'static str {
    env!("CARGO_BIN_EXE_stsexec")
}

/// Where scripts/test.sh installs moto, awscli and boto3 (not checked: tests that need no
/// Python run without it).
pub fn venv_dir() -> PathBuf {
    std::env::var_os("STSEXEC_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"))
}

/// The venv, for a test that runs moto or the AWS CLI. Missing → fail loudly.
pub fn venv() -> PathBuf {
    let dir = venv_dir();
    assert!(
        dir.join("bin/moto_server").is_file() && dir.join("bin/aws").is_file(),
        "moto_server and aws are not in {}: run ./scripts/test.sh, which installs them",
        dir.display()
    );
    dir
}

/// A temp HOME holding `~/aws-creds` (0700) with an account `work` and its keys.
pub struct Sandbox {
    pub home: tempfile::TempDir,
    pub creds: PathBuf,
    env: BTreeMap<String, String>,
}

impl Sandbox {
    pub fn new() -> Self {
        let home = tempfile::tempdir().expect("temp home");
        let creds = home.path().join("aws-creds");
        fs::create_dir(&creds).unwrap();
        fs::set_permissions(&creds, fs::Permissions::from_mode(0o700)).unwrap();
        let path = format!("{}/bin:/usr/local/bin:/usr/bin:/bin", venv_dir().display());
        let env = BTreeMap::from([
            ("HOME".to_string(), home.path().display().to_string()),
            ("PATH".to_string(), path),
            ("USER".to_string(), "jb".to_string()),
            ("LANG".to_string(), "C.UTF-8".to_string()),
        ]);
        let sandbox = Sandbox { home, creds, env };
        sandbox.write_accounts(&format!(r#"{{"work": "{ACCOUNT_ARN}"}}"#));
        sandbox.write_keys("work", ACCESS_KEY, SECRET_KEY);
        sandbox
    }

    /// Points STS calls at `url` (moto or the fault server) through AWS_ENDPOINT_URL_STS.
    pub fn with_sts(mut self, url: &str) -> Self {
        self.set_env("AWS_ENDPOINT_URL_STS", url);
        self
    }

    pub fn set_env(&mut self, name: &str, value: &str) {
        self.env.insert(name.to_string(), value.to_string());
    }

    /// The environment stsexec runs with, for commands the tests build themselves.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        self.env.clone().into_iter().collect()
    }

    pub fn remove_env(&mut self, name: &str) {
        self.env.remove(name);
    }

    pub fn write_accounts(&self, json: &str) {
        fs::write(self.creds.join("accounts.json"), json).unwrap();
    }

    pub fn write_keys(&self, account: &str, access_key: &str, secret: &str) {
        write_file(
            &self.creds.join(format!("{account}.access_key")),
            access_key,
            0o644,
        );
        write_file(
            &self.creds.join(format!("{account}.secret_key")),
            secret,
            0o600,
        );
    }

    pub fn cache_file(&self, name: &str) -> PathBuf {
        self.creds.join(name)
    }

    /// stsexec with exactly the sandbox's environment and no controlling terminal.
    pub fn command(&self, args: &[&str]) -> Command {
        self.program(stsexec(), args)
    }

    /// Another program (sh, fish, aws) with the sandbox's environment and no terminal.
    pub fn run_program(&self, program: &str, args: &[&str]) -> Run {
        let output = self.program(program, args).output();
        Run::from(output.unwrap_or_else(|e| panic!("{program}: {e}")))
    }

    fn program(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        detach_from_terminal(&mut cmd);
        cmd
    }

    /// Another program with the sandbox's environment and no terminal, started, not waited for.
    pub fn run_program_spawn(&self, program: &str, args: &[&str]) -> std::process::Child {
        self.program(program, args)
            .spawn()
            .unwrap_or_else(|e| panic!("{program}: {e}"))
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.command(args).output().expect("stsexec runs"))
    }

    /// Runs `stsexec args -- env` and returns the child's environment.
    pub fn child_env(&self, args: &[&str]) -> (Run, BTreeMap<String, String>) {
        let mut full: Vec<&str> = args.to_vec();
        full.extend(["--", "env"]);
        let run = self.run(&full);
        let env = parse_env(&run.stdout);
        (run, env)
    }

    /// Runs stsexec on a pseudo-terminal (support/pty_driver.py), typing `typed` once the MFA
    /// prompt shows (all of it at once: the prompt reads line by line). A run that needs no
    /// input (it reused a session another run fetched) just ends. Everything the terminal
    /// showed, stderr included, is in `stdout`.
    pub fn run_on_terminal(&self, args: &[&str], typed: &str) -> Run {
        self.run_on_terminal_after(args, MFA_PROMPT, typed)
    }

    /// As [`Sandbox::run_on_terminal`], typing once the terminal shows `wait_for`.
    pub fn run_on_terminal_after(&self, args: &[&str], wait_for: &str, typed: &str) -> Run {
        let steps: &[(&str, &str)] = if typed.is_empty() {
            &[]
        } else {
            &[(wait_for, typed)]
        };
        let pty = self.run_on_pty(args, steps, None);
        Run {
            code: (pty.returncode >= 0).then_some(pty.returncode),
            signal: (pty.returncode < 0).then_some(-pty.returncode),
            stdout: pty.output,
            stderr: String::new(),
        }
    }
}

/// The beginning of the MFA prompt, which stsexec shows once echo is off.
pub const MFA_PROMPT: &str = "MFA code for ";

/// What a person at a pseudo-terminal saw (support/pty_driver.py).
#[derive(Debug)]
pub struct PtyRun {
    /// `stty -g` of the terminal before stsexec started and after it ended.
    pub before: String,
    pub after: String,
    /// Negative: killed by that signal.
    pub returncode: i32,
    pub output: String,
}

impl Sandbox {
    /// Runs stsexec on a fresh pseudo-terminal that is its controlling terminal (python3's
    /// pty, no `script` in between, so a signal reaches stsexec itself). Each step waits for
    /// text on the screen, then types; `signal` is then sent with kill(2). The driver's
    /// time limit only stops a hung run; no assertion depends on it.
    pub fn run_on_pty(&self, args: &[&str], steps: &[(&str, &str)], signal: Option<i32>) -> PtyRun {
        let driver =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/support/pty_driver.py");
        let argv: Vec<&str> = std::iter::once(stsexec())
            .chain(args.iter().copied())
            .collect();
        let spec = serde_json::json!({
            "argv": argv,
            "steps": steps,
            "signal": signal,
            "timeout": 300,
        });
        let out = self
            .program("python3", &[driver.to_str().unwrap(), &spec.to_string()])
            .output()
            .expect("python3 runs");
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("pty driver: {e}; {}", String::from_utf8_lossy(&out.stderr))
        });
        PtyRun {
            before: report["before"].as_str().unwrap_or_default().to_string(),
            after: report["after"].as_str().unwrap_or_default().to_string(),
            returncode: i32::try_from(report["returncode"].as_i64().unwrap_or(999)).unwrap(),
            output: report["output"].as_str().unwrap_or_default().to_string(),
        }
    }
}

/// `env`'s output as a map (values are single-line in these tests).
pub fn parse_env(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn write_file(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// A new session without a controlling terminal: `/dev/tty` cannot be opened, as in CI.
pub fn detach_from_terminal(cmd: &mut Command) {
    // SAFETY: setsid is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Run {
            code: out.status.code(),
            signal: out.status.signal(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "exit status; {self:#?}");
        self
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        self.assert_code(0)
    }

    #[track_caller]
    pub fn assert_stderr(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}; {self:#?}"
        );
        self
    }

    #[track_caller]
    pub fn assert_no_secret(&self) -> &Self {
        assert!(
            !self.stderr.contains(MARKER),
            "a secret reached stderr: {}",
            self.stderr
        );
        self
    }
}

/// Reads a cache file's JSON.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(path).unwrap()).unwrap()
}

pub fn mode_of(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// The ports [`free_port`] hands out: below Linux's ephemeral range (32768–60999, where every
/// outgoing connection and every `bind :0` takes its port, so a port handed out there could be
/// taken between the check and moto's bind) and above the well-known ones.
pub const TEST_PORTS: std::ops::Range<u16> = 10_000..32_768;

/// A loopback port for a server that must be told its port (moto_server). Ports come from a
/// counter private to this test process, starting at a place chosen by the process id, so two
/// tests never get the same one (the race of "bind :0, read it, release it") and two test
/// processes rarely meet; a port some other process holds is skipped.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    let span = u32::from(TEST_PORTS.end - TEST_PORTS.start);
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id() % span,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    for _ in 0..span {
        let offset = NEXT.fetch_add(1, Ordering::SeqCst) % span;
        let port = TEST_PORTS.start + u16::try_from(offset).unwrap();
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port left in {TEST_PORTS:?}");
}
