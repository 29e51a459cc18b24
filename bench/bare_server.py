"""The baseline: bare aiohttp + asyncpg answering the bench's three routes with the same
queries the platform needs (session and user, visit with its two people, one audit entry
chained to the head in the same transaction). No middleware, no ORM.

    .venv/bin/python bench/bare_server.py POSTGRES_DSN PORT
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

IDLE = timedelta(minutes=15)
POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)

SESSION_SQL = """
SELECT s.id, s.user_id, s.ended_at, s.last_seen_at, u.username, u.role, u.full_name,
       u.is_active
FROM user_sessions s JOIN users u ON u.id = s.user_id
WHERE s.token_hash = $1
"""
VISIT_SQL = """
SELECT v.id, v.status, v.start, v."end", v.modality, v.visit_type, v.sequence,
       v.patient_id, v.prescriber_id, pu.full_name AS patient_name, pp.timezone AS patient_tz,
       pp.state AS patient_state, ru.full_name AS prescriber_name, rp.timezone AS prescriber_tz
FROM visits v
JOIN users pu ON pu.id = v.patient_id
LEFT JOIN patient_profiles pp ON pp.user_id = v.patient_id
JOIN users ru ON ru.id = v.prescriber_id
LEFT JOIN prescriber_profiles rp ON rp.user_id = v.prescriber_id
WHERE v.id = $1 AND (v.prescriber_id = $2 OR v.patient_id = $2)
"""
# As telehealth.audit.flush on PostgreSQL: one UPDATE ... RETURNING locks the head and moves
# its count on; the entry is signed (HMAC-SHA256) in memory; one statement inserts it and
# writes the head's new link.
BUMP_SQL = "UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash"
INSERT_SQL = """
WITH moved_head AS (UPDATE audit_head SET hash = $11 WHERE id = 1 RETURNING id)
INSERT INTO audit_entries (seq, at, user_id, role, action, patient_id, resource_type,
  resource_id, outcome, source_address, request_id, detail, prev_hash, hash)
VALUES ($1, $2, $3, $4, 'read', $5, 'visit', $6, 'success', $7, $8, $9, $10, $11)
"""
KEY = b"bench-audit-key-of-the-bare-baseline-server"


async def session_of(conn: asyncpg.Connection, request: web.Request) -> asyncpg.Record | None:
    token = request.cookies.get("th_session")
    if not token:
        return None
    row = await conn.fetchrow(SESSION_SQL, hashlib.sha256(token.encode()).hexdigest())
    if row is None or row["ended_at"] is not None or not row["is_active"]:
        return None
    if datetime.now(UTC) - row["last_seen_at"].replace(tzinfo=UTC) > IDLE:
        return None
    return row


def unauthenticated() -> web.Response:
    return web.json_response(
        {"error": {"code": "unauthenticated", "message": "Sign in."}}, status=401
    )


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def me(request: web.Request) -> web.Response:
    async with request.app[POOL].acquire() as conn:
        row = await session_of(conn, request)
    if row is None:
        return unauthenticated()
    return web.json_response(
        {
            "id": row["user_id"],
            "username": row["username"],
            "role": row["role"],
            "full_name": row["full_name"],
        }
    )


async def visit(request: web.Request) -> web.Response:
    visit_id = int(request.match_info["id"])
    async with request.app[POOL].acquire() as conn, conn.transaction():
        who = await session_of(conn, request)
        if who is None:
            return unauthenticated()
        v = await conn.fetchrow(VISIT_SQL, visit_id, who["user_id"])
        if v is None:
            return web.json_response({"error": {"code": "not_found"}}, status=404)
        head = await conn.fetchrow(BUMP_SQL)
        seq = head["seq"]
        at = datetime.now(UTC)
        fields: dict[str, Any] = {
            "seq": seq,
            "at": at.isoformat(),
            "user_id": who["user_id"],
            "role": who["role"],
            "action": "read",
            "patient_id": v["patient_id"],
            "resource_type": "visit",
            "resource_id": str(visit_id),
            "outcome": "success",
            "source_address": request.remote,
            "request_id": None,
            "detail": {},
        }
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
        digest = hmac.new(KEY, (head["hash"] + canonical).encode(), hashlib.sha256).hexdigest()
        await conn.execute(
            INSERT_SQL,
            seq,
            at.replace(tzinfo=None),
            who["user_id"],
            who["role"],
            v["patient_id"],
            str(visit_id),
            request.remote,
            None,
            "{}",
            head["hash"],
            digest,
        )
    return web.json_response(
        {
            "id": v["id"],
            "status": v["status"],
            "start": v["start"].isoformat(),
            "end": v["end"].isoformat(),
            "modality": v["modality"],
            "visit_type": v["visit_type"],
            "sequence": v["sequence"],
            "patient": {
                "id": v["patient_id"],
                "full_name": v["patient_name"],
                "timezone": v["patient_tz"],
                "state": v["patient_state"],
            },
            "prescriber": {
                "id": v["prescriber_id"],
                "full_name": v["prescriber_name"],
                "timezone": v["prescriber_tz"],
            },
        }
    )


async def open_pool(app: web.Application) -> Any:
    app[POOL] = await asyncpg.create_pool(DSN, min_size=5, max_size=10)
    yield
    await app[POOL].close()


DSN = sys.argv[1] if len(sys.argv) > 1 else "postgresql://postgres@127.0.0.1:5432/test"

if __name__ == "__main__":
    app = web.Application()
    app.cleanup_ctx.append(open_pool)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/api/me", me)
    app.router.add_get("/api/visits/{id}", visit)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
