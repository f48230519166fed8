"""REST API of the Outlook client path: GET and POST /api/v1/sync/<entity>/changes/."""
