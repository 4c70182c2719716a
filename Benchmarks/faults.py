#!/usr/bin/env python3
"""The fault suite of issue 7, run by hand against the release binaries.

    scripts/build-release.sh
    Benchmarks/faults.py                 # every fault
    Benchmarks/faults.py kill9 --cycles 50
    Benchmarks/faults.py dblock flood output jobfiles memory

Each fault prints one line of counts (tried / survived / lost) and what was checked; the whole
run ends with a Markdown table for docs/reliability.md. Exit status 1 if anything was lost.
Python 3 standard library only; Linux only (/proc).
"""
import atexit
import json
import os
import random
import resource
import signal
import socket
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")
SCHEDD = os.path.join(BIN, "schedd")
SCHEDCTL = os.path.join(BIN, "schedctl")


def connect(sock_path, timeout):
    """A connected socket. The connect blocks, as curl's and schedctl's do: a socket with a
    timeout is non-blocking underneath, and would fail at once while the listen backlog is full."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(None)
        s.connect(sock_path)
    except OSError:
        s.close()
        raise
    s.settimeout(timeout)
    return s


def http(sock_path, method, path, body=None, timeout=10.0, headers=""):
    """One request on a fresh connection; (status, body bytes). Raises on a dead socket."""
    s = connect(sock_path, timeout)
    try:
        data = body if isinstance(body, bytes) else (body or "").encode()
        head = f"{method} {path} HTTP/1.1\r\nHost: schedd\r\nConnection: close\r\n{headers}"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
        try:
            s.sendall(head.encode() + b"\r\n" + data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole body was sent (413): the answer is still there to read
        reply = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            reply += chunk
    finally:
        s.close()
    head, _, rest = reply.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    if b"transfer-encoding: chunked" in head.lower():
        out, i = b"", 0
        while i < len(rest):
            end = rest.index(b"\r\n", i)
            size = int(rest[i:end].split(b";")[0], 16)
            if size == 0:
                break
            out += rest[end + 2:end + 2 + size]
            i = end + 2 + size + 2
        rest = out
    return status, rest


RUNNING = []


@atexit.register
def stop_leftovers():
    """A fault that failed half-way leaves no daemon behind."""
    for daemon in RUNNING:
        if daemon.proc and daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait()


class Daemon:
    """The release schedd on a directory's database and socket."""

    def __init__(self, directory, config=None, extra=(), env=None):
        self.dir = directory
        self.db = os.path.join(directory, "schedd.db")
        self.sock = os.path.join(directory, "s.sock")
        self.config = config
        self.extra = list(extra)
        self.env = env
        self.proc = None

    def start(self, timeout=20):
        args = [SCHEDD, "--db", self.db, "--socket", self.sock, "--log-level", "warning"] + self.extra
        if self.config:
            args += ["--config", self.config]
        self.log = open(os.path.join(self.dir, "schedd.log"), "ab")
        env = dict(os.environ, **self.env) if self.env else None
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env)
        RUNNING.append(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                if http(self.sock, "GET", "/v1/status", timeout=2)[0] == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.01)
        return False

    def status(self):
        code, body = http(self.sock, "GET", "/v1/status", timeout=10)
        return json.loads(body) if code == 200 else None

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self, timeout=60):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def rss_kib(self, field="VmRSS"):
        try:
            for line in open(f"/proc/{self.proc.pid}/status"):
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except OSError:
            pass
        return 0


def instance_id(db):
    with sqlite3.connect(db) as c:
        return c.execute("SELECT value FROM meta WHERE key = 'instance_id'").fetchone()[0]


def processes_of(instance):
    """Pids of live processes started for runs of this database (schedd marks their environment)."""
    marker = f"SCHEDD_INSTANCE={instance}".encode()
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in env and state != "Z":
            found.append(int(pid))
    return found


def write_jobs(directory, jobs):
    path = os.path.join(directory, "jobs.json")
    with open(path, "w") as f:
        json.dump({"jobs": jobs}, f)
    return path


