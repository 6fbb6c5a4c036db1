#!/usr/bin/env bash
# Installs stsexec with cargo (into ~/.cargo/bin unless CARGO_INSTALL_ROOT says otherwise).
# On glibc Linux it links statically: a static binary skips the dynamic loader and starts in
# about two thirds of the time (BENCHMARKS.md). Extra arguments go to `cargo install`.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
target=()
case "$host" in
  *-linux-gnu)
    # --target keeps the flag off build scripts and proc-macros, which cannot be static.
    export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
    target=(--target "$host")
    ;;
esac
cargo install --locked --path . "${target[@]}" "$@"
