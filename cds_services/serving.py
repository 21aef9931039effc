"""Production serving: ``evidence-cds serve --workers N`` runs the app under gunicorn.

Each worker builds its own app (``create_app``; no state shared by fork) and, in gunicorn's
``post_worker_init`` hook, runs :func:`warm_up_app` before it accepts its first request: every
registered service's ``warm_up`` (models, indexes) plus any callables other packages appended to
``app.extensions["warmups"]``. So the first hook call of a worker does not pay for loading a model,
which would blow the CDS Hooks response budget. Migrations run once in the master before forking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from cds_services.state import warm_up
from evidence_cds.settings import Settings

log = logging.getLogger(__name__)


def warm_up_app(app: Flask) -> list[str]:
    """Run the services' and packages' warm-ups; returns the names of what was warmed."""
    done = warm_up(app)
    extra: list[Callable[[Flask], None]] = app.extensions.get("warmups", [])
    for fn in extra:
        fn(app)
        done.append(getattr(fn, "__qualname__", repr(fn)))
    return done


def _post_worker_init(worker: Any) -> None:
    app = worker.wsgi
    if isinstance(app, Flask):
        done = warm_up_app(app)
        log.info("worker %s warmed up: %s", worker.pid, ", ".join(done) or "nothing to warm")


class ProductServer(BaseApplication):
    """gunicorn application that builds the product app in each worker."""

    def __init__(self, options: dict[str, Any], overrides: dict[str, Any] | None = None) -> None:
        self._options = options
        self._overrides = overrides
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_worker_init", _post_worker_init)

    def load(self) -> Flask:
        from evidence_cds.app import create_app

        return create_app(self._overrides)


def serve(
    settings: Settings,
    *,
    workers: int,
    bind: str | None = None,
    threads: int = 1,
    migrate: bool = True,
    overrides: dict[str, Any] | None = None,
) -> None:
    """Run gunicorn in the foreground (blocks until stopped)."""
    if migrate:
        from evidence_cds import db

        settings.instance_path.mkdir(parents=True, exist_ok=True)
        db.upgrade(settings.resolved_database_url())
    options = {
        "bind": bind or f"{settings.host}:{settings.port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": 30,
        "graceful_timeout": 10,
        "accesslog": None,
        "preload_app": False,
        # One control socket per user home would collide between instances (tests, benchmarks).
        "control_socket_disable": True,
    }
    ProductServer(options, overrides).run()
