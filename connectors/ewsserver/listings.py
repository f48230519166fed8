"""What the test server's listing operations (SyncFolderItems and FindItem) may return.

Microsoft's reference for SyncFolderItems says it behaves like FindItem: neither can return
properties such as Body or Attachments, which a client reads with GetItem, and FindItem sends at
most the first 512 bytes (255 characters) of a streamable property (the SyncFolderItems and
FindItem operation pages of the EWS reference, learn.microsoft.com/exchange/client-developer/
web-service-reference/). Exchange's exact list of such properties is not published; exchangelib
(5.6, `Field.is_complex`) keeps one, and refuses to ask FindItem for any of them.

The test server takes that list as its rule, and is stricter than Exchange on purpose: asking a
listing for one of these properties is refused with a SOAP fault, ErrorInvalidPropertyRequest,
instead of an answer with the property missing or cut short, so a client that relies on a
listing for values it can only get whole from GetItem fails its tests loudly. A base shape
(Default, AllProperties) in a listing leaves these properties out. Extended properties are not
on the list (the connector lists none, and our own are short).
"""

from __future__ import annotations

from lxml import etree

from .items import INDEXED_CONTAINERS, PHYSICAL_PREFIX, T, local

# exchangelib 5.6's fields with is_complex set, over all its item classes, by FieldURI.
NOT_IN_LISTINGS = frozenset(
    {
        # Any item: the body and its variants, attachments, multi-valued and long text.
        "item:Attachments",
        "item:Body",
        "item:Categories",
        "item:DisplayCc",
        "item:DisplayTo",
        "item:InReplyTo",
        "item:InternetMessageHeaders",
        "item:MimeContent",
        "item:TextBody",
        "item:UniqueBody",
        "item:WebClientEditFormQueryString",
        "item:WebClientReadFormQueryString",
        # Calendar items: the series and its occurrences, attendees, long text.
        "calendar:AdjacentMeetings",
        "calendar:ConflictingMeetings",
        "calendar:DeletedOccurrences",
        "calendar:FirstOccurrence",
        "calendar:LastOccurrence",
        "calendar:Location",
        "calendar:MeetingWorkspaceUrl",
        "calendar:ModifiedOccurrences",
        "calendar:NetShowUrl",
        "calendar:OptionalAttendees",
        "calendar:Organizer",
        "calendar:Recurrence",
        "calendar:RequiredAttendees",
        "calendar:Resources",
        "calendar:UID",
        "calendar:When",
        # Contacts: long text, indexed properties (e-mail, phones, addresses), photo, certificates.
        "contacts:AssistantName",
        "contacts:BusinessHomePage",
        "contacts:Children",
        "contacts:Companies",
        "contacts:CompanyName",
        "contacts:Department",
        "contacts:DirectReports",
        "contacts:DirectoryId",
        "contacts:DisplayName",
        "contacts:EmailAddress",
        "contacts:FileAs",
        "contacts:Generation",
        "contacts:ImAddress",
        "contacts:Initials",
        "contacts:JobTitle",
        "contacts:MSExchangeCertificate",
        "contacts:Manager",
        "contacts:ManagerMailbox",
        "contacts:Mileage",
        "contacts:Nickname",
        "contacts:OfficeLocation",
        "contacts:PhoneNumber",
        "contacts:PhoneticFirstName",
        "contacts:PhoneticFullName",
        "contacts:PhoneticLastName",
        "contacts:Photo",
        "contacts:PhysicalAddress",
        "contacts:Profession",
        "contacts:SpouseName",
        "contacts:UserSMIMECertificate",
        "distributionlist:Members",
        # Tasks: the recurrence and long text.
        "task:BillingInformation",
        "task:Companies",
        "task:Contacts",
        "task:Mileage",
        "task:Recurrence",
        # Messages and meeting messages: recipients, headers.
        "meeting:AssociatedCalendarItemId",
        "message:BccRecipients",
        "message:CcRecipients",
        "message:ConversationIndex",
        "message:From",
        "message:InternetMessageId",
        "message:ReceivedBy",
        "message:ReceivedRepresenting",
        "message:References",
        "message:ReplyTo",
        "message:Sender",
        "message:ToRecipients",
    }
)


def _element(uri: str) -> str:
    """The element a FieldURI names in an item ("contacts:EmailAddress": EmailAddresses)."""
    if uri in INDEXED_CONTAINERS:
        return INDEXED_CONTAINERS[uri]
    if uri == PHYSICAL_PREFIX.rstrip(":"):
        return "PhysicalAddresses"
    return uri.split(":", 1)[1]


# What a base shape leaves out of a listing's items, by element name.
LEFT_OUT = frozenset(_element(uri) for uri in NOT_IN_LISTINGS)


def refused(shape_elem: etree._Element | None) -> list[str]:
    """The properties of this ItemShape a listing cannot return, as asked (FieldURI)."""
    if shape_elem is None:
        return []
    additional = shape_elem.find(f"{T}AdditionalProperties")
    if additional is None:
        return []
    out: list[str] = []
    for path in additional:
        if local(path) not in ("FieldURI", "IndexedFieldURI"):
            continue
        uri = path.get("FieldURI", "")
        # An address part (contacts:PhysicalAddress:Street) is part of the addresses.
        whole = PHYSICAL_PREFIX.rstrip(":") if uri.startswith(PHYSICAL_PREFIX) else uri
        if whole in NOT_IN_LISTINGS and uri not in out:
            out.append(uri)
    return out


def refusal(operation: str, uris: list[str]) -> str:
    """The fault's message, in our words."""
    names = ", ".join(uris)
    return (
        f"{operation} cannot return {names}: a change list or a search returns ids and short"
        " properties only. Read these properties with GetItem."
    )
