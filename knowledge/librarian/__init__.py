"""The librarian's tools: CLI commands, the /librarian blueprint, accounts and audit trail.

The only part of ``knowledge`` allowed to use ``evidence_cds`` (settings, database) and Flask globals.
"""
