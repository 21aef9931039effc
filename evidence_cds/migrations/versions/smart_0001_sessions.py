"""smart: server-side SMART launch state and session/token store.

Revision ID: smart_0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "smart_0001"
down_revision = None
branch_labels = ("smart",)
depends_on = None


def upgrade() -> None:
    # Keys are SHA-256 hashes of the state / per-launch id; payloads are Fernet-encrypted JSON.
    op.create_table(
        "smart_pending_launch",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False, index=True),
    )
    op.create_table(
        "smart_session",
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False, index=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("smart_session")
    op.drop_table("smart_pending_launch")
