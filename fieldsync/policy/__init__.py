"""The organization's *sync policy* (Settings > Email configuration > Synchronization > Sync
policy).

Owns reading and changing the SyncPolicy row with one audit row per changed setting
(services.py), the page (views.py, forms.py, urls.py) and GET/PATCH /api/v1/sync-policy/ (api/).
It may import fieldsync.models and security; the sync itself reads the policy from the model.
"""
