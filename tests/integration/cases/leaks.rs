//! With -v, every path names variables and masked key ids, never a secret: not on stderr,
//! not on the command line of the child.

use crate::support::moto::Moto;
use crate::support::*;

/// Stands for a code no earlier run sent.
const FRESH: &str = "<fresh code>";

#[test]
fn verbose_runs_of_every_row_show_no_secret() {
    let moto = Moto::start();
    let sandbox = Sandbox::new().with_sts(&moto.url);
    let rows: [&[&str]; 6] = [
        &["-v", "work"],
        &["-v", "work", "-t", CODE],
        &["-v", "work", "--mfa"],
        &["-v", "work", "--role", "admin"],
        // --refresh fetches on every run, and a code is never sent twice (DESIGN §9).
        &["-v", "work", "-t", FRESH, "--role", "ops", "--refresh"],
        &["-v", "work", "--no-session", "--role", "admin"],
    ];
    for row in rows {
        let fresh = |row: &[&str]| -> Vec<String> {
            row.iter()
                .map(|a| {
                    if *a == FRESH {
                        fresh_code()
                    } else {
                        (*a).to_string()
                    }
                })
                .collect()
        };
        let owned = fresh(row);
        let args: Vec<&str> = owned.iter().map(String::as_str).collect();
        let args = args.as_slice();
        let (run, env) = sandbox.child_env(args);
        run.assert_ok().assert_no_secret();
        assert!(
            run.stderr.contains("stsexec: "),
            "-v printed nothing: {args:?}"
        );
        for name in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            if let Some(value) = env.get(name) {
                assert!(
                    !run.stderr.contains(value.as_str()),
                    "{name} on stderr for {args:?}"
                );
            }
        }
        assert!(
            !run.stderr.contains(&env["AWS_ACCESS_KEY_ID"]),
            "unmasked key id for {args:?}"
        );
        // The child's command line holds no secret either: one run prints its secret and its
        // /proc cmdline, so the two compared belong to the same session.
        let owned = fresh(row);
        let mut with_cmdline: Vec<&str> = owned.iter().map(String::as_str).collect();
        with_cmdline.extend([
            "--",
            "sh",
            "-c",
            "printf '%s\\n' \"$AWS_SECRET_ACCESS_KEY\"; tr '\\0' ' ' < /proc/$$/cmdline",
        ]);
        let out = sandbox.run(&with_cmdline);
        out.assert_ok();
        let (secret, cmdline) = out.stdout.split_once('\n').expect("two lines");
        assert!(
            secret.len() >= 16,
            "the child got no secret to check: {args:?}"
        );
        assert!(cmdline.starts_with("sh -c "), "{cmdline}");
        assert!(
            !cmdline.contains(secret),
            "the secret on the command line: {args:?}"
        );
    }
}
