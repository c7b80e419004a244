"""The Python/boto3 peer of the notifier, for the cold-start comparison.

It does what the notifier does for a RUNNING event (claim the start slot in
DynamoDB, post to Slack, record the post) with the same conditional writes,
written the way a typical Python Lambda would be: boto3 clients at module
level, the Slack token read once per process, urllib for Slack. Run by
bench/harness.py under `python -m awslambdaric handler.handler`.
STOPPED events are not handled: the comparison is the cold path only.
"""

import json
import os
import time
import urllib.request
import uuid

import boto3

# Built once per execution environment, as Lambda guidance recommends: this
# import-and-build cost is part of the peer's init, as the Rust SDK's is of
# the notifier's. AWS_ENDPOINT_URL points both at the harness's proxy.
DYNAMODB = boto3.client("dynamodb")
SECRETS = boto3.client("secretsmanager")

TABLE = os.environ["THREADS_TABLE"]
SECRET_ID = os.environ["SLACK_TOKEN_SECRET_ID"]
CHANNEL = os.environ["SLACK_DEFAULT_CHANNEL"]
ENVIRONMENT = os.environ.get("ENVIRONMENT", "default")
SLACK_API_URL = os.environ.get("SLACK_API_URL", "https://slack.com/api").rstrip("/")
RECORD_TTL_SECS = 14 * 24 * 3600
LEASE_MARGIN_SECS = 10

_token = None


def _slack_token():
    """The bot token, read from Secrets Manager on first use only."""
    global _token
    if _token is None:
        secret = SECRETS.get_secret_value(SecretId=SECRET_ID)["SecretString"]
        _token = json.loads(secret)["token"]
    return _token


def _slack(method, body):
    request = urllib.request.Request(
        f"{SLACK_API_URL}/{method}",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {_slack_token()}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        answer = json.load(response)
    if not answer.get("ok"):
        raise RuntimeError(f"Slack {method}: {answer.get('error')}")
    return answer


def _start_message(detail):
    job = detail.get("group", "").removeprefix("family:") or detail["taskArn"].rsplit("/", 1)[-1]
    text = f":arrow_forward: {job} started ({ENVIRONMENT})"
    return {
        "channel": CHANNEL,
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{text}*"}},
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"Task `{detail['taskArn'].rsplit('/', 1)[-1]}`"},
                    {"type": "mrkdwn", "text": f"Started {detail.get('startedAt', '?')}"},
                ],
            },
        ],
    }


def handler(event, context):
    detail = event["detail"]
    if detail.get("lastStatus") != "RUNNING":
        return {"action": "ignored", "reason": "the peer handles RUNNING only"}
    key = f"task#{detail['taskArn']}"
    now = int(time.time())
    claim = uuid.uuid4().hex
    try:
        DYNAMODB.update_item(
            TableName=TABLE,
            Key={"pk": {"S": key}},
            UpdateExpression="SET start_claim = :token, start_lease = :lease, expires_at = :exp",
            ConditionExpression=(
                "attribute_not_exists(start_ts) AND (attribute_not_exists(start_claim) OR start_lease < :now)"
                " AND attribute_not_exists(completion_claim) AND attribute_not_exists(completion_ts)"
            ),
            ExpressionAttributeValues={
                ":token": {"S": claim},
                ":lease": {"N": str(now + context.get_remaining_time_in_millis() // 1000 + LEASE_MARGIN_SECS)},
                ":exp": {"N": str(now + RECORD_TTL_SECS)},
                ":now": {"N": str(now)},
            },
        )
    except DYNAMODB.exceptions.ConditionalCheckFailedException:
        return {"action": "skipped", "key": key, "slot": "start"}

    posted = _slack("chat.postMessage", _start_message(detail))

    DYNAMODB.update_item(
        TableName=TABLE,
        Key={"pk": {"S": key}},
        UpdateExpression="SET start_ts = :ts, start_channel = :ch REMOVE start_claim, start_lease",
        ConditionExpression="start_claim = :token",
        ExpressionAttributeValues={
            ":ts": {"S": posted["ts"]},
            ":ch": {"S": posted["channel"]},
            ":token": {"S": claim},
        },
    )
    return {"action": "posted_start", "key": key, "channel": posted["channel"], "ts": posted["ts"]}
