//! STS over TLS (rustls with ring): a moto with a certificate from a test CA is trusted when
//! the CA is, and refused with a sentence when it is not.

use crate::support::moto::Moto;
use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A CA and a certificate it signed for localhost and 127.0.0.1, made with the openssl CLI.
pub(crate) fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name).display().to_string();
    let (ca_key, ca_pem) = (path("ca.key"), path("ca.pem"));
    let (key, csr, pem, ext) = (
        path("server.key"),
        path("server.csr"),
        path("server.pem"),
        path("server.ext"),
    );
    std::fs::write(
        &ext,
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &["-keyout", &ca_key, "-out", &ca_pem, "-days", "2"],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", "/CN=localhost"],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ],
    ];
    let ca_subject = [
        "-subj",
        "/CN=stsexec test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ];
    for (i, args) in steps.iter().enumerate() {
        let mut cmd = Command::new("openssl");
        cmd.args(args);
        if i == 0 {
            cmd.args(ca_subject);
        }
        let out = cmd.output().expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    (ca_pem.into(), pem.into(), key.into())
}

#[test]
fn sts_over_tls_trusts_the_configured_ca_only() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_pki(pki.path());
    let moto = Moto::start_tls(&cert, &key);
    let mut sandbox = Sandbox::new().with_sts(&moto.url);

    // The system store does not know the test CA: refused, with a sentence and nothing cached.
    sandbox
        .run(&["-v", "work", "-t", CODE, "--", "true"])
        .assert_code(125)
        .assert_stderr(&moto.url)
        .assert_stderr("TLS certificate stsexec does not trust")
        .assert_stderr("AWS_CA_BUNDLE")
        .assert_stderr("SSL_CERT_FILE")
        .assert_no_secret();
    assert!(!sandbox.cache_file(".stsexec~work~session.json").exists());

    // Trusted through AWS_CA_BUNDLE, beside the system's roots, as the AWS CLI reads it.
    sandbox.set_env("AWS_CA_BUNDLE", ca.to_str().unwrap());
    sandbox
        .run(&["work", "-t", CODE, "--", "true"])
        .assert_ok()
        .assert_no_secret();

    // Trusted through SSL_CERT_FILE, as OpenSSL-based tools read it: the call succeeds.
    sandbox.remove_env("AWS_CA_BUNDLE");
    sandbox.set_env("SSL_CERT_FILE", ca.to_str().unwrap());
    let (run, env) = sandbox.child_env(&["work", "-t", &fresh_code(), "--role", "admin"]);
    run.assert_ok().assert_no_secret();
    assert_eq!(env["STSEXEC_ACCOUNT"], "work-role-admin-STS");
    assert!(env["AWS_ACCESS_KEY_ID"].starts_with("ASIA"), "{env:?}");
}

#[test]
fn iam_over_tls_refuses_an_untrusted_certificate_as_sts_does() {
    let pki = tempfile::tempdir().unwrap();
    let (_ca, cert, key) = test_pki(pki.path());
    let tls_moto = Moto::start_tls(&cert, &key);
    // The fake answers GetCallerIdentity as user jb; IAM is moto over TLS.
    let sts = crate::support::iam::FakeIam::start();
    let mut sandbox = Sandbox::new();
    sandbox.set_env("AWS_ENDPOINT_URL_STS", &sts.url);
    sandbox.set_env("AWS_ENDPOINT_URL_IAM", &tls_moto.url);
    let before = std::fs::read_to_string(sandbox.creds.join("work.access_key")).unwrap();
    sandbox
        .run(&["work", "--rotate", "--no-session"])
        .assert_code(125)
        .assert_stderr(&format!(
            "IAM at {} presented a TLS certificate stsexec does not trust (ListAccessKeys: ",
            tls_moto.url
        ))
        .assert_stderr("set AWS_CA_BUNDLE to a PEM file of its CA certificates")
        .assert_stderr("nothing was changed")
        .assert_no_secret();
    let after = std::fs::read_to_string(sandbox.creds.join("work.access_key")).unwrap();
    assert_eq!(before, after);
}
