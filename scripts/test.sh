#!/usr/bin/env bash
# Runs every test of stsexec. Installs the pinned test peers (moto's STS server and the AWS
# CLI, tests/requirements.txt) into .venv first when they are missing or out of date.
# Extra arguments go to `cargo test` (e.g. a test name filter).
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${STSEXEC_TEST_VENV:-$PWD/.venv}"
stamp="$venv/.requirements.sha256"
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "scripts/test.sh: installing moto and awscli into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi
# fish and zsh read back --export=fish and the completions; strace watches the cached path;
# openssl makes the test CA for STS over TLS; tinyproxy is the real proxy in front of it
# (DESIGN §14); script and setsid (util-linux) give the prompt tests a terminal or take it away.
missing=()
for tool in fish zsh strace openssl tinyproxy chromium; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]} from Debian's packages" >&2
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get install -y -qq "${missing[@]}" >/dev/null
fi
for tool in script setsid fish zsh strace openssl tinyproxy chromium; do
  command -v "$tool" >/dev/null || { echo "scripts/test.sh: '$tool' is required by the tests and could not be found" >&2; exit 1; }
done

export STSEXEC_TEST_VENV="$venv"
# The lint gate: the whole run (no filter given, as CI runs it) checks formatting and clippy
# first, so a change that breaks either fails here, not in review.
if [ $# -eq 0 ]; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
  cargo fmt --check
  cargo clippy --locked --all-targets -- -D warnings
fi
cargo test --locked "$@"
