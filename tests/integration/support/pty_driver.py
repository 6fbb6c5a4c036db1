"""Runs a command on a fresh pseudo-terminal as its controlling terminal, and reports what a
person at that terminal would see. Used by the MFA prompt tests.

argv[1] is JSON: {"argv": [...], "steps": [[wait_for, send], ...], "signal": null | N,
"timeout": seconds}. Each step waits until the output after the previous step's text holds
`wait_for`, then types `send` ("\x03" is Ctrl-C, "\x04" Ctrl-D); a command that ends first
ends the waiting (typing then fails quietly: nobody reads). stsexec's prompt turns echo off
before it shows its text, so text typed once the prompt is seen is never echoed or lost.
`signal`, when given, is sent with kill(2) once the steps are done. Prints JSON: {"before", "after" (stty -g of the terminal), "output",
"returncode" (negative: killed by that signal)}.
"""
import fcntl, json, os, select, subprocess, sys, termios, time

spec = json.loads(sys.argv[1])
master, slave = os.openpty()
name = os.ttyname(slave)


def stty():
    return subprocess.run(["stty", "-F", name, "-g"], capture_output=True, text=True).stdout.strip()


def become_terminal_owner():
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


before = stty()
child = subprocess.Popen(spec["argv"], stdin=slave, stdout=slave, stderr=slave,
                         preexec_fn=become_terminal_owner, close_fds=True)
os.close(slave)
output = b""
deadline = time.time() + spec.get("timeout", 20)


def pump(wait=0.05):
    global output
    ready, _, _ = select.select([master], [], [], wait)
    if ready:
        try:
            output += os.read(master, 4096)
        except OSError:
            pass


seen = 0
for wait_for, send in spec.get("steps", []):
    while (found := output.find(wait_for.encode(), seen)) < 0 and child.poll() is None \
            and time.time() < deadline:
        pump()
    if found >= 0:
        seen = found + len(wait_for.encode())
    try:
        os.write(master, send.encode())
    except OSError:
        pass
if spec.get("signal") and child.poll() is None:
    child.send_signal(spec["signal"])
while child.poll() is None and time.time() < deadline:
    pump()
if child.poll() is None:
    child.kill()
child.wait()
for _ in range(5):
    pump(0.02)
after = stty()
print(json.dumps({"before": before, "after": after, "returncode": child.returncode,
                  "output": output.decode("utf-8", "replace")}))
