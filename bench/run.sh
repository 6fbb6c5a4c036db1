#!/usr/bin/env bash
# Whole-process benchmarks of stsexec beside the floor and its peers, in one run:
#   bench/run.sh [--runs N]
# Installs what it needs (hyperfine from Debian's packages; moto, awscli,
# aws-export-credentials and awsume into bench/.venv), builds the release binary, starts moto
# on loopback, prepares a temp HOME, prints one table and stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${RUNS:-300}            # runs of each fast scenario; the Python peers get a tenth
[ "${1:-}" = "--runs" ] && runs=$2
slow_runs=$(( runs / 10 > 5 ? runs / 10 : 5 ))

log() { echo "bench: $*" >&2; }

# --- tools -------------------------------------------------------------------------------
if ! command -v hyperfine >/dev/null; then
  log "installing hyperfine from Debian's packages"
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -qq hyperfine curl >/dev/null
fi
venv=bench/.venv
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
  log "installing moto, awscli, aws-export-credentials and awsume into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$venv/.requirements.sha256"
fi
venv=$root/$venv

# The binary scripts/install.sh installs: release profile, static on glibc Linux
# (scripts/static-rustflags.sh).
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} $(scripts/static-rustflags.sh "$host")"
export RUSTFLAGS
log "building the release binary for $host"
build_start=$(date +%s.%N)
cargo build --release --locked --quiet --target "$host"
build_secs=$(echo "$(date +%s.%N) - $build_start" | bc)
unset RUSTFLAGS
bin=$root/target/$host/release/stsexec

# --- a temp HOME and moto --------------------------------------------------------------------
work=$(mktemp -d)
moto_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null && break; sleep 0.05; done
sts=http://127.0.0.1:$port

