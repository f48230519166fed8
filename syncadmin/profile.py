"""My profile: the settings each user chooses for themself (for now, their time zone)."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods


@cache
def _zones() -> list[tuple[str, str]]:
    names = sorted(
        z for z in zoneinfo.available_timezones() if "/" in z and not z.startswith("Etc/")
    )
    return [("UTC", "UTC")] + [(z, z.replace("_", " ")) for z in names]


class ProfileForm(forms.Form):
    time_zone = forms.ChoiceField(
        label="Time zone",
        required=False,
        help_text="Every time on these pages is shown in this zone.",
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["time_zone"].choices = [
            ("", f"The organization's ({settings.TIME_ZONE})"),
            *_zones(),
        ]


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = ProfileForm(request.POST or None, initial={"time_zone": user.time_zone})
    if request.method == "POST":
        if form.is_valid():
            user.time_zone = form.cleaned_data["time_zone"]
            user.save(update_fields=["time_zone"])
            shown = user.time_zone or f"the organization's, {settings.TIME_ZONE}"
            messages.success(request, f"Saved: times are shown in {shown}.")
            return redirect("profile")
        status = 400
    else:
        status = 200
    context = {"form": form, "nav": "profile", "now": timezone.now()}
    return render(request, "profile.html", context, status=status)
