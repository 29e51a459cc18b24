"""Command line: `telehealth serve | db upgrade|backup|restore | demo | user create |
order place|import | audit verify|checkpoint|restored`."""

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
    backup_cmd = db_sub.add_parser(
        "backup", help="copy the database to a file while the server keeps serving"
    )
    backup_cmd.add_argument("path")
    restore_cmd = db_sub.add_parser(
        "restore",
        help="replace the database with a backup (stop the server first); the restore is "
        "recorded in the audit trail",
    )
    restore_cmd.add_argument("path")
    restore_cmd.add_argument(
        "--taken-at", help="when the backup was taken (ISO 8601); default: the file's time"
    )

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
    imp = order_sub.add_parser(
        "import",
        help="place many orders from a CSV file, each through the same gate as `place`",
        description=(
            "Columns (header row required): visit_id, medication_id, dose, route, frequency, "
            "quantity, and optionally refills and instructions. Each row is its own order: "
            "a refused row is reported and audited, and the other rows still go in."
        ),
    )
    imp.add_argument("--as", dest="as_user", required=True, help="the prescriber's username")
    imp.add_argument("file", help="CSV file, or - for standard input")

    aud = sub.add_parser("audit", help="audit trail")
    aud_sub = aud.add_subparsers(dest="audit_command", required=True)
    aud_sub.add_parser("verify", help="check the keyed chain against its checkpoints")
    aud_sub.add_parser("checkpoint", help="write a signed checkpoint of the chain head now")
    restored = aud_sub.add_parser(
        "restored",
        help="record, signed into the trail, that the database was restored from a backup "
        "(the checkpoints ahead of it are then expected)",
    )
    restored.add_argument("--taken-at", required=True, help="when the backup was taken")

    args = parser.parse_args(argv)
    try:
        settings = load_settings(**_overrides(args))
    except ConfigError as exc:
        print(f"telehealth: {exc}", file=sys.stderr)
        return 2

    if args.command == "serve":
        from telehealth.audit import AuditKeyMismatch
        from telehealth.server import serve

        try:
            serve(settings)
        except AuditKeyMismatch as exc:
            print(f"telehealth: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "db" and args.db_command in ("backup", "restore"):
        return _backup_or_restore(args, settings)
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
    if args.command == "order" and args.order_command == "import":
        text = _read_import(args.file)
        if text is None:
            return 1
        return _run(settings, lambda s, sm: _import_orders(args, text, s, sm))
    if args.command == "order":
        return _run(settings, lambda s, sm: _place_order(args, s, sm))
    if args.command == "audit" and args.audit_command == "checkpoint":
        return _run(settings, _write_checkpoint)
    if args.command == "audit" and args.audit_command == "restored":
        return _run(settings, lambda s, sm: _record_restore(sm, args.taken_at))
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
            return await job(settings, make_sessionmaker(engine, audit_key=settings.chain_key()))
        finally:
            await engine.dispose()

    return asyncio.run(go())


async def _create_user(args: argparse.Namespace, sessionmaker: Any) -> int:
    from telehealth import audit
    from telehealth.auth.accounts import create_user
    from telehealth.db import utcnow
    from telehealth.errors import DomainError
    from telehealth.http.models.auth import NewUser
    from telehealth.http.schema import validate
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
        account = validate(NewUser, data).account()
        async with unit_of_work(sessionmaker, context) as session:
            user = await create_user(session, actor=None, account=account, now=utcnow())
    except DomainError as exc:
        print(f"telehealth: {exc.message}", file=sys.stderr)
        return 1
    print(f"Created {args.role} {user.username} with id {user.id}.")
    return 0


async def _order_as(
    sessionmaker: Any, settings: Settings, username: str, visit_id: Any, data: dict[str, Any]
) -> tuple[Any, Any]:
    """Place one order as `username`, in its own transaction: the same service, the same
    gate, the same audit as the page and the API. Raises DomainError on refusal."""
    from sqlmodel import col, select

    from telehealth import audit
    from telehealth.auth.models import User
    from telehealth.auth.policy import Actor
    from telehealth.db import utcnow
    from telehealth.errors import PermissionDenied
    from telehealth.uow import unit_of_work
    from telehealth.visits.catalogue_file import packaged_catalogue
    from telehealth.visits.gate.policy import GatePolicy
    from telehealth.visits.orders import OrderInput, place_order

    context = audit.AuditContext(source_address="cli")
    async with unit_of_work(sessionmaker, context) as session:
        user = (
            await session.execute(select(User).where(col(User.username) == username.lower()))
        ).scalar_one_or_none()
        if user is None or user.id is None or not user.is_active:
            raise PermissionDenied("No active account by that username.", code="no_account")
        # Recorded as the prescriber's order, placed by the operator at the console.
        context.user_id, context.role = user.id, "operator"
        actor = Actor(user_id=user.id, role=user.role, username=user.username)
        return await place_order(
            session,
            actor=actor,
            visit_id=visit_id,
            order=OrderInput(**data),
            now=utcnow(),
            policy=GatePolicy.from_settings(settings),
            catalogue=packaged_catalogue(),
        )


def _ordered(order: Any, decision: Any) -> str:
    schedule = f"Schedule {order.schedule}" if order.schedule else "not controlled"
    return f"Ordered {order.medication_name} ({schedule}) as order {order.id}; {decision.message}"


async def _place_order(args: argparse.Namespace, settings: Settings, sessionmaker: Any) -> int:
    """The console path to an order: the same service, the same gate, the same audit."""
    from telehealth.errors import DomainError

    data = {
        "medication_id": args.medication,
        "dose": args.dose,
        "route": args.route,
        "frequency": args.frequency,
        "quantity": args.quantity,
        "refills": args.refills,
        "instructions": args.instructions,
    }
    try:
        order, decision = await _order_as(sessionmaker, settings, args.as_user, args.visit, data)
    except DomainError as exc:
        if exc.code == "no_account":
            print("telehealth: no active account by that username.", file=sys.stderr)
            return 1
        print(f"telehealth: refused ({exc.code}): {exc.message}", file=sys.stderr)
        return 3 if exc.code == "in_person_required" else 1
    print(_ordered(order, decision))
    return 0


IMPORT_COLUMNS = ("visit_id", "medication_id", "dose", "route", "frequency", "quantity")
IMPORT_OPTIONAL = ("refills", "instructions")
MAX_IMPORT_ROWS = 5000


def _read_import(path: str) -> str | None:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8-sig", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        print(f"telehealth: cannot read {path}: {reason}", file=sys.stderr)
        return None


async def _import_orders(
    args: argparse.Namespace, text: str, settings: Settings, sessionmaker: Any
) -> int:
    """Orders from a CSV file, one transaction per row, every row through the gate.

    Exit status: 0 when every row was ordered; 3 when the gate refused any (and nothing
    else went wrong); 1 when any row was malformed or refused for another reason.
    """
    import csv
    import io

    from telehealth.errors import DomainError

    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in IMPORT_COLUMNS if c not in header]
    unknown = [c for c in header if c not in IMPORT_COLUMNS + IMPORT_OPTIONAL]
    if missing or unknown:
        problems = []
        if missing:
            problems.append("missing columns: " + ", ".join(missing))
        if unknown:
            problems.append("unknown columns: " + ", ".join(unknown))
        print(
            f"telehealth: {args.file}: {'; '.join(problems)}. The header row must name "
            f"{', '.join(IMPORT_COLUMNS)} (and may add {', '.join(IMPORT_OPTIONAL)}).",
            file=sys.stderr,
        )
        return 1
    rows = list(reader)
    if len(rows) > MAX_IMPORT_ROWS:
        print(
            f"telehealth: {args.file} has {len(rows)} rows; import at most "
            f"{MAX_IMPORT_ROWS} at a time (split the file).",
            file=sys.stderr,
        )
        return 1
    placed = gate_refused = failed = 0
    for number, raw in enumerate(rows, start=2):  # line 1 is the header
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if None in raw:
            print(f"line {number}: refused (invalid_input): more fields than columns.")
            failed += 1
            continue
        try:
            visit_id = int(row["visit_id"])
            refills = int(row.get("refills") or 0)
        except ValueError:
            print(f"line {number}: refused (invalid_input): visit_id and refills must be numbers.")
            failed += 1
            continue
        data = {k: row.get(k, "") for k in (*IMPORT_COLUMNS[1:], "instructions")}
        data["refills"] = refills
        try:
            order, decision = await _order_as(sessionmaker, settings, args.as_user, visit_id, data)
        except DomainError as exc:
            if exc.code == "no_account":
                print("telehealth: no active account by that username.", file=sys.stderr)
                return 1
            print(f"line {number}: refused ({exc.code}): {exc.message}")
            if exc.code == "in_person_required":
                gate_refused += 1
            else:
                failed += 1
            continue
        print(f"line {number}: {_ordered(order, decision)}")
        placed += 1
    print(
        f"{placed} ordered, {gate_refused} refused by the in-person rule, "
        f"{failed} refused for other reasons ({len(rows)} rows)."
    )
    if failed:
        return 1
    return 3 if gate_refused else 0


