#!/usr/bin/python3
"""Time to the first step of `adjc MODEL --run --steps 1` (issue 17): runs
each ADJC binary given (e.g. a build before and after a change) RUNS times,
alternating, with one object cache directory per binary (warmed by one
unmeasured run unless --cold, which empties it before every run), and prints
per binary the medians of the process's wall time, its user+sys CPU time,
the report's compile_seconds and, when the report has it,
time_to_first_step, and whether the compile was tiered (the report has
jit_quick_steps). The load average is printed too: on a shared machine
compare figures of one run of this script.

--no-cache runs with ADJ_NO_CACHE=1 (as bench/run.sh times the JIT compile),
--compile-threads N sets ADJ_COMPILE_THREADS, --args "..." appends options
to adjc's command line (e.g. a small test split for the CNNs). With
--no-cache the median of the compile threads' CPU time is printed too (the
-time-passes note "llvm cpu seconds per part": its sum and its longest
part), which unlike wall time does not grow with the machine's load: with
tiered compilation, the quick tier's (the critical path's).

usage: bench/first_step.py [--cold] [--no-cache] [--runs N] [--model M]
                           [--compile-threads N] [--args "..."] ADJC..."""
import json, os, re, shutil, statistics, subprocess, sys, tempfile, time

args = sys.argv[1:]
cold = "--cold" in args
nocache = "--no-cache" in args
args = [a for a in args if a not in ("--cold", "--no-cache")]
runs, model, threads, extra = 9, "examples/mnist_mlp.adj", None, []
while args and args[0] in ("--runs", "--model", "--compile-threads", "--args"):
    if args[0] == "--runs":
        runs = int(args[1])
    elif args[0] == "--model":
        model = args[1]
    elif args[0] == "--compile-threads":
        threads = args[1]
    else:
        extra = args[1].split()
    args = args[2:]
if not args:
    sys.exit(__doc__)
tmp = tempfile.mkdtemp(prefix="first_step.")
rows = {a: {"wall": [], "cpu": [], "compile": [], "ttfs": [], "llvm": [],
            "longest": [], "quick": []} for a in args}


def run(adjc, i):
    cache = os.path.join(tmp, f"cache{i}")
    if cold:
        shutil.rmtree(cache, ignore_errors=True)
    report = os.path.join(tmp, "r.json")
    env = dict(os.environ, ADJ_CACHE_DIR=cache)
    if nocache:
        env["ADJ_NO_CACHE"] = "1"
    if threads:
        env["ADJ_COMPILE_THREADS"] = threads
    timing = os.path.join(tmp, "timing.txt")
    start = time.monotonic()
    with open(timing, "w") as err:
        p = subprocess.Popen([adjc, model, "--run", "--steps", "1", "--quiet",
                              "--report", report] + extra +
                             (["-time-passes"] if nocache else []), env=env,
                             stdout=subprocess.DEVNULL, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    if status != 0:
        sys.exit(f"{adjc} failed ({status})")
    r = json.load(open(report))
    for line in open(timing):
        m = re.search(r"llvm cpu seconds per part: .*\(sum ([0-9.]+), "
                      r"longest ([0-9.]+)\)", line)
        if m:
            r["llvm"], r["longest"] = float(m[1]), float(m[2])
    return wall, ru.ru_utime + ru.ru_stime, r


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
        if "llvm" in r:
            rows[a]["llvm"].append(r["llvm"])
            rows[a]["longest"].append(r["longest"])
        rows[a]["cache"] = r.get("object_cache")
        if "jit_quick_steps" in r:
            rows[a]["quick"].append(r["jit_quick_steps"])
shutil.rmtree(tmp, ignore_errors=True)
print(f"{model}, {'no' if nocache else 'cold' if cold else 'warm'} cache, "
      f"{threads or 'default'} compile threads, medians of {runs} "
      f"(load average {os.getloadavg()[0]:.2f}):")
ms = lambda v: f"{1000 * statistics.median(v):.1f} ms" if v else "-"
for a in args:
    r = rows[a]
    print(f"  {a}: object cache {r['cache']}; process wall {ms(r['wall'])}, "
          f"user+sys {ms(r['cpu'])}, compile_seconds {ms(r['compile'])}, "
          f"time_to_first_step {ms(r['ttfs'])} "
          f"(range {ms([min(r['ttfs'])]) if r['ttfs'] else '-'}"
          f"–{ms([max(r['ttfs'])]) if r['ttfs'] else '-'})"
          + (f"; llvm cpu {ms(r['llvm'])}, longest part {ms(r['longest'])}"
             if r["llvm"] else "")
          + (f"; tiered ({len(r['quick'])} of {runs} runs)" if r["quick"]
             else ""))
