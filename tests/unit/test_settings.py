from __future__ import annotations

import pytest
from crm.settings import ApiSettings, RelaySettings, SettingsError


def test_settings_read_only_their_own_variables() -> None:
    settings = ApiSettings.from_env(
        {
            "DATABASE_URL": "postgresql://u:p@h:5432/crm",
            "AMQP_URL": "amqp://g:g@h/%2F",
            "OTHER": "x",
        }
    )
    assert settings.database_url.endswith("/crm")
    assert settings.database_pool_size == 4


def test_missing_and_malformed_variables_are_named_in_one_error() -> None:
    with pytest.raises(SettingsError) as raised:
        ApiSettings.from_env({"DATABASE_URL": "mysql://nope"})
    message = str(raised.value)
    assert "DATABASE_URL" in message and "AMQP_URL" in message


def test_relay_falls_back_to_the_app_database_url() -> None:
    base = {"DATABASE_URL": "postgresql://a@h/crm", "AMQP_URL": "amqp://h"}
    assert RelaySettings.from_env(base).relay_url == "postgresql://a@h/crm"
    relay = RelaySettings.from_env({**base, "RELAY_DATABASE_URL": "postgresql://r@h/crm"})
    assert relay.relay_url == "postgresql://r@h/crm"
