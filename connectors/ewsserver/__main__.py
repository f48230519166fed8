"""Run the EWS test server as a process.

Example: python -m connectors.ewsserver --port 8765 --mailbox alice@demo.test:pw
    --service-account svc@demo.test:pw --store var/ews.json
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal

from .server import EwsServer


def _pair(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise argparse.ArgumentTypeError(f"expected address:password, got {text!r}")
    return user, password


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.ewsserver", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument(
        "--mailbox", action="append", type=_pair, default=[], help="address:password (repeat)"
    )
    parser.add_argument(
        "--service-account",
        action="append",
        type=_pair,
        default=[],
        help="address:password of an account allowed to impersonate every mailbox (repeat)",
    )
    parser.add_argument(
        "--delegate", action="append", default=[], help="owner@x:delegate@y grants delegate access"
    )
    parser.add_argument("--store", help="JSON file the items are kept in across restarts")
    parser.add_argument("--no-validate", action="store_true", help="skip schema validation")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(asctime)s %(message)s"
    )
    delegates: dict[str, set[str]] = {}
    for spec in args.delegate:
        owner, _, user = spec.partition(":")
        delegates.setdefault(owner, set()).add(user)
    server = EwsServer(
        dict(args.mailbox),
        service_accounts=dict(args.service_account),
        delegates=delegates,
        store_path=args.store,
        host=args.host,
        port=args.port,
        validate=not args.no_validate,
    )
    log = logging.getLogger(__name__)
    log.info("EWS test server on %s", server.url)
    if server.validator is None:
        log.warning("EWS request validation is OFF (--no-validate)")
    else:
        log.info("EWS request validation is ON against %s", server.validator.directory)
    signal.signal(signal.SIGTERM, _interrupt)  # so a plain kill still saves the store
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
