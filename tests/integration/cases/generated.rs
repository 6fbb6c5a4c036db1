//! Completions and the man page are generated from the clap definition; the checked-in copies
//! must match. `STSEXEC_REGENERATE=1 ./scripts/test.sh generated` rewrites them (with a fresh
//! stsexec built first, since the hooks come from this file and the tables from `cli.rs`).
//!
//! clap_complete writes the option tables; the hooks below add what clap cannot know: account
//! names (from `stsexec --list -q`) wherever the ACCOUNT may stand, and the command and its own
//! completions once the COMMAND has begun. The hooks' lists of options that take a value are
//! derived from the same `Command`, so a new flag needs no edit here, only a regeneration.

use clap::builder::PossibleValue;
use clap::{Arg, ArgAction, CommandFactory, ValueHint};
use clap_complete::Shell;
use std::fmt::Write as _;
use std::path::Path;
use stsexec::Cli;

/// The definition as the completions see it: a value with no hint and no fixed set completes
/// nothing (not the current directory's files), and a value's aliases (`--export=bash`) are
/// offered like its names.
pub fn completion_command() -> clap::Command {
    let mut cmd = Cli::command();
    let ids: Vec<_> = cmd.get_arguments().map(|a| a.get_id().clone()).collect();
    for id in ids {
        cmd = cmd.mut_arg(id, |arg| {
            if arg.is_positional() || !takes_value(&arg) {
                return arg;
            }
            let values = arg.get_possible_values();
            if !values.is_empty() {
                let names: Vec<PossibleValue> = values
                    .iter()
                    .filter(|v| !v.is_hide_set())
                    .flat_map(|v| {
                        v.get_name_and_aliases()
                            .map(str::to_string)
                            .collect::<Vec<_>>()
                    })
                    // Str holds only &'static str without clap's "string" feature.
                    .map(|name| PossibleValue::new(&*name.leak()))
                    .collect();
                return arg.value_parser(names);
            }
            if arg.get_value_hint() == ValueHint::Unknown {
                return arg.value_hint(ValueHint::Other);
            }
            arg
        });
    }
    cmd
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_action().takes_values() && !matches!(arg.get_action(), ArgAction::SetTrue)
}

/// `--role`, `-t`, …: the options whose value is the next word (not `--export`, whose value
/// must follow `=`).
fn options_with_separate_value(cmd: &clap::Command) -> Vec<String> {
    let mut names = Vec::new();
    for arg in cmd.get_arguments() {
        if arg.is_positional() || !takes_value(arg) || arg.is_require_equals_set() {
            continue;
        }
        names.extend(arg.get_short().map(|s| format!("-{s}")));
        names.extend(arg.get_long().map(|l| format!("--{l}")));
    }
    names
}

/// clap's script plus the hook, for one shell.
fn completion_script(shell: Shell) -> String {
    let mut cmd = completion_command();
    let mut text = Vec::new();
    clap_complete::generate(shell, &mut cmd, "stsexec", &mut text);
    let generated = without_hidden(
        shell,
        &String::from_utf8(text).expect("completions are text"),
        &cmd,
    );
    let value_options = options_with_separate_value(&cmd);
    match shell {
        Shell::Bash => generated + &bash_hook(&value_options),
        Shell::Fish => fish_script(&generated, &value_options),
        Shell::Zsh => zsh_script(&generated, &cmd),
        _ => generated,
    }
}

/// clap_complete offers hidden options (`--role-names`, for the completions themselves) like
/// any other: take them out.
fn without_hidden(shell: Shell, generated: &str, cmd: &clap::Command) -> String {
    let mut text = generated.to_string();
    for long in cmd
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .filter_map(Arg::get_long)
    {
        let before = text.clone();
        text = match shell {
            Shell::Bash => text.replace(&format!(" --{long} "), " "),
            Shell::Fish => text
                .lines()
                .filter(|l| !l.contains(&format!(" -l {long} ")))
                .map(|l| format!("{l}\n"))
                .collect(),
            _ => text
                .lines()
                .filter(|l| !l.contains(&format!("--{long}[")))
                .map(|l| format!("{l}\n"))
                .collect(),
        };
        assert_ne!(
            before, text,
            "clap's {shell} output changed shape; update without_hidden"
        );
    }
    text
}

