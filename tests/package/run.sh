#!/usr/bin/env bash
# The release files' test (DESIGN §15, issue 23), run by scripts/test.sh: builds them with
# scripts/package.sh (the quick Cargo profile `package-test` unless STSEXEC_PACKAGE_PROFILE says
# otherwise), then checks them as a user would get them: lintian, SHA256SUMS, the archive, the
# binary's cargo-auditable section, the CycloneDX SBOM; then installs the .deb with dpkg -i on
# this machine, runs `stsexec --version`, finds the man page, completes an account in bash
# (through bash-completion's loader), zsh and fish from the installed files alone, and removes
# it with dpkg -r, checking that every file it installed is gone.
#
# Needs root (dpkg -i), and dpkg-dev, lintian, man-db, bash-completion, binutils, zsh, fish and
# python3; scripts/test.sh installs them. A missing one fails the test; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail_now() { echo "tests/package: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || fail_now "must run as root: it installs and removes the package with dpkg"
for tool in dpkg dpkg-deb lintian man readelf objcopy python3 bash zsh fish sha256sum tar git; do
  command -v "$tool" >/dev/null || fail_now "'$tool' is required (scripts/test.sh installs it from Debian's packages)"
done
[ -r /usr/share/bash-completion/bash_completion ] || fail_now "Debian's bash-completion is required (apt-get install bash-completion)"
if [ "$(dpkg-query -W -f='${db:Status-Status}' stsexec 2>/dev/null || true)" = installed ]; then
  fail_now "a package named stsexec is installed already; this test installs and removes its own (dpkg -r stsexec first)"
fi

export STSEXEC_PACKAGE_PROFILE="${STSEXEC_PACKAGE_PROFILE:-package-test}"
# Its own directory: a release's files in target/dist stay as they are.
export STSEXEC_PACKAGE_DIST="$PWD/target/dist-test"
start=$SECONDS
scripts/package.sh
echo "tests/package: scripts/package.sh ($STSEXEC_PACKAGE_PROFILE) took $((SECONDS - start))s" >&2

