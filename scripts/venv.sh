# Sourced by scripts/test.sh and scripts/local-stack.sh.
# venv DIR REQUIREMENTS: creates or refreshes a venv when its requirements change.
venv() {
  local dir=$1 requirements=$2 want
  want=$(sha256sum "$requirements" | cut -d' ' -f1)
  if [ ! -x "$dir/bin/python" ] || [ "$(cat "$dir/.requirements.sha" 2>/dev/null)" != "$want" ]; then
    echo "--- setting up $dir from $requirements"
    python3 -m venv "$dir"
    "$dir/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    echo "$want" > "$dir/.requirements.sha"
  fi
}
