"""The HTTP channel's ways to authenticate, against a fake aggregator that checks each one."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from urllib.parse import parse_qs

import pytest

from fakes.aggregators import FakeAggregator, Sent
from handlers.base import SendError, SmsOut
from handlers.http_channel import HttpChannelProvider, HttpConfig

AICHA = "+212600000004"
RIGHT = {"username": "coop", "password": "pa55", "token": "tok-1", "api_key": "k-1",
         "client_id": "cid", "client_secret": "csecret"}


class FakeGeneric(FakeAggregator):
    """``POST /send`` with the credentials of ``mode``; ``POST /oauth/token`` for OAuth2."""

    def __init__(self, mode: str) -> None:
        super().__init__()
        self.mode, self.tokens_issued = mode, 0

    def _authorised(self, headers: dict[str, str]) -> bool:
        given = headers.get("Authorization", "")
        if self.mode == "basic":
            pair = base64.b64encode(b"coop:pa55").decode()
            return given == f"Basic {pair}"
        if self.mode == "bearer":
            return given == "Bearer tok-1"
        if self.mode == "header":
            return headers.get("X-Api-Key") == "k-1"
        return given == f"Bearer issued-{self.tokens_issued}" and self.tokens_issued > 0

    def answer(self, method: str, path: str, headers: dict[str, str], query: dict[str, str],
               body: bytes) -> tuple[int, str, str]:
        self.requests += 1
        if path == "/oauth/token":
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if (form.get("grant_type"), form.get("client_id"), form.get("client_secret")) != (
                    "client_credentials", "cid", "csecret"):
                return 401, "application/json", json.dumps({"error": "invalid_client"})
            self.tokens_issued += 1
            return 200, "application/json", json.dumps(
                {"access_token": f"issued-{self.tokens_issued}", "token_type": "Bearer",
                 "expires_in": 3600})
        if not self._authorised(headers):
            return 401, "application/json", json.dumps({"error": "unauthorised"})
        request = json.loads(body)
        self.took(Sent(request["to"], request["text"], "", f"m-{len(self.sent) + 1}"))
        return 202, "application/json", json.dumps({"id": f"m-{len(self.sent)}"})


AUTH = {
    "basic": {"type": "basic"},
    "bearer": {"type": "bearer"},
    "header": {"type": "header", "header": "X-Api-Key", "value": "{{ secrets.api_key }}"},
    "oauth2": {"type": "oauth2", "token_url": "{base}/oauth/token"},
}
WRONG = {"basic": {"password": "nope"}, "bearer": {"token": "nope"},
         "header": {"api_key": "nope"}, "oauth2": {"client_secret": "nope"}}


@pytest.fixture(params=list(AUTH), ids=list(AUTH))
def fake(request: pytest.FixtureRequest) -> Iterator[FakeGeneric]:
    server = FakeGeneric(request.param)
    yield server
    server.stop()


def _provider(fake: FakeGeneric, **wrong: str) -> HttpChannelProvider:
    auth = {k: (v.format(base=fake.base_url) if isinstance(v, str) and "{base}" in v else v)
            for k, v in AUTH[fake.mode].items()}
    config = HttpConfig.from_settings("generic", {
        "auth": auth,
        "send": {"url": f"{fake.base_url}/send", "content": "json",
                 "body": '{"to": "{{ to }}", "text": "{{ text }}"}', "result_id": None,
                 "message_id": "{{ reference }}"}}, {**RIGHT, **wrong})
    return HttpChannelProvider(config)


def test_the_right_credentials_send(fake: FakeGeneric) -> None:
    provider = _provider(fake)
    for reference in (1, 2):
        [result] = provider.send([SmsOut(reference=reference, to=AICHA, text="STOCK")])
        assert result.error is None, result.error
    assert [s.text for s in fake.sent] == ["STOCK", "STOCK"]
    if fake.mode == "oauth2":
        assert fake.tokens_issued == 1  # fetched once, reused until it nears its expiry


def test_wrong_credentials_are_refused_and_not_retried(fake: FakeGeneric) -> None:
    provider = _provider(fake, **WRONG[fake.mode])
    with pytest.raises(SendError) as raised:
        provider.send([SmsOut(reference=1, to=AICHA, text="STOCK")])
    # Trying again with the same wrong secret cannot help: the operator must fix the channel.
    assert not raised.value.retryable, raised.value
    assert fake.sent == []
