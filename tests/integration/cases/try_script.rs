//! `scripts/try.sh` (issue 19): the README's "Try it without an AWS account" works as written —
//! a demo account against moto, with long-lived keys, an MFA session and a role — and leaves
//! nothing behind.

use crate::support::{stsexec, venv};
use std::path::Path;
use std::process::Command;

#[test]
fn try_script_runs_the_readme_examples_against_moto_and_cleans_up() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/try.sh");
    let walk = r#"set -e
stsexec --list
stsexec demo -- aws sts get-caller-identity --query Arn --output text
stsexec demo --mfa -t 123456 -- sh -c 'echo "label=$STSEXEC_ACCOUNT"'
stsexec demo --mfa --role admin -- aws sts get-caller-identity --query Arn --output text
echo "home=$HOME""#;
    let out = Command::new("bash")
        .arg(&script)
        .args(["bash", "-c", walk])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("STSEXEC_TEST_VENV", venv())
        .env("STSEXEC_BIN", stsexec())
        // The caller's AWS settings must not reach the demo.
        .env("AWS_PROFILE", "somewhere-else")
        .env("AWS_ACCESS_KEY_ID", "AKIACALLERSOWNKEY000")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "try.sh failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("demo"),
        "--list shows the demo account: {stdout}"
    );
    assert!(
        stdout.contains("arn:aws:iam::123456789012:user/demo"),
        "{stdout}"
    );
    assert!(stdout.contains("label=demo-MFA-STS"), "{stdout}");
    assert!(
        stdout.contains("arn:aws:sts::123456789012:assumed-role/admin/"),
        "{stdout}"
    );
    assert!(stderr.contains("moto accepts any six digits"), "{stderr}");
    let home = stdout
        .lines()
        .find_map(|line| line.strip_prefix("home="))
        .expect("the walk prints HOME");
    let demo_dir = Path::new(home).parent().unwrap();
    assert!(!demo_dir.exists(), "try.sh removes {}", demo_dir.display());
}
