"""Security's data: the organization, security roles, record shares and field security.

Split by concern; everything is importable from `security.models`.
"""

from .fields import FieldPermission, FieldSecurityProfile, SecuredField
from .organization import BusinessUnit, Team, User
from .roles import AccessLevel, Privilege, RolePrivilege, SecurityRole, privileges_of
from .sharing import (
    SHARE_MODELS,
    AppointmentTeamShare,
    AppointmentUserShare,
    ContactTeamShare,
    ContactUserShare,
    FaxTeamShare,
    FaxUserShare,
    LetterTeamShare,
    LetterUserShare,
    PhoneCallTeamShare,
    PhoneCallUserShare,
    RecurringAppointmentTeamShare,
    RecurringAppointmentUserShare,
    ServiceActivityTeamShare,
    ServiceActivityUserShare,
    TaskTeamShare,
    TaskUserShare,
)

__all__ = [
    "SHARE_MODELS",
    "AccessLevel",
    "AppointmentTeamShare",
    "AppointmentUserShare",
    "BusinessUnit",
    "ContactTeamShare",
    "ContactUserShare",
    "FaxTeamShare",
    "FaxUserShare",
    "FieldPermission",
    "FieldSecurityProfile",
    "LetterTeamShare",
    "LetterUserShare",
    "PhoneCallTeamShare",
    "PhoneCallUserShare",
    "Privilege",
    "RecurringAppointmentTeamShare",
    "RecurringAppointmentUserShare",
    "RolePrivilege",
    "SecuredField",
    "SecurityRole",
    "ServiceActivityTeamShare",
    "ServiceActivityUserShare",
    "TaskTeamShare",
    "TaskUserShare",
    "Team",
    "User",
    "privileges_of",
]
