"""The Exchange connector (EWS through exchangelib): contacts, appointments and tasks read
incrementally with SyncFolderItems and written in batches, every field through one converter.
"""

# connector.py: ExchangeConnector, put together from changes.py (delta sync), reads.py (by id
# and CRM id) and writes.py (batched writes); fields.py: the field converters between exchangelib
# items and the CRM's plain values; props.py: the extended MAPI properties; transport.py: EWS
# calls with errors turned into ConnectorError kinds.

from .connector import ExchangeConnector

__all__ = ["ExchangeConnector"]
