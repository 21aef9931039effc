"""The EHR shell: patient list, chart page (app iframe + CDS panel + order entry), and CDS client JWKS.

Routes (all server-rendered; htmx requests get partials, plain form posts are redirected back to the
chart, so the page also works without JavaScript):

* ``GET /``: patient list with a vendor flavour selector.
* ``GET /chart/<patient_id>?flavour=…``: opens a chart session and an EHR launch for the iframe
  (SMART App Launch 2.2 §EHR launch: ``launch_url?iss=<fhir base>&launch=<id>``).
* ``POST /ehr/<sid>/hooks/patient-view``: fired by the chart page when it opens.
* ``POST /ehr/<sid>/orders``: pick a medication → new draft MedicationRequest → ``order-select``.
* ``POST /ehr/<sid>/orders/sign``: ``order-sign`` over all drafts (signs when no card comes back, or
  when the clinician confirms).
* ``POST /ehr/<sid>/cards/<key>/suggestions/<n>`` / ``…/dismiss``: apply a suggestion or override a
  card; both post CDS Hooks 2.0 §Feedback to the service.
* ``GET /ehr/<sid>/cards/<key>/links/<n>``: a ``smart`` link: a new launch carrying ``appContext``.
* ``GET /cds-client/jwks.json``: the public key services use to verify our JWTs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue
from markdown_it import MarkdownIt
from markupsafe import Markup

from sandbox import chart_summary as chart
from sandbox.cds_client import AppRegistration, CdsClient, load_registration
from sandbox.cds_jwt import CdsClientSigner
from sandbox.ehr_hooks import accepted_feedback, fhir_authorization, fire_hook, overridden_feedback
from sandbox.ehr_session import (
    MEDICATION_CATALOG,
    ChartSession,
    ChartSessions,
    UnknownMedication,
    order_label,
)
from sandbox.launch_context import FLAVOURS, LaunchRegistry
from sandbox.settings import SandboxSettings
from sandbox.store import PatientStore

bp = Blueprint("ehr", __name__)
# CommonMark with raw HTML disabled: card detail is untrusted markup from a remote service.
_markdown = MarkdownIt("commonmark", {"html": False})
# Extension key under which the authorization server may offer a token minter for fhirAuthorization:
# ``mint(patient_id, scope, client_id) -> {"access_token", "expires_in", "scope", …}``.
TOKEN_MINTER_KEY = "sandbox_mint_access_token"  # noqa: S105 (an extension name, not a secret)


def init_app(app: Flask) -> None:
    settings: SandboxSettings = app.extensions["sandbox_settings"]
    base = settings.base_url.rstrip("/")
    jku = f"{base}/cds-client/jwks.json"
    signer = CdsClientSigner.from_state_dir(settings.state_dir, issuer=base, jku=jku)
    registration = load_registration(settings)
    app.extensions["sandbox_registration"] = registration
    app.extensions["sandbox_cds_signer"] = signer
    app.extensions["sandbox_cds_client"] = CdsClient(
        registration.cds_discovery_url, signer, settings.cds_timeout_s, settings.cds_discovery_ttl_s
    )
    app.extensions["sandbox_chart_sessions"] = ChartSessions()
    app.jinja_env.filters["markdown"] = lambda text: Markup(_markdown.render(text or ""))  # noqa: S704
    app.register_blueprint(bp)


# --- accessors --------------------------------------------------------------------------------------
def _ext(name: str) -> Any:
    return current_app.extensions[name]


def _settings() -> SandboxSettings:
    s: SandboxSettings = _ext("sandbox_settings")
    return s


def _store() -> PatientStore:
    s: PatientStore = _ext("sandbox_store")
    return s


def _client() -> CdsClient:
    c: CdsClient = _ext("sandbox_cds_client")
    return c


def _session(sid: str) -> ChartSession:
    session: ChartSession | None = _ext("sandbox_chart_sessions").get(sid)
    if session is None:
        abort(404, description="This chart session has expired; reopen the chart.")
    return session


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


# --- pages ------------------------------------------------------------------------------------------
@bp.get("/")
def patient_list() -> str:
    patients = [chart.banner(p) for p in _store().patients()]
    return render_template(
        "sandbox/ehr_patients.html",
        patients=patients,
        flavours=FLAVOURS,
        default_flavour=_settings().default_flavour,
    )


@bp.get("/chart/<patient_id>")
def chart_page(patient_id: str) -> str:
    store = _store()
    patient = store.get("Patient", patient_id)
    if patient is None:
        abort(404, description=f"No patient {patient_id!r} in this EHR.")
    flavour = request.args.get("flavour") or _settings().default_flavour
    if flavour not in FLAVOURS:
        abort(400, description=f"Unknown flavour {flavour!r}; choose one of {', '.join(FLAVOURS)}.")
    sessions: ChartSessions = _ext("sandbox_chart_sessions")
    existing = sessions.get(request.args.get("session", ""))
    if existing is not None and existing.patient_id == patient_id:
        session = existing
    else:
        user = f"Practitioner/{_settings().ehr_user_id}"
        session = sessions.open(patient_id, chart.current_encounter(store, patient_id), user, flavour)
    return render_template(
        "sandbox/ehr_chart.html",
        s=session,
        banner=chart.banner(patient),
        problems=chart.active_problems(store, patient_id),
        medications=chart.active_medications(store, patient_id),
        labs=chart.recent_labs(store, patient_id),
        launch_src=_launch_src(session, None),
        catalog=MEDICATION_CATALOG,
        order_label=order_label,
        flavours=FLAVOURS,
    )


def _launch_src(session: ChartSession, app_context: str | None) -> str:
    launches: LaunchRegistry = _ext("sandbox_launches")
    ctx = launches.create(
        session.patient_id,
        session.encounter_id,
        session.user_id.split("/", 1)[-1],
        session.flavour,
        app_context=app_context,
    )
    registration: AppRegistration = _ext("sandbox_registration")
    query = urlencode({"iss": _settings().fhir_base_url, "launch": ctx.launch_id})
    return f"{registration.launch_url}?{query}"


@bp.get("/cds-client/jwks.json")
def cds_client_jwks() -> Response:
    signer: CdsClientSigner = _ext("sandbox_cds_signer")
    resp = jsonify(signer.jwks())
    resp.headers["Cache-Control"] = "public, max-age=300"
    resp.headers["Access-Control-Allow-Origin"] = "*"
    return resp


# --- hooks ------------------------------------------------------------------------------------------
def _fire(session: ChartSession, hook: str, extra: dict[str, Any]) -> None:
    registration: AppRegistration = _ext("sandbox_registration")
    mint = current_app.extensions.get(TOKEN_MINTER_KEY)
    fire_hook(
        session,
        hook,
        extra,
        client=_client(),
        store=_store(),
        fhir_base=_settings().fhir_base_url,
        fhir_authorization=fhir_authorization(session, registration, mint),
    )


def _panel_response(session: ChartSession) -> ResponseReturnValue:
    if not _is_htmx():
        target = url_for("ehr.chart_page", patient_id=session.patient_id, session=session.id)
        return redirect(target, code=303)
    return render_template("sandbox/partials/ehr_update.html", s=session, order_label=order_label)


@bp.post("/ehr/<sid>/hooks/patient-view")
def patient_view(sid: str) -> ResponseReturnValue:
    session = _session(sid)
    _fire(session, "patient-view", {})
    return _panel_response(session)


@bp.post("/ehr/<sid>/orders")
def select_order(sid: str) -> ResponseReturnValue:
    session = _session(sid)
    code = (request.form.get("code") or "").strip()
    if not code:
        abort(400, description="Pick a medication to order.")
    try:
        order = session.add_medication_order(code)
    except UnknownMedication:
        abort(400, description=f"RxNorm code {code!r} is not in the order catalogue.")
    selections = [f"MedicationRequest/{order['id']}"]
    _fire(session, "order-select", {"selections": selections, "draftOrders": session.draft_bundle()})
    return _panel_response(session)


@bp.post("/ehr/<sid>/orders/<order_id>/remove")
def remove_order(sid: str, order_id: str) -> ResponseReturnValue:
    session = _session(sid)
    if not session.remove_order(f"MedicationRequest/{order_id}"):
        abort(404, description="No such draft order.")
    return _panel_response(session)


@bp.post("/ehr/<sid>/orders/sign")
def sign_orders(sid: str) -> ResponseReturnValue:
    session = _session(sid)
    if not session.draft_orders:
        session.show_results("order-sign", [], "There are no draft orders to sign.")
        return _panel_response(session)
    if request.form.get("confirm") == "1":
        signed = session.sign_all()
        session.show_results("order-sign", [], f"Signed {len(signed)} order(s).")
        return _panel_response(session)
    _fire(session, "order-sign", {"draftOrders": session.draft_bundle()})
    if not session.cards and not any(r.error for r in session.results):
        signed = session.sign_all()
        session.panel_message = f"Signed {len(signed)} order(s); no CDS advice."
    return _panel_response(session)


# --- card actions -----------------------------------------------------------------------------------
@bp.post("/ehr/<sid>/cards/<key>/suggestions/<int:index>")
def accept_suggestion(sid: str, key: str, index: int) -> ResponseReturnValue:
    session = _session(sid)
    shown = session.cards.get(key)
    if shown is None or not 0 <= index < len(shown.card.suggestions):
        abort(404, description="That card or suggestion is no longer on screen.")
    suggestion = shown.card.suggestions[index]
    for action in suggestion.actions:
        session.apply_action(action)
    session.take_card(key)
    _send_feedback(session, shown.service_url, accepted_feedback(shown.card, suggestion))
    session.panel_message = f"Applied: {suggestion.label}"
    return _panel_response(session)


@bp.post("/ehr/<sid>/cards/<key>/dismiss")
def dismiss_card(sid: str, key: str) -> ResponseReturnValue:
    session = _session(sid)
    shown = session.take_card(key)
    if shown is None:
        abort(404, description="That card is no longer on screen.")
    item = overridden_feedback(
        shown.card, request.form.get("reason") or "", request.form.get("comment") or ""
    )
    _send_feedback(session, shown.service_url, item)
    session.panel_message = f"Dismissed: {shown.card.summary}"
    return _panel_response(session)


def _send_feedback(session: ChartSession, service_url: str, item: dict[str, Any] | None) -> None:
    if item is None:
        return  # a card without a uuid cannot receive feedback (CDS Hooks 2.0 §Card)
    error = _client().send_feedback(service_url, [item])
    if error:
        session.notes.append(error)


@bp.get("/ehr/<sid>/cards/<key>/links/<int:index>")
def open_link(sid: str, key: str, index: int) -> ResponseReturnValue:
    session = _session(sid)
    shown = session.cards.get(key)
    if shown is None or not 0 <= index < len(shown.card.links):
        abort(404, description="That link is no longer on screen.")
    link = shown.card.links[index]
    if link.type != "smart":
        abort(400, description="Only SMART links are launched by the EHR.")
    # §Link: a SMART link is launched like the app itself, with appContext in the launch context.
    launch = _launch_src(session, link.appContext)
    target = link.url if link.url.startswith(("http://", "https://")) else None
    if target is None:
        abort(400, description="A SMART link must name an absolute launch URL.")
    query = launch.split("?", 1)[1]
    return redirect(f"{target}{'&' if '?' in target else '?'}{query}", code=303)
