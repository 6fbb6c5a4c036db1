#!/usr/bin/env bash
# The cache hit side by side, interleaved: `env A=B /bin/true`, each OTHER binary and the
# current release build run in turn, one run each per round, so drift on a shared machine hits
# them alike (hyperfine with several commands runs each command's runs in one batch).
#   bench/hot_ab.sh [--rounds N] [OTHER_BINARY...]      e.g. an stsexec built at 61d64e2
# BIN=path skips the build (default: the binary scripts/install.sh builds: release, static on
# glibc Linux); VENV=dir uses that virtualenv's moto; PAGE_CACHE=reread|written (see below). Prints, per command: the median, mean, p10 and p90 wall time, the ratio of the
# medians to `env A=B /bin/true`, page faults (of the command and of /bin/true after it), and
# with valgrind the instructions stsexec itself executes on the hit (`-q work --json`, which
# does not exec: callgrind counts until the process ends) — the figure to trust on a loaded
# machine, where wall time drifts by more than the differences measured.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${ROUNDS:-2000}
[ "${1:-}" = "--rounds" ] && { rounds=$2; shift 2; }
others=()
for b in "$@"; do others+=("$(realpath "$b")"); done
log() { echo "hot_ab: $*" >&2; }

host=$(rustc -vV | sed -n 's/^host: //p')
if [ -z "${BIN:-}" ]; then
  log "building the release binary for $host"
  RUSTFLAGS="${RUSTFLAGS:-} $(scripts/static-rustflags.sh "$host")" \
    cargo build --release --locked --quiet --target "$host"
  BIN=$root/target/$host/release/stsexec
fi
bin=$(realpath "$BIN")
. bench/common.sh
venv=$(bench_venv)

work=$(mktemp -d)
# Every binary starts from the same page-cache state. A binary just linked may still be under
# writeback, which slows its first hundreds of runs (measured here: 1.23x env A=B /bin/true
# right after the build, 1.00x once written). PAGE_CACHE=reread (the default): each is dropped
# from the page cache and read back, as a binary in use for a while is; PAGE_CACHE=written:
# each is copied afresh, as right after an install — 10 page faults fewer per run on this
# ext4 (written pages are cached in large folios, which the kernel maps ahead in one fault).
case "${PAGE_CACHE:-reread}" in
  reread) whole_in_page_cache "$bin" "${others[@]}" ;;
  written)
    mkdir "$work/written"
    fresh=()
    for b in "${others[@]}"; do cp "$b" "$work/written/"; fresh+=("$work/written/$(basename "$b")"); done
    others=("${fresh[@]}")
    cp "$bin" "$work/written/"; bin=$work/written/$(basename "$bin")
    sync "$bin" "${others[@]}"
    ;;
  *) log "PAGE_CACHE is reread or written, not ${PAGE_CACHE}"; exit 2 ;;
esac
moto_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cc -O2 -o "$work/abtimer" bench/abtimer.c

# The HOME of bench/run.sh: one account with an MFA device; each binary caches its session.
home=$work/home
mkdir -p "$home/aws-creds"
chmod 700 "$home/aws-creds"
echo AKIAIOSFODNN7EXAMPLE > "$home/aws-creds/work.access_key"
(umask 077; echo 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' > "$home/aws-creds/work.secret_key")
echo '{"work": "arn:aws:iam::123456789012:"}' > "$home/aws-creds/accounts.json"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >/dev/null 2>&1 &
moto_pid=$!
for _ in $(seq 200); do curl -fs "http://127.0.0.1:$port/moto-api/" >/dev/null && break; sleep 0.05; done
# A cached session is bound to the endpoint that made it: keep the variable for the hits.
export HOME=$home USER=jb AWS_ENDPOINT_URL_STS=http://127.0.0.1:$port AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_CA_BUNDLE \
  STSEXEC_CONFIG STSEXEC_CREDS_DIR
code=100000
for b in "${others[@]}" "$bin"; do
  code=$((code + 1))
  "$b" -q work -t "$code" -- true
  # A hit from here on: no STS call may be needed.
done
kill "$moto_pid"; wait "$moto_pid" 2>/dev/null || true; moto_pid=

cmds=(/usr/bin/env A=B /bin/true)
for b in "${others[@]}" "$bin"; do cmds+=(";" "$b" -q work -- /bin/true); done
log "timing $rounds rounds, interleaved"
"$work/abtimer" "$rounds" -- "${cmds[@]}"

if command -v valgrind >/dev/null; then
  echo
  echo "instructions of the hit, stsexec alone (callgrind, -q work --json):"
  for b in "${others[@]}" "$bin"; do
    valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$b" -q work --json \
      >/dev/null 2>"$work/cg.err"
    printf '%12s  %s\n' "$(sed -n 's/^summary: //p' "$work/cg.out")" "$b"
  done
fi
