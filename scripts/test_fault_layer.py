"""Tests of the fault, latency and accounting layer of scripts/moto_server_serial.py.

Starts the server on a free port (it exits with this process), talks to it
with boto3 as the notifier's SDK talks to DynamoDB, and checks each
behaviour the layer promises: the faults' exact answers, that ambiguous
writes are applied, ClientRequestToken replays, ALL_OLD items on failed
conditions, latency that overlaps across concurrent requests, per-seed
determinism, per-table isolation, and hand-computed write costs.

The clients make one attempt per call (`total_max_attempts: 1`; botocore's
`max_attempts: 1` would mean one retry), so each fault is seen raw, except
where a test shows what the SDK's retries make of a fault.

Usage: .venv/bin/python scripts/test_fault_layer.py [-v]
"""

import concurrent.futures
import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
import uuid

import boto3
import botocore.config
import botocore.exceptions

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.path.join(ROOT, "scripts", "moto_server_serial.py")
REGION = "us-east-1"
PREFIX = "com.amazonaws.dynamodb.v20120810#"

endpoint = None
server = None
server_log = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setUpModule():
    global endpoint, server, server_log
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server_log = tempfile.TemporaryFile()
    server = subprocess.Popen(
        [sys.executable, SERVER, str(port), "--exit-with", str(os.getpid())],
        stdout=server_log,
        stderr=server_log,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
            return
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server_log.seek(0)
                raise RuntimeError("the server did not start:\n" + server_log.read().decode(errors="replace"))
            time.sleep(0.1)


def tearDownModule():
    server.terminate()
    server.wait(timeout=10)
    server_log.close()


def control(method, path, body=None):
    """(status, parsed JSON) of a control API request."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def set_faults(table, **config):
    status, answer = control("POST", "/_faults", {"table": table, **config})
    assert status == 200, answer
    return answer


def counters(table):
    return control("GET", f"/_faults?table={table}")[1]


def cost(table):
    return control("GET", f"/_stats?table={table}")[1]


def client(**retries):
    retries = retries or {"total_max_attempts": 1}
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(retries=retries),
    )


class Raw:
    """The last raw HTTP answer a client received."""

    def __init__(self, ddb):
        self.last = None
        ddb.meta.events.register("after-call.dynamodb", self.keep)

    def keep(self, http_response, **_):
        self.last = http_response


def unique(name):
    return f"{name}-{uuid.uuid4().hex[:8]}"


def s(text):
    return {"S": text}


class LayerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ddb = client()
        cls.raw = Raw(cls.ddb)

    def table(self, name, indexes=()):
        """A new table keyed by `pk` (S), with GSIs (name, key, projection)."""
        name = unique(name)
        attributes = {"pk"} | {key for _, key, _ in indexes}
        request = {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)],
            "BillingMode": "PAY_PER_REQUEST",
        }
        if indexes:
            request["GlobalSecondaryIndexes"] = [
                {"IndexName": index, "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}], "Projection": projection}
                for index, key, projection in indexes
            ]
        self.ddb.create_table(**request)
        return name

    def error(self, call, *args, **kwargs):
        with self.assertRaises(botocore.exceptions.ClientError) as caught:
            call(*args, **kwargs)
        return caught.exception.response

    def get(self, table, key):
        return self.ddb.get_item(TableName=table, Key={"pk": s(key)}, ConsistentRead=True).get("Item")

    def counter_update(self, table, key, **extra):
        """A transaction item that adds 1 to `key`'s `n`."""
        return {
            "Update": {
                "TableName": table,
                "Key": {"pk": s(key)},
                "UpdateExpression": "SET n = if_not_exists(n, :zero) + :one",
                "ExpressionAttributeValues": {":zero": {"N": "0"}, ":one": {"N": "1"}},
                **extra,
            }
        }


class Faults(LayerTest):
    def assert_dynamodb_error(self, response, status, code):
        """The answer is DynamoDB's JSON 1.0 error, parsed as the SDKs do."""
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], status)
        self.assertEqual(response["Error"]["Code"], code)
        raw = self.raw.last
        self.assertEqual(raw.headers["content-type"], "application/x-amz-json-1.0")
        self.assertNotIn("x-amzn-errortype", {k.lower() for k in raw.headers})
        self.assertEqual(json.loads(raw.content)["__type"], PREFIX + code)

    def test_throttle_alternates_codes_and_is_not_applied(self):
        table = self.table("throttle")
        set_faults(table, seed=1, throttle=1.0)
        codes = []
        for i in range(3):
            response = self.error(self.ddb.put_item, TableName=table, Item={"pk": s(f"k{i}")})
            self.assert_dynamodb_error(response, 400, response["Error"]["Code"])
            codes.append(response["Error"]["Code"])
        self.assertEqual(
            codes, ["ThrottlingException", "ProvisionedThroughputExceededException", "ThrottlingException"]
        )
        self.assertEqual(json.loads(self.raw.last.content)["message"], "Rate of requests exceeds the allowed throughput.")
        # Reads are not faulted unless asked: the writes were not applied.
        self.assertIsNone(self.get(table, "k0"))
        got = counters(table)
        self.assertEqual(got["injected"]["throttle"], 3)
        self.assertEqual((got["writes"], got["requests"]), (3, 4))

    def test_server_error_is_500_and_not_applied(self):
        table = self.table("server-error")
        set_faults(table, seed=1, server_error=1.0)
        response = self.error(self.ddb.put_item, TableName=table, Item={"pk": s("k")})
        self.assert_dynamodb_error(response, 500, "InternalServerError")
        self.assertIsNone(self.get(table, "k"))
        self.assertEqual(counters(table)["injected"]["server_error"], 1)

    def test_conflict_on_a_single_item_write(self):
        table = self.table("conflict")
        set_faults(table, seed=1, conflict=1.0)
        for call, kwargs in [
            (self.ddb.put_item, {"Item": {"pk": s("k")}}),
            (self.ddb.update_item, {"Key": {"pk": s("k")}, "UpdateExpression": "SET v = :v",
                                    "ExpressionAttributeValues": {":v": s("x")}}),
            (self.ddb.delete_item, {"Key": {"pk": s("k")}}),
        ]:
            response = self.error(call, TableName=table, **kwargs)
            self.assert_dynamodb_error(response, 400, "TransactionConflictException")
            self.assertEqual(response["Error"]["Message"], "Transaction is ongoing for the item")
        self.assertIsNone(self.get(table, "k"))
        self.assertEqual(counters(table)["injected"]["conflict"], 3)

    def test_conflict_cancels_a_transaction_with_one_reason_per_item(self):
        table = self.table("tx-conflict")
        set_faults(table, seed=3, conflict=1.0)
        items = [self.counter_update(table, f"k{i}") for i in range(3)]
        response = self.error(self.ddb.transact_write_items, TransactItems=items)
        self.assert_dynamodb_error(response, 400, "TransactionCanceledException")
        reasons = response["CancellationReasons"]
        self.assertEqual(len(reasons), 3)
        conflicted = [r for r in reasons if r["Code"] == "TransactionConflict"]
        self.assertEqual(conflicted, [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}])
        self.assertEqual(sum(r == {"Code": "None"} for r in reasons), 2)
        codes = ", ".join(r["Code"] for r in reasons)
        self.assertEqual(
            response["Error"]["Message"],
            f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        )
        for i in range(3):
            self.assertIsNone(self.get(table, f"k{i}"))
        got = counters(table)["injected"]
        self.assertEqual((got["transaction_conflict"], got["conflict"]), (1, 0))

    def test_conflict_in_a_batch_hands_one_write_back(self):
        table = self.table("batch-conflict")
        set_faults(table, seed=5, conflict=1.0)
        writes = [{"PutRequest": {"Item": {"pk": s(f"k{i}")}}} for i in range(3)]
        answer = self.ddb.batch_write_item(RequestItems={table: writes})
        unprocessed = answer["UnprocessedItems"][table]
        self.assertEqual(len(unprocessed), 1)
        held = unprocessed[0]["PutRequest"]["Item"]["pk"]["S"]
        for i in range(3):
            self.assertEqual(self.get(table, f"k{i}") is None, f"k{i}" == held)

    def test_ambiguous_writes_are_applied(self):
        table = self.table("ambiguous")
        set_faults(table, seed=1, ambiguous=1.0)
        response = self.error(self.ddb.put_item, TableName=table, Item={"pk": s("put")})
        self.assert_dynamodb_error(response, 500, "InternalServerError")
        update = dict(
            TableName=table,
            Key={"pk": s("counter")},
            UpdateExpression="SET n = if_not_exists(n, :zero) + :one",
            ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"}},
        )
        self.error(self.ddb.update_item, **update)
        self.error(self.ddb.update_item, **update)
        self.assertIsNotNone(self.get(table, "put"))
        # Each attempt was applied: a retry of a non-idempotent write counts twice.
        self.assertEqual(self.get(table, "counter")["n"], {"N": "2"})
        self.assertEqual(counters(table)["injected"]["ambiguous"], 3)

    def test_reads_are_faulted_only_when_asked(self):
        table = self.table("reads")
        self.ddb.put_item(TableName=table, Item={"pk": s("k")})
        set_faults(table, seed=1, throttle=1.0)
        self.assertIsNotNone(self.get(table, "k"))
        self.ddb.query(TableName=table, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": s("k")})
        set_faults(table, seed=1, throttle=1.0, reads=True)
        response = self.error(self.get, table, "k")
        self.assertEqual(response["Error"]["Code"], "ThrottlingException")
        response = self.error(self.ddb.scan, TableName=table)
        self.assertEqual(response["Error"]["Code"], "ProvisionedThroughputExceededException")
        set_faults(table, seed=1, server_error=1.0, reads=True)
        response = self.error(self.ddb.query, TableName=table, KeyConditionExpression="pk = :k",
                              ExpressionAttributeValues={":k": s("k")})
        self.assertEqual(response["Error"]["Code"], "InternalServerError")
        got = counters(table)
        self.assertEqual((got["requests"], got["writes"], got["injected"]["server_error"]), (1, 0, 1))

    def test_a_seed_gives_one_sequence(self):
        """The outcomes follow the documented draws: for each write, one
        random() per kind in the order throttle, server_error, conflict,
        ambiguous; the first under its rate wins."""
        table = self.table("seeded")
        rates = {"throttle": 0.2, "server_error": 0.15, "conflict": 0.15, "ambiguous": 0.1}

        def run():
            set_faults(table, seed=7, **rates)
            outcomes = []
            for i in range(40):
                try:
                    self.ddb.put_item(TableName=table, Item={"pk": s(f"k{i}")})
                    outcomes.append("ok")
                except botocore.exceptions.ClientError as e:
                    outcomes.append(e.response["Error"]["Code"])
            return outcomes

        rng = random.Random(7)
        expected, throttles = [], 0
        for _ in range(40):
            drawn = [kind for kind in ("throttle", "server_error", "conflict", "ambiguous") if rng.random() < rates[kind]]
            kind = drawn[0] if drawn else None
            if kind == "throttle":
                expected.append(("ThrottlingException", "ProvisionedThroughputExceededException")[throttles % 2])
                throttles += 1
            else:
                expected.append({None: "ok", "server_error": "InternalServerError", "ambiguous": "InternalServerError",
                                 "conflict": "TransactionConflictException"}[kind])
        first = run()
        self.assertEqual(first, expected)
        self.assertEqual(len(set(first)), 5, "every outcome occurs in 40 writes at these rates")
        self.assertEqual(run(), first)
        got = counters(table)
        self.assertEqual(got["writes"], 40)
        self.assertEqual(sum(got["injected"].values()), 40 - first.count("ok"))

    def test_tables_are_isolated(self):
        faulty, clean = self.table("faulty"), self.table("clean")
        set_faults(faulty, seed=1, throttle=1.0)
        for i in range(10):
            self.ddb.put_item(TableName=clean, Item={"pk": s(f"k{i}")})
        self.assertEqual(counters(clean)["injected"], dict.fromkeys(
            ["throttle", "server_error", "conflict", "transaction_conflict", "ambiguous"], 0))
        self.assertEqual(counters(faulty)["requests"], 0)
        # A transaction that touches a faulty table is faulted.
        response = self.error(self.ddb.transact_write_items, TransactItems=[
            self.counter_update(clean, "both"), self.counter_update(faulty, "both")])
        self.assertEqual(response["Error"]["Code"], "ThrottlingException")
        self.assertIsNone(self.get(clean, "both"))
        # DELETE removes the config: no more faults, the counters stay.
        self.assertEqual(control("DELETE", f"/_faults?table={faulty}")[1]["deleted"], True)
        self.ddb.put_item(TableName=faulty, Item={"pk": s("after")})
        got = counters(faulty)
        self.assertEqual((got["injected"]["throttle"], got["config"]), (1, None))

    def test_control_api_rejects_what_it_cannot_use(self):
        self.assertEqual(control("POST", "/_faults", {"seed": 1})[0], 400)
        self.assertEqual(control("POST", "/_faults", {"table": "t", "throttle": 2})[0], 400)
        self.assertEqual(control("POST", "/_latency", {"dynamodb": [10]})[0], 400)
        self.assertEqual(control("PUT", "/_faults?table=t", {})[0], 405)


class Idempotency(LayerTest):
    def test_a_replayed_token_is_a_no_op(self):
        table = self.table("token")
        items = [self.counter_update(table, "k")]
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-1")
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-1")
        self.assertEqual(self.get(table, "k")["n"], {"N": "1"})
        self.assertEqual(counters(table)["idempotent_replays"], 1)
        # Another token is another transaction.
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken="token-2")
        self.assertEqual(self.get(table, "k")["n"], {"N": "2"})

    def test_the_same_token_with_other_items_is_refused(self):
        table = self.table("mismatch")
        token = unique("token")
        self.ddb.transact_write_items(TransactItems=[self.counter_update(table, "a")], ClientRequestToken=token)
        response = self.error(self.ddb.transact_write_items, TransactItems=[self.counter_update(table, "b")],
                              ClientRequestToken=token)
        self.assertEqual(response["ResponseMetadata"]["HTTPStatusCode"], 400)
        self.assertEqual(response["Error"]["Code"], "IdempotentParameterMismatchException")
        self.assertIsNone(self.get(table, "b"))

    def test_an_ambiguous_transaction_is_remembered(self):
        table = self.table("ambiguous-token")
        set_faults(table, seed=1, ambiguous=1.0)
        items = [self.counter_update(table, "k")]
        response = self.error(self.ddb.transact_write_items, TransactItems=items, ClientRequestToken="amb-1")
        self.assertEqual(response["Error"]["Code"], "InternalServerError")
        control("DELETE", f"/_faults?table={table}")
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken="amb-1")
        self.assertEqual(self.get(table, "k")["n"], {"N": "1"})
        self.assertEqual(counters(table)["idempotent_replays"], 1)

    def test_sdk_retries_of_an_ambiguous_transaction_apply_it_once(self):
        """botocore fills ClientRequestToken in once per call and keeps it
        across retries, as the Rust SDK does."""
        table = self.table("sdk-retry")
        # A seed whose first write is ambiguous and second is not.
        seed = next(n for n in range(1000) if self.draws(n) == [True, False])
        set_faults(table, seed=seed, ambiguous=0.5)
        retrying = client(total_max_attempts=3, mode="legacy")
        retrying.transact_write_items(TransactItems=[self.counter_update(table, "k")])
        self.assertEqual(self.get(table, "k")["n"], {"N": "1"})
        got = counters(table)
        self.assertEqual((got["writes"], got["injected"]["ambiguous"], got["idempotent_replays"]), (2, 1, 1))

    @staticmethod
    def draws(seed, rate=0.5, writes=2):
        """Whether each of the first writes of `seed` is ambiguous (the 4th draw)."""
        rng = random.Random(seed)
        return [[rng.random() for _ in range(4)][3] < rate for _ in range(writes)]

    def test_a_cancelled_transaction_is_not_remembered(self):
        table = self.table("cancelled-token")
        self.ddb.put_item(TableName=table, Item={"pk": s("k"), "v": {"N": "1"}})
        items = [self.counter_update(table, "k", ConditionExpression="v = :two",
                                     ExpressionAttributeValues={":zero": {"N": "0"}, ":one": {"N": "1"},
                                                                ":two": {"N": "2"}})]
        response = self.error(self.ddb.transact_write_items, TransactItems=items, ClientRequestToken="cancel-1")
        self.assertEqual(response["Error"]["Code"], "TransactionCanceledException")
        self.ddb.put_item(TableName=table, Item={"pk": s("k"), "v": {"N": "2"}})
        self.ddb.transact_write_items(TransactItems=items, ClientRequestToken="cancel-1")
        self.assertEqual(self.get(table, "k")["n"], {"N": "1"})
        self.assertEqual(counters(table)["idempotent_replays"], 0)


