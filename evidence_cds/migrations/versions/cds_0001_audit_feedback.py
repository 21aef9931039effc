"""cds: append-only hook-call audit, issued cards, card feedback.

Revision ID: cds_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "cds_0001"
down_revision = None
branch_labels = ("cds",)
depends_on = None

_APPEND_ONLY = ("cds_audit", "cds_card")


def upgrade() -> None:
    op.create_table(
        "cds_audit",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("client_iss", sa.String(500)),
        sa.Column("service_id", sa.String(64), nullable=False, index=True),
        sa.Column("hook", sa.String(200)),
        sa.Column("hook_instance", sa.String(200)),
        sa.Column("patient_hash", sa.String(32), nullable=False),
        sa.Column("card_uuids", sa.JSON(), nullable=False),
        sa.Column("indicators", sa.JSON(), nullable=False),
        sa.Column("card_count", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.String(200)),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(500)),
        sa.Column("notes", sa.JSON(), nullable=False),
    )
    op.create_table(
        "cds_card",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("card_uuid", sa.String(200), nullable=False, index=True),
        sa.Column("audit_id", sa.Integer(), sa.ForeignKey("cds_audit.id"), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("indicator", sa.String(16), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "cds_feedback",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False, index=True),
        sa.Column("card_uuid", sa.String(200), nullable=False, index=True),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cds_card.id")),
        sa.Column("known_card", sa.Boolean(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_reason", sa.JSON()),
        sa.Column("user_comment", sa.Text()),
        sa.Column("outcome_timestamp", sa.String(64), nullable=False),
        sa.Column("client_iss", sa.String(500)),
    )
    dialect = op.get_bind().dialect.name
    # Append-only in the database itself, not just by convention in our code.
    for table in _APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE FUNCTION {table}_append_only() RETURNS trigger LANGUAGE plpgsql AS "
                f"$$ BEGIN RAISE EXCEPTION '{table} is append-only'; END $$"
            )
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION {table}_append_only()"
            )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for table in _APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{verb}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {table}_append_only()")
    op.drop_table("cds_feedback")
    op.drop_table("cds_card")
    op.drop_table("cds_audit")
