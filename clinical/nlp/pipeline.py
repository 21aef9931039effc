"""The medspaCy pipeline: sentence splitting, vocabulary matching, section detection and ConText.

``spacy.blank("en")`` plus medspaCy components only: no statistical model is downloaded. ConText
(Harkema et al., J Biomed Inform 2009) assigns negation, uncertainty, family and historical context;
the medspaCy default rules are extended with a few the team wrote (``EXTRA_CONTEXT_RULES``).
One pipeline per vocabulary fingerprint, built on first use and cached for the process.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from clinical.nlp.vocabulary import Vocabulary

_BUILD_LOCK = threading.Lock()  # held while a pipeline is built (seconds)
_STATE_LOCK = threading.Lock()  # guards _BUILDING (never held long)
_RUN_LOCK = threading.Lock()  # serialises documents through spaCy
_PIPELINES: dict[str, Any] = {}

# (literal, category, direction): phrasings common in notes and vignettes that the defaults miss.
EXTRA_CONTEXT_RULES: list[tuple[str, str, str]] = [
    ("negative for", "NEGATED_EXISTENCE", "FORWARD"),
    ("no evidence of", "NEGATED_EXISTENCE", "FORWARD"),
    ("no signs of", "NEGATED_EXISTENCE", "FORWARD"),
    ("no history of", "NEGATED_EXISTENCE", "FORWARD"),
    ("no known", "NEGATED_EXISTENCE", "FORWARD"),
    ("no recent", "NEGATED_EXISTENCE", "FORWARD"),
    ("absence of", "NEGATED_EXISTENCE", "FORWARD"),
    ("free of", "NEGATED_EXISTENCE", "FORWARD"),
    ("not associated with", "NEGATED_EXISTENCE", "FORWARD"),
    ("never had", "NEGATED_EXISTENCE", "FORWARD"),
    ("never been", "NEGATED_EXISTENCE", "FORWARD"),
    ("has never", "NEGATED_EXISTENCE", "FORWARD"),
    ("was negative", "NEGATED_EXISTENCE", "BACKWARD"),
    ("is negative", "NEGATED_EXISTENCE", "BACKWARD"),
    ("were negative", "NEGATED_EXISTENCE", "BACKWARD"),
    ("unremarkable", "NEGATED_EXISTENCE", "BACKWARD"),
    ("ruled out", "NEGATED_EXISTENCE", "BACKWARD"),
    ("resolved", "HISTORICAL", "BACKWARD"),
    ("in the past", "HISTORICAL", "BACKWARD"),
    ("years ago", "HISTORICAL", "BACKWARD"),
    ("concern for", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("suspected", "POSSIBLE_EXISTENCE", "BIDIRECTIONAL"),
    ("questionable", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("cannot exclude", "POSSIBLE_EXISTENCE", "FORWARD"),
    ("return if", "HYPOTHETICAL", "FORWARD"),
    ("less likely", "NEGATED_EXISTENCE", "BACKWARD"),
    ("family history of", "FAMILY", "FORWARD"),
    ("family history:", "FAMILY", "FORWARD"),
    ("mother", "FAMILY", "BIDIRECTIONAL"),
    ("father", "FAMILY", "BIDIRECTIONAL"),
    ("sister", "FAMILY", "BIDIRECTIONAL"),
    ("brother", "FAMILY", "BIDIRECTIONAL"),
]

# Triggers whose scope is the next few words only (:data:`NARROW_SCOPE` tokens): the condition they
# qualify follows at once ("screening for colon cancer"), and the rest of the sentence is often the
# patient's real findings ("at risk for falls given her dizziness").
NARROW_SCOPE = 6
NARROW_CONTEXT_RULES: list[tuple[str, str, str]] = [
    # plans, prevention and education name conditions nobody has
    *(
        (lit, "HYPOTHETICAL", "FORWARD")
        for lit in (
            "screening for",
            "screen for",
            "screened for",
            "vaccinate against",
            "vaccinated against",
            "vaccination against",
            "vaccine against",
            "immunization against",
            "immunized against",
            "at risk for",
            "at risk of",
            "risk of",
            "risk for",
            "prophylaxis against",
            "prophylaxis for",
            "prevention of",
            "to prevent",
            "warning signs of",
            "educated about",
            "educated on",
            "counseled on",
            "counselled on",
            "counseling on",
            "counselling on",
        )
    ),
    # a test ordered for a condition: the condition is in question, not found
    *(
        (lit, "POSSIBLE_EXISTENCE", "FORWARD")
        for lit in (
            "tested for",
            "test for",
            "testing for",
            "evaluate for",
            "evaluation for",
            "work up for",
            "workup for",
            "assess for",
            "check for",
        )
    ),
    # judged unlikely
    *(
        (lit, "NEGATED_EXISTENCE", "FORWARD")
        for lit in (
            "unlikely to be",
            "low probability of",
            "low likelihood of",
            "low suspicion for",
            "low suspicion of",
            "inconsistent with",
            "not suggestive of",
            "doubt",
        )
    ),
]
# Words that close any trigger's scope: the reason that follows is a finding in its own right.
TERMINATORS = ("due to", "because of", "secondary to", "given")

# Headers that close a preceding section (so a "Family history:" section cannot leak into the exam).
EXTRA_SECTION_HEADERS: list[tuple[str, str]] = [
    ("subjective", "history_of_present_illness"),
    ("objective", "observation_and_plan"),
    ("exam", "physical_exam"),
    ("examination", "physical_exam"),
    ("physical examination", "physical_exam"),
    ("vitals", "physical_exam"),
    ("vital signs", "physical_exam"),
    ("tests", "labs_and_studies"),
    ("test results", "labs_and_studies"),
    ("labs", "labs_and_studies"),
    ("assessment", "observation_and_plan"),
    ("plan", "observation_and_plan"),
    ("impression", "observation_and_plan"),
    ("chief complaint", "chief_complaint"),
    ("chief complaints", "chief_complaint"),
    ("presentation", "history_of_present_illness"),
    ("history", "history_of_present_illness"),
    ("symptoms", "history_of_present_illness"),
    ("review of systems", "review_of_systems"),
    ("absent findings", "review_of_systems"),
    ("past medical history", "past_medical_history"),
    ("social history", "social_history"),
    ("medications", "medications"),
    ("allergies", "allergies"),
]


def normalize_hyphens(text: str) -> str:
    """ "left-lower quadrant" → "left lower quadrant", same length (spans stay valid in the original)."""
    return _HYPHEN.sub(" ", text)


def normalize_text(text: str) -> str:
    """Same-length normalization before NLP: hyphens between letters become spaces, and a line ending
    without punctuation ends a sentence ("Nitrites: negative\nFever" must not run on)."""
    return _LINE_END.sub(".", normalize_hyphens(text))


_HYPHEN = re.compile(r"(?<=[A-Za-z])-(?=[A-Za-z])")
_LINE_END = re.compile(r"(?<=[A-Za-z0-9%)])\n")


def _variants(term: str) -> list[str]:
    term = normalize_hyphens(term.strip().lower())
    out = [term]
    if term and term[-1].isalpha() and not term.endswith("s"):
        out.append(term + "s")
    return out


def get_pipeline(vocabulary: Vocabulary) -> Any:
    """The spaCy ``Language`` for ``vocabulary`` (built once; later calls reuse it)."""
    nlp = _PIPELINES.get(vocabulary.fingerprint)
    if nlp is not None:
        return nlp
    with _BUILD_LOCK:
        nlp = _PIPELINES.get(vocabulary.fingerprint)
        if nlp is None:
            nlp = _build(vocabulary)
            _PIPELINES[vocabulary.fingerprint] = nlp
    return nlp


def pipeline_ready(vocabulary: Vocabulary) -> bool:
    """Whether the pipeline for ``vocabulary`` is built (a call would not pay the ~2-8 s build)."""
    return vocabulary.fingerprint in _PIPELINES


def prepare_in_background(vocabulary: Vocabulary) -> None:
    """Start building the pipeline in a daemon thread (idempotent); for callers that must answer now."""
    with _STATE_LOCK:
        if vocabulary.fingerprint in _PIPELINES or vocabulary.fingerprint in _BUILDING:
            return
        _BUILDING.add(vocabulary.fingerprint)
    threading.Thread(
        target=_build_then_release, args=(vocabulary,), name="clinical-nlp-build", daemon=True
    ).start()


def _build_then_release(vocabulary: Vocabulary) -> None:
    try:
        get_pipeline(vocabulary)
    finally:  # a failed build may be retried by the next caller
        with _STATE_LOCK:
            _BUILDING.discard(vocabulary.fingerprint)


_BUILDING: set[str] = set()


def _build(vocabulary: Vocabulary) -> Any:
    import spacy
    from loguru import logger

    # medspaCy's dependencies log at DEBUG through loguru; silence them (never log note text).
    for name in ("PyRuSH", "medspacy"):
        logger.disable(name)
    from medspacy.context import ConTextRule
    from medspacy.ner import TargetRule
    from medspacy.section_detection import SectionRule

    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    matcher: Any = nlp.add_pipe("medspacy_target_matcher")
    seen: set[tuple[str, str]] = set()
    rules = []
    for concept in vocabulary.concepts:
        for term in [concept.label, *concept.terms]:
            for v in _variants(term):
                if (v, concept.id) in seen or not v:
                    continue
                seen.add((v, concept.id))
                rules.append(TargetRule(v, concept.id))
    # One token-pattern rule (hyphen-insensitive "X-ray"-style label) keeps the target matcher's token
    # Matcher non-empty; otherwise spaCy warns (W036) on every document.
    first = vocabulary.concepts[0] if len(vocabulary) else None
    if first is not None:
        words = first.label.lower().split()
        rules.append(TargetRule(first.label, first.id, pattern=[{"LOWER": w} for w in words]))
    matcher.add(rules)
    sectionizer: Any = nlp.add_pipe("medspacy_sectionizer")
    sectionizer.add([SectionRule(f"{header}:", category) for header, category in EXTRA_SECTION_HEADERS])
    # "FH:" as a token pattern; also keeps the sectionizer's token Matcher non-empty (spaCy W036)
    fh = [{"LOWER": {"IN": ["fh", "fhx"]}}, {"ORTH": ":"}]
    sectionizer.add([SectionRule("fh:", "family_history", pattern=fh)])
    context: Any = nlp.add_pipe("medspacy_context", config={"rules": None})
    # The default "<header>: no" BACKWARD rule swallows the "No" of "Review: No fever", leaving the fever
    # un-negated; headers are handled by the sectionizer, so those two defaults are dropped.
    # Our narrow rules replace defaults with the same phrase ("evaluate for" and "test for" are negation
    # in the defaults, but a test ordered for a condition leaves it possible, not absent).
    ours = {lit for lit, _, _ in NARROW_CONTEXT_RULES}
    defaults = [
        r
        for r in ConTextRule.from_json(context.DEFAULT_RULES_FILEPATH)
        if ":" not in r.literal and r.literal.lower() not in ours
    ]
    context.add(defaults)
    context.add([ConTextRule(lit, cat, direction=d) for lit, cat, d in EXTRA_CONTEXT_RULES])
    context.add(
        [ConTextRule(lit, cat, direction=d, max_scope=NARROW_SCOPE) for lit, cat, d in NARROW_CONTEXT_RULES]
    )
    # max_scope keeps the terminator's own scope small: medspaCy only lets it cut a trigger's scope
    # when the two scopes overlap at their edges, not when it spans the whole sentence
    context.add([ConTextRule(lit, "TERMINATE", direction="TERMINATE", max_scope=1) for lit in TERMINATORS])
    # "Fever: no." — the answer form, only when the "no" ends the clause.
    answer = [{"ORTH": ":"}, {"LOWER": {"IN": ["no", "none", "negative", "absent"]}}, {"IS_PUNCT": True}]
    non = [{"LOWER": "non"}]  # "non-smoker", "non-drinker" (hyphens are spaces by then)
    context.add([ConTextRule("non-", "NEGATED_EXISTENCE", direction="FORWARD", pattern=non, max_scope=1)])
    for word in ("negative", "not detected", "not seen", "absent"):
        context.add([ConTextRule(word, "NEGATED_EXISTENCE", direction="BACKWARD", max_scope=4)])
    context.add([ConTextRule(": no.", "NEGATED_EXISTENCE", direction="BACKWARD", pattern=answer)])
    context.add(reporter_rules())
    return nlp


# Relatives who *tell* the patient's story are not the patient's family history: "her mother noticed a
# rash", "brought in by his parents", "the child has had a cough". medspaCy's FAMILY trigger fires on
# any relative word; these PSEUDO rules cover those phrases so the trigger does not apply there.
# A relative with a disease ("mother has diabetes", "father was diagnosed with") is still family.
RELATIVES = [
    "mother", "mom", "father", "dad", "parent", "parents", "wife", "husband", "spouse", "partner",
    "daughter", "son", "sister", "brother", "family", "caregiver", "grandmother", "grandfather",
]  # fmt: skip
REPORTING_VERBS = [
    "report", "reports", "reported", "notice", "noticed", "notices", "note", "notes", "noted", "say",
    "says", "said", "state", "states", "stated", "observe", "observed", "observes", "describe",
    "describes", "described", "mention", "mentions", "mentioned", "explain", "explains", "explained",
    "bring", "brings", "brought", "believe", "believes", "think", "thinks", "feel", "feels", "found",
    "called", "endorse", "endorses", "deny", "denies", "denied", "concerned", "worried", "recall",
    "recalls", "remember", "remembers",
]  # fmt: skip
PATIENT_NOUNS = ["child", "boy", "girl", "infant", "baby", "toddler", "newborn", "neonate", "kid"]


def reporter_rules() -> list[Any]:
    from medspacy.context import ConTextRule

    relative = {"LOWER": {"IN": RELATIVES}}
    return [
        ConTextRule(
            "relative reports",
            "REPORTER",
            direction="PSEUDO",
            pattern=[
                relative,
                {"LOWER": {"IN": ["'s", "also", "then", "has", "had"]}, "OP": "*"},
                {"LOWER": {"IN": REPORTING_VERBS}},
            ],
        ),
        ConTextRule(
            "brought by relative",
            "REPORTER",
            direction="PSEUDO",
            pattern=[
                {"LOWER": {"IN": ["by", "with", "per", "according"]}},
                {"LOWER": "to", "OP": "?"},
                {"LOWER": {"IN": ["his", "her", "their", "the", "a"]}, "OP": "?"},
                relative,
            ],
        ),
        ConTextRule(
            "the child",
            "REPORTER",
            direction="PSEUDO",
            pattern=[{"LOWER": {"IN": ["the", "this", "our", "a", "an"]}}, {"LOWER": {"IN": PATIENT_NOUNS}}],
        ),
    ]


def run(vocabulary: Vocabulary, text: str) -> Any:
    """Process ``text``; serialised because spaCy components are not documented as thread-safe."""
    nlp = get_pipeline(vocabulary)
    with _RUN_LOCK:
        return nlp(normalize_text(text))
