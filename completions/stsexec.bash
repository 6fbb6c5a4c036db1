_stsexec() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="stsexec"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        stsexec)
            opts="-t -d -q -v -h -V --json --export --credential-process --list --status --clear --server --mfa --refresh --no-session --web-identity --audience --rotate --add --store --from-profile --offline --login --no-browser --console --console-destination --token --mfa-process --mfa-prompt --role --duration --session-name --external-id --region --config --creds-dir --quiet --verbose --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --export)
                    COMPREPLY=($(compgen -W "sh bash zsh fish" -- "${cur}"))
                    return 0
                    ;;
                --web-identity)
                    local oldifs
                    if [ -n "${IFS+x}" ]; then
                        oldifs="$IFS"
                    fi
                    IFS=$'\n'
                    COMPREPLY=($(compgen -f "${cur}"))
                    if [ -n "${oldifs+x}" ]; then
                        IFS="$oldifs"
                    fi
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o filenames
                    fi
                    return 0
                    ;;
                --audience)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --store)
                    COMPREPLY=($(compgen -W "age plain" -- "${cur}"))
                    return 0
                    ;;
                --from-profile)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --console)
                    COMPREPLY=($(compgen -W "open print" -- "${cur}"))
                    return 0
                    ;;
                --console-destination)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --token)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                -t)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --mfa-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --role)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --duration)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                -d)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --session-name)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --external-id)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --region)
                    COMPREPLY=("${cur}")
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o nospace
                    fi
                    return 0
                    ;;
                --config)
                    local oldifs
                    if [ -n "${IFS+x}" ]; then
                        oldifs="$IFS"
                    fi
                    IFS=$'\n'
                    COMPREPLY=($(compgen -f "${cur}"))
                    if [ -n "${oldifs+x}" ]; then
                        IFS="$oldifs"
                    fi
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o filenames
                    fi
                    return 0
                    ;;
                --creds-dir)
                    COMPREPLY=()
                    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
                        compopt -o plusdirs
                    fi
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _stsexec -o nosort -o bashdefault -o default stsexec
else
    complete -F _stsexec -o bashdefault -o default stsexec
fi

# Account names (stsexec --list -q) wherever the ACCOUNT may stand, the command and its own
# completions once COMMAND has begun, options and their values from _stsexec above.
_stsexec_complete() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
    local i word account="" command_at=0
    for ((i = 1; i < COMP_CWORD; i++)); do
        word="${COMP_WORDS[i]}"
        if [[ $word == -* && ${COMP_WORDS[i+1]} == = ]]; then
            ((i += 2)) # --option=value, split at '=' by COMP_WORDBREAKS
            continue
        fi
        case $word in
            --) command_at=$((i + 1)); break ;;
            --audience|--store|--from-profile|--console-destination|-t|--token|--mfa-process|--role|-d|--duration|--session-name|--external-id|--region|--config|--creds-dir) ((i++)) ;;
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
    elif [[ $prev == = && ${COMP_WORDS[COMP_CWORD-2]} == -* ]]; then
        option=${COMP_WORDS[COMP_CWORD-2]}
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
}
if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _stsexec_complete -o nosort stsexec
else
    complete -F _stsexec_complete stsexec
fi
