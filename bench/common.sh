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
