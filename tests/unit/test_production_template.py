"""What an operator needs from template.yaml, checked generically (a function, schedule, queue,
secret or bucket added later is covered without touching this file):

- data that must outlive the stack is retained (secrets holding keys and credentials, buckets,
  the database) and the database keeps backups;
- every log group has a retention and every function logs into one (Globals);
- every schedule retries and dead-letters, and every dead-letter queue is alarmed: SAM's queues
  for schedules and OnFailure destinations, and the broker's q.<name>.dlq of
  infra/mq/topology.json;
- the functions reach the AWS APIs they use through VPC endpoints, and the internet via a NAT;
- deploy-time steps (migrations, the first key set) are custom resources of the template.
"""

from __future__ import annotations

import json
from typing import Any

from tests.support import ROOT
from tests.unit.test_template import _functions, _template

TEMPLATE = _template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]


def _of_type(kind: str) -> dict[str, Any]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def _alarms() -> list[dict[str, Any]]:
    return [r["Properties"] for r in _of_type("AWS::CloudWatch::Alarm").values()]


def test_secrets_buckets_and_the_database_are_retained_and_backed_up() -> None:
    kinds = ("AWS::SecretsManager::Secret", "AWS::S3::Bucket", "AWS::RDS::DBCluster")
    retained = {name: r for name, r in RESOURCES.items() if r["Type"] in kinds}
    assert len(retained) >= 9
    for name, resource in retained.items():
        assert resource.get("DeletionPolicy") == "Retain", name
        assert resource.get("UpdateReplacePolicy") == "Retain", name
    for cluster in _of_type("AWS::RDS::DBCluster").values():
        assert cluster["Properties"]["BackupRetentionPeriod"] == {
            "Ref": "DatabaseBackupRetentionDays"
        }
        assert cluster["Properties"]["StorageEncrypted"] is True


def test_every_log_group_has_a_retention_and_every_function_logs_into_one() -> None:
    groups = _of_type("AWS::Logs::LogGroup")
    assert groups
    for name, group in groups.items():
        assert group["Properties"].get("RetentionInDays"), name
    logging = TEMPLATE["Globals"]["Function"]["LoggingConfig"]
    assert logging["LogGroup"]["Ref"] in groups
    for name, properties in _functions().items():
        override = (properties.get("LoggingConfig") or {}).get("LogGroup")
        assert override is None or override.get("Ref") in groups, name


def test_every_schedule_retries_and_dead_letters_into_an_alarmed_queue() -> None:
    alarmed_queues = {
        d["Value"]["Fn::GetAtt"][0]
        for alarm in _alarms()
        for d in alarm.get("Dimensions") or []
        if d["Name"] == "QueueName" and isinstance(d["Value"], dict) and "Fn::GetAtt" in d["Value"]
    }
    schedules = 0
    for name, properties in _functions().items():
        for event_id, event in (properties.get("Events") or {}).items():
            if event["Type"] != "ScheduleV2":
                continue
            schedules += 1
            props = event["Properties"]
            assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1, (name, event_id)
            assert props["DeadLetterConfig"]["Type"] == "SQS", (name, event_id)
            # SAM names the queue it creates <Function><Event>Queue
            assert f"{name}{event_id}Queue" in alarmed_queues, (name, event_id)
        on_failure = (properties.get("EventInvokeConfig") or {}).get("DestinationConfig") or {}
        if on_failure.get("OnFailure", {}).get("Type") == "SQS":
            assert f"{name}EventInvokeConfigOnFailureQueue" in alarmed_queues, name
    assert schedules >= 3
    worker = _functions()["ImportWorkerFunction"]["EventInvokeConfig"]
    assert worker["DestinationConfig"]["OnFailure"]["Type"] == "SQS"


def test_every_broker_dead_letter_queue_is_alarmed() -> None:
    topology = json.loads((ROOT / "infra/mq/topology.json").read_text())
    queues = [q["name"] if isinstance(q, dict) else q for q in topology["queues"]]
    alarmed = {
        d["Value"]
        for alarm in _alarms()
        if alarm["Namespace"] == "AWS/AmazonMQ"
        for d in alarm["Dimensions"]
        if d["Name"] == "Queue"
    }
    assert queues
    for queue in queues:
        assert f"{queue}.dlq" in alarmed, queue


