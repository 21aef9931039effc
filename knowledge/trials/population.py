"""The population a trial describes in prose, for records that carry no structured eligibility.

Evaluation corpora (and some old registry records) give only a summary. Its wording still says who
the study is for ("infants and children with Kawasaki disease", "postmenopausal women", "healthy
adults", "aged 18 to 65 years"). A patient clearly outside that population gets a *soft* penalty —
smaller than a clearly failed criterion, because prose is less exact than the registry fields.
"""

from __future__ import annotations

import re

from knowledge.trials.models import Trial
from knowledge.trials.patient_facts import ProfileLike
from knowledge.trials.vocab import normalise

_CHILD = re.compile(
    r"\b(child|children|childhood|pediatric|paediatric|infants?|neonat\w*|newborns?|toddlers?|adolescents?"
    r"|kids|boys|girls|school-age\w*|juvenile|youth)\b"
)
_ADULT = re.compile(
    r"\b(adults?|elderly|older (?:people|persons|patients)|postmenopausal|men and women"
    r"|aged (?:18|19|20|21)\b"
    r"|≥ ?18|18 years (?:of age )?(?:or|and) older|over (?:the age of )?(?:18|40|50|60|65))\b"
)
# Pregnancy words are not here: "pregnant women" is the commonest exclusion in any trial's prose.
_FEMALE = re.compile(
    r"\b(women|woman|female|females|girls|mothers|postmenopausal|premenopausal"
    r"|menopaus\w*|ovar\w*|uter\w*|cervical cancer)\b"
)
_MALE = re.compile(r"\b(men|man|male|males|boys|fathers|prostat\w*|testicular)\b")
_EXCLUDING = re.compile(r"exclu|not eligible|ineligible|except|contraindicat")
_SENTENCE = re.compile(r"(?<=[.;:])\s+|\s+\d+\.\s+")
_RANGE = re.compile(
    r"\b(?:aged|ages|age)\s+(?:range\s+)?(?:of\s+|from\s+|between\s+)?"
    r"(\d{1,2})\s*(?:-|to|and)\s*(\d{1,3})\s*(years|months)"
)

SOFT = 0.5
FIRM = 0.7


def population_penalty(trial: Trial, p: ProfileLike) -> float:
    """0 when the prose fits the patient or says nothing; a soft penalty when it clearly does not."""
    # Sentences about who is excluded say nothing about who the study is for.
    prose = normalise(f"{trial.title}. {trial.brief_summary}")
    prose = prose.split("exclusion criteria", 1)[0]  # a list of exclusions follows that heading
    sentences = _SENTENCE.split(prose)
    text = " ".join(s for s in sentences if not _EXCLUDING.search(s))
    penalty = 0.0
    age = p.age_years
    if age is not None:
        m = _RANGE.search(text)
        if m:
            scale = 12.0 if m.group(3) == "months" else 1.0
            low, high = float(m.group(1)) / scale, float(m.group(2)) / scale
            if not (low <= age < high + 1 / scale):
                penalty = max(penalty, FIRM)
        # An explicit age range outranks the looser words: "adult patients … aged 15 to 80 years"
        # admits a 15-year-old.
        child, adult = bool(_CHILD.search(text)), bool(_ADULT.search(text))
        if not m and age < 18 and adult and not child:
            penalty = max(penalty, SOFT)
        if not m and age >= 18 and child and not adult:
            penalty = max(penalty, SOFT)
    sex = (p.sex or "").lower()
    female, male = bool(_FEMALE.search(text)), bool(_MALE.search(text))
    if sex == "male" and female and not male:
        penalty = max(penalty, FIRM)
    if sex == "female" and male and not female:
        penalty = max(penalty, FIRM)
    return penalty
