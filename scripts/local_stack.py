"""A local stand-in for the function's world, for runs with no AWS account:
moto's server (the repo's serialised one), the table `template.yaml`
defines, created in it, and a fake Slack Web API that prints each message
it is sent and answers as Slack does. Writes the function's environment to
an env file (for `cargo lambda watch --env-file`) and prints it.

Run by scripts/local-stack.sh; stops everything on Ctrl-C or SIGTERM.
Usage: local_stack.py ENV_FILE [--moto-port N] [--slack-port N]
"""

import argparse
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import yaml

ROOT = Path(__file__).resolve().parent.parent
TABLE = "ecs-slack-notifier-local"
CHANNEL = "C0LOCAL"
# Not a real token: the fake Slack accepts only this one.
TOKEN = "xoxb-local-stack"
REGION = "us-east-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation's short forms (!Ref, !Sub, …) as plain values."""


TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def table_definition():
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=TemplateLoader)
    props = template["Resources"]["NotifierTable"]["Properties"]
    return {
        "TableName": TABLE,
        "BillingMode": props["BillingMode"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props.get("GlobalSecondaryIndexes", []),
    }, props.get("TimeToLiveSpecification")


def wait_for(url, process, what):
    for _ in range(150):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if process.poll() is not None:
                sys.exit(f"local stack: {what} exited at start (code {process.returncode})")
            time.sleep(0.2)
    sys.exit(f"local stack: {what} did not answer at {url}")


class FakeSlack(BaseHTTPRequestHandler):
    """Slack's Web API as the function uses it: the bot token checked,
    messages given a `ts`, each one printed."""

    ts = itertools.count(1)
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def answer(self, body):
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace")
        method = self.path.rsplit("/", 1)[-1]
        if self.headers.get("authorization") != f"Bearer {TOKEN}":
            return self.answer({"ok": False, "error": "invalid_auth"})
        if "json" in (self.headers.get("content-type") or ""):
            args = json.loads(raw or "{}")
        else:
            args = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
        if method == "auth.test":
            return self.answer({"ok": True, "user_id": "U0LOCALBOT", "team": "local", "bot_id": "B0LOCAL"})
        if method in ("chat.postMessage", "chat.update"):
            with self.lock:
                ts = args.get("ts") or f"{int(time.time())}.{next(self.ts):06d}"
                where = args.get("channel", "?")
                if args.get("thread_ts"):
                    where += f", thread {args['thread_ts']}"
                verb = "updated" if method == "chat.update" else "posted"
                print(f"slack: {verb} {ts} in {where}", flush=True)
                for line in (args.get("text") or "").splitlines() or [""]:
                    print(f"    {line}", flush=True)
            return self.answer({"ok": True, "channel": args.get("channel"), "ts": ts})
        if method in ("conversations.history", "conversations.replies"):
            return self.answer({"ok": True, "messages": [], "has_more": False})
        if method == "conversations.info":
            return self.answer({"ok": True, "channel": {"id": args.get("channel"), "is_member": True}})
        if method == "chat.getPermalink":
            return self.answer({"ok": True, "permalink": f"https://slack.invalid/archives/{args.get('channel')}"})
        print(f"slack: {method} (answered ok)", flush=True)
        return self.answer({"ok": True})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("env_file")
    parser.add_argument("--moto-port", type=int, default=0)
    parser.add_argument("--slack-port", type=int, default=0)
    args = parser.parse_args()
    moto_port = args.moto_port or free_port()
    slack_port = args.slack_port or free_port()

    moto = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "moto_server_serial.py"), str(moto_port), "--exit-with", str(os.getpid())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stop = threading.Event()

    def shut_down(*_):
        stop.set()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)

    endpoint = f"http://127.0.0.1:{moto_port}"
    wait_for(f"{endpoint}/moto-api/", moto, "moto")
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=endpoint, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    definition, ttl = table_definition()
    dynamodb.create_table(**definition)
    if ttl:
        dynamodb.update_time_to_live(TableName=TABLE, TimeToLiveSpecification=ttl)

    slack = ThreadingHTTPServer(("127.0.0.1", slack_port), FakeSlack)
    threading.Thread(target=slack.serve_forever, daemon=True).start()

    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "THREADS_TABLE": TABLE,
        "SLACK_API_URL": f"http://127.0.0.1:{slack_port}/api",
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_DEFAULT_CHANNEL": CHANNEL,
    }
    Path(args.env_file).parent.mkdir(parents=True, exist_ok=True)
    Path(args.env_file).write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    print(f"local stack: moto at {endpoint} with table {TABLE}; fake Slack at http://127.0.0.1:{slack_port}/api")
    print(f"local stack: the function's environment is in {args.env_file}:")
    for k, v in env.items():
        print(f"    {k}={v}")
    print("local stack: ready; Slack's messages follow (Ctrl-C stops it)", flush=True)
    try:
        while not stop.wait(0.5):
            if moto.poll() is not None:
                sys.exit(f"local stack: moto exited (code {moto.returncode})")
    finally:
        slack.shutdown()
        moto.terminate()
        moto.wait(timeout=10)
        Path(args.env_file).unlink(missing_ok=True)
        print("local stack: stopped", flush=True)


if __name__ == "__main__":
    main()
