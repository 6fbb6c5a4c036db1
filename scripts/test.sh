#!/usr/bin/env bash
# Runs every test of stsexec. Installs the pinned test peers (moto's STS server and the AWS
# CLI, tests/requirements.txt) into .venv first when they are missing or out of date, and the
# Debian tools the tests drive. Without arguments, also the package test (tests/package/run.sh).
# Extra arguments go to `cargo test` before the `-- --include-ignored` this script adds (e.g.
# a test name filter).
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
# (DESIGN §14); script and setsid (util-linux) give the prompt
# tests a terminal or take it away; chromium (headless) follows --console's local redirect
# and completes the IAM Identity Center sign-in on the loopback redirect, and curl asks it as
# another user; age, pass and gnupg (gpg) are the real tools the key stores are tested with
# (DESIGN §13). The package test (tests/package/run.sh) needs lintian,
# man-db, bash-completion, binutils (readelf, objcopy) and dpkg-dev.
declare -A package_of=([fish]=fish [zsh]=zsh [strace]=strace [openssl]=openssl [tinyproxy]=tinyproxy [chromium]=chromium [curl]=curl [lintian]=lintian
  [man]=man-db [readelf]=binutils [objcopy]=binutils [dpkg-deb]=dpkg-dev
  [/usr/share/bash-completion/bash_completion]=bash-completion
  [age]=age [age-keygen]=age [pass]=pass [gpg]=gnupg)
missing=()
for tool in "${!package_of[@]}"; do
  if [[ $tool == /* ]]; then [ -e "$tool" ] && continue; else command -v "$tool" >/dev/null && continue; fi
  [[ " ${missing[*]} " == *" ${package_of[$tool]} "* ]] || missing+=("${package_of[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "scripts/test.sh: installing ${missing[*]} from Debian's packages" >&2
  sudo_cmd=(); [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  # dpkg-dev: the package test's tools; --no-install-recommends keeps the compilers out.
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    { "${sudo_cmd[@]}" apt-get update -qq && "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
for tool in script setsid "${!package_of[@]}"; do
  if [[ $tool == /* ]]; then [ -e "$tool" ] && continue; else command -v "$tool" >/dev/null && continue; fi
  echo "scripts/test.sh: '$tool' is required by the tests and could not be found" >&2
  exit 1
done

export STSEXEC_TEST_VENV="$venv"
# The lint gate: the whole run (no filter given, as CI runs it) checks formatting and clippy
# first, so a change that breaks either fails here, not in review.
if [ $# -eq 0 ]; then
  rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt clippy
  echo "scripts/test.sh: checking formatting and clippy (the lint gate)" >&2
  cargo fmt --check
  cargo clippy --locked --all-targets -- -D warnings
fi
echo "scripts/test.sh: building and running the unit and integration tests (cargo test)" >&2
# Tests that need root or kernel.core_pattern=core are #[ignore]d, so a plain `cargo test` on a
# laptop passes; this script runs them too, so none is skipped silently (they fail loudly
# where their need is not met).
cargo test --locked "$@" -- --include-ignored
if [ $# -eq 0 ]; then
  # The release files: built with the quick `package-test` profile, installed and removed with
  # dpkg (root, as in CI). A filtered run leaves it out; it runs alone as tests/package/run.sh.
  echo "scripts/test.sh: building, installing and removing the Debian package (tests/package/run.sh)" >&2
  tests/package/run.sh
else
  echo "scripts/test.sh: a filtered run; the package test (tests/package/run.sh) was not run" >&2
fi
