"""emberkv: a Redis-compatible in-memory key-value server whose specialty is durability."""

__version__ = "0.1.0"
# The Redis version we speak for: clients and tools gate features on `redis_version` in INFO/HELLO.
REDIS_COMPAT_VERSION = "7.0.15"
