"""``python -m sandbox``: run the sandbox EHR alone (development)."""

from __future__ import annotations

from sandbox.app import create_sandbox_app
from sandbox.settings import load_sandbox_settings


def main() -> None:
    settings = load_sandbox_settings()
    create_sandbox_app().run(host=settings.host, port=settings.port, threaded=True)


if __name__ == "__main__":
    main()