/// Bash: `_stsexec_complete` reads the words before the cursor the way clap parses them (an
/// option's value is not a positional; the first positional is the account; the next one, or
/// the word after `--`, begins the command) and answers itself for the account and the
/// command, leaving options and their values to clap's `_stsexec`. It is registered without
/// `-o default`, so "nothing to offer" never falls back to the current directory.
fn bash_hook(value_options: &[String]) -> String {
    let value_case = value_options.join("|");
    format!(
        r#"
# Account names (stsexec --list -q) wherever the ACCOUNT may stand, the command and its own
# completions once COMMAND has begun, options and their values from _stsexec above.
_stsexec_complete() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local i word account="" command_at=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${{COMP_WORDS[i]}}"
        if [[ $word == -* && ${{COMP_WORDS[i+1]}} == = ]]; then
            ((i += 2)) # --option=value, split at '=' by COMP_WORDBREAKS
            continue
        fi
        case $word in
            --) command_at=$((i + 1)); break ;;
            {value_case}) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $account ]]; then
                    account=$word
                else
                    command_at=$i
                    break
                fi
                ;;
        esac
    done
    if ((command_at == 0)) && [[ -n $account && $cur != -* ]] && ((i == COMP_CWORD)); then
        command_at=$COMP_CWORD
    fi
    if ((command_at > 0)); then
        if declare -F _command_offset >/dev/null; then
            _command_offset "$command_at"
        elif ((command_at == COMP_CWORD)); then
            COMPREPLY=($(compgen -c -- "$cur" | LC_ALL=C sort -u))
        else
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -- "$cur"))
        fi
        return 0
    fi
    local option="" value="$cur"
    if [[ $cur == = && $prev == -* ]]; then
        option=$prev value="" # --option=<TAB>
    elif [[ $prev == = && ${{COMP_WORDS[COMP_CWORD-2]}} == -* ]]; then
        option=${{COMP_WORDS[COMP_CWORD-2]}}
    elif ((i > COMP_CWORD)); then
        option=$prev # the value of $prev
    fi
    if [[ $option == --role ]]; then
        # The account's named roles ("roles" in the accounts file).
        [[ -n $account ]] &&
            COMPREPLY=($(compgen -W "$(stsexec --role-names "$account" 2>/dev/null)" -- "$value"))
    elif [[ -n $option ]]; then
        _stsexec stsexec "$value" "$option"
    elif [[ $cur == -* ]]; then
        _stsexec stsexec "$cur" ""
    else
        COMPREPLY=($(compgen -W "$(stsexec --list -q 2>/dev/null)" -- "$cur"))
    fi
    return 0
}}
if [[ "${{BASH_VERSINFO[0]}}" -eq 4 && "${{BASH_VERSINFO[1]}}" -ge 4 || "${{BASH_VERSINFO[0]}}" -gt 4 ]]; then
    complete -F _stsexec_complete -o nosort stsexec
else
    complete -F _stsexec_complete stsexec
fi
"#
    )
}

/// Fish: clap's lines hold while the command has not begun; two more complete the account
/// and, after it, the command line as fish would complete it on its own.
fn fish_script(generated: &str, value_options: &[String]) -> String {
    let mut script = FISH_FUNCTIONS.replace(
        "VALUE_OPTIONS",
        &value_options
            .iter()
            .map(|o| format!("'{o}'"))
            .collect::<Vec<_>>()
            .join(" "),
    );
    let clap_lines = generated.replace(
        "complete -c stsexec ",
        "complete -c stsexec -n 'not __stsexec_in_command' ",
    );
    assert!(
        clap_lines.contains("-n 'not __stsexec_in_command' -l"),
        "clap's fish output changed shape; update fish_script"
    );
    let role_line = clap_lines
        .lines()
        .find(|l| l.contains(" -l role "))
        .expect("clap's fish output has --role");
    let clap_lines =
        clap_lines.replacen(role_line, &format!("{role_line} -a '(__stsexec_roles)'"), 1);
    script.push_str(&clap_lines);
    script.push_str(
        "complete -c stsexec -n __stsexec_wants_account -f -a '(stsexec --list -q 2>/dev/null)' -d account\n\
         complete -c stsexec -n __stsexec_in_command -f -a '(__stsexec_complete_command)'\n",
    );
    script
}

