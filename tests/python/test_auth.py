"""dashfeed.Auth: the server's JWT rules for other front doors (what the Socket.io bridge uses in Node).

Tokens are made with PyJWT; every refusal is an InvalidInputError (code ``invalid_input``) that says why.
"""

from __future__ import annotations

import time

import jwt as pyjwt
import pytest

import dashfeed

SECRET = "auth-test-secret-of-sixty-four-bytes-for-hs512-0123456789abcdef0123"


def token(**claims: object) -> str:
    return pyjwt.encode(claims, SECRET, algorithm="HS256")


def test_verify_gives_the_grant() -> None:
    auth = dashfeed.Auth(secret=SECRET)
    exp = int(time.time()) + 600
    grant = auth.verify(token(exp=exp, sub="ann", dashboards=["team-*", "ops"]))
    assert (grant.subject, grant.dashboards, grant.expires_at) == ("ann", ["team-*", "ops"], exp)
    assert grant.allows("team-a") and grant.allows("ops") and not grant.allows("billing")
    assert 590 < grant.remaining <= 600
    everything = auth.verify(token(exp=exp))
    assert everything.dashboards is None and everything.allows("anything")


@pytest.mark.parametrize(
    "bad",
    [
        "not.a.jwt",
        token(exp=int(time.time()) - 60),  # expired
        token(sub="no-exp"),  # exp is required
        pyjwt.encode({"exp": int(time.time()) + 60}, "another-secret", algorithm="HS256"),
        pyjwt.encode({"exp": int(time.time()) + 60}, SECRET, algorithm="HS512"),  # another algorithm
    ],
)
def test_refused_tokens_are_invalid_input(bad: str) -> None:
    with pytest.raises(dashfeed.InvalidInputError) as e:
        dashfeed.Auth(secret=SECRET).verify(bad)
    assert e.value.code == "invalid_input"
    assert "token refused" in str(e.value)


def test_bad_settings_are_invalid_input() -> None:
    for kwargs in ({}, {"secret": ""}, {"public_key": "not a pem"}):
        with pytest.raises(dashfeed.InvalidInputError):
            dashfeed.Auth(**kwargs)  # type: ignore[arg-type]
