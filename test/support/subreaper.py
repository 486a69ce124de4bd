"""Runs a command the way conmon and containerd's shims do: as a child subreaper, so the
processes it leaves behind (runv's shim, an exec relay) are reparented here and reaped.

    subreaper.py OUT_JSON COMMAND [ARGS...]

Waits until every descendant is gone, then writes {pid: exit status} to OUT_JSON, with
128+N for a process killed by signal N, as a shell reports it.
"""
import ctypes
import json
import os
import sys

PR_SET_CHILD_SUBREAPER = 36

out, command = sys.argv[1], sys.argv[2:]
if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
    sys.exit("subreaper.py: prctl failed")
child = os.fork()
if child == 0:
    os.execvp(command[0], command)
statuses = {}
while True:
    try:
        pid, status = os.wait()
    except ChildProcessError:
        break
    code = os.waitstatus_to_exitcode(status)
    statuses[pid] = code if code >= 0 else 128 - code
with open(out, "w") as f:
    json.dump(statuses, f)