class AllOld(LayerTest):
    """DynamoDB returns the item as it stands with a failed condition when
    the write asks for ALL_OLD; the notifier decides on it."""

    item = {"pk": s("k"), "v": {"N": "1"}, "tags": {"SS": ["a", "b"]}, "blob": {"B": b"\x00\x01"}}

    def setUp(self):
        self.name = self.table("all-old")
        self.ddb.put_item(TableName=self.name, Item=self.item)

    def failing(self, **extra):
        return dict(TableName=self.name, ConditionExpression="attribute_not_exists(pk)", **extra)

    def test_single_item_writes_return_the_item(self):
        key = {"pk": s("k")}
        calls = [
            (self.ddb.update_item, {"Key": key, "UpdateExpression": "SET v = :v",
                                    "ExpressionAttributeValues": {":v": {"N": "2"}}}),
            (self.ddb.put_item, {"Item": {"pk": s("k")}}),
            (self.ddb.delete_item, {"Key": key}),
        ]
        for call, kwargs in calls:
            response = self.error(call, **self.failing(ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs))
            self.assertEqual(response["Error"]["Code"], "ConditionalCheckFailedException")
            self.assertEqual(response["Item"], self.item)
            response = self.error(call, **self.failing(**kwargs))
            self.assertNotIn("Item", response)
        # No item, nothing to return.
        response = self.error(self.ddb.update_item, TableName=self.name, Key={"pk": s("missing")},
                              UpdateExpression="SET v = :v", ConditionExpression="attribute_exists(pk)",
                              ExpressionAttributeValues={":v": {"N": "2"}}, ReturnValuesOnConditionCheckFailure="ALL_OLD")
        self.assertNotIn("Item", response)

    def test_cancellation_reasons_carry_the_item(self):
        items = [
            self.counter_update(self.name, "other"),
            self.counter_update(self.name, "k", ConditionExpression="attribute_not_exists(pk)",
                                ReturnValuesOnConditionCheckFailure="ALL_OLD"),
        ]
        response = self.error(self.ddb.transact_write_items, TransactItems=items)
        self.assertEqual(response["Error"]["Code"], "TransactionCanceledException")
        reasons = response["CancellationReasons"]
        self.assertEqual(reasons[0], {"Code": "None"})
        self.assertEqual(reasons[1]["Code"], "ConditionalCheckFailed")
        self.assertEqual(reasons[1]["Item"], self.item)
        self.assertIsNone(self.get(self.name, "other"))

    @staticmethod
    def in_process(wsgi_app):
        """call(op, request) -> (status, answer) against a WSGI app in this
        process, signed as the SDKs sign (moto reads the region and the
        service from the credential scope; it checks no signature)."""
        from werkzeug.test import Client

        http = Client(wsgi_app)

        def call(op, request):
            answer = http.post("/", data=json.dumps(request), headers={
                "X-Amz-Target": f"DynamoDB_20120810.{op}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20240101/{REGION}/dynamodb/aws4_request, "
                                 "SignedHeaders=host, Signature=0",
            })
            return answer.status_code, json.loads(answer.data)

        return call

    @staticmethod
    def failing_writes(call, table):
        """A table with one item, then an UpdateItem and a transaction whose
        conditions fail on it, both asking for ALL_OLD; their answers."""
        item = {"pk": s("k"), "v": {"N": "1"}}
        call("CreateTable", {"TableName": table, "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                             "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                             "BillingMode": "PAY_PER_REQUEST"})
        call("PutItem", {"TableName": table, "Item": item})
        update = {"TableName": table, "Key": {"pk": s("k")}, "UpdateExpression": "SET v = :v",
                  "ConditionExpression": "attribute_not_exists(pk)", "ExpressionAttributeValues": {":v": {"N": "2"}},
                  "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}
        single = call("UpdateItem", update)
        cancelled = call("TransactWriteItems", {"TransactItems": [
            {"ConditionCheck": {"TableName": table, "Key": {"pk": s("free")},
                                "ConditionExpression": "attribute_not_exists(pk)"}},
            {"Update": update}]})
        return item, single, cancelled

    def test_what_moto_alone_answers(self):
        """moto 5.2 returns the ALL_OLD item itself (earlier versions may not):
        the layer passes its answer through unchanged (the tests above)."""
        import moto
        from moto.server import DomainDispatcherApplication, create_backend_app

        call = self.in_process(DomainDispatcherApplication(create_backend_app))
        item, (status, single), (cancelled_status, cancelled) = self.failing_writes(call, unique("alone"))
        self.assertEqual((status, single["__type"]), (400, PREFIX + "ConditionalCheckFailedException"))
        self.assertEqual((cancelled_status, cancelled["__type"]), (400, PREFIX + "TransactionCanceledException"))
        self.assertEqual([r["Code"] for r in cancelled["CancellationReasons"]], ["None", "ConditionalCheckFailed"])
        if tuple(int(p) for p in moto.__version__.split(".")[:2]) >= (5, 2):
            self.assertEqual(single.get("Item"), item)
            self.assertEqual(cancelled["CancellationReasons"][1].get("Item"), item)

    def test_the_layer_adds_items_moto_leaves_out(self):
        """The layer in this process, in front of a moto made to answer as
        a moto without them would (no items): the answers get the items back."""
        spec = importlib.util.spec_from_file_location("moto_server_serial", SERVER)
        layer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(layer)
        moto_app = layer.app

        def moto_without_items(environ, start_response):
            request = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
            status, headers, body = layer.call_moto(environ, request, moto_app)
            answer = json.loads(body) if body else {}
            if isinstance(answer, dict):
                answer.pop("Item", None)
                for reason in answer.get("CancellationReasons") or []:
                    reason.pop("Item", None)
                body = json.dumps(answer).encode()
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-length", "x-amz-crc32")]
            start_response(f"{status} X", headers + [("Content-Length", str(len(body)))])
            return [body]

        layer.app = moto_without_items
        without = self.in_process(moto_without_items)
        _, (_, single), (_, cancelled) = self.failing_writes(without, unique("old-moto"))
        self.assertNotIn("Item", single)
        self.assertNotIn("Item", cancelled["CancellationReasons"][1])

        through_layer = self.in_process(layer.serial)
        item, (status, single), (_, cancelled) = self.failing_writes(through_layer, unique("patched"))
        self.assertEqual((status, single.get("Item")), (400, item))
        self.assertEqual(cancelled["CancellationReasons"][0], {"Code": "None"})
        self.assertEqual(cancelled["CancellationReasons"][1].get("Item"), item)


class Transactions(LayerTest):
    """TransactWriteItems is all-or-nothing, as DynamoDB makes it, though
    the layer saves and restores only the items a transaction touches
    (moto's own rollback deep-copies whole tables, so its transactions
    slowed down as the tables grew)."""

    def setUp(self):
        self.name = self.table("txn", indexes=[("lookup", "lookup", {"ProjectionType": "ALL"})])
        self.before = {
            "put": {"pk": s("put"), "v": {"N": "1"}, "lookup": s("old")},
            "update": {"pk": s("update"), "v": {"N": "1"}, "tags": {"SS": ["a"]}},
            "delete": {"pk": s("delete"), "v": {"N": "1"}, "lookup": s("gone")},
            "gate": {"pk": s("gate"), "v": {"N": "1"}},
        }
        for item in self.before.values():
            self.ddb.put_item(TableName=self.name, Item=item)

    def writes(self, gate="v = :one", other=None):
        """A put over an item, an update, a delete, a new item, and last a
        check on "gate" with condition `gate` (and `other` on the new item)."""
        one = {":one": {"N": "1"}}
        new = {"Put": {"TableName": self.name, "Item": {"pk": s("new"), "lookup": s("new")}}}
        if other:
            new["Put"].update(ConditionExpression=other)
        return [
            {"Put": {"TableName": self.name, "Item": {"pk": s("put"), "v": {"N": "2"}, "lookup": s("moved")},
                     "ConditionExpression": "v = :one", "ExpressionAttributeValues": one}},
            {"Update": {"TableName": self.name, "Key": {"pk": s("update")},
                        "UpdateExpression": "SET v = v + :one, w = :one ADD tags :b REMOVE nothing",
                        "ExpressionAttributeValues": {**one, ":b": {"SS": ["b"]}}}},
            {"Delete": {"TableName": self.name, "Key": {"pk": s("delete")}, "ConditionExpression": "attribute_exists(pk)"}},
            new,
            {"ConditionCheck": {"TableName": self.name, "Key": {"pk": s("gate")}, "ConditionExpression": gate,
                                "ExpressionAttributeValues": one}},
        ]

    def items(self):
        found = self.ddb.scan(TableName=self.name, ConsistentRead=True)["Items"]
        return {item["pk"]["S"]: item for item in found}

    def lookups(self):
        found = self.ddb.scan(TableName=self.name, IndexName="lookup")["Items"]
        return sorted(item["lookup"]["S"] for item in found)

    def assert_untouched(self):
        self.assertEqual(self.items(), self.before)
        self.assertEqual(self.lookups(), ["gone", "old"], "the index as it was")

    def test_a_later_failed_condition_leaves_earlier_items_untouched(self):
        billed = cost(self.name)["wcu"]
        response = self.error(self.ddb.transact_write_items, TransactItems=self.writes(gate="v = :one AND v <> :one"))
        self.assertEqual(response["Error"]["Code"], "TransactionCanceledException")
        self.assertEqual([r["Code"] for r in response["CancellationReasons"]],
                         ["None", "None", "None", "None", "ConditionalCheckFailed"])
        self.assert_untouched()
        self.assertIsNone(self.get(self.name, "new"), "the new item was not created")
        self.assertEqual(cost(self.name)["wcu"] - billed, 5, "cancelled: one write of each item as it stands")
        # The same transaction with its condition true applies, all of it.
        self.ddb.transact_write_items(TransactItems=self.writes())
        self.assertEqual(self.get(self.name, "put"), {"pk": s("put"), "v": {"N": "2"}, "lookup": s("moved")})

    def test_reasons_are_per_item_in_order(self):
        self.ddb.put_item(TableName=self.name, Item={"pk": s("new")})
        response = self.error(self.ddb.transact_write_items,
                              TransactItems=self.writes(gate="v = :one AND v <> :one", other="attribute_not_exists(pk)"))
        self.assertEqual([r["Code"] for r in response["CancellationReasons"]],
                         ["None", "None", "None", "ConditionalCheckFailed", "ConditionalCheckFailed"])
        self.before["new"] = {"pk": s("new")}
        self.assert_untouched()

    def test_a_validation_error_after_writes_undoes_them(self):
        """moto refuses two operations on one item when it reaches the
        second, after it wrote the first ones: they are undone."""
        writes = self.writes()
        writes[4] = {"Update": {"TableName": self.name, "Key": {"pk": s("update")}, "UpdateExpression": "SET x = :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}}
        response = self.error(self.ddb.transact_write_items, TransactItems=writes)
        self.assertEqual(response["Error"]["Code"], "ValidationException")
        self.assert_untouched()
        self.assertIsNone(self.get(self.name, "new"))

    def test_a_transaction_that_succeeds_applies_every_item(self):
        billed = cost(self.name)["wcu"]
        self.ddb.transact_write_items(TransactItems=self.writes())
        self.assertEqual(self.items(), {
            "put": {"pk": s("put"), "v": {"N": "2"}, "lookup": s("moved")},
            "update": {"pk": s("update"), "v": {"N": "2"}, "w": {"N": "1"}, "tags": {"SS": ["a", "b"]}},
            "new": {"pk": s("new"), "lookup": s("new")},
            "gate": self.before["gate"],
        })
        self.assertEqual(self.lookups(), ["moved", "new"])
        # Each write 2 WCU (1 KB, doubled), the ConditionCheck 2, the ALL
        # index 1 per entry written: put (same key, moved: 2 units, a
        # delete and a put), delete (1), new (1).
        self.assertEqual(cost(self.name)["wcu"] - billed, 5 * 2 + 2 + 1 + 1)

    def test_items_with_a_sort_key(self):
        name = unique("txn-sorted")
        self.ddb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST")
        old = {"pk": s("p"), "sk": s("1"), "v": {"N": "1"}}
        self.ddb.put_item(TableName=name, Item=old)
        writes = [
            {"Put": {"TableName": name, "Item": {"pk": s("p"), "sk": s("2")}}},
            {"Put": {"TableName": name, "Item": {"pk": s("q"), "sk": s("1")}}},
            {"Update": {"TableName": name, "Key": {"pk": s("p"), "sk": s("1")}, "UpdateExpression": "SET v = :two",
                        "ExpressionAttributeValues": {":two": {"N": "2"}, ":one": {"N": "1"}},
                        "ConditionExpression": "v <> :one"}},
        ]
        response = self.error(self.ddb.transact_write_items, TransactItems=writes)
        self.assertEqual([r["Code"] for r in response["CancellationReasons"]], ["None", "None", "ConditionalCheckFailed"])
        self.assertEqual(self.ddb.scan(TableName=name, ConsistentRead=True)["Items"], [old])
        writes[2]["Update"]["ConditionExpression"] = "v = :one"
        self.ddb.transact_write_items(TransactItems=writes)
        self.assertEqual(self.ddb.scan(TableName=name, ConsistentRead=True)["Count"], 3)

    def test_time_does_not_grow_with_the_table(self):
        """moto alone deep-copies the whole table: about 0.2 ms an item a
        transaction, 4 s at 20,000 items. Here a transaction on a table of
        20,000 items is no slower than on one of 10, within a loose factor."""
        small, large = self.table("txn-small"), self.table("txn-large")
        for name, count in ((small, 10), (large, 20_000)):
            def fill(start, name=name, count=count):
                writes = [{"PutRequest": {"Item": {"pk": s(f"i{i}"), "v": {"N": str(i)}}}}
                          for i in range(start, min(count, start + 25))]
                ddb = client(total_max_attempts=5)
                while writes:
                    writes = ddb.batch_write_item(RequestItems={name: writes})["UnprocessedItems"].get(name, [])
            with concurrent.futures.ThreadPoolExecutor(4) as pool:
                list(pool.map(fill, range(0, count, 25)))
        self.assertEqual(self.ddb.describe_table(TableName=large)["Table"]["ItemCount"], 20_000)

        def median_time(name):
            times = []
            for n in range(9):
                cancelled = n % 3 == 2  # a rollback too
                writes = [
                    {"Put": {"TableName": name, "Item": {"pk": s(f"t{n}")}}},
                    {"Update": {"TableName": name, "Key": {"pk": s("i1")}, "UpdateExpression": "ADD v :one",
                                "ConditionExpression": "attribute_exists(pk)" if not cancelled else "v < :one",
                                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
                ]
                started = time.perf_counter()
                try:
                    self.ddb.transact_write_items(TransactItems=writes)
                    self.assertFalse(cancelled)
                except botocore.exceptions.ClientError as e:
                    self.assertTrue(cancelled, e)
                times.append(time.perf_counter() - started)
            return sorted(times)[len(times) // 2]

        small_time, large_time = median_time(small), median_time(large)
        self.assertLess(large_time, 4 * small_time + 0.1, f"10 items: {small_time:.3f} s, 20,000: {large_time:.3f} s")
        self.assertEqual(self.get(large, "i1")["v"], {"N": str(1 + 6)}, "6 applied, 3 undone")


class Latency(LayerTest):
    def tearDown(self):
        control("POST", "/_latency", {})

    def timed_get_items(self, clients, table):
        def one(ddb):
            ddb.get_item(TableName=table, Key={"pk": s("k")})

        with concurrent.futures.ThreadPoolExecutor(len(clients)) as pool:
            start = time.monotonic()
            list(pool.map(one, clients))
            return time.monotonic() - start

    def test_latency_overlaps_across_concurrent_requests(self):
        table = self.table("latency")
        clients = [client() for _ in range(4)]
        self.timed_get_items(clients, table)  # connections up before timing
        self.assertEqual(control("POST", "/_latency", {"dynamodb": [200, 200]})[0], 200)
        alone = self.timed_get_items(clients[:1], table)
        together = self.timed_get_items(clients, table)
        self.assertGreaterEqual(alone, 0.2)
        self.assertLess(together, 0.6, "4 requests of 200 ms each, concurrently: the sleeps overlap")
        # Latency is per service: Secrets Manager's does not slow DynamoDB.
        control("POST", "/_latency", {"secretsmanager": [300, 300]})
        self.assertLess(self.timed_get_items(clients[:1], table), 0.15)
        self.assertEqual(control("GET", "/_latency")[1], {"latency": {"secretsmanager": [300.0, 300.0]}})
        control("POST", "/_latency", {})
        self.assertEqual(control("GET", "/_latency")[1], {"latency": {}})


class Accounting(LayerTest):
    """Write costs of hand-sized items.

    A: pk "a1" (2 + 2) and blob, 1500 chars (4 + 1500): 1508 bytes, 2 WCU.
    B: like A plus lookup "x" (6 + 1): 1515 bytes, 2 WCU, in the ALL index.
    C: pk "c1" (4), kind "k" (4 + 1), blob (1504): 1513 bytes, 2 WCU; in
       the KEYS_ONLY index as pk + kind, 9 bytes, 1 WCU.
    """

    blob = s("x" * 1500)

    def setUp(self):
        self.name = self.table("cost", indexes=[
            ("lookup", "lookup", {"ProjectionType": "ALL"}),
            ("by_kind", "kind", {"ProjectionType": "KEYS_ONLY"}),
        ])

    def wcu(self, call, *args, **kwargs):
        """The WCU billed for one call (which may fail)."""
        before = cost(self.name)
        try:
            call(*args, **kwargs)
        except botocore.exceptions.ClientError:
            pass
        after = cost(self.name)
        self.assertEqual(after["writes"], before["writes"] + 1)
        return after["wcu"] - before["wcu"]

    def put(self, item):
        return self.wcu(self.ddb.put_item, TableName=self.name, Item=item)

    def test_item_sizes_and_write_costs(self):
        a = {"pk": s("a1"), "blob": self.blob}
        b = {"pk": s("b1"), "blob": self.blob, "lookup": s("x")}
        c = {"pk": s("c1"), "blob": self.blob, "kind": s("k")}
        self.assertEqual(self.put(a), 2, "1508 bytes")
        self.assertEqual(self.wcu(self.ddb.transact_write_items, TransactItems=[
            {"Put": {"TableName": self.name, "Item": dict(a, pk=s("a2"))}}]), 4, "doubled in a transaction")
        self.assertEqual(self.put(b), 4, "2 for the table, 2 for the ALL index")
        self.assertEqual(self.wcu(self.ddb.transact_write_items, TransactItems=[
            {"Put": {"TableName": self.name, "Item": dict(b, pk=s("b2"))}}]), 6, "4 in a transaction, 2 for the index")
        self.assertEqual(self.put(c), 3, "2 for the table, 1 for the KEYS_ONLY index")
        moved = self.wcu(self.ddb.update_item, TableName=self.name, Key={"pk": s("b1")},
                         UpdateExpression="SET lookup = :y", ExpressionAttributeValues={":y": s("y")})
        self.assertEqual(moved, 6, "the index key changed: a delete (2) and a put (2) in the index")
        failed = self.wcu(self.ddb.update_item, TableName=self.name, Key={"pk": s("a1")},
                          UpdateExpression="SET v = :v", ConditionExpression="attribute_not_exists(pk)",
                          ExpressionAttributeValues={":v": s("v")})
        self.assertEqual(failed, 2, "a failed condition bills the existing item, no index")
        self.assertEqual(self.wcu(self.ddb.delete_item, TableName=self.name, Key={"pk": s("nothing")}), 1)
        self.assertEqual(self.wcu(self.ddb.delete_item, TableName=self.name, Key={"pk": s("c1")}), 3)

        got = cost(self.name)
        self.assertEqual(got["wcu"], 2 + 4 + 4 + 6 + 3 + 6 + 2 + 1 + 3)
        self.assertEqual(got["by_op"], {"PutItem": 9, "TransactWriteItems": 10, "UpdateItem": 8, "DeleteItem": 4})
        self.assertEqual(got["largest_item"], {"bytes": 1515, "key": {"pk": s("b1")}})
        self.assertEqual(control("POST", f"/_stats/reset?table={self.name}")[0], 200)
        self.assertEqual(cost(self.name), {"writes": 0, "wcu": 0, "by_op": {},
                                           "largest_item": {"bytes": 1515, "key": {"pk": s("b1")}}})

    def test_sizes_of_each_type(self):
        """pk "d1": 4. n 12345: 1 + (3 + 1) = 5 (5 digits, 3 bytes, + 1).
        m {a: "xy", b: 1}: 1 + 3 + (1 + 2 + 1) + (1 + 2 + 1) = 12.
        l [true, null]: 1 + 3 + (1 + 1) + (1 + 1) = 8. ss {"ab", "c"}: 2 + 3.
        bb 3 bytes: 2 + 3. f -0.0012300: 1 + 3 (digits 123). Total 43."""
        self.ddb.put_item(TableName=self.name, Item={
            "pk": s("d1"), "n": {"N": "12345"}, "m": {"M": {"a": s("xy"), "b": {"N": "1"}}},
            "l": {"L": [{"BOOL": True}, {"NULL": True}]}, "ss": {"SS": ["ab", "c"]},
            "bb": {"B": b"\x00\x01\x02"}, "f": {"N": "-0.0012300"},
        })
        self.assertEqual(cost(self.name)["largest_item"], {"bytes": 43, "key": {"pk": s("d1")}})
        self.assertEqual(cost(self.name)["wcu"], 1)

    def test_a_batch_bills_each_write(self):
        self.put({"pk": s("a1"), "blob": self.blob})
        writes = [
            {"PutRequest": {"Item": {"pk": s("b1"), "blob": self.blob, "lookup": s("x")}}},
            {"DeleteRequest": {"Key": {"pk": s("a1")}}},
            {"DeleteRequest": {"Key": {"pk": s("nothing")}}},
        ]
        self.assertEqual(self.wcu(self.ddb.batch_write_item, RequestItems={self.name: writes}), 4 + 2 + 1)
        self.assertEqual(cost(self.name)["by_op"]["BatchWriteItem"], 7)

    def test_what_is_not_written_is_not_billed(self):
        item = {"pk": s("a1"), "blob": self.blob}
        set_faults(self.name, seed=1, throttle=1.0)
        self.assertEqual(self.put(item), 0, "throttled")
        set_faults(self.name, seed=1, conflict=1.0)
        self.assertEqual(self.put(item), 0, "conflicted")
        set_faults(self.name, seed=1, ambiguous=1.0)
        self.assertEqual(self.put(item), 2, "ambiguous: applied")
        control("DELETE", f"/_faults?table={self.name}")
        items = [{"Put": {"TableName": self.name, "Item": dict(item, pk=s("t1"))}}]
        self.assertEqual(self.wcu(self.ddb.transact_write_items, TransactItems=items, ClientRequestToken="bill-1"), 4)
        self.assertEqual(self.wcu(self.ddb.transact_write_items, TransactItems=items, ClientRequestToken="bill-1"), 0,
                         "a replay writes nothing")
        self.assertEqual(cost(self.name)["largest_item"]["bytes"], 1508)


if __name__ == "__main__":
    unittest.main()