def test_alarms_notify_the_topic_and_cover_the_operations_list() -> None:
    for alarm in _alarms():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], alarm["AlarmDescription"]
    metrics = {(a["Namespace"], a["MetricName"]) for a in _alarms()}
    assert {
        ("AWS/ApiGateway", "5XXError"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/ES", "ClusterStatus.red"),
        ("crm", "OutboxOldestUnpublishedAgeSeconds"),
    } <= metrics
    latency = next(a for a in _alarms() if a["MetricName"] == "Latency")
    assert latency["ExtendedStatistic"] == "p90"
    assert _of_type("AWS::CloudWatch::Dashboard")


def test_aws_apis_are_reached_through_endpoints_and_the_internet_through_a_nat() -> None:
    services = set()
    for endpoint in _of_type("AWS::EC2::VPCEndpoint").values():
        name = endpoint["Properties"]["ServiceName"]["Fn::Sub"]
        services.add(name.rsplit(".", 1)[1])
    # Secrets Manager, Step Functions, SES, S3, SNS, Lambda (async invokes), CloudWatch Logs
    # and metrics. Not execute-api: its private DNS would capture the public WebSocket
    # Management API, which it does not serve (the notifier goes through the NAT).
    assert {"secretsmanager", "states", "email", "s3", "sns", "lambda", "logs",
            "monitoring"} <= services  # fmt: skip
    assert "execute-api" not in services
    assert _of_type("AWS::EC2::NatGateway")
    route = next(iter(_of_type("AWS::EC2::Route").values()))["Properties"]
    assert route["DestinationCidrBlock"] == "0.0.0.0/0" and "NatGatewayId" in route


def test_functions_connect_through_the_proxy_with_verified_tls_and_sign_search_requests() -> None:
    variables = TEMPLATE["Globals"]["Function"]["Environment"]["Variables"]
    assert "${DatabaseProxy.Endpoint}" in variables["DATABASE_URL"]["Fn::Sub"]
    assert "sslmode=verify-full" in variables["DATABASE_URL"]["Fn::Sub"]
    assert variables["OPENSEARCH_AUTH"] == "sigv4"
    for properties in _functions().values():
        for name, value in ((properties.get("Environment") or {}).get("Variables") or {}).items():
            if name.endswith("DATABASE_URL"):
                assert "sslmode=verify-full" in value["Fn::Sub"], name
    proxy = _of_type("AWS::RDS::DBProxy")
    assert len(proxy) == 1 and next(iter(proxy.values()))["Properties"]["RequireTLS"] is True


def test_deploy_time_steps_are_custom_resources_of_packaged_functions() -> None:
    migrations = RESOURCES["DatabaseMigrations"]["Properties"]
    assert migrations["ServiceToken"] == {"Fn::GetAtt": ["DatabaseMigrationsFunction", "Arn"]}
    # a new version (new code or a new migration) changes a property: CloudFormation updates
    assert migrations["FunctionVersion"] == {"Ref": "DatabaseMigrationsFunction.Version"}
    code = ROOT / _functions()["DatabaseMigrationsFunction"]["CodeUri"]
    assert sorted((code / "migrations").glob("*.sql"))  # the package ships the migrations
    keys = RESOURCES["JwtKeySet"]["Properties"]
    assert keys["ServiceToken"] == {"Fn::GetAtt": ["JwtKeysFunction", "Arn"]}
    rotate = _functions()["JwtKeysFunction"]["Events"]["Rotate"]
    assert rotate["Type"] == "ScheduleV2"


def test_api_functions_start_from_a_snapstart_snapshot() -> None:
    function_globals = TEMPLATE["Globals"]["Function"]
    assert function_globals["Runtime"] == "python3.12"
    assert function_globals["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert function_globals["AutoPublishAlias"]  # SnapStart applies to published versions
    for name, properties in _functions().items():
        assert "SnapStart" not in properties, f"{name} overrides SnapStart"
