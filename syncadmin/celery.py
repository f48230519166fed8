"""The Celery application; tasks live in the apps' tasks.py and stay thin."""

import os

from celery import Celery
from celery.signals import heartbeat_sent, task_postrun, worker_ready
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncadmin.settings")
# The embedded broker ("filesystem://"): kombu's transport, with atomic message writes.
TRANSPORT_ALIASES["filesystem"] = "syncadmin.broker:Transport"

app = Celery("syncadmin")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# fieldsync keeps its tasks with the worker they drive (fieldsync/mailboxes/tasks.py).
app.autodiscover_tasks(["fieldsync.mailboxes"])


# The worker's heartbeat for /health (syncadmin/ops.py): at start, after every task (the beat
# tick runs one each interval), and on Celery's own heartbeat; throttled to one write in 10 s.
@worker_ready.connect
def _worker_ready(sender=None, **kwargs):  # type: ignore[no-untyped-def]
    from syncadmin.ops import worker_heartbeat

    worker_heartbeat(getattr(sender, "hostname", "") or "", force=True)


@task_postrun.connect
@heartbeat_sent.connect
def _worker_alive(sender=None, **kwargs):  # type: ignore[no-untyped-def]
    from syncadmin.ops import worker_heartbeat

    request = getattr(sender, "request", None)
    worker_heartbeat(getattr(request, "hostname", "") or "")
