"""Template filters for words, not identifiers, on the sync pages (fieldsync/mailboxes/words.py):
{{ run.entity|entity_label }}, {{ c.field|field_label:c.entity }}, {{ c.reason|conflict_reason }},
{{ r.reason|reject_reason }}, {{ user|person }}, {{ value|value_text }}."""

from django import template

from fieldsync.mailboxes import words

register = template.Library()

for _name in (
    "entity_label",
    "field_label",
    "conflict_reason",
    "reject_reason",
    "person",
    "value_text",
):
    register.filter(_name, getattr(words, _name))
