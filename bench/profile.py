"""Profile the pinned platform server under wrk load with py-spy (a dev dependency).

    .venv/bin/python bench/profile.py /api/me [--seconds 10] [--signaling 200]

Writes collapsed stacks to bench/results/profile-*.txt and prints where the time goes:
the functions most often on top of the stack (own time) and the project's functions most
often anywhere on it (inclusive time).
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ratios


def summarise(collapsed: Path, top: int = 25) -> str:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a frame name with a line break in it
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [f"{total} samples", "", "own time:"]
    out += [f"  {n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive (telehealth, sqlalchemy, socketio, engineio, aiohttp):"]
    keep = ("telehealth", "sqlalchemy", "socketio", "engineio", "aiohttp/web", "asyncpg")
    ranked = [(f, n) for f, n in inclusive.most_common() if any(k in f for k in keep)]
    out += [f"  {n / total:6.1%}  {f}" for f, n in ranked[:top]]
    return "\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default="/api/me")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--signaling", type=int, default=0, help="visits (instead of HTTP)")
    args = parser.parse_args()
    url, dsn = ratios.database()
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}"
    out = ratios.BENCH / "results" / f"profile-{stamp}.txt"
    out.parent.mkdir(exist_ok=True)
    try:
        port = ratios.free_port()
        env = ratios.platform_env(url, port)
        py = sys.executable
        subprocess.run([py, "-m", "telehealth", "db", "upgrade"], env=env, check=True)
        seeded = json.loads(
            subprocess.run(
                [py, str(ratios.BENCH / "seed.py"), url, str(max(1, args.signaling))],
                env=env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        base = f"http://127.0.0.1:{port}"
        with ratios.server([py, "-m", "telehealth", "serve"], base + "/readyz", env) as proc:
            spy = subprocess.Popen(
                [
                    str(Path(py).parent / "py-spy"),
                    "record",
                    "--pid",
                    str(proc.pid),
                    "--format",
                    "raw",
                    "--output",
                    str(out),
                    "--rate",
                    "200",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if args.signaling:
                tokens = {
                    "patient": seeded["patient_token"],
                    "prescriber": seeded["prescriber_token"],
                }
                print(ratios.signal_load(base, seeded["visits"], tokens, proc.pid, args.seconds))
            else:
                path = args.path.format(id=seeded["visits"][0])
                print(ratios.wrk(base + path, args.seconds, seeded["prescriber_token"]))
            spy.send_signal(2)
            spy.wait(timeout=60)
    finally:
        ratios.drop(dsn)
    print(summarise(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
