"""Sessions and login counters in Redis: shared by every portal process on every machine."""
from __future__ import annotations

import math
import time

PREFIX = "cpp:"

# INCR and the window's expiry in one step, so no attempt is ever counted outside a window.
COUNT_ATTEMPT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return hits
"""
# Delete the lock only if it is still ours (it may have run out and been taken by another).
RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
UNCOUNT_ATTEMPT = """
if (tonumber(redis.call('GET', KEYS[1]) or '0')) > 0 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisSharedState:
    def __init__(self, url: str):
        import redis  # only portals with REDIS_URL load the client (some 7 MB)

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        self._count = self.redis.register_script(COUNT_ATTEMPT)
        self._uncount = self.redis.register_script(UNCOUNT_ATTEMPT)
        self._release = self.redis.register_script(RELEASE_LOCK)

    def load_session(self, key: str) -> str | None:
        raw = self.redis.get(PREFIX + "session:" + key)
        return raw.decode() if raw else None

    def save_session(self, key: str, data: str, expires_at: float) -> None:
        ttl_ms = max(1, math.ceil((expires_at - time.time()) * 1000))
        self.redis.set(PREFIX + "session:" + key, data, px=ttl_ms)

    def delete_session(self, key: str) -> None:
        self.redis.delete(PREFIX + "session:" + key)

    def count_attempt(self, key: str, window_seconds: float) -> int:
        return int(self._count(keys=[PREFIX + "login:" + key],
                               args=[math.ceil(window_seconds * 1000)]))

    def uncount_attempt(self, key: str) -> None:
        self._uncount(keys=[PREFIX + "login:" + key])

    def take_lock(self, name: str, holder: str, seconds: float) -> bool:
        return bool(self.redis.set(PREFIX + "lock:" + name, holder, nx=True,
                                   px=math.ceil(seconds * 1000)))

    def release_lock(self, name: str, holder: str) -> None:
        self._release(keys=[PREFIX + "lock:" + name], args=[holder])
