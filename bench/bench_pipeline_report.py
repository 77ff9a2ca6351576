"""The pipeline report's read path vs the bare OpenSearch aggregation, same run.

N deals (default 20,000) of one tenant in one pipeline (plus as many of a noise tenant) are
indexed into a throwaway index on the test OpenSearch. Then, alternating:
- baseline: the bare `_search` with the report's aggregation body (client round trip + JSON);
- report: OpenSearchDealIndex.pipeline_aggregations + shape_pipelines (what GET
  /reports/pipelines does apart from the pipeline lookup in Postgres and the HTTP/gate path).
Also printed: OpenSearch's own `took` (server time) for the aggregation. The index's request
cache is off, so every round computes the aggregation.

Run: .venv/bin/python bench/bench_pipeline_report.py [N]   (starts the test servers if needed)
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers/core")]

from crm.adapters.opensearch.deals_index import (  # noqa: E402
    OpenSearchDealIndex,
    ensure_deals_template,
)
from crm.adapters.opensearch.leads_index import client_for  # noqa: E402
from crm.domain.deals import Deal  # noqa: E402
from crm.domain.pipelines import Pipeline, Stage, StageKind  # noqa: E402
from crm.services.pipeline_reports import shape_pipelines  # noqa: E402

from bench.smoke import scaled  # noqa: E402
from local.services import ensure_test_services  # noqa: E402

ROUNDS = scaled(200, smoke=3)


def _deals(pipeline: Pipeline, n: int, rng: random.Random) -> list[dict[str, Any]]:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    rows = []
    for _ in range(n):
        stage = rng.choice(pipeline.stages)
        created = start + timedelta(days=rng.randrange(690))
        closed = created + timedelta(days=rng.randrange(1, 60)) if stage.kind != "open" else None
        rows.append(
            Deal(
                tenant_id=pipeline.tenant_id,
                title="x",
                pipeline_id=pipeline.id,
                stage_id=stage.id,
                status=stage.kind,
                stage_probability=stage.probability,
                value=Decimal(rng.randrange(100, 10_000_000)) / 100,
                currency=rng.choice(("EUR", "USD", "BRL")),
                owner_id=rng.choice((None, uuid.uuid4())),
                created_at=created,
                closed_at=closed,
            ).to_dict()
        )
    return rows


def _pipeline(tenant: uuid.UUID) -> Pipeline:
    kinds = [StageKind.OPEN] * 4 + [StageKind.WON, StageKind.LOST]
    stages = [Stage(f"S{i}", 10, kind, i) for i, kind in enumerate(kinds)]
    return Pipeline(tenant_id=tenant, name="Sales", stages=stages)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else scaled(20_000, smoke=200)
    endpoints = ensure_test_services(ROOT)
    client = client_for(endpoints.opensearch_url)
    ensure_deals_template(client)
    name = f"crm-deals-bench-{uuid.uuid4().hex[:8]}"
    index = OpenSearchDealIndex(client, index=name)
    rng = random.Random(7)
    tenant, noise = uuid.uuid4(), uuid.uuid4()
    pipeline = _pipeline(tenant)
    try:
        for owner, p in ((tenant, pipeline), (noise, _pipeline(noise))):
            rows = _deals(p, n, rng)
            for i in range(0, n, 2000):
                assert index.index_deals([(owner, d) for d in rows[i : i + 2000]]) == [None] * len(
                    rows[i : i + 2000]
                )
        client.indices.refresh(index=name)
        # measure the aggregation itself: the shard request cache would answer repeats of a
        # size-0 search (in production it is invalidated by every refresh that has writes)
        client.indices.put_settings(index=name, body={"index.requests.cache.enable": False})
        start, end = date(2026, 1, 1), date(2026, 11, 30)

        # the body the adapter sends, captured once for the baseline
        sent: dict[str, Any] = {}
        real_search = client.search

        def capture(**kwargs: Any) -> Any:
            sent.update(kwargs)
            return real_search(**kwargs)

        client.search = capture  # type: ignore[method-assign]
        index.pipeline_aggregations(tenant, start=start, end=end)
        client.search = real_search  # type: ignore[method-assign]

        bare: list[float] = []
        report: list[float] = []
        took: list[int] = []
        for _ in range(ROUNDS):
            t0 = time.perf_counter()
            took.append(real_search(**sent)["took"])
            bare.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            shaped = shape_pipelines(
                index.pipeline_aggregations(tenant, start=start, end=end), [pipeline]
            )
            report.append((time.perf_counter() - t0) * 1000)
        assert shaped[0]["deals"] == n
        b, r = statistics.median(bare), statistics.median(report)
        print(f"{n} deals per tenant, {ROUNDS} rounds (median ms)")
        print(f"  OpenSearch took (server)          {statistics.median(took):8.2f}")
        print(f"  bare aggregation (round trip)     {b:8.2f}   1.00x")
        print(f"  report (aggregation + shaping)    {r:8.2f}   {r / b:.2f}x")
    finally:
        client.indices.delete(index=name, params={"ignore_unavailable": "true"})


if __name__ == "__main__":
    main()
