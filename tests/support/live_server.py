"""Serve a WSGI app on a loopback ephemeral port in a background thread (real HTTP, no mocks).

The port is bound before the app exists, so two apps that must know each other's URL (the sandbox
EHR and evidence-cds) can be created after both ports are known.
"""

from __future__ import annotations

import threading
from typing import Any

from werkzeug.serving import make_server


class _Deferred:
    def __init__(self) -> None:
        self.app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


class LiveServer:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self._target = _Deferred()
        self._server = make_server(host, 0, self._target, threaded=True)
        self.port = self._server.server_port
        self.url = f"http://{host}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self, app: Any) -> LiveServer:
        self._target.app = app
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
