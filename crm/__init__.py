"""The CRM's own records (contacts, appointments, tasks), their change numbers and tombstones."""
