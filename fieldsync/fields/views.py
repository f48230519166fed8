"""The Synchronized fields pages: the admin's arrows (OK/Cancel, works without JavaScript),
the end users' read-only copy under My options, and the change history.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from fieldsync.catalog import CatalogEntity, CatalogField, get_catalog
from fieldsync.directions import CYCLE, Direction, next_direction
from fieldsync.fields.forms import AuditFilterForm, PendingDirectionsForm
from fieldsync.fields.selectors import (
    FieldRow,
    direction_changes,
    entity_field_rows,
    last_direction_change,
    non_default_counts,
)
from fieldsync.fields.services import (
    DirectionNotAllowed,
    StaleSettings,
    UnknownField,
    field_directions_update,
)
from fieldsync.models import DirectionChange
from fieldsync.models.sync import SyncPolicy
from security import policy

# The entities people sync most come first, as in the product this page follows.
FIRST_TABS = ("appointment", "recurring_appointment", "contact", "task")

# Shown next to the arrow; each is part of the full label so the visible text is in the
# button's accessible name.
SHORT_LABELS = {
    Direction.BOTH: "Both ways",
    Direction.TO_OUTLOOK: "To Exchange/Outlook only",
    Direction.TO_CRM: "To the CRM only",
    Direction.NONE: "Don't synchronize",
}

AUDIT_PAGE_SIZE = 50


def tab_entities() -> list[CatalogEntity]:
    entities = list(get_catalog().entities)
    rank = {key: i for i, key in enumerate(FIRST_TABS)}
    return sorted(entities, key=lambda e: (rank.get(e.key, len(rank)), entities.index(e)))


def _entity_or_404(key: str | None) -> CatalogEntity:
    if key is None:
        return tab_entities()[0]
    try:
        return get_catalog().entity(key)
    except KeyError:
        raise Http404(f"No synchronized entity {key!r}") from None


def _as_direction(value: str, allowed: Iterable[Direction]) -> Direction | None:
    try:
        direction = Direction(value)
    except ValueError:
        return None
    return direction if direction in allowed else None


@dataclass
class RowView:
    """One table row as the page shows it: saved and pending direction, and why it is marked."""

    field: CatalogField
    saved: Direction
    pending: Direction
    conflict: DirectionChange | None = None
    error: bool = False

    @property
    def unsaved(self) -> bool:
        return self.pending != self.saved

    @property
    def non_default(self) -> bool:
        return self.pending != self.field.default_direction

    @property
    def pending_short(self) -> str:
        return SHORT_LABELS[self.pending]

    @property
    def default_short(self) -> str:
        return SHORT_LABELS[self.field.default_direction]

    @property
    def allowed_values(self) -> str:
        return " ".join(d.value for d in self.field.allowed_directions)

    @property
    def hint(self) -> str:
        """The hover text of the field name and arrow: the Outlook side and the catalog's note."""
        outlook = ", ".join(self.field.outlook_fields)
        lines = [f"Outlook field{'s' if len(self.field.outlook_fields) > 1 else ''}: {outlook}"]
        if self.field.note:
            lines.append(self.field.note)
        if not self.field.settable:
            lines.append(f"Fixed: this field can only be set to “{self.pending.label}”.")
        return "\n".join(lines)


def _row_views(rows: list[FieldRow], pending: dict[str, str] | None = None) -> list[RowView]:
    views = []
    for row in rows:
        wanted = (pending or {}).get(row.field.crm_field, row.direction.value)
        direction = _as_direction(wanted, row.field.allowed_directions)
        views.append(
            RowView(
                field=row.field,
                saved=row.direction,
                pending=direction or row.direction,
                error=direction is None,
            )
        )
    return views


def _tabs(current: str, url_name: str) -> list[dict]:
    counts = non_default_counts()
    return [
        {
            "key": e.key,
            "label": e.label,
            "url": reverse(url_name, args=[e.key]),
            "current": e.key == current,
            "non_default": counts.get(e.key, 0),
        }
        for e in tab_entities()
    ]


def _directions_context() -> dict:
    return {
        "legend": [{"value": d.value, "label": d.label, "short": SHORT_LABELS[d]} for d in CYCLE],
        "direction_texts": {d.value: {"label": d.label, "short": SHORT_LABELS[d]} for d in CYCLE},
    }


