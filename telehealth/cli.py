"""Command line: `telehealth serve | db upgrade | demo | user create | audit verify`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from telehealth.config import ConfigError, Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="telehealth", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve_cmd = sub.add_parser("serve", help="serve the web app and signaling")
    serve_cmd.add_argument("--host")
    serve_cmd.add_argument("--port", type=int)

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations")

    sub.add_parser("demo", help="seed demo data (safe to run again)")

    user = sub.add_parser("user", help="accounts")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser("create", help="create an account")
    create.add_argument("--username", required=True)
    create.add_argument(
        "--role", required=True, choices=["patient", "prescriber", "scheduler", "admin"]
    )
    create.add_argument("--password")
    create.add_argument("--full-name")
    create.add_argument("--date-of-birth")
    create.add_argument("--state")
    create.add_argument("--timezone")
    create.add_argument("--email")
    create.add_argument("--credential", choices=["MD", "DO", "NP", "PA"])
    create.add_argument("--npi")
    create.add_argument("--licensed-states", help="comma-separated, e.g. NY,NJ")
    create.add_argument("--supervising-prescriber-id", type=int)

    order = sub.add_parser("order", help="medication orders (through the in-person gate)")
    order_sub = order.add_subparsers(dest="order_command", required=True)
    place = order_sub.add_parser("place", help="place an order on a visit, as its prescriber")
    place.add_argument("--as", dest="as_user", required=True, help="the prescriber's username")
    place.add_argument("--visit", type=int, required=True)
    place.add_argument("--medication", required=True, help="catalogue id, e.g. sertraline-tablet")
    place.add_argument("--dose", required=True)
    place.add_argument("--route", required=True)
    place.add_argument("--frequency", required=True)
    place.add_argument("--quantity", required=True)
    place.add_argument("--refills", type=int, default=0)
    place.add_argument("--instructions", default="")

    aud = sub.add_parser("audit", help="audit trail")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    aud_sub.add_parser("verify", help="check the hash chain")

    args = parser.parse_args(argv)
    try:
        settings = load_settings(**_overrides(args))
    except ConfigError as exc:
        print(f"telehealth: {exc}", file=sys.stderr)
        return 2

    if args.command == "serve":
        from telehealth.server import serve

        serve(settings)
        return 0
    if args.command == "db":
        from telehealth.migrate import upgrade

        upgrade(settings.sqlalchemy_url)
        print("Database is up to date.")
        return 0
    if args.command == "demo":
        from telehealth.demo import seed_demo

        return _run(settings, seed_demo)
    if args.command == "user":
        return _run(settings, lambda s, sm: _create_user(args, sm))
    if args.command == "order":
        return _run(settings, lambda s, sm: _place_order(args, s, sm))
    if args.command == "audit":
        return _run(settings, _verify_audit)
    return 2  # pragma: no cover - argparse rejects other commands


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if getattr(args, "host", None):
        out["host"] = args.host
    if getattr(args, "port", None):
        out["port"] = args.port
    return out


def _run(settings: Settings, job: Callable[[Settings, Any], Awaitable[int]]) -> int:
    from telehealth.db import make_engine, make_sessionmaker

    async def go() -> int:
        engine = make_engine(settings.sqlalchemy_url)
        try:
            return await job(settings, make_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _create_user(args: argparse.Namespace, sessionmaker: Any) -> int:
    from telehealth import audit
    from telehealth.auth.service import create_user
    from telehealth.db import utcnow
    from telehealth.errors import DomainError
    from telehealth.uow import unit_of_work

    password = args.password
    if password is None and args.role != "patient" and sys.stdin.isatty():
        password = getpass.getpass("Password: ")
    data: dict[str, Any] = {
        "username": args.username,
        "role": args.role,
        "password": password,
        "full_name": args.full_name or args.username,
        "date_of_birth": args.date_of_birth,
        "state": args.state,
        "timezone": args.timezone,
        "email": args.email,
        "credential": args.credential,
        "npi": args.npi,
        "licensed_states": args.licensed_states.split(",") if args.licensed_states else None,
        "supervising_prescriber_id": args.supervising_prescriber_id,
    }
    context = audit.AuditContext(role="operator", source_address="cli")
    try:
        async with unit_of_work(sessionmaker, context) as session:
            user = await create_user(session, actor=None, data=data, now=utcnow())
    except DomainError as exc:
        print(f"telehealth: {exc.message}", file=sys.stderr)
        return 1
    print(f"Created {args.role} {user.username} with id {user.id}.")
    return 0


async def _place_order(args: argparse.Namespace, settings: Settings, sessionmaker: Any) -> int:
    """The console path to an order: the same service, the same gate, the same audit."""
    from sqlmodel import col, select

    from telehealth import audit
    from telehealth.auth.models import User
    from telehealth.auth.policy import Actor
    from telehealth.db import utcnow
    from telehealth.errors import DomainError
    from telehealth.uow import unit_of_work
    from telehealth.visits.gate import GatePolicy, packaged_catalogue
    from telehealth.visits.orders import place_order

    context = audit.AuditContext(source_address="cli")
    try:
        async with unit_of_work(sessionmaker, context) as session:
            user = (
                await session.execute(
                    select(User).where(col(User.username) == args.as_user.lower())
                )
            ).scalar_one_or_none()
            if user is None or user.id is None or not user.is_active:
                print("telehealth: no active account by that username.", file=sys.stderr)
                return 1
            # Recorded as the prescriber's order, placed by the operator at the console.
            context.user_id, context.role = user.id, "operator"
            actor = Actor(user_id=user.id, role=user.role, username=user.username)
            order, decision = await place_order(
                session,
                actor=actor,
                visit_id=args.visit,
                data={
                    "medication_id": args.medication,
                    "dose": args.dose,
                    "route": args.route,
                    "frequency": args.frequency,
                    "quantity": args.quantity,
                    "refills": args.refills,
                    "instructions": args.instructions,
                },
                now=utcnow(),
                policy=GatePolicy.from_settings(settings),
                catalogue=packaged_catalogue(),
            )
    except DomainError as exc:
        print(f"telehealth: refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 3 if exc.code == "in_person_required" else 1
    schedule = f"Schedule {order.schedule}" if order.schedule else "not controlled"
    print(f"Ordered {order.medication_name} ({schedule}) as order {order.id}; {decision.message}")
    return 0


async def _verify_audit(_settings: Settings, sessionmaker: Any) -> int:
    from telehealth import audit

    async with sessionmaker() as session:
        result = await audit.verify(session)
    if result.ok:
        print(f"Audit trail intact: {result.checked} entries verified.")
        return 0
    print(
        f"Audit trail BROKEN at entry {result.first_bad_seq}: {result.problem} "
        f"({result.checked} entries verified before it).",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
