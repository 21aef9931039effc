"""Card fields from a CDS service are shown by the sandbox EHR as text, never as markup or script."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import System, start_system


@pytest.fixture(scope="module")
def hostile_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    sys_ = start_system(
        Path(tmp_path_factory.mktemp("xss")), {"cds_service_modules": ["tests.evidence_cds.hostile_cards"]}
    )
    yield sys_
    sys_.app_server.stop()
    sys_.sandbox_server.stop()


def test_hostile_card_fields_are_escaped_in_the_ehr(hostile_system: System) -> None:
    base = hostile_system.ehr_url
    chart = requests.get(f"{base}/chart/demo-warfarin", timeout=15)
    sid = re.search(r"/ehr/([^/\"]+)/", chart.text)
    assert sid is not None
    panel = requests.post(f"{base}/ehr/{sid.group(1)}/hooks/patient-view", timeout=30).text
    assert "Hostile &lt;script&gt;" in panel  # the card arrived, as text
    assert "<script>window.__pwned" not in panel
    assert "<svg" not in panel and "<img" not in panel
    assert 'href="javascript:' not in panel.lower()
    assert "<strong>bold</strong>" in panel  # Markdown still renders; raw HTML does not
