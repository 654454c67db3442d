#!/usr/bin/python3
"""Drives adj-repl through a pseudo-terminal, as a user would: tab
completion, Ctrl-C during training and at the prompt, the confirmation
before quitting with unsaved work, history kept across sessions, and
SIGTERM during training and at the prompt (the session ends with 143).
Usage: pty_session.py ADJ_REPL MODEL.adj HISTORY_FILE. Prints what it
checked; exits non-zero (with the screen so far) when something is missing."""
import os, pty, select, signal, sys, time

repl, model, history = sys.argv[1:4]


class Session:
    def __init__(self):
        env = dict(os.environ, TERM="xterm", ADJ_REPL_HISTORY=history,
                   HOME=os.path.dirname(history))
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execve(repl, [repl, model], env)
        self.screen = ""

    def expect(self, text, timeout=60):
        end = time.time() + timeout
        while text not in self.screen:
            left = end - time.time()
            if left <= 0:
                sys.exit("timed out waiting for %r; screen:\n%s" % (text, self.screen))
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    data = ""
                if not data:
                    sys.exit("adj-repl ended waiting for %r; screen:\n%s" % (text, self.screen))
                self.screen += data
        at = self.screen.index(text) + len(text)
        self.screen = self.screen[at:]
        print("ok:", repr(text))

    def send(self, keys):
        time.sleep(0.2)  # as a user types: after the editor took the line
        os.write(self.fd, keys.encode())

    def drain(self):
        """Reads what the ended process left on the terminal."""
        while select.select([self.fd], [], [], 0.2)[0]:
            try:
                data = os.read(self.fd, 4096).decode(errors="replace")
            except OSError:
                return
            if not data:
                return
            self.screen += data

    def wait(self, timeout=60):
        end = time.time() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.drain()
                return os.waitstatus_to_exitcode(status)
            if time.time() > end:
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                sys.exit("adj-repl did not exit within %d s; screen:\n%s"
                         % (timeout, self.screen))
            # Keep the terminal drained so that the REPL never blocks on it.
            r, _, _ = select.select([self.fd], [], [], 0.05)
            if r:
                try:
                    self.screen += os.read(self.fd, 4096).decode(errors="replace")
                except OSError:
                    pass


s = Session()
s.expect("Type :help.")
s.expect("adj> ")
# Tab completes a command, then a parameter name; two candidates are listed.
# (The line is redrawn with cursor moves, so the completed line is checked
# in the history below.)
s.send(":sh\t")
s.send("b\t")
s.expect("b1  b2")
s.send("2\r")
s.expect("adj> ")
# Ctrl-C during training stops at a step boundary, the session lives on.
s.send(":train 1000000\r")
s.expect("epoch 1/1000000: train_loss")
s.send("\x03")
s.expect("interrupted at step ")
s.expect("adj> ")
s.send(":eval\r")
s.expect("eval: test_loss")
s.expect("adj> ")
# Ctrl-C at the prompt only cancels the line, twice too.
s.send(":params")
s.send("\x03")
s.expect("(interrupted; :quit leaves)")
s.send("\x03")
s.expect("(interrupted; :quit leaves)")
s.expect("adj> ")
# :quit with trained, unsaved parameters asks first.
s.send(":quit\r")
s.expect("quit anyway? [y/N]")
s.send("n\r")
s.expect("adj> ")
s.send(":quit!\r")
rc = s.wait()
assert rc == 0, rc
print("ok: exit status 0")
# The history survives the session: Up brings back ':quit!'.
saved = open(history).read().replace("\\040", " ")  # libedit's encoding
assert ":show b2" in saved, saved
print("ok: completed ':show b2'")
s = Session()
s.expect("adj> ")
s.send("\x1b[A")
s.expect(":quit!")
s.send("\r")
rc = s.wait()
assert rc == 0, rc
print("ok: history recalled")
# SIGTERM during training finishes the step, then the session ends at once
# (no question about unsaved work) with 143 and its history saved.
s = Session()
s.expect("adj> ")
s.send(":train 1000000\r")
s.expect("epoch 1/1000000: train_loss")
os.kill(s.pid, signal.SIGTERM)
s.expect("interrupted at step ")
rc = s.wait()
assert rc == 143, rc
assert "SIGTERM: leaving the session" in s.screen, s.screen
saved = open(history).read().replace("\\040", " ")
assert ":train 1000000" in saved, saved
print("ok: SIGTERM during training: exit status 143, history saved")
# SIGTERM at the prompt.
s = Session()
s.expect("adj> ")
time.sleep(0.2)
os.kill(s.pid, signal.SIGTERM)
rc = s.wait()
assert rc == 143, rc
print("ok: SIGTERM at the prompt: exit status 143")
