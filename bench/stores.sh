#!/usr/bin/env bash
# The key stores of DESIGN §13 side by side, interleaved (one run of each command per round):
#   bench/stores.sh [--rounds N]
# BIN=path skips the build; VENV=dir uses that virtualenv's moto (default: bench/.venv, made as
# bench/hot_ab.sh makes it); KEEP=1 keeps the temp HOME (its path is printed) to look into.
# One HOME holds the same key five ways, one account each:
#   plain    <account>.secret_key
#   age-x    <account>.secret_key.age to an X25519 recipient (age-keygen; `age_identity`)
#   age-pw   <account>.secret_key.age to a passphrase (made by `age -p`: scrypt, N = 2^18)
#   kp-cat   key_process: `cat` of a process-credential JSON file
#   kp-pass  key_process: `pass show` (gpg with a throwaway key, no passphrase)
# and prints four tables:
#   1. a cold run, `--refresh --role bench`: the store plus AssumeRole against moto on loopback;
#   2. the long-lived key alone, `--no-session` (no STS call): what reading each store costs;
#   3. the cache hit `-q <account> -- /bin/true` per store beside `env A=B /bin/true`: a hit reads
#      no secret, so every store should cost what plain does;
#   4. the passphrase store on a pseudo-terminal (`--no-session`, the passphrase typed when
#      asked) beside plain on the same terminal driver: scrypt is that difference.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${ROUNDS:-1000}
[ "${1:-}" = "--rounds" ] && { rounds=$2; shift 2; }
log() { echo "stores: $*" >&2; }

missing=()
for tool in age age-keygen pass gpg cc python3 curl; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing age, pass, gnupg, gcc, curl from Debian's packages (missing: ${missing[*]})"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -qq age pass gnupg gcc curl python3-venv >/dev/null
fi

host=$(rustc -vV | sed -n 's/^host: //p')
if [ -z "${BIN:-}" ]; then
  log "building the release binary for $host"
  RUSTFLAGS="${RUSTFLAGS:-} $(scripts/static-rustflags.sh "$host")" \
    cargo build --release --locked --quiet --target "$host"
  BIN=$root/target/$host/release/stsexec
fi
bin=$(realpath "$BIN")
. bench/common.sh
whole_in_page_cache "$bin"
venv=$(bench_venv)

work=$(mktemp -d)
moto_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null || true
  GNUPGHOME=$work/home/.gnupg gpgconf --kill gpg-agent 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
if [ -n "${KEEP:-}" ]; then trap - EXIT; echo "work: $work (gpg-agent left running for it)" >&2; fi
cc -O2 -o "$work/abtimer" bench/abtimer.c

home=$work/home
creds=$home/aws-creds
mkdir -p "$creds"
chmod 700 "$home" "$creds"
key_id=AKIAIOSFODNN7EXAMPLE
secret='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
passphrase='correct horse battery staple'
export HOME=$home USER=jb AWS_DEFAULT_REGION=us-east-1 PATH=/usr/bin:/bin
export GNUPGHOME=$home/.gnupg PASSWORD_STORE_DIR=$home/.password-store
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CA_BUNDLE \
  STSEXEC_CONFIG STSEXEC_CREDS_DIR STSEXEC_AGE_IDENTITY

accounts=(plain age-x age-pw kp-cat kp-pass)
for a in "${accounts[@]}"; do echo "$key_id" > "$creds/$a.access_key"; done
(umask 077
 printf '%s\n' "$secret" > "$creds/plain.secret_key"
 age-keygen -o "$home/age-identity.txt" 2>/dev/null
 printf '%s\n' "$secret" | age -r "$(age-keygen -y "$home/age-identity.txt")" \
   -o "$creds/age-x.secret_key.age"
 printf '%s\n' "$secret" > "$work/plain-secret"
 printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' "$key_id" "$secret" \
   > "$home/kp.json"
 mkdir -p "$GNUPGHOME"
 gpg --batch --passphrase '' --quick-gen-key 'stsexec bench <bench@example.invalid>' \
   default default never 2>/dev/null
 pass init bench@example.invalid >/dev/null
 printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s"}\n' "$key_id" "$secret" \
   | pass insert -m -f aws/bench >/dev/null)

# `age -p` reads the passphrase from the terminal only: typed on a pseudo-terminal.
pty() { python3 tests/integration/support/pty_driver.py "$1"; }
spec=$(python3 -c 'import json, sys; print(json.dumps({"argv": sys.argv[2:], "timeout": 60,
  "steps": [["Enter passphrase", sys.argv[1] + "\r"], ["Confirm passphrase", sys.argv[1] + "\r"]]}))' \
  "$passphrase" age -p -o "$creds/age-pw.secret_key.age" "$work/plain-secret")
