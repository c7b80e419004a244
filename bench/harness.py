#!/usr/bin/env python3
"""Performance benchmark of the notifier Lambda against its goals.

Runs the release binaries the way Lambda runs them, as processes polling a
Runtime API (an emulator in this process); AWS is moto behind a counting
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
import struct
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "target" / "bench"
# As deployed: built for musl by cargo-lambda and linked statically (bench/run.sh).
NOTIFIER = TARGET / "lambda" / "ecs-slack-notifier" / "bootstrap"
# The floor as the smallest Rust Lambda is usually built (glibc, dynamic, PIE),
# and the same linked as the notifier is (musl, static), for comparison.
ECHO = TARGET / "release" / "examples" / "echo_floor"
ECHO_LINKED = TARGET / "lambda" / "echo_floor" / "bootstrap"
PEER_DIR = ROOT / "bench" / "python_peer"
LOGS = TARGET / "logs"
TIMEOUT = 30.0  # bound on every wait: a hung function fails the run instead of hanging it
TOKEN, CHANNEL, TABLE, SECRET = "xoxb-bench-token", "C0JOBS", "bench-threads", "bench/slack-bot"
FAMILY, CONTAINER = "market-pulse-collect-stock-prices", "collect-stock-prices"
LOG_GROUP = f"/ecs/{FAMILY}"
# Job-log calls: CloudWatch Logs reads and ECS task definitions (cached per process).
LOG_READS = ("Logs_", "AmazonEC2ContainerService")
RUNTIME = "/2018-06-01/runtime"
MiB = 1024 * 1024
PROCS = []  # every process started here, killed at exit whatever happens


class BenchError(Exception):
    pass


def ms(ns):
    return ns / 1e6


def pct(values, p):
    """Nearest-rank percentile: always a value that was measured."""
    return sorted(values)[max(0, math.ceil(p / 100 * len(values)) - 1)]


def spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def kill_all():
    for proc in PROCS:
        if proc.poll() is None:
            proc.kill()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                pass


# --- loopback servers ------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as hyper, the SDKs and the runtime clients use it
    disable_nagle_algorithm = True  # headers and body are two writes: avoid a delayed-ACK stall

    def log_message(self, *args):
        pass

    def body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):  # no client here sends it; fail loudly if one does
            raise BenchError(f"chunked request body on {self.path}: not supported by the harness")
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
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a killed function's socket is expected
            super().handle_error(request, client_address)


def serve(handler):
    server = Server(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


class Traffic:
    """Calls seen by the AWS proxy and the fake Slack: counts per operation,
    and (arrival, answered) spans to tell backend time from function time.
    Recorded before the answer goes out, so every call of an invocation is
    counted by the time the function can have answered it."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.spans = []

    def record(self, op, t0):
        with self.lock:
            self.counts[op] += 1
            self.spans.append((t0, time.perf_counter_ns()))

    def snapshot(self):
        with self.lock:
            return collections.Counter(self.counts)

    def busy_ms(self, start, end):
        """Backend time within [start, end]; a function's calls are sequential."""
        with self.lock:
            return ms(sum(max(0, min(t1, end) - max(t0, start)) for t0, t1 in self.spans))


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length"}


def aws_proxy(upstream_port, traffic):
    """Forwards to moto, counting by X-Amz-Target: DynamoDB and Secrets
    Manager speak JSON-RPC, so that header names the operation."""
    local = threading.local()

    class Proxy(Handler):
        def forward(self):
            t0 = time.perf_counter_ns()
            body = self.body()
            op = self.headers.get("X-Amz-Target") or f"{self.command} {self.path.split('?')[0]}"
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            for attempt in (1, 2):  # moto may have closed the kept-alive upstream connection
                local.conn = getattr(local, "conn", None) or http.client.HTTPConnection(
                    "127.0.0.1", upstream_port, timeout=TIMEOUT)
                try:
                    local.conn.request(self.command, self.path, body, headers)
                    response = local.conn.getresponse()
                    data = response.read()
                    break
                except (http.client.HTTPException, ConnectionError):
                    local.conn.close()
                    local.conn = None
                    if attempt == 2:
                        raise
            traffic.record(op, t0)
            skip = HOP_BY_HOP | {"date", "server"}
            self.reply(response.status, data, [(k, v) for k, v in response.getheaders() if k.lower() not in skip])

        do_GET = do_POST = do_PUT = do_DELETE = forward

    return serve(Proxy)


