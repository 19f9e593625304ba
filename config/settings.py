"""otdel settings: everything that differs between machines comes from the environment."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OTDEL_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    """Read a yes/no switch from the environment."""
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("OTDEL_DEBUG", False)
# A development key is generated per checkout and kept out of the repository (var/ is ignored);
# production must set OTDEL_SECRET_KEY.
_key_file = VAR_DIR / "secret_key"
if os.environ.get("OTDEL_SECRET_KEY"):
    SECRET_KEY = os.environ["OTDEL_SECRET_KEY"]
else:
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
    SECRET_KEY = _key_file.read_text().strip()

ALLOWED_HOSTS = os.environ.get("OTDEL_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("OTDEL_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_tasks",
    "django_tasks_db",
    "otdel.core",
    "otdel.people",
    "otdel.audit",
    "otdel.clients",
    "otdel.ownership",
    "otdel.activities",
    "otdel.telephony",
    "otdel.planning",
    "otdel.sales",
    "otdel.inbound",
    "otdel.analytics",
    "otdel.api",
    "otdel.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "otdel.people.middleware.OtdelLocaleMiddleware",
    "otdel.inbound.middleware.FormSizeLimit",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "otdel.people.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "otdel.core.context_processors.otdel",
            ],
        },
    },
]
WSGI_APPLICATION = "config.wsgi.application"

# SQLite by default (one file, WAL, IMMEDIATE transactions so writers queue instead of failing);
# PostgreSQL when DATABASE_URL is set.
_sqlite_path = VAR_DIR / os.environ.get("OTDEL_SQLITE_NAME", "otdel.sqlite3")
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    DATABASES["default"].setdefault("TEST", {})
    DATABASES["default"]["TEST"]["NAME"] = os.environ.get("OTDEL_TEST_DB_NAME", "test_otdel")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_sqlite_path),
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
            # Tests use a file, not :memory:, so threads and the live server share one database.
            "TEST": {"NAME": str(VAR_DIR / "test_otdel.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "people.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "ru"
LANGUAGES = [("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "Europe/Moscow"
OTDEL_DEFAULT_CURRENCY = "RUB"

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "media/"

# Uploads: a client base of a few hundred thousand rows is fine; bigger files are refused clearly.
OTDEL_IMPORT_MAX_BYTES = int(os.environ.get("OTDEL_IMPORT_MAX_BYTES", str(50 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Caches hold import progress, written by the worker while its transaction is still open:
# a file cache on one machine, Redis when OTDEL_REDIS_URL is set (several machines).
REDIS_URL = os.environ.get("OTDEL_REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / os.environ.get("OTDEL_CACHE_DIR", "cache")),
        }
    }

TASKS = {
    "default": {
        "BACKEND": os.environ.get("OTDEL_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Outgoing mail (the customer's acknowledgement, replies from a request): SMTP when
# OTDEL_EMAIL_HOST is set, otherwise printed to the console (the demo); OTDEL_EMAIL_BACKEND
# overrides either. The password lives in the environment only. See docs/inbound-mail.md.
EMAIL_HOST = os.environ.get("OTDEL_EMAIL_HOST", "")
EMAIL_BACKEND = os.environ.get(
    "OTDEL_EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.console.EmailBackend",
)
EMAIL_HOST = EMAIL_HOST or "localhost"
EMAIL_PORT = int(os.environ.get("OTDEL_EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("OTDEL_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("OTDEL_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("OTDEL_EMAIL_USE_TLS", False)  # STARTTLS, usually port 587
EMAIL_USE_SSL = env_bool("OTDEL_EMAIL_USE_SSL", False)  # implicit TLS, usually port 465
EMAIL_TIMEOUT = int(os.environ.get("OTDEL_EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("OTDEL_EMAIL_FROM", "otdel <noreply@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# The right-hand side of our Message-IDs (<request-123-ack@DOMAIN>), so customers' replies are
# recognised as ours; by default the domain of OTDEL_EMAIL_FROM.
OTDEL_EMAIL_MESSAGE_ID_DOMAIN = os.environ.get("OTDEL_EMAIL_MESSAGE_ID_DOMAIN", "")

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
if env_bool("OTDEL_HTTPS", False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # Behind the TLS proxy of docs/deploy.md, which sets this header itself (never passes on
    # the client's): a request that reached the proxy over HTTPS is a secure one.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("OTDEL_LOG_LEVEL", "WARNING")},
}