pty "$spec" >/dev/null
rm -f "$work/plain-secret"
[ -s "$creds/age-pw.secret_key.age" ] || { log "age -p made no file"; exit 1; }
chmod 600 "$creds"/*.age

arn='arn:aws:iam::123456789012:'
cat > "$creds/accounts.json" <<EOF
{
  "plain": "$arn",
  "age-x": {"arn": "$arn", "age_identity": "$home/age-identity.txt"},
  "age-pw": "$arn",
  "kp-cat": {"arn": "$arn", "key_process": "cat $home/kp.json"},
  "kp-pass": {"arn": "$arn", "key_process": "pass show aws/bench"}
}
EOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_moto() {
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
  moto_pid=$!
  for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null && return; sleep 0.05; done
  log "moto did not start on port $port"; exit 1
}
stop_moto() { kill "$moto_pid"; wait "$moto_pid" 2>/dev/null || true; moto_pid=; }
export AWS_ENDPOINT_URL_STS=http://127.0.0.1:$port

# The passphrase account's run on a pseudo-terminal, typing the passphrase when asked.
typed() {
  python3 -c 'import json, sys; print(json.dumps({"argv": sys.argv[2:], "timeout": 60,
    "steps": [["Passphrase for", sys.argv[1] + "\r"]]}))' "$passphrase" "$@"
}

slow=$(( rounds / 10 > 20 ? rounds / 10 : 20 ))
start_moto
echo "1. cold: the store read and AssumeRole from moto on loopback, --refresh --role ($slow rounds, interleaved)"
# No MFA session is cached yet, so the role is assumed with the long-lived key: each run reads
# its store, as the day's first run with --mfa does before GetSessionToken.
cmds=()
for a in plain age-x kp-cat kp-pass; do
  [ ${#cmds[@]} -gt 0 ] && cmds+=(";")
  cmds+=("$bin" -q "$a" --refresh --role bench -- /bin/true)
done
"$work/abtimer" "$slow" -- "${cmds[@]}"

echo
echo "2. the long-lived key alone, --no-session, no STS call ($slow rounds, interleaved)"
cmds=(/usr/bin/env A=B /bin/true)
for a in plain age-x kp-cat kp-pass; do cmds+=(";" "$bin" -q "$a" --no-session -- /bin/true); done
"$work/abtimer" "$slow" -- "${cmds[@]}"

# An MFA session cached for each account (moto takes any code; each is used once, as stsexec
# insists). The passphrase account is asked on a pseudo-terminal.
code=200000
for a in "${accounts[@]}"; do
  code=$((code + 1))
  if [ "$a" = age-pw ]; then
    out=$(pty "$(typed "$bin" -q "$a" -t "$code" -- /bin/true)")
    python3 -c 'import json, sys; r = json.load(sys.stdin); sys.exit(r["returncode"])' <<<"$out" \
      || { log "the first run of $a failed: $out"; exit 1; }
  else
    "$bin" -q "$a" -t "$code" -- /bin/true
  fi
done
# A hit from here on: STS is gone, so a run that needed it would fail.
stop_moto

echo
echo "3. cache hit, per store ($rounds rounds, interleaved)"
cmds=(/usr/bin/env A=B /bin/true)
for a in "${accounts[@]}"; do cmds+=(";" "$bin" -q "$a" -- /bin/true); done
"$work/abtimer" "$rounds" -- "${cmds[@]}"

pw_rounds=$(( slow / 4 > 5 ? slow / 4 : 5 ))
echo
echo "4. the passphrase on a pseudo-terminal, --no-session ($pw_rounds rounds, interleaved)"
plain_spec=$(typed "$bin" -q plain --no-session -- /bin/true)
pw_spec=$(typed "$bin" -q age-pw --no-session -- /bin/true)
python3 - "$pw_rounds" "$plain_spec" "$pw_spec" <<'EOF'
import json, statistics, subprocess, sys, time
rounds, specs = int(sys.argv[1]), {"plain": sys.argv[2], "age-pw": sys.argv[3]}
times = {name: [] for name in specs}
for _ in range(rounds):
    for name, spec in specs.items():
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "tests/integration/support/pty_driver.py", spec],
                             capture_output=True, text=True, check=True).stdout
        times[name].append((time.perf_counter() - t) * 1000)
        result = json.loads(out)
        if result["returncode"] != 0:
            sys.exit(f"{name} failed on the terminal: {result['output']!r}")
print(f"{'account':<10} {'median ms':>10} {'p10':>8} {'p90':>8}")
for name, ts in times.items():
    ts.sort()
    print(f"{name:<10} {statistics.median(ts):>10.1f} {ts[len(ts) // 10]:>8.1f} "
          f"{ts[(len(ts) * 9) // 10]:>8.1f}")
print("(each run includes the pseudo-terminal driver's own start, the same for both)")
EOF