def fake_slack(traffic):
    ts_counter = itertools.count(1)

    class Slack(Handler):
        def do_POST(self):
            t0 = time.perf_counter_ns()
            payload = json.loads(self.body() or b"{}")
            if self.path not in ("/api/chat.postMessage", "/api/chat.update"):
                return self.reply(404)
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                answer = {"ok": False, "error": "invalid_auth"}
            else:  # chat.update keeps the ts it was given
                ts = payload.get("ts") or f"{int(time.time())}.{next(ts_counter):06d}"
                answer = {"ok": True, "channel": payload.get("channel", ""), "ts": ts}
            traffic.record("slack:" + self.path.rsplit("/", 1)[1], t0)
            self.reply(200, json.dumps(answer).encode(), [("Content-Type", "application/json")])

    return serve(Slack)


class Invocation:
    def __init__(self, event):
        self.id, self.event = uuid.uuid4().hex, event
        self.done = threading.Event()
        self.kind = self.body = self.done_ns = None
        self.queued_ns = time.perf_counter_ns()


class RuntimeApi:
    """The Lambda Runtime API for one function process. One per process, so a
    killed process's pending long-poll can never take the next one's event."""

    def __init__(self):
        self.events = queue.Queue()
        self.invocations = {}
        self.first_next_ns = self.init_error = None
        self.polled = threading.Event()
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
                    now = time.time()
                    return self.reply(200, inv.event, [
                        ("Content-Type", "application/json"),
                        ("Lambda-Runtime-Aws-Request-Id", inv.id),
                        ("Lambda-Runtime-Deadline-Ms", str(int(now * 1000) + 30000)),
                        ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:notifier"),
                        ("Lambda-Runtime-Trace-Id", f"Root=1-{int(now):08x}-{inv.id[:24]};Sampled=0"),
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
        inv = Invocation(event)
        self.invocations[inv.id] = inv
        self.events.put(inv)
        return inv

    def close(self):
        self.closed = True
        self.server.shutdown()
        self.server.server_close()


# --- function processes ----------------------------------------------------


class Function:
    """A function process with its own Runtime API, started with a clean
    environment (PATH, HOME and the function's variables only)."""

    def __init__(self, argv, env, tag, cwd=None):
        self.api = RuntimeApi()
        self.argv, self.cwd, self.tag = argv, cwd, tag
        self.env = {**env, "AWS_LAMBDA_RUNTIME_API": self.api.address}
        self.log_path = LOGS / f"{tag}.log"
        self.proc = None

    def start(self):
        with open(self.log_path, "wb") as log:
            self.spawn_ns = time.perf_counter_ns()
            self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.cwd, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT)
        PROCS.append(self.proc)

    def fail(self, message):
        tail = self.log_path.read_text(errors="replace")[-3000:] if self.log_path.exists() else ""
        raise BenchError(f"{self.tag}: {message}\n--- {self.log_path} (tail) ---\n{tail}")

    def wait(self, flag, what):
        deadline = time.monotonic() + TIMEOUT
        while not flag.wait(0.05):  # returns as soon as set; the times come from the servers anyway
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

    def expect(self, inv, action, **fields):
        """A benchmark that silently measures errors is worthless: check every answer."""
        answer = self.result(inv)
        if answer.get("action") != action or any(answer.get(k) != v for k, v in fields.items()):
            self.fail(f"expected action={action} {fields}, got {answer}")

    def kib(self, field):
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M)[1])

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(TIMEOUT)
        self.api.close()


# --- setup -----------------------------------------------------------------