const FISH_FUNCTIONS: &str = r#"# Where the word being completed stands: "account", "option", "value" (of the option before
# it) or "command" and the index of the command's first word.
function __stsexec_position
    set -l tokens (commandline -opc)
    set -l account
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case '--'
                printf '%s\n' command (math $i + 1)
                return
            case VALUE_OPTIONS
                if test $i -eq (count $tokens)
                    echo value
                    return
                end
                set i (math $i + 1)
            case '-*'
            case '*'
                if test -z "$account"
                    set account $tokens[$i]
                else
                    printf '%s\n' command $i
                    return
                end
        end
        set i (math $i + 1)
    end
    if string match -q -- '-*' (commandline -ct)
        echo option
    else if test -z "$account"
        echo account
    else
        printf '%s\n' command $i
    end
end

function __stsexec_wants_account
    test (__stsexec_position)[1] = account
end

# The account's named roles ("roles" in the accounts file), for --role.
function __stsexec_roles
    set -l tokens (commandline -opc)
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case '--'
                return
            case VALUE_OPTIONS
                set i (math $i + 1)
            case '-*'
            case '*'
                stsexec --role-names $tokens[$i] 2>/dev/null
                return
        end
        set i (math $i + 1)
    end
end

function __stsexec_in_command
    test (__stsexec_position)[1] = command
end

# The command's words, completed as if they were typed alone.
function __stsexec_complete_command
    set -l start (__stsexec_position)[2]
    set -l before (commandline -opc)
    set -l words
    if test $start -le (count $before)
        set words (string escape -- $before[$start..-1])
    end
    complete -C (string join ' ' -- $words (commandline -ct))
end

"#;

/// Zsh: `_arguments` knows positions and `--`; the hook makes the ACCOUNT a required first
/// argument completed by `_stsexec_accounts` (an optional one let commands be offered in its
/// place), completes the COMMAND as a command line of its own (`*:::` + `_normal`: a command,
/// then its own completions; `_cmdambivalent` offered files), and offers stsexec's options for
/// the first word after the account when it starts with `-`, as clap reads `work --mfa`.
fn zsh_script(generated: &str, cmd: &clap::Command) -> String {
    let account_spec = "entry:_default'";
    let account_start = "\n'::account -- ";
    let command_spec = ":_cmdambivalent'";
    let command_start = "\n'*::command -- ";
    let last_block = "if [ \"$funcstack[1]\" = \"_stsexec\" ]; then";
    assert!(
        [
            account_spec,
            account_start,
            command_spec,
            command_start,
            last_block
        ]
        .iter()
        .all(|s| generated.contains(s)),
        "clap's zsh output changed shape; update zsh_script"
    );
    let options: Vec<String> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !a.is_hide_set())
        .flat_map(|a| {
            let long = a.get_long().map(|l| {
                if a.is_require_equals_set() {
                    format!("--{l}=")
                } else {
                    format!("--{l}")
                }
            });
            a.get_short()
                .map(|s| format!("-{s}"))
                .into_iter()
                .chain(long)
        })
        .collect();
    let hook = ZSH_HOOK.replace("OPTIONS", &options.join(" "));
    let role_spec = ":ROLE:'";
    assert!(
        generated.contains(role_spec),
        "clap's zsh output changed shape; update zsh_script"
    );
    generated
        .replace(role_spec, ":ROLE:_stsexec_roles'")
        .replacen(account_spec, "entry:_stsexec_accounts'", 1)
        .replacen(account_start, "\n':account -- ", 1)
        .replacen(command_spec, ":_stsexec_command'", 1)
        .replacen(command_start, "\n'*:::command -- ", 1)
        .replacen(
            last_block,
            &format!("{}\n{last_block}", hook.trim_start()),
            1,
        )
}

