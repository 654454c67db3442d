#!/usr/bin/python3
"""Runs `mpirun ARGS` for the MPI tests, bounded in time: as root
(--allow-run-as-root), more ranks than cores (--oversubscribe), waiting
ranks yielding the CPU. A run still going after --timeout seconds (default
300) is killed with its process group and this script fails with status 124
whatever was expected, so that a hang fails the test instead of blocking CI.

    mpirun.py [--timeout S] [--expect-fail] MPIRUN_ARGS...

Without --expect-fail the status is mpirun's. With it, a non-zero status
prints "mpirun exited with status N" and succeeds, and status 0 fails."""
import os, signal, subprocess, sys

args = sys.argv[1:]
timeout, expect_fail = 300.0, False
while args and args[0].startswith("--"):
    if args[0] == "--expect-fail":
        expect_fail = True
        args = args[1:]
    elif args[0] == "--timeout" and len(args) > 1:
        timeout = float(args[1])
        args = args[2:]
    else:
        break
env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1",
           OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe",
       "--mca", "mpi_yield_when_idle", "1"] + args
proc = subprocess.Popen(cmd, env=env, start_new_session=True)
try:
    status = proc.wait(timeout=timeout)
except subprocess.TimeoutExpired:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    sys.stderr.write("mpirun.py: timed out after %g s: %s\n" %
                     (timeout, " ".join(cmd)))
    sys.exit(124)
sys.stdout.flush()
if not expect_fail:
    sys.exit(status)
if status == 0:
    sys.stderr.write("mpirun.py: expected a failure, mpirun succeeded\n")
    sys.exit(1)
print("mpirun exited with status %d" % status)
sys.stdout.flush()
