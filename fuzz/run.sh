#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (default 60 s each): fuzz/run.sh [SECONDS] [TARGET...]
# Needs cargo-fuzz (cargo install cargo-fuzz). On a stable toolchain RUSTC_BOOTSTRAP=1 lets it
# pass the sanitizer flags it needs. Findings land in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(accounts_file cache_file key_store_input)
export RUSTC_BOOTSTRAP=1
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "fuzz/run.sh: $target for ${seconds}s" >&2
  cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048
done
