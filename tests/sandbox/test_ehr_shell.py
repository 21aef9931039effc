"""The EHR shell pages over real HTTP: patient list, chart, the EHR launch in the iframe, SMART links."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.launch_context import LaunchRegistry
from tests.sandbox.ehr_support import OTHER_PATIENT_ID, PATIENT_ID, EhrUnderTest, RecordingCdsService


def iframe_src(page: str) -> str:
    match = re.search(r'<iframe id="app-frame"[^>]*src="([^"]+)"', page)
    assert match, "chart page has no app iframe"
    return html.unescape(match.group(1))


def test_patient_list_shows_every_patient_with_a_flavour_selector(ehr: EhrUnderTest) -> None:
    resp = requests.get(f"{ehr.url}/", timeout=5)
    assert resp.status_code == 200
    assert "Walter Testerson" in resp.text and "1948-03-02" in resp.text and "male" in resp.text
    assert "Olga Otherly" in resp.text
    for flavour in ("generic", "epic", "cerner"):
        assert f'<option value="{flavour}"' in resp.text
    assert f'href="/chart/{PATIENT_ID}?flavour=generic"' in resp.text


def test_chart_shows_banner_active_problems_medications_and_recent_labs(ehr: EhrUnderTest) -> None:
    resp = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", timeout=5)
    assert resp.status_code == 200
    text = resp.text
    assert "Walter Testerson" in text and "MRN-0042" in text
    problems = text.split('id="problems"', 1)[1].split("</ul>", 1)[0]
    assert "Atrial fibrillation" in problems and "pharyngitis" not in problems  # resolved one hidden
    meds = text.split('id="medications"', 1)[1].split("</ul>", 1)[0]
    assert "warfarin sodium 5 MG Oral Tablet" in meds and "5 mg once daily" in meds
    assert "digoxin 0.125 MG Oral Tablet" in meds  # via the referenced Medication resource
    assert "ibuprofen" not in meds  # stopped
    labs = text.split('id="labs"', 1)[1].split("</table>", 1)[0]
    assert labs.index("INR") < labs.index("Potassium")  # newest first
    assert "2.8 {INR}" in labs and "Systolic" not in labs  # vitals are not labs
    assert 'hx-trigger="load"' in text  # patient-view fires when the chart opens
    assert 'id="chart-flavour"' in text  # the flavour can be switched from the chart too
    assert 'src="/static/vendor/htmx.min.js"' in text


@pytest.mark.parametrize("flavour", ["generic", "epic", "cerner"])
def test_iframe_is_an_ehr_launch_with_the_patient_encounter_user_and_flavour(
    ehr: EhrUnderTest, flavour: str
) -> None:
    resp = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", params={"flavour": flavour}, timeout=5)
    src = urlsplit(iframe_src(resp.text))
    assert f"{src.scheme}://{src.netloc}{src.path}" == f"{ehr.cds_server.url}/app/launch"  # manifest, rebased
    query = parse_qs(src.query)
    assert query["iss"] == [f"{ehr.url}/fhir"]
    launches: LaunchRegistry = ehr.sandbox.extensions["sandbox_launches"]
    ctx = launches.resolve(query["launch"][0])
    assert ctx is not None
    assert (ctx.patient_id, ctx.encounter_id, ctx.user_id, ctx.flavour) == (
        PATIENT_ID,
        "enc-now",
        "demo-practitioner",
        flavour,
    )


def test_each_chart_open_creates_a_fresh_launch(ehr: EhrUnderTest) -> None:
    first = iframe_src(requests.get(f"{ehr.url}/chart/{PATIENT_ID}", timeout=5).text)
    second = iframe_src(requests.get(f"{ehr.url}/chart/{PATIENT_ID}", timeout=5).text)
    assert parse_qs(urlsplit(first).query)["launch"] != parse_qs(urlsplit(second).query)["launch"]


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/chart/no-such-patient", 404),
        (f"/chart/{PATIENT_ID}?flavour=meditech", 400),
        ("/ehr/0123456789abcdef0123456789abcdef/hooks/patient-view", 404),
    ],
)
def test_bad_chart_requests_are_4xx(ehr: EhrUnderTest, path: str, status: int) -> None:
    method = requests.post if "/hooks/" in path else requests.get
    assert method(f"{ehr.url}{path}", timeout=5).status_code == status


def test_chart_of_a_patient_without_encounters_still_opens(ehr: EhrUnderTest) -> None:
    resp = requests.get(f"{ehr.url}/chart/{OTHER_PATIENT_ID}", timeout=5)
    assert resp.status_code == 200
    assert "No laboratory results." in resp.text


def test_smart_link_opens_a_new_launch_carrying_app_context(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    page = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", params={"flavour": "epic"}, timeout=5).text
    sid = re.search(r"/ehr/([0-9a-f]{32})/", page).group(1)  # type: ignore[union-attr]
    panel = requests.post(
        f"{ehr.url}/ehr/{sid}/hooks/patient-view", headers={"HX-Request": "true"}, timeout=10
    )
    link = re.search(r'href="(/ehr/[^"]+/links/0)" target="app-frame"', panel.text)
    assert link, "smart link is not rendered into the app frame"
    resp = requests.get(f"{ehr.url}{link.group(1)}", allow_redirects=False, timeout=5)
    assert resp.status_code == 303
    target = urlsplit(resp.headers["Location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == "http://127.0.0.1:9/app/launch"
    query = parse_qs(target.query)
    assert query["iss"] == [f"{ehr.url}/fhir"]
    ctx = ehr.sandbox.extensions["sandbox_launches"].resolve(query["launch"][0])
    assert ctx.app_context == "topic=summary" and ctx.patient_id == PATIENT_ID and ctx.flavour == "epic"


def test_without_htmx_actions_redirect_back_to_the_same_chart_session(
    ehr: EhrUnderTest, cds: RecordingCdsService
) -> None:
    page = requests.get(f"{ehr.url}/chart/{PATIENT_ID}", timeout=5).text
    sid = re.search(r"/ehr/([0-9a-f]{32})/", page).group(1)  # type: ignore[union-attr]
    resp = requests.post(f"{ehr.url}/ehr/{sid}/orders", data={"code": "198014"}, timeout=10)
    assert resp.status_code == 200 and resp.history[0].status_code == 303
    assert f"session={sid}" in resp.url
    assert "naproxen 500 MG Oral Tablet" in resp.text.split('id="draft-orders"', 1)[1]
    assert "Interaction check: naproxen" in resp.text


def test_jwks_endpoint_publishes_only_the_public_es384_key(ehr: EhrUnderTest) -> None:
    resp = requests.get(f"{ehr.url}/cds-client/jwks.json", timeout=5)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    [key] = resp.json()["keys"]
    assert key["kty"] == "EC" and key["crv"] == "P-384" and key["alg"] == "ES384" and key["kid"]
    assert "d" not in key
