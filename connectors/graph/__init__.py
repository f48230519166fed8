"""Exchange Online through Microsoft Graph: app-only OAuth 2.0 (msal), a thin httpx client, and
GraphConnector behind the connector protocol."""

from .connector import GraphConnector
from .fields import CRM_ID, UNSUPPORTED

__all__ = ["CRM_ID", "UNSUPPORTED", "GraphConnector"]
