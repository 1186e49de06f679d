"""Settings from the environment (DESIGN §7), one group per concern."""

from __future__ import annotations

import os

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.crypto import KEY_ENV, OLD_KEYS_ENV, Keyring

DEFAULT_DATABASE_URL = "sqlite:///nippo.db"


class Settings(BaseSettings):
    # An empty value (`KEY=` as .env.example leaves the secrets) means "not set".
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", env_ignore_empty=True
    )

    database_url: str = DEFAULT_DATABASE_URL
    line_channel_secret: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"
    # The font `nippo line richmenu install` draws the menu's words with (a .ttf/.otf file);
    # unset: IPA Gothic from Debian's fonts-ipafont-gothic.
    line_rich_menu_font: str | None = None
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    # An app-level token (xapp-…, scope connections:write): Slack's events, /nippo and buttons
    # then arrive over Socket Mode, a websocket Nippo opens, so Slack needs no public URL.
    slack_app_token: SecretStr | None = None
    # The workspace Nippo is installed in (T…); when set, requests from others get 403.
    slack_team_id: str | None = None
    # The HTTPS address LINE and Slack reach Nippo at (e.g. https://nippo.example.jp);
    # `nippo doctor` checks it and compares it with the LINE webhook URL.
    public_url: str | None = None
    log_level: str = "INFO"
    log_format: str = "json"  # json | text
    # Years records are kept from the service date (R7); `nippo retention run` refuses < 5.
    retention_years: int = 5
    # The minute tick and the outbox delivery loop run inside `nippo serve` unless switched off.
    scheduler_enabled: bool = True
    # Wrong link codes allowed per hour across the whole installation (an account that is not
    # linked yet belongs to no facility); past it no code is checked until the hour has passed.
    link_failures_per_hour: int = 20
    # An outbox backlog older than this makes /healthz "degraded", tells staff on LINE while
    # Slack is down and marks alerts this late as late (seconds).
    outbox_backlog_alert_seconds: int = 300
    # /metrics and /openapi.json for operators only: a bearer token, and/or client networks
    # (comma-separated CIDRs, e.g. "127.0.0.1/32,10.0.0.0/8"); both unset: open as before.
    operator_token: SecretStr | None = None
    operator_networks: str | None = None
    # nippo serve: connections beyond this get 503 at once instead of waiting (slow clients)
    http_limit_concurrency: int = 1000
    http_keep_alive_seconds: int = 5
    # nippo serve: the reverse proxies (comma-separated addresses or CIDRs, "*" for any) whose
    # X-Forwarded-For/-Proto uvicorn believes; from anyone else they are ignored
    forwarded_allow_ips: str = "127.0.0.1"

    # The staff console (/console, docs/console.md): the key that signs its session cookies
    # (python -c "import secrets; print(secrets.token_urlsafe(32))"). Unset: a key of the
    # process's own, so sign-ins end at a restart and do not carry across replicas.
    console_session_secret: SecretStr | None = None
    # Minutes without a page view after which a console sign-in ends.
    console_idle_minutes: int = 30

    # Encryption at rest (storage/crypto.py): base64 of 32 random bytes, and older keys
    # (comma-separated) still read during a rotation. The database layer reads them from the
    # process environment; here they are only checked, at start.
    nippo_data_key: SecretStr | None = None
    nippo_data_keys_old: SecretStr | None = None

    @model_validator(mode="after")
    def _data_keys(self) -> Settings:
        for name, value in (
            (KEY_ENV, self.nippo_data_key),
            (OLD_KEYS_ENV, self.nippo_data_keys_old),
        ):
            text = value.get_secret_value() if value is not None else ""
            if text.strip() != os.environ.get(name, "").strip():
                raise ValueError(f"{name} must be set in the environment, not only in .env")
        Keyring.from_env()  # a malformed key fails here, with the variable's name
        return self

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)
