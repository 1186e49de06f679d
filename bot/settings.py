"""Settings from the environment (DESIGN §7), one group per concern."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.db import async_url

DEFAULT_DATABASE_URL = "sqlite:///nippo.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    line_channel_secret: SecretStr | None = None
    line_channel_access_token: SecretStr | None = None
    line_api_base_url: str = "https://api.line.me"
    line_data_api_base_url: str = "https://api-data.line.me"
    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_api_base_url: str = "https://slack.com/api/"
    log_level: str = "INFO"
    log_format: str = "json"  # json | text
    # Years records are kept from the service date (R7); `nippo retention run` refuses < 5.
    retention_years: int = 5
    # The minute tick and the outbox delivery loop run inside `nippo serve` unless switched off.
    scheduler_enabled: bool = True

    @property
    def async_database_url(self) -> str:
        return async_url(self.database_url)

    @property
    def line_enabled(self) -> bool:
        return bool(self.line_channel_secret and self.line_channel_access_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and self.slack_signing_secret)
