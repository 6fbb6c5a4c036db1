# shellcheck shell=bash
# Sourced by scripts/install.sh and scripts/package.sh: the one static build both make.
# On glibc Linux it links statically, with packed relocations where glibc reads them
# (scripts/static-rustflags.sh says how and why; BENCHMARKS.md measures it). Sets RUSTFLAGS and the array static_target
# (`--target <host>` or nothing) for cargo.
host=$(rustc -vV | sed -n 's/^host: //p')
# shellcheck disable=SC2034 # used by the scripts that source this one
static_target=()
case "$host" in
  *-linux-gnu)
    # --target keeps the flag off build scripts and proc-macros, which cannot be static.
    RUSTFLAGS="${RUSTFLAGS:-} $("$(dirname "${BASH_SOURCE[0]}")/static-rustflags.sh" "$host")"
    export RUSTFLAGS
    # shellcheck disable=SC2034
    static_target=(--target "$host")
    ;;
esac
