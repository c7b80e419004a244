#!/usr/bin/env python3
"""Performance benchmark of the notifier Lambda against its goals.

Runs the release binaries the way Lambda runs them, as processes polling a
Runtime API, here an emulator in this process; AWS is moto behind a counting
proxy and Slack is a fake, all on loopback. bench/run.sh builds the binaries
and the venv first; bench/README.md says what is measured and why.
"""

import argparse
import atexit
import collections
import http.client
import io
import itertools
import json
import math
import os
import platform
import queue
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "bench"
NOTIFIER = TARGET / "release" / "ecs-slack-notifier"
ECHO = TARGET / "release" / "examples" / "echo_floor"
PEER_DIR = ROOT / "bench" / "python_peer"
LOGS = TARGET / "logs"
TIMEOUT = 30.0  # bound on every wait: a hung function fails the run, not the machine
TOKEN, CHANNEL, TABLE, SECRET = "xoxb-bench-token", "C0JOBS", "bench-threads", "bench/slack-bot"
RUNTIME = "/2018-06-01/runtime"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:notifier"
MiB = 1024 * 1024
PROCS = []  # every process we start, killed at exit whatever happens


class BenchError(Exception):
    pass


def ms(ns):
    return ns / 1e6


def pct(values, p):
    """Nearest-rank percentile: always a value that was measured."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- loopback servers ------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as hyper and the SDKs use it
    disable_nagle_algorithm = True  # headers and body go in two writes: no delayed-ACK stall

    def log_message(self, *args):
        pass

    def body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0], 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed function's socket: expected
            super().handle_error(request, client_address)


def serve(handler):
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class Traffic:
    """Calls seen by the AWS proxy and the fake Slack: counts per operation,
    and (arrival, answered) times to tell backend time from function time.
    Recorded before the answer is sent, so a count is in by the time the
    function can have answered its invocation."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.spans = []

    def record(self, op, t0, t1):
        with self.lock:
            self.counts[op] += 1
            self.spans.append((t0, t1))

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.counts)

    def busy_ms(self, start, end):
        """Time spent inside backends during [start, end] (calls are sequential per event)."""
        with self.lock:
            return ms(sum(max(0, min(t1, end) - max(t0, start)) for t0, t1 in self.spans))


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}


def aws_proxy(upstream_port, traffic):
    """Forwards to moto, counting calls by X-Amz-Target (DynamoDB and Secrets
    Manager both speak JSON-RPC, so the target names the operation)."""
    local = threading.local()

    class Proxy(Handler):
        def forward(self):
            t0 = time.perf_counter_ns()
            body = self.body()
            op = self.headers.get("X-Amz-Target") or f"{self.command} {self.path.split('?')[0]}"
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            for attempt in (1, 2):  # a kept-alive upstream connection may have been closed by moto
                conn = getattr(local, "conn", None) or http.client.HTTPConnection("127.0.0.1", upstream_port,
                                                                                  timeout=TIMEOUT)
                local.conn = conn
                try:
                    conn.request(self.command, self.path, body, headers)
                    response = conn.getresponse()
                    data = response.read()
                    break
                except (http.client.HTTPException, ConnectionError):
                    conn.close()
                    local.conn = None
                    if attempt == 2:
                        raise
            traffic.record(op, t0, time.perf_counter_ns())
            keep = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP | {"date", "server"}]
            self.reply(response.status, data, keep)

        do_GET = do_POST = do_PUT = do_DELETE = forward

    return serve(Proxy)