def _forbidden(request: HttpRequest) -> HttpResponse:
    return render(request, "fieldsync/forbidden.html", {"nav": "settings"}, status=403)


def _render_admin(
    request: HttpRequest,
    entity: CatalogEntity,
    rows: list[RowView],
    version: int,
    *,
    status: int = 200,
    **extra: object,
) -> HttpResponse:
    context = {
        "nav": "settings",
        "entity": entity,
        "tabs": _tabs(entity.key, "fieldsync:fields"),
        "rows": rows,
        "version": version,
        "unsaved_count": sum(r.unsaved for r in rows),
        "last_change": last_direction_change(entity=entity.key),
        "form_url": reverse("fieldsync:fields", args=[entity.key]),
        "keep_copy": SyncPolicy.current().keep_copy_on_lost_access,
        **_directions_context(),
        **extra,
    }
    return render(request, "fieldsync/fields_admin.html", context, status=status)


def _stale_lines(entity: CatalogEntity, changes: list[DirectionChange]) -> list[dict]:
    lines = []
    for c in changes:
        try:
            label = entity.field(c.crm_field).crm_label
        except KeyError:
            label = c.crm_field
        lines.append(
            {
                "who": (c.actor.get_full_name() or c.actor.username) if c.actor else "The system",
                "field": label,
                "old": Direction(c.old_direction).label,
                "new": Direction(c.new_direction).label,
                "when": c.changed_on,
            }
        )
    return lines


def _merge_after_stale(
    rows: list[FieldRow], pending: dict[str, str], changes: list[DirectionChange]
) -> list[RowView]:
    """Rebase the admin's pending choices on what the others saved.

    A field only the others changed takes their value (so pressing OK again does not silently
    undo it); a field both changed keeps the admin's choice, marked as a conflict.
    """
    original: dict[str, str] = {}
    latest: dict[str, DirectionChange] = {}
    for c in changes:
        original.setdefault(c.crm_field, c.old_direction)
        latest[c.crm_field] = c
    merged = dict(pending)
    saved = {r.field.crm_field: r.direction.value for r in rows}
    for crm_field, before in original.items():
        if crm_field in merged and merged[crm_field] == before:
            merged[crm_field] = saved.get(crm_field, merged[crm_field])
    views = _row_views(rows, merged)
    for view in views:
        change = latest.get(view.field.crm_field)
        if change and view.pending.value != change.new_direction:
            view.conflict = change
    return views


@login_required
@require_http_methods(["GET", "POST"])
def synchronized_fields(request: HttpRequest, entity: str | None = None) -> HttpResponse:
    """Settings > Email configuration > Synchronization > Synchronized fields (admins)."""
    catalog_entity = _entity_or_404(entity)
    if not policy.can_change_sync_settings(request.user):
        return _forbidden(request)
    version, rows = entity_field_rows(entity=catalog_entity.key)
    if request.method == "GET":
        return _render_admin(request, catalog_entity, _row_views(rows), version)

    form = PendingDirectionsForm(request.POST, rows=rows)
    if not form.is_valid():
        return _render_admin(
            request,
            catalog_entity,
            _row_views(rows),
            version,
            status=400,
            error="The page sent an incomplete form; your pending changes could not be read. "
            "They were not saved.",
        )
    pending = form.pending()
    base_version = form.cleaned_data["base_version"]

    if crm_field := form.cleaned_data["cycle"]:
        # The no-JavaScript arrow: move one field to its next allowed direction, save nothing.
        row = next(r for r in rows if r.field.crm_field == crm_field)
        current = _as_direction(pending[crm_field], row.field.allowed_directions) or row.direction
        pending[crm_field] = next_direction(current, row.field.allowed_directions).value
        return _render_admin(
            request, catalog_entity, _row_views(rows, pending), base_version, focus=crm_field
        )

    if form.cleaned_data["action"] == "reset":
        defaults = {r.field.crm_field: r.field.default_direction.value for r in rows}
        return _render_admin(
            request,
            catalog_entity,
            _row_views(rows, defaults),
            base_version,
            notice="Every field of this tab is set back to its default. "
            "Press OK to save, or Cancel to keep the saved settings.",
        )

    if form.cleaned_data["action"] != "save":
        return _render_admin(
            request,
            catalog_entity,
            _row_views(rows, pending),
            base_version,
            status=400,
            error="Unknown action: nothing was saved.",
        )

    try:
        result = field_directions_update(
            entity=catalog_entity.key,
            changes=pending,
            base_version=base_version,
            actor=request.user,
            source=DirectionChange.Source.WEB,
        )
    except PermissionDenied:
        return _forbidden(request)
    except (DirectionNotAllowed, UnknownField) as exc:
        views = _row_views(rows, pending)
        return _render_admin(
            request, catalog_entity, views, base_version, status=400, error=f"Not saved. {exc}"
        )
    except StaleSettings as exc:
        _, fresh_rows = entity_field_rows(entity=catalog_entity.key)
        views = _merge_after_stale(fresh_rows, pending, exc.changes)
        return _render_admin(
            request,
            catalog_entity,
            views,
            exc.current_version,
            status=409,
            stale={
                "lines": _stale_lines(catalog_entity, exc.changes),
                "conflicts": sum(v.conflict is not None for v in views),
            },
        )

    n = len(result.changed)
    if n:
        messages.success(
            request,
            f"Saved {n} change{'s' if n != 1 else ''} to {catalog_entity.label} "
            f"synchronization (version {result.version}).",
        )
    else:
        messages.info(request, "Nothing to save: every direction was already as shown.")
    return redirect("fieldsync:fields", catalog_entity.key)


