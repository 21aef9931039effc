"""What the benchmarks share: percentiles, the "p50 p95" table cells, a FHIR searchset, timed POSTs of
CDS Hooks requests, and the product served on a loopback port with the no-op baseline endpoint.

Scripts put the checkout on ``sys.path`` first (they run as ``.venv/bin/python bench/<name>.py``) and
then import this module as ``bench._common``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import requests
    from flask import Flask

    from tests.support.live_server import LiveServer


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile (``q`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def p50_p95(values: list[float], width: int = 9) -> str:
    """Two table cells, median and 95th percentile, in ms (the median right-aligned in ``width``)."""
    return f"{statistics.median(values):>{width}.2f}ms{percentile(values, 0.95):>7.2f}ms"


def searchset(items: list[dict[str, Any]]) -> dict[str, Any]:
    """A FHIR searchset Bundle holding ``items``, as a prefetch entry carries it."""
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in items]}


def post_timed(
    session: requests.Session, url: str, bodies: Iterable[dict[str, Any]], timeout: float
) -> tuple[list[float], int]:
    """POST each body as JSON; the round-trip times in ms and the card count of the last answer."""
    out: list[float] = []
    cards = 0
    for body in bodies:
        data = json.dumps(body)
        start = time.perf_counter()
        resp = session.post(url, data=data, headers={"Content-Type": "application/json"}, timeout=timeout)
        out.append((time.perf_counter() - start) * 1000)
        resp.raise_for_status()
        cards = len(resp.json()["cards"])
    return out, cards


def bench_app(instance_path: Path, service_module: str) -> tuple[LiveServer, Flask]:
    """The product with only ``service_module`` and the no-op endpoint (``cds_bench_noop``), JWT
    verification off for both, its database migrated; the loopback server is bound, not started."""
    from evidence_cds import db
    from evidence_cds.app import create_app
    from tests.support.live_server import LiveServer

    server = LiveServer()
    app = create_app(
        {
            "instance_path": instance_path,
            "secret_key": "bench",
            "public_base_url": server.url,
            "cds_verify_jwt": False,
            "cds_bench_noop": True,
            "cds_service_modules": [service_module],
        }
    )
    db.upgrade(app.extensions["settings"].resolved_database_url())
    return server, app
