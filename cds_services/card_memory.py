"""Cross-hook card memory: a card shown at order-select is not repeated at order-sign.

Alert fatigue is a safety problem of its own: a clinician who just read (and perhaps overrode) an
interaction card when picking a drug should not get the same card again when signing, unless
something changed. So at ``order-select`` every card is remembered under a fingerprint of
(dedup group, patient, card content without uuids, the *selected* draft order, the patient data the
service saw); at ``order-sign`` a card is dropped when the same fingerprint was remembered for one
of the orders being signed. Any change to the card, the order or the prefetched data changes the
fingerprint, so the card is shown again (the safe direction). The store is shared across workers
when Redis is configured (:mod:`cds_services.shared_cache`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from cds_services.models import Card
from cds_services.registry import ServiceInput
from cds_services.shared_cache import SharedCache

_VOLATILE = {"meta", "text"}


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _without_uuids(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_uuids(v) for k, v in value.items() if k != "uuid"}
    if isinstance(value, list):
        return [_without_uuids(v) for v in value]
    return value


def card_fingerprint(card: Card) -> str:
    return _digest(_without_uuids(card.to_json_dict()))


def draft_order_fingerprints(draft_orders: Mapping[str, Any] | None) -> dict[str, str]:
    """``"Type/id"`` → fingerprint of each draft order (meta and narrative ignored)."""
    out: dict[str, str] = {}
    for entry in (draft_orders or {}).get("entry") or []:
        res = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(res, Mapping) and res.get("resourceType") and res.get("id"):
            ref = f"{res['resourceType']}/{res['id']}"
            out[ref] = _digest({k: v for k, v in res.items() if k not in _VOLATILE})
    return out


def _strip_volatile(raw: Any) -> Any:
    """A resource (or Bundle of them) as sent, without the fields that change with no clinical change."""
    if not isinstance(raw, dict):
        return raw
    out = {k: v for k, v in raw.items() if k not in _VOLATILE}
    if raw.get("resourceType") == "Bundle":
        out.pop("link", None)
        out["entry"] = [
            _strip_volatile(e.get("resource")) if isinstance(e, dict) else e for e in raw.get("entry") or []
        ]
    return out


def data_fingerprint(inp: ServiceInput) -> str:
    """Fingerprint of the patient data the service saw (its resolved prefetch).

    Keys the EHR sent are hashed from the JSON as received (cheap); only keys fetched from the FHIR
    server fall back to re-serialising the parsed model, which costs tens of ms for a large record.
    """
    sent = inp.request.prefetch or {}
    parts = {}
    for key, res in sorted(inp.prefetch.items()):
        if sent.get(key) is not None:
            parts[key] = _strip_volatile(sent[key])
        else:
            parts[key] = (
                res.model_dump(mode="json", exclude_none=True, exclude=_VOLATILE) if res is not None else None
            )
    return _digest(parts)


class CardMemory:
    def __init__(self, cache: SharedCache, ttl_s: float) -> None:
        self._cache = cache
        self._ttl = ttl_s

    def _key(self, group: str, patient: str, card_fp: str, order_fp: str, data_fp: str) -> str:
        return _digest([group, patient, card_fp, order_fp, data_fp])

    def remember(self, group: str, inp: ServiceInput, cards: list[Card]) -> None:
        """At order-select: remember each card against each newly selected draft order."""
        orders = draft_order_fingerprints(getattr(inp.context, "draftOrders", None))
        selections = getattr(inp.context, "selections", None) or list(orders)
        chosen = [orders[s] for s in selections if s in orders]
        if not cards or not chosen:
            return
        data_fp = data_fingerprint(inp)
        patient = inp.patient_id or ""
        for card in cards:
            cfp = card_fingerprint(card)
            for ofp in chosen:
                self._cache.add(self._key(group, patient, cfp, ofp, data_fp), self._ttl)

    def drop_repeats(self, group: str, inp: ServiceInput, cards: list[Card]) -> tuple[list[Card], int]:
        """At order-sign: the cards not already shown for one of the orders being signed."""
        orders = list(draft_order_fingerprints(getattr(inp.context, "draftOrders", None)).values())
        if not cards or not orders:
            return cards, 0
        data_fp = data_fingerprint(inp)
        patient = inp.patient_id or ""
        kept: list[Card] = []
        for card in cards:
            cfp = card_fingerprint(card)
            if any(self._cache.contains(self._key(group, patient, cfp, o, data_fp)) for o in orders):
                continue
            kept.append(card)
        return kept, len(cards) - len(kept)
