//! `--add` fills a new accounts-file entry's MFA device from IAM's ListMFADevices (DESIGN §13),
//! against moto checking signatures and IAM policies: one device under another name is written
//! as `mfa_serial` and `--mfa` uses it; the default name, several devices or none write
//! nothing and say so; a ListMFADevices that IAM refuses never fails the add; an existing
//! entry and `--offline` make no IAM call at all (a counting server sees none).

use crate::support::fault::{FaultServer, Reply};
use crate::support::moto::Moto;
use crate::support::*;

const PREFIX: &str = "arn:aws:iam::123456789012:";

/// Sets up moto (in auth mode) with boto3's unsigned calls: user jb with a policy allowing
/// `action`, a key of jb's, and a virtual MFA device enabled for jb per name in `devices`.
const SETUP: &str = r#"
import boto3, json, sys
url, action, devices = sys.argv[1], sys.argv[2], sys.argv[3:]
iam = boto3.client("iam", endpoint_url=url, region_name="us-east-1",
                   aws_access_key_id="AKIASETUPSETUPSETUP0", aws_secret_access_key="setup")
iam.create_user(UserName="jb")
iam.put_user_policy(UserName="jb", PolicyName="p", PolicyDocument=json.dumps(
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}))
key = iam.create_access_key(UserName="jb")["AccessKey"]
for name in devices:
    serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
    iam.enable_mfa_device(UserName="jb", SerialNumber=serial,
                          AuthenticationCode1="123456", AuthenticationCode2="654321")
print(json.dumps([key["AccessKeyId"], key["SecretAccessKey"]]))
"#;

/// A sandbox whose account work has jb's key and no accounts-file entry, with every AWS call
/// going to moto; returns moto and the key.
fn sandbox_with_devices(action: &str, devices: &[&str]) -> (Sandbox, Moto, String, String) {
    let unsigned = 3 + 2 * u32::try_from(devices.len()).unwrap();
    let moto = Moto::start_with_auth(unsigned);
    let out = std::process::Command::new(venv().join("bin/python"))
        .arg("-c")
        .arg(SETUP)
        .arg(&moto.url)
        .arg(action)
        .args(devices)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key: (String, String) = serde_json::from_slice(&out.stdout).unwrap();
    let mut sandbox = Sandbox::new();
    sandbox.write_keys("work", &key.0, &key.1);
    std::fs::remove_file(sandbox.creds.join("accounts.json")).unwrap();
    sandbox.set_env("AWS_ENDPOINT_URL", &moto.url);
    (sandbox, moto, key.0, key.1)
}

/// `work --add --store plain`, which must succeed and show neither the secret nor the key id.
fn add(sandbox: &Sandbox, id: &str, secret: &str) -> Run {
    let run = sandbox.run(&["work", "--add", "--store", "plain"]);
    run.assert_ok()
        .assert_stderr("works: it belongs to arn:aws:iam::123456789012:user/jb")
        .assert_stderr("Added account work (arn:aws:iam::123456789012:, user jb)");
    assert!(
        !run.stderr.contains(secret) && !run.stderr.contains(id),
        "{run:#?}"
    );
    run
}

fn entry(sandbox: &Sandbox) -> serde_json::Value {
    read_json(&sandbox.creds.join("accounts.json"))["work"].clone()
}

#[test]
fn one_device_under_another_name_is_written_as_mfa_serial_and_mfa_uses_it() {
    let (sandbox, _moto, id, secret) = sandbox_with_devices("*", &["phone"]);
    let phone = format!("{PREFIX}mfa/phone");
    let run = add(&sandbox, &id, &secret);
    run.assert_stderr(&format!(
        "--mfa will use user jb's MFA device {phone}, set as \"mfa_serial\" of account work in {}",
        sandbox.creds.join("accounts.json").display()
    ));
    assert_eq!(
        entry(&sandbox),
        serde_json::json!({"arn": PREFIX, "user": "jb", "mfa_serial": phone})
    );
    let run = sandbox.run(&["work", "--mfa", "-t", &fresh_code(), "-v", "--json"]);
    run.assert_ok()
        .assert_stderr(&format!("and MFA device {phone} for"));
}

#[test]
fn one_device_under_the_default_name_writes_nothing_and_is_named() {
    let (sandbox, _moto, id, secret) = sandbox_with_devices("*", &["jb"]);
    let run = add(&sandbox, &id, &secret);
    run.assert_stderr(&format!(
        "--mfa will use user jb's MFA device {PREFIX}mfa/jb (the default name, so account work needs no \"mfa_serial\")"
    ));
    assert_eq!(
        entry(&sandbox),
        serde_json::json!({"arn": PREFIX, "user": "jb"})
    );
}

