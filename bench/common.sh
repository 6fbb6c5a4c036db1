# Sourced by bench/hot_ab.sh and bench/stores.sh (from the repository's root, with log() defined).

# Prints the path of a virtualenv with moto: $VENV as given (nothing is installed into it), else
# bench/.venv, (re)made when bench/requirements.txt changed.
bench_venv() {
  local venv=${VENV:-bench/.venv} want
  want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
  if [ -z "${VENV:-}" ] && [ "$(cat "$venv/.requirements.sha256" 2>/dev/null)" != "$want" ]; then
    log "installing moto into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
    echo "$want" > "$venv/.requirements.sha256"
  fi
  realpath "$venv"
}

# Drops each file's pages from the page cache and reads the file back whole, so every binary
# compared starts from the same state. A binary whose pages had been partly evicted (by builds
# since it was written) took 11 more page faults per run here — 1.12x instead of 1.00x — as the
# kernel maps ahead only pages already cached: a difference of cache state, not of code.
whole_in_page_cache() {
  sync "$@"
  python3 - "$@" <<'PY'
import os, sys
for path in sys.argv[1:]:
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    while os.read(fd, 1 << 20):
        pass
    os.close(fd)
PY
}
