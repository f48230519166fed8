"""A recurring series' occurrences, the way Outlook and Exchange expand them: pure Python
(datetime, zoneinfo, dateutil), shared by the CRM (which occurrences a series has) and the
connectors and their test servers (which occurrences they write and serve). Imports nothing of
the project and no Django: every other package may import it.
"""
