"""The Celery application; tasks live in the apps' tasks.py and stay thin."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")
# The embedded broker ("filesystem://"): kombu's transport, with atomic message writes.
TRANSPORT_ALIASES["filesystem"] = "syncadmin.broker:Transport"

app = Celery("syncadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# fieldsync keeps its tasks with the worker they drive (fieldsync/mailboxes/tasks.py).
app.autodiscover_tasks(["fieldsync.mailboxes"])
