"""Init alone, side by side: spawn -> the first GET /next of the Runtime API,
for several binaries interleaved (the order rotated each round), with each
process's CPU time and minor page faults up to that point.

A narrower measure than bench/harness.py's init: no moto, no fake Slack, no
events, so on a busy machine its medians move less. The environment is the
harness's (the notifier checks its configuration at init as on Lambda), its
endpoints unreachable: each process is killed as soon as it asks for /next.

    python3 bench/init_side_by_side.py --rounds 101 \
        floor=target/bench/release/examples/echo_floor \
        notifier=target/bench/lambda/ecs-slack-notifier/bootstrap [other=PATH ...]

Ratios are against the first binary named.
"""

import argparse
import os
import socket
import statistics
import subprocess
import tempfile
import time

ENV = {
    "SLACK_TOKEN_SECRET_ID": "notifier/slack", "SLACK_DEFAULT_CHANNEL": "C0JOBS", "THREADS_TABLE": "notifier-threads",
    "ENVIRONMENT": "bench", "SLACK_API_URL": "http://127.0.0.1:9/api", "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing", "AWS_LAMBDA_FUNCTION_NAME": "notifier", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "x",
    "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/notifier", "AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN",
    "JOB_LOGS": "on",
}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=101)
    parser.add_argument("binaries", nargs="+", metavar="NAME=PATH")
    args = parser.parse_args()
    binaries = [b.split("=", 1) for b in args.binaries]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    home = tempfile.mkdtemp(prefix="init-home-")  # empty, as on Lambda: no ~/.aws files
    env = {**ENV, "PATH": os.environ["PATH"], "HOME": home,
           "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.getsockname()[1]}"}
    wall, cpu, faults = ({name: [] for name, _ in binaries} for _ in range(3))
    start_load = os.getloadavg()
    for i in range(args.rounds):
        for name, path in binaries[i % len(binaries):] + binaries[:i % len(binaries)]:
            t0 = time.perf_counter_ns()
            proc = subprocess.Popen([path], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            conn, _ = server.accept()
            request = b""
            while b"\r\n" not in request:
                request += conn.recv(4096)
            t1 = time.perf_counter_ns()
            if b"/next" not in request.split(b"\r\n")[0]:
                raise SystemExit(f"{name}: not a /next request: {request[:200]!r}")
            proc.kill()
            _, _, usage = os.wait4(proc.pid, 0)
            proc.returncode = -9
            conn.close()
            wall[name].append((t1 - t0) / 1e6)
            cpu[name].append((usage.ru_utime + usage.ru_stime) * 1e3)
            faults[name].append(usage.ru_minflt)
        time.sleep(0.02)
    first = binaries[0][0]
    print(f"{args.rounds} rounds; load average {start_load[0]:.2f} at start, {os.getloadavg()[0]:.2f} at end")
    for name, _ in binaries:
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(f"{name:12} spawn -> /next median {w:.3f} ms (min {min(wall[name]):.3f}) {w / statistics.median(wall[first]):.3f}x"
              f" | CPU {c:.3f} ms {c / statistics.median(cpu[first]):.3f}x"
              f" | minor faults {statistics.median(faults[name]):.0f}")


if __name__ == "__main__":
    main()
