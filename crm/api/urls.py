"""Routes of the CRM records API (included under /api/v1/ in the "api" namespace)."""

from rest_framework.routers import SimpleRouter

from . import views

router = SimpleRouter()
router.register("contacts", views.ContactViewSet, basename="contact")
router.register("appointments", views.AppointmentViewSet, basename="appointment")
router.register(
    "recurring-appointments", views.RecurringAppointmentViewSet, basename="recurring-appointment"
)
router.register("tasks", views.TaskViewSet, basename="task")
router.register("phone-calls", views.PhoneCallViewSet, basename="phone-call")
router.register("letters", views.LetterViewSet, basename="letter")
router.register("faxes", views.FaxViewSet, basename="fax")
router.register("service-activities", views.ServiceActivityViewSet, basename="service-activity")

urlpatterns = router.urls
