"""What the sync pages share: who may see a mailbox (404 otherwise), the refusal page, a
service's ValidationError shown on its form, and how often a busy page reloads itself.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from fieldsync.mailboxes.services import (
    mailboxes_visible_to,
)
from fieldsync.models.mailboxes import Mailbox

HISTORY_PAGE_SIZE = 50
REFRESH_SECONDS = 5
IDLE_REFRESH_SECONDS = 60  # the dashboard, when nothing runs: the next scheduled round shows


def forbidden(request: HttpRequest) -> HttpResponse:
    """The page a user without the right gets (403)."""
    return render(request, "fieldsync/forbidden.html", {"nav": "sync"}, status=403)


def visible_mailbox(request: HttpRequest, pk: int) -> Mailbox:
    """The mailbox if the user may see it; 404 otherwise (not 403: its existence is not told)."""
    try:
        return mailboxes_visible_to(request.user).get(pk=pk)
    except Mailbox.DoesNotExist:
        raise Http404("No such mailbox.") from None


def form_errors(form: Any, exc: ValidationError) -> None:
    """A service's ValidationError shown on the form, each message on its field."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)
