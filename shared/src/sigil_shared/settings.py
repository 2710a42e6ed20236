"""Per-service settings from ``SIGIL_*`` variables, validated once at start."""

import sys
from pathlib import Path
from typing import Literal, NoReturn, Self, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class BusSettings(BaseSettings):
    """What every service needs to join the bus."""

    model_config = SettingsConfigDict(env_prefix="SIGIL_", extra="ignore", frozen=True)

    #: One URL, or several separated by commas (the nodes of a cluster).
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    request_timeout: float = Field(default=5.0, gt=0, le=120)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``text`` (one line per record) or ``json`` (one JSON object per line, for collectors).
    log_format: Literal["text", "json"] = "text"
    #: JetStream replicas of the streams and KV buckets the setup step creates (3 on a cluster).
    js_replicas: int = Field(default=1, ge=1, le=5)

    @property
    def nats_servers(self) -> list[str]:
        """The URL list to connect to."""
        return [url.strip() for url in self.nats_url.split(",") if url.strip()]


class SecretsSettings(BusSettings):
    """The secrets service: store, keyring, history."""

    store: Literal["jetstream", "mongodb"] = "jetstream"
    mongodb_url: SecretStr | None = None
    mongodb_database: str = "sigil"
    #: Keyring inline: ``id:base64key[,id:base64key...]``; the first entry wraps new keys.
    kek: SecretStr | None = None
    #: Keyring file: one ``id:base64key`` per line, first line current.
    kek_file: Path | None = None
    #: Audit keyring (HMAC keys of the audit chain), same forms as the KEK keyring: the
    #: first entry seals new events, the others still verify older ones.
    audit_key: SecretStr | None = None
    audit_key_file: Path | None = None
    history: int = Field(default=32, ge=1, le=1000)
    #: How long a deleted secret's versions stay available to the redactor.
    deleted_retention_days: int = Field(default=30, ge=0, le=3650)
    #: Values shorter than this are flagged "too short to be masked" in logs.
    min_mask_length: int = Field(default=4, ge=1, le=64)
    #: Seconds a replaced or deleted value stays masked in logs (a raw line written before
    #: the change may be redacted after it): at least the setup step's SIGIL_RAW_MAX_AGE.
    mask_replaced_seconds: float = Field(default=3600, gt=0)

    @model_validator(mode="after")
    def _check_sources(self) -> Self:
        if self.kek is None and self.kek_file is None:
            msg = "set SIGIL_KEK or SIGIL_KEK_FILE (the key-encryption keyring)"
            raise ValueError(msg)
        if self.audit_key is None and self.audit_key_file is None:
            msg = "set SIGIL_AUDIT_KEY or SIGIL_AUDIT_KEY_FILE (the audit-chain keyring)"
            raise ValueError(msg)
        if self.store == "mongodb" and self.mongodb_url is None:
            msg = "SIGIL_MONGODB_URL is required when SIGIL_STORE=mongodb"
            raise ValueError(msg)
        return self


class RendererSettings(BusSettings):
    """The renderer service."""


class SetupSettings(BusSettings):
    """The setup step (``sigil init`` / ``sigil up``): stream limits it applies.

    Stream, bucket and subject names are not settings: the permission table is built
    from them, so they live in ``sigil_shared.subjects`` only.
    """

    #: Raw records wait at most this long in the work queue (seconds).
    raw_max_age: float = Field(default=3600, gt=0)
    #: Redacted records are kept this long (seconds; 7 days) and up to this many bytes.
    redacted_max_age: float = Field(default=7 * 24 * 3600, gt=0)
    redacted_max_bytes: int = Field(default=-1, ge=-1)


class RedactorSettings(BusSettings):
    """The log-redactor service."""

    min_mask_length: int = Field(default=4, ge=1, le=64)
    batch_size: int = Field(default=256, ge=1, le=10_000)
    #: Seconds a fetched record may stay unacknowledged before it is redelivered
    #: (e.g. when a replica or a NATS node dies mid-batch).
    ack_wait: float = Field(default=30.0, gt=0, le=3600)
    #: Deployments whose matchers stay built in memory.
    matcher_cache_size: int = Field(default=512, ge=1)


class GatewaySettings(BusSettings):
    """The HTTP gateway."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    jwt_key: SecretStr | None = None
    jwt_key_file: Path | None = None
    jwks_url: str | None = None
    #: Least seconds between JWKS refetches triggered by an unknown key id (anti-abuse).
    jwks_refresh_cooldown: float = Field(default=30.0, ge=0)
    body_limit: int = Field(default=1024 * 1024, ge=1024)
    #: Requests per second per verified token, per gateway replica; 0 turns it off.
    rate_limit: float = Field(default=0, ge=0)
    #: Requests per second per client address for requests without a verified token
    #: (none, invalid, or not yet seen), per gateway replica; 0 turns it off.
    anonymous_rate_limit: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_auth(self) -> Self:
        if self.jwt_key is None and self.jwt_key_file is None and self.jwks_url is None:
            msg = "set SIGIL_JWT_KEY, SIGIL_JWT_KEY_FILE or SIGIL_JWKS_URL"
            raise ValueError(msg)
        return self


SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def _fail(program: str, err: ValidationError, prefix: str) -> NoReturn:
    for item in err.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in item["loc"])
        variable = f"{prefix}{field.upper()}" if field else "settings"
        print(f"{program}: invalid setting {variable}: {item['msg']}", file=sys.stderr)  # noqa: T201
    raise SystemExit(2)


def load_settings(cls: type[SettingsT], program: str) -> SettingsT:
    """Build settings from the environment, or stop with one line per bad variable."""
    try:
        return cls()
    except ValidationError as err:
        _fail(program, err, str(cls.model_config.get("env_prefix", "")))
