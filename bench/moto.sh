# Sourced by bench/burst.sh and bench/faults.sh, after bench/venv.sh:
# starts moto's server, one request at a time with its fault layer
# (scripts/moto_server_serial.py), on a free loopback port; stops it on
# exit; exports MOTO_ENDPOINT and dummy AWS credentials.
# Usage: source bench/moto.sh NAME   (its log: target/bench/logs/NAME-moto.log)
port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p target/bench/logs
"$venv/bin/python" scripts/moto_server_serial.py "$port" > "target/bench/logs/$1-moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
  sleep 0.2
done
export MOTO_ENDPOINT="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
