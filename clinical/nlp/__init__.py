"""Clinical NLP: findings (symptoms, signs, history) from free text and from the structured record.

Public API (stable; trial matching reuses it): :func:`extract_findings`, :class:`TextFinding`,
:func:`findings_from_record`, :class:`Finding`, :class:`Vocabulary`, :func:`default_vocabulary`.
"""

from clinical.nlp.findings import Finding, TextFinding, extract_findings, findings_from_record
from clinical.nlp.vocabulary import Concept, Vocabulary, default_vocabulary

__all__ = [
    "Concept",
    "Finding",
    "TextFinding",
    "Vocabulary",
    "default_vocabulary",
    "extract_findings",
    "findings_from_record",
]
