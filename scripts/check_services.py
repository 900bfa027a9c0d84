"""Stop at once, with the way out, when PostgreSQL or Redis is not reachable."""

from __future__ import annotations

import os
import sys

import psycopg2
import redis

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
HINT = (
    "Start them with `docker compose up -d db redis`, or with this machine's own services, then "
    "run the command again. DATABASE_URL and REDIS_URL point elsewhere."
)


def main() -> int:
    problems = []
    try:
        # The test database itself is created by the suite; reach the server's default database.
        url = DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
        psycopg2.connect(url, connect_timeout=3).close()
    except psycopg2.Error as exc:
        problems.append(f"PostgreSQL at {DATABASE_URL} does not answer: {str(exc).strip()}")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        problems.append(f"Redis at {REDIS_URL} does not answer: {exc}")
    if problems:
        print("\n".join(problems), file=sys.stderr)
        print(HINT, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
