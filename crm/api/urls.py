"""Routes of the CRM records API (included under /api/v1/ in the "api" namespace): one
prefix per record type (crm.api.views.RECORD_APIS)."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
for api in views.RECORD_APIS:
    router.register(api.prefix, views.VIEWSETS[api.prefix], basename=api.basename)

urlpatterns = router.urls
