"""A worker's load of a workflow from registration's compact form, beside compiling its
YAML (issue 11: "loading and compiling a 5,000-task workflow takes under 0.3 s").

For each size, the chain of benchmarks/compile.py: the CPU time and wall clock (best /
median of `--repeat`) of compiling the YAML (`load_workflow`, what a worker without a
form does), and of what the spec warmer runs before a spec from the form is usable
(engine/temporal/spec_warmer.py `_use_form`: the YAML's SHA-256, the form's header and
checksum, msgpack decoding, every expression compiled again, the checks that the form is
the YAML's). Each load starts with an empty expression cache, as a fresh worker process.
Also: the form's size, the same load when every expression text is distinct (the worst
case: nothing shared), and, with `--postgres` (a server URL), the wall clock of reading
the form from PostgreSQL (`get_compiled_form`, async I/O in the codec, before the
decoding), in a database of its own that it creates and drops.
Not counted in either: parsing the start input's JSON, which the warmer does either way.

    python benchmarks/compact_load.py --tasks 5000 --repeat 7
    python benchmarks/compact_load.py --tasks 5000 --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compile import chain, seconds

from engine.language.compact import compiler_fingerprint, form_of
from engine.language.loader import load_workflow
from engine.store.workflows import CompiledForm
from engine.temporal import compiled
from engine.temporal.spec_warmer import _use_form


def from_form(text: str, form: CompiledForm) -> None:
    if not _use_form(("chain", "1", text), form):
        raise SystemExit("the form was not used: the benchmark measures nothing")


def line(label: str, walls: list[float], cpus: list[float]) -> str:
    return (
        f"  {label:<28} wall {min(walls):.3f} / {statistics.median(walls):.3f}   "
        f"CPU {min(cpus):.3f} / {statistics.median(cpus):.3f}"
    )


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A database of its own on the server, dropped afterwards: never the server's own."""
    name = f"segue_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(sql.Identifier(name)))


async def read_time(url: str, text: str, form: bytes, repeat: int) -> list[float]:
    from engine.store import get_compiled_form, open_pool, register_workflow_version

    pool = await open_pool(url)
    try:
        digest = hashlib.sha256(text.encode()).hexdigest()
        version = await register_workflow_version(pool, "bench", text, digest, form)
        times = []
        for _ in range(repeat):
            began = time.perf_counter()
            assert await get_compiled_form(pool, "bench", version.version) is not None
            times.append(time.perf_counter() - began)
        return times
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, nargs="*", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=5, help="loads timed per size")
    parser.add_argument("--postgres", help="a server URL: also time reading the form from it")
    args = parser.parse_args()
    began = time.process_time()
    compiler_fingerprint()
    print(f"load average {os.getloadavg()[0]:.2f} (2 shared cores here)")
    print(f"compiler fingerprint, once per process: {1000 * (time.process_time() - began):.1f} ms")
    print("seconds, best / median")
    for count in args.tasks:
        for distinct in (False, True):
            text = chain(count, distinct=distinct)
            spec = load_workflow(text, "chain.yaml", "chain")
            form = form_of(spec)
            assert form is not None
            stored = CompiledForm(spec.content_hash, form)
            kind = "distinct expressions" if distinct else "shared expressions"
            print(f"{count} tasks, {kind}: YAML {len(text):,} bytes, form {len(form):,} bytes")
            compile_yaml = partial(load_workflow, text, "chain.yaml", "chain")
            print(line("compile the YAML", *seconds(compile_yaml, args.repeat)))
            print(
                line(
                    "load the stored form", *seconds(partial(from_form, text, stored), args.repeat)
                )
            )
            if args.postgres and not distinct:
                with scratch_database(args.postgres) as url:
                    reads = asyncio.run(read_time(url, text, form, args.repeat))
                best, median = min(reads), statistics.median(reads)
                print(f"  {'read the form (PostgreSQL)':<28} wall {best:.3f} / {median:.3f}")
    print(f"specs decoded: {compiled.LOADS['stored form']}")


if __name__ == "__main__":
    main()
