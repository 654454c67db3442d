#!/usr/bin/python3
"""Drives a trainer through a signal, for the lit tests of interruption.

  signal_run.py send SIGNAL WATCH PATTERN OUT -- CMD...
      Starts CMD (stdout to OUT, stderr to OUT.err) with SIGINT and SIGTERM
      at their defaults, waits until the file WATCH exists and contains
      PATTERN ("" : exists and is not empty), sends SIGNAL (INT, TERM or
      KILL), waits for CMD to end and prints "exit status N" or "killed by
      SIGNAME". Every wait is bounded (TIMEOUT seconds, polling, no fixed
      sleep); a timeout, or CMD ending before the signal, is an error.

  signal_run.py resume CKPT DIR EXTRA -- CMD...
      Reads the epoch reached by checkpoint CKPT, runs
      `CMD --load CKPT --epochs EXTRA --save DIR/resumed.safetensors` and
      `CMD --epochs EPOCH+EXTRA --save DIR/reference.safetensors` (a partial
      epoch counts as one of EXTRA) and prints "resumed from step S: same
      bytes" when the two checkpoints are identical, else fails.
"""
import json, os, signal, struct, subprocess, sys, time

TIMEOUT = 120


def fail(message):
    sys.exit("signal_run.py: error: " + message)


def defaults():
    # A shell or test runner may start us with SIGINT ignored; the trainer
    # keeps an inherited SIG_IGN, so give it the defaults.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def contains(path, pattern):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    return pattern.encode() in data if pattern else len(data) > 0


def send(args):
    name, watch, pattern, out, cmd = args[0], args[1], args[2], args[3], args[5:]
    sig = getattr(signal, "SIG" + name)
    with open(out, "wb") as o, open(out + ".err", "wb") as e:
        p = subprocess.Popen(cmd, stdout=o, stderr=e, preexec_fn=defaults)
    deadline = time.monotonic() + TIMEOUT
    while not contains(watch, pattern):
        if p.poll() is not None:
            fail("%s ended (status %d) before %r appeared in %s"
                 % (cmd[0], p.returncode, pattern, watch))
        if time.monotonic() > deadline:
            p.kill()
            p.wait()
            fail("timeout waiting for %r in %s" % (pattern, watch))
        time.sleep(0.01)
    p.send_signal(sig)
    try:
        status = p.wait(TIMEOUT)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        fail("%s did not stop within %d s of SIG%s" % (cmd[0], TIMEOUT, name))
    if status < 0:
        print("killed by " + signal.Signals(-status).name)
    else:
        print("exit status %d" % status)


def metadata(path):
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        return json.loads(f.read(n))["__metadata__"]


def resume(args):
    ckpt, out, extra, cmd = args[0], args[1], int(args[2]), args[4:]
    meta = metadata(ckpt)
    epoch = int(meta["epoch"])
    resumed = os.path.join(out, "resumed.safetensors")
    reference = os.path.join(out, "reference.safetensors")
    for run in (["--load", ckpt, "--epochs", str(extra), "--save", resumed],
                ["--epochs", str(epoch + extra), "--save", reference]):
        r = subprocess.run(cmd + run + ["--quiet"], timeout=10 * TIMEOUT)
        if r.returncode != 0:
            fail("%s exited with %d" % (" ".join(cmd + run), r.returncode))
    with open(resumed, "rb") as a, open(reference, "rb") as b:
        if a.read() != b.read():
            fail("resuming from step %s (epoch %d + %s samples) differs from "
                 "an uninterrupted run" % (meta["step"], epoch,
                                           meta.get("epoch_samples", "0")))
    print("resumed from step %s: same bytes" % meta["step"])


if len(sys.argv) < 2 or sys.argv[1] not in ("send", "resume"):
    fail("usage: signal_run.py send|resume ...")
args = sys.argv[2:]
if "--" not in args:
    fail("missing -- before the command")
(send if sys.argv[1] == "send" else resume)(args)
