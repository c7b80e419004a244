"""The EventBridge rules in template.yaml deliver exactly the events the notifier
handles. Patterns come from the template after the SAM transform (never copied
here) and a real matcher, moto's server, decides: each test puts sample events
on a fresh bus and reads which ones reach a queue. Needs MOTO_ENDPOINT and AWS
credentials/region (scripts/test.sh sets them); TEMPLATE_PATH overrides the
template, e.g. to check that a mutated copy fails.
"""

import copy
import json
import os
import unittest
import uuid
from pathlib import Path
from types import SimpleNamespace

import boto3
from cfnlint.decode import decode
from samtranslator.translator.transform import transform

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / os.environ.get("TEMPLATE_PATH", "template.yaml")
ECS_RULE = "NotifierFunctionEcsTaskStateChange"  # names SAM gives the rules
USER_RULE = "NotifierFunctionUserRegistered"
# One build, two functions: the notifier (events, logs, the post queue, the
# watch) and the Slack-requests function (the public URL).
NOTIFIER = "NotifierFunction"
SLACK = "SlackRequestsFunction"
FUNCTIONS = [NOTIFIER, SLACK]
CONTROL_ACTIONS = {"ecs:RunTask", "ecs:StopTask", "iam:PassRole"}
WATCH_RULE = "NotifierFunctionWatch"

ECS_TASKS = [
    "events/ecs-task-running.json",
    "events/ecs-task-stopped-success.json",
    "events/ecs-task-stopped-failure.json",
    "events/ecs-task-never-started.json",
    "events/ecs-task-running-before-failure.json",
]
USER_REGISTERED = ["events/user-registered.json"]
# Every test puts all of these, so each rule is shown to reject the others' events.
ALL_EVENTS = ECS_TASKS + USER_REGISTERED + [
    "tests/fixtures/ecs-task-pending.json",
    "tests/fixtures/container-instance-state-change.json",
    "events/scheduled-event.json",
]
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/market-pulse"
OTHER_CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/other"
# Added to each event's detail to tell deliveries apart; no pattern may use it.
MARKER = "_test_marker"


def load_template():
    template, errors = decode(str(TEMPLATE))
    if errors:
        raise RuntimeError(f"cannot parse {TEMPLATE}: {errors}")
    sam = copy.deepcopy(template)
    # The transform wants a deployable code location; the local path is for `sam build`.
    for function in FUNCTIONS:
        sam["Resources"][function]["Properties"]["CodeUri"] = "s3://bucket/key"
    # The template names no managed policies, so the loader never needs IAM.
    return transform(sam, {}, SimpleNamespace(load=dict))


NO_VALUE = object()


