//! The checked-in completions in real bash, zsh and fish (DESIGN §7, issue 11 item 9): account
//! names wherever the ACCOUNT may stand, the command and then its files after the account or
//! `--`, nothing from the current directory for values clap cannot know, `--export=` shells,
//! files for `--config` and directories for `--creds-dir`. The current directory holds
//! `awkward.txt`, `role-file` and `subdir/`, so a file offered where none belongs shows.

use crate::support::*;
use std::path::{Path, PathBuf};

struct Shells {
    sandbox: Sandbox,
    cwd: PathBuf,
    completions: PathBuf,
}

fn shells() -> Shells {
    let mut sandbox = Sandbox::new();
    sandbox.write_accounts(&format!(
        r#"{{"work": {{"arn": "{ACCOUNT_ARN}", "roles": {{"admin": "{ACCOUNT_ARN}role/admin",
                      "deploy": {{"arn": "{ACCOUNT_ARN}role/ci/deploy", "duration": "2h"}}}}}},
            "personal": "{ACCOUNT_ARN}"}}"#
    ));
    sandbox.write_keys("personal", ACCESS_KEY, SECRET_KEY);
    let bin_dir = Path::new(stsexec()).parent().unwrap().display().to_string();
    sandbox.set_env("PATH", &format!("{bin_dir}:/usr/bin:/bin"));
    let cwd = sandbox.home.path().join("cwd");
    std::fs::create_dir_all(cwd.join("subdir")).unwrap();
    for file in ["awkward.txt", "role-file"] {
        std::fs::write(cwd.join(file), "").unwrap();
    }
    let completions = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    Shells {
        sandbox,
        cwd,
        completions,
    }
}

fn sorted(mut words: Vec<String>) -> Vec<String> {
    words.retain(|w| !w.is_empty());
    words.sort();
    words.dedup();
    words
}

impl Shells {
    /// Bash: the words as bash splits them (`=` is a word of its own, COMP_WORDBREAKS), the
    /// last one being completed; COMPREPLY one per line.
    fn bash(&self, words: &[&str]) -> Vec<String> {
        let words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "cd {cwd} && source {file} && COMP_WORDS=({words}) && COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)) && \
             COMP_LINE=\"${{COMP_WORDS[*]}}\" && COMP_POINT=${{#COMP_LINE}} && \
             _stsexec_complete stsexec \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\" 2>/dev/null; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            cwd = self.cwd.display(),
            file = self.completions.join("stsexec.bash").display(),
        );
        let run = self
            .sandbox
            .run_program("bash", &["--norc", "--noprofile", "-c", &script]);
        run.assert_ok();
        sorted(run.stdout.lines().map(str::to_string).collect())
    }

    /// Fish: `complete -C` on the line, candidates without their descriptions.
    fn fish(&self, line: &str) -> Vec<String> {
        let script = format!(
            "cd {}; source {}; complete -C '{line}'",
            self.cwd.display(),
            self.completions.join("stsexec.fish").display()
        );
        let run = self
            .sandbox
            .run_program("fish", &["--no-config", "-c", &script]);
        run.assert_ok();
        sorted(
            run.stdout
                .lines()
                .map(|l| l.split('\t').next().unwrap().to_string())
                .collect(),
        )
    }

    /// Zsh: an interactive zsh on a zpty, compinit with completions/ on fpath, a key bound to
    /// a widget that runs complete-word and prints every match completion functions add.
    fn zsh(&self, lines: &[&str]) -> Vec<Vec<String>> {
        let dir = self.sandbox.home.path();
        std::fs::write(dir.join("harness.zsh"), ZSH_HARNESS).unwrap();
        std::fs::write(dir.join("outer.zsh"), ZSH_OUTER).unwrap();
        let mut args = vec![
            "-f".to_string(),
            dir.join("outer.zsh").display().to_string(),
            self.completions.display().to_string(),
            dir.join("harness.zsh").display().to_string(),
            self.cwd.display().to_string(),
        ];
        args.extend(lines.iter().map(|l| (*l).to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let run = self.sandbox.run_program("zsh", &args);
        run.assert_ok();
        let results: Vec<Vec<String>> = run
            .stdout
            .lines()
            .map(|l| {
                sorted(
                    l.split(|c: char| c == '|' || c.is_whitespace())
                        .map(str::to_string)
                        .collect(),
                )
            })
            .collect();
        assert_eq!(results.len(), lines.len(), "{run:#?}");
        results
    }
}

const ZSH_HARNESS: &str = r#"
PS1='> '
fpath=($COMPDIR $fpath)
autoload -Uz compinit && compinit -u -D
zstyle ':completion:*' menu no
typeset -ga __captured
# Records what completion functions add (calls that only query, -O/-A/-D, pass through).
compadd() {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a __hits
    builtin compadd -A __hits "$@"
    __captured+=($__hits)
    builtin compadd "$@"
}
__capture() {
    __captured=()
    zle complete-word
    zle -I
    print -r -- "<<<${(j:|:)${(ou)__captured}}>>>"
    BUFFER=''
}
zle -N __capture
bindkey '^X^X' __capture
"#;

const ZSH_OUTER: &str = r#"
zmodload zsh/zpty || exit 2
compdir=$1 harness=$2 cwd=$3
shift 3
zpty z "cd ${(q)cwd} && COMPDIR=${(q)compdir} zsh -f -i"
zpty -w z "source ${(q)harness}; print RE''ADY"
zpty -r -m z out '*READY*' || exit 3
for line in "$@"; do
    zpty -w -n z "$line"$'\C-x\C-x'
    out=''
    zpty -r -m z out '*>>>*' || exit 4
    out=${out##*<<<}
    print -r -- "${out%%>>>*}"
done
zpty -d z
"#;

fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_string()).collect()
}

