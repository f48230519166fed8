"""Who may see and change what: business units, teams, roles, sharing, field security."""
