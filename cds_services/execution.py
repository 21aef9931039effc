"""Running a service within its time budget (CDS Hooks 2.0 expects answers in well under a second).

The handler always runs to completion: it is the service's core advice. Optional
:class:`~cds_services.registry.SlowStep` producers start concurrently on the app's executor; those
not finished when the budget runs out (or that fail) are dropped and named in the audit notes rather
than delaying the answer. A dropped step's thread finishes in the background; its result is ignored.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, Future, wait

from cds_services.models import Card
from cds_services.registry import CdsService, ServiceInput

log = logging.getLogger(__name__)


class HandlerFailed(Exception):
    """The service's handler raised or returned something other than cards (a bug, → 500)."""


def _checked(cards: object, where: str) -> list[Card]:
    if not isinstance(cards, list) or not all(isinstance(c, Card) for c in cards):
        raise HandlerFailed(f"{where} did not return a list of Card")
    return cards


def run_service(service: CdsService, inp: ServiceInput, executor: Executor) -> tuple[list[Card], list[str]]:
    """The cards of the handler plus the slow steps that made it; and notes on the dropped steps."""
    futures: dict[str, Future[list[Card]]] = {s.name: executor.submit(s.run, inp) for s in service.slow_steps}
    try:
        cards = list(_checked(service.handler(inp), "handler"))
    except HandlerFailed:
        raise
    except Exception as err:
        raise HandlerFailed(f"handler raised {type(err).__name__}") from err
    dropped: list[str] = []
    if futures:
        wait(list(futures.values()), timeout=inp.time_left_s())
        for name, fut in futures.items():
            if not fut.done():
                fut.cancel()
                dropped.append(f"{name}: missed the {service.time_budget_ms} ms budget")
                continue
            failure = fut.exception()
            if failure is not None:
                log.warning("slow step %s of %s failed: %s", name, service.id, type(failure).__name__)
                dropped.append(f"{name}: failed ({type(failure).__name__})")
                continue
            try:
                cards.extend(_checked(fut.result(), f"slow step {name}"))
            except HandlerFailed as bad:
                dropped.append(str(bad))
    return cards, dropped