@login_required
@require_GET
def my_synchronized_fields(request: HttpRequest, entity: str | None = None) -> HttpResponse:
    """My options > Synchronized fields: the same tables, read-only, for whoever may view the
    sync settings (the policy grants it to the Salesperson role and up)."""
    catalog_entity = _entity_or_404(entity)
    if not policy.can_view_sync_settings(request.user):
        return render(request, "fieldsync/no_view.html", {"nav": "options"}, status=403)
    _, rows = entity_field_rows(entity=catalog_entity.key)
    context = {
        "nav": "options",
        "entity": catalog_entity,
        "tabs": _tabs(catalog_entity.key, "fieldsync:my_fields"),
        "rows": _row_views(rows),
        "can_change": policy.can_change_sync_settings(request.user),
        "keep_copy": SyncPolicy.current().keep_copy_on_lost_access,
        **_directions_context(),
    }
    return render(request, "fieldsync/fields_readonly.html", context)


@login_required
@require_GET
def settings_index(request: HttpRequest) -> HttpResponse:
    """Settings: the admin's way in to Email configuration > Synchronization."""
    if not policy.can_change_sync_settings(request.user):
        return _forbidden(request)
    return render(request, "fieldsync/settings_index.html", {"nav": "settings"})


@login_required
@require_GET
def change_history(request: HttpRequest) -> HttpResponse:
    """Every audited direction change, filtered by entity, field, user and dates, paginated."""
    if not policy.can_change_sync_settings(request.user):
        return _forbidden(request)
    form = AuditFilterForm(request.GET or None)
    filters: dict = {}
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        filters = {
            "entity": data["entity"] or None,
            "crm_field": data["field"] or None,
            "actor_id": data["user"].pk if data["user"] else None,
            "changed_from": data["date_from"],
            "changed_to": data["date_to"],
        }
    changes = direction_changes(**filters) if not form.errors else DirectionChange.objects.none()
    page = Paginator(changes, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    catalog = get_catalog()
    entries = []
    for c in page.object_list:
        try:
            entity = catalog.entity(c.entity)
            entity_label = entity.label
            field_label = entity.field(c.crm_field).crm_label
        except KeyError:
            entity_label, field_label = c.entity, c.crm_field
        entries.append(
            {
                "change": c,
                "who": (c.actor.get_full_name() or c.actor.username) if c.actor else "System",
                "entity": entity_label,
                "field": field_label,
                "old": SHORT_LABELS[Direction(c.old_direction)],
                "new": SHORT_LABELS[Direction(c.new_direction)],
            }
        )
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "fieldsync/audit.html",
        {
            "nav": "settings",
            "form": form,
            "page": page,
            "entries": entries,
            "query": query.urlencode(),
            "filtered": any(v for v in filters.values()),
        },
    )