const ACCOUNTS: [&str; 2] = ["personal", "work"];

#[test]
fn bash_completes_accounts_commands_and_values() {
    let sh = shells();
    for words in [
        &["stsexec", "w"][..],
        &["stsexec", "--mfa", "w"],
        &["stsexec", "-v", "--role", "x", "w"],
        &["stsexec", "--clear", "w"],
    ] {
        assert_eq!(sh.bash(words), ["work"], "{words:?}");
    }
    assert_eq!(sh.bash(&["stsexec", ""]), ACCOUNTS);
    assert_eq!(sh.bash(&["stsexec", "--clear", ""]), ACCOUNTS);
    // The command, then its files.
    for words in [
        &["stsexec", "work", "--", "aw"][..],
        &["stsexec", "work", "aw"],
        &["stsexec", "--mfa", "work", "--", "aw"],
    ] {
        let got = sh.bash(words);
        assert!(got.contains(&"awk".to_string()), "{words:?}: {got:?}");
        assert!(
            !got.contains(&"awkward.txt".to_string()),
            "{words:?}: {got:?}"
        );
    }
    assert_eq!(
        sh.bash(&["stsexec", "--role", "x", "--web-identity", "w"]),
        ["work"],
        "a bare --web-identity takes no value"
    );
    assert_eq!(
        sh.bash(&["stsexec", "work", "--", "ls", "aw"]),
        ["awkward.txt"]
    );
    // Nothing from the current directory.
    for option in [
        "--role",
        "--region",
        "-d",
        "--duration",
        "--session-name",
        "--external-id",
        "--token",
        "-t",
        "--audience",
    ] {
        assert_eq!(
            sh.bash(&["stsexec", option, ""]),
            Vec::<String>::new(),
            "{option}"
        );
        // clap's function hands the typed word back (so bash adds no space): not a file.
        assert!(
            sh.bash(&["stsexec", "work", option, "r"])
                .iter()
                .all(|w| w == "r"),
            "{option}"
        );
    }
    // --role: the account's named roles (issue 19).
    let roles = ["admin", "deploy"];
    assert_eq!(sh.bash(&["stsexec", "work", "--role", ""]), roles);
    assert_eq!(
        sh.bash(&["stsexec", "--mfa", "work", "--role", "d"]),
        ["deploy"]
    );
    assert_eq!(sh.bash(&["stsexec", "work", "--role", "="]), roles);
    assert_eq!(sh.bash(&["stsexec", "work", "--role", "=", "a"]), ["admin"]);
    assert_eq!(
        sh.bash(&["stsexec", "personal", "--role", ""]),
        Vec::<String>::new()
    );
    assert_eq!(
        sh.bash(&["stsexec", "work", "--export", "="]),
        ["bash", "fish", "sh", "zsh"]
    );
    assert_eq!(sh.bash(&["stsexec", "work", "--export", "=", "z"]), ["zsh"]);
    assert_eq!(sh.bash(&["stsexec", "--config", "aw"]), ["awkward.txt"]);
    // --creds-dir: directories come from `compopt -o plusdirs`, so no file is in COMPREPLY.
    assert_eq!(
        sh.bash(&["stsexec", "--creds-dir", "aw"]),
        Vec::<String>::new()
    );
    assert_eq!(
        sh.bash(&["stsexec", "work", "--mf"]),
        ["--mfa", "--mfa-process", "--mfa-prompt"]
    );
    assert!(
        sh.bash(&["stsexec", "--cre"])
            .contains(&"--credential-process".to_string())
    );
}

