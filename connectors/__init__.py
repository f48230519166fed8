"""How syncadmin talks to mail systems; no Django models here, only plain values.

base.py is the interface (Connector, RemoteItem, ItemResult...); memory.py an in-memory one for
engine tests; exchange.py the Exchange connector (exchangelib over EWS) with its field mapping in
exchange/; ewsserver/ the strict EWS test server it is tested against.
"""
