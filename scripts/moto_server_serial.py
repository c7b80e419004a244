"""moto's server with one request at a time, and DynamoDB's bad days on cue.

Serialisation. moto's server handles each request on its own thread and its
DynamoDB model takes no lock, so two concurrent conditional writes can both
succeed. Real DynamoDB applies each conditional write atomically, and the
notifier's at-most-once guarantee rests on that; serialising requests gives
moto the same semantics, so the concurrency tests test the notifier, not moto.

Faults, latency and accounting. moto never throttles, never conflicts, never
fails, answers at once and bills nothing; real DynamoDB does all of these
under load, and the notifier's retries, idempotency and costs only show
against them. This layer sits in front of moto, on the same port, and adds
them per table (faults, costs) or per service (latency), deterministically
for a seed, when a test asks for them over a small HTTP control API. With no
control request it changes nothing but the ClientRequestToken semantics
below (which real DynamoDB always has).

Control API (JSON in and out; answered before moto sees anything; errors
are 400 or 405 with {"error": "..."}):
  POST   /_faults          {"table": T, "seed": 7, "throttle": 0.08,
                            "server_error": 0.08, "conflict": 0.08,
                            "ambiguous": 0.05, "reads": false}
         sets T's fault rates (omitted kinds: 0), replaces any earlier
         config and zeroes T's counters. Answers {"table", "config"}.
  DELETE /_faults?table=T  removes T's config (its counters stay readable).
                           Answers {"table", "deleted": bool}.
  GET    /_faults?table=T  T's counters: {"requests", "writes", "injected":
                            {"throttle", "server_error", "conflict",
                             "transaction_conflict", "ambiguous"},
                            "idempotent_replays", "config" (or null)}.
  POST   /_latency         {"dynamodb": [lo, hi], "ecs": [lo, hi], ...,
                            "seed": 0}: added latency in ms per service (the
                            SigV4 credential scope's service), replacing the
                            whole table; {} clears. Answers {"latency"}.
  GET    /_latency         the current latency table, {"latency"}.
  GET    /_stats?table=T   T's write cost: {"writes", "wcu", "by_op",
                            "largest_item": {"bytes", "key"} or null}
                            (&region=, &account= for another backend).
  POST   /_stats/reset?table=T  zeroes T's write-cost totals.

Faults, per table, for requests that name the table (TableName, or any
item of a transaction or batch): each write (PutItem, UpdateItem,
DeleteItem, TransactWriteItems, BatchWriteItem) draws each kind once, in
the order of KINDS, from the table's random.Random(seed):
  throttle      400 ThrottlingException / ProvisionedThroughputExceeded-
                Exception, alternately; not applied.
  server_error  500 InternalServerError; not applied.
  conflict      400 TransactionConflictException (single-item writes);
                400 TransactionCanceledException with a TransactionConflict
                reason for one item (transactions); one write handed back
                in UnprocessedItems, the others applied (batches).
  ambiguous     applied by moto, then answered 500 InternalServerError.
With "reads": true, reads (GetItem, Query, Scan, BatchGetItem,
TransactGetItems) draw throttle and server_error too.

Always, for every table: TransactWriteItems honours ClientRequestToken as
DynamoDB does (see replay_or_forward), and every write's capacity is billed
(see bill). A transaction saves and, if it fails, restores only the items
it touches, where moto copies whole tables (see patch_transactions), so its
time does not grow with the table.

Usage: python scripts/moto_server_serial.py PORT [--exit-with PID]
  --exit-with PID: exit when process PID ends (a test binary that started
  this server), so no server outlives its tests.
"""

import base64
import copy
import decimal
import hashlib
import http
import io
import json
import math
import os
import random
import re
import sys
import threading
import time
import uuid
import zlib
from collections import defaultdict
from urllib.parse import parse_qs

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple

app = DomainDispatcherApplication(create_backend_app)
# One lock for moto and for this layer's state: a fault decision, the reads
# of the items before and after a write, and the write itself must be one
# atomic step, or the costs and the ALL_OLD items would describe another
# request's state.
lock = threading.Lock()

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"
TARGET_PREFIX = "DynamoDB_20120810."
ERROR_PREFIX = "com.amazonaws.dynamodb.v20120810#"
JSON_1_0 = "application/x-amz-json-1.0"

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
# The brief names GetItem, Query and Scan; the batch and transactional reads
# are reads to DynamoDB's throttling too.
READS = {"GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"}
SINGLE_ITEM_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}

