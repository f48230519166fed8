"""Top-level URL configuration: admin, login, and each app's pages and API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView, TemplateView

from . import ops, profile

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/profile/", profile.profile, name="profile"),
    path("admin/", admin.site.urls),
    # For operators: Prometheus metrics and a health check (syncadmin/ops.py).
    path("metrics", ops.metrics, name="metrics"),
    path("health", ops.health, name="health"),
    # Browsers that ask for /favicon.ico anyway get the site's icon.
    path("favicon.ico", RedirectView.as_view(url=static("syncadmin/favicon.svg"), permanent=True)),
    path("api/v1/", include("syncadmin.api_urls")),
    # Settings > ... > Synchronized fields, its change history, and My options (read-only).
    path("", include("fieldsync.urls")),
]

handler400 = "syncadmin.errors.bad_request"
handler403 = "syncadmin.errors.permission_denied"
handler404 = "syncadmin.errors.page_not_found"
handler500 = "syncadmin.errors.server_error"
