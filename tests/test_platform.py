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
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")
        and not k.startswith(("SYNCADMIN_INSECURE", "DJANGO_DEBUG"))
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
    # DEBUG is off even here (a debug page shows secrets); the demo serves plain HTTP.
    assert out == "django.db.backends.sqlite3 filesystem:// False"
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


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "ALLOWED_HOSTS")
        and not k.startswith(("SYNCADMIN_", "DJANGO_"))
    }
    manage = str(settings.BASE_DIR / "manage.py")
    return subprocess.run(
        [sys.executable, manage, *args], env={**clean, **env}, capture_output=True, text=True
    )


def test_production_settings_pass_the_deploy_check_with_only_key_and_hosts(tmp_path):
    """Issue #15.10: SECRET_KEY and ALLOWED_HOSTS set, nothing else: HTTPS-only, secure
    cookies, HSTS, DEBUG off; `check --deploy` has not one warning."""
    env = {
        "SYNCADMIN_VAR_DIR": str(tmp_path),
        "SECRET_KEY": "k" * 20 + "-production-key-of-fifty-or-more-characters-9f3",
        "ALLOWED_HOSTS": "crm.example.com",
    }
    check = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert check.returncode == 0, check.stderr
    assert "no issues" in check.stdout
    out = _settings_in_subprocess(
        env,
        "s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_HSTS_SECONDS > 0, s.SECURE_PROXY_SSL_HEADER",
    )
    assert out == "False True True True True ('HTTP_X_FORWARDED_PROTO', 'https')"


def test_plain_http_is_one_variable_and_debug_only_when_asked(tmp_path):
    env = {"SYNCADMIN_VAR_DIR": str(tmp_path), "SECRET_KEY": "x" * 60}
    expr = "s.DEBUG, s.SECURE_SSL_REDIRECT, s.SESSION_COOKIE_SECURE, s.SECURE_HSTS_SECONDS"
    insecure = _settings_in_subprocess({**env, "SYNCADMIN_INSECURE_HTTP": "1"}, expr)
    assert insecure == "False False False 0"
    # The demo (no SECRET_KEY in the environment, key generated under var/) is plain HTTP
    # on localhost, and still not in debug mode.
    demo = _settings_in_subprocess({"SYNCADMIN_VAR_DIR": str(tmp_path)}, expr)
    assert demo == "False False False 0"
    debug = _settings_in_subprocess({**env, "DJANGO_DEBUG": "1"}, "s.DEBUG")
    assert debug == "True"
    # Opting out is visible to the deploy check, which then warns.
    check = _manage(
        {**env, "SYNCADMIN_INSECURE_HTTP": "1", "ALLOWED_HOSTS": "crm.example.com"},
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert check.returncode != 0
    assert "SECURE_SSL_REDIRECT" in check.stderr + check.stdout


def test_static_files_are_served_without_debug(client, settings):
    """The demo runs with DEBUG off: WhiteNoise serves the app's and the admin's files."""
    settings.DEBUG = False
    for path in ("/static/syncadmin/site.css", "/static/admin/css/base.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "Content-Security-Policy" in response
