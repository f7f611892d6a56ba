"""DataLoader fault cases, each in its own Python subprocess under a hard timeout, so that a hang fails
the test instead of hanging the suite: an exception in a worker, a worker killed by a signal, ``timeout``
expiry, cleanup of workers and shared memory (finished loop, deleted iterator, deleted persistent loader,
killed main process). Every case also checks that the child's stderr has no resource-tracker warning
about leaked shared memory.
"""
import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

HARD_TIMEOUT_S = 60


def alive(pid):
    """True while process ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


HEADER = '''
import gc, json, multiprocessing, os, signal, sys, time
import numpy as np
from tritongrad.utils.data import DataLoader, Dataset
from tritongrad.utils.data import _shm


class Faulty(Dataset):
    """40 samples of (80 KB array, worker pid); sample ``at`` raises, kills its worker or hangs."""

    def __init__(self, mode="none", at=-1):
        self.mode, self.at = mode, at

    def __len__(self):
        return 40

    def __getitem__(self, i):
        if i == self.at:
            if self.mode == "raise":
                raise ValueError(f"bad sample {i}")
            if self.mode == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            if self.mode == "hang":
                time.sleep(60)
        return np.full(20000, i, np.float32), os.getpid()


''' + inspect.getsource(alive) + '''

def wait_gone(pids, limit=10.0):
    end = time.monotonic() + limit
    while any(alive(p) for p in pids) and time.monotonic() < end:
        time.sleep(0.05)
    return sorted(p for p in pids if alive(p))


def segments():
    return _shm.list_segments(_shm.NAME_PREFIX + str(os.getpid()) + "_")


def report(**kw):
    print("RESULT " + json.dumps(kw), flush=True)


if __name__ == "__main__":
'''


def _run(tmp_path, body, tracker_cleans_up=False):
    """Run HEADER + body as a script; returns (result dict, stderr). Kills the whole process group on a
    hang. Unless ``tracker_cleans_up`` (the main process is killed on purpose), the resource tracker must
    have found no shared-memory segment to clean up. (A semaphore of a multiprocessing queue can be reported
    when a machine under heavy load ends a child before its queue's feeder thread: not a data leak, and
    not what these cases test.)"""
    script = tmp_path / "case.py"
    script.write_text(HEADER + textwrap.indent(textwrap.dedent(body), "    "))
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, cwd=str(tmp_path))
    try:
        out, err = proc.communicate(timeout=HARD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"fault case hung for {HARD_TIMEOUT_S} s\nstdout:\n{out}\nstderr:\n{err}")
    lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    assert lines, f"no result (rc={proc.returncode})\nstdout:\n{out}\nstderr:\n{err}"
    if not tracker_cleans_up:
        # the resource tracker reports "leaked shared_memory objects" for segments nobody unlinked
        assert "leaked shared_memory" not in err, err
    return json.loads(lines[-1][len("RESULT "):]), err


def test_worker_exception_reraised_with_traceback_and_index(tmp_path):
    res, err = _run(tmp_path, '''
        loader = DataLoader(Faulty("raise", 13), batch_size=4, num_workers=2)
        pids, msg, kind = set(), None, None
        try:
            for x, p in loader:
                pids |= set(p.tolist())
        except Exception as e:
            msg, kind = str(e), type(e).__name__
        gc.collect()
        report(msg=msg, kind=kind, batches_before=sorted(pids), left=wait_gone(pids), shm=segments())
    ''')
    assert res["kind"] == "ValueError"
    msg = res["msg"]
    assert "Caught ValueError in DataLoader worker process 1" in msg
    assert "while fetching index 13 of batch [12, 13, 14, 15]" in msg
    assert "Traceback (most recent call last)" in msg and 'raise ValueError(f"bad sample {i}")' in msg
    assert "ValueError: bad sample 13" in msg
    assert res["left"] == [] and res["shm"] == []


def test_worker_exception_shuts_the_workers_down_at_once(tmp_path):
    """The iterator stays referenced (no collection): its workers and segments must still be gone."""
    res, err = _run(tmp_path, '''
        loader = DataLoader(Faulty("raise", 5), batch_size=2, num_workers=2)
        it = iter(loader)
        pids = [w.pid for w in it._pool.workers]
        try:
            while True:
                next(it)
        except ValueError:
            pass
        left, shm = wait_gone(pids, limit=3.0), segments()
        try:
            next(it)
            after = "a batch"
        except StopIteration:
            after = "StopIteration"
        report(left=left, shm=shm, after=after, workers=len(pids))
    ''')
    assert res == {"left": [], "shm": [], "after": "StopIteration", "workers": 2}


def test_worker_killed_by_signal_raises_naming_pid_and_signal(tmp_path):
    res, err = _run(tmp_path, '''
        loader = DataLoader(Faulty("kill", 13), batch_size=4, num_workers=2)
        it = iter(loader)
        pids = [w.pid for w in it._pool.workers]
        t0, msg = time.monotonic(), None
        try:
            for x, p in it:
                pass
        except RuntimeError as e:
            msg = str(e)
        took = time.monotonic() - t0
        del it
        gc.collect()
        report(msg=msg, took=took, pids=pids, left=wait_gone(pids), shm=segments())
    ''')
    killed = res["pids"][1]                     # sample 13 is in batch 3, sent to worker 1
    assert res["msg"] == f"DataLoader worker (pid {killed}) was killed by signal SIGKILL ({int(signal.SIGKILL)})"
    assert res["took"] < 5.0
    assert res["left"] == [] and res["shm"] == []


def test_timeout_expiry_raises(tmp_path):
    res, err = _run(tmp_path, '''
        loader = DataLoader(Faulty("hang", 5), batch_size=4, num_workers=1, timeout=0.5)
        it = iter(loader)
        pids = [w.pid for w in it._pool.workers]
        t0, msg, got = time.monotonic(), None, 0
        try:
            for x, p in it:
                got += 1
        except RuntimeError as e:
            msg = str(e)
        took = time.monotonic() - t0
        report(msg=msg, took=took, got=got, left=wait_gone(pids), shm=segments())
    ''')
    assert res["msg"] == "DataLoader timed out after 0.5 seconds"
    assert res["got"] == 1 and res["took"] < 4.0
    assert res["left"] == [] and res["shm"] == []


def test_finished_abandoned_and_persistent_loops_leave_nothing(tmp_path):
    res, err = _run(tmp_path, '''
        out = {}
        loader = DataLoader(Faulty(), batch_size=4, num_workers=2)
        pids = set()
        for x, p in loader:
            pids |= set(p.tolist())
        out["finished"] = [len(pids), wait_gone(pids), segments()]
        it = iter(loader)
        x, p = next(it)
        pids = [w.pid for w in it._pool.workers]
        del it, x, p
        gc.collect()
        out["abandoned"] = [len(pids), wait_gone(pids), segments()]
        persistent = DataLoader(Faulty(), batch_size=4, num_workers=2, persistent_workers=True)
        n = sum(1 for _ in persistent)
        it = iter(persistent)
        next(it)
        pids = [w.pid for w in persistent._iterator._pool.workers]
        still = [p for p in pids if alive(p)]
        del it, persistent
        gc.collect()
        out["persistent"] = [len(still), wait_gone(pids), segments(), n]
        out["children"] = [p.pid for p in multiprocessing.active_children()]
        report(**out)
    ''')
    assert res["finished"] == [2, [], []]
    assert res["abandoned"] == [2, [], []]
    assert res["persistent"] == [2, [], [], 10]
    assert res["children"] == []


def test_killed_main_process_leaves_no_workers_or_shared_memory(tmp_path):
    res, err = _run(tmp_path, '''
        loader = DataLoader(Faulty(), batch_size=4, num_workers=2, prefetch_factor=4)
        it = iter(loader)
        next(it)
        deadline = time.monotonic() + 10   # let the workers put prefetched batches in shared memory
        while not segments() and time.monotonic() < deadline:
            time.sleep(0.02)
        report(pids=[w.pid for w in it._pool.workers], main=os.getpid(), shm_before=len(segments()))
        os.kill(os.getpid(), signal.SIGKILL)
    ''', tracker_cleans_up=True)
    end = time.monotonic() + 15
    prefix = f"tgdl{res['main']}_"
    while time.monotonic() < end:
        left = [p for p in res["pids"] if alive(p)]
        shm = [e for e in os.listdir("/dev/shm") if e.startswith(prefix)]
        if not left and not shm:
            break
        time.sleep(0.1)
    assert res["shm_before"] > 0           # batches were waiting in shared memory when the process died
    assert left == [] and shm == []

