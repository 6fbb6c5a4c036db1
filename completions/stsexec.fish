complete -c stsexec -l export -d 'Print shell statements that set the credentials (sh, bash, zsh or fish) instead of running a command; this puts secrets in your shell' -r -f -a "sh\t''
fish\t''"
complete -c stsexec -s t -l token -d 'The MFA code (6 digits; spaces are ignored) instead of a prompt; implies --mfa. Other local users can see it in ps: prefer the prompt or mfa_process' -r
complete -c stsexec -l mfa-process -d 'Get the MFA code from a command (run with /bin/sh -c; it prints the 6 digits) instead of the prompt; implies --mfa' -r -f -a "(__fish_complete_command)"
complete -c stsexec -l role -d 'Assume <prefix>role/ROLE (a full role ARN is accepted too)' -r -f
complete -c stsexec -s d -l duration -d 'Session lifetime, e.g. 90m or 12h. GetSessionToken: 15m-36h (default 12h); AssumeRole: 15m-12h (default 1h, at most 1h from an MFA session)' -r -f
complete -c stsexec -l session-name -d 'AssumeRole session name (default: <user>-stsexec)' -r -f
complete -c stsexec -l external-id -d 'AssumeRole external id' -r -f
complete -c stsexec -l region -d 'Region for the command and for STS (default: the account\'s, else AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1)' -r -f
complete -c stsexec -l config -d 'Accounts file [default: <creds-dir>/accounts.json, then /etc/default/aws-sts-helpers/accounts.json]' -r -F
complete -c stsexec -l creds-dir -d 'Credentials directory [default: ~/aws-creds]' -r -f -a "(__fish_complete_directories)"
complete -c stsexec -l json -d 'Print the credentials as JSON (access_key, expiration, secret_key, session_token) instead of running a command'
complete -c stsexec -l credential-process -d 'Print the AWS CLI\'s credential_process JSON instead of running a command'
complete -c stsexec -l list -d 'List accounts, their keys and cached sessions (with -q: account names only)'
complete -c stsexec -l status -d 'Tell which credentials the current environment holds; exit 1 when none'
complete -c stsexec -l clear -d 'Forget the cached sessions of ACCOUNT (of all accounts without one)'
complete -c stsexec -l server -d 'Run COMMAND as a child and serve it credentials on 127.0.0.1 (the ECS container-credentials protocol), renewed before they expire, until it ends'
complete -c stsexec -l mfa -d 'Use the account\'s MFA session: the cached one while valid, else prompt for a code and call GetSessionToken'
complete -c stsexec -l refresh -d 'Fetch a new session even if the cached one is valid (the cache is then updated)'
complete -c stsexec -l no-session -d 'Use the long-lived keys even if an MFA session is cached'
complete -c stsexec -s q -l quiet -d 'No status lines'
complete -c stsexec -s v -l verbose -d 'Debug lines: decisions, file names and masked key ids (never secrets)'
complete -c stsexec -s h -l help -d 'Print help (see more with \'--help\')'
complete -c stsexec -s V -l version -d 'Print version'

# Account names (stsexec --list -q) for the first argument.
complete -c stsexec -n __fish_is_first_arg -f -a '(stsexec --list -q 2>/dev/null)' -d account
