#!/usr/bin/env bash
# What each release-profile choice buys: builds stsexec in several profiles (separate target
# directories, so each build is clean and timed) and compares their cache-hit start-up,
# page faults and size side by side in one run.  bench/profiles.sh [--runs N]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-1000}
[ "${1:-}" = "--runs" ] && runs=$2
host=$(rustc -vV | sed -n 's/^host: //p')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
command -v hyperfine >/dev/null || { echo "profiles.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }

# name | lto | codegen-units | panic | opt-level | static (no, yes, relr: yes with packed
# relative relocations, nopie: yes and not position-independent)
variants=(
  "thin-cgu4|thin|4|unwind|3|no"
  "fat-cgu1|fat|1|unwind|3|no"
  "fat-cgu1-abort|fat|1|abort|3|no"
  "fat-cgu1-abort-s|fat|1|abort|s|no"
  "fat-cgu1-abort-static|fat|1|abort|3|yes"
  "fat-cgu1-abort-s-static|fat|1|abort|s|yes"
  "fat-cgu1-abort-s-static-relr|fat|1|abort|s|relr"
  "fat-cgu1-abort-s-static-nopie|fat|1|abort|s|nopie"
)
printf '%-26s %9s %9s\n' variant "size MB" "build s" > "$out/sizes"
for v in "${variants[@]}"; do
  IFS='|' read -r name lto cgu panic opt static <<<"$v"
  case "$static" in
    yes) flags="-C target-feature=+crt-static" ;;
    relr) flags="-C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs" ;;
    nopie) flags="-C target-feature=+crt-static -C relocation-model=static" ;;
    *) flags="" ;;
  esac
  dir="target/profiles/$name"
  echo "profiles.sh: building $name" >&2
  start=$(date +%s.%N)
  CARGO_TARGET_DIR="$dir" CARGO_PROFILE_RELEASE_LTO=$lto \
    CARGO_PROFILE_RELEASE_CODEGEN_UNITS=$cgu CARGO_PROFILE_RELEASE_PANIC=$panic \
    CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt CARGO_PROFILE_RELEASE_STRIP=true RUSTFLAGS="$flags" \
    cargo build --release --locked --quiet --target "$host"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  # A rerun finds the build fresh; keep the time of the clean build that made it.
  [ "$(echo "$secs > 5" | bc)" = 1 ] && echo "$secs" > "$dir/clean-build-seconds"
  secs=$(cat "$dir/clean-build-seconds" 2>/dev/null || echo 0)
  cp "target/profiles/$name/$host/release/stsexec" "$out/$name"
  printf '%-26s %9.2f %9.0f\n' "$name" "$(echo "$(stat -c %s "$out/$name") / 1000000" | bc -l)" "$secs" >> "$out/sizes"
done

home=$out/home
mkdir -p "$home/aws-creds" && chmod 700 "$home/aws-creds"
echo AKIAIOSFODNN7EXAMPLE > "$home/aws-creds/work.access_key"
(umask 077; echo 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' > "$home/aws-creds/work.secret_key")
echo '{"work": "arn:aws:iam::123456789012:"}' > "$home/aws-creds/accounts.json"
export HOME=$home USER=jb

cmds=("/usr/bin/env A=B /bin/true")
for v in "${variants[@]}"; do cmds+=("$out/${v%%|*} -q work -- /bin/true"); done
hyperfine --shell=none --warmup 20 --runs "$runs" --style none --export-json "$out/times.json" "${cmds[@]}" >/dev/null
python3 - "$out/times.json" "$out/" <<'PY'
import json, sys
results = json.load(open(sys.argv[1]))["results"]
floor = results[0]["mean"]
floor_median = results[0]["median"]
print(f"{'command':<50} {'mean ms':>8} {'± ms':>6} {'median':>7} {'x env':>6} {'x env (median)':>15}")
for r in results:
    name = r["command"].replace(sys.argv[2], "")
    print(f"{name:<50} {r['mean']*1e3:>8.3f} {r['stddev']*1e3:>6.3f} {r['median']*1e3:>7.3f} {r['mean']/floor:>6.2f} {r['median']/floor_median:>15.2f}")
PY
echo
cat "$out/sizes"
echo
if perf stat -e page-faults true >/dev/null 2>&1; then
  for v in "${variants[@]}"; do
    faults=$(perf stat -x, -r 50 -e page-faults "$out/${v%%|*}" -q work -- /bin/true 2>&1 >/dev/null | cut -d, -f1)
    printf '%-26s %6s page faults (stsexec + /bin/true)\n' "${v%%|*}" "$faults"
  done
  printf '%-26s %6s page faults (env + /bin/true)\n' "env A=B" "$(perf stat -x, -r 50 -e page-faults /usr/bin/env A=B /bin/true 2>&1 >/dev/null | cut -d, -f1)"
fi
