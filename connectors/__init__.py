"""How syncadmin talks to mail systems; no Django models here, only plain values.

base.py is the interface (Connector, RemoteItem, ItemResult...); memory.py an in-memory one for
engine tests; exchange/ the Exchange connector (exchangelib over EWS) and its field mapping;
dav/ the CalDAV/CardDAV connector; ewsserver/ the strict EWS test server Exchange is tested against.
"""
