# Where the word being completed stands: "account", "option", "value" (of the option before
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
            case '--audience' '--store' '--from-profile' '--console-destination' '-t' '--token' '--mfa-process' '--role' '-d' '--duration' '--session-name' '--external-id' '--region' '--config' '--creds-dir'
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
            case '--audience' '--store' '--from-profile' '--console-destination' '-t' '--token' '--mfa-process' '--role' '-d' '--duration' '--session-name' '--external-id' '--region' '--config' '--creds-dir'
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

complete -c stsexec -n 'not __stsexec_in_command' -l export -d 'Print shell statements that set the credentials' -r -f -a "sh\t''
bash\t''
zsh\t''
fish\t''"
complete -c stsexec -n 'not __stsexec_in_command' -l web-identity -d 'With --role: AssumeRoleWithWebIdentity with the CI\'s OIDC token, no key files. Token from FILE, else $AWS_WEB_IDENTITY_TOKEN_FILE, else GitHub Actions\' token request (needs `permissions: id-token: write`)' -r -F
complete -c stsexec -n 'not __stsexec_in_command' -l audience -d 'The audience of the token GitHub Actions makes for --web-identity [default: sts.amazonaws.com]' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l store -d 'Where --add keeps the secret: age (<account>.secret_key.age, encrypted to a passphrase or to STSEXEC_AGE_IDENTITY\'s recipients) or plain (<account>.secret_key)' -r -f -a "age\t''
plain\t''"
complete -c stsexec -n 'not __stsexec_in_command' -l from-profile -d 'With --add: take the pair from this profile of ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE)' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l console -d 'Open the AWS console as the role session (with --role)' -r -f -a "open\t''
print\t''"
complete -c stsexec -n 'not __stsexec_in_command' -l console-destination -d 'The console page --console lands on [default: the console home of the region]' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -s t -l token -d 'The MFA code (6 digits; spaces are ignored) instead of a prompt; implies --mfa. Other local users can see it in ps: prefer the prompt or mfa_process' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l mfa-process -d 'Get the MFA code from a command (run with /bin/sh -c; it prints the 6 digits) instead of the prompt; implies --mfa' -r -f -a "(__fish_complete_command)"
complete -c stsexec -n 'not __stsexec_in_command' -l role -d 'Assume a role: a name or a role ARN' -r -f -a '(__stsexec_roles)'
complete -c stsexec -n 'not __stsexec_in_command' -s d -l duration -d 'Session lifetime, e.g. 90m or 12h' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l session-name -d 'AssumeRole session name (default: <user>-stsexec)' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l external-id -d 'AssumeRole external id. Other local users can see it in ps: a named role in the accounts file can carry it instead' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l region -d 'Region for the command and for STS (default: the account\'s, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1)' -r -f
complete -c stsexec -n 'not __stsexec_in_command' -l config -d 'Accounts file [default: <creds-dir>/accounts.json, then /etc/default/aws-sts-helpers/accounts.json]' -r -F
complete -c stsexec -n 'not __stsexec_in_command' -l creds-dir -d 'Credentials directory [default: ~/aws-creds]' -r -f -a "(__fish_complete_directories)"
complete -c stsexec -n 'not __stsexec_in_command' -l json -d 'Print the credentials as JSON (access_key, expiration, secret_key, session_token) instead of running a command'
complete -c stsexec -n 'not __stsexec_in_command' -l credential-process -d 'Print the AWS CLI\'s credential_process JSON instead of running a command'
complete -c stsexec -n 'not __stsexec_in_command' -l list -d 'List accounts, keys and cached sessions'
complete -c stsexec -n 'not __stsexec_in_command' -l status -d 'Tell which credentials the environment holds'
complete -c stsexec -n 'not __stsexec_in_command' -l clear -d 'Forget the cached sessions of ACCOUNT (of all accounts without one)'
complete -c stsexec -n 'not __stsexec_in_command' -l server -d 'Run COMMAND and renew its credentials while it runs'
complete -c stsexec -n 'not __stsexec_in_command' -l mfa -d 'Use the MFA session (a code is asked when needed)'
complete -c stsexec -n 'not __stsexec_in_command' -l refresh -d 'Fetch a new session even if the cached one is valid (the cache is then updated)'
complete -c stsexec -n 'not __stsexec_in_command' -l no-session -d 'Use the long-lived keys even if an MFA session is cached'
complete -c stsexec -n 'not __stsexec_in_command' -l rotate -d 'Replace the account\'s access key: create a new one, prove it works, write it to the key files, delete the old one (signed with the MFA session; with --no-session, with the keys)'
complete -c stsexec -n 'not __stsexec_in_command' -l add -d 'Set up or convert ACCOUNT\'s keys: take the pair from its plain files, --from-profile or the terminal, store the secret (--store), prove it with GetCallerIdentity, read it back, then remove the plain secret file'
complete -c stsexec -n 'not __stsexec_in_command' -l offline -d 'With --add: do not prove the key with GetCallerIdentity (no network)'
complete -c stsexec -n 'not __stsexec_in_command' -l login -d 'Sign in to IAM Identity Center for ACCOUNT (an sso_start_url entry) and keep the login in the AWS CLI\'s cache: a browser tab, or with --no-browser a code to confirm on any device'
complete -c stsexec -n 'not __stsexec_in_command' -l no-browser -d 'Sign in to IAM Identity Center with a URL and a code to confirm on any device (the device-code flow), not a browser on this machine'
complete -c stsexec -n 'not __stsexec_in_command' -l mfa-prompt -d 'Ask for the MFA code on the terminal even when the account has an mfa_process (say, the YubiKey is elsewhere); implies --mfa'
complete -c stsexec -n 'not __stsexec_in_command' -s q -l quiet -d 'No status lines'
complete -c stsexec -n 'not __stsexec_in_command' -s v -l verbose -d 'Debug lines: decisions, file names and masked key ids (never secrets)'
complete -c stsexec -n 'not __stsexec_in_command' -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stsexec -n 'not __stsexec_in_command' -s V -l version -d 'Print version'
complete -c stsexec -n __stsexec_wants_account -f -a '(stsexec --list -q 2>/dev/null)' -d account
complete -c stsexec -n __stsexec_in_command -f -a '(__stsexec_complete_command)'
