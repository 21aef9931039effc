"""Development runner behind ``make run``: both servers, one process, clean Ctrl-C.

The sandbox EHR and evidence-cds keep separate origins (ports), as the architecture requires, and
talk only over HTTP. Each server runs werkzeug's threaded WSGI server in its own thread.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable

from werkzeug.serving import BaseWSGIServer, make_server

from evidence_cds import db
from evidence_cds.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Steps that build embedded defaults (e.g. the starter knowledge release); packages append to it.
PREPARE_STEPS: list[Callable[[Settings], None]] = []


def _knowledge_starter_release(settings: Settings) -> None:
    """Publish knowledge release 1 from the starter pack when none is published (lazy import)."""
    from knowledge.librarian.config import prepare_starter_release

    prepare_starter_release(settings)


PREPARE_STEPS.append(_knowledge_starter_release)


def _trials_demo_release(settings: Settings) -> None:
    """Build the trial release from the demo trials when the instance has none (lazy import)."""
    from cds_services.services.trial_setup import prepare_trial_release

    prepare_trial_release(settings)


PREPARE_STEPS.append(_trials_demo_release)


def prepare_defaults(settings: Settings) -> None:
    """Migrate the database and run every registered preparation step (each is idempotent)."""
    settings.instance_path.mkdir(parents=True, exist_ok=True)
    db.upgrade(settings.resolved_database_url())
    for step in PREPARE_STEPS:
        step(settings)


def run_development_system(with_sandbox: bool = True) -> None:
    from evidence_cds.app import create_app
    from evidence_cds.logging_setup import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    prepare_defaults(settings)
    app = create_app()
    from cds_services.serving import warm_up_app

    # Load models and indexes before the first hook call, as each gunicorn worker does.
    print("warming up: " + (", ".join(warm_up_app(app)) or "nothing to warm"), flush=True)
    servers: list[BaseWSGIServer] = [make_server(settings.host, settings.port, app, threaded=True)]
    open_url = f"{settings.public_base_url}/app/"
    if with_sandbox:
        from sandbox.app import create_sandbox_app
        from sandbox.settings import load_sandbox_settings

        sb = load_sandbox_settings()
        servers.append(make_server(sb.host, sb.port, create_sandbox_app(), threaded=True))
        open_url = f"{sb.base_url}/"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for t in threads:
        t.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"\n  evidence-cds is running. Open {open_url}\n  (Ctrl-C stops both servers)\n", flush=True)
    try:
        while not stop.is_set():
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for s in servers:
            s.shutdown()
        print("stopped", flush=True)
