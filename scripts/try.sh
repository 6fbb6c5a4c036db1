#!/usr/bin/env bash
# Try stsexec without an AWS account: a local moto server plays STS and IAM, a throwaway HOME
# holds a demo account (an IAM user's keys, an MFA device, a role), and COMMAND runs with
# stsexec and the AWS CLI on PATH and every endpoint pointed at moto. Nothing outside the
# throwaway HOME is read or written; everything is removed when COMMAND ends.
#
#   scripts/try.sh                       an interactive shell to try stsexec in
#   scripts/try.sh COMMAND [ARGS]...     run COMMAND there instead (e.g. a test's script)
#
# stsexec comes from $STSEXEC_BIN, else `stsexec` on PATH, else a `cargo build` of this tree.
# moto and the AWS CLI come from the test venv (tests/requirements.txt; $STSEXEC_TEST_VENV or .venv).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)

say() { echo "try.sh: $*" >&2; }

venv="${STSEXEC_TEST_VENV:-$repo/.venv}"
if [ ! -x "$venv/bin/moto_server" ] || [ ! -x "$venv/bin/aws" ]; then
  say "installing moto and the AWS CLI into $venv (once; about a minute)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$repo/tests/requirements.txt"
fi

if [ -n "${STSEXEC_BIN:-}" ]; then
  bin="$STSEXEC_BIN"
elif command -v stsexec >/dev/null; then
  bin=$(command -v stsexec)
else
  say "no stsexec on PATH: building this tree (cargo build; about two minutes the first time)"
  (cd "$repo" && cargo build --quiet --locked)
  bin="$repo/target/debug/stsexec"
fi
[ -x "$bin" ] || { say "$bin is not an executable stsexec"; exit 1; }

demo=$(mktemp -d "${TMPDIR:-/tmp}/stsexec-try.XXXXXX")
moto_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null && wait "$moto_pid" 2>/dev/null
  rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A free loopback port below Linux's ephemeral range, so nothing else is handed it meanwhile.
port=
for candidate in $(shuf -i 20000-32000 -n 50); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then port=$candidate; break; fi
done
[ -n "$port" ] || { say "found no free loopback port for moto"; exit 1; }

say "starting moto (STS and IAM) on 127.0.0.1:$port"
"$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$demo/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 300); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$moto_pid" 2>/dev/null || { say "moto_server exited; its log:"; cat "$demo/moto.log" >&2; exit 1; }
  sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { say "moto did not answer on port $port within 30 s"; exit 1; }

# The demo world: HOME, PATH and the endpoints; the caller's AWS settings stay outside.
home="$demo/home"
mkdir -p "$home/aws-creds" "$demo/bin"
chmod 700 "$home" "$home/aws-creds"
ln -s "$bin" "$demo/bin/stsexec"
ln -s "$venv/bin/aws" "$demo/bin/aws"
while IFS= read -r name; do unset "$name"; done < <(env | sed -n 's/^\(AWS_[A-Z_]*\)=.*/\1/p; s/^\(STSEXEC_[A-Z_]*\)=.*/\1/p')
export HOME="$home"
export PATH="$demo/bin:$PATH"
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE="$home/.aws/config" AWS_SHARED_CREDENTIALS_FILE="$home/.aws/credentials"

# An IAM user with a key and a virtual MFA device, and a role it may assume, made in moto the
# way an administrator makes them in AWS. moto's default account is 123456789012.
admin() { AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=demo-admin-secret aws "$@"; }
admin iam create-user --user-name demo >/dev/null
read -r access_key secret_key < <(admin iam create-access-key --user-name demo \
  --query 'AccessKey.[AccessKeyId,SecretAccessKey]' --output text)
serial=$(admin iam create-virtual-mfa-device --virtual-mfa-device-name demo \
  --outfile "$demo/qr.png" --bootstrap-method QRCodePNG --query 'VirtualMFADevice.SerialNumber' --output text)
admin iam create-role --role-name admin --assume-role-policy-document \
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:user/demo"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:MultiFactorAuthPresent":"true"}}}]}' >/dev/null

umask 077
printf '%s\n' "$access_key" >"$home/aws-creds/demo.access_key"
printf '%s\n' "$secret_key" >"$home/aws-creds/demo.secret_key"
cat >"$home/aws-creds/accounts.json" <<JSON
{
  "demo": {
    "arn": "arn:aws:iam::123456789012:",
    "region": "us-east-1",
    "user": "demo",
    "mfa_serial": "$serial"
  }
}
JSON
umask 022

cat <<EOF >&2
try.sh: a demo account is ready: "demo" (IAM user demo, MFA device $serial, role admin).
try.sh: moto accepts any six digits as an MFA code. Things to try:
  stsexec --list
  stsexec demo -- aws sts get-caller-identity
  stsexec demo --mfa -- aws sts get-caller-identity      (then run it again: the session is cached)
  stsexec demo --mfa --role admin -- aws sts get-caller-identity
  stsexec demo --mfa --role admin --server -- aws sts get-caller-identity
  stsexec demo -- stsexec --status     ·     stsexec --clear demo
EOF

if [ $# -eq 0 ]; then
  say "a shell in the demo HOME ($home); exit to end the demo and remove it"
  status=0
  "${SHELL:-/bin/sh}" -i || status=$?
else
  status=0
  "$@" || status=$?
fi
exit "$status"
