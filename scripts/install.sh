#!/usr/bin/env bash
# Installs stsexec with cargo (into ~/.cargo/bin unless CARGO_INSTALL_ROOT says otherwise).
# On glibc Linux it links statically (scripts/static-rustflags.sh says how and why; a static
# binary skips the dynamic loader and starts in about two thirds of the time, BENCHMARKS.md).
# Extra arguments go to `cargo install`.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
target=()
case "$host" in
  *-linux-gnu)
    # --target keeps the flag off build scripts and proc-macros, which cannot be static.
    RUSTFLAGS="${RUSTFLAGS:-} $(scripts/static-rustflags.sh "$host")"
    export RUSTFLAGS
    target=(--target "$host")
    ;;
esac
cargo install --locked --path . "${target[@]}" "$@"
