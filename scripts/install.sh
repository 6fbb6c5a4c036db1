#!/usr/bin/env bash
# Installs stsexec with cargo (into ~/.cargo/bin unless CARGO_INSTALL_ROOT says otherwise),
# statically linked on glibc Linux (scripts/static-build.sh). Extra arguments go to
# `cargo install`. Without a Rust toolchain, install the Debian package or the release archive
# instead (README, "Set up").
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/static-build.sh
source scripts/static-build.sh
echo "scripts/install.sh: building stsexec for release (fat LTO, one codegen unit${static_target[*]:+, static}): about 9½ minutes on 2 cores." >&2
echo "scripts/install.sh: cargo names each crate as it compiles it; the last step, optimising and linking stsexec itself, prints nothing for a minute or two." >&2
cargo install --locked --path . "${static_target[@]}" "$@"
