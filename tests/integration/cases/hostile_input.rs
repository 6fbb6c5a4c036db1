//! Bad input: exit 125 (126/127 for commands, as env), a sentence naming the culprit, no STS
//! call and nothing written to disk.

use crate::support::fault::{FaultServer, Reply};
use crate::support::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

/// Every file under `dir` with its content and mode.
fn snapshot(dir: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in std::fs::read_dir(&current).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
            }
            let content = if meta.is_file() && meta.len() < 1 << 20 {
                std::fs::read(&path).unwrap()
            } else {
                Vec::new()
            };
            files.insert(path.display().to_string(), (content, mode_of(&path)));
        }
    }
    files
}

struct Case {
    what: &'static str,
    args: Vec<OsString>,
    accounts: Option<String>,
    setup: fn(&Sandbox),
    path: Option<&'static str>,
    code: i32,
    needle: &'static str,
}

fn case(what: &'static str, args: &[&str], code: i32, needle: &'static str) -> Case {
    Case {
        what,
        args: args.iter().map(OsString::from).collect(),
        accounts: None,
        setup: |_| {},
        path: None,
        code,
        needle,
    }
}

fn with_accounts(mut case: Case, json: &str) -> Case {
    case.accounts = Some(json.to_string());
    case
}

fn cases() -> Vec<Case> {
    let long_name = "a".repeat(10_000);
    let long_session = "s".repeat(65);
    let mut list = vec![
        case(
            "parent directory",
            &["../x", "--", "true"],
            125,
            "invalid account name \"../x\"",
        ),
        case(
            "absolute path",
            &["/etc/passwd", "--", "true"],
            125,
            "invalid account name \"/etc/passwd\"",
        ),
        case(
            "slash",
            &["a/b", "--", "true"],
            125,
            "invalid account name \"a/b\"",
        ),
        case(
            "empty name",
            &["", "--", "true"],
            125,
            "invalid account name \"\"",
        ),
        case(
            "10 000 characters",
            &[&long_name, "--", "true"],
            125,
            "(10000 characters)",
        ),
        with_accounts(
            case(
                "accounts file empty",
                &["work", "--", "true"],
                125,
                "accounts.json is empty; it should map",
            ),
            "",
        ),
        with_accounts(
            case(
                "accounts file not JSON",
                &["work", "--", "true"],
                125,
                "accounts.json is not valid: ",
            ),
            "{work: arn",
        ),
        with_accounts(
            case(
                "accounts file a list",
                &["work", "--", "true"],
                125,
                "JSON object mapping account names",
            ),
            "[\"work\"]",
        ),
        with_accounts(
            case(
                "wrong type",
                &["work", "--", "true"],
                125,
                "account \"work\" must be an ARN prefix string",
            ),
            r#"{"work": 123456789012}"#,
        ),
        with_accounts(
            case(
                "wrong field type",
                &["work", "--", "true"],
                125,
                "\"region\" must be a string",
            ),
            r#"{"work": {"arn": "arn:aws:iam::123456789012:", "region": 1}}"#,
        ),
        with_accounts(
            case(
                "names differing in case",
                &["work", "--", "true"],
                125,
                "has account \"Work\" twice (also as \"work\")",
            ),
            r#"{"work": "arn:aws:iam::123456789012:", "Work": "arn:aws:iam::123456789012:"}"#,
        ),
        with_accounts(
            case(
                "partition shape",
                &["work", "--", "true"],
                125,
                "account \"work\" has ARN prefix \"arn:AWS:iam",
            ),
            r#"{"work": "arn:AWS:iam::123456789012:"}"#,
        ),
        with_accounts(
            case(
                "11-digit account",
                &["work", "--", "true"],
                125,
                "account \"work\" has ARN prefix \"arn:aws:iam::12345678901:\"",
            ),
            r#"{"work": "arn:aws:iam::12345678901:"}"#,
        ),
        with_accounts(
            // A bare 12-digit id and a prefix without its colon are accepted (issue 19);
            // 13 digits are neither.
            case(
                "13-digit account id",
                &["work", "--", "true"],
                125,
                "account \"work\" has ARN prefix \"1234567890123\"",
            ),
            r#"{"work": "1234567890123"}"#,
        ),
        case(
            "duration 0",
            &["work", "--mfa", "-d", "0", "--", "true"],
            125,
            "duration",
        ),
        case(
            "duration 10s",
            &["work", "--mfa", "-d", "10s", "--", "true"],
            125,
            "-d/--duration 10s",
        ),
        case(
            "duration 40h",
            &["work", "--mfa", "-d", "40h", "--", "true"],
            125,
            "-d/--duration 40h: GetSessionToken sessions last from 15m to 36h",
        ),
        case(
            "duration abc",
            &["work", "--mfa", "-d", "abc", "--", "true"],
            125,
            "--duration",
        ),
        case(
            "role 13h",
            &["work", "--role", "admin", "-d", "13h", "--", "true"],
            125,
            "AssumeRole sessions last from 15m to 12h",
        ),
        case(
            "role chaining over 1h",
            &["work", "--mfa", "--role", "admin", "-d", "2h", "--", "true"],
            125,
            "role chaining",
        ),
        case(
            "code 12345",
            &["work", "-t", "12345", "--", "true"],
            125,
            "for '--token <CODE>': an MFA code is 6 digits",
        ),
        case(
            "code 1234567",
            &["work", "-t", "1234567", "--", "true"],
            125,
            "for '--token <CODE>'",
        ),
        case(
            "code 12a456",
            &["work", "-t", "12a456", "--", "true"],
            125,
            "for '--token <CODE>'",
        ),
        case(
            "code with a letter among spaces",
            &["work", "-t", "123 45a", "--", "true"],
            125,
            "for '--token <CODE>'",
        ),
        case(
            "session name too short",
            &[
                "work",
                "--role",
                "admin",
                "--session-name",
                "a",
                "--",
                "true",
            ],
            125,
            "--session-name \"a\"",
        ),
        case(
            "session name too long",
            &[
                "work",
                "--role",
                "admin",
                "--session-name",
                &long_session,
                "--",
                "true",
            ],
            125,
            "--session-name",
        ),
        case(
            "session name with /",
            &[
                "work",
                "--role",
                "admin",
                "--session-name",
                "a/b",
                "--",
                "true",
            ],
            125,
            "--session-name \"a/b\"",
        ),
        case(
            "role name with space",
            &["work", "--role", "ad min", "--", "true"],
            125,
            "--role \"ad min\"",
        ),
        case(
            "region",
            &["work", "--region", "../x", "--", "true"],
            125,
            "invalid value '../x' for '--region <REGION>': not a region name",
        ),
        case(
            "external id",
            &[
                "work",
                "--role",
                "admin",
                "--external-id",
                "a b",
                "--",
                "true",
            ],
            125,
            "--external-id",
        ),
        case(
            "unknown flag",
            &["work", "--mfaa", "--", "true"],
            125,
            "--mfaa",
        ),
        case(
            "a command that is a directory",
            &["work", "--", "/"],
            126,
            "/: is a directory",
        ),
    ];
    let mut non_utf8 = case("non-UTF-8 name", &[], 125, "is not valid UTF-8");
    non_utf8.args = vec![
        OsString::from_vec(b"wo\xffrk".to_vec()),
        "--".into(),
        "true".into(),
    ];
    list.push(non_utf8);
    let mut missing = case(
        "accounts file missing",
        &[
            "work",
            "--config",
            "/nonexistent/accounts.json",
            "--",
            "true",
        ],
        125,
        "/nonexistent/accounts.json",
    );
    missing.setup = |_| {};
    list.push(missing);
    let mut huge = case(
        "accounts file of 100 MB",
        &["work", "--", "true"],
        125,
        "is larger than 1048576 bytes, too large to be one",
    );
    huge.setup = |sandbox| {
        let file = std::fs::File::create(sandbox.creds.join("accounts.json")).unwrap();
        file.set_len(100 << 20).unwrap();
    };
    list.push(huge);
    let mut empty_path = case(
        "an empty PATH",
        &["work", "--", "true"],
        127,
        "PATH is empty",
    );
    empty_path.path = Some("");
    list.push(empty_path);
    list
}

