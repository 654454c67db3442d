#!/usr/bin/env python3
"""Times numpy's float32 matmul (OpenBLAS) for the shapes given as MxKxN.

Prints one line per shape, like adj-gemm-bench: M K N threads seconds gflops
(the median of several runs). The thread count is OpenBLAS's, set by
bench/gemm.sh through OPENBLAS_NUM_THREADS. With --cpu-time (as
adj-gemm-bench's), runs are timed by the process's CPU time and the fastest
is reported.
"""
import os
import sys
import time

import numpy as np


def main():
    threads = int(os.environ.get("OPENBLAS_NUM_THREADS", "0") or 0)
    args = sys.argv[1:]
    cpu = "--cpu-time" in args
    args = [a for a in args if a != "--cpu-time"]
    clock = time.process_time if cpu else time.perf_counter
    rng = np.random.default_rng(1)
    for arg in args:
        m, k, n = (int(x) for x in arg.split("x"))
        a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
        b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
        c = np.empty((m, n), np.float32)
        np.matmul(a, b, out=c)
        t0 = clock()
        np.matmul(a, b, out=c)
        one = clock() - t0
        reps = min(max(int(0.5 / max(one, 1e-9)), 5), 200)
        times = []
        for _ in range(reps):
            t = clock()
            np.matmul(a, b, out=c)
            times.append(clock() - t)
        times.sort()
        med = times[0] if cpu else times[len(times) // 2]
        print(f"{m} {k} {n} {threads} {med:.6g} {2.0 * m * k * n / med / 1e9:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
