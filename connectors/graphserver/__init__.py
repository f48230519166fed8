"""A strict stand-in for Microsoft Graph (Exchange Online) for tests and demos: JSON over HTTP on
127.0.0.1, a client-credentials token endpoint, and every body checked against the v1.0 CSDL
extract in csdl/. See server.GraphServer and __main__.
"""

from .auth import App
from .faults import Faults
from .server import GraphServer

__all__ = ["App", "Faults", "GraphServer"]
