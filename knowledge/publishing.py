"""Publish and roll back: the only two ways the serving release changes.

``publish_release`` evaluates the candidate (and the published release, when its stored scores are
for another golden set) and refuses a regression beyond ``eval_margin`` unless ``force`` is given
with a ``reason``; the override is written into the release history, and the librarian layer also
writes it to the audit trail. The switch itself is one atomic replace of ``CURRENT``
(:func:`knowledge.releases.switch_pointer`): a process killed at any point leaves either the old or
the new release serving, never none. ``rollback_release`` skips the gate on purpose: it is the
emergency path back to a release that already served.
"""

from __future__ import annotations

from dataclasses import dataclass

from knowledge.config import KnowledgeConfig
from knowledge.evaluation import GateDecision, GoldenSet, evaluate_release, gate, load_golden
from knowledge.releases import (
    EvaluationScores,
    Pointer,
    ReleaseError,
    ReleaseEvent,
    now,
    published_history,
    read_manifest,
    read_pointer,
    record_event,
    switch_pointer,
)


class GateRefused(ReleaseError):
    """Publishing was refused by the evaluation gate (see :attr:`decision`)."""

    def __init__(self, decision: GateDecision) -> None:
        super().__init__(decision.explain())
        self.decision = decision


@dataclass(frozen=True)
class PublishOutcome:
    pointer: Pointer
    decision: GateDecision | None
    forced: bool


def scores_for(config: KnowledgeConfig, release_id: str, golden: GoldenSet, actor: str) -> EvaluationScores:
    """The release's scores on ``golden``, evaluating now if the stored ones are for another set."""
    manifest = read_manifest(config, release_id)
    if manifest.evaluation is not None and manifest.evaluation.golden_hash == golden.digest:
        return manifest.evaluation
    return evaluate_release(config, release_id, golden, actor)


def publish_release(
    config: KnowledgeConfig,
    release_id: str,
    actor: str,
    force: bool = False,
    reason: str | None = None,
    golden: GoldenSet | None = None,
) -> PublishOutcome:
    """Gate, then atomically make ``release_id`` the published release."""
    if force and not (reason and reason.strip()):
        raise ReleaseError("--force needs a --reason (it is written to the audit trail)")
    current = read_pointer(config)
    if current is not None and current.release_id == release_id:
        raise ReleaseError(f"{release_id} is already published")
    if golden is None and config.golden_path is not None and config.golden_path.exists():
        golden = load_golden(config.golden_path)
    decision: GateDecision | None = None
    if golden is not None:
        candidate = scores_for(config, release_id, golden, actor)
        previous = scores_for(config, current.release_id, golden, actor) if current else None
        decision = gate(candidate, previous, config.eval_margin)
    elif current is not None and not force:
        raise ReleaseError("no golden set configured: the gate cannot run (configure one or use --force)")
    else:
        read_manifest(config, release_id)
    forced = decision is not None and not decision.passed
    if forced and not force:
        assert decision is not None
        raise GateRefused(decision)
    pointer = switch_pointer(config, release_id, actor)
    record_event(
        config,
        release_id,
        ReleaseEvent(at=now(), actor=actor, action="published", reason=reason, forced=forced),
    )
    return PublishOutcome(pointer=pointer, decision=decision, forced=forced)


def rollback_release(
    config: KnowledgeConfig, actor: str, to: str | None = None, reason: str | None = None
) -> Pointer:
    """Serve ``to`` (default: the release published before the current one) again, without the gate."""
    current = read_pointer(config)
    if current is None:
        raise ReleaseError("nothing is published: nothing to roll back")
    target = to
    if target is None:
        order = [rid for rid in published_history(config) if rid != current.release_id]
        target = current.previous if current.previous else (order[-1] if order else None)
    if target is None:
        raise ReleaseError("no earlier published release to roll back to")
    if target == current.release_id:
        raise ReleaseError(f"{target} is already published")
    pointer = switch_pointer(config, target, actor)
    record_event(config, target, ReleaseEvent(at=now(), actor=actor, action="rolled_back_to", reason=reason))
    return pointer
