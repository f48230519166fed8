"""The Celery application; tasks live in the apps' tasks.py and stay thin."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")

app = Celery("syncadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
