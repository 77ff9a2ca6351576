"""CloudFormation custom resource (MqTopology in template.yaml): applies topology.json, which
ships next to this file, to the broker on stack create and update. Declaring is idempotent;
delete leaves the broker alone, since its queues may still hold messages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import urllib3
from aws_lambda_powertools.utilities.typing import LambdaContext
from crm.adapters.rabbitmq.topology import declare_topology
from crm.observability import logger
from crm.settings import BrokerSettings

TOPOLOGY = Path(__file__).with_name("topology.json")
PHYSICAL_ID = "crm-mq-topology"
http = urllib3.PoolManager()


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    status, reason = "SUCCESS", "topology declared"
    if event["RequestType"] == "Delete":
        reason = "queues and exchanges are kept"
    else:
        try:
            declare_topology(BrokerSettings.from_env().amqp_url, TOPOLOGY)
        except Exception as error:  # CloudFormation must hear back, or the stack hangs
            logger.exception("declaring the topology failed")
            status, reason = "FAILED", f"{type(error).__name__}: {error}"[:1000]
    response = {
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": PHYSICAL_ID,
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
    }
    # The pre-signed S3 URL's signature covers an empty content type.
    http.request(
        "PUT", event["ResponseURL"], body=json.dumps(response), headers={"content-type": ""}
    )
    return response
