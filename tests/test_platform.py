"""The suite runs on the database CI promises (PostgreSQL) and settings follow the environment."""

import os
import subprocess
import sys

from django.conf import settings
from django.db import connection


def test_suite_runs_on_the_database_the_environment_names(db):
    """CI sets SYNCADMIN_REQUIRE_POSTGRES=1: there the suite must really be on PostgreSQL."""
    if os.environ.get("SYNCADMIN_REQUIRE_POSTGRES") == "1":
        assert connection.vendor == "postgresql"
        assert settings.CELERY_BROKER_URL.startswith("redis://")
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected


def _settings_in_subprocess(env: dict[str, str], expr: str) -> str:
    code = f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='syncadmin.settings'; django.setup(); from django.conf import settings as s; print({expr})"
    clean = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_embedded_default_needs_no_server(tmp_path):
    out = _settings_in_subprocess(
        {"SYNCADMIN_VAR_DIR": str(tmp_path)},
        "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.DEBUG",
    )
    assert out == "django.db.backends.sqlite3 filesystem:// True"
    # A secret key is generated once and kept, never committed.
    key = (tmp_path / "secret_key").read_text()
    assert len(key) > 40
    again = _settings_in_subprocess({"SYNCADMIN_VAR_DIR": str(tmp_path)}, "s.SECRET_KEY")
    assert again == key


def test_environment_switches_to_postgres_and_redis(tmp_path):
    out = _settings_in_subprocess(
        {
            "SYNCADMIN_VAR_DIR": str(tmp_path),
            "DATABASE_URL": "postgres://u@db.example:5432/crm",
            "REDIS_URL": "redis://cache.example:6379/3",
            "SECRET_KEY": "from-env",
        },
        "s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.CACHES['default']['BACKEND'], s.SECRET_KEY, s.DEBUG",
    )
    assert out == (
        "django.db.backends.postgresql redis://cache.example:6379/3 "
        "django.core.cache.backends.redis.RedisCache from-env False"
    )