class Resolver:
    """Evaluates the few intrinsics the patterns use, as CloudFormation would
    for the given parameter values; anything else raises."""

    def __init__(self, template, **overrides):
        self.params = template.get("Parameters", {})
        self.conditions = template.get("Conditions", {})
        self.mappings = template.get("Mappings", {})
        unknown = set(overrides) - set(self.params)
        if unknown:
            raise KeyError(f"no such parameters: {unknown}")
        self.values = {k: p.get("Default") for k, p in self.params.items()} | overrides

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in map(self, node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((fn, arg),) = node.items()
            if fn in ("Ref", "Condition") or fn.startswith("Fn::"):
                return self.intrinsic(fn, arg)
        resolved = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def intrinsic(self, fn, arg):
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::If":
            name, if_true, if_false = arg
            return self(if_true if self.condition(name) else if_false)
        args = self(arg)
        if fn == "Fn::Sub" and isinstance(args, str):
            return self.sub(args)
        functions = {
            "Fn::Equals": lambda a, b: a == b,
            "Fn::Not": lambda a: not a,
            "Fn::And": lambda *a: all(a),
            "Fn::Or": lambda *a: any(a),
            "Fn::Join": lambda sep, items: sep.join(items),
            "Fn::Select": lambda i, items: items[int(i)],
            "Fn::Split": lambda sep, s: s.split(sep),
            "Fn::FindInMap": lambda m, k1, k2: self.mappings[m][k1][k2],
        }
        if fn not in functions:
            raise NotImplementedError(f"{fn} is not supported by this resolver")
        return functions[fn](*args)

    def sub(self, text):
        """The string form, with parameters only (no pseudo parameters)."""
        for name in self.params:
            if "${%s}" % name in text:
                text = text.replace("${%s}" % name, self.ref(name))
        if "${" in text:
            raise NotImplementedError(f"Fn::Sub {text}: only parameters are supported")
        return text

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self.params:
            raise NotImplementedError(f"Ref {name}: not a parameter, cannot resolve")
        value = self.values[name]
        if value is None:
            raise KeyError(f"parameter {name} has no default; pass a value")
        if self.params[name]["Type"] == "CommaDelimitedList":
            return str(value).split(",")
        return str(value)

    def condition(self, name):
        value = self(self.conditions[name])
        if not isinstance(value, bool):
            raise TypeError(f"condition {name} evaluated to {value!r}")
        return value


class RulePatterns(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.rules = {
            name: res["Properties"]["EventPattern"]
            for name, res in cls.template["Resources"].items()
            if res["Type"] == "AWS::Events::Rule" and "EventPattern" in res["Properties"]
        }
        cls.schedules = {
            name: res["Properties"]["ScheduleExpression"]
            for name, res in cls.template["Resources"].items()
            if res["Type"] == "AWS::Events::Rule" and "ScheduleExpression" in res["Properties"]
        }
        endpoint = os.environ["MOTO_ENDPOINT"]
        cls.events = boto3.client("events", endpoint_url=endpoint)
        cls.sqs = boto3.client("sqs", endpoint_url=endpoint)

    def delivered(self, rule, **params):
        """Files among ALL_EVENTS whose events the rule delivers, given the
        stack's parameter values."""
        pattern = Resolver(self.template, **params)(self.rules[rule])
        self.assertNotIn(MARKER, pattern.get("detail", {}))
        name = f"pattern-test-{uuid.uuid4().hex[:12]}"
        queue_url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.addCleanup(self.sqs.delete_queue, QueueUrl=queue_url)
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        self.events.create_event_bus(Name=name)
        self.addCleanup(self.events.delete_event_bus, Name=name)
        self.events.put_rule(Name=name, EventBusName=name, EventPattern=json.dumps(pattern))
        self.addCleanup(self.events.delete_rule, Name=name, EventBusName=name)
        self.events.put_targets(
            Rule=name, EventBusName=name, Targets=[{"Id": "queue", "Arn": queue_arn}]
        )
        self.addCleanup(
            self.events.remove_targets, Rule=name, EventBusName=name, Ids=["queue"]
        )

        entries = []
        for path in ALL_EVENTS:
            event = json.loads((ROOT / path).read_text())
            self.assertNotIn(MARKER, event["detail"])
            entries.append({
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps({**event["detail"], MARKER: path}),
                "Resources": event["resources"],
                "EventBusName": name,
            })
        for i in range(0, len(entries), 10):  # PutEvents takes at most 10
            response = self.events.put_events(Entries=entries[i : i + 10])
            # A rejected event would otherwise pass as "not matched".
            self.assertEqual(response["FailedEntryCount"], 0, response["Entries"])

        got = []
        while messages := self.sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages"):
            got += [json.loads(m["Body"])["detail"][MARKER] for m in messages]
        return got

    def test_rules_under_test_are_all_the_rules(self):
        self.assertEqual(set(self.rules), {ECS_RULE, USER_RULE})
        # The one schedule: the watch, every five minutes.
        self.assertEqual(self.schedules, {WATCH_RULE: "rate(5 minutes)"})

    def test_ecs_rule_takes_running_and_stopped_tasks_of_every_cluster(self):
        got = self.delivered(ECS_RULE)
        self.assertCountEqual(got, ECS_TASKS)

    def test_ecs_rule_takes_tasks_of_listed_clusters(self):
        for clusters in [CLUSTER, f"{OTHER_CLUSTER},{CLUSTER}"]:
            with self.subTest(ClusterArns=clusters):
                got = self.delivered(ECS_RULE, ClusterArns=clusters)
                self.assertCountEqual(got, ECS_TASKS)

    def test_ecs_rule_ignores_clusters_not_listed(self):
        got = self.delivered(ECS_RULE, ClusterArns=OTHER_CLUSTER)
        self.assertEqual(got, [])

    def test_user_rule_takes_sign_ups_from_the_app(self):
        got = self.delivered(USER_RULE)
        self.assertCountEqual(got, USER_REGISTERED)

    def test_user_rule_ignores_other_sources(self):
        got = self.delivered(USER_RULE, AppEventSource="other.app")
        self.assertEqual(got, [])


class LooseResolver(Resolver):
    """Like Resolver, but leaves what only a deployment knows (Fn::Sub over
    pseudo parameters, Fn::GetAtt) as readable text."""

    def intrinsic(self, fn, arg):
        if fn == "Fn::Sub":
            return arg if isinstance(arg, str) else arg[0]
        if fn == "Fn::GetAtt":
            return "GetAtt:" + (arg if isinstance(arg, str) else ".".join(arg))
        if fn == "Ref" and arg not in self.params and arg != "AWS::NoValue":
            return "Ref:" + arg
        return super().intrinsic(fn, arg)


class JobControlPermissions(unittest.TestCase):
    """Job control acts only within what the stack's parameters allow."""

    @classmethod
    def setUpClass(cls):
        cls.template = load_template()

    def statements(self, function=SLACK, **params):
        """The statements of `function`'s role, its inline policies and the
        policies attached to it, for these parameter values."""
        params.setdefault("SlackTokenSecret", "ecs-slack-notifier/bot-token")
        params.setdefault("DefaultChannel", "C0JOBS")
        resolve = LooseResolver(self.template, **params)
        resources = self.template["Resources"]
        role = resources[f"{function}Role"]["Properties"]
        policies = list(resolve(role.get("Policies", [])))
        for name, res in resources.items():
            if res["Type"] == "AWS::IAM::Policy" and {"Ref": f"{function}Role"} in res["Properties"]["Roles"]:
                if "Condition" not in res or resolve.condition(res["Condition"]):
                    policies.append(resolve(res["Properties"]))
        statements = {}
        for policy in policies:
            for statement in policy["PolicyDocument"]["Statement"]:
                # SAM's own statements (the dead-letter destination) have no Sid.
                statements[statement.get("Sid", repr(statement["Action"]))] = statement
        return statements

    def test_by_default_it_may_neither_stop_nor_start(self):
        role = "arn:aws:iam::123456789012:role/jobs-task"
        for params in [{}, {"JobTaskDefinitionPrefix": "market-pulse-", "JobRoleArns": role}]:
            with self.subTest(**params):
                got = self.statements(**params)
                for sid in ["StopJobTasks", "RunJobTasks", "PassJobRoles"]:
                    self.assertNotIn(sid, got)

    def test_job_control_on_alone_may_stop_but_start_nothing(self):
        got = self.statements(JobControl="on")
        self.assertEqual(got["StopJobTasks"]["Action"], "ecs:StopTask")
        self.assertNotIn("Condition", got["StopJobTasks"], "every cluster's tasks when ClusterArns is empty")
        self.assertNotIn("RunJobTasks", got)
        self.assertNotIn("PassJobRoles", got)

    def test_running_is_limited_to_the_jobs_and_clusters_and_roles_go_only_to_ecs_tasks(self):
        role = "arn:aws:iam::123456789012:role/jobs-task"
        got = self.statements(
            JobControl="on", ClusterArns=CLUSTER, JobTaskDefinitionPrefix="market-pulse-", JobRoleArns=role
        )
        self.assertEqual(got["StopJobTasks"]["Condition"], {"ArnEquals": {"ecs:cluster": [CLUSTER]}})
        run = got["RunJobTasks"]
        self.assertEqual(run["Action"], "ecs:RunTask")
        self.assertTrue(run["Resource"].endswith(":task-definition/${JobTaskDefinitionPrefix}*:*"), run["Resource"])
        self.assertEqual(run["Condition"], {"ArnEquals": {"ecs:cluster": [CLUSTER]}})
        passing = got["PassJobRoles"]
        self.assertEqual((passing["Action"], passing["Resource"]), ("iam:PassRole", [role]))
        self.assertEqual(passing["Condition"], {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}})

    def test_posts_are_queued_to_the_post_queue_only_and_consumed_one_at_a_time(self):
        got = self.statements(NOTIFIER)
        self.assertEqual(got["QueuePosts"], {"Sid": "QueuePosts", "Effect": "Allow", "Action": "sqs:SendMessage",
                                             "Resource": "GetAtt:PostQueue.Arn"})
        queue = self.template["Resources"]["PostQueue"]["Properties"]
        self.assertTrue(queue["FifoQueue"])
        timeout = self.template["Resources"]["NotifierFunction"]["Properties"]["Timeout"]
        self.assertIn("NotifierFunction", [k for k, r in self.template["Resources"].items()
                                           if r["Type"] == "AWS::Lambda::Function"])
        self.assertGreaterEqual(queue["VisibilityTimeout"], timeout)
        dlq = self.template["Resources"]["PostDeadLetterQueue"]["Properties"]
        self.assertTrue(dlq["FifoQueue"], "a FIFO queue's dead-letter queue is FIFO")
        mappings = [r["Properties"] for r in self.template["Resources"].values()
                    if r["Type"] == "AWS::Lambda::EventSourceMapping"]
        self.assertEqual(len(mappings), 1)
        consumer = mappings[0]
        self.assertEqual(consumer["EventSourceArn"], {"Fn::GetAtt": ["PostQueue", "Arn"]})
        consume = got["ConsumePosts"]
        self.assertEqual(consume["Resource"], "GetAtt:PostQueue.Arn")
        self.assertTrue(all(a.startswith("sqs:") for a in consume["Action"]), consume)
        role = self.template["Resources"]["NotifierFunctionRole"]["Properties"]
        self.assertEqual(role["ManagedPolicyArns"],
                         ["arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                         "no managed policy that reaches other queues")
        self.assertEqual((consumer["BatchSize"], consumer["FunctionResponseTypes"]), (1, ["ReportBatchItemFailures"]))

    def test_task_definitions_are_read_with_or_without_job_logs(self):
        for params in [{}, {"JobLogGroups": ""}]:
            with self.subTest(**params):
                got = self.statements(NOTIFIER, **params)
                read = got["TaskDefinitions"]
                self.assertEqual((read["Action"], read["Resource"]), ("ecs:DescribeTaskDefinition", "*"))
                self.assertEqual("JobLogTail" in got, params == {}, "log reads only with JobLogGroups")

    def test_the_function_url_takes_slacks_requests_without_aws_auth(self):
        urls = [r for r in self.template["Resources"].values() if r["Type"] == "AWS::Lambda::Url"]
        self.assertEqual(len(urls), 1)
        self.assertEqual(urls[0]["Properties"]["AuthType"], "NONE")
        self.assertEqual(urls[0]["Properties"]["TargetFunctionArn"], {"Ref": SLACK}, "the URL is the Slack function's")
        self.assertEqual(self.template["Outputs"]["SlackRequestUrl"]["Value"],
                         {"Fn::GetAtt": [f"{SLACK}Url", "FunctionUrl"]})


# Every combination of the parameters the conditions read.
BRANCHES = [
    {"JobControl": control, "JobTaskDefinitionPrefix": prefix, "JobRoleArns": roles, "ClusterArns": clusters,
     "JobLogGroups": logs}
    for control in ("off", "on")
    for prefix in ("", "market-pulse-")
    for roles in ("", "arn:aws:iam::123456789012:role/jobs-task")
    for clusters in ("", CLUSTER)
    for logs in ("", "/ecs/*")
]


class TwoFunctions(unittest.TestCase):
    """One build deployed twice: the public one answers Slack with the power
    to start and stop tasks; the notifier takes the events and has none."""

    @classmethod
    def setUpClass(cls):
        cls.template = load_template()

    statements = JobControlPermissions.statements

    def functions(self):
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == "AWS::Lambda::Function"}

    def test_two_functions_of_one_build_each_knowing_its_role(self):
        functions = self.functions()
        self.assertEqual(set(functions), set(FUNCTIONS))
        roles = {k: r["Properties"]["Environment"]["Variables"]["NOTIFIER_ROLE"] for k, r in functions.items()}
        self.assertEqual(roles, {NOTIFIER: "events", SLACK: "slack"})
        self.assertEqual({r["Properties"]["Handler"] for r in functions.values()}, {"bootstrap"})

    def test_the_notifier_may_not_run_stop_or_pass_roles_in_any_branch(self):
        for params in BRANCHES:
            with self.subTest(**params):
                for statement in self.statements(NOTIFIER, **params).values():
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    self.assertFalse(CONTROL_ACTIONS & set(actions), statement)
        # Nor anywhere in its role's text, whatever a condition says.
        role = json.dumps(self.template["Resources"][f"{NOTIFIER}Role"])
        for action in CONTROL_ACTIONS:
            self.assertNotIn(action, role)

    def test_the_slack_function_has_control_only_with_job_control_on(self):
        for params in BRANCHES:
            with self.subTest(**params):
                got = self.statements(SLACK, **params)
                on = params["JobControl"] == "on"
                self.assertEqual("StopJobTasks" in got, on)
                self.assertEqual("RunJobTasks" in got, on and params["JobTaskDefinitionPrefix"] != "")
                self.assertEqual("PassJobRoles" in got, on and params["JobRoleArns"] != "")
                # No queue, no logs, no task definitions: only what Slack's requests need.
                actions = {a for s in got.values() for a in (s["Action"] if isinstance(s["Action"], list)
                                                              else [s["Action"]])}
                self.assertFalse({a for a in actions if a.startswith(("sqs:", "logs:"))}, actions)
                self.assertNotIn("dynamodb:DeleteItem", actions)

    def test_the_slack_function_invokes_itself_and_nothing_else(self):
        got = self.statements(SLACK)
        invoke = got["DeferToItself"]
        self.assertEqual((invoke["Action"], invoke["Resource"]), ("lambda:InvokeFunction", f"GetAtt:{SLACK}.Arn"))
        self.assertNotIn("DeferToItself", self.statements(NOTIFIER))

    def test_only_the_slack_function_may_invoke_a_function_and_only_itself_in_every_branch(self):
        def lambda_statements(function, params):
            for statement in self.statements(function, **params).values():
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if any(a == "*" or a.startswith("lambda:") for a in actions):
                    yield statement, actions

        for params in BRANCHES:
            with self.subTest(**params):
                got = list(lambda_statements(SLACK, params))
                self.assertEqual(len(got), 1, got)
                statement, actions = got[0]
                self.assertEqual(statement["Effect"], "Allow")
                self.assertEqual(actions, ["lambda:InvokeFunction"])
                # Its own ARN, unqualified (what AWS_LAMBDA_FUNCTION_NAME
                # invokes), not a pattern that reaches other functions.
                self.assertEqual(statement["Resource"], f"GetAtt:{SLACK}.Arn")
                self.assertNotIn("Condition", statement)
                self.assertEqual(list(lambda_statements(NOTIFIER, params)), [])
        # The function it invokes is the one Lambda names in its own
        # environment: the template points it at no other.
        variables = self.functions()[SLACK]["Properties"]["Environment"]["Variables"]
        self.assertNotIn("AWS_LAMBDA_FUNCTION_NAME", variables)
        self.assertFalse([k for k in variables if "FUNCTION" in k or k.startswith("AWS_ENDPOINT_URL")], variables)

    def test_the_public_function_has_reserved_concurrency_and_a_short_timeout(self):
        functions = self.functions()
        slack = functions[SLACK]["Properties"]
        self.assertEqual(slack["ReservedConcurrentExecutions"], {"Ref": "SlackRequestsConcurrency"})
        self.assertEqual(self.template["Parameters"]["SlackRequestsConcurrency"]["Default"], 5)
        self.assertLessEqual(slack["Timeout"], 10)
        self.assertNotIn("ReservedConcurrentExecutions", functions[NOTIFIER]["Properties"])

    def test_events_logs_and_the_queue_go_to_the_notifier_only(self):
        resources = self.template["Resources"]
        for name, res in resources.items():
            props = res["Properties"]
            if res["Type"] == "AWS::Events::Rule":
                self.assertEqual([t["Arn"] for t in props["Targets"]], [{"Fn::GetAtt": [NOTIFIER, "Arn"]}], name)
            if res["Type"] == "AWS::Lambda::EventSourceMapping":
                self.assertEqual(props["FunctionName"], {"Ref": NOTIFIER}, name)
            if res["Type"] == "AWS::Logs::SubscriptionFilter":
                self.assertEqual(props["DestinationArn"], {"Fn::GetAtt": [NOTIFIER, "Arn"]}, name)
            if res["Type"] == "AWS::Lambda::Permission" and props["Principal"] != "*":
                self.assertNotEqual(props["FunctionName"], {"Ref": SLACK}, name)

    def test_each_function_has_its_alarms(self):
        alarmed = {}
        for res in self.template["Resources"].values():
            if res["Type"] == "AWS::CloudWatch::Alarm":
                for d in res["Properties"]["Dimensions"]:
                    if d["Name"] == "FunctionName":
                        alarmed.setdefault(d["Value"]["Ref"], set()).add(res["Properties"]["MetricName"])
        self.assertEqual(alarmed[NOTIFIER], {"Errors", "WillNotHeal"})
        self.assertEqual(alarmed[SLACK], {"Errors", "Throttles", "WillNotHeal"})


def filter_passes(pattern, line):
    """CloudWatch Logs filter pattern semantics for unstructured events, as
    documented: "" matches all; `?a ?b` matches events containing any of the
    terms (case-sensitive), a quoted term as a phrase."""
    if pattern == "":
        return True
    terms = []
    for token in pattern.split(" "):
        if not token.startswith("?"):
            raise ValueError(f"only ?term patterns are modelled: {token}")
        terms.append(token[1:].strip('"'))
    return any(term in line for term in terms)


class StreamFilters(unittest.TestCase):
    """The log subscription filters: one per named group, and a pattern that
    passes every line that can reach the threshold but no INFO line."""

    @classmethod
    def setUpClass(cls):
        cls.template = load_template()
        cls.filters = {
            name: res
            for name, res in cls.template["Resources"].items()
            if res["Type"] == "AWS::Logs::SubscriptionFilter"
        }

    def filtered(self, **params):
        resolve = Resolver(self.template, **params)
        return [
            {key: resolve(res["Properties"][key]) for key in ("LogGroupName", "FilterPattern")}
            for res in self.filters.values()
            if resolve.condition(res["Condition"])
        ]

    def test_one_filter_per_named_group_and_none_by_default(self):
        self.assertEqual(self.filtered(), [])
        groups = ["/ecs/market-pulse-collect-stock-prices", "/ecs/market-pulse-analyze-sentiment"]
        got = self.filtered(StreamLogGroups=",".join(groups))
        self.assertEqual([f["LogGroupName"] for f in got], groups)
        eight = [f"/ecs/job-{i}" for i in range(8)]
        self.assertEqual(len(self.filtered(StreamLogGroups=",".join(eight))), 8)

    def test_patterns_pass_what_can_reach_the_level_and_no_info(self):
        warnings = [
            "2026-11-26 14:01:52,907 WARNING jobs.providers: stale quote",
            "WARN slow",
            '{"level": "warning", "msg": "x"}',
        ]
        errors = ["ERROR:root:boom", "[ERROR] x", "level=error msg=x"]
        critical = ['{"levelname": "CRITICAL"}', "FATAL gone"]
        traceback = [
            "Traceback (most recent call last):",
            '  File "/app/jobs/providers.py", line 88, in fetch',
            "requests.exceptions.HTTPError: 429 Client Error",
        ]
        info = ["2026-11-26 14:01:40,112 INFO jobs.prices: fetching 503 tickers", '{"level": "info", "msg": "ok"}',
                "DEBUG raw payload", "progress 50%"]
        for level, passes, blocked in [
            ("warning", warnings + errors + critical + traceback, info),
            ("error", errors + critical + traceback, info + warnings),
            ("critical", critical + traceback, info + warnings + errors),
        ]:
            (props,) = self.filtered(StreamLogGroups="/ecs/x", StreamLogsLevel=level)
            pattern = props["FilterPattern"]
            for line in passes:
                self.assertTrue(filter_passes(pattern, line), f"{level}: {line!r} should pass {pattern!r}")
            for line in blocked:
                self.assertFalse(filter_passes(pattern, line), f"{level}: {line!r} should not pass {pattern!r}")
        for level in ("debug", "info"):
            (props,) = self.filtered(StreamLogGroups="/ecs/x", StreamLogsLevel=level)
            self.assertEqual(props["FilterPattern"], "", "every line can reach debug or info")


if __name__ == "__main__":
    unittest.main()
