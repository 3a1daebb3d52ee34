"""server/push.py: VAPID keys, encryption and signature checked the way a browser and push service would."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from server import push
from server.config import Settings
from tests.fake_push import FAKE_HOST, BrowserKeys, FakePushService, local_sender, verify_vapid


@pytest.fixture
def service():
    with FakePushService() as svc:
        yield svc


@pytest.fixture
def sender(settings):
    s = local_sender(settings)
    yield s
    s.close()


def test_vapid_key_is_generated_once_and_kept(tmp_path):
    s1 = Settings(var_dir=tmp_path, database_url="sqlite://")
    key = push.application_server_key(s1)
    assert (tmp_path / "vapid_private_key.pem").read_text().startswith("-----BEGIN")
    assert len(key) == 87  # a 65-byte uncompressed P-256 point, b64url
    assert push.application_server_key(Settings(var_dir=tmp_path, database_url="sqlite://")) == key


def test_vapid_key_from_settings(tmp_path):
    pem = push.private_pem(Settings(var_dir=tmp_path / "a", database_url="sqlite://"))
    s = Settings(var_dir=tmp_path / "b", database_url="sqlite://", vapid_private_key=pem)
    assert push.application_server_key(s) == push.application_server_key(
        Settings(var_dir=tmp_path / "a", database_url="sqlite://")
    )
    assert not (tmp_path / "b" / "vapid_private_key.pem").exists()


def test_round_trip_decrypts_and_vapid_verifies(settings, service, sender):
    browser = BrowserKeys()
    endpoint = service.endpoint("sub-1")
    payload = {"title": "311-2026-000001 is closed", "url": "/requests/311-2026-000001"}
    result = sender.send(browser.subscription(endpoint), payload)
    assert result.ok and result.status == 201
    [got] = service.received
    assert got.headers["content-encoding"] == "aes128gcm"
    assert got.headers["host"] == service.base.removeprefix("https://")  # the name, though we dialled the IP
    assert service.base.startswith(f"https://{FAKE_HOST}:")
    assert int(got.headers["ttl"]) == push.TTL_S
    assert browser.decrypt(got.body) == payload
    claims = verify_vapid(got.headers["authorization"], push.application_server_key(settings))
    assert claims["aud"] == service.base
    assert claims["sub"] == settings.vapid_subject
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


def test_each_push_service_gets_its_own_audience(settings, sender):
    browser = BrowserKeys()
    with FakePushService() as a, FakePushService() as b:
        assert sender.send(browser.subscription(a.endpoint("x")), {"t": 1}).ok
        assert sender.send(browser.subscription(b.endpoint("y")), {"t": 2}).ok
        key = push.application_server_key(settings)
        assert verify_vapid(a.received[0].headers["authorization"], key)["aud"] == a.base
        assert verify_vapid(b.received[0].headers["authorization"], key)["aud"] == b.base


@pytest.mark.parametrize(
    ("status", "headers", "ok", "gone", "retryable", "retry_after"),
    [
        (201, {}, True, False, False, None),
        (410, {}, False, True, False, None),
        (404, {}, False, True, False, None),
        (429, {"Retry-After": "7"}, False, False, True, 7.0),
        (503, {}, False, False, True, None),
        (400, {}, False, False, False, None),
        (413, {}, False, False, False, None),
    ],
)
def test_answers_are_classified(sender, service, status, headers, ok, gone, retryable, retry_after):
    endpoint = service.endpoint("s")
    service.script(endpoint, [(status, headers)])
    r = sender.send(BrowserKeys().subscription(endpoint), {"t": 1})
    assert (r.status, r.ok, r.gone, r.retryable, r.retry_after_s) == (
        status,
        ok,
        gone,
        retryable,
        retry_after,
    )


def test_network_error_is_retryable_not_raised(sender):
    with FakePushService() as svc:
        endpoint = svc.endpoint("gone-away")
    r = sender.send(BrowserKeys().subscription(endpoint), {"t": 1}, timeout=2)
    assert r.status == 0 and r.retryable and r.error


def test_broken_subscription_keys_are_permanent(sender, service):
    sub = {"endpoint": service.endpoint("bad"), "keys": {"p256dh": "bm90LWEta2V5", "auth": "c2VjcmV0"}}
    r = sender.send(sub, {"t": 1})
    assert not r.ok and not r.retryable and not r.gone
    assert service.received == []


def test_retry_after_as_http_date():
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    later = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert push.parse_retry_after(later, now) == 90
    assert push.parse_retry_after("120") == 120
    assert push.parse_retry_after("soon") is None
    assert push.parse_retry_after(None) is None


def test_valid_keys():
    b = BrowserKeys()
    assert push.valid_keys(b.p256dh, b.auth)
    assert not push.valid_keys("bm90LWEta2V5", b.auth)
    assert not push.valid_keys(b.p256dh, "c2VjcmV0")
    assert not push.valid_keys("***", "***")


def test_racing_first_use_gives_one_key(tmp_path):
    import threading

    s = Settings(var_dir=tmp_path, database_url="sqlite://")
    keys, barrier = [], threading.Barrier(4)

    def first_use():
        barrier.wait()
        keys.append(push.private_pem(s))

    threads = [threading.Thread(target=first_use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(keys)) == 1 and len(keys) == 4
    assert [p.name for p in tmp_path.iterdir()] == ["vapid_private_key.pem"]
