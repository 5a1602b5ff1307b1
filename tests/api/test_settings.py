"""Production settings, as a process started with them sees them."""

import json
import os
import subprocess
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
PRODUCTION = {"DEBUG": "false", "SECRET_KEY": "a-real-secret-key-for-the-test", "ALLOWED_HOSTS": "status.example.org"}


def django_settings(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings\n" + code],
        cwd=PROJECT_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "api.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_settings_refuse_to_start_without_a_secret_key():
    result = django_settings("", DEBUG="false", SECRET_KEY="")
    assert result.returncode != 0
    assert "Set SECRET_KEY" in result.stderr


def test_production_settings_turn_off_debug_and_graphiql_and_take_hosts_from_the_environment():
    result = django_settings(
        "print(settings.DEBUG, settings.GRAPHIQL, settings.ALLOWED_HOSTS, settings.CSRF_TRUSTED_ORIGINS)",
        **PRODUCTION,
        CSRF_TRUSTED_ORIGINS="https://status.example.org",
    )
    assert result.stdout.strip() == "False False ['status.example.org'] ['https://status.example.org']"


def test_behind_tls_cookies_are_secure_and_hsts_is_on():
    result = django_settings(
        "print(settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE, settings.SECURE_HSTS_SECONDS > 0)",
        **PRODUCTION,
        TLS="true",
    )
    assert result.stdout.strip() == "True True True"


def test_production_logs_are_one_json_object_a_line():
    result = django_settings("import logging; logging.getLogger('api').warning('disk %s full', 'very')", **PRODUCTION)
    entry = json.loads(result.stderr.strip().splitlines()[-1])
    assert (entry["level"], entry["logger"], entry["message"]) == ("WARNING", "api", "disk very full")


def test_redis_sentinels_and_tls_urls_reach_channels_redis_as_it_expects_them():
    code = "import json; print(json.dumps(settings.CHANNEL_LAYERS['default']))"
    sentinel = json.loads(
        django_settings(code, REDIS_SENTINELS="10.0.0.1:26379,10.0.0.2:26379", REDIS_SENTINEL_MASTER="events").stdout
    )
    host = sentinel["CONFIG"]["hosts"][0]
    assert host["sentinels"] == [["10.0.0.1", 26379], ["10.0.0.2", 26379]] and host["master_name"] == "events"

    tls = json.loads(
        django_settings(code, REDIS_URL="rediss://cache.example.org:6380/0", CHANNEL_LAYER="pubsub").stdout
    )
    assert tls["BACKEND"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert tls["CONFIG"]["hosts"][0]["address"] == "rediss://cache.example.org:6380/0"


def test_an_unknown_channel_layer_is_refused_at_start():
    result = django_settings("", REDIS_URL="redis://127.0.0.1:6379/0", CHANNEL_LAYER="kafka")
    assert result.returncode != 0 and "CHANNEL_LAYER must be one of" in result.stderr


def test_trusted_proxies_are_networks_and_an_address_is_a_network_of_one():
    result = django_settings("print(settings.TRUSTED_PROXIES)", TRUSTED_PROXIES="10.0.0.5, 10.1.0.0/16,::1")
    assert result.stdout.strip() == "['10.0.0.5/32', '10.1.0.0/16', '::1/128']"


def test_a_trusted_proxy_entry_with_host_bits_or_a_name_is_refused_at_start():
    for entry in ("10.0.0.5/24", "nginx"):
        result = django_settings("", TRUSTED_PROXIES=f"127.0.0.1,{entry}")
        assert result.returncode != 0, entry
        assert f"TRUSTED_PROXIES: {entry!r} is not an address or a network" in result.stderr