def dump(db):
    """Every table's rows: a refused change must leave this equal."""
    with sqlite3.connect(db) as c:
        return {t: c.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
                for (t,) in c.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")}


# ---------------------------------------------------------------------------------------------

def fault_kill9(cycles):
    """kill -9 of the daemon at random moments under load, restarted each time."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    starts = os.path.join(d, "starts.log")
    mark = f'echo "$SCHEDD_RUN_ID" >> {starts}; '
    jobs = [{"name": f"quick{i}", "shell": mark + "sleep 0.2", "schedule": "@every 1s"} for i in range(10)]
    jobs += [
        {"name": "every-second", "shell": mark + "sleep 0.5", "schedule": "* * * * * *", "catch_up": "all"},
        {"name": "slow", "shell": mark + "sleep 5", "schedule": "@every 1s"},
        {"name": "tree", "shell": mark + "(sleep 60 &); setsid sleep 60 & sleep 60 & sleep 3", "schedule": "@every 2s"},
        {"name": "manual", "shell": mark + "sleep 1", "concurrency": "allow"},
        # Each failed attempt's retry is due an hour on: its mark must be there after any kill.
        {"name": "failing", "shell": mark + "exit 1", "schedule": "@every 1s", "retries": 1, "retry_backoff": "2h"},
    ]
    daemon = Daemon(d, write_jobs(d, jobs), ["--workers", "8"])
    restarted = 0
    for _ in range(cycles):
        if daemon.start():
            restarted += 1
        until = time.time() + random.uniform(0.3, 3.0)
        while time.time() < until:
            try:
                http(daemon.sock, "POST", "/v1/jobs/manual/run", timeout=2)
            except OSError:
                pass
            time.sleep(random.uniform(0.05, 0.4))
        daemon.kill9()
    final_ok = daemon.start()
    time.sleep(3)
    daemon.stop()
    started = {int(x) for x in open(starts).read().split()} if os.path.exists(starts) else set()
    with sqlite3.connect(daemon.db) as c:
        rows = {r[0] for r in c.execute("SELECT id FROM runs")}
        running = c.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
        interrupted = c.execute("SELECT count(*) FROM runs WHERE status = 'interrupted'").fetchone()[0]
        doubled = c.execute("""SELECT count(*) FROM (SELECT job, scheduled_at FROM runs
                               WHERE trigger IN ('schedule', 'catch_up') AND status != 'skipped'
                               GROUP BY job, scheduled_at HAVING count(*) > 1)""").fetchone()[0]
        integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
        failed = c.execute("SELECT count(*) FROM runs WHERE job = 'failing' AND status = 'failed' AND attempt = 1").fetchone()[0]
        # A failed first attempt with neither its retry's mark nor its retry's row: a lost retry.
        unmarked = c.execute("""SELECT count(*) FROM runs r WHERE job = 'failing' AND status = 'failed' AND attempt = 1
                                AND retry_at IS NULL AND NOT EXISTS (SELECT 1 FROM runs n WHERE n.retry_of = r.id)""").fetchone()[0]
    left = processes_of(instance_id(daemon.db))
    lost = len(started - rows)
    ok = lost == 0 and running == 0 and doubled == 0 and integrity == "ok" and not left and final_ok and unmarked == 0
    detail = (f"{len(started)} runs started, {len(rows)} rows; started without a row: {lost}; "
              f"failed attempts whose retry was lost: {unmarked} of {failed}; "
              f"left running: {running}; interrupted (marked at restart): {interrupted}; slots fired twice: {doubled}; "
              f"integrity_check: {integrity}; job processes left: {len(left)}; restarts that came up: {restarted + final_ok}/{cycles + 1}")
    return ("kill -9 under load", cycles, restarted + final_ok - 1 if final_ok else restarted, lost, ok, detail)


def fault_dblock(seconds=10):
    """Another process holds the write lock (BEGIN IMMEDIATE, as in sqlite3) for 10 s."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    starts = os.path.join(d, "starts.log")
    jobs = [{"name": "tick", "shell": f'echo "$SCHEDD_RUN_ID $(date +%s.%N)" >> {starts}', "schedule": "@every 1s"}]
    daemon = Daemon(d, write_jobs(d, jobs))
    daemon.start()
    began = time.time()
    time.sleep(3)
    locker = sqlite3.connect(daemon.db, timeout=30, isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    locked_at = time.time()
    status_ok = 0
    for _ in range(seconds * 4):
        try:
            if daemon.status() is not None:
                status_ok += 1
        except OSError:
            pass
        time.sleep(0.25)
    locker.execute("COMMIT")
    released_at = time.time()
    locker.close()
    time.sleep(5)
    ended = time.time()
    daemon.stop()
    lines = [l.split() for l in open(starts).read().splitlines()] if os.path.exists(starts) else []
    during = sum(1 for _, t in lines if locked_at <= float(t) < released_at)
    ids = {int(i) for i, _ in lines}
    with sqlite3.connect(daemon.db) as c:
        rows = {r[0] for r in c.execute("SELECT id FROM runs")}
        late = c.execute("""SELECT count(*) FROM runs WHERE job = 'tick' AND scheduled_at IS NOT NULL
                            AND (julianday(started_at) - julianday(scheduled_at)) * 86400 > 1""").fetchone()[0]
        total = c.execute("SELECT count(*) FROM runs WHERE job = 'tick' AND status != 'skipped'").fetchone()[0]
        integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
    lost = len(ids - rows)
    expected = int(ended - began)  # one fire per second of the test
    ok = lost == 0 and integrity == "ok" and status_ok == seconds * 4
    detail = (f"lock held {seconds} s: status answered {status_ok}/{seconds * 4} times during it; "
              f"runs started during the lock: {during} (dispatch waits: a run's row is written before it starts); "
              f"{total} runs in ~{expected} s of @every 1s (the fires due during the lock ran as one late fire; {late} started over 1 s late); started without a row: {lost}; integrity_check: {integrity}")
    return ("database write lock held 10 s", 1, 1 if ok else 0, lost, ok, detail)


def fault_diskfull(full_seconds=8):
    """The database's file system fills up while runs go on, then has room again: a run that
    ends meanwhile is recorded once it can be (not left `running`), a pause holds and is
    written, status reports the trouble (exit 1) and clears, nothing recorded is lost.
    The database is on a tmpfs of 4 MiB of its own, so this needs root (mount)."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    dbdir = os.path.join(d, "db")
    os.mkdir(dbdir)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", dbdir], capture_output=True).returncode != 0:
        return ("database's disk full for 8 s", 0, 0, 0, True, "skipped: cannot mount a tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        starts = os.path.join(d, "starts.log")
        jobs = [{"name": "tick", "shell": f'echo "$SCHEDD_RUN_ID" >> {starts}', "schedule": "@every 1s", "retries": 0},
                {"name": "other", "shell": f'echo "$SCHEDD_RUN_ID" >> {starts}', "schedule": "@every 1s", "retries": 0},
                {"name": "slow", "shell": f'echo "$SCHEDD_RUN_ID" >> {starts}; sleep 3; echo done', "retries": 0}]
        daemon = Daemon(d, write_jobs(d, jobs))
        daemon.db = os.path.join(dbdir, "schedd.db")
        daemon.start()
        time.sleep(2)
        code, body = http(daemon.sock, "POST", "/v1/jobs/slow/run", body=b"{}")
        slow_id = json.loads(body).get("run", {}).get("id") if code == 201 else None
        time.sleep(0.5)
        filler = os.path.join(dbdir, "filler")
        # Unbuffered: a buffered file's close would write its rest again and raise ENOSPC.
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            while True:
                os.write(fd, b"\0" * 65536)
        except OSError:
            pass
        finally:
            os.close(fd)
        full_at = time.time()
        time.sleep(1)
        paused = http(daemon.sock, "POST", "/v1/jobs/tick/pause")[0] == 200
        time.sleep(max(0, full_seconds - (time.time() - full_at)))
        during = daemon.status() or {}
        problem = during.get("database_problem") or {}
        ctl = subprocess.run([SCHEDCTL, "status", "--socket", daemon.sock], capture_output=True, text=True)
        os.remove(filler)
        freed_at = time.time()
        healthy_after = None
        while time.time() - freed_at < 15:
            s = daemon.status() or {}
            if s.get("healthy"):
                healthy_after = time.time() - freed_at
                break
            time.sleep(0.1)
        time.sleep(2)
        rc = daemon.stop()
        ran = {int(l) for l in open(starts).read().split()} if os.path.exists(starts) else set()
        with sqlite3.connect(daemon.db) as c:
            rows = dict(c.execute("SELECT id, status FROM runs").fetchall())
            slow = c.execute("SELECT status, exit_code, output FROM runs WHERE id = ?", (slow_id,)).fetchone() if slow_id else None
            tick_paused = c.execute("SELECT paused FROM job_state WHERE job = 'tick'").fetchone()
            refused = c.execute("""SELECT count(*) FROM runs WHERE job = 'other' AND status = 'skipped'
                                   AND error LIKE '%start could not be recorded%'""").fetchone()[0]
            integrity = c.execute("PRAGMA integrity_check").fetchone()[0]
        lost = len(ran - set(rows))
        running = [i for i, s in rows.items() if s == "running"]
        ok = (lost == 0 and not running and integrity == "ok" and slow is not None and slow[0] == "succeeded"
              and (slow[2] or "").strip() == "done" and paused and tick_paused == (1,) and during.get("healthy") is False
              and problem.get("unwritten_run_ends", 0) >= 1 and ctl.returncode == 1 and healthy_after is not None and rc == 0
              and refused >= full_seconds - 3)
        detail = (f"disk full for {full_seconds} s with a 3 s run ending in it: status during it healthy={during.get('healthy')}, "
                  f"`schedctl status` exit {ctl.returncode}, {problem.get('unwritten_run_ends')} run end and "
                  f"{problem.get('unwritten_job_states')} job state kept in memory; healthy again "
                  f"{'%.1f s' % healthy_after if healthy_after is not None else 'never'} after room was made; the run's row: "
                  f"{slow[0] if slow else None} (output {'kept' if slow and (slow[2] or '').strip() == 'done' else 'lost'}); "
                  f"the pause made during it: {'written' if tick_paused == (1,) else 'lost'}; fires of an @every 1s job while full recorded as "
                  f"skipped ('its start could not be recorded'): {refused}; runs started {len(ran)}, without a row {lost}, "
                  f"left running {len(running)}; integrity_check: {integrity}; graceful stop exit {rc}")
        return ("database's disk full for 8 s", 1, 1 if ok else 0, lost + len(running), ok, detail)
    finally:
        stop_leftovers()
        subprocess.run(["umount", "-l", dbdir], capture_output=True)


def malformed_requests(count, seed):
    rnd = random.Random(seed)
    kinds = []
    for i in range(count):
        k = i % 10
        if k == 0:
            kinds.append(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 2000))))
        elif k == 1:
            full = b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n{\"jobs\": []}"
            kinds.append(full[:rnd.randint(1, len(full) - 1)])
        elif k == 2:
            body = b"{\"jobs\": [" + b"1," * 600_000 + b"1]}"
            kinds.append(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif k == 3:
            body = rnd.choice([b'{"jobs": 5}', b'[1,2]', b'"x"', b'{"jobs": [{"name": 5}]}', b'{"jobs": [{"name": "a", "shell": ["x"]}]}', b'null'])
            kinds.append(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif k == 4:
            body = b'{"name": "\xff\xfe\xc0", "shell": "\xed\xa0\x80"}'
            kinds.append(b"PUT /v1/jobs/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        elif k == 5:
            kinds.append(b"GET /v1/" + bytes(rnd.choice(b"abcxyz/%?&=.\xff") for _ in range(rnd.randint(1, 300))) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        elif k == 6:
            kinds.append(b"GET /v1/status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * rnd.randint(10_000, 200_000) + b"\r\nConnection: close\r\n\r\n")
        elif k == 7:
            kinds.append(rnd.choice([b"BREW /v1/status HTTP/1.1\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"\r\n\r\n\r\n", b"GET /v1/runs?limit=-1&before=x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                     b"GET /v1/runs?since=yesterday HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", b"POST /v1/jobs/%00/run HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"]))
        elif k == 8:
            kinds.append(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n" + bytes(rnd.getrandbits(8) for _ in range(100)))
        else:
            kinds.append(b"POST /v1/jobs?dry_run=true HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 999999999\r\n\r\n{")
    return kinds


def fault_flood(connections=1000, requests=10_000):
    """1,000 idle connections at once, then 10,000 malformed requests from 8 threads."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, connections + 512)), hard))
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    # Unscheduled, so that nothing but a request could change the database during the flood
    # (an @hourly fire at the turn of the hour would).
    daemon = Daemon(d, write_jobs(d, [{"name": f"j{i}", "shell": "true"} for i in range(20)]))
    daemon.start()
    before = dump(daemon.db)
    held, refused = [], 0
    for _ in range(connections):
        try:
            held.append(connect(daemon.sock, 5))
        except OSError:
            refused += 1
    status_during_hold = daemon.status()
    served = {"ok": 0, "bad_status": 0, "unconnected": 0}
    lock = threading.Lock()
    payloads = malformed_requests(requests, 7)

    def worker(part):
        for i, p in enumerate(part):
            try:
                s = connect(daemon.sock, 15)
            except OSError:
                with lock:
                    served["unconnected"] += 1
                continue
            try:
                s.sendall(p)
                s.shutdown(socket.SHUT_WR)
                while s.recv(65536):
                    pass
            except OSError:
                pass
            finally:
                s.close()
            if i % 50 == 0:
                try:
                    st = daemon.status()
                    good = st is not None and st["jobs"]["total"] == 20
                except (OSError, ValueError, KeyError):
                    good = False
                with lock:
                    served["ok" if good else "bad_status"] += 1

    threads = [threading.Thread(target=worker, args=(payloads[i::8],)) for i in range(8)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - started
    for s in held:
        s.close()
    time.sleep(0.5)
    after = daemon.status()
    alive = daemon.proc.poll() is None
    rss = daemon.rss_kib("VmHWM") / 1024
    daemon.stop()
    unchanged = dump(daemon.db) == before
    ok = alive and after is not None and served["bad_status"] == 0 and served["unconnected"] == 0 and status_during_hold is not None and unchanged
    detail = (f"{len(held)} connections held open ({refused} refused), status during: {'ok' if status_during_hold else 'FAILED'}; "
              f"{requests} malformed requests in {elapsed:.1f} s with status checked {served['ok'] + served['bad_status']} times: "
              f"{served['bad_status']} wrong; connections refused: {served['unconnected']}; daemon alive after: {alive}; database unchanged: {unchanged}; peak RSS {rss:.0f} MiB")
    return ("1,000 connections + 10,000 malformed requests", requests, requests if ok else 0, 0, ok, detail)


def fault_output():
    """Jobs that misbehave: print 1 GiB, ignore SIGTERM, leave children behind, die by signal."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    jobs = [
        {"name": "gigabyte", "shell": "yes 'schedd output flood, line after line' | head -c 1073741824", "timeout": "5m"},
        {"name": "ignores-term", "shell": "trap '' TERM; sleep 60", "timeout": "1s", "kill_grace": "500ms"},
        {"name": "grandchildren", "shell": "sleep 60 & sleep 60 & echo parent done"},
        {"name": "setsid", "shell": "setsid sleep 60 & echo escaped"},
        {"name": "double-fork", "shell": "(sleep 60 &) ; echo orphaned"},
        {"name": "by-signal", "shell": "kill -SEGV $$"},
    ]
    expected = {"gigabyte": "succeeded", "ignores-term": "timed_out", "grandchildren": "succeeded",
                "setsid": "succeeded", "double-fork": "succeeded", "by-signal": "failed"}
    daemon = Daemon(d, write_jobs(d, jobs), ["--workers", "8"])
    daemon.start()
    idle_rss = daemon.rss_kib() / 1024
    for name in expected:
        http(daemon.sock, "POST", f"/v1/jobs/{name}/run")
    peak = 0
    deadline = time.time() + 300
    while time.time() < deadline:
        peak = max(peak, daemon.rss_kib())
        st = daemon.status()
        if st and st["workers_busy"] == 0 and st["queued"] == 0:
            break
        time.sleep(0.05)
    time.sleep(1)
    with sqlite3.connect(daemon.db) as c:
        got = dict(c.execute("SELECT job, status FROM runs"))
        big = c.execute("SELECT length(output), output_truncated, duration_ms FROM runs WHERE job = 'gigabyte'").fetchone()
        sig = c.execute("SELECT signal FROM runs WHERE job = 'by-signal'").fetchone()[0]
    left = processes_of(instance_id(daemon.db))
    daemon.stop()
    wrong = [f"{j}: {got.get(j)}" for j, s in expected.items() if got.get(j) != s]
    ok = not wrong and not left and big[1] == 1 and sig == 11
    detail = (f"statuses {'as expected' if not wrong else 'WRONG: ' + ', '.join(wrong)}; by-signal recorded signal {sig}; "
              f"1 GiB job: kept {big[0]} bytes (truncated={big[1]}) in {big[2]} ms; daemon RSS idle {idle_rss:.0f} MiB, "
              f"peak during {peak / 1024:.0f} MiB; job processes left: {len(left)}")
    return ("misbehaving jobs (1 GiB output, SIGTERM ignored, escapes, signal)", len(expected), len(expected) - len(wrong), 0, ok, detail)


def fault_memory(rounds=2, runs=4000):
    """Runs and output leave nothing behind: the daemon's anonymous memory after rounds of
    thousands of runs (quick, chatty, failing, timed out), 256 MiB printed by one job, events
    clients that come and go, and the job list and status asked again and again, against what
    it held after a first round. Release builds only show some leaks (docs/reliability.md)."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    jobs = [
        {"name": "quick", "command": ["/bin/true"], "concurrency": "allow"},
        {"name": "chatty", "shell": "echo a line; echo an error >&2", "concurrency": "allow"},
        {"name": "fails", "shell": "exit 3", "concurrency": "allow"},
        {"name": "slow", "shell": "sleep 5", "timeout": "100ms", "kill_grace": "100ms", "concurrency": "allow"},
        {"name": "loud", "shell": "yes 'schedd output, line after line' | head -c 268435456", "timeout": "5m"},
    ]
    # The environment of contrib/systemd/schedd.service: one malloc arena.
    # History kept whole: the retention pass a minute after start would prune the count of
    # recorded runs below (it is the memory, not retention, that is under test here).
    daemon = Daemon(d, write_jobs(d, jobs), ["--workers", "8", "--history-keep", "100000"], env={"MALLOC_ARENA_MAX": "1"})
    daemon.start()
    started = time.time()
    asked = 0

    def idle():
        deadline = time.time() + 300
        while time.time() < deadline:
            st = daemon.status()
            if st and st["workers_busy"] == 0 and st["queued"] == 0:
                return True
            time.sleep(0.1)
        return False

    def one_round(count):
        nonlocal asked
        names = ["quick", "chatty", "quick", "chatty", "fails", "quick", "chatty", "quick"]
        for i in range(count):
            name = "slow" if i % 100 == 0 else names[i % len(names)]
            code, _ = http(daemon.sock, "POST", f"/v1/jobs/{name}/run")
            if code in (200, 201, 202):
                asked += 1
            else:
                # The queue is full: let the workers catch up, and ask again later.
                time.sleep(0.05)
            if i % 50 == 0:
                http(daemon.sock, "GET", "/v1/jobs")
                http(daemon.sock, "GET", "/v1/status")
                try:
                    http(daemon.sock, "GET", "/v1/events?output=true", timeout=0.1)
                except OSError:
                    pass
        code, _ = http(daemon.sock, "POST", "/v1/jobs/loud/run")
        asked += 1 if code in (200, 201, 202) else 0
        return idle()

    settled_ok = one_round(runs // 2)
    settled = daemon.rss_kib("RssAnon")
    after = []
    all_idle = settled_ok
    for _ in range(rounds):
        all_idle = one_round(runs) and all_idle
        after.append(daemon.rss_kib("RssAnon"))
    time.sleep(0.5)
    with sqlite3.connect(daemon.db) as c:
        recorded = c.execute("SELECT count(*) FROM runs WHERE status != 'running'").fetchone()[0]
    elapsed = time.time() - started
    daemon.stop()
    grown = after[-1] - settled
    # SQLite's page cache (2 MiB per connection) and the allocator's spread take a few MiB as
    # the history grows; a leak of even 1 KiB per run would take 8 MiB over these runs.
    ok = all_idle and grown < 6 * 1024 and recorded == asked
    detail = (f"{asked} runs asked, {recorded} recorded in {elapsed:.0f} s; 256 MiB printed once per round; anonymous memory after a first "
              f"round of {runs // 2} runs {settled / 1024:.1f} MiB, after each later round of {runs}: "
              f"{', '.join(f'{a / 1024:.1f}' for a in after)} MiB (grown {grown / 1024:.1f} MiB, at most 6 allowed)")
    return ("memory over runs and output (release build)", asked, recorded, max(0, asked - recorded), ok, detail)


def corpus():
    """Malformed job files: (name, bytes)."""
    job = '{"name": "a", "shell": "true"}'
    files = [
        ("empty", b""),
        ("whitespace", b"  \n\t "),
        ("BOM only", b"\xef\xbb\xbf"),
        ("truncated", b'{"jobs": [{"name": "a", "sh'),
        ("deep nesting", b'{"jobs": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        ("deep objects", b'{"jobs": [' + b'{"a":' * 5000 + b"1" + b"}" * 5000 + b"]}"),
        ("huge number", b'{"jobs": [{"name": "a", "shell": "true", "retries": 1' + b"0" * 400 + b'}]}'),
        ("huge exponent", b'{"jobs": [{"name": "a", "shell": "true", "retries": 1e400}]}'),
        ("negative retries", b'{"jobs": [{"name": "a", "shell": "true", "retries": -1}]}'),
        ("fractional retries", b'{"jobs": [{"name": "a", "shell": "true", "retries": 1.5}]}'),
        ("duplicate keys", b'{"jobs": [{"name": "a", "name": "b", "shell": "true"}]}'),
        ("duplicate jobs", ('{"jobs": [%s, %s]}' % (job, job)).encode()),
        ("UTF-16", ('{"jobs": [%s]}' % job).encode("utf-16")),
        ("Latin-1", '{"jobs": [{"name": "caf\u00e9", "shell": "true"}]}'.encode("latin-1")),
        ("invalid UTF-8", b'{"jobs": [{"name": "a\xff\xfe", "shell": "true"}]}'),
        ("lone surrogate escape", b'{"jobs": [{"name": "a\\ud800", "shell": "true"}]}'),
        ("NUL byte", b'{"jobs": [{"name": "a\x00", "shell": "true"}]}'),
        ("control character", b'{"jobs": [{"name": "a\x01b", "shell": "true"}]}'),
        ("NUL in working_dir", b'{"jobs": [{"name": "a", "shell": "true", "working_dir": "/tmp\\u0000x"}]}'),
        ("env over ARG_MAX", ('{"jobs": [{"name": "a", "shell": "true", "env": {%s}}]}'
                              % ", ".join('"V%d": "%s"' % (i, "y" * 120_000) for i in range(20))).encode()),
        ("service with retries", b'{"jobs": [{"name": "a", "shell": "sleep 60", "restart": "always", "retries": 2}]}'),
        ("trailing garbage", ('{"jobs": [%s]} xyz' % job).encode()),
        ("trailing comma", ('{"jobs": [%s,]}' % job).encode()),
        ("comments", ('// jobs\n{"jobs": [%s]}' % job).encode()),
        ("single quotes", b"{'jobs': []}"),
        ("jobs not an array", b'{"jobs": {"name": "a"}}'),
        ("top level array", ("[%s]" % job).encode()),
        ("wrong types", b'{"jobs": [{"name": 5, "shell": ["x"], "timeout": true}]}'),
        ("no action", b'{"jobs": [{"name": "a"}]}'),
        ("two actions", b'{"jobs": [{"name": "a", "shell": "true", "command": ["true"]}]}'),
        ("bad schedule", b'{"jobs": [{"name": "a", "shell": "true", "schedule": "61 * * * *"}]}'),
        ("impossible date", b'{"jobs": [{"name": "a", "shell": "true", "schedule": "0 0 30 2 *"}]}'),
        ("unknown zone", b'{"jobs": [{"name": "a", "shell": "true", "schedule": "@daily", "timezone": "Mars/Olympus"}]}'),
        ("bad duration", b'{"jobs": [{"name": "a", "shell": "true", "timeout": "20 seconds"}]}'),
        ("unknown field", b'{"jobs": [{"name": "a", "shell": "true", "shedule": "@daily"}]}'),
        ("missing reference", b'{"jobs": [{"name": "a", "shell": "true", "on_failure": "nobody"}]}'),
        ("huge string", b'{"jobs": [{"name": "' + b"a" * 10_000_000 + b'", "shell": "true"}]}'),
        ("empty name", b'{"jobs": [{"name": "", "shell": "true"}]}'),
        ("reserved env", b'{"jobs": [{"name": "a", "shell": "true", "env": {"SCHEDD_JOB": "x"}}]}'),
        ("random bytes", bytes(random.Random(1).getrandbits(8) for _ in range(4096))),
    ]
    return files


def fault_jobfiles():
    """Each malformed file refused with a clear error by validate, by a first start of schedd --config, by a start on a
    database (which runs the jobs the database holds and says the file was refused), and by the API; nothing changes."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    # No schedule: a fire during the scenario (an @hourly job at the turn of the hour) would
    # change the database as the daemon should, and read as a refused change that was not.
    good = write_jobs(d, [{"name": "keep", "shell": "true"}])
    daemon = Daemon(d, good)
    daemon.start()
    daemon.stop()
    baseline = dump(daemon.db)
    tried, refused, failures = 0, 0, []
    for name, data in corpus():
        tried += 1
        path = os.path.join(d, "bad.json")
        with open(path, "wb") as f:
            f.write(data)
        v = subprocess.run([SCHEDCTL, "validate", path], capture_output=True, timeout=60)
        # A first start: refused before anything is made.
        fresh = os.path.join(d, "fresh")
        os.makedirs(fresh, exist_ok=True)
        s = subprocess.run([SCHEDD, "--db", os.path.join(fresh, "x.db"), "--socket", os.path.join(fresh, "s.sock"), "--config", path],
                           capture_output=True, timeout=60)
        first_refused = s.returncode == 2 and s.stderr.strip() and not os.listdir(fresh)
        # A start on the database: its jobs run on, the file reported refused by `status` (exit 1).
        on_db = Daemon(d, path)
        started = on_db.start()
        st = subprocess.run([SCHEDCTL, "--socket", daemon.sock, "status"], capture_output=True, timeout=60) if started else None
        reported = st is not None and st.returncode == 1 and b"the job file was refused" in st.stdout
        stopped = on_db.stop()
        ok = (v.returncode == 2 and v.stderr.strip() and first_refused and started and reported and stopped == 0
              and dump(daemon.db) == baseline)
        if ok:
            refused += 1
        else:
            failures.append(f"{name} (validate {v.returncode}, first start {s.returncode}, start on the database: "
                            f"{'served' if started else 'did not serve'}, status {st.returncode if st else '-'}, exit {stopped})")
    # The same corpus through the running daemon's API.
    daemon.config = good
    daemon.start()
    api_ok = 0
    for name, data in corpus():
        try:
            code, body = http(daemon.sock, "POST", "/v1/jobs", body=data, timeout=60)
        except OSError:
            code, body = 0, b""
        if 400 <= code < 500 and b'"error"' in body:
            api_ok += 1
        else:
            failures.append(f"{name} (API {code})")
    alive = daemon.status() is not None
    daemon.stop()
    unchanged = dump(daemon.db) == baseline
    ok = refused == tried and api_ok == tried and alive and unchanged
    detail = (f"{tried} files: refused with exit 2 and a message by `schedctl validate` and a first `schedd --config`, and by "
              f"a start on the database (which served its jobs, `status` exit 1 naming the refusal): {refused}; "
              f"refused with 4xx + error JSON by POST /v1/jobs: {api_ok}; database unchanged: {unchanged}"
              + (f"; FAILED: {', '.join(failures)}" if failures else ""))
    failed_files = {f.split(" (")[0] for f in failures}
    return ("malformed job files", tried, tried - len(failed_files), 0 if unchanged else 1, ok, detail)


# Edits a user could make with sqlite3: (name, statements, whether schedd may refuse to start).
# CHECK constraints are ignored for the edit (PRAGMA ignore_check_constraints), as a careless
# hand could; SQLite stores any type in any column whatever its declared type.
HAND_EDITS = [
    ("blob in runs.output and triggered_by", ["UPDATE runs SET output = x'626f6f6dff0a', triggered_by = x'00ff'"], False),
    ("exit code beyond 32 bits, text in duration_ms", ["UPDATE runs SET exit_code = 99999999999, signal = -3e40, duration_ms = 'long', pid = 'x'"], False),
    ("unparsable times", ["UPDATE runs SET started_at = 'garbage', finished_at = 'x', scheduled_at = '2026-13-45T99:99:99Z'"], False),
    ("unknown status and trigger", ["UPDATE runs SET status = 'weird', trigger = 'odd'"], False),
    ("output streams not JSON", ["UPDATE runs SET output_streams = 'garbage' WHERE id % 2 = 0",
                                 "UPDATE runs SET output_streams = '[[1,2],{\"a\":1},-5]' WHERE id % 2 = 1"], False),
    ("job state garbage", ["UPDATE job_state SET next_run_at = 'not a date', last_fire_at = 7, consecutive_failures = 1e300, "
                           "last_run_id = 'x', pause_reason = x'00'"], False),
    ("next fire in the year 99999", ["UPDATE job_state SET next_run_at = '99999-01-01T00:00:00.000Z', last_fire_at = '0001-01-01T00:00:00.000Z'"], False),
    ("definition an empty object", ["UPDATE jobs SET spec = '{}' WHERE name = 'a'"], False),
    ("definition a blob", ["UPDATE jobs SET spec = x'7b7dff' WHERE name = 'a'"], False),
    ("definition with a bad schedule and wrong types", ["UPDATE jobs SET spec = json_set(spec, '$.schedule', '61 * * * *', '$.retries', 'x')"], False),
    ("job name a blob", ["UPDATE jobs SET name = x'ff00' WHERE name = 'b'"], False),
    ("a running run of a job that never existed", ["INSERT INTO runs (job, trigger, status, started_at, pid) VALUES ('ghost', 'manual', 'running', '2026-01-01T00:00:00.000Z', 1)"], False),
    ("meta emptied", ["DELETE FROM meta"], False),
    ("negative and maximal run ids", ["UPDATE runs SET id = -id WHERE id % 2 = 0", "UPDATE runs SET id = 9223372036854775807 WHERE id = 1"], False),
    ("50 MB of output in one row", ["UPDATE runs SET output = printf('%.*c', 50000000, 'x') WHERE id = 3"], False),
    ("table runs dropped", ["DROP VIEW run_summary", "DROP TABLE runs"], True),
    ("column runs.cpu_ms dropped", ["DROP VIEW run_summary", "ALTER TABLE runs DROP COLUMN cpu_ms"], True),
    ("schema version from the future", ["PRAGMA user_version = 99"], True),
]


def fault_handedits():
    """The database edited by hand into odd values: schedd serves them, or refuses to start saying what is wrong."""
    d = tempfile.mkdtemp(prefix="schedd-fault-")
    config = write_jobs(d, [{"name": "a", "shell": "echo a", "schedule": "@hourly"},
                            {"name": "b", "shell": "echo b; exit 3"},
                            {"name": "c", "command": ["sleep", "600"], "restart": "always"}])
    seed = Daemon(d, config)
    seed.start()
    for job in ("a", "b", "a", "b"):
        http(seed.sock, "POST", f"/v1/jobs/{job}/run")
    time.sleep(1)
    seed.stop()
    seed_db = os.path.join(d, "seed.db")
    shutil.copy(seed.db, seed_db)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(seed.db + suffix):
            shutil.copy(seed.db + suffix, seed_db + suffix)
    paths = ["/v1/status", "/v1/jobs", "/v1/runs?limit=100", "/v1/export", "/"] + [f"/v1/runs/{i}" for i in range(1, 8)] \
        + [f"/v1/jobs/{j}" for j in ("a", "b", "c")]
    tried, survived, failures = 0, 0, []
    for name, statements, may_refuse in HAND_EDITS:
        tried += 1
        case = tempfile.mkdtemp(prefix="case-", dir=d)
        daemon = Daemon(case)
        with sqlite3.connect(seed_db) as src, sqlite3.connect(daemon.db) as dst:
            src.backup(dst)
        with sqlite3.connect(daemon.db) as c:
            c.execute("PRAGMA ignore_check_constraints = 1")
            for statement in statements:
                c.execute(statement)
        started = daemon.start()
        if not started:
            daemon.stop()
            message = open(os.path.join(case, "schedd.log"), errors="replace").read().strip().splitlines()
            said = message[-1] if message else ""
            crashed = daemon.proc.returncode < 0 or "Fatal error" in "\n".join(message)
            if may_refuse and not crashed and "database" in said:
                survived += 1
            else:
                failures.append(f"{name}: did not start ({daemon.proc.returncode}: {said[:160]})")
            continue
        bad = []
        for path in paths:
            try:
                code, _ = http(daemon.sock, "GET", path, timeout=30)
            except OSError as e:
                code = f"no answer ({e})"
            if not isinstance(code, int) or code >= 500:
                bad.append(f"{path} {code}")
        for args in (["status"], ["list"], ["history", "--limit", "50"], ["show", "a"], ["export"]):
            r = subprocess.run([SCHEDCTL, "--socket", daemon.sock] + args, capture_output=True, timeout=60)
            if r.returncode not in (0, 1):
                bad.append(f"schedctl {' '.join(args)} exit {r.returncode}")
        try:
            code, _ = http(daemon.sock, "POST", "/v1/jobs/b/run", timeout=30)
        except OSError as e:
            code = f"no answer ({e})"
        if not isinstance(code, int) or code >= 500:
            bad.append(f"POST /v1/jobs/b/run {code}")
        alive = daemon.proc.poll() is None
        rc = daemon.stop()
        if alive and rc == 0 and not bad:
            survived += 1
        else:
            failures.append(f"{name}: alive {alive}, exit {rc}, {'; '.join(bad[:3])}")
    ok = survived == tried
    detail = (f"{tried} kinds of edit (blobs and out-of-range numbers in typed columns, unparsable times and definitions, "
              f"dropped tables and columns, a future schema version): each either served (every read of the API and "
              f"schedctl answered below 500, a run started, a clean stop) or refused at start with a message naming the "
              f"database: {survived}" + (f"; FAILED: {' | '.join(failures)}" if failures else ""))
    return ("the database edited by hand", tried, survived, 0, ok, detail)


def main():
    for path in (SCHEDD, SCHEDCTL):
        if not os.access(path, os.X_OK):
            sys.exit(f"{path} is missing: build with `scripts/build-release.sh`")
    args = sys.argv[1:]
    cycles = 50
    if "--cycles" in args:
        i = args.index("--cycles")
        cycles = int(args[i + 1])
        del args[i:i + 2]
    faults = {"kill9": lambda: fault_kill9(cycles), "dblock": fault_dblock, "flood": fault_flood,
              "output": fault_output, "jobfiles": fault_jobfiles, "memory": fault_memory, "handedits": fault_handedits,
              "diskfull": fault_diskfull}
    names = args or list(faults)
    rows = []
    for name in names:
        if name not in faults:
            sys.exit(f"unknown fault {name}; known: {', '.join(faults)}")
        print(f"running {name}…", file=sys.stderr, flush=True)
        row = faults[name]()
        rows.append(row)
        title, tried, survived, lost, ok, detail = row
        print(f"{'ok  ' if ok else 'FAIL'} {title}: tried {tried}, survived {survived}, lost {lost}\n     {detail}", flush=True)
    print("\n| fault | tried | survived | lost | result | what was checked |\n| --- | --- | --- | --- | --- | --- |")
    for title, tried, survived, lost, ok, detail in rows:
        print(f"| {title} | {tried} | {survived} | {lost} | {'ok' if ok else '**failed**'} | {detail} |")
    sys.exit(0 if all(r[4] for r in rows) else 1)


if __name__ == "__main__":
    main()