# The order in which a write's fault kinds are drawn. All four are drawn for
# every write whatever the rates, so that a seed gives one sequence of
# outcomes whichever kinds are enabled; when several come up, the first in
# this order wins (a throttled request never reaches the point where it could
# conflict or be applied).
KINDS = ("throttle", "server_error", "conflict", "ambiguous")
READ_KINDS = ("throttle", "server_error")

# DynamoDB forgets a ClientRequestToken 10 minutes after the first request
# that used it completed.
TOKEN_TTL = 600.0

# Messages as DynamoDB words them where known, so that logs read as they
# would in production (the SDKs act on the code alone).
MESSAGES = {
    "ThrottlingException": "Rate of requests exceeds the allowed throughput.",
    "ProvisionedThroughputExceededException": (
        "The level of configured provisioned throughput for the table was exceeded. "
        "Consider increasing your provisioning level with the UpdateTable API."
    ),
    "InternalServerError": "Internal server error",
    "TransactionConflictException": "Transaction is ongoing for the item",
    "IdempotentParameterMismatchException": (
        "The request uses the same client token as a previous, but non-identical request."
    ),
}
CONFLICT_MESSAGE = "Transaction is ongoing for the item"
CANCELLED_MESSAGE = "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]"


# --- state (all of it guarded by `lock`) -----------------------------------


class FaultConfig:
    """A table's fault rates and the random source that decides them.

    Each table owns its Random, so one table's traffic never shifts another
    table's sequence, and a test that replays the same requests against the
    same seed sees the same faults."""

    def __init__(self, body):
        self.seed = body.get("seed", 0)
        self.rng = random.Random(self.seed)
        self.rates = {}
        for kind in KINDS:
            rate = float(body.get(kind) or 0)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"{kind} must be a probability in [0, 1], not {rate}")
            self.rates[kind] = rate
        self.reads = bool(body.get("reads", False))
        # Throttles alternate between DynamoDB's two throttling codes, so a
        # client is seen to handle both.
        self.throttles = 0

    def describe(self):
        return {"seed": self.seed, **self.rates, "reads": self.reads}

    def draw(self, write):
        kinds = KINDS if write else READ_KINDS
        drawn = [kind for kind in kinds if self.rng.random() < self.rates[kind]]
        return drawn[0] if drawn else None


def new_counters():
    return {
        "requests": 0,
        "writes": 0,
        "injected": {
            "throttle": 0,
            "server_error": 0,
            "conflict": 0,
            "transaction_conflict": 0,
            "ambiguous": 0,
        },
        "idempotent_replays": 0,
    }


def new_stats():
    return {"writes": 0, "wcu": 0, "by_op": {}}


faults = {}  # table name -> FaultConfig
counters = defaultdict(new_counters)  # table name -> counters, for every table
stats = defaultdict(new_stats)  # table name -> write-cost totals
# (account, region, token) -> (digest of TransactItems, expiry, answer body)
tokens = {}

# Latency has its own lock: it is read before the serialisation lock is taken
# (the sleep must not hold it), and a POST /_latency must not wait behind a
# queue of slow requests.
latency_lock = threading.Lock()
latency = {}  # service -> (lo_ms, hi_ms)
latency_rng = random.Random(0)


# --- DynamoDB item sizes ----------------------------------------------------
#
# DynamoDB's documented sizing: an attribute is the UTF-8 length of its name
# plus its value's size. S: UTF-8 bytes. B: raw bytes. BOOL, NULL: 1. Sets:
# the sum of their members. M, L: 3 bytes plus each element's size plus 1
# byte per element (a map element's size includes its name). N: DynamoDB
# stores numbers as base-100 digits plus an exponent byte, so "1 byte per two
# significant digits, plus 1": ceil(d / 2) + 1, where d counts the digits
# left once sign, leading and trailing zeros are dropped (at least 1). This
# is an approximation: the real encoding pairs digits around the decimal
# point, so e.g. "1.5" may take one byte more than computed here.


def utf8_len(text):
    return len(text.encode("utf-8"))


def binary_len(value):
    # Items read from moto hold binaries as base64 text at the top level and
    # as bytes inside maps and lists.
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    return len(base64.b64decode(value))


def number_size(text):
    try:
        digits = decimal.Decimal(text).as_tuple().digits
    except decimal.InvalidOperation:
        return utf8_len(text)
    significant = "".join(map(str, digits)).strip("0")
    return (max(1, len(significant)) + 1) // 2 + 1