#[test]
fn fish_completes_accounts_commands_and_values() {
    let sh = shells();
    for line in [
        "stsexec w",
        "stsexec --mfa w",
        "stsexec -v --role x w",
        "stsexec --clear w",
    ] {
        assert_eq!(sh.fish(line), ["work"], "{line}");
    }
    assert_eq!(sh.fish("stsexec "), ACCOUNTS);
    assert_eq!(sh.fish("stsexec --clear "), ACCOUNTS);
    for line in [
        "stsexec work -- aw",
        "stsexec work aw",
        "stsexec --mfa work -- aw",
    ] {
        let got = sh.fish(line);
        assert!(got.contains(&"awk".to_string()), "{line}: {got:?}");
        assert!(!got.contains(&"awkward.txt".to_string()), "{line}: {got:?}");
    }
    assert_eq!(sh.fish("stsexec work -- ls aw"), ["awkward.txt"]);
    assert!(
        !sh.fish("stsexec work -- ls -")
            .contains(&"--mfa".to_string()),
        "the command's options, not stsexec's"
    );
    for option in [
        "--role",
        "--region",
        "-d",
        "--session-name",
        "--external-id",
        "--token",
        "-t",
        "--audience",
    ] {
        assert_eq!(
            sh.fish(&format!("stsexec {option} ")),
            Vec::<String>::new(),
            "{option}"
        );
        assert_eq!(
            sh.fish(&format!("stsexec work {option} r")),
            Vec::<String>::new(),
            "{option}"
        );
    }
    // --role: the account's named roles (issue 19).
    assert_eq!(sh.fish("stsexec work --role "), ["admin", "deploy"]);
    assert_eq!(sh.fish("stsexec --mfa work -d 1h --role d"), ["deploy"]);
    assert_eq!(sh.fish("stsexec personal --role "), Vec::<String>::new());
    assert_eq!(
        sh.fish("stsexec work --export="),
        [
            "--export=bash",
            "--export=fish",
            "--export=sh",
            "--export=zsh"
        ]
    );
    assert_eq!(sh.fish("stsexec --config aw"), ["awkward.txt"]);
    assert_eq!(sh.fish("stsexec --creds-dir "), ["subdir/"]);
    assert_eq!(
        sh.fish("stsexec work --mf"),
        ["--mfa", "--mfa-process", "--mfa-prompt"]
    );
}

#[test]
fn zsh_completes_accounts_commands_and_values() {
    let sh = shells();
    let cases: Vec<(&str, Option<Vec<String>>)> = vec![
        ("stsexec w", Some(owned(&["work"]))),
        ("stsexec --mfa w", Some(owned(&["work"]))),
        ("stsexec -v --role x w", Some(owned(&["work"]))),
        ("stsexec --clear ", Some(owned(&ACCOUNTS))),
        ("stsexec ", Some(owned(&ACCOUNTS))),
        ("stsexec work -- aw", None),
        ("stsexec work aw", None),
        ("stsexec work -- ls aw", Some(owned(&["awkward.txt"]))),
        ("stsexec --role ", Some(vec![])),
        ("stsexec --region ", Some(vec![])),
        ("stsexec -d ", Some(vec![])),
        ("stsexec --session-name ", Some(vec![])),
        ("stsexec --external-id ", Some(vec![])),
        ("stsexec --token ", Some(vec![])),
        ("stsexec --audience ", Some(vec![])),
        // A bare --web-identity takes no value: the account follows it.
        ("stsexec --role x --web-identity w", Some(owned(&["work"]))),
        ("stsexec work -t ", Some(vec![])),
        // --role: the account's named roles (issue 19).
        ("stsexec work --role ", Some(owned(&["admin", "deploy"]))),
        ("stsexec --mfa work --role d", Some(owned(&["deploy"]))),
        ("stsexec personal --role ", Some(vec![])),
        (
            "stsexec work --export=",
            Some(owned(&["bash", "fish", "sh", "zsh"])),
        ),
        ("stsexec --config aw", Some(owned(&["awkward.txt"]))),
        ("stsexec --creds-dir ", Some(owned(&["subdir"]))),
        (
            "stsexec work --mf",
            Some(owned(&["--mfa", "--mfa-process", "--mfa-prompt"])),
        ),
        (
            "stsexec work -v --mf",
            Some(owned(&["--mfa", "--mfa-process", "--mfa-prompt"])),
        ),
    ];
    let lines: Vec<&str> = cases.iter().map(|(l, _)| *l).collect();
    let got = sh.zsh(&lines);
    for ((line, want), got) in cases.iter().zip(&got) {
        match want {
            Some(want) => assert_eq!(got, want, "{line}"),
            None => assert!(
                got.contains(&"awk".to_string()) && !got.contains(&"awkward.txt".to_string()),
                "{line}: {got:?}"
            ),
        }
    }
}
