"""What the Synthea sweep counts and checks: per-service stats, the card-quality rules, a tap on the
product's log records, and the printed tables (used by ``bench/synthea_sweep.py``)."""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

INDICATORS = ("info", "warning", "critical")
# Phrases that state a diagnosis as fact; a differential must offer possibilities only.
DEFINITE = re.compile(
    r"\b(diagnosis is|is diagnosed|diagnosed with|confirm(?:s|ed)? (?:the )?diagnosis|definite(?:ly)?|"
    r"the patient has|patient has|suffers from|certainly)\b",
    re.IGNORECASE,
)
QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|\([^)]*\)")
EVIDENCE = re.compile(r"\*\*Evidence:\*\* “(.*?)”", re.DOTALL)


@dataclass
class Stats:
    calls: int = 0
    status: Counter[str] = field(default_factory=Counter)
    cards: Counter[str] = field(default_factory=Counter)
    latency_ms: list[float] = field(default_factory=list)
    slow: int = 0
    max_body: int = 0
    quality: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)


class LogTap(logging.Handler):
    """Counts WARNING+ records of the product packages (by logger and message template)."""

    PRODUCT = ("cds_services", "clinical", "knowledge", "smart_app", "evidence_cds", "sandbox")

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: Counter[tuple[str, str, str]] = Counter()
        self.tracebacks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(self.PRODUCT):
            self.seen[(record.levelname, record.name, str(record.msg)[:90])] += 1
            if record.exc_info and len(self.tracebacks) < 5:
                self.tracebacks.append(logging.Formatter().formatException(record.exc_info))


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


# --- card quality -----------------------------------------------------------------------------------
def _names_side(side: Any) -> list[str]:
    names = [side.label.lower().rstrip("s"), *(m.name.lower() for m in side.members)]
    return [n for n in names if len(n) > 3]


def check_card(service: str, card: dict[str, Any], kb: Any) -> list[str]:
    """The quality rules every card must meet; returns the names of the rules it breaks."""
    bad: list[str] = []
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        bad.append("summary missing")
    elif len(summary) > 140:
        bad.append("summary > 140 chars")
    if card.get("indicator") not in INDICATORS:
        bad.append("indicator invalid")
    if not str((card.get("source") or {}).get("label") or "").strip():
        bad.append("source label missing")
    text = f"{summary or ''}\n{card.get('detail') or ''}"
    if service.startswith("drug-interactions"):
        ext = (card.get("extension") or {}).get("org.evidence-cds.drug-interaction") or {}
        entry = kb.entry(ext.get("entry", "")) if ext else None
        if entry is None:
            bad.append("interaction entry unknown")
        else:
            low = (summary or "").lower()
            sides = (_names_side(entry.object), _names_side(entry.precipitant))
            if not all(any(n in low for n in side) for side in sides):
                bad.append("interaction summary does not name both drugs")
            for quote in EVIDENCE.findall(card.get("detail") or ""):
                q = quote.lower()
                if not all(any(n in q for n in side) for side in sides):
                    bad.append("cited passage is about other drugs")
    if service == "differentials":
        if not re.search(r"\b(consider|possib|may|differential)", summary or "", re.IGNORECASE):
            bad.append("differential summary not hedged")
        if DEFINITE.search(QUOTED.sub("", text)):
            bad.append("differential phrased as a definite diagnosis")
    return bad


def report(sweep: Any, audit: list[Any], tap: LogTap, crashes: list[str], sweep_s: float) -> None:
    base = sweep.stats.get("EHR chart page (baseline)")
    base50 = pct(base.latency_ms, 0.5) if base else 0.0
    head = (
        f"{'service':28} {'calls':>6} {'HTTP status':>18} {'cards/call i/w/c':>20} {'p50 ms':>8} "
        f"{'p95 ms':>8} {'x base':>7} {'>box':>5} {'max body KB':>11} {'quality fails':>13}"
    )
    print("\n" + head + "\n" + "-" * len(head))
    plain = {k: v for k, v in sweep.stats.items() if " [" not in k}
    for key, st in sorted(plain.items(), key=lambda kv: (not kv[0].startswith("EHR"), kv[0])):
        status = " ".join(f"{k}:{v}" for k, v in sorted(st.status.items()))
        per = "/".join(f"{st.cards[i] / max(st.calls, 1):.2f}" for i in INDICATORS)
        p50, p95 = pct(st.latency_ms, 0.5), pct(st.latency_ms, 0.95)
        ratio = p50 / base50 if base50 else 0.0
        print(
            f"{key:28} {st.calls:6d} {status:>18} {per:>20} {p50:8.1f} {p95:8.1f} {ratio:6.1f}x "
            f"{st.slow:5d} {st.max_body / 1024:11.0f} {sum(st.quality.values()):13d}"
        )
    mutated = {k: v for k, v in sweep.stats.items() if " [" in k}
    if mutated:
        services = sorted({k.split(" [")[0] for k in mutated})
        labels = list(dict.fromkeys(k.split(" [")[1].rstrip("]") for k in mutated))
        print(f"\nodd-FHIR pass: HTTP status counts (quality fails) per service\n{'mutation':30}", end="")
        print("".join(f" {s[:24]:>24}" for s in services) + f" {'max ms':>8} {'>box':>5}")
        for label in labels:
            cells = []
            for svc in services:
                row = mutated.get(f"{svc} [{label}]")
                cell = " ".join(f"{k}:{v}" for k, v in sorted(row.status.items())) if row else "-"
                cells.append(f"{cell}{f' ({sum(row.quality.values())})' if row and row.quality else ''}")
            slowest = max(
                max(mutated[f"{s} [{label}]"].latency_ms or [0.0])
                for s in services
                if f"{s} [{label}]" in mutated
            )
            over = sum(v.slow for k, v in mutated.items() if k.endswith(f"[{label}]"))
            print(f"{label:30}" + "".join(f" {c:>24}" for c in cells) + f" {slowest:8.0f} {over:5d}")
    print(f"\nsweep {sweep_s:.1f} s (EHR time box {sweep.timebox_s:g} s; '>box' = calls slower than it)")
    for key, st in sweep.stats.items():
        for rule, n in st.quality.most_common():
            print(f"quality  {key}: {rule} x{n}  e.g. {', '.join(st.examples[:2])}")
    for row in audit:
        print(f"audit    {row[0]}: outcome={row[1]} status={row[2]} detail={row[3]} x{row[4]}")
    for (level, name, msg), n in tap.seen.most_common(15):
        print(f"log      {level} {name}: {msg} x{n}")
    for tb in tap.tracebacks[:3]:
        print("traceback:\n" + tb)
    for c in crashes[:10]:
        print(f"crash    {c}")
