"""Words BM25 ignores on both sides of trial retrieval (the trial text and the patient's query).

Three fixed lists, none chosen on the evaluation queries:

* the NLTK English stopword list as ``bm25s`` ships it (``STOPWORDS_EN_PLUS``): function words such as
  "had", "over", "since", "both" otherwise carry real IDF in a small corpus and match any summary;
* words every trial registration uses about itself ("study", "trial", "patients");
* the narrative frame of a case presentation — where the patient was seen, who brought them, which
  verb introduced a finding ("presents to the emergency department", "physical exam reveals", "the
  parents report"). They describe the encounter, not the patient's problem, and a trial that mentions
  an emergency department is no closer to the patient's disease for it.

Age, sex and body-part words stay: "children", "women" and "knee" are evidence about the population
and the problem a trial studies.
"""

from __future__ import annotations

from bm25s.stopwords import STOPWORDS_EN_PLUS

_REGISTRY = ("study", "trial", "patient", "patients", "history", "year", "years", "old")
_ENCOUNTER = (
    "presents",
    "presented",
    "presenting",
    "complaint",
    "complains",
    "complaining",
    "emergency",
    "department",
    "er",
    "ed",
    "room",
    "clinic",
    "office",
    "admitted",
    "brought",
    "parents",
    "reports",
    "reported",
    "reveals",
    "revealed",
    "shows",
    "showed",
    "noted",
    "notes",
    "noticed",
    "physical",
    "exam",
    "examination",
    "past",
    "recent",
    "recently",
    "since",
    "yesterday",
    "today",
    "day",
    "days",
    "week",
    "weeks",
    "month",
    "months",
    "hour",
    "hours",
    "ago",
    "prior",
    "previously",
    "denies",
    "remarkable",
    "unremarkable",
    "seen",
    "found",
    "describes",
    "states",
)

TRIAL_STOPWORDS: frozenset[str] = frozenset((*STOPWORDS_EN_PLUS, "without", *_REGISTRY, *_ENCOUNTER))