#[test]
fn hostile_inputs_are_refused_with_a_sentence_and_leave_no_trace() {
    let sts = FaultServer::start(&[Reply::Ok]);
    for case in cases() {
        let mut sandbox = Sandbox::new().with_sts(&sts.url);
        if let Some(json) = &case.accounts {
            sandbox.write_accounts(json);
        }
        (case.setup)(&sandbox);
        if let Some(path) = case.path {
            sandbox.set_env("PATH", path);
        }
        let before = snapshot(sandbox.home.path());
        let mut cmd = sandbox.command(&["-v"]);
        cmd.args(&case.args);
        let run = Run::from(cmd.output().unwrap());
        assert_eq!(run.code, Some(case.code), "{}: {run:#?}", case.what);
        assert!(
            run.stderr.contains(case.needle),
            "{}: stderr lacks {:?}: {}",
            case.what,
            case.needle,
            run.stderr
        );
        // clap's sentence, two tips and the usage (one line per mode: six with --console).
        assert!(
            run.stderr.lines().count() <= 13,
            "{}: a sentence, not an essay: {}",
            case.what,
            run.stderr
        );
        run.assert_no_secret();
        assert_eq!(
            snapshot(sandbox.home.path()),
            before,
            "{}: something was written",
            case.what
        );
    }
    assert_eq!(sts.hits(), 0, "bad input reached STS");
}
