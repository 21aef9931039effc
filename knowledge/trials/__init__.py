"""Clinical-trial knowledge: corpus import, criteria, hybrid index with versioned releases, eligibility.

``importer`` (ClinicalTrials.gov API JSON / classic XML / JSONL) → ``models.Trial`` with criteria split
(``splitting``) and parsed into exact rules (``criteria``, lexicons in ``vocab``); ``release`` builds
immutable releases behind an atomic pointer and loads ``index.TrialIndex`` (BM25 + dense, feedback);
``eligibility`` checks criteria against a patient (``patient_facts`` protocols, met by
``clinical.patient_profile``); ``matching`` combines retrieval and eligibility; ``evaluation`` /
``eval_run`` / ``cli`` score it. ``demo/`` holds the team's fictional demo trials.
"""
