"""A strict stand-in Exchange (EWS) server for tests and demos: SOAP over HTTP on 127.0.0.1.

Validates requests against Microsoft's EWS schema; see server.EwsServer and __main__.
"""

from .faults import Faults
from .server import EwsServer

__all__ = ["EwsServer", "Faults"]