#[test]
fn two_devices_write_nothing_and_the_sentence_names_both() {
    let (sandbox, _moto, id, secret) = sandbox_with_devices("*", &["phone", "yubikey"]);
    let run = add(&sandbox, &id, &secret);
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("User jb has 2 MFA devices"))
        .unwrap_or_else(|| panic!("{run:#?}"));
    assert!(
        line.contains(&format!("{PREFIX}mfa/phone"))
            && line.contains(&format!("{PREFIX}mfa/yubikey"))
            && line.contains(
                "add \"mfa_serial\": \"<the ARN of the one --mfa should use>\" to account work in"
            ),
        "{line}"
    );
    assert_eq!(
        entry(&sandbox),
        serde_json::json!({"arn": PREFIX, "user": "jb"})
    );
}

#[test]
fn no_device_writes_nothing_and_says_one_must_be_assigned() {
    let (sandbox, _moto, id, secret) = sandbox_with_devices("*", &[]);
    let run = add(&sandbox, &id, &secret);
    run.assert_stderr("User jb has no MFA device, so --mfa needs one assigned to the user first")
        .assert_stderr(&format!(
            "if its ARN is not {PREFIX}mfa/jb, add \"mfa_serial\""
        ));
    assert_eq!(
        entry(&sandbox),
        serde_json::json!({"arn": PREFIX, "user": "jb"})
    );
}

#[test]
fn a_list_mfa_devices_iam_denies_never_fails_the_add() {
    // jb may call GetCallerIdentity, and nothing of IAM: moto refuses ListMFADevices.
    let (sandbox, moto, id, secret) = sandbox_with_devices("sts:GetCallerIdentity", &["phone"]);
    let run = add(&sandbox, &id, &secret);
    run.assert_stderr(&format!(
        "stsexec: warning: IAM at {} refused ListMFADevices (AccessDenied: ",
        moto.url
    ))
    .assert_stderr("so user jb's MFA device is unknown (--add goes on without it)")
    .assert_stderr(&format!(
        "if it is not {PREFIX}mfa/jb, add \"mfa_serial\": \"<the device's ARN>\" to account work in"
    ))
    .assert_stderr("Stored the key");
    assert_eq!(
        entry(&sandbox),
        serde_json::json!({"arn": PREFIX, "user": "jb"})
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.creds.join("work.secret_key"))
            .unwrap()
            .trim(),
        secret
    );
}

#[test]
fn an_existing_entry_or_offline_makes_no_iam_call() {
    let (mut sandbox, _moto, id, secret) = sandbox_with_devices("*", &["phone"]);
    // IAM answers AccessDenied to everything, and counts.
    let iam = FaultServer::start(&[Reply::DenyRole]);
    sandbox.set_env("AWS_ENDPOINT_URL_IAM", &iam.url);

    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{PREFIX}", "user": "jb"}}}}"#
    ));
    let run = sandbox.run(&["work", "--add", "--store", "plain"]);
    run.assert_ok()
        .assert_stderr("works: it belongs to arn:aws:iam::123456789012:user/jb");
    assert!(!run.stderr.contains("MFA"), "{run:#?}");
    assert_eq!(iam.hits(), 0);

    std::fs::remove_file(sandbox.creds.join("accounts.json")).unwrap();
    let run = sandbox.run(&["work", "--add", "--store", "plain", "--offline"]);
    run.assert_ok().assert_stderr("Not proving key");
    assert_eq!(iam.hits(), 0);
    assert!(!sandbox.creds.join("accounts.json").exists());

    // The same server is asked once the entry is missing: the counts above mean something,
    // and a failing IAM endpoint other than STS's still lets the add finish.
    let run = add(&sandbox, &id, &secret);
    run.assert_stderr(&format!(
        "stsexec: warning: IAM at {} refused ListMFADevices (AccessDenied",
        iam.url
    ));
    assert_eq!(iam.hits(), 1);
}

#[test]
fn an_iam_that_never_answers_holds_the_add_only_for_the_time_bound() {
    let (mut sandbox, _moto, id, secret) = sandbox_with_devices("*", &["phone"]);
    let iam = FaultServer::start(&[Reply::Hang]);
    sandbox.set_env("AWS_ENDPOINT_URL_IAM", &iam.url);
    sandbox.set_env("STSEXEC_STS_TIMEOUT", "2s");
    let started = std::time::Instant::now();
    let run = add(&sandbox, &id, &secret);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    run.assert_stderr(&format!(
        "stsexec: warning: IAM at {} did not answer ListMFADevices within 2 s, so user jb's MFA device is unknown",
        iam.url
    ))
    .assert_stderr("Stored the key");
    assert_eq!(
        entry(&sandbox),
        serde_json::json!({"arn": PREFIX, "user": "jb"})
    );
}
