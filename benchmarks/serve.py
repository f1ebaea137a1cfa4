"""Serve an ASGI app exactly as `callcenter serve` does: Hypercorn, uvloop workers, no access log.

    python -m benchmarks.serve callcenter.asgi:app 127.0.0.1 8000 [workers]

The real app reads its settings from CALLCENTER_* environment variables (callcenter.asgi).
"""

from __future__ import annotations

import sys

from hypercorn.config import Config
from hypercorn.run import run


def main() -> int:
    application_path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    workers = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    config = Config()  # the same settings as callcenter.cli.serve
    config.application_path = application_path
    config.bind = [f"{host}:{port}"]
    config.workers = workers
    config.worker_class = "uvloop"
    config.accesslog = None
    return run(config)


if __name__ == "__main__":
    sys.exit(main())