home=$work/home
mkdir -p "$home/aws-creds" "$home/.aws"
chmod 700 "$home/aws-creds"
echo AKIAIOSFODNN7EXAMPLE > "$home/aws-creds/work.access_key"
(umask 077; echo 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' > "$home/aws-creds/work.secret_key")
echo '{"work": "arn:aws:iam::123456789012:"}' > "$home/aws-creds/accounts.json"
cp -r "$home/aws-creds" "$home/aws-creds-cold"
cat > "$home/.aws/credentials" <<EOF
[work]
aws_access_key_id = AKIAIOSFODNN7EXAMPLE
aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
EOF
cat > "$home/.aws/config" <<EOF
[profile work]
region = us-east-1
[profile admin]
role_arn = arn:aws:iam::123456789012:role/admin
source_profile = work
region = us-east-1
EOF
export HOME=$home USER=jb AWS_ENDPOINT_URL_STS=$sts AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CA_BUNDLE

# Warm every cache the cached scenarios use.
"$bin" -q work -t 123456 --role admin -- true
# aws-export-credentials 0.18.0 crashes on its cached path with --exec (it reads an unset
# `session`) and on static keys without --ensure-temporary (a botocore Credentials change), so
# its cached session is measured with --json, and --exec on its STS path.
"$venv/bin/aws-export-credentials" --profile work --ensure-temporary --cache-file "$work/aec-cache" --json >/dev/null

sts_body='Action=GetSessionToken&Version=2011-06-15&SerialNumber=arn%3Aaws%3Aiam%3A%3A123456789012%3Amfa%2Fjb&TokenCode=123456'
results=$work/results
mkdir -p "$results"

bench() { # name, command...
  local name=$1; shift
  log "  $name"
  hyperfine --shell=none --warmup 20 --runs "$runs" --style none --export-json "$results/$name.json" "$@" >/dev/null
}
bench_slow() { # name, command...
  local name=$1; shift
  log "  $name"
  hyperfine --shell=none --warmup 2 --runs "$slow_runs" --style none --export-json "$results/$name.json" "$@" >/dev/null
}
# STS scenarios send the same -t code each run; stsexec never sends a code twice within 90 s
# (DESIGN §9), so the used-code record (one per MFA device, `.stsexec-mfa~<hash>~codes.json`)
# is removed before each (untimed) run.
ledger="sh -c 'rm -f $home/aws-creds/.stsexec-mfa~*~codes.json'"
bench_sts() { # name, command...
  local name=$1; shift
  log "  $name"
  hyperfine --shell=none --warmup 20 --runs "$runs" --style none --prepare "$ledger" \
    --export-json "$results/$name.json" "$@" >/dev/null
}
bench_shell() { # name, prepare, command (through sh)
  local name=$1 prepare=$2 cmd=$3
  log "  $name"
  hyperfine --warmup 3 --runs "$(( runs / 3 > 5 ? runs / 3 : 5 ))" --style none --prepare "$prepare" \
    --export-json "$results/$name.json" "$cmd" >/dev/null
}

log "measuring ($runs runs per fast scenario, $slow_runs per Python peer)"
bench floor-true /bin/true
bench floor-env '/usr/bin/env A=B /bin/true'
bench hit-session "$bin -q work -- /bin/true"
bench hit-keys "$bin -q work --no-session -- /bin/true"
bench hit-role "$bin -q work --role admin -- /bin/true"
bench_slow aec-cached "$venv/bin/aws-export-credentials --profile work --ensure-temporary --cache-file $work/aec-cache --json"
bench_slow awsume-keys "$venv/bin/awsumepy work"
bench moto-roundtrip "curl -s -o /dev/null -X POST -H Content-Type:application/x-www-form-urlencoded --data $sts_body $sts/"
bench_sts sts-session "$bin -q work -t 123456 --refresh -- /bin/true"
bench_sts sts-role "$bin -q work -t 123456 --role admin --refresh -- /bin/true"
# --server: what starting the server adds to a run, what an answer costs, what idling costs.
bench serve-start "$bin -q work --mfa --server -- /bin/true"
"$bin" -q work --mfa --server -- "$venv/bin/python" - > "$results/serve-requests.txt" <<'PY'
import http.client, os, time, urllib.parse
url = urllib.parse.urlsplit(os.environ["AWS_CONTAINER_CREDENTIALS_FULL_URI"])
headers = {"Authorization": os.environ["AWS_CONTAINER_AUTHORIZATION_TOKEN"]}
conn = http.client.HTTPConnection(url.hostname, url.port)
times = []
for i in range(2200):
    start = time.perf_counter()
    conn.request("GET", url.path, headers=headers)
    conn.getresponse().read()
    if i >= 200:
        times.append((time.perf_counter() - start) * 1e6)
times.sort()
print(f"{times[len(times) // 2]:.0f} {times[len(times) * 99 // 100]:.0f}")
PY
idle_cpu=$( { /usr/bin/time -f "%U %S" "$bin" -q work --mfa --server -- sleep 5 ; } 2>&1 | tail -1 )
bench_slow aec-sts "$venv/bin/aws-export-credentials --profile work --ensure-temporary --exec true"
bench_slow awsume-role "$venv/bin/awsumepy admin"
bench_slow awscli-session "$venv/bin/aws sts get-session-token --serial-number arn:aws:iam::123456789012:mfa/jb --token-code 123456 --profile work"
bench_shell parallel-floor "true" "for i in \$(seq 32); do /bin/true & done; wait"
bench_shell warm-32 "true" "for i in \$(seq 32); do $bin -q work --mfa -- /bin/true & done; wait"
export STSEXEC_CREDS_DIR=$home/aws-creds-cold
# What the parallel scenario measures must be what it claims: 32 successes, one STS call.
tokens() { curl -fs "$sts/moto-api/data.json" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["sts"]["Token"]))'; }
"$bin" -q --clear work >/dev/null
rm -f "$STSEXEC_CREDS_DIR"/.stsexec-mfa~*~codes.json
before=$(tokens); pids=()
for i in $(seq 32); do "$bin" -q work -t 123456 --mfa -- /bin/true & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || { log "a parallel run failed"; exit 1; }; done
[ "$(( $(tokens) - before ))" -eq 1 ] || { log "32 parallel cold runs did not make exactly one STS call"; exit 1; }
cold_prepare="$bin -q --clear work; rm -f $STSEXEC_CREDS_DIR/.stsexec-mfa~*~codes.json"
bench_shell cold-1 "$cold_prepare" "$bin -q work -t 123456 --mfa -- /bin/true"
bench_shell cold-32 "$cold_prepare" "for i in \$(seq 32); do $bin -q work -t 123456 --mfa -- /bin/true & done; wait"
unset STSEXEC_CREDS_DIR

