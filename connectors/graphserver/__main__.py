"""Run the Graph test server as a process.

Example: python -m connectors.graphserver --port 8766 --mailbox alice@demo.test
    --app contoso:11111111-1111-1111-1111-111111111111:secret --store var/graph.json
Graph answers under http://127.0.0.1:8766/v1.0, tokens at /{tenant}/oauth2/v2.0/token.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal

from .auth import App
from .server import GraphServer


def _app(text: str) -> App:
    tenant, _, rest = text.partition(":")
    client_id, sep, secret = rest.partition(":")
    if not sep or not tenant or not client_id:
        raise argparse.ArgumentTypeError(f"expected tenant:client_id:secret, got {text!r}")
    return App(tenant=tenant, client_id=client_id, secret=secret)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.graphserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--mailbox", action="append", default=[], help="address (repeat)")
    parser.add_argument(
        "--app", action="append", type=_app, default=[], help="tenant:client_id:secret (repeat)"
    )
    parser.add_argument("--store", help="JSON file the items are kept in across restarts")
    parser.add_argument("--no-validate", action="store_true", help="skip schema checks")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    server = GraphServer(
        args.mailbox,
        apps=args.app,
        store_path=args.store,
        host=args.host,
        port=args.port,
        validate=not args.no_validate,
    )
    logging.getLogger(__name__).info("Graph test server on %s", server.url)
    signal.signal(signal.SIGTERM, _interrupt)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
