"""The product: the field catalog, sync directions, settings, audit and the sync engine."""
