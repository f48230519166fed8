"""How syncadmin talks to mail systems; no Django models here, only plain values."""