async def _verify_audit(settings: Settings, sessionmaker: Any) -> int:
    from telehealth import checkpoints

    path = settings.checkpoint_path
    key = settings.chain_key().encode()
    try:
        found = checkpoints.read(path, key)
    except checkpoints.CheckpointError as exc:
        print(f"Audit checkpoints BROKEN: {exc}.", file=sys.stderr)
        return 1
    async with sessionmaker() as session:
        result = await checkpoints.verify(session, key, found)
    for note in result.notes:
        print(f"note: {note}")
    if not found:
        print(
            f"note: no checkpoints in {path}: entries cut from the end cannot be noticed "
            "(TELEHEALTH_AUDIT_CHECKPOINT_FILE)"
        )
    if result.ok:
        print(f"Audit trail intact: {result.checked} entries verified.")
        return 0
    print(
        f"Audit trail BROKEN at entry {result.first_bad_seq}: {result.problem} "
        f"({result.checked} entries verified before it).",
        file=sys.stderr,
    )
    return 1


async def _write_checkpoint(settings: Settings, sessionmaker: Any) -> int:
    from telehealth import audit, checkpoints

    await audit.check_key(sessionmaker)  # a trail from before the key: sign it first
    position = await checkpoints.write(sessionmaker, settings.checkpoint_path)
    if position is None:
        print("The audit trail is empty: no checkpoint written.")
        return 0
    print(f"Checkpoint of entry {position[0]} written to {settings.checkpoint_path}.")
    return 0


async def _record_restore(sessionmaker: Any, taken_at: str) -> int:
    from telehealth import audit
    from telehealth.uow import unit_of_work

    context = audit.AuditContext(role="operator", source_address="cli")
    async with unit_of_work(sessionmaker, context) as session:
        restored_seq = await audit.record_restore(session, backup_taken_at=taken_at)
    print(
        f"Recorded in the audit trail: restored from a backup taken at {taken_at} "
        f"(its trail ends at entry {restored_seq})."
    )
    return 0


def _backup_or_restore(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime
    from pathlib import Path

    from telehealth.backup import BackupError, backup, restore

    path = Path(args.path)
    try:
        if args.db_command == "backup":
            backup(settings.sqlalchemy_url, path)
            print(f"Backed up to {path}.")
            return 0
        restore(settings.sqlalchemy_url, path)
    except BackupError as exc:
        print(f"telehealth: {exc}", file=sys.stderr)
        return 1
    taken_at = args.taken_at or (
        datetime.fromtimestamp(path.stat().st_mtime, UTC).isoformat(timespec="seconds")
    )
    print(f"Restored from {path}.")
    return _run(settings, lambda s, sm: _record_restore(sm, taken_at))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
