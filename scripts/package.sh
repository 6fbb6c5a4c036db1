#!/usr/bin/env bash
# Builds stsexec's release files (DESIGN §15) into target/dist/ from a clean clone, one command:
#   stsexec_<version>_amd64.deb                          Debian package (dpkg -i)
#   stsexec-<version>-x86_64-unknown-linux-gnu.tar.gz    release archive
#   stsexec-<version>-x86_64-unknown-linux-gnu.cdx.json  CycloneDX SBOM of the binary
#   SHA256SUMS                                           (sha256sum -c SHA256SUMS)
# The binary is the static build scripts/install.sh makes (scripts/static-build.sh), built by
# `cargo auditable` so it carries its dependency list (`cargo audit bin` reads it); the SBOM is
# made from that embedded list (scripts/package.py). Needs cargo, dpkg-deb, objcopy (binutils) and python3; installs
# cargo-auditable (pinned) when missing.
#
# STSEXEC_PACKAGE_PROFILE=package-test builds with Cargo.toml's quick profile instead of
# release (what tests/package/run.sh uses); everything else is the same.
# STSEXEC_PACKAGE_DIST=DIR writes the files to DIR instead of target/dist (its earlier release files removed first).
# The .deb is made with dpkg-deb itself rather than cargo-deb: the layout is a few install
# lines, and cargo-deb would be one more tool to compile on every clean machine and CI run.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "scripts/package.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

profile="${STSEXEC_PACKAGE_PROFILE:-release}"
auditable_version=0.7.7
triple=x86_64-unknown-linux-gnu

for tool in cargo rustc dpkg-deb objcopy python3 gzip tar sha256sum md5sum; do
  command -v "$tool" >/dev/null || die "'$tool' is required (Debian: apt-get install dpkg-dev binutils python3)"
done
# shellcheck source=scripts/static-build.sh
source scripts/static-build.sh
[ "$host" = "$triple" ] || die "the package and archive are for $triple; this host is $host"

if ! cargo auditable --help >/dev/null 2>&1; then
  say "installing cargo-auditable $auditable_version (cargo install, about 30 seconds on 2 cores)"
  cargo install --locked --quiet cargo-auditable --version "$auditable_version"
fi

version=$(cargo metadata --locked --no-deps --format-version 1 |
  python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "stsexec"))')
# Reproducible archive and package members: every timestamp is the commit's.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

case "$profile" in
  release) say "building stsexec $version (release: fat LTO, static, cargo auditable): about 9½ minutes on 2 cores, as scripts/install.sh; the last step, optimising and linking stsexec, prints nothing for a minute or two" ;;
  *) say "building stsexec $version with profile $profile (static, cargo auditable)" ;;
esac
cargo auditable build --locked --profile "$profile" "${static_target[@]}" --bin stsexec
dir_name=$profile
[ "$profile" = dev ] && dir_name=debug
binary="target/$triple/$dir_name/stsexec"
[ -x "$binary" ] || die "the build left no $binary"

dist="${STSEXEC_PACKAGE_DIST:-target/dist}"
name="stsexec-$version-$triple"
mkdir -p "$dist"
# Only what an earlier run wrote there goes.
rm -f -- "$dist"/stsexec_*_amd64.deb "$dist"/stsexec-*-"$triple".tar.gz "$dist"/stsexec-*-"$triple".cdx.json "$dist/SHA256SUMS"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "writing the CycloneDX SBOM from the dependency list embedded in the binary"
python3 scripts/package.py sbom "$binary" > "$dist/$name.cdx.json"

# --- release archive -------------------------------------------------------------------------
say "writing the release archive $name.tar.gz"
arch="$work/$name"
install -Dm755 "$binary" "$arch/stsexec"
install -Dm644 man/stsexec.1 "$arch/man/stsexec.1"
install -Dm644 -t "$arch/completions" completions/stsexec.bash completions/_stsexec completions/stsexec.fish
install -Dm644 -t "$arch" README.md LICENSE-MIT LICENSE-APACHE
tar_reproducible=(--sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" "--mode=u+w,go-w")
tar -C "$work" "${tar_reproducible[@]}" -cf - "$name" | gzip -9n > "$dist/$name.tar.gz"

# --- Debian package --------------------------------------------------------------------------
deb_name="stsexec_${version}_amd64.deb"
say "writing the Debian package $deb_name"
root="$work/deb"
doc="$root/usr/share/doc/stsexec"
install -Dm755 "$binary" "$root/usr/bin/stsexec"
install -d "$root/usr/share/man/man1"
gzip -9n < man/stsexec.1 > "$root/usr/share/man/man1/stsexec.1.gz"
install -Dm644 completions/stsexec.bash "$root/usr/share/bash-completion/completions/stsexec"
install -Dm644 completions/_stsexec "$root/usr/share/zsh/vendor-completions/_stsexec"
install -Dm644 completions/stsexec.fish "$root/usr/share/fish/vendor_completions.d/stsexec.fish"
install -d "$doc"
gzip -9n < README.md > "$doc/README.md.gz"
python3 scripts/package.py copyright "$dist/$name.cdx.json" > "$doc/copyright"
python3 scripts/package.py changelog > "$work/changelog"
gzip -9n < "$work/changelog" > "$doc/changelog.gz"
install -Dm644 packaging/lintian-overrides "$root/usr/share/lintian/overrides/stsexec"
find "$root" -type f -exec chmod go-w {} + -o -type d -exec chmod 755 {} +
install -d "$root/DEBIAN"
(cd "$root" && find usr -type f | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 644 "$root/DEBIAN/md5sums"
installed_kb=$(du -sk --apparent-size "$root/usr" | cut -f1)
python3 scripts/package.py control "$installed_kb" > "$root/DEBIAN/control"
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$root" "$dist/$deb_name" >/dev/null

(cd "$dist" && sha256sum -- "$name.tar.gz" "$name.cdx.json" "$deb_name" > SHA256SUMS)
say "done: $(cd "$dist" && echo "$PWD"): $name.tar.gz, $name.cdx.json, $deb_name, SHA256SUMS"
