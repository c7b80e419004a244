# Sourced by bench/run.sh and bench/burst.sh: sets $venv to bench/.venv,
# creating it from bench/requirements.txt, again only when that changes.
venv=bench/.venv
want=$(sha256sum bench/requirements.txt | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.requirements.sha" 2>/dev/null)" != "$want" ]; then
  echo "--- setting up $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r bench/requirements.txt
  echo "$want" > "$venv/.requirements.sha"
fi