size=$(stat -c %s "$bin")

# --- the table ---------------------------------------------------------------------------------
python3 - "$results" "$size" "$build_secs" "$idle_cpu" <<'EOF'
import json, os, sys
results, size, build = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
idle_user, idle_sys = (float(x) for x in sys.argv[4].split())
def mean(name):
    path = os.path.join(results, name + ".json")
    if not os.path.exists(path):
        return None
    r = json.load(open(path))["results"][0]
    return r["mean"] * 1000, r["stddev"] * 1000
floor = mean("floor-env")[0]
moto = mean("moto-roundtrip")[0]
rows = [
    ("floor", "/bin/true", "floor-true", None),
    ("floor", "/usr/bin/env A=B /bin/true", "floor-env", None),
    ("cache hit", "stsexec work -- true (cached MFA session)", "hit-session", "<= 1.2x floor"),
    ("cache hit", "stsexec work --no-session -- true (long-lived keys)", "hit-keys", "<= 1.2x floor"),
    ("cache hit", "stsexec work --role admin -- true (cached role)", "hit-role", "<= 1.2x floor"),
    ("cache hit", "aws-export-credentials --json (cached session)", "aec-cached", None),
    ("cache hit", "awsumepy work (long-lived keys)", "awsume-keys", None),
    ("STS", "curl GetSessionToken -> moto (raw round trip)", "moto-roundtrip", None),
    ("STS", "stsexec work -t CODE --refresh -- true (GetSessionToken)", "sts-session", "<= moto + 10 ms"),
    ("STS", "stsexec work -t CODE --role admin --refresh -- true (AssumeRole)", "sts-role", "<= moto + 10 ms"),
    ("STS", "aws-export-credentials --ensure-temporary --exec true", "aec-sts", None),
    ("STS", "awsumepy admin (AssumeRole; awsume caches only MFA sessions)", "awsume-role", None),
    ("STS", "aws sts get-session-token (awscli v1)", "awscli-session", None),
    ("server", "stsexec work --mfa --server -- true (start, serve, end)", "serve-start", "a few ms over the cache hit"),
    ("parallel", "32 x /bin/true at once (the floor for 32 processes)", "parallel-floor", None),
    ("parallel", "32 cached stsexec --mfa at once (no STS call)", "warm-32", None),
    ("parallel", "1 cold stsexec --mfa", "cold-1", None),
    ("parallel", "32 cold stsexec --mfa at once", "cold-32", "<= 2x one cold run"),
]
print(f"{'scenario':<10} {'command':<66} {'mean ms':>9} {'± ms':>7} {'x floor':>8}  target")
for group, label, name, target in rows:
    m = mean(name)
    if m is None:
        print(f"{group:<10} {label:<66} {'did not run':>9}")
        continue
    print(f"{group:<10} {label:<66} {m[0]:>9.2f} {m[1]:>7.2f} {m[0]/floor:>8.2f}  {target or ''}")
sess, role, cli = mean("sts-session")[0], mean("sts-role")[0], mean("awscli-session")[0]
one, many = mean("cold-1")[0], mean("cold-32")[0]
print()
print(f"STS overhead over the raw round trip: GetSessionToken {sess - moto:+.2f} ms, MFA session -> AssumeRole {role - moto:+.2f} ms (target <= +10 ms)")
print(f"aws sts get-session-token / stsexec: {cli / sess:.1f}x (target >= 30x)")
print(f"32 parallel cold runs / one cold run: {many / one:.2f}x (target <= 2x); "
      f"32 x /bin/true alone takes {mean('parallel-floor')[0] / one:.2f}x, 32 cached stsexec {mean('warm-32')[0] / one:.2f}x")
p50, p99 = open(os.path.join(results, "serve-requests.txt")).read().split()
print(f"--server: starting it adds {mean('serve-start')[0] - mean('hit-session')[0]:+.2f} ms to a cached run; "
      f"an answer takes {p50} us (p50), {p99} us (p99) over a kept-alive connection (python http.client); "
      f"a 5 s idle serve used {idle_user + idle_sys:.2f} s of CPU in all (start-up included)")
print(f"release binary: {size / 1e6:.2f} MB stripped (target <= 6 MB); release build: {build:.0f} s (a clean build unless target/ held one)")
EOF
