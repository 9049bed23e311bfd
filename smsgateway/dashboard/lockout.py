"""Sign-in lockouts, by account and by address, reserved atomically before a password check.

Three counters of failed sign-ins, each living :data:`LOCK_SECONDS` from its first failure:

* per address and account: an account that failed too often is locked for the addresses that
  failed on it, not for the coordinator signing in from her own;
* per address: an address that failed too often (trying many accounts) is locked for all;
* per account: a much higher ceiling, for an attack spread over many addresses.

An attempt is reserved on all three in one Lua script before the password is compared, and
handed back when it is right: forty sign-ins at once cannot compare more passwords than the
limit. ``request.remote_addr`` is the client's address once the app trusts its proxies.
"""

from __future__ import annotations

import redis

from ..redisconn import run_script

MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS = 5
MAX_FAILURES_PER_ADDRESS = 20
MAX_FAILURES_PER_ACCOUNT = 100
LOCK_SECONDS = 15 * 60
KEY = "smsgateway:dashboard:login-failures:{}"

# KEYS: the three counters; ARGV: their limits, then the window. Returns 1 when reserved.
_RESERVE = """
for i = 1, #KEYS do
  if tonumber(redis.call('get', KEYS[i]) or '0') >= tonumber(ARGV[i]) then return 0 end
end
for i = 1, #KEYS do
  redis.call('incr', KEYS[i])
  if redis.call('ttl', KEYS[i]) < 0 then redis.call('expire', KEYS[i], ARGV[#KEYS + 1]) end
end
return 1
"""
# KEYS: pair, address, account. A right password clears the pair and hands back its attempt.
_REFUND = """
redis.call('del', KEYS[1])
for i = 2, #KEYS do
  if tonumber(redis.call('get', KEYS[i]) or '0') > 0 then redis.call('decr', KEYS[i]) end
end
return 1
"""


def _keys(account: str, address: str) -> list[str]:
    return [KEY.format(f"pair:{account}|{address}"), KEY.format(f"addr:{address}"),
            KEY.format(f"account:{account}")]


def reserve(client: redis.Redis, account: str, address: str) -> bool:
    """Take one sign-in attempt for ``account`` from ``address``; False when locked."""
    limits = (MAX_FAILURES_PER_ACCOUNT_AND_ADDRESS, MAX_FAILURES_PER_ADDRESS,
              MAX_FAILURES_PER_ACCOUNT)
    return bool(run_script(client, _RESERVE, _keys(account, address), (*limits, LOCK_SECONDS)))


def succeeded(client: redis.Redis, account: str, address: str) -> None:
    """The password was right: hand the attempt back and forget this pair's failures."""
    run_script(client, _REFUND, _keys(account, address), ())