def value_size(value):
    (kind, inner), = value.items()
    if kind == "S":
        return utf8_len(inner)
    if kind == "N":
        return number_size(inner)
    if kind == "B":
        return binary_len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(utf8_len(member) for member in inner)
    if kind == "NS":
        return sum(number_size(member) for member in inner)
    if kind == "BS":
        return sum(binary_len(member) for member in inner)
    if kind == "M":
        return 3 + sum(utf8_len(name) + value_size(element) + 1 for name, element in inner.items())
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item):
    """The size DynamoDB bills for an item (DynamoDB JSON), in bytes."""
    if not item:
        return 0
    return sum(utf8_len(name) + value_size(value) for name, value in item.items())


def units(size):
    """Write capacity units for one write of `size` bytes: 1 KB each, at least 1."""
    return max(1, math.ceil(size / 1024))


def jsonable(value):
    """An item read from moto, as JSON can carry it (binaries as base64)."""
    if isinstance(value, dict):
        return {key: jsonable(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [jsonable(inner) for inner in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


# --- moto's DynamoDB backend -----------------------------------------------


def dynamodb_backend(account, region):
    # Imported late: moto builds its backends lazily, and this module is also
    # imported by the tests for its pure functions.
    from moto.backends import get_backend

    return get_backend("dynamodb")[account][region]


def table_name(name):
    # Table names may be given as ARNs; moto's tables are keyed by name.
    if isinstance(name, str) and name.startswith("arn:") and "/" in name:
        return name.split("/", 1)[1]
    return name


def key_of(model, attrs):
    return {name: attrs[name] for name in (model.hash_key_attr, model.range_key_attr) if name and name in attrs}


def read_item(model, key):
    """The item with `key` in moto's table, as DynamoDB JSON, or None."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    try:
        hash_value = DynamoType(key[model.hash_key_attr])
        range_value = DynamoType(key[model.range_key_attr]) if model.range_key_attr else None
        item = model.get_item(hash_value, range_value)
    except Exception:
        return None
    # A copy: moto updates items in place, and "before" must stay before.
    return jsonable(copy.deepcopy(item.to_json()["Attributes"])) if item is not None else None


def projected_size(model, index, item):
    """The size of `item` as projected into a secondary index: ALL, the
    item; KEYS_ONLY, the table's and the index's keys; INCLUDE, those and
    the included attributes."""
    projection = index.projection or {}
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        return item_size(item)
    keep = {model.hash_key_attr, model.range_key_attr} | {k["AttributeName"] for k in index.schema}
    if kind == "INCLUDE":
        keep |= set(projection.get("NonKeyAttributes", []))
    return item_size({name: value for name, value in item.items() if name in keep})


def index_entries(model, item):
    """{index name: (index key, projected size)} for the GSIs `item` is in.

    A GSI is sparse: an item without all of the index's key attributes is
    not in it and costs the index nothing."""
    entries = {}
    if not item:
        return entries
    for index in model.global_indexes or []:
        names = [k["AttributeName"] for k in index.schema]
        if all(name in item for name in names):
            key = json.dumps([item[name] for name in names], sort_keys=True)
            entries[index.name] = (key, projected_size(model, index, item))
    return entries


class Target:
    """One item a write request touches, with what it was and became."""

    def __init__(self, table, kind, spec):
        self.table = table  # name
        self.kind = kind  # Put, Update, Delete or ConditionCheck
        self.spec = spec  # the request's part about this item
        self.model = None  # moto's Table, None if there is no such table
        self.key = None
        self.before = None  # the item before the write (DynamoDB JSON)
        self.after = None
        self.applied = True  # False if this layer held the item back


def write_targets(op, request):
    if op in SINGLE_ITEM_WRITES:
        kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}[op]
        return [Target(table_name(request.get("TableName")), kind, request)]
    if op == "TransactWriteItems":
        targets = []
        for entry in request.get("TransactItems") or []:
            for kind, spec in entry.items():
                targets.append(Target(table_name(spec.get("TableName")), kind, spec))
        return targets
    if op == "BatchWriteItem":
        targets = []
        for name, writes in (request.get("RequestItems") or {}).items():
            for write in writes:
                if "PutRequest" in write:
                    targets.append(Target(table_name(name), "Put", write["PutRequest"]))
                elif "DeleteRequest" in write:
                    targets.append(Target(table_name(name), "Delete", write["DeleteRequest"]))
        return targets
    return []


def read_before(targets, backend):
    for target in targets:
        target.model = backend.tables.get(target.table)
        if target.model is None:
            continue
        source = target.spec.get("Key") or target.spec.get("Item") or {}
        target.key = key_of(target.model, source)
        target.before = read_item(target.model, target.key)


def read_after(targets):
    for target in targets:
        if target.model is not None and target.applied:
            target.after = read_item(target.model, target.key)


def index_cost(model, before, after):
    """WCU a write costs its table's GSIs.

    Each index the item is in, before or after, takes one write of the
    projected item; an index whose key changed takes a delete of the old
    entry and a put of the new one."""
    was, now = index_entries(model, before), index_entries(model, after)
    cost = 0
    for name in set(was) | set(now):
        old, new = was.get(name), now.get(name)
        if old and new and old[0] == new[0]:
            cost += units(max(old[1], new[1]))
        else:
            cost += (units(old[1]) if old else 0) + (units(new[1]) if new else 0)
    return cost


def bill(op, targets, outcome):
    """WCU per table for a write request, as DynamoDB would bill it.

    outcome: "applied"; "condition_failed" (a single-item write whose
    condition failed: DynamoDB bills the size of the existing item, at least
    1 WCU); "cancelled" (a cancelled transaction: billed here as the prepare
    phase only, one write of each item as it stands, no indexes: an
    estimate, DynamoDB does not document it); anything else costs nothing
    (nothing was written: a fault held it back or moto refused it).

    An applied item costs ceil(max(size before, size after) / 1 KB), at
    least 1 (so deleting a missing item costs 1), doubled in a transaction
    (prepare and commit), plus its GSI writes (not doubled). A
    ConditionCheck in an applied transaction is billed as a transactional
    write of the checked item (also an estimate)."""
    costs = defaultdict(int)
    transactional = op == "TransactWriteItems"
    for target in targets:
        if target.model is None or not target.applied:
            continue
        before, after = item_size(target.before), item_size(target.after)
        if outcome == "applied":
            if target.kind == "ConditionCheck":
                cost = 2 * units(before)
            else:
                cost = units(max(before, after)) * (2 if transactional else 1)
                cost += index_cost(target.model, target.before, target.after)
        elif outcome in ("condition_failed", "cancelled"):
            cost = units(before)
        else:
            cost = 0
        costs[target.table] += cost
    return costs


def largest_item(model):
    best = None
    for item in model.all_items():
        attrs = jsonable(copy.deepcopy(item.to_json()["Attributes"]))
        size = item_size(attrs)
        if best is None or size > best["bytes"]:
            best = {"bytes": size, "key": key_of(model, attrs)}
    return best


# --- ReturnValuesOnConditionCheckFailure -------------------------------------
#
# The notifier decides on the item DynamoDB returns with a failed condition.
# moto 5.2 returns it (ConditionalCheckFailedException's "Item", and "Item"
# in a TransactionCanceledException's reasons); earlier versions may not. So
# this adds it where it is missing and leaves moto's answer as it is
# otherwise.


def add_all_old_items(op, request, answer, targets):
    """`answer` (moto's parsed error body) with the ALL_OLD items DynamoDB
    would have returned; True if it had to add any."""
    error = str(answer.get("__type", ""))
    added = False
    if op in SINGLE_ITEM_WRITES and error.endswith("#ConditionalCheckFailedException"):
        current = targets[0].before if targets else None
        wanted = request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
        if wanted and current is not None and "Item" not in answer:
            answer["Item"] = current
            added = True
    elif op == "TransactWriteItems" and error.endswith("#TransactionCanceledException"):
        for reason, target in zip(answer.get("CancellationReasons") or [], targets):
            wanted = target.spec.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD"
            failed = reason.get("Code") == "ConditionalCheckFailed"
            if wanted and failed and target.before is not None and "Item" not in reason:
                reason["Item"] = target.before
                added = True
    return added


# --- HTTP helpers ------------------------------------------------------------


def status_line(code):
    return f"{code} {http.HTTPStatus(code).phrase}"


def dynamodb_headers(body, content_type=JSON_1_0, extra=()):
    # DynamoDB signs its bodies with x-amz-crc32, and botocore checks it
    # (a mismatch is a retried ChecksumError), so every body this layer
    # writes or rewrites gets its own.
    headers = [(name, value) for name, value in extra if name.lower() not in ("content-length", "x-amz-crc32")]
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.append(("Content-Type", content_type))
    if not any(name.lower() == "x-amzn-requestid" for name, _ in headers):
        headers.append(("x-amzn-RequestId", uuid.uuid4().hex.upper()))
    headers.append(("x-amz-crc32", str(zlib.crc32(body) & 0xFFFFFFFF)))
    headers.append(("Content-Length", str(len(body))))
    return headers


def dynamodb_error(code, status, message=None, extra=None, message_key="message"):
    """DynamoDB's JSON 1.0 error: the code in `__type` (the SDKs take what
    follows '#'), no x-amzn-ErrorType header (the Rust SDK would prefer it to
    the body). TransactionCanceledException and
    IdempotentParameterMismatchException model their message as "Message"."""
    answer = {"__type": ERROR_PREFIX + code, message_key: message or MESSAGES.get(code, code)}
    answer.update(extra or {})
    body = json.dumps(answer).encode()
    return status, dynamodb_headers(body), body


def json_answer(start_response, value, status=200):
    body = json.dumps(value, sort_keys=True).encode()
    start_response(status_line(status), [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def read_body(environ):
    """The request body, left readable again for moto."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH")
    if length:
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    return body


CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")


def credential_scope(environ):
    """(access key, region, service) from SigV4's credential scope, in the
    Authorization header or, for presigned URLs, the query string."""
    match = CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not match:
        query = parse_qs(environ.get("QUERY_STRING", ""))
        scope = (query.get("X-Amz-Credential") or [""])[0]
        match = CREDENTIAL.search("Credential=" + scope)
    return match.groups() if match else (None, None, None)


def account_of(environ, access_key):
    # moto's own order: MOTO_ACCOUNT_ID, the x-moto-account-id header, the
    # account that owns the access key, the default account.
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    try:
        from moto.iam.models import get_account_id_from

        return get_account_id_from(access_key or "")
    except Exception:
        return DEFAULT_ACCOUNT


def call_moto(environ, body, wsgi_app=None):
    """moto's answer to a request, whole: (status, headers, body).
    (`wsgi_app`: another moto, for the tests.)"""
    wsgi_app = wsgi_app or app
    environ = dict(environ)
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    captured = {}
    chunks = []

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = status, headers
        return chunks.append

    result = wsgi_app(environ, start_response)
    try:
        chunks.extend(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return int(captured["status"].split()[0]), list(captured["headers"]), b"".join(chunks)


# --- latency -----------------------------------------------------------------


def delay(service):
    # Real network latency overlaps across concurrent requests, so the sleep
    # is taken before, and outside, the serialisation lock; the request is
    # applied after it, as a request is applied when it reaches DynamoDB.
    if not service:
        return
    with latency_lock:
        span = latency.get(service)
        if not span:
            return
        ms = latency_rng.uniform(*span)
    time.sleep(ms / 1000.0)


# --- the DynamoDB front ------------------------------------------------------


def touched_tables(op, request):
    """The tables a request names, in order of first mention."""
    names = []
    if "TableName" in request:
        names.append(table_name(request["TableName"]))
    for entry in request.get("TransactItems") or []:
        for spec in entry.values():
            if isinstance(spec, dict) and "TableName" in spec:
                names.append(table_name(spec["TableName"]))
    for name in request.get("RequestItems") or {}:
        names.append(table_name(name))
    return list(dict.fromkeys(names))


def decide_fault(op, tables):
    """(kind, table whose config drew it) or (None, None).

    Every configured table the request touches draws, so each table's
    sequence depends only on the requests that touch it."""
    write = op in WRITES
    chosen = (None, None)
    for name in tables:
        config = faults.get(name)
        if config is None or not (write or (op in READS and config.reads)):
            continue
        kind = config.draw(write)
        if kind and chosen[0] is None:
            chosen = (kind, name)
    return chosen


def throttle_error(name):
    config = faults[name]
    code = ("ThrottlingException", "ProvisionedThroughputExceededException")[config.throttles % 2]
    config.throttles += 1
    return dynamodb_error(code, 400)


def transaction_conflict(targets, name):
    """TransactionCanceledException for a conflict on one item of table
    `name`, chosen by that table's Random; the other items' reasons are
    "None", as DynamoDB lists a reason for every item."""
    candidates = [i for i, target in enumerate(targets) if target.table == name] or list(range(len(targets)))
    chosen = faults[name].rng.choice(candidates) if candidates else None
    reasons = [
        {"Code": "TransactionConflict", "Message": CONFLICT_MESSAGE} if i == chosen else {"Code": "None"}
        for i in range(len(targets))
    ]
    codes = ", ".join(reason["Code"] for reason in reasons)
    return dynamodb_error(
        "TransactionCanceledException",
        400,
        CANCELLED_MESSAGE.format(codes),
        {"CancellationReasons": reasons},
        message_key="Message",
    )


def handle_dynamodb(environ, op, body):
    """This layer's answer to a DynamoDB request: (status, headers, body)."""
    access_key, region, _ = credential_scope(environ)
    region = region or DEFAULT_REGION
    account = account_of(environ, access_key)
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        request = None
    if not isinstance(request, dict):
        return call_moto(environ, body)

    tables = touched_tables(op, request)
    write = op in WRITES
    for name in tables:
        counters[name]["requests"] += 1
        if write:
            counters[name]["writes"] += 1
            stats[name]["writes"] += 1
            stats[name]["by_op"].setdefault(op, 0)

    kind, faulted = decide_fault(op, tables)
    if kind:
        counted = "transaction_conflict" if kind == "conflict" and op == "TransactWriteItems" else kind
        counters[faulted]["injected"][counted] += 1
    # Refused before anything was done: nothing applied, nothing billed.
    if kind == "throttle":
        return throttle_error(faulted)
    if kind == "server_error":
        return dynamodb_error("InternalServerError", 500)
    if kind == "conflict" and op in SINGLE_ITEM_WRITES:
        return dynamodb_error("TransactionConflictException", 400)

    targets = write_targets(op, request) if write else []
    if kind == "conflict" and op == "TransactWriteItems":
        return transaction_conflict(targets, faulted)
    held = None
    if kind == "conflict" and op == "BatchWriteItem":
        # A batch is not atomic: DynamoDB writes what it can and hands the
        # rest back in UnprocessedItems.
        candidates = [i for i, target in enumerate(targets) if target.table == faulted]
        if candidates:
            index = faults[faulted].rng.choice(candidates)
            targets[index].applied = False
            request, held = hold_back(request, index)
            body = json.dumps(request).encode()

    read_before(targets, dynamodb_backend(account, region))
    answer = replay_or_forward(environ, op, request, body, targets, tables, (account, region), held)
    if kind == "ambiguous":
        # Applied, and then the answer was lost: the client sees a 500 and
        # cannot tell whether the write happened; its SDK retries.
        return dynamodb_error("InternalServerError", 500)
    return answer


def hold_back(request, index):
    """The batch without its write number `index`, and that write as
    (table, write request)."""
    kept, held, position = {}, None, 0
    for name, writes in request["RequestItems"].items():
        for write in writes:
            # Numbered as write_targets numbers them: puts and deletes only.
            if "PutRequest" in write or "DeleteRequest" in write:
                position += 1
                if position - 1 == index:
                    held = (name, write)
                    continue
            kept.setdefault(name, []).append(write)
    return dict(request, RequestItems=kept), held


def replay_or_forward(environ, op, request, body, targets, tables, scope, held):
    """moto's answer to the request (or a remembered one), with DynamoDB's
    ALL_OLD items and a batch's held-back write added, and its cost billed."""
    token = request.get("ClientRequestToken") if op == "TransactWriteItems" else None
    if token:
        # DynamoDB makes a TransactWriteItems retried with the same token a
        # no-op that answers success; moto ignores the token. The SDKs fill
        # the token in once per call and keep it across their retries, so
        # without this an ambiguous failure would be applied twice.
        # Tokens are remembered in the order they expire (a dict keeps
        # insertion order, and each gets now + TOKEN_TTL), so forgetting
        # the stale ones stops at the first live one.
        now = time.monotonic()
        while tokens:
            oldest = next(iter(tokens))
            if tokens[oldest][1] > now:
                break
            del tokens[oldest]
        digest = hashlib.sha256(
            json.dumps(request.get("TransactItems"), sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        remembered = tokens.get((*scope, token))
        if remembered:
            if remembered[0] != digest:
                return dynamodb_error("IdempotentParameterMismatchException", 400, message_key="Message")
            for name in tables:
                counters[name]["idempotent_replays"] += 1
            # A replay writes nothing (DynamoDB bills it as reads).
            return 200, dynamodb_headers(remembered[2]), remembered[2]

    if held is not None and not request["RequestItems"]:
        # Everything was held back: nothing for moto to do.
        status, headers, answer_body = 200, [], b'{"UnprocessedItems": {}}'
    else:
        status, headers, answer_body = call_moto(environ, body)
    try:
        answer = json.loads(answer_body) if answer_body else {}
    except ValueError:
        answer = None
    rewritten = False

    if status == 200:
        outcome = "applied"
        read_after(targets)
        if held is not None and isinstance(answer, dict):
            name, write = held
            answer.setdefault("UnprocessedItems", {}).setdefault(name, []).append(write)
            rewritten = True
        if token:
            # Only applied transactions are remembered (an ambiguous one
            # too: it was applied, only its answer is lost).
            tokens[(*scope, token)] = (digest, time.monotonic() + TOKEN_TTL, answer_body)
    elif isinstance(answer, dict):
        error = str(answer.get("__type", ""))
        if error.endswith("#ConditionalCheckFailedException") and op in SINGLE_ITEM_WRITES:
            outcome = "condition_failed"
        elif error.endswith("#TransactionCanceledException"):
            outcome = "cancelled"
        else:
            outcome = "refused"
        rewritten = add_all_old_items(op, request, answer, targets)
    else:
        outcome = "refused"

    for name, cost in bill(op, targets, outcome).items():
        stats[name]["wcu"] += cost
        stats[name]["by_op"][op] = stats[name]["by_op"].get(op, 0) + cost

    if rewritten:
        answer_body = json.dumps(answer).encode()
        return status, dynamodb_headers(answer_body, extra=headers), answer_body
    return status, headers or dynamodb_headers(answer_body), answer_body


# --- the control API ---------------------------------------------------------


def control(environ, start_response):
    """The control API, or None if the request is not for it."""
    path = environ.get("PATH_INFO", "")
    if path not in ("/_faults", "/_latency", "/_stats", "/_stats/reset"):
        return None
    method = environ.get("REQUEST_METHOD", "GET")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    table = (query.get("table") or [None])[0]
    try:
        raw = read_body(environ) if method in ("POST", "PUT") else b""
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
    except ValueError as e:
        return json_answer(start_response, {"error": f"bad JSON: {e}"}, 400)

    if path == "/_latency":
        if method == "GET":
            with latency_lock:
                return json_answer(start_response, {"latency": {k: list(v) for k, v in latency.items()}})
        if method != "POST":
            return json_answer(start_response, {"error": "use GET or POST"}, 405)
        spans = {}
        for service, span in body.items():
            if service == "seed":
                continue
            if not (isinstance(span, list) and len(span) == 2 and 0 <= span[0] <= span[1]):
                return json_answer(start_response, {"error": f"{service}: want [lo_ms, hi_ms]"}, 400)
            spans[service] = (float(span[0]), float(span[1]))
        with latency_lock:
            latency.clear()
            latency.update(spans)
            latency_rng.seed(body.get("seed", 0))
        return json_answer(start_response, {"latency": {k: list(v) for k, v in spans.items()}})

    table = table or body.get("table")
    if not table:
        return json_answer(start_response, {"error": "which table? (?table=T or \"table\" in the body)"}, 400)

    with lock:
        if path == "/_faults":
            if method == "POST":
                try:
                    faults[table] = FaultConfig(body)
                except (TypeError, ValueError) as e:
                    return json_answer(start_response, {"error": str(e)}, 400)
                counters[table] = new_counters()
                return json_answer(start_response, {"table": table, "config": faults[table].describe()})
            if method == "DELETE":
                removed = faults.pop(table, None) is not None
                return json_answer(start_response, {"table": table, "deleted": removed})
            if method == "GET":
                config = faults.get(table)
                answer = copy.deepcopy(counters[table])
                answer["config"] = config.describe() if config else None
                return json_answer(start_response, answer)
            return json_answer(start_response, {"error": "use GET, POST or DELETE"}, 405)

        if path == "/_stats/reset":
            if method != "POST":
                return json_answer(start_response, {"error": "use POST"}, 405)
            stats[table] = new_stats()
            return json_answer(start_response, {"table": table, "reset": True})

        if method != "GET":
            return json_answer(start_response, {"error": "use GET"}, 405)
        region = (query.get("region") or [DEFAULT_REGION])[0]
        account = (query.get("account") or [DEFAULT_ACCOUNT])[0]
        model = dynamodb_backend(account, region).tables.get(table)
        answer = copy.deepcopy(stats[table])
        answer["largest_item"] = largest_item(model) if model is not None else None
        return json_answer(start_response, answer)


# --- transactions that copy only what they touch ----------------------------
#
# moto makes TransactWriteItems all-or-nothing by deep-copying every table
# the transaction names before it starts, and putting the copies back if any
# item fails. That costs time in proportion to the tables' sizes: 0.9 s a
# transaction on a table of 3,000 items, so a fan-out whose every event
# writes in a transaction slows down as it goes (the 600-task fan-out took
# 24 minutes, nearly all of it in copy.deepcopy). The outcome never depends
# on the untouched items: moto refuses two operations on one item in a
# transaction, and writes nothing but the items the transaction names. So
# this keeps moto's own transact_write_items (its condition checks, its
# CancellationReasons, one per item in order, its validation errors) and
# changes only what is saved and put back: a copy of each item the
# transaction touches, taken before it starts, and whether the item existed.
# On any failure each touched item is put back as it was (an item the
# transaction created is removed), and the table's stream records written
# since are dropped, which is what moto's whole-table copy restored.


class TouchedItems:
    """The items one transaction touches, as they were before it."""

    def __init__(self, backend, transact_items):
        from moto.dynamodb.models.dynamo_type import DynamoType

        self.saved = []  # (table, hash, range, had hash bucket, copy of the item or None)
        self.streams = []  # (stream shard, its number of records)
        self.cheap = set()  # id()s of the tables restored item by item
        whole = set()  # tables an item of which could not be keyed
        tables = {}
        for entry in transact_items if isinstance(transact_items, list) else []:
            try:
                (kind, spec), = entry.items()
                table = backend.get_table(spec["TableName"])
            except Exception:
                continue  # moto refuses it before writing it
            tables[id(table)] = table
            try:
                source = spec["Item"] if kind == "Put" else spec["Key"]
                hash_value = DynamoType(source[table.hash_key_attr])
                range_value = DynamoType(source[table.range_key_attr]) if table.range_key_attr else None
            except Exception:
                # A key this cannot read: moto's whole-table copy for this
                # table (moto refuses such an item, but its own copy is the
                # safe side).
                whole.add(id(table))
                continue
            self.saved.append((table, hash_value, range_value, hash_value in table.items,
                               self._copy_of(table, hash_value, range_value)))
        for key, table in tables.items():
            if key not in whole:
                self.cheap.add(key)
                if table.stream_shard is not None:
                    self.streams.append((table.stream_shard, len(table.stream_shard.items)))

    @staticmethod
    def _copy_of(table, hash_value, range_value):
        if range_value is not None:
            item = table.items[hash_value].get(range_value) if hash_value in table.items else None
        else:
            item = table.items.get(hash_value)
        return copy.deepcopy(item) if item is not None else None

    def restore(self):
        # An item named twice (moto refuses that transaction at its second
        # mention) was saved twice, both copies taken before the start.
        for table, hash_value, range_value, had_bucket, item in self.saved:
            if id(table) not in self.cheap:
                continue
            if range_value is not None:
                bucket = table.items[hash_value]
                if item is None:
                    bucket.pop(range_value, None)
                else:
                    bucket[range_value] = item
                if not bucket and not had_bucket:
                    del table.items[hash_value]
            elif item is None:
                table.items.pop(hash_value, None)
            else:
                table.items[hash_value] = item
        for shard, records in self.streams:
            del shard.items[records:]


class _TableCopies:
    """Stands in for the `copy` module inside moto's DynamoDB models: while
    a transaction runs, deepcopy() of a table restored item by item hands
    the table itself back (and moto's rollback puts it back in place, a
    no-op); everything else is the real copy module."""

    def __init__(self):
        self.local = threading.local()

    def deepcopy(self, value, memo=None):
        from moto.dynamodb.models.table import Table

        cheap = getattr(self.local, "cheap", None)
        if cheap and isinstance(value, Table) and id(value) in cheap:
            return value
        return copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def patch_transactions():
    """Makes moto's TransactWriteItems save and restore only the items it
    touches (above). Idempotent; leaves moto as it is, with a warning, if its
    transact_write_items no longer backs up whole tables with
    copy.deepcopy."""
    import inspect

    from moto.dynamodb import models

    backend = models.DynamoDBBackend
    original = backend.transact_write_items
    if getattr(original, "touched_items_only", False):
        return True
    source = inspect.getsource(original)
    if "copy.deepcopy(" not in source or "self.tables[table_name] = original_table_state" not in source:
        print("moto_server_serial: moto's transact_write_items changed; its whole-table copies stay",
              file=sys.stderr)
        return False
    copies = _TableCopies()
    models.copy = copies

    def transact_write_items(self, transact_items):
        touched = TouchedItems(self, transact_items)
        copies.local.cheap = touched.cheap
        try:
            return original(self, transact_items)
        except BaseException:
            touched.restore()
            raise
        finally:
            copies.local.cheap = None

    transact_write_items.touched_items_only = True
    transact_write_items.__doc__ = original.__doc__
    backend.transact_write_items = transact_write_items
    return True


# --- the WSGI application ----------------------------------------------------


def serial(environ, start_response):
    answer = control(environ, start_response)
    if answer is not None:
        return answer

    _, _, service = credential_scope(environ)
    delay(service)

    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target.startswith(TARGET_PREFIX):
        op = target[len(TARGET_PREFIX):]
        body = read_body(environ)
        with lock:
            status, headers, answer_body = handle_dynamodb(environ, op, body)
        start_response(status_line(status), headers)
        return [answer_body]

    with lock:
        # The response is produced inside the lock: the write is done when it is.
        return list(app(environ, start_response))


def exit_with(pid):
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:
            pass
        time.sleep(0.5)


if __name__ == "__main__":
    patch_transactions()
    if len(sys.argv) == 4 and sys.argv[2] == "--exit-with":
        threading.Thread(target=exit_with, args=(int(sys.argv[3]),), daemon=True).start()
    run_simple("127.0.0.1", int(sys.argv[1]), serial, threaded=True)
