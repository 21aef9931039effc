"""The sandbox EHR's app factory: FHIR R4 API, SMART authorization server, EHR shell, CDS Hooks client.

A development EHR built the way the SMART launcher and the CDS Hooks sandbox serve the community. It
talks to evidence-cds only over HTTP and imports nothing from the product packages.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify

from sandbox import authz, ehr_shell, fhir_api
from sandbox.launch_context import LaunchRegistry
from sandbox.settings import PROJECT_ROOT, SandboxSettings, load_sandbox_settings
from sandbox.store import PatientStore


def create_sandbox_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    settings = load_sandbox_settings(test_config)
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    app = Flask(
        "sandbox",
        root_path=str(PROJECT_ROOT),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key or secrets.token_urlsafe(32),
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        TESTING=settings.testing,
        # Cookies are not isolated by port: on 127.0.0.1 the product's "session" cookie would clobber ours.
        SESSION_COOKIE_NAME="sandbox_session",
    )
    app.extensions["sandbox_settings"] = settings
    app.extensions["sandbox_store"] = PatientStore.from_folder(settings.patients)
    app.extensions["sandbox_launches"] = LaunchRegistry()
    authz.init_app(app)  # SMART authorization server: /auth/*, /fhir/.well-known/*
    fhir_api.init_app(app)  # FHIR R4 API /fhir/*, and the app-wide error handlers
    ehr_shell.init_app(app)  # EHR shell pages, CDS Hooks client, /cds-client/jwks.json

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> Response:
        store: PatientStore = app.extensions["sandbox_store"]
        return jsonify({"status": "ready", "patients": len(store.patients()), "resources": store.count()})

    return app


def sandbox_settings(app: Flask) -> SandboxSettings:
    s: SandboxSettings = app.extensions["sandbox_settings"]
    return s


def sandbox_store(app: Flask) -> PatientStore:
    s: PatientStore = app.extensions["sandbox_store"]
    return s