def table_schema():
    """NotifierTable's CreateTable arguments and TTL attribute, as template.yaml defines them."""
    import yaml  # a moto dependency

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)  # CloudFormation tags
    props = yaml.load((ROOT / "template.yaml").read_text(), Loader)["Resources"]["NotifierTable"]["Properties"]
    table = {k: props[k] for k in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes") if k in props}
    return table, props["TimeToLiveSpecification"]["AttributeName"]


def start_moto():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with open(LOGS / "moto.log", "wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    PROCS.append(proc)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"moto_server did not start; see {LOGS / 'moto.log'}") from None
            time.sleep(0.1)
    # Set up directly, not through the proxy, so the counts are the functions' alone.
    aws = dict(endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
               aws_access_key_id="testing", aws_secret_access_key="testing")
    table, ttl = table_schema()
    dynamodb = boto3.client("dynamodb", **aws)
    dynamodb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST", **table)
    dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification={"AttributeName": ttl, "Enabled": True})
    boto3.client("secretsmanager", **aws).create_secret(Name=SECRET, SecretString=json.dumps({"token": TOKEN}))
    # Job logs are on, as the template deploys it: the sample task's
    # definition logs with awslogs, and each task gets a stream ending in a
    # JOB_SUMMARY line (see Bench.task).
    definition = boto3.client("ecs", **aws).register_task_definition(
        family=FAMILY, containerDefinitions=[{
            "name": CONTAINER, "image": "market-pulse-jobs:bench", "memory": 512, "essential": True,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": LOG_GROUP, "awslogs-region": "us-east-1", "awslogs-stream-prefix": "ecs"}}}],
    )["taskDefinition"]["taskDefinitionArn"]
    boto3.client("logs", **aws).create_log_group(logGroupName=LOG_GROUP)
    return port, aws, definition


class Bench:
    """The shared backends, the functions' environment, and fresh events."""

    def __init__(self):
        self.traffic = Traffic()
        moto_port, moto, definition = start_moto()
        proxy = aws_proxy(moto_port, self.traffic)
        self.logs = boto3.client("logs", **moto)  # direct: stream set-up is not the function's traffic
        slack = fake_slack(self.traffic)
        sample_definition = json.loads((ROOT / "events/ecs-task-running.json").read_text())["detail"]["taskDefinitionArn"]
        self.running = (ROOT / "events/ecs-task-running.json").read_text().replace(sample_definition, definition)
        self.stopped = (ROOT / "events/ecs-task-stopped-success.json").read_text().replace(sample_definition, definition)
        self.task_id = json.loads(self.running)["detail"]["taskArn"].rsplit("/", 1)[1]
        self.started_at = json.loads(self.running)["detail"]["startedAt"]
        self.tasks_made = 0
        if self.task_id not in self.stopped:
            raise BenchError("the RUNNING and STOPPED sample events must be of the same task")
        home = TARGET / "home"  # empty, as on Lambda: no ~/.aws files change what the SDKs do
        home.mkdir(exist_ok=True)
        self.env = {
            "PATH": os.environ["PATH"], "HOME": str(home),
            "SLACK_TOKEN_SECRET_ID": SECRET, "SLACK_DEFAULT_CHANNEL": CHANNEL, "THREADS_TABLE": TABLE,
            "ENVIRONMENT": "bench", "SLACK_API_URL": f"http://127.0.0.1:{slack.server_address[1]}/api",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.server_address[1]}", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",  # Lambda sets both; boto3 reads only this one
            "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_LAMBDA_FUNCTION_NAME": "notifier", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "x",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/notifier", "AWS_LAMBDA_LOG_FORMAT": "JSON",
            "AWS_LAMBDA_LOG_LEVEL": "WARN", "JOB_LOGS": "on",
        }

    def task(self):
        """RUNNING and STOPPED of a fresh task: replacing the task id in the raw
        text rewrites taskArn, resources and the container ARNs alike."""
        new = f"bench{uuid.uuid4().hex}"
        stream = f"ecs/{CONTAINER}/{new}"
        self.logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=stream)
        self.logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=stream, logEvents=[
            {"timestamp": int(time.time() * 1000), "message": line} for line in
            ("collecting prices", 'JOB_SUMMARY {"success": 498, "failed": 0, "tickers": 503}', "done")])
        # Each task starts 2 minutes before the last: runs of a job, one at a
        # time, as its single tasks are measured (tasks starting within a
        # minute of each other would form a group: docs/messages.md, "Bursts").
        self.tasks_made += 1
        start = datetime.fromisoformat(self.started_at.replace("Z", "+00:00"))
        start -= timedelta(minutes=2 * self.tasks_made)
        shifted = start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}Z"
        running = self.running.replace(self.task_id, new).replace(self.started_at, shifted)
        stopped = self.stopped.replace(self.task_id, new).replace(self.started_at, shifted)
        return running.encode(), stopped.encode()

    def function(self, kind, tag):
        if kind == "peer":
            # No bytecode writes: on Lambda the package is read-only, so handler.py compiles each cold start.
            env = {**self.env, "PYTHONPATH": str(PEER_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
            return Function([sys.executable, "-m", "awslambdaric", "handler.handler"], env, tag, PEER_DIR)
        return Function([str({"notifier": NOTIFIER, "echo": ECHO, "echo_linked": ECHO_LINKED}[kind])], self.env, tag)

    def calls_since(self, before):
        """(DynamoDB + Slack calls by operation, Secrets Manager reads) since a snapshot."""
        delta = self.traffic.snapshot() - before
        trips = {op: n for op, n in delta.items() if op.startswith(("DynamoDB_", "slack:", *LOG_READS))}
        return trips, delta["secretsmanager.GetSecretValue"]


# --- measurements ----------------------------------------------------------


def cold_starts(bench, rounds, kinds):
    """Interleaved cold starts. Each serves a RUNNING event of a fresh task
    queued before the spawn, as a cold start serves a waiting event."""
    runs = {k: [] for k in kinds}
    for i in range(rounds):
        k = i % len(kinds)
        for kind in kinds[k:] + kinds[:k]:  # rotated: no kind always runs after the same one
            running, _ = bench.task()
            fn = bench.function(kind, f"cold-{kind}-{i}")
            before = bench.traffic.snapshot()
            inv = fn.api.submit(running)
            fn.start()
            try:
                if kind.startswith("echo"):
                    if fn.result(inv) != json.loads(running):
                        fn.fail("the echo function did not echo")
                else:
                    fn.expect(inv, "posted_start", channel=CHANNEL)
                ready = fn.api.first_next_ns
                runs[kind].append({
                    "init_ms": ms(ready - fn.spawn_ns), "cold_ms": ms(inv.done_ns - fn.spawn_ns),
                    "first_event_ms": ms(inv.done_ns - ready),
                    "backend_ms": bench.traffic.busy_ms(ready, inv.done_ns),
                    "secret_reads": bench.calls_since(before)[1]})
            finally:
                fn.stop()
    return runs


def warm_stream(bench, tasks):
    """One process, one event at a time: latency, and the calls each event made."""
    fn = bench.function("notifier", "warm")
    before_process = bench.traffic.snapshot()
    fn.start()
    rss_at = {20, tasks, 2 * tasks}
    stats = {s: {"latency": [], "backend": [], "calls": collections.Counter()} for s in ("RUNNING", "STOPPED")}
    rss, count = {}, 0
    try:
        fn.wait(fn.api.polled, "first /next")
        for task in range(tasks + 1):
            for status, event in zip(("RUNNING", "STOPPED"), bench.task()):
                before = bench.traffic.snapshot()
                inv = fn.api.submit(event)
                if status == "RUNNING":
                    fn.expect(inv, "posted_start", channel=CHANNEL)
                else:
                    fn.expect(inv, "posted_completion", channel=CHANNEL, threaded=True)
                if task == 0:
                    continue  # warm-up task (new connections, token read): the cold runs measure those
                count += 1
                s = stats[status]
                s["latency"].append(ms(inv.done_ns - inv.queued_ns))
                s["backend"].append(bench.traffic.busy_ms(inv.queued_ns, inv.done_ns))
                s["calls"][tuple(sorted(bench.calls_since(before)[0].items()))] += 1
                if count in rss_at:
                    rss[count] = fn.kib("VmRSS")
        peak = fn.kib("VmHWM")
        secret_reads = bench.calls_since(before_process)[1]
    finally:
        fn.stop()
    every = stats["RUNNING"]["latency"] + stats["STOPPED"]["latency"]
    out = {"events": count, "p50_ms": pct(every, 50), "p95_ms": pct(every, 95),
           "rss_kib_after": rss, "peak_rss_kib": peak, "secret_reads": secret_reads}
    for status, s in stats.items():
        out[status] = {"p50_ms": pct(s["latency"], 50), "p95_ms": pct(s["latency"], 95),
                       "backend_p50_ms": pct(s["backend"], 50),
                       "round_trips_max": max(sum(n for op, n in c if not op.startswith(LOG_READS)) for c in s["calls"]),
                       "log_reads_max": max(sum(n for op, n in c if op.startswith(LOG_READS)) for c in s["calls"]),
                       "calls": dict(s["calls"].most_common(1)[0][0]), "call_patterns": len(s["calls"])}
    return out


def sizes():
    binary = NOTIFIER.read_bytes()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("bootstrap", date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o755 << 16
        z.writestr(info, binary, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    return {"binary_bytes": len(binary), "zip_bytes": len(buf.getvalue()),
            "relocations": {"notifier": relocations(NOTIFIER), "echo": relocations(ECHO),
                            **({"echo_linked": relocations(ECHO_LINKED)} if ECHO_LINKED else {})}}


def relocations(path):
    """What the loader applies before main, as `readelf -r` lists it (the
    same count as tests/common/elf.rs): whether the binary is a PIE, its
    relocations, and how many of them are relative (one write per pointer
    in its data, at every start, when loaded at a random address)."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {"pie": None, "static": None, "total": None, "relative": None}
    e_type, machine = struct.unpack_from("<HH", data, 16)
    # Static: no program interpreter (PT_INTERP), so no dynamic loader runs.
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    static = all(struct.unpack_from("<I", data, phoff + i * phentsize)[0] != 3 for i in range(phnum))
    relative_type = {62: 8, 183: 1027}.get(machine)  # x86_64, aarch64
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    total = relative = 0
    for i in range(shnum):
        header = shoff + i * shentsize
        kind, = struct.unpack_from("<I", data, header + 4)
        offset, size = struct.unpack_from("<QQ", data, header + 0x18)
        if kind in (4, 9):  # SHT_RELA, SHT_REL
            entsize = 24 if kind == 4 else 16
            for entry in range(offset, offset + size - size % entsize, entsize):
                total += 1
                relative += (struct.unpack_from("<Q", data, entry + 8)[0] & 0xFFFFFFFF) == relative_type
        elif kind == 19:  # SHT_RELR: an address, or a bitmap of the next 63 words
            for entry in range(offset, offset + size - size % 8, 8):
                word, = struct.unpack_from("<Q", data, entry)
                n = 1 if word & 1 == 0 else bin(word >> 1).count("1")
                total += n
                relative += n
    return {"pie": e_type == 3, "static": static, "total": total, "relative": relative}


def pure_path(path):
    """Median per benchmark from criterion's estimates.json; failing that, the
    point estimate printed as the middle of `time: [low mid high]`."""
    if not path or not Path(path).exists():
        return {}
    units = {"ps": 1e-6, "ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}
    out, name = {}, None
    for line in Path(path).read_text(errors="replace").splitlines():
        if m := re.match(r"(pure_path/\S+)", line):
            name = m[1]  # long names put `time:` on the next line
        if name and (m := re.search(r"time:\s+\[\S+ \S+ ([\d.]+) (\S+) \S+ \S+\]", line)):
            estimates = TARGET / "criterion" / name.replace("/", "_") / "new" / "estimates.json"
            out[name] = (json.loads(estimates.read_text())["median"]["point_estimate"] / 1e3
                         if estimates.exists() else float(m[1]) * units[m[2]])
            name = None
    return out


def machine():
    cpu = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
    return {"arch": platform.machine(), "cpu": cpu[1] if cpu else "?", "nproc": os.cpu_count(),
            "kernel": platform.release(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "loadavg_start": os.getloadavg()}


# --- report ----------------------------------------------------------------


def report(r):
    cold, warm, size, m = r["cold"], r["warm"], r["size"], r["machine"]
    n, e, p = cold["notifier"], cold["echo"], cold["peer"]
    med = lambda s, key: s[key]["median"]  # noqa: E731
    init_ratio = med(n, "init_ms") / med(e, "init_ms")
    speedup = med(p, "cold_ms") / med(n, "cold_ms")
    # The same backends serve both; without their time, the functions' own work:
    own_speedup = (med(p, "cold_ms") - med(p, "backend_ms")) / (med(n, "cold_ms") - med(n, "backend_ms"))
    rss = warm["rss_kib_after"]
    growth = (rss[max(rss)] - rss[min(rss)]) / 1024
    secrets = [warm["secret_reads"]] + [run["secret_reads"] for run in r["cold_samples"]["notifier"]]
    pure = r["pure_path"]
    size_goal = 11 if m["arch"] in ("aarch64", "arm64") else 12
    goals = [
        ("init ≤ 1.2× echo floor", f"{init_ratio:.2f}×", init_ratio <= 1.2),
        ("cold init+first event ≥ 10× faster than Python peer",
         f"{speedup:.1f}× ({own_speedup:.1f}× without backend time)", speedup >= 10),
        ("round trips per RUNNING ≤ 3", warm["RUNNING"]["round_trips_max"], warm["RUNNING"]["round_trips_max"] <= 3),
        # 5, and the read of the job's history (job health), made at once
        # with the run's write: runs are items of their own (issue 19), so
        # the history no longer comes back with that write.
        ("round trips per STOPPED ≤ 6 (5 + the history read), plus ≤ 1 log read",
         f'{warm["STOPPED"]["round_trips_max"]} + {warm["STOPPED"]["log_reads_max"]} log read',
         warm["STOPPED"]["round_trips_max"] <= 6 and warm["STOPPED"]["log_reads_max"] <= 1),
        ("secret read once per process", f"reads {sorted(set(secrets))} in {len(secrets)} processes",
         set(secrets) == {1}),
        ("peak RSS ≤ 32 MiB", f'{warm["peak_rss_kib"] / 1024:.1f} MiB', warm["peak_rss_kib"] <= 32 * 1024),
        (f"RSS flat (≤ 1 MiB growth, event {min(rss)} → {max(rss)})", f"{growth:+.2f} MiB", growth <= 1),
        ("pure path ≤ 50 µs per event", ", ".join(f"{k} {v:.1f} µs" for k, v in pure.items()) or "not run",
         bool(pure) and max(pure.values()) <= 50),
        (f'stripped binary ≤ {size_goal} MiB (goal for {m["arch"]}; aarch64 11, x86_64 12)',
         f'{size["binary_bytes"] / MiB:.2f} MiB', size["binary_bytes"] <= size_goal * MiB),
    ]
    r["goals"] = [{"goal": g, "value": str(v), "pass": ok} for g, v, ok in goals]
    f = lambda s: f'{s["median"]:6.1f} ms  (min {s["min"]:.1f}, max {s["max"]:.1f}, n={s["n"]})'  # noqa: E731
    # Next to init: what the loader applied first, so a regression shows its cause.
    rel = lambda k: (lambda r: f'  [{"static" if r["static"] else "dynamic"}, {"PIE" if r["pie"] else "no PIE"}, '  # noqa: E731
                               f'{r["total"]:,} relocations, {r["relative"]:,} relative]')(size["relocations"][k])
    rows = [
        ("init: spawn → first /next, notifier", f(n["init_ms"]) + rel("notifier")),
        ("init, echo floor", f(e["init_ms"]) + rel("echo")),
    ] + ([
        ("init, echo floor linked as the notifier is", f(cold["echo_linked"]["init_ms"]) + rel("echo_linked")),
        ("  notifier against it (not the goal)",
         f'{med(n, "init_ms") / med(cold["echo_linked"], "init_ms"):.2f}×'),
    ] if "echo_linked" in cold else []) + [
        ("init, Python peer", f(p["init_ms"])),
        ("cold init + first RUNNING, notifier", f(n["cold_ms"])),
        ("  first event alone", f(n["first_event_ms"])),
        ("  of which in proxy+moto / fake Slack", f(n["backend_ms"])),
        ("cold init + first RUNNING, Python peer", f(p["cold_ms"])),
        ("  first event alone", f(p["first_event_ms"])),
        ("  of which in proxy+moto / fake Slack", f(p["backend_ms"])),
        ("first event, echo floor (emulator floor)", f(e["first_event_ms"])),
        (f'warm, {warm["events"]} events: p50 / p95', f'{warm["p50_ms"]:.2f} / {warm["p95_ms"]:.2f} ms'),
    ]
    for status in ("RUNNING", "STOPPED"):
        w = warm[status]
        rows += [(f"  {status}: p50 / p95 (backend p50)",
                  f'{w["p50_ms"]:.2f} / {w["p95_ms"]:.2f} ms  ({w["backend_p50_ms"]:.2f} ms)'),
                 (f"  {status}: calls per event", ", ".join(f"{k} ×{v}" for k, v in w["calls"].items()))]
    rows += [
        ("RSS after events " + "/".join(map(str, rss)), " / ".join(f"{v / 1024:.1f}" for v in rss.values()) + " MiB"),
        ("peak RSS (VmHWM) after the stream", f'{warm["peak_rss_kib"] / 1024:.1f} MiB'),
        ("binary / zip of it as bootstrap", f'{size["binary_bytes"] / MiB:.2f} / {size["zip_bytes"] / MiB:.2f} MiB'),
    ] + [(f"criterion {k} (median)", f"{v:.2f} µs") for k, v in pure.items()]
    print(f'\nmachine: {m["arch"]}, {m["cpu"]}, {m["nproc"]} CPUs, Linux {m["kernel"]}; {m["date"]}; '
          f'load average {m["loadavg_start"][0]:.2f} at start, {m["loadavg_end"][0]:.2f} at end\n')
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    width = max(len(g) for g, _, _ in goals)
    print("\ngoals:\n" + "\n".join(f'  {"PASS" if ok else "MISS"}  {g:<{width}}  {v}' for g, v, ok in goals))


def main():
    global NOTIFIER, ECHO, ECHO_LINKED  # one run measures one set: --notifier/--echo, e.g. another build to compare
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=11, help="cold starts per function (default 11)")
    parser.add_argument("--tasks", type=int, default=100, help="tasks in the warm stream, 2 events each")
    parser.add_argument("--criterion", help="saved output of cargo bench --bench pure_path")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--notifier", help=f"the notifier binary to measure (default {NOTIFIER.relative_to(ROOT)})")
    parser.add_argument("--echo", help=f"the echo floor binary, the goal's (default {ECHO.relative_to(ROOT)})")
    parser.add_argument("--echo-linked", help="the echo floor linked as the notifier is, reported beside it "
                        f"(default {ECHO_LINKED.relative_to(ROOT)} if it exists; 'none' to skip)")
    args = parser.parse_args()
    NOTIFIER, ECHO = Path(args.notifier or NOTIFIER), Path(args.echo or ECHO)
    # None: no linked floor in this run (asked for none, or the default is not built).
    ECHO_LINKED = (None if args.echo_linked == "none" else Path(args.echo_linked) if args.echo_linked
                   else ECHO_LINKED if ECHO_LINKED.exists() else None)
    for path in (NOTIFIER, ECHO) + ((ECHO_LINKED,) if ECHO_LINKED else ()):
        if not path.exists():
            raise BenchError(f"{path} is missing: bash bench/run.sh builds it")
    LOGS.mkdir(parents=True, exist_ok=True)
    atexit.register(kill_all)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwinds through finally and atexit
    started = time.monotonic()
    results = {"machine": machine()}
    bench = Bench()
    kinds = ["notifier", "echo", "peer"] + (["echo_linked"] if ECHO_LINKED else [])
    print(f"cold starts: {args.rounds} rounds of {', '.join(kinds)} (interleaved) ...", flush=True)
    runs = cold_starts(bench, args.rounds, kinds)
    results["cold"] = {kind: {key: spread([run[key] for run in kind_runs]) for key in kind_runs[0]}
                       for kind, kind_runs in runs.items()}
    results["cold_samples"] = runs
    print(f"warm stream: one warm-up task, then {args.tasks} tasks × (RUNNING, STOPPED) ...", flush=True)
    results["warm"] = warm_stream(bench, args.tasks)
    results["size"] = sizes()
    results["pure_path"] = pure_path(args.criterion)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["harness_seconds"] = round(time.monotonic() - started, 1)
    report(results)
    text = json.dumps(results, indent=2)
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