const ZSH_HOOK: &str = r#"
# Account names (stsexec --list -q) for the ACCOUNT argument.
(( $+functions[_stsexec_accounts] )) ||
_stsexec_accounts() {
    local -a accounts
    accounts=(${(f)"$(_call_program accounts stsexec --list -q 2>/dev/null)"})
    _describe -t accounts 'account' accounts
}

# The account's named roles ("roles" in the accounts file), for --role: $line holds the
# arguments before the cursor, the account first.
(( $+functions[_stsexec_roles] )) ||
_stsexec_roles() {
    local -a roles
    [[ -n ${line[1]} ]] || return 1
    roles=(${(f)"$(_call_program roles stsexec --role-names ${(q)line[1]} 2>/dev/null)"})
    _describe -t roles 'role' roles
}

# The command and its own completions; before `--`, the first word after the account may
# still be one of stsexec's options.
(( $+functions[_stsexec_command] )) ||
_stsexec_command() {
    if (( CURRENT == 1 )) && [[ $PREFIX == -* && " ${(z)LBUFFER} " != *' -- '* ]]; then
        compadd -- OPTIONS
        return
    fi
    _normal
}
"#;

/// roff for text: backslashes and hyphens are escaped, a leading dot or quote neutralised.
fn roff(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

fn bold(text: &str) -> String {
    format!("\\fB{}\\fR", roff(text))
}

fn italic(text: &str) -> String {
    format!("\\fI{}\\fR", roff(text))
}

/// `-t CODE`, `--role ROLE`, `--export[=SHELL]`, `--mfa` for one option.
fn option_form(arg: &Arg) -> String {
    let name = arg
        .get_short()
        .map(|s| format!("-{s}"))
        .or_else(|| arg.get_long().map(|l| format!("--{l}")))
        .expect("options have a name");
    let value = takes_value(arg)
        .then(|| arg.get_value_names().and_then(|v| v.first().cloned()))
        .flatten();
    let Some(value) = value else {
        return bold(&name);
    };
    let value = italic(value.as_str());
    let optional = arg.get_num_args().is_some_and(|n| n.min_values() == 0);
    match (arg.is_require_equals_set(), optional) {
        (true, true) => format!("{}[={value}]", bold(&name)),
        (true, false) => format!("{}={value}", bold(&name)),
        _ => format!("{} {value}", bold(&name)),
    }
}

/// The forms of DESIGN §1, from the definition: the first names every option with its value
/// name, once; the others say OPTIONS. The output modes are clap's `output` group; `--server`
/// runs the command as exec mode does; the last form takes none of the session options
/// (clap's `session_options` group).
fn synopsis(cmd: &clap::Command) -> String {
    let is_mode = |a: &Arg| a.get_help_heading() == Some("Modes");
    let output_group: Vec<&str> = cmd
        .get_groups()
        .filter(|g| g.get_id() == "output")
        .flat_map(|g| g.get_args().map(clap::Id::as_str))
        .collect();
    let session: Vec<&str> = cmd
        .get_groups()
        .filter(|g| g.get_id() == "session_options")
        .flat_map(|g| g.get_args().map(clap::Id::as_str))
        .collect();
    let options: Vec<&Arg> = cmd
        .get_arguments()
        .filter(|a| !a.is_positional() && !is_mode(a) && !a.is_hide_set())
        .filter(|a| {
            !matches!(
                a.get_action(),
                ArgAction::Help | ArgAction::HelpLong | ArgAction::Version
            )
        })
        .collect();
    let bracketed = |args: &[&Arg]| {
        args.iter()
            .map(|a| format!("[{}]", option_form(a)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let all = bracketed(&options);
    let general: Vec<&Arg> = options
        .iter()
        .copied()
        .filter(|a| !session.contains(&a.get_id().as_str()))
        .collect();
    let outputs: Vec<String> = cmd
        .get_arguments()
        .filter(|a| output_group.contains(&a.get_id().as_str()))
        .map(option_form)
        .collect();
    let account = italic("ACCOUNT");
    let some = format!("[{}]", italic("OPTIONS"));
    format!(
        ".SH SYNOPSIS\n\
         .B stsexec\n{all} {account} [{dashes} {command} [{args}...]]\n.br\n\
         .B stsexec\n{some} {account} {server} [{dashes} {command} [{args}...]]\n.br\n\
         .B stsexec\n{some} {account} {{{outputs}}}\n.br\n\
         .B stsexec\n{some} {account} {rotate}\n.br\n\
         .B stsexec\n{some} {account} {role_bold} {role_value} {console}\n.br\n\
         .B stsexec\n{list} | {status} | {clear} [{account}] {general}\n\
         .PP\n{some} are those of the first form; {help} describes every option; {list} lists the accounts.\n",
        dashes = bold("--"),
        server = bold("--server"),
        rotate = bold("--rotate"),
        role_bold = bold("--role"),
        role_value = italic("ROLE"),
        console = cmd
            .get_arguments()
            .find(|a| a.get_id() == "console")
            .map(option_form)
            .expect("--console"),
        command = italic("COMMAND"),
        args = italic("ARG"),
        outputs = outputs.join(" | "),
        list = bold("--list"),
        status = bold("--status"),
        clear = bold("--clear"),
        general = bracketed(&general),
        help = bold("stsexec --help"),
    )
}

/// A section of `.TP` entries: (term in roff, text).
fn tagged_section(title: &str, intro: &str, items: &[(String, &str)]) -> String {
    let mut out = if title.contains(' ') {
        format!(".SH \"{title}\"\n")
    } else {
        format!(".SH {title}\n")
    };
    if !intro.is_empty() {
        let _ = writeln!(out, "{}", roff(intro));
    }
    for (term, text) in items {
        let _ = writeln!(out, ".TP\n{term}\n{}", roff(text));
    }
    out
}

fn files_section() -> String {
    let dir = |name: &str| format!("{}{}", bold("~/aws-creds/"), roff(name));
    tagged_section(
        "FILES",
        "The credentials directory is ~/aws-creds unless --creds-dir or STSEXEC_CREDS_DIR names another. Every file is opened without following a symbolic link and must be a regular file owned by you.",
        &[
            (
                format!(
                    "{}{}{}",
                    bold("~/aws-creds/"),
                    italic("account"),
                    bold(".access_key")
                ),
                "The access key id (AKIA...) of the account's IAM user.",
            ),
            (
                format!(
                    "{}{}{}",
                    bold("~/aws-creds/"),
                    italic("account"),
                    bold(".secret_key")
                ),
                "The secret access key; must not be readable by group or others (chmod 600).",
            ),
            (
                format!(
                    "{}{}{}",
                    bold("~/aws-creds/"),
                    italic("account"),
                    bold(".secret_key.age")
                ),
                "Instead of .secret_key: the secret in an age file (age -d reads it), encrypted to a passphrase or to the recipients of the identity files in the account's age_identity or STSEXEC_AGE_IDENTITY; stsexec ACCOUNT --add writes it. Or the accounts file's key_process prints the key.",
            ),
            (
                format!(
                    "{}{}{}",
                    bold("~/aws-creds/"),
                    italic("account"),
                    bold(".user")
                ),
                "Optional: the IAM user name, for the MFA device and the role session name.",
            ),
            (
                dir("accounts.json"),
                "Optional accounts file: each account's ARN prefix (or account id), region, MFA device and named roles (\"roles\": {\"deploy\": {\"arn\": ..., \"external_id\": ..., \"duration\": ..., \"session_name\": ...}}). --config or STSEXEC_CONFIG name another file.",
            ),
            (
                bold("/etc/default/aws-sts-helpers/accounts.json"),
                "The accounts file used when the credentials directory has none.",
            ),
            (
                format!(
                    "{}{}{}",
                    bold("~/aws-creds/.stsexec~"),
                    italic("account"),
                    bold("~...")
                ),
                "Cached sessions (.stsexec~work~session.json, .stsexec~work~role~ACCOUNT-ID~ROLE.json) and the account's lock file; managed by stsexec, removed by --clear. .stsexec~work~rotation.json is the journal of an unfinished --rotate: it holds the new key until the rotation ends; run stsexec work --rotate to finish it.",
            ),
            (
                format!(
                    "{}{}{}",
                    bold("~/aws-creds/.stsexec-mfa~"),
                    italic("hash"),
                    bold("~...")
                ),
                "The record of used MFA codes and the lock of one MFA device, shared by every account configured with it (a code is never sent twice); managed by stsexec.",
            ),
            (
                bold("~/.aws/sso/cache/"),
                "The AWS CLI's IAM Identity Center logins (SHA-1 of the sso_session, or of the start URL, .json), shared with aws sso login and boto3; stsexec --login writes them, owner-only.",
            ),
        ],
    )
}

fn environment_section() -> String {
    let items: Vec<(String, &str)> = [
        ("STSEXEC_CONFIG", "The accounts file (as --config)."),
        ("STSEXEC_CREDS_DIR", "The credentials directory (as --creds-dir)."),
        ("STSEXEC_MIN_TTL", "A cached session is used while it has more than this left (default 5m; from 1s to under 24h)."),
        ("STSEXEC_STS_TIMEOUT", "How long one STS call may take in all, retries included (default 15s; from 100ms to 10m)."),
        ("STSEXEC_AGE_IDENTITY", "Age identity files (separated by :) that open <account>.secret_key.age when the account's entry names no age_identity; --add encrypts to their recipients."),
        ("STSEXEC_LOGIN_TIMEOUT", "How long an IAM Identity Center login waits for the browser or the device approval (default 5m; from 1s to 5m)."),
        ("STSEXEC_ROTATE_WAIT", "How long --rotate waits for a new access key to become valid (default 60s; from 1s to 10m)."),
        ("AWS_ENDPOINT_URL_IAM", "The IAM endpoint for --rotate; else AWS_ENDPOINT_URL; else the partition's global endpoint (https://iam.amazonaws.com)."),
        ("AWS_ENDPOINT_URL_STS", "The STS endpoint, e.g. for a local emulator."),
        ("AWS_ENDPOINT_URL_SSO_OIDC, AWS_ENDPOINT_URL_SSO", "IAM Identity Center's OIDC service and portal for sso_start_url accounts; else AWS_ENDPOINT_URL; else the sso_region's endpoints."),
        ("BROWSER", "The command that opens the IAM Identity Center sign-in page (else xdg-open in a graphical session; else a code to confirm on any device)."),
        ("AWS_ENDPOINT_URL", "The STS endpoint when AWS_ENDPOINT_URL_STS is not set; else the regional endpoint in the account's partition."),
        ("AWS_USE_FIPS_ENDPOINT, AWS_USE_DUALSTACK_ENDPOINT", "true: the FIPS or dual-stack (IPv6) endpoints of STS and IAM, as the SDKs choose them."),
        ("AWS_ENDPOINT_URL_SIGNIN", "The base URL of the console's federation endpoint for --console (<base>/federation); else the partition's sign-in host (https://signin.aws.amazon.com)."),
        ("BROWSER", "The browser --console opens: a colon-separated list of commands, tried in order (%s stands for the URL, else it is the last argument); else xdg-open. It is given a one-shot local address, never the sign-in URL."),
        ("AWS_REGION", "The region when neither --region nor the accounts file gives one."),
        ("AWS_DEFAULT_REGION", "The region when AWS_REGION is not set either; else us-east-1."),
        ("https_proxy, HTTPS_PROXY", "The proxy for https endpoints (CONNECT; TLS end to end); basic auth as http://user:password@host:port, the password never shown."),
        ("http_proxy, HTTP_PROXY, all_proxy, ALL_PROXY", "The proxy for plain-http endpoints; the proxy for both when the specific one is unset."),
        ("no_proxy, NO_PROXY", "Hosts that bypass the proxy: names and their subdomains, IP addresses, CIDR ranges, or *."),
        ("AWS_CA_BUNDLE", "A PEM file of CA certificates trusted beside the platform's (e.g. a proxy that re-signs TLS)."),
        ("SSL_CERT_FILE, SSL_CERT_DIR", "Certificates trusted instead of the platform's."),
        ("SHELL", "The command run when none is given (else /bin/sh)."),
    ]
    .into_iter()
    .map(|(name, text)| (bold(name), text))
    .collect();
    let mut out = tagged_section("ENVIRONMENT", "stsexec reads:", &items);
    out.push_str(
        ".PP\nThe command gets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_SECURITY_TOKEN (the legacy AWS_ACCESS_KEY, AWS_SECRET_KEY and AWS_DELEGATION_TOKEN too), AWS_CREDENTIAL_EXPIRATION, AWS_REGION and AWS_DEFAULT_REGION, AWS_ACCOUNT_ID (the 12\\-digit account the credentials belong to: the role's account for a role, else the one the accounts file gives the account; removed when neither tells it), and STSEXEC_ACCOUNT, a label such as work, work\\-MFA\\-STS or work\\-role\\-admin\\-STS. The token variables and AWS_CREDENTIAL_EXPIRATION are removed for long\\-lived keys; AWS_PROFILE, AWS_DEFAULT_PROFILE and AWS_CREDENTIAL_FILE are always removed. Everything else passes through.\n",
    );
    out
}

fn exit_status_section() -> String {
    tagged_section(
        "EXIT STATUS",
        "",
        &[
            (
                roff("0-255"),
                "Once the command runs, stsexec is the command (execve): its exit status and signals are its own.",
            ),
            (
                bold("125"),
                "stsexec failed: usage, accounts file, keys, STS or the prompt; a sentence on stderr says why.",
            ),
            (
                bold("126"),
                "The command was found but cannot be executed (permissions, a directory).",
            ),
            (bold("127"), "The command was not found."),
            (bold("1"), "--status: the environment holds no AWS keys."),
        ],
    )
}

fn examples_section() -> String {
    let examples: [(&str, &str); 10] = [
        (
            "stsexec work -- aws sts get-caller-identity",
            "Run one command with the account's keys, or its cached MFA session while valid.",
        ),
        (
            "stsexec work --mfa -- terraform plan",
            "Use the MFA session: prompt for a code once, then reuse the cached session.",
        ),
        (
            "stsexec work --mfa --role admin -- make deploy",
            "Assume the role admin from the MFA session.",
        ),
        (
            "stsexec personal",
            "Start $SHELL with the account's credentials; exit returns to the calling shell.",
        ),
        (
            "eval \"$(stsexec work --mfa --export)\"",
            "Put the credentials into the current shell (this puts secrets in your shell).",
        ),
        (
            "eval (stsexec work --mfa --export | string collect)",
            "The same in fish: without a value, --export writes for the shell $SHELL names.",
        ),
        (
            "credential_process = stsexec work --mfa --credential-process",
            "In ~/.aws/config: the AWS CLI and SDKs ask stsexec for credentials.",
        ),
        (
            "stsexec --status",
            "Tell which credentials the current environment holds.",
        ),
        (
            "stsexec work --mfa --role admin --console",
            "Open the AWS console as the role session in the browser, through a one-shot local redirect (the sign-in URL never reaches a command line); --console=print prints it instead.",
        ),
        (
            "stsexec work --rotate",
            "Replace the account's access key (one MFA code): the new key is proven before the old one is deleted.",
        ),
    ];
    let mut out = String::from(".SH EXAMPLES\n");
    for (line, text) in examples {
        let _ = writeln!(
            out,
            ".TP\n.B {}\n{}",
            roff(line).replace('"', "\\(dq"),
            roff(text)
        );
    }
    out
}

/// clap_mangen's title, name, description and options from the definition, stsexec's own
/// synopsis (with the value names) and the sections clap has no field for.
fn man_page() -> Vec<u8> {
    // The checked-in page names the version only: `--version`'s commit (build.rs) changes with
    // every commit.
    let cmd = Cli::command().long_version(None::<&str>);
    let man = clap_mangen::Man::new(cmd.clone());
    // Each render_* call starts with roff's two-line preamble (the \*(Aq string); the page
    // needs it once, before the title.
    let clap_section =
        |render: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>| {
            let mut out = Vec::new();
            render(&man, &mut out).expect("clap_mangen renders");
            let text = String::from_utf8(out).expect("roff is text");
            text.strip_prefix(ROFF_PREAMBLE)
                .unwrap_or(&text)
                .to_string()
        };
    let mut page = String::from(ROFF_PREAMBLE);
    page += &clap_section(clap_mangen::Man::render_title);
    // Variable and file names are not to be hyphenated.
    page += ".nh\n";
    page += &clap_section(clap_mangen::Man::render_name_section);
    page += &synopsis(&cmd);
    page += &clap_section(clap_mangen::Man::render_description_section);
    page += &clap_section(clap_mangen::Man::render_options_section);
    page += &files_section();
    page += &environment_section();
    page += &exit_status_section();
    page += &examples_section();
    page += &clap_section(clap_mangen::Man::render_version_section);
    assert!(
        !page[ROFF_PREAMBLE.len()..].contains(".ds Aq"),
        "clap_mangen's preamble changed; update man_page"
    );
    page.into_bytes()
}

const ROFF_PREAMBLE: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";

fn rendered() -> Vec<(&'static str, Vec<u8>)> {
    let mut files: Vec<(&'static str, Vec<u8>)> = [
        (Shell::Bash, "completions/stsexec.bash"),
        (Shell::Zsh, "completions/_stsexec"),
        (Shell::Fish, "completions/stsexec.fish"),
    ]
    .into_iter()
    .map(|(shell, path)| (path, completion_script(shell).into_bytes()))
    .collect();
    files.push(("man/stsexec.1", man_page()));
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

/// The man page names every option, has the sections of DESIGN §7 and a synopsis with value
/// names, and renders without a warning.
#[test]
fn man_page_has_the_sections_and_renders_cleanly() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("man/stsexec.1");
    let man = std::fs::read_to_string(&path).unwrap();
    for option in Cli::command()
        .get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(Arg::get_long)
    {
        assert!(
            man.contains(&option.replace('-', "\\-")),
            "--{option} missing from the man page"
        );
    }
    for section in [
        ".SH NAME",
        ".SH SYNOPSIS",
        ".SH DESCRIPTION",
        ".SH OPTIONS",
        ".SH FILES",
        ".SH ENVIRONMENT",
        ".SH \"EXIT STATUS\"",
        ".SH EXAMPLES",
    ] {
        assert!(man.contains(section), "{section} missing");
    }
    assert!(!man.contains("EXTRA"), "examples belong under EXAMPLES");
    let synopsis = &man[man.find(".SH SYNOPSIS").unwrap()..man.find(".SH DESCRIPTION").unwrap()];
    // Issue 19: the option list once, not in every form.
    assert_eq!(
        synopsis
            .matches("[\\fB\\-\\-role\\fR \\fIROLE\\fR]")
            .count(),
        1,
        "{synopsis}"
    );
    for form in [
        "[\\fB\\-t\\fR \\fICODE\\fR]",
        "[\\fB\\-\\-role\\fR \\fIROLE\\fR]",
        "\\fB\\-\\-export\\fR[=\\fISHELL\\fR]",
        "\\fB\\-\\-role\\fR \\fIROLE\\fR \\fB\\-\\-console\\fR[=\\fIHOW\\fR]",
        "[\\fB\\-\\-\\fR \\fICOMMAND\\fR",
        "\\fB\\-\\-list\\fR | \\fB\\-\\-status\\fR | \\fB\\-\\-clear\\fR [\\fIACCOUNT\\fR]",
    ] {
        assert!(synopsis.contains(form), "synopsis lacks {form}: {synopsis}");
    }
    for needle in [
        "STSEXEC_MIN_TTL",
        "STSEXEC_STS_TIMEOUT",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_SIGNIN",
        "SSL_CERT_FILE",
        "AWS_CA_BUNDLE",
        "NO_PROXY",
        "accounts.json",
        "/etc/default/aws\\-sts\\-helpers/accounts.json",
        ".secret_key",
        "\\fB125\\fR",
        "\\fB126\\fR",
        "\\fB127\\fR",
        "AWS_ACCOUNT_ID",
    ] {
        assert!(man.contains(needle), "{needle} missing");
    }
    // groff with every warning on: what man(1) shows, and nothing on stderr.
    let out = std::process::Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .arg(&path)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .expect("groff runs (groff-base)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "groff: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
