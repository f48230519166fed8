"""Top-level URL configuration: admin, login, and each app's pages and API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import TemplateView

urlpatterns = [
    path("", TemplateView.as_view(template_name="home.html"), name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("syncadmin.api_urls")),
    # Settings > ... > Synchronized fields, its change history, and My options (read-only).
    path("", include("fieldsync.urls")),
]

handler400 = "syncadmin.errors.bad_request"
handler403 = "syncadmin.errors.permission_denied"
handler404 = "syncadmin.errors.page_not_found"
handler500 = "syncadmin.errors.server_error"
