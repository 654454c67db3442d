#!/usr/bin/python3
"""Runs a training command and checks the time_to_first_step of its report:
usage `first_step.py REPORT.json [--compiled] -- COMMAND...`. The field must
be a positive number of seconds no larger than the command's whole run as
measured here (it counts from the process's start); with --compiled (adjc
--run) it must also be at least the report's compile_seconds, since the
first step runs after the compile. Prints the figures and `first step ok`;
exits 1 with the reason otherwise."""
import json, subprocess, sys, time

args = sys.argv[1:]
sep = args.index("--")
report, flags, cmd = args[0], args[1:sep], args[sep + 1:]
start = time.monotonic()
subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
total = time.monotonic() - start
r = json.load(open(report))
t = r.get("time_to_first_step")
print(f"time_to_first_step {t} total {total:.4f} compile {r['compile_seconds']}")
if not isinstance(t, (int, float)) or not 0 < t <= total:
    sys.exit(f"time_to_first_step {t!r} is not in (0, {total:.4f}]")
if "--compiled" in flags and t < r["compile_seconds"]:
    sys.exit(f"time_to_first_step {t} < compile_seconds {r['compile_seconds']}")
print("first step ok")
