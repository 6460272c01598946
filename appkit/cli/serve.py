"""`appkit serve`: an HTTP server (Starlette on uvicorn) over the store's active version.

Argument parsing only; the app lives in appkit.serve.server.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

HELP = """Serve the active deployed version over HTTP, and follow activations and rollbacks.

  appkit serve                                   the store of the package in the current directory
  appkit serve --target DIR --port 8080

Endpoints:
  POST /v1/rank/SCHEMA/PROFILE   {"documents": [...Vespa documents...], "query": {"query(q)": [...]}}
                                 -> {"version": N, "profile": ..., "hits": [{"id", "relevance", ...}]}
  GET  /v1/versions              the deployed versions, which is active and which serves
  GET  /v1/status                which version serves, and how each version loaded (ok / failed: why)

A newly activated version (appkit deploy, activate, rollback) is loaded beside the serving one and
swapped in without failing a request; if it fails to load the old one keeps serving and
/v1/status says why. Concurrent requests are evaluated together: a batch takes the requests that are
ready, up to --max-batch documents, and closes when no more are ready or --max-wait-ms after it
opened (it never waits idle for requests still in transit).

exit codes: 0 stopped, 2 usage error (e.g. the port is taken or the serve extra is not installed)"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="DIR", help="the store directory (default: .appkit/deployments)")
    parser.add_argument("--package", metavar="DIR", default=".", help="the package whose store is served")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    parser.add_argument("--max-batch", type=int, default=64, help="documents per batched evaluation (default 64)")
    parser.add_argument("--max-wait-ms", type=float, default=2.0,
                        help="longest a batch stays open for requests being received (default 2)")
    parser.add_argument("--poll-interval", type=float, default=0.25, help="seconds between looks at ACTIVE")
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from appkit.serve.server import create_app
    except ImportError as e:
        sys.stderr.write(f"appkit serve: error: {e.name} is not installed; install appkit[serve]\n")
        return 2
    from appkit.deploy.store import default_store_root

    if args.max_batch < 1 or args.max_wait_ms < 0:
        sys.stderr.write("appkit serve: error: --max-batch needs at least 1 and --max-wait-ms at least 0\n")
        return 2
    root = Path(args.target) if args.target else default_store_root(args.package)
    if not root.is_dir():
        sys.stderr.write(f"appkit serve: warning: {root} does not exist yet; serving nothing until a version "
                         "is deployed there\n")
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))  # beside uvicorn's lines
    log = logging.getLogger("appkit.serve")
    log.addHandler(handler)
    log.setLevel(args.log_level.upper())
    log.propagate = False
    app = create_app(root, args.max_batch, args.max_wait_ms, args.poll_interval)
    sys.stderr.write(f"appkit serve: {root} on http://{args.host}:{args.port}\n")
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level=args.log_level, access_log=False)
    server = uvicorn.Server(config)
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down for: a normal stop
        return 0
    except (OSError, SystemExit):  # uvicorn exits when it cannot listen (port taken, no such address)
        sys.stderr.write(f"appkit serve: error: cannot listen on {args.host}:{args.port}\n")
        return 2
    return 0
