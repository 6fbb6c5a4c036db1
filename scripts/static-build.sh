# shellcheck shell=bash
# Sourced by scripts/install.sh and scripts/package.sh: the one static build both make.
# On glibc Linux it links statically: a static binary skips the dynamic loader and starts in
# about two thirds of the time (BENCHMARKS.md). Sets RUSTFLAGS and the array static_target
# (`--target <host>` or nothing) for cargo.
host=$(rustc -vV | sed -n 's/^host: //p')
# shellcheck disable=SC2034 # used by the scripts that source this one
static_target=()
case "$host" in
  *-linux-gnu)
    # --target keeps the flag off build scripts and proc-macros, which cannot be static.
    export RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static"
    # shellcheck disable=SC2034
    static_target=(--target "$host")
    ;;
esac
