"""A rate limiter shared by every worker: one bucket per provider and sender, in Redis.

It counts segments, not messages (providers bill and throttle per segment). The algorithm is
GCRA, the token bucket written as one timestamp: each reservation pushes the bucket's
"theoretical arrival time" forward by cost/rate, and the caller waits until that time is
within one second's burst of now. A reservation that would wait longer than the caller allows
is not made, so a job can hand its work back to the queue instead of holding a worker.
"""

from __future__ import annotations

import redis

KEY = "smsgateway:ratelimit:{provider}:{sender}"

_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local max_wait = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + cost / rate
local wait = new_tat - now - burst / rate
if wait < 0 then wait = 0 end
if wait > max_wait then return {0, tostring(wait)} end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
return {1, tostring(wait)}
"""


class RateLimiter:
    """Reserve capacity in a provider's bucket before each request."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.script = client.register_script(_SCRIPT)

    def reserve(self, provider: str, sender: str | None, segments: int, rate: float,
                max_wait: float) -> tuple[bool, float]:
        """(reserved, seconds to wait before sending); not reserved if the wait > max_wait."""
        key = KEY.format(provider=provider, sender=sender or "-")
        # One second's worth of burst, and never less than one request's worth.
        burst = max(rate, 1.0)
        reserved, wait = self.script(keys=[key], args=[rate, burst, max(segments, 1), max_wait])
        return bool(int(reserved)), float(wait)


DAY_KEY = "smsgateway:quota:{bucket}:{sender}:{day}"


class DailyQuota:
    """Segments a channel sent today (the carrier's daily cap on a SIM), shared by workers."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def used(self, bucket: str, sender: str | None, day: str) -> int:
        """Segments counted so far on ``day`` (YYYY-MM-DD, local)."""
        value = self.client.get(DAY_KEY.format(bucket=bucket, sender=sender or "-", day=day))
        return int(value or 0)

    def spend(self, bucket: str, sender: str | None, day: str, segments: int) -> None:
        """Count ``segments`` sent on ``day``."""
        key = DAY_KEY.format(bucket=bucket, sender=sender or "-", day=day)
        with self.client.pipeline() as pipe:
            pipe.incrby(key, segments)
            pipe.expire(key, 2 * 86400)
            pipe.execute()