dist=$STSEXEC_PACKAGE_DIST
debs=("$dist"/stsexec_*_amd64.deb)
{ [ ${#debs[@]} -eq 1 ] && [ -f "${debs[0]}" ]; } || fail_now "scripts/package.sh left no single .deb in $dist"
version=${debs[0]##*/stsexec_}
version=${version%_amd64.deb}
triple=x86_64-unknown-linux-gnu
name="stsexec-$version-$triple"
deb="$dist/stsexec_${version}_amd64.deb"
commit=$(git rev-parse --short=12 HEAD)
want_version="stsexec $version (commit $commit, statically linked, $triple)"

passed=0 failed=0
check() { # check NAME COMMAND...: runs COMMAND, counts and reports it
  local label=$1 # not "name": the checks, called from here, see check's locals
  shift
  local out
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    echo "tests/package: ok   $label"
  else
    failed=$((failed + 1))
    echo "tests/package: FAIL $label" >&2
    printf '%s\n' "$out" | sed 's/^/    /' >&2
  fi
}

work=$(mktemp -d)
installed=no
cleanup() {
  if [ "$installed" = yes ]; then dpkg -r stsexec >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# --- the files as published ------------------------------------------------------------------
lintian_clean() {
  # Errors and warnings fail; what is overridden is explained in packaging/lintian-overrides
  # and the README.
  lintian --fail-on error,warning --display-info "$deb"
  ! lintian --display-info "$deb" | grep -E '^[EW]: '
}
check "lintian reports no error or warning" lintian_clean
check "sha256sum -c SHA256SUMS" bash -c "cd '$dist' && sha256sum --strict -c SHA256SUMS && [ \$(wc -l < SHA256SUMS) -eq 3 ]"

archive_contents() {
  tar -C "$work" -xzf "$dist/$name.tar.gz"
  local want got
  want=$(printf '%s\n' "$name/" "$name/LICENSE-APACHE" "$name/LICENSE-MIT" "$name/README.md" \
    "$name/completions/" "$name/completions/_stsexec" "$name/completions/stsexec.bash" \
    "$name/completions/stsexec.fish" "$name/man/" "$name/man/stsexec.1" "$name/stsexec")
  got=$(tar -tzf "$dist/$name.tar.gz" | LC_ALL=C sort)
  [ "$got" = "$want" ] || { diff <(echo "$want") <(echo "$got"); return 1; }
  [ -x "$work/$name/stsexec" ] && cmp man/stsexec.1 "$work/$name/man/stsexec.1" &&
    cmp completions/_stsexec "$work/$name/completions/_stsexec"
}
check "the archive holds the binary, man page, completions, README and licenses" archive_contents

static_binary() {
  readelf -lW "$1" | grep -q 'program interpreter' && { echo "$1 asks for a dynamic loader"; return 1; }
  readelf -dW "$1" | grep -q NEEDED && { echo "$1 needs shared libraries"; return 1; }
  return 0
}
check "the archive's binary is static" static_binary "$work/$name/stsexec"
check "the archive's binary has cargo auditable's .dep-v0 section" bash -c "readelf -SW '$work/$name/stsexec' | grep -q ' \.dep-v0 '"

sbom_valid() {
  python3 - "$dist/$name.cdx.json" "$work/$name/stsexec" "$version" <<'EOF'
import hashlib, json, re, subprocess, sys, tempfile, zlib, os
path, binary, version = sys.argv[1:]
bom = json.load(open(path))
assert bom["bomFormat"] == "CycloneDX", bom.get("bomFormat")
assert re.fullmatch(r"1\.[4-6]", bom["specVersion"]), bom.get("specVersion")
assert re.fullmatch(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", bom["serialNumber"])
assert isinstance(bom["version"], int) and bom["version"] >= 1
main = bom["metadata"]["component"]
assert (main["type"], main["name"], main["version"]) == ("application", "stsexec", version), main
assert main["purl"] == f"pkg:cargo/stsexec@{version}"
assert main["licenses"] == [{"expression": "MIT OR Apache-2.0"}]
sha = hashlib.sha256(open(binary, "rb").read()).hexdigest()
assert main["hashes"] == [{"alg": "SHA-256", "content": sha}], "the SBOM names another binary"
refs = {main["bom-ref"]}
for c in bom["components"]:
    for key in ("type", "name", "version", "purl", "bom-ref"):
        assert c.get(key), (key, c)
    assert c["type"] == "library" and c["scope"] in ("required", "excluded"), c
    assert c["purl"] == f"pkg:cargo/{c['name']}@{c['version']}", c
    assert c["bom-ref"] not in refs, ("duplicate bom-ref", c["bom-ref"])
    refs.add(c["bom-ref"])
    if c["scope"] == "required":
        assert c["hashes"][0]["alg"] == "SHA-256" and re.fullmatch(r"[0-9a-f]{64}", c["hashes"][0]["content"]), c
        assert c.get("licenses"), ("no license", c["name"])
for d in bom["dependencies"]:
    assert d["ref"] in refs and set(d["dependsOn"]) <= refs, d
names = {c["name"] for c in bom["components"] if c["scope"] == "required"}
assert {"aws-sdk-sts", "aws-sdk-iam", "clap", "rustls", "tokio"} <= names, names
# The same crates as the list cargo auditable embedded.
with tempfile.TemporaryDirectory() as tmp:
    raw = os.path.join(tmp, "d")
    subprocess.run(["objcopy", "--dump-section", f".dep-v0={raw}", binary, os.devnull], check=True)
    embedded = json.loads(zlib.decompress(open(raw, "rb").read()))["packages"]
assert {f"pkg:cargo/{p['name']}@{p['version']}" for p in embedded} == refs
print(f"{len(bom['components'])} components")
EOF
}
check "the SBOM is CycloneDX JSON describing the shipped binary" sbom_valid

# --- installed with dpkg ---------------------------------------------------------------------
home="$work/home"
mkdir -p "$home/aws-creds" "$home/cwd"
chmod 700 "$home/aws-creds"
for account in work personal; do
  printf 'AKIAIOSFODNN7EXAMPLE\n' > "$home/aws-creds/$account.access_key"
  printf 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n' > "$home/aws-creds/$account.secret_key"
done
chmod 600 "$home"/aws-creds/*
# A clean user: no rc files, the system's PATH, no stsexec from elsewhere.
user_env=(env -i "HOME=$home" "PATH=/usr/local/bin:/usr/bin:/bin" "TERM=dumb" "LANG=C.UTF-8" "USER=root")

bash_complete() { # the words; prints COMPREPLY, completion loaded on demand by bash-completion
  # shellcheck disable=SC2016 # expanded by the inner bash
  "${user_env[@]}" bash --norc --noprofile -c '
    cd "$HOME/cwd"
    source /usr/share/bash-completion/bash_completion
    COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
    COMP_LINE="${COMP_WORDS[*]}"; COMP_POINT=${#COMP_LINE}
    # What bash does for a command with no completion yet: the default (-D) completion, which
    # bash-completion sets to its loader, loads the file for the command and returns 124.
    loader=$(complete -p -D); loader=${loader#*-F }; loader=${loader%% *}
    "$loader" stsexec "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" >/dev/null 2>&1
    spec=$(complete -p stsexec 2>/dev/null) || { echo "no completion for stsexec" >&2; exit 1; }
    func=${spec#*-F }; func=${func%% *}
    "$func" stsexec "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
    printf "%s\n" "${COMPREPLY[@]}"' bash "$@"
}

zsh_complete() { # a line; prints what zsh's completion system offers, from its default fpath
  cat > "$work/harness.zsh" <<'EOF'
PS1='> '
autoload -Uz compinit && compinit -u -D
zstyle ':completion:*' menu no
typeset -ga __captured
compadd() {
    if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
        builtin compadd "$@"
        return
    fi
    local -a __hits
    builtin compadd -A __hits "$@"
    __captured+=($__hits)
    builtin compadd "$@"
}
__capture() {
    __captured=()
    zle complete-word
    zle -I
    print -r -- "<<<${(j:|:)${(ou)__captured}}>>>"
    BUFFER=''
}
zle -N __capture
bindkey '^X^X' __capture
EOF
  cat > "$work/outer.zsh" <<'EOF'
zmodload zsh/zpty || exit 2
harness=$1 line=$2
zpty z "cd ~/cwd && zsh -f -i"
zpty -w z "source ${(q)harness}; print RE''ADY"
zpty -r -m z out '*READY*' || exit 3
zpty -w -n z "$line"$'\C-x\C-x'
out=''
zpty -r -m z out '*>>>*' || exit 4
out=${out##*<<<}
print -r -- "${out%%>>>*}" | tr '|' '\n'
zpty -d z
EOF
  # zpty -r waits for the prompt's marker; a zsh that never prints it would hang the run, so
  # after 5 minutes (seconds are normal) it is a failure with zsh's output, not a stall.
  "${user_env[@]}" timeout 300 zsh -f "$work/outer.zsh" "$work/harness.zsh" "$1"
}

fish_complete() { # a line; prints fish's candidates, found through its vendor completions
  "${user_env[@]}" "XDG_CONFIG_HOME=$home/.config" fish -c "cd ~/cwd; complete -C '$1'" | cut -f1
}

completes_work() { # SHELL-FUNCTION ARGS...: the account "work" is the only candidate
  local got
  got=$("$@" | tr -d '\r' | sed '/^$/d' | LC_ALL=C sort -u)
  [ "$got" = work ] || { echo "offered: ${got:-nothing}"; return 1; }
}

offers_nothing() {
  local got
  got=$("$@" 2>/dev/null | tr -d '\r' | sed '/^$/d') || true
  [ -z "$got" ] || { echo "offered before the package was installed: $got"; return 1; }
}

# Before: nothing on this machine completes stsexec, so what completes later is the package's.
check "before dpkg -i: bash completes no account" offers_nothing bash_complete stsexec w
check "before dpkg -i: fish completes no account" offers_nothing fish_complete "stsexec w"

# Which of the package's paths exist before it is installed (directories such as /usr/bin do).
mapfile -t members < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^$' | grep -v '^/$')
declare -A existed=()
for path in "${members[@]}"; do
  [ -e "$path" ] && existed[$path]=1
done

if dpkg -i "$deb" > "$work/dpkg-i.log" 2>&1; then
  installed=yes
  passed=$((passed + 1))
  echo "tests/package: ok   dpkg -i $(basename "$deb")"
else
  cat "$work/dpkg-i.log" >&2
  fail_now "dpkg -i $(basename "$deb")"
fi

listed_by_dpkg() {
  diff <(printf '%s\n' "${members[@]}" | LC_ALL=C sort) <(dpkg -L stsexec | grep -vx '/\.' | LC_ALL=C sort)
}
version_text() {
  local got
  got=$("${user_env[@]}" stsexec --version)
  [ "$got" = "$want_version" ] || { echo "got: $got"; return 1; }
}
man_finds_page() {
  local got
  got=$("${user_env[@]}" man -w stsexec)
  [ "$got" = /usr/share/man/man1/stsexec.1.gz ] || { echo "man -w: $got"; return 1; }
  "${user_env[@]}" MANWIDTH=80 man stsexec 2>&1 | grep -qx 'EXIT STATUS'
}
check "dpkg -L lists every file of the package" listed_by_dpkg
check "stsexec --version: $want_version" version_text
check "the installed binary is static" static_binary /usr/bin/stsexec
check "the installed binary has the .dep-v0 section" bash -c "readelf -SW /usr/bin/stsexec | grep -q ' \.dep-v0 '"
check "man -w stsexec finds the package's page, man renders it" man_finds_page
check "the copyright file is DEP-5 with MIT OR Apache-2.0" grep -qx 'License: MIT or Apache-2.0' /usr/share/doc/stsexec/copyright
check "bash completes an account (bash-completion's loader)" completes_work bash_complete stsexec w
check "bash completes an account after an option" completes_work bash_complete stsexec --mfa w
check "zsh completes an account (default fpath, compinit)" completes_work zsh_complete "stsexec w"
check "fish completes an account (vendor_completions.d)" completes_work fish_complete "stsexec w"

# --- removed with dpkg -r --------------------------------------------------------------------
if dpkg -r stsexec > "$work/dpkg-r.log" 2>&1; then
  installed=no
  passed=$((passed + 1))
  echo "tests/package: ok   dpkg -r stsexec"
else
  failed=$((failed + 1))
  cat "$work/dpkg-r.log" >&2
fi
left_behind() {
  local path left=0
  for path in "${members[@]}"; do
    if [ -z "${existed[$path]:-}" ] && [ -e "$path" ]; then
      echo "left behind: $path"
      left=1
    fi
  done
  [ "$(dpkg-query -W -f='${db:Status-Status}' stsexec 2>/dev/null || echo not-installed)" = not-installed ] ||
    { echo "dpkg still knows stsexec"; left=1; }
  return $left
}
check "dpkg -r leaves none of the package's files or directories behind" left_behind
check "after dpkg -r: bash completes no account" offers_nothing bash_complete stsexec w

echo "package: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
