#!/usr/bin/python3
"""Time to the first step of `adjc MODEL --run --steps 1` (issue 17): runs
each ADJC binary given (e.g. a build before and after a change) RUNS times,
alternating, with one object cache directory per binary (warmed by one
unmeasured run unless --cold, which empties it before every run), and prints
per binary the medians of the process's wall time, its user+sys CPU time,
the report's compile_seconds and, when the report has it,
time_to_first_step. The load average is printed too: on a shared machine
compare figures of one run of this script.

usage: bench/first_step.py [--cold] [--runs N] [--model M] ADJC..."""
import json, os, shutil, statistics, subprocess, sys, tempfile, time

args = sys.argv[1:]
cold = "--cold" in args
args = [a for a in args if a != "--cold"]
runs, model = 9, "examples/mnist_mlp.adj"
while args and args[0] in ("--runs", "--model"):
    if args[0] == "--runs":
        runs = int(args[1])
    else:
        model = args[1]
    args = args[2:]
if not args:
    sys.exit(__doc__)
tmp = tempfile.mkdtemp(prefix="first_step.")
rows = {a: {"wall": [], "cpu": [], "compile": [], "ttfs": []} for a in args}


def run(adjc, i):
    cache = os.path.join(tmp, f"cache{i}")
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    report = os.path.join(tmp, "r.json")
    env = dict(os.environ, ADJ_CACHE_DIR=cache)
    start = time.monotonic()
    p = subprocess.Popen([adjc, model, "--run", "--steps", "1", "--quiet",
                          "--report", report], env=env,
                         stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit(f"{adjc} failed ({status})")
    return wall, ru.ru_utime + ru.ru_stime, json.load(open(report))


for i, a in enumerate(args):
    if not cold:
        run(a, i)
for _ in range(runs):
    for i, a in enumerate(args):
        wall, cpu, r = run(a, i)
        rows[a]["wall"].append(wall)
        rows[a]["cpu"].append(cpu)
        rows[a]["compile"].append(r["compile_seconds"])
        if "time_to_first_step" in r:
            rows[a]["ttfs"].append(r["time_to_first_step"])
        rows[a]["cache"] = r.get("object_cache")
shutil.rmtree(tmp, ignore_errors=True)
print(f"{model}, {'cold' if cold else 'warm'} cache, medians of {runs} "
      f"(load average {os.getloadavg()[0]:.2f}):")
ms = lambda v: f"{1000 * statistics.median(v):.1f} ms" if v else "-"
for a in args:
    r = rows[a]
    print(f"  {a}: object cache {r['cache']}; process wall {ms(r['wall'])}, "
          f"user+sys {ms(r['cpu'])}, compile_seconds {ms(r['compile'])}, "
          f"time_to_first_step {ms(r['ttfs'])} "
          f"(range {ms([min(r['ttfs'])]) if r['ttfs'] else '-'}"
          f"–{ms([max(r['ttfs'])]) if r['ttfs'] else '-'})")