def fake_slack(traffic):
    ts_counter = itertools.count(1)

    class Slack(Handler):
        def do_POST(self):
            t0 = time.perf_counter_ns()
            payload = json.loads(self.body() or b"{}")
            method = self.path.rsplit("/", 1)[-1]
            if self.path not in ("/api/chat.postMessage", "/api/chat.update"):
                return self.reply(404)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                answer = {"ok": False, "error": "invalid_auth"}
            else:
                ts = payload.get("ts") or f"{int(time.time())}.{next(ts_counter):06d}"
                answer = {"ok": True, "channel": payload.get("channel", ""), "ts": ts}
            traffic.record(f"slack:{method}", t0, time.perf_counter_ns())
            self.reply(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    return serve(Slack)


class Invocation:
    def __init__(self, request_id, event):
        self.id, self.event = request_id, event
        self.done = threading.Event()
        self.kind = self.body = self.queued_ns = self.done_ns = None


class RuntimeApi:
    """The Lambda Runtime API for one function process. One per process, so a
    killed process's pending long-poll can never take the next one's event."""

    def __init__(self):
        self.events = queue.Queue()
        self.invocations = {}
        self.first_next_ns = None
        self.polled = threading.Event()
        self.init_error = None
        self.closed = False
        api = self

        class Runtime(Handler):
            def do_GET(self):
                t = time.perf_counter_ns()
                if self.path != f"{RUNTIME}/invocation/next":
                    return self.reply(404)
                if api.first_next_ns is None:
                    api.first_next_ns = t
                    api.polled.set()
                while not api.closed:
                    try:
                        inv = api.events.get(timeout=0.2)
                    except queue.Empty:
                        continue
                    return self.reply(200, inv.event, [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", inv.id),
                        ("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000)),
                        ("Lambda-Runtime-Invoked-Function-Arn", FUNCTION_ARN),
                        ("Lambda-Runtime-Trace-Id", f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0"),
                    ])

            def do_POST(self):
                t = time.perf_counter_ns()
                body = self.body()
                m = re.fullmatch(rf"{RUNTIME}/invocation/([^/]+)/(response|error)", self.path)
                if m and m[1] in api.invocations:
                    inv = api.invocations[m[1]]
                    inv.kind, inv.body, inv.done_ns = m[2], body, t
                    inv.done.set()
                elif self.path == f"{RUNTIME}/init/error":
                    api.init_error = body or b"(empty)"
                else:
                    return self.reply(404)
                self.reply(202, b'{"status":"OK"}', [("Content-Type", "application/json")])

        self.server = serve(Runtime)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def submit(self, event):
        inv = Invocation(uuid.uuid4().hex, event)
        self.invocations[inv.id] = inv
        inv.queued_ns = time.perf_counter_ns()
        self.events.put(inv)
        return inv

    def close(self):
        self.closed = True
        self.server.shutdown()
        self.server.server_close()


# --- function processes ----------------------------------------------------


class Function:
    """A function process with its own Runtime API, started with a clean
    environment (PATH, HOME and the Lambda variables only)."""

    def __init__(self, argv, env, tag, cwd=None):
        self.api = RuntimeApi()
        self.argv, self.cwd, self.tag = argv, cwd, tag
        self.env = {**env, "AWS_LAMBDA_RUNTIME_API": self.api.address}
        self.log_path = LOGS / f"{tag}.log"
        self.proc = None

    def start(self):
        log = open(self.log_path, "wb")
        self.spawn_ns = time.perf_counter_ns()
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()
        PROCS.append(self.proc)

    def fail(self, message):
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        raise BenchError(f"{self.tag}: {message}\n--- {self.log_path} (tail) ---\n{tail}")

    def wait(self, flag, what):
        deadline = time.monotonic() + TIMEOUT
        while not flag.wait(0.05):  # returns at once when set: timestamps come from the servers anyway
            if self.api.init_error:
                self.fail(f"init error: {self.api.init_error[:500]!r}")
            if self.proc.poll() is not None:
                self.fail(f"exited with {self.proc.returncode} while waiting for {what}")
            if time.monotonic() > deadline:
                self.fail(f"no {what} within {TIMEOUT:.0f} s")

    def result(self, inv):
        self.wait(inv.done, "invocation response")
        if inv.kind != "response":
            self.fail(f"invocation error: {inv.body[:500]!r}")
        return json.loads(inv.body)

    def proc_kib(self, field):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M)[1])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        self.api.close()


def expect(fn, answer, action, **fields):
    """A benchmark that silently measures errors is worthless: check each answer."""
    if answer.get("action") != action or any(answer.get(k) != v for k, v in fields.items()):
        fn.fail(f"expected action={action} {fields}, got {answer}")


def kill_all():
    for proc in PROCS:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


# --- setup -----------------------------------------------------------------


def table_schema():
    """Key and TTL attribute of ThreadsTable in template.yaml (pk/expires_at if unreadable)."""
    try:
        import yaml  # a moto dependency; CloudFormation tags are read as plain values

        class Loader(yaml.SafeLoader):
            pass

        Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
        props = yaml.load((ROOT / "template.yaml").read_text(), Loader)["Resources"]["ThreadsTable"]["Properties"]
        return props["KeySchema"][0]["AttributeName"], props["TimeToLiveSpecification"]["AttributeName"]
    except Exception as e:  # noqa: BLE001 - the defaults are what the code uses today
        print(f"note: template.yaml not read ({e}); using pk/expires_at", file=sys.stderr)
        return "pk", "expires_at"


def start_moto(venv_bin):
    port = free_port()
    log = open(LOGS / "moto.log", "wb")
    proc = subprocess.Popen([str(venv_bin / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    PROCS.append(proc)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"moto_server did not start; see {LOGS / 'moto.log'}")
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    aws = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
               aws_secret_access_key="testing")
    key, ttl = table_schema()
    dynamodb = boto3.client("dynamodb", **aws)
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                          AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
                          KeySchema=[{"AttributeName": key, "KeyType": "HASH"}])
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"AttributeName": ttl, "Enabled": True})
    boto3.client("secretsmanager", **aws).create_secret(Name=SECRET, SecretString=json.dumps({"token": TOKEN}))
    return port


