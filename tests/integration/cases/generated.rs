//! Completions and the man page are generated from the clap definition; the checked-in copies
//! must match. `STSEXEC_REGENERATE=1 ./scripts/test.sh generated` rewrites them.

use crate::support::*;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::Path;
use stsexec::cli::Cli;

/// Adds account names to clap's completions for the ACCOUNT argument, from
/// `stsexec --list -q` (accounts file and key files), which clap cannot know statically.
fn with_account_hook(shell: Shell, generated: String) -> String {
    match shell {
        Shell::Bash => generated + BASH_HOOK,
        Shell::Fish => generated + FISH_HOOK,
        Shell::Zsh => {
            // The helper must exist before the file's last block first calls _stsexec, and the
            // ACCOUNT argument must call it instead of _default.
            let account_spec = "entry:_default'";
            let last_block = "if [ \"$funcstack[1]\" = \"_stsexec\" ]; then";
            assert!(
                generated.contains(account_spec) && generated.contains(last_block),
                "clap's zsh output changed shape; update with_account_hook"
            );
            generated
                .replacen(account_spec, "entry:_stsexec_accounts'", 1)
                .replacen(
                    last_block,
                    &format!("{}\n{last_block}", ZSH_HOOK.trim_start()),
                    1,
                )
        }
        _ => generated,
    }
}

const BASH_HOOK: &str = r#"
# Account names (stsexec --list -q) for the first word and after --clear.
_stsexec_with_accounts() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    if [[ $cur != -* && ( $COMP_CWORD -eq 1 || $prev == --clear ) ]]; then
        COMPREPLY=($(compgen -W "$(stsexec --list -q 2>/dev/null)" -- "$cur"))
        return 0
    fi
    _stsexec "$@"
}
complete -F _stsexec_with_accounts -o bashdefault -o default stsexec
"#;

const ZSH_HOOK: &str = r#"
# Account names (stsexec --list -q) for the ACCOUNT argument.
_stsexec_accounts() {
    local -a accounts
    accounts=(${(f)"$(stsexec --list -q 2>/dev/null)"})
    _describe -t accounts 'account' accounts
}
"#;

const FISH_HOOK: &str = r#"
# Account names (stsexec --list -q) for the first argument.
complete -c stsexec -n __fish_is_first_arg -f -a '(stsexec --list -q 2>/dev/null)' -d account
"#;

fn rendered() -> Vec<(&'static str, Vec<u8>)> {
    let mut files = Vec::new();
    for (shell, path) in [
        (Shell::Bash, "completions/stsexec.bash"),
        (Shell::Zsh, "completions/_stsexec"),
        (Shell::Fish, "completions/stsexec.fish"),
    ] {
        let mut text = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "stsexec", &mut text);
        let text = String::from_utf8(text).expect("completions are text");
        files.push((path, with_account_hook(shell, text).into_bytes()));
    }
    let mut man = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut man)
        .expect("man page renders");
    files.push(("man/stsexec.1", man));
    files
}

#[test]
fn completions_and_man_page_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let regenerate = std::env::var_os("STSEXEC_REGENERATE").is_some();
    let mut stale = Vec::new();
    for (path, content) in rendered() {
        let file = root.join(path);
        if regenerate {
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &content).unwrap();
        } else if std::fs::read(&file).ok().as_deref() != Some(&content[..]) {
            stale.push(path);
        }
    }
    assert!(
        stale.is_empty(),
        "{stale:?} differ from the clap definition: run STSEXEC_REGENERATE=1 ./scripts/test.sh generated, and commit"
    );
}

/// The checked-in completions load in their shells and complete options and account names.
#[test]
fn completions_complete_options_and_accounts() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sandbox = Sandbox::new();
    sandbox.write_accounts(&format!(
        r#"{{"work": "{ACCOUNT_ARN}", "home": "{ACCOUNT_ARN}"}}"#
    ));
    let bin_dir = Path::new(stsexec()).parent().unwrap().display().to_string();
    sandbox.set_env("PATH", &format!("{bin_dir}:/usr/bin:/bin"));
    let bash_file = root.join("completions/stsexec.bash");
    // Bash calls a completion function with the command, the current word and the previous one.
    let bash = |words: &str| {
        let script = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); _stsexec_with_accounts stsexec \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            bash_file.display()
        );
        let run = sandbox.run_program("bash", &["--norc", "-c", &script]);
        run.assert_ok();
        run.stdout
    };
    assert_eq!(bash("stsexec w"), "work\n");
    assert_eq!(bash("stsexec --clear h"), "home\n");
    assert!(bash("stsexec work --mf").contains("--mfa"));

    let fish_file = root.join("completions/stsexec.fish");
    let fish = |line: &str| {
        let script = format!("source {}; complete -C '{line}'", fish_file.display());
        let run = sandbox.run_program("fish", &["--no-config", "-c", &script]);
        run.assert_ok();
        run.stdout
    };
    let accounts = fish("stsexec ");
    assert!(
        accounts.contains("work\taccount") && accounts.contains("home\taccount"),
        "{accounts}"
    );
    assert!(fish("stsexec work --cred").contains("--credential-process"));

    let zsh_file = root.join("completions/_stsexec");
    sandbox
        .run_program("zsh", &["-n", zsh_file.to_str().unwrap()])
        .assert_ok();
    let zsh = std::fs::read_to_string(&zsh_file).unwrap();
    assert!(zsh.contains(":_stsexec_accounts'"));
}

/// The man page names every option (a quick check that it is the real definition).
#[test]
fn man_page_lists_the_options() {
    let man = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/stsexec.1"))
        .unwrap();
    for option in Cli::command().get_arguments().filter_map(|a| a.get_long()) {
        assert!(
            man.contains(&option.replace('-', "\\-")),
            "--{option} missing from the man page"
        );
    }
}