class Events:
    """The sample events, each call a fresh task: replacing the task id in the
    raw text rewrites taskArn, resources and the container ARNs alike."""

    def __init__(self):
        self.running = (ROOT / "events/ecs-task-running.json").read_text()
        self.stopped = (ROOT / "events/ecs-task-stopped-success.json").read_text()
        self.task_id = json.loads(self.running)["detail"]["taskArn"].rsplit("/", 1)[1]
        assert self.task_id in self.stopped, "the two sample events must be of the same task"

    def task(self):
        new = f"bench{uuid.uuid4().hex}"
        return self.running.replace(self.task_id, new).encode(), self.stopped.replace(self.task_id, new).encode()


class Bench:
    def __init__(self, venv_bin):
        self.traffic = Traffic()
        self.proxy = aws_proxy(start_moto(venv_bin), self.traffic)
        self.slack = fake_slack(self.traffic)
        self.events = Events()
        home = TARGET / "home"  # empty, as on Lambda: no ~/.aws files change what the SDKs do
        home.mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ["PATH"], "HOME": str(home),
            "SLACK_TOKEN_SECRET_ID": SECRET, "SLACK_DEFAULT_CHANNEL": CHANNEL, "THREADS_TABLE": TABLE,
            "ENVIRONMENT": "bench", "SLACK_API_URL": f"http://127.0.0.1:{self.slack.server_address[1]}/api",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.proxy.server_address[1]}", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",  # Lambda sets both; boto3 reads only this one
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": "notifier", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "x",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/notifier", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "WARN",
        }

    def function(self, kind, tag):
        if kind == "peer":
            # No bytecode writes: on Lambda the package is read-only, so handler.py compiles each cold start.
            env = {**self.env, "PYTHONPATH": str(PEER_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
            return Function([sys.executable, "-m", "awslambdaric", "handler.handler"], env, tag, PEER_DIR)
        return Function([str(NOTIFIER if kind == "notifier" else ECHO)], self.env, tag)

    def round_trips(self, before):
        delta = self.traffic.snapshot() - before
        return {op: n for op, n in delta.items() if op.startswith(("DynamoDB_", "slack:"))}, \
            delta["secretsmanager.GetSecretValue"]


# --- measurements ----------------------------------------------------------


def cold_starts(bench, rounds):
    """Interleaved cold starts, each serving a RUNNING event of a fresh task
    that is queued before the spawn, as a cold start serves a waiting event."""
    kinds = ["notifier", "echo", "peer"]
    runs = {k: [] for k in kinds}
    for i in range(rounds):
        for kind in kinds[i % 3:] + kinds[:i % 3]:  # rotate: no kind always runs after the same one
            running, _ = bench.events.task()
            fn = bench.function(kind, f"cold-{kind}-{i}")
            before = bench.traffic.snapshot()
            inv = fn.api.submit(running)
            fn.start()
            try:
                answer = fn.result(inv)
                if kind == "echo":
                    if answer != json.loads(running):
                        fn.fail("the echo function did not echo")
                else:
                    expect(fn, answer, "posted_start", channel=CHANNEL)
                first_next = fn.api.first_next_ns
                run = {"init_ms": ms(first_next - fn.spawn_ns), "cold_ms": ms(inv.done_ns - fn.spawn_ns),
                       "first_event_ms": ms(inv.done_ns - first_next),
                       "backend_ms": bench.traffic.busy_ms(first_next, inv.done_ns)}
                run["secret_reads"] = bench.round_trips(before)[1]
                runs[kind].append(run)
            finally:
                fn.stop()
    return runs


def warm_stream(bench, tasks):
    """One process, one event at a time: per event latency and the calls it made."""
    fn = bench.function("notifier", "warm")
    before_process = bench.traffic.snapshot()
    fn.start()
    rss_at = sorted({20, tasks, 2 * tasks})
    stats = {s: {"latency_ms": [], "backend_ms": [], "trips": collections.Counter()} for s in ("RUNNING", "STOPPED")}
    rss, count = {}, 0
    try:
        fn.wait(fn.api.polled, "first /next")
        for task in range(tasks + 1):
            for status, event in zip(("RUNNING", "STOPPED"), bench.events.task()):
                before = bench.traffic.snapshot()
                inv = fn.api.submit(event)
                answer = fn.result(inv)
                if status == "RUNNING":
                    expect(fn, answer, "posted_start", channel=CHANNEL)
                else:
                    expect(fn, answer, "posted_completion", channel=CHANNEL, threaded=True)
                if task == 0:
                    continue  # warm-up task: connections, token read; the cold runs measure those
                count += 1
                trips, _ = bench.round_trips(before)
                s = stats[status]
                s["latency_ms"].append(ms(inv.done_ns - inv.queued_ns))
                s["backend_ms"].append(bench.traffic.busy_ms(inv.queued_ns, inv.done_ns))
                s["trips"][tuple(sorted(trips.items()))] += 1
                if count in rss_at:
                    rss[count] = fn.proc_kib("VmRSS")
        peak = fn.proc_kib("VmHWM")
        secret_reads = bench.round_trips(before_process)[1]
    finally:
        fn.stop()
    out = {"events": count, "rss_kib_after": rss, "peak_rss_kib": peak, "secret_reads": secret_reads}
    every = stats["RUNNING"]["latency_ms"] + stats["STOPPED"]["latency_ms"]
    out["all"] = {"p50_ms": pct(every, 50), "p95_ms": pct(every, 95)}
    for status, s in stats.items():
        pattern, _ = s["trips"].most_common(1)[0]
        out[status] = {"p50_ms": pct(s["latency_ms"], 50), "p95_ms": pct(s["latency_ms"], 95),
                       "backend_p50_ms": pct(s["backend_ms"], 50),
                       "round_trips_max": max(sum(n for _, n in p) for p in s["trips"]),
                       "calls": dict(pattern), "patterns": len(s["trips"])}
    return out


def sizes():
    binary = NOTIFIER.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o755 << 16
        z.writestr(info, binary, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return {"binary_bytes": len(binary), "zip_bytes": len(buf.getvalue())}


def criterion(path):
    """Per-benchmark median from criterion's estimates.json, else the middle of the printed `time: [..]`."""
    if not path or not Path(path).exists():
        return {}
    units = {"ps": 1e-6, "ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
    out, name = {}, None
    for line in Path(path).read_text(errors="replace").splitlines():
        if m := re.match(r"^(pure_path/\S+)", line):
            name = m[1]
        if name and (m := re.search(r"time:\s+\[\S+ \S+ ([\d.]+) (\S+) \S+ \S+\]", line)):
            estimates = TARGET / "criterion" / name.replace("/", "_") / "new" / "estimates.json"
            if not estimates.exists():
                estimates = TARGET / "criterion" / name / "new" / "estimates.json"
            if estimates.exists():
                median_ns = json.loads(estimates.read_text())["median"]["point_estimate"]
                out[name] = {"median_us": median_ns / 1e3, "source": "estimates.json median"}
            else:
                out[name] = {"median_us": float(m[1]) * units[m[2]], "source": "printed estimate"}
            name = None
    return out


def machine():
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    return {"arch": platform.machine(), "cpu": cpu[1] if cpu else "?", "nproc": os.cpu_count(),
            "kernel": platform.release(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg()}


# --- report ----------------------------------------------------------------


def report(r):
    cold, warm, size = r["cold"], r["warm"], r["size"]
    n, e, p = cold["notifier"], cold["echo"], cold["peer"]
    init_ratio = n["init_ms"]["median"] / e["init_ms"]["median"]
    speedup = p["cold_ms"]["median"] / n["cold_ms"]["median"]
    rss = warm["rss_kib_after"]
    growth = (max(rss.values()) - rss[min(rss)]) / 1024
    secrets = [warm["secret_reads"]] + n["secret_reads_per_process"]
    bench_us = {k: v["median_us"] for k, v in r["pure_path"].items()}
    f = lambda s: f'{s["median"]:.1f} ms (min {s["min"]:.1f}, max {s["max"]:.1f}, n={s["n"]})'
    goals = [
        ("init ≤ 1.5× echo floor", f"{init_ratio:.2f}×", init_ratio <= 1.5),
        ("cold init+first event ≥ 10× faster than Python peer", f"{speedup:.1f}×", speedup >= 10),
        ("round trips RUNNING ≤ 3", warm["RUNNING"]["round_trips_max"], warm["RUNNING"]["round_trips_max"] <= 3),
        ("round trips STOPPED ≤ 4", warm["STOPPED"]["round_trips_max"], warm["STOPPED"]["round_trips_max"] <= 4),
        ("secret read once per process", f"{sorted(set(secrets))} over {len(secrets)} processes",
         set(secrets) == {1}),
        ("peak RSS ≤ 32 MiB", f'{warm["peak_rss_kib"] / 1024:.1f} MiB', warm["peak_rss_kib"] <= 32 * 1024),
        ("RSS flat (≤ 1 MiB growth, event 20 → end)", f"{growth:+.2f} MiB", growth <= 1),
        ("pure path ≤ 50 µs per event", ", ".join(f"{k} {v:.1f} µs" for k, v in bench_us.items()) or "not run",
         bool(bench_us) and max(bench_us.values()) <= 50),
        ("stripped binary ≤ 12 MiB (goal is arm64; this is " + r["machine"]["arch"] + ")",
         f'{size["binary_bytes"] / MiB:.2f} MiB', size["binary_bytes"] <= 12 * MiB),
    ]
    r["goals"] = [{"goal": g, "value": str(v), "pass": ok} for g, v, ok in goals]
    rows = [
        ("init (spawn → first /next), notifier", f(n["init_ms"])),
        ("init, echo floor", f(e["init_ms"])),
        ("init, Python peer", f(p["init_ms"])),
        ("cold init + first RUNNING, notifier", f(n["cold_ms"])),
        ("  first event alone", f(n["first_event_ms"])),
        ("  of which in moto/fake Slack (median)", f'{n["backend_ms"]["median"]:.1f} ms'),
        ("cold init + first RUNNING, Python peer", f(p["cold_ms"])),
        ("  first event alone", f(p["first_event_ms"])),
        (f'warm, {warm["events"]} events: p50 / p95', f'{warm["all"]["p50_ms"]:.2f} / {warm["all"]["p95_ms"]:.2f} ms'),
    ]
    for status in ("RUNNING", "STOPPED"):
        w = warm[status]
        rows.append((f"  {status}: p50 / p95 (backend p50)",
                     f'{w["p50_ms"]:.2f} / {w["p95_ms"]:.2f} ms ({w["backend_p50_ms"]:.2f} ms)'))
        rows.append((f"  {status}: calls per event", ", ".join(f"{k} ×{v}" for k, v in w["calls"].items())))
    rows += [
        ("RSS after events " + "/".join(map(str, rss)), " / ".join(f"{v / 1024:.1f}" for v in rss.values()) + " MiB"),
        ("peak RSS (VmHWM)", f'{warm["peak_rss_kib"] / 1024:.1f} MiB'),
        ("binary / zip (deflate 9)", f'{size["binary_bytes"] / MiB:.2f} / {size["zip_bytes"] / MiB:.2f} MiB'),
    ]
    m = r["machine"]
    print(f'\nmachine: {m["arch"]}, {m["cpu"]}, {m["nproc"]} CPUs, kernel {m["kernel"]}; {m["date"]}; '
          f'load {m["loadavg_start"][0]:.2f} at start, {m["loadavg_end"][0]:.2f} at end')
    width = max(len(k) for k, _ in rows)
    print("\n" + "\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    width = max(len(g) for g, _, _ in goals)
    print("\ngoals:")
    print("\n".join(f'  {"PASS" if ok else "MISS"}  {g:<{width}}  {v}' for g, v, ok in goals))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11, help="cold starts per function (default 11)")
    parser.add_argument("--tasks", type=int, default=100, help="tasks in the warm stream, 2 events each")
    parser.add_argument("--criterion", help="saved output of cargo bench --bench pure_path")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    args = parser.parse_args()
    for path in (NOTIFIER, ECHO):
        if not path.exists():
            raise BenchError(f"{path} is missing: run bash bench/run.sh, which builds it")
    LOGS.mkdir(parents=True, exist_ok=True)
    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # through finally and atexit
    started = time.monotonic()
    results = {"machine": machine()}
    bench = Bench(Path(sys.executable).parent)
    print(f"cold starts: {args.rounds} rounds × notifier, echo floor, Python peer (interleaved) ...", flush=True)
    runs = cold_starts(bench, args.rounds)
    results["cold"] = {kind: {key: spread([run[key] for run in kind_runs]) for key in kind_runs[0]}
                       for kind, kind_runs in runs.items()}
    results["cold"]["notifier"]["secret_reads_per_process"] = [run["secret_reads"] for run in runs["notifier"]]
    results["cold_samples"] = runs
    print(f"warm stream: {args.tasks} tasks × (RUNNING, STOPPED) after one warm-up task ...", flush=True)
    results["warm"] = warm_stream(bench, args.tasks)
    results["size"] = sizes()
    results["pure_path"] = criterion(args.criterion)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["harness_seconds"] = round(time.monotonic() - started, 1)
    report(results)
    text = json.dumps(results, indent=2, default=str)
    Path(args.out).write_text(text + "\n")
    print(f"\nJSON (also in {os.path.relpath(args.out)}):\n{text}")


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print(f"\nbenchmark failed: {e}", file=sys.stderr)
        sys.exit(1)
    finally:
        kill_all()
