#!/usr/bin/env python3
"""The cluster fault suite (docs/cluster.md, docs/reliability.md), run by hand against the
release binaries:

    scripts/build-release.sh
    Benchmarks/cluster.py                        # every scenario
    Benchmarks/cluster.py steady --duration 60   # one, shorter
    Benchmarks/cluster.py bench                  # 3 nodes, 1,000 jobs every second
    Benchmarks/cluster.py ratio                  # one node on PostgreSQL against one on SQLite

Three schedd nodes on one throwaway PostgreSQL on this machine, each reaching it through its
own socat proxy (so that a partition is a SIGSTOP of that proxy). The jobs append
`job slot run node attempt time` to a ground-truth file outside the database, so doubled and
missed slots, and overlapping runs of a `forbid` job, are counted independently of schedd's
own records.

Needs root (PostgreSQL runs as the postgres account), Debian's postgresql, socat and faketime
(`apt-get install postgresql socat faketime`). Python 3 standard library only. Prints one line
per check and a Markdown table at the end; exit status 1 if a check failed.
"""
import argparse
import atexit
import collections
import glob
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, ".build", "release")
SCHEDD = os.path.join(BIN, "schedd")
SCHEDCTL = os.path.join(BIN, "schedctl")
# Shorter than the default 10 s, so that a dead node's runs are lost within 10 s.
LEASE = 6.0
CLEANUP = []


@atexit.register
def cleanup():
    for action in reversed(CLEANUP):
        try:
            action()
        except Exception as error:  # noqa: BLE001 - best effort on the way out
            print(f"cleanup: {error}", file=sys.stderr)


def pg_bin():
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        sys.exit("PostgreSQL's server is not installed: apt-get install postgresql")
    return os.path.dirname(found[-1])


class Postgres:
    """A throwaway cluster on a Unix socket, as the tests' harness starts it."""

    def __init__(self):
        self.bin = pg_bin()
        self.dir = tempfile.mkdtemp(prefix="pgc.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        os.mkdir(self.dir + "/sock")
        shutil.chown(self.dir, "postgres", "postgres")
        shutil.chown(self.dir + "/sock", "postgres", "postgres")
        self.pg("initdb", "-D", self.dir + "/data", "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        self.start()
        CLEANUP.append(self.destroy)
        subprocess.run(["createdb", "-h", self.sock, "-U", "postgres", "schedd"], check=True, cwd="/")

    @property
    def sock(self):
        return self.dir + "/sock"

    def pg(self, program, *args):
        subprocess.run(["runuser", "-u", "postgres", "--", f"{self.bin}/{program}", *args], check=True, cwd="/",
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self):
        # Durable commits, as a real server has them. CLUSTER_PG_STATS=1: the server counts its
        # statements (`pg_stat_statements`), and `bench` writes the busiest to LOGS.
        stats = " -c shared_preload_libraries=pg_stat_statements" if os.environ.get("CLUSTER_PG_STATS") else ""
        self.pg("pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/server.log", "-w", "-t", "30", "-o",
                f"-k {self.sock} -c listen_addresses='' -c max_connections=300{stats}", "start")

    def restart(self):
        self.pg("pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/server.log", "-w", "-t", "30", "-m", "fast", "-o",
                f"-k {self.sock} -c listen_addresses='' -c max_connections=300", "restart")

    def destroy(self):
        try:
            self.pg("pg_ctl", "-D", self.dir + "/data", "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def sql(self, text):
        out = subprocess.run(["psql", "-h", self.sock, "-U", "postgres", "-d", "schedd", "-X", "-A", "-t", "-F", "|", "-c", text],
                             check=True, capture_output=True, text=True, cwd="/")
        return [line.split("|") for line in out.stdout.strip().splitlines() if line]


class Proxy:
    """socat between one node and the server: stopping it is that node's partition."""

    def __init__(self, postgres, name):
        self.dir = tempfile.mkdtemp(prefix=f"pgp{name}.", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.proc = subprocess.Popen(["socat", f"UNIX-LISTEN:{self.dir}/.s.PGSQL.5432,fork,mode=777",
                                      f"UNIX-CONNECT:{postgres.sock}/.s.PGSQL.5432"], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        CLEANUP.append(self.stop)
        deadline = time.time() + 5
        while not os.path.exists(f"{self.dir}/.s.PGSQL.5432") and time.time() < deadline:
            time.sleep(0.01)

    def freeze(self):
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.killpg(self.proc.pid, signal.SIGCONT)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGCONT)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


class Node:
    def __init__(self, work, name, proxy, config, workers=4, faketime=None):
        self.name, self.proxy, self.config, self.workers, self.faketime = name, proxy, config, workers, faketime
        self.dir = os.path.join(work, name)
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self.sock = os.path.join(self.dir, "s.sock")
        self.proc = None
        CLEANUP.append(self.kill)

    def start(self):
        args = [SCHEDD, "--postgres", f"postgresql://postgres@/schedd?host={self.proxy.dir}", "--node", self.name,
                "--config", self.config, "--socket", self.sock, "--workers", str(self.workers), "--lease", f"{int(LEASE)}s",
                "--log-level", os.environ.get("CLUSTER_LOG_LEVEL", "notice"), "--shutdown-grace", "2s"]
        if os.environ.get("CLUSTER_PROCESS_TRACKING"):
            args += ["--process-tracking", os.environ["CLUSTER_PROCESS_TRACKING"]]
        env = dict(os.environ)
        if self.faketime:
            env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            args = ["faketime", "-f", self.faketime] + args
        self.log = open(os.path.join(self.dir, "schedd.log"), "ab")
        # Its own process group: under faketime the daemon is the wrapper's child, and a kill of
        # the wrapper alone left it running.
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.log, env=env, start_new_session=True)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node {self.name} exited: see {self.dir}/schedd.log")
            if ctl(self, "status").returncode in (0, 1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"node {self.name} did not start")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
        if self.proc:
            # The whole group: the daemon (and a faketime wrapper's child), never its jobs,
            # which have sessions of their own.
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                # Still draining after 20 s (grace 2 s): what it is waiting for, while its socket
                # still answers, then the rest of the 60 s.
                self.note_stuck()
                self.proc.wait(40)

    def note_stuck(self):
        os.makedirs(LOGS, exist_ok=True)
        with open(os.path.join(LOGS, f"stuck-{self.name}"), "w") as f:
            for args in (("status",), ("--json", "status"), ("--json", "list")):
                out = ctl(self, *args)
                f.write(f"$ schedctl {' '.join(args)}\n{out.stdout}{out.stderr}\n")
            children = subprocess.run(["ps", "-o", "pid,ppid,pgid,stat,etime,args", "--ppid", str(self.proc.pid)],
                                      capture_output=True, text=True)
            f.write(f"$ ps --ppid {self.proc.pid}\n{children.stdout}\n")


def ctl(node, *args):
    return subprocess.run([SCHEDCTL, "--socket", node.sock, *args], capture_output=True, text=True)


class Truth:
    """The ground truth: one line per run start and per run end, written by the jobs."""

    def __init__(self, path):
        self.path = path

    def lines(self):
        try:
            with open(self.path) as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def starts(self):
        # start JOB SLOT RUN NODE ATTEMPT TIME
        return [line for line in self.lines() if line[0] == "start" and len(line) == 7]

    def ends(self):
        return [line for line in self.lines() if line[0] == "end" and len(line) == 7]


def parse_slot(text):
    from datetime import datetime, timezone
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def job_file(path, truth, count, long_every=0, retries=1, forbidding=0):
    """`count` jobs `@every 1s`…`5s` that note their start (every tenth from the fourth on
    ordered `after` a job that never runs, so that its slots do not go through the queue); with `long_every`, every
    `long_every`-th of the `@every 5s` ones runs 3 s and notes its end, also when stopped (so
    that there are runs in flight to lose, about 3 workers' worth for 50 jobs); and
    `forbidding` jobs `fbd…` `@every 1s` under `concurrency: forbid` (the default) that run
    1.5 s and note their start and end, so that the nodes keep skipping a slot of each while
    another node runs the one before it (`forbid_overlaps`)."""
    jobs = []
    for i in range(forbidding):
        note = f"$SCHEDD_JOB $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $SCHEDD_NODE $SCHEDD_ATTEMPT $(date +%s.%N)\" >> {truth}"
        shell = f"trap 'echo \"end {note}; exit 143' TERM; echo \"start {note}; sleep 1.5 & wait; echo \"end {note}"
        jobs.append({"name": f"fbd{i:04d}", "shell": shell, "schedule": "@every 1s"})
    for i in range(count):
        period = 1 + i % 5
        if long_every and i % 5 == 4 and (i // 5) % long_every == 0:
            shell = f"trap 'echo \"end $SCHEDD_JOB $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $SCHEDD_NODE $SCHEDD_ATTEMPT $(date +%s.%N)\" >> {truth}; exit 143' TERM; " \
                    f"echo \"start $SCHEDD_JOB $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $SCHEDD_NODE $SCHEDD_ATTEMPT $(date +%s.%N)\" >> {truth}; " \
                    f"sleep 3 & wait; echo \"end $SCHEDD_JOB $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $SCHEDD_NODE $SCHEDD_ATTEMPT $(date +%s.%N)\" >> {truth}"
            jobs.append({"name": f"long{i:04d}", "shell": shell, "schedule": f"@every {period}s", "retries": retries,
                         "retry_backoff": "0s", "concurrency": "allow"})
        else:
            shell = f"echo \"start $SCHEDD_JOB $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $SCHEDD_NODE $SCHEDD_ATTEMPT $(date +%s.%N)\" >> {truth}"
            jobs.append({"name": f"job{i:04d}", "shell": shell, "schedule": f"@every {period}s"})
            if i % 10 == 3:
                # Ordered after a job that never runs: its slots do not go through the queue,
                # and every node asks for them itself (the job's first node at once).
                jobs[-1]["after"] = ["idle"]
    # Started by hand on a node about to freeze: still running when it wakes.
    jobs.append({"name": "hold", "shell": "exec sleep 120"})
    jobs.append({"name": "idle", "shell": "true"})
    with open(path, "w") as f:
        json.dump({"jobs": jobs}, f)
    os.chmod(path, 0o644)


class Cluster:
    def __init__(self, jobs=50, long_every=10, nodes=("a", "b", "c"), workers=8, faketime=None, forbidding=0):
        self.postgres = Postgres()
        self.work = tempfile.mkdtemp(prefix="cluster.", dir="/tmp")
        CLEANUP.append(lambda: shutil.rmtree(self.work, ignore_errors=True))
        self.truth = Truth(os.path.join(self.work, "truth"))
        self.config = os.path.join(self.work, "jobs.json")
        job_file(self.config, self.truth.path, jobs, long_every, forbidding=forbidding)
        self.nodes = {}
        for name in nodes:
            proxy = Proxy(self.postgres, name)
            self.nodes[name] = Node(self.work, name, proxy, self.config, workers,
                                    faketime=(faketime if name == "c" else None))
        for node in self.nodes.values():
            node.start()
        CURRENT["cluster"] = self

    def stop(self):
        for node in self.nodes.values():
            node.stop()


def check_slots(truth, since, until, periods=None):
    """Each job's starts of attempt 1 between `since` and `until` (slot times): doubled slots,
    and missing ones (a gap of more than the job's period between consecutive slots)."""
    by_job = collections.defaultdict(list)
    for _, job, slot, _run, _node, attempt, _at in truth.starts():
        # The `forbid` jobs skip slots by design (`forbid_overlaps` checks them).
        if attempt != "1" or job.startswith("fbd"):
            continue
        t = parse_slot(slot)
        if since <= t <= until:
            by_job[job].append(t)
    doubled = sum(len(slots) - len(set(slots)) for slots in by_job.values())
    missed = 0
    for job, slots in by_job.items():
        period = 1 + int(job[-4:]) % 5
        ordered = sorted(set(slots))
        for a, b in zip(ordered, ordered[1:]):
            missed += max(0, round((b - a) / period) - 1)
    return doubled, missed, sum(len(s) for s in by_job.values())


def forbid_overlaps(truth):
    """The runs of the `forbid` jobs (`fbd…`) by the ground truth, and how many of them began
    before the job's run before them had ended (or with that run's end never noted)."""
    spans = collections.defaultdict(dict)
    for kind, job, _slot, run, _node, _attempt, at in (line for line in truth.lines() if len(line) == 7):
        if job.startswith("fbd") and kind in ("start", "end"):
            spans[job].setdefault(run, [None, None])[0 if kind == "start" else 1] = float(at)
    runs = overlaps = 0
    for by_run in spans.values():
        ordered = sorted((start, end) for start, end in by_run.values() if start is not None)
        runs += len(ordered)
        for (_, end), (start, _) in zip(ordered, ordered[1:]):
            if end is None or start < end:
                overlaps += 1
    return runs, overlaps


def lateness(truth, since, until):
    late = []
    for _, _job, slot, _run, _node, attempt, at in truth.starts():
        t = parse_slot(slot)
        if attempt == "1" and since <= t <= until:
            late.append(float(at) - t)
    late.sort()
    if not late:
        return None
    return {"p50": late[len(late) // 2], "p99": late[int(len(late) * 0.99)], "max": late[-1], "early": sum(1 for x in late if x < 0)}


RESULTS = []
CURRENT = {}
LOGS = "/tmp/cluster-logs"


def verdict(name, ok, detail):
    RESULTS.append((name, "ok" if ok else "FAILED", detail))
    cluster = CURRENT.get("cluster")
    if not ok and cluster:
        # What the nodes said, kept for a look after the scenario's cleanup.
        os.makedirs(LOGS, exist_ok=True)
        for node in cluster.nodes.values():
            shutil.copy(os.path.join(node.dir, "schedd.log"), os.path.join(LOGS, f"{name.split()[0]}-{node.name}.log"))
        shutil.copy(cluster.truth.path, os.path.join(LOGS, f"{name.split()[0]}-truth")) if os.path.exists(cluster.truth.path) else None
        try:
            activity = cluster.postgres.sql("SELECT pid, state, wait_event_type, wait_event, now() - xact_start, left(query, 120) "
                                            "FROM pg_stat_activity WHERE datname = 'schedd'")
            with open(os.path.join(LOGS, f"{name.split()[0]}-activity"), "w") as f:
                f.writelines(" | ".join(row) + "\n" for row in activity)
            rows = cluster.postgres.sql("SELECT id, job, scheduled_at, attempt, trigger, status, node, error FROM runs "
                                        "WHERE status <> 'succeeded' ORDER BY id")
            with open(os.path.join(LOGS, f"{name.split()[0]}-runs"), "w") as f:
                f.writelines(" | ".join(row) + "\n" for row in rows)
        except Exception as error:  # noqa: BLE001 - the database may be what failed
            print(f"  (no runs: {error})")
        print(f"  (logs in {LOGS})")
    print(f"{name}: {'ok' if ok else 'FAILED'}: {detail}", flush=True)


def steady(args):
    cluster = Cluster(jobs=50, long_every=0, forbidding=3)
    start = time.time()
    time.sleep(args.duration)
    end = time.time()
    cluster.stop()
    doubled, missed, total = check_slots(cluster.truth, start + 3, end - 3)
    late = lateness(cluster.truth, start + 3, end - 3)
    per_node = collections.Counter(line[4] for line in cluster.truth.starts())
    shares = {n: per_node[n] / max(1, sum(per_node.values())) for n in cluster.nodes}
    forbidden, overlaps = forbid_overlaps(cluster.truth)
    ok = doubled == 0 and missed == 0 and late and late["p99"] <= 1.0 and late["early"] == 0 and min(shares.values()) >= 0.2 \
        and overlaps == 0 and forbidden > 0
    verdict("steady", ok, f"{args.duration}s, 50 jobs: {total} slots, {doubled} doubled, {missed} missed; lateness p50 "
            f"{late['p50'] * 1000:.0f} ms, p99 {late['p99'] * 1000:.0f} ms, {late['early']} early; shares "
            + ", ".join(f"{n} {s:.0%}" for n, s in sorted(shares.items()))
            + f"; 3 forbid jobs (1.5 s runs, @every 1s): {forbidden} runs, {overlaps} overlapping")


def cluster_with_runs_on_a(*jobs):
    """A cluster in its steady state, with `jobs` just started by hand on node a (runs in
    flight on the node about to fail, whatever the schedule gave it); (cluster, node a)."""
    cluster = Cluster(jobs=50, long_every=1)
    time.sleep(8)
    victim = cluster.nodes["a"]
    for job in jobs:
        ctl(victim, "run", job)
    time.sleep(0.5)
    return cluster, victim


def kill9(args):
    cluster, victim = cluster_with_runs_on_a("long0004", "long0009")
    running = cluster.postgres.sql("SELECT count(*) FROM runs WHERE node = 'a' AND status = 'running'")[0][0]
    start = time.time()
    os.kill(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    lost_after = None
    while time.time() - start < 30:
        rows = cluster.postgres.sql("SELECT count(*) FROM runs WHERE node = 'a' AND status = 'running'")
        if rows[0][0] == "0":
            lost_after = time.time() - start
            break
        time.sleep(0.1)
    time.sleep(8)
    victim.start()
    time.sleep(5)
    end = time.time()
    cluster.stop()
    lost = cluster.postgres.sql("SELECT job, scheduled_at, attempt FROM runs WHERE node = 'a' AND status = 'lost'")
    retried = 0
    for job, slot, attempt in lost:
        same_slot = f"scheduled_at = '{slot}'" if slot else "scheduled_at IS NULL"
        again = cluster.postgres.sql(f"SELECT count(*) FROM runs WHERE job = '{job}' AND {same_slot} AND attempt = {int(attempt) + 1}")
        retried += int(again[0][0])
    doubled, missed, total = check_slots(cluster.truth, start - 5, end - 3)
    ok = lost_after is not None and lost_after <= 10 and retried == len(lost) and doubled == 0 and missed == 0
    verdict("kill -9", ok, f"{running} running on the killed node, all lost after {lost_after or -1:.1f}s; {len(lost)} lost, "
            f"{retried} retried; {total} slots around it, {doubled} doubled, {missed} missed")


def freeze(args):
    cluster, victim = cluster_with_runs_on_a("long0004", "long0009", "hold")
    start = time.time()
    os.kill(victim.proc.pid, signal.SIGSTOP)
    time.sleep(20)

    def stale_processes(among=None):
        # The frozen node's job processes (the shells and their sleeps carry SCHEDD_NODE=a):
        # those it had while frozen, not the ones it starts once it has rejoined.
        found = set()
        for pid in (among if among is not None else glob.glob("/proc/[0-9]*")):
            try:
                with open(pid + "/environ", "rb") as f:
                    env = f.read().split(b"\0")
                with open(pid + "/stat") as f:
                    zombie = f.read().rsplit(")", 1)[1].split()[0] == "Z"
                if b"SCHEDD_NODE=a" in env and not zombie:
                    found.add(pid)
            except OSError:
                pass
        return found

    frozen = stale_processes()
    frozen_with = len(frozen)
    os.kill(victim.proc.pid, signal.SIGCONT)
    woke = time.time()
    stale_for = None
    while time.time() - woke < 10:
        if not stale_processes(frozen):
            stale_for = time.time() - woke
            break
        time.sleep(0.05)
    left = stale_processes(frozen)
    stale = 0 if stale_for is not None and stale_for <= 1.0 else len(left)
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, "freeze-activity-after-wake"), "w") as f:
        time.sleep(5)
        f.writelines(" | ".join(row) + "\n" for row in cluster.postgres.sql(
            "SELECT pid, application_name, state, wait_event_type, wait_event, now() - xact_start, left(query, 150) FROM pg_stat_activity "
            "WHERE datname = 'schedd'"))
        f.write(ctl(victim, "status").stdout)
    for pid in left:
        try:
            with open(pid + "/cmdline", "rb") as f:
                print(f"  stale {pid}: {f.read().replace(bytes(1), b' ').decode(errors='replace')}")
        except OSError:
            pass
    time.sleep(8)
    end = time.time()
    cluster.stop()
    lost = cluster.postgres.sql("SELECT count(*) FROM runs WHERE node = 'a' AND status = 'lost'")[0][0]
    overwritten = cluster.postgres.sql("SELECT count(*) FROM runs WHERE node = 'a' AND status <> 'lost' AND status <> 'running' "
                                       "AND finished_at > to_timestamp(%f) AND started_at < to_timestamp(%f)" % (woke, start))[0][0]
    doubled, missed, total = check_slots(cluster.truth, start - 5, end - 3)
    # `concurrency: forbid` holds across the cluster: while the frozen node's run of a job is
    # still `running` (until the node is declared dead and the run lost), that job's next
    # slots are skipped, not missed. Only gaps beyond those count.
    held = int(cluster.postgres.sql(
        "SELECT count(*) FROM runs s WHERE s.status = 'skipped' AND s.error LIKE '%%(concurrency: forbid)' "
        "AND s.scheduled_at BETWEEN to_timestamp(%f) AND to_timestamp(%f) AND EXISTS (SELECT 1 FROM runs l WHERE l.job = s.job "
        "AND l.node = 'a' AND l.status = 'lost' AND l.scheduled_at < s.scheduled_at AND l.finished_at > s.scheduled_at)"
        % (start - 5, end - 3))[0][0])
    ok = stale == 0 and overwritten == "0" and doubled == 0 and missed <= held and int(lost) > 0
    gone = f"gone {stale_for:.2f}s after waking" if stale_for is not None else "still there 10 s after waking"
    verdict("SIGSTOP 20 s", ok, f"{lost} runs lost while frozen; its {frozen_with} job processes {gone}; {overwritten} "
            f"late writes accepted; {total} slots around it, {doubled} doubled, {missed} not run "
            f"({held} skipped by forbid while the frozen node's run of the job was not yet lost)")


def partition(args):
    cluster, victim = cluster_with_runs_on_a("long0004", "long0009")
    start = time.time()
    victim.proxy.freeze()
    time.sleep(30)
    victim.proxy.thaw()
    time.sleep(10)
    end = time.time()
    cluster.stop()
    # No overlap: a slot the partitioned node was running was taken over (attempt + 1) only
    # after the partitioned node's attempt had ended.
    starts = {(l[1], l[2], l[5]): (l[4], float(l[6])) for l in cluster.truth.starts()}
    ends = {(l[1], l[2], l[5]): (l[4], float(l[6])) for l in cluster.truth.ends()}
    overlaps = 0
    taken = 0
    for (job, slot, attempt), (node, _t) in starts.items():
        if node != "a":
            continue
        nxt = starts.get((job, slot, str(int(attempt) + 1)))
        if nxt and nxt[0] != "a":
            taken += 1
            ended = ends.get((job, slot, attempt))
            if ended is None or ended[1] > nxt[1]:
                overlaps += 1
    rejoined = cluster.postgres.sql("SELECT state, epoch FROM nodes WHERE name = 'a'")[0]
    doubled, missed, total = check_slots(cluster.truth, start - 5, end - 3)
    ok = overlaps == 0 and doubled == 0 and missed == 0 and rejoined[0] in ("up", "left")
    verdict("partition 30 s", ok, f"{taken} runs taken over, {overlaps} overlapping the partitioned node's; node a rejoined "
            f"(epoch {rejoined[1]}); {total} slots around it, {doubled} doubled, {missed} missed")


def skew(args):
    cluster = Cluster(jobs=50, long_every=0, faketime="+90s")
    time.sleep(3)
    nodes = ctl(cluster.nodes["a"], "--json", "nodes")
    offsets = {n["name"]: n.get("clock_offset_ms") for n in json.loads(nodes.stdout)}
    start = time.time()
    time.sleep(max(20, args.duration // 5))
    end = time.time()
    shown = ctl(cluster.nodes["a"], "nodes")
    cluster.stop()
    late = lateness(cluster.truth, start, end - 3)
    doubled, missed, total = check_slots(cluster.truth, start, end - 3)
    by_c = sum(1 for l in cluster.truth.starts() if l[4] == "c")
    ok = late and late["early"] == 0 and doubled == 0 and missed == 0 and offsets.get("c") is not None and offsets["c"] < -89000
    verdict("clock +90 s", ok, f"node c's offset {offsets.get('c')} ms ({'flagged' if '(!)' in shown.stdout else 'not flagged'}); "
            f"{total} slots, {late['early'] if late else '?'} early, {doubled} doubled, {missed} missed; c ran {by_c}")


def seconds_until(condition, since, timeout, step=0.05):
    """The seconds from `since` until `condition()` held, polled every `step` for up to
    `timeout` after `since`; None if it never did."""
    while time.time() - since < timeout:
        if condition():
            return time.time() - since
        time.sleep(step)
    return None


def ran_since(cluster, name, since):
    """Whether node `name` has started a run since `since` (seconds since the epoch)."""
    return cluster.postgres.sql(f"SELECT count(*) FROM runs WHERE node = '{name}' AND started_at > to_timestamp({since})")[0][0] != "0"


def pgrestart(args):
    cluster = Cluster(jobs=50, long_every=0)
    time.sleep(5)
    start = time.time()
    cluster.postgres.restart()
    restarted = time.time()
    back = {}
    while time.time() - restarted < 30 and len(back) < len(cluster.nodes):
        for name in cluster.nodes:
            if name not in back and ran_since(cluster, name, restarted):
                back[name] = time.time() - restarted
        time.sleep(0.1)
    time.sleep(5)
    end = time.time()
    cluster.stop()
    doubled, missed, total = check_slots(cluster.truth, start - 5, end - 3)
    worst = max(back.values()) if len(back) == len(cluster.nodes) else None
    ok = worst is not None and worst <= 5 and doubled == 0
    verdict("PostgreSQL restarted", ok, f"nodes running again after " + ", ".join(f"{n} {t:.1f}s" for n, t in sorted(back.items()))
            + f"; {total} slots around it, {doubled} doubled, {missed} missed")


def rolling(args):
    """Each node in turn stopped with SIGTERM, as an upgrade does, and started again 3 s
    later: the others run every slot meanwhile, and the node that left leaves nothing behind
    (no run still `running` under its earlier registration, no retry waiting for it), and the
    runs its shutdown stopped past the grace are retried."""
    cluster = Cluster(jobs=50, long_every=1, forbidding=3)
    # And a service, which runs on one node at a time and moves when that node leaves.
    with open(cluster.config) as f:
        config = json.load(f)
    config["jobs"].append({"name": "svc", "command": ["sleep", "1000"], "restart": "always", "ready_after": "0s"})
    # And a job that fails on the node about to stop, whose retry then waits there.
    failing = os.path.join(cluster.work, "failing-")
    config["jobs"].append({"name": "flaky", "shell": f"[ ! -e {failing}$SCHEDD_NODE ]", "retries": 1, "retry_backoff": "4s"})
    with open(cluster.config, "w") as f:
        json.dump(config, f)
    for node in cluster.nodes.values():
        ctl(node, "reload")
    time.sleep(8)
    start = time.time()
    stops, back, moved, held, handed = {}, {}, {}, [], {}
    dead = []
    for name, node in cluster.nodes.items():
        if node.proc.poll() is not None:
            dead.append(name)
        holder = cluster.postgres.sql("SELECT node FROM runs WHERE job = 'svc' AND status = 'running'")
        # A run in flight that outlasts the node's 2 s grace, and a retry waiting for its time.
        ctl(node, "run", "long0004")
        open(failing + name, "w").close()
        ctl(node, "run", "flaky")
        time.sleep(0.5)
        asked = time.time()
        node.stop()
        stopped = time.time()
        stops[name] = stopped - asked
        os.remove(failing + name)
        if holder and holder[0][0] == name:
            held.append(name)
            moved[name] = seconds_until(lambda: cluster.postgres.sql(
                f"SELECT count(*) FROM runs WHERE job = 'svc' AND status = 'running' AND node <> '{name}'")[0][0] != "0", stopped, 15)
        # Its waiting retry, taken over by another node (one looks every third of a lease).
        handed[name] = seconds_until(lambda: cluster.postgres.sql(
            f"SELECT count(*) FROM runs f WHERE f.job = 'flaky' AND f.node = '{name}' AND (f.retry_node <> '{name}' "
            f"OR EXISTS (SELECT 1 FROM runs r WHERE r.retry_of = f.id AND r.node <> '{name}'))")[0][0] != "0", stopped, 2 * LEASE)
        time.sleep(max(0.0, 3 - (time.time() - stopped)))
        node.start()
        restarted = time.time()
        back[name] = seconds_until(lambda: ran_since(cluster, name, restarted), restarted, 10, step=0.1)
        time.sleep(5)
    end = time.time()
    stale = int(cluster.postgres.sql("SELECT count(*) FROM runs r JOIN nodes n ON n.name = r.node "
                                     "WHERE r.status IN ('running', 'queued') AND r.epoch < n.epoch")[0][0])
    # Retries marked for a node while it is not up (none is pinned here).
    stranded = int(cluster.postgres.sql("SELECT count(*) FROM runs r WHERE r.retry_at IS NOT NULL AND NOT EXISTS ("
                                        "SELECT 1 FROM runs n WHERE n.retry_of = r.id) AND NOT EXISTS (SELECT 1 FROM nodes n "
                                        "WHERE n.name = coalesce(r.retry_node, r.node) AND n.state = 'up')")[0][0])
    # Runs that did not end by themselves: what the nodes' shutdowns stopped.
    ended = cluster.postgres.sql("SELECT status, count(*) FROM runs WHERE status NOT IN ('succeeded', 'skipped', 'queued', 'running') "
                                 "AND job <> 'svc' GROUP BY status ORDER BY status")
    # The service's runs, one after another: never two at once.
    svc = cluster.postgres.sql("SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM runs b WHERE b.job = 'svc' AND b.id > a.id "
                               "AND b.started_at < coalesce(a.finished_at, 'infinity'))) FROM runs a WHERE a.job = 'svc' AND a.status <> 'skipped'")[0]
    # Each stopped node's failed run of `flaky` and the node that ran its retry.
    retried = cluster.postgres.sql("SELECT f.node, coalesce(r.node || ' ' || r.status, 'none') FROM runs f "
                                   "LEFT JOIN runs r ON r.retry_of = f.id WHERE f.job = 'flaky' AND f.attempt = 1 ORDER BY f.id")
    # The runs each shutdown stopped past its grace (`long` jobs have a retry left): each
    # retried, on the node that took its retry over (or on its own node once back).
    rerun = cluster.postgres.sql("SELECT c.node, coalesce(r.node || ' ' || r.status, 'none') FROM runs c "
                                 "LEFT JOIN runs r ON r.retry_of = c.id WHERE c.job LIKE 'long%' AND c.status = 'cancelled' "
                                 "AND c.error LIKE '%at shutdown%' AND c.attempt = 1 ORDER BY c.id")
    cluster.stop()
    doubled, missed, total = check_slots(cluster.truth, start - 3, end - 3)
    forbidden, overlaps = forbid_overlaps(cluster.truth)
    retries_ok = len(retried) == len(cluster.nodes) and all(retry.endswith(" succeeded") for _, retry in retried)
    # (How many depends on which runs were in flight: the one started by hand may have been
    # claimed by another node.)
    rerun_ok = bool(rerun) and all(retry.endswith(" succeeded") for _, retry in rerun)
    elsewhere = sum(1 for failed, retry in retried if not retry.startswith(failed + " "))
    def within(times, limit):
        return bool(times) and all(t is not None and t <= limit for t in times.values())
    ok = doubled == 0 and missed == 0 and overlaps == 0 and stale == 0 and stranded == 0 and retries_ok and rerun_ok and within(handed, 2 * LEASE) \
        and within(back, 10) and within(stops, 10) and not dead and within(moved, 5) and svc[1] == "0"
    verdict("rolling restart", ok, (f"exited before its SIGTERM: {', '.join(dead)}; " if dead else "")
            + "stopped in " + ", ".join(f"{n} {t:.2f}s" for n, t in stops.items())
            + "; running again after " + ", ".join(f"{n} {t:.1f}s" if t is not None else f"{n} never" for n, t in sorted(back.items()))
            + f"; {total} slots around it, {doubled} doubled, {missed} missed; runs that did not succeed: "
            + (", ".join(f"{count} {status}" for status, count in ended) or "none") + "; "
            f"{stale} rows left active by a node that left; runs stopped past the grace: {len(rerun)}, retried: "
            + (", ".join(f"of {stopped}: {retry}" for stopped, retry in rerun) or "none") + "; "
            f"retries waiting on the stopped node: {len(retried)}, "
            + ", ".join(f"of {failed}: {retry}" for failed, retry in retried)
            + f" (taken over after " + ", ".join(f"{t:.1f}s" if t is not None else "never" for t in handed.values()) + f"; {elsewhere} run elsewhere), {stranded} stranded; "
            f"forbid jobs: {forbidden} runs, {overlaps} overlapping; the service's node stopped: "
            + (", ".join(f"{n}, moved after {moved[n]:.1f}s" if moved[n] is not None else f"{n}, not moved" for n in held) or "never") + f" ({svc[0]} runs, {svc[1]} overlapping)")


def cpu_seconds(pid):
    """The CPU time (user and system) process `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench(args):
    """3 nodes, 1,000 jobs (`--bench-jobs`) every second, for `duration` seconds (default 60)."""
    cluster = Cluster(jobs=0)
    # The shell's own echo and nothing else (a `$(date)` was a second process per run, most of
    # the machine at this rate): lateness is read from the runs' rows, the start schedd
    # recorded before the process began, as schedd-bench reads it on one node.
    jobs = [{"name": f"b{i:04d}", "shell": f"echo \"start b{i:04d} $SCHEDD_SCHEDULED_AT $SCHEDD_RUN_ID $SCHEDD_NODE $SCHEDD_ATTEMPT -\" >> {cluster.truth.path}",
             "schedule": "@every 1s"} for i in range(args.bench_jobs)]
    if args.bench_after:
        # Ordered after a job that never runs: the slots do not go through the queue, and each
        # node asks for them itself (the job's first node at once, the others later).
        for job in jobs:
            job["after"] = ["idle"]
        jobs.append({"name": "idle", "shell": "true"})
    with open(cluster.config, "w") as f:
        json.dump({"jobs": jobs}, f)
    for node in cluster.nodes.values():
        ctl(node, "reload")
    time.sleep(5)
    if os.environ.get("CLUSTER_PG_STATS"):
        cluster.postgres.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        cluster.postgres.sql("SELECT pg_stat_statements_reset()")
    start = time.time()
    before = int(cluster.postgres.sql("SELECT count(*) FROM runs")[0][0])
    cpu_before = sum(cpu_seconds(node.proc.pid) for node in cluster.nodes.values())
    time.sleep(args.duration)
    cpu = sum(cpu_seconds(node.proc.pid) for node in cluster.nodes.values()) - cpu_before
    after = int(cluster.postgres.sql("SELECT count(*) FROM runs")[0][0])
    end = time.time()
    if os.environ.get("CLUSTER_PG_STATS"):
        os.makedirs(LOGS, exist_ok=True)
        rows = cluster.postgres.sql("SELECT calls, round(total_exec_time)::int8, round(mean_exec_time::numeric, 3), rows, "
                                    "left(regexp_replace(query, '\\s+', ' ', 'g'), 160) FROM pg_stat_statements "
                                    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'schedd') ORDER BY total_exec_time DESC LIMIT 40")
        with open(os.path.join(LOGS, "bench-statements"), "w") as f:
            f.write("calls | total ms | mean ms | rows | statement\n")
            f.writelines(" | ".join(row) + "\n" for row in rows)
        print(f"  (the server's busiest statements in {LOGS}/bench-statements)")
    cluster.stop()
    slots = collections.defaultdict(list)
    for _, job, slot, _run, _node, attempt, at in cluster.truth.starts():
        t = parse_slot(slot)
        if attempt == "1" and start <= t <= end - 2:
            slots[job].append(t)
    doubled = sum(len(s) - len(set(s)) for s in slots.values())
    # Every whole second in the window is a slot of each job (`@every 1s`).
    expected = args.bench_jobs * (math.floor(end - 2) - math.ceil(start) + 1)
    got = sum(len(set(s)) for s in slots.values())
    rows = cluster.postgres.sql(f"""
        SELECT extract(epoch FROM started_at - scheduled_at)::float8 FROM runs
        WHERE attempt = 1 AND status NOT IN ('skipped', 'queued') AND scheduled_at BETWEEN to_timestamp({start}) AND to_timestamp({end - 2})""")
    delays = sorted(float(row[0]) for row in rows)
    late = {"p50": delays[len(delays) // 2], "p99": delays[int(len(delays) * 0.99)]} if delays else None
    skipped = cluster.postgres.sql("SELECT count(*) FROM runs WHERE status = 'skipped'")[0][0]
    rate = (after - before) / (end - start)
    verdict(f"bench {args.bench_jobs:,} jobs @every 1s, 3 nodes" + (", each ordered after another" if args.bench_after else ""),
            doubled == 0 and got == expected and late and late["p99"] <= 0.2,
            f"{args.duration}s: {got} of {expected} slots run, {doubled} doubled, {skipped} skipped; lateness p50 "
            f"{late['p50'] * 1000:.0f} ms, p99 {late['p99'] * 1000:.0f} ms; {rate:.0f} runs recorded/s; "
            f"the daemons' CPU {cpu:.1f} s in {end - start:.0f} s")


def ratio(args):
    """One node on PostgreSQL against one node on SQLite: 1,000 jobs `true` every second,
    8 workers each, runs recorded per second over a 20 s window after 8 s of warm-up."""
    jobs = {"jobs": [{"name": f"b{i:04d}", "shell": "true", "schedule": "@every 1s"} for i in range(1000)]}
    rates = {}
    for kind in ("postgresql", "sqlite"):
        work = tempfile.mkdtemp(prefix="cluster.", dir="/tmp")
        CLEANUP.append(lambda work=work: shutil.rmtree(work, ignore_errors=True))
        os.chmod(work, 0o755)
        config = os.path.join(work, "jobs.json")
        with open(config, "w") as f:
            json.dump(jobs, f)
        if kind == "postgresql":
            postgres = Postgres()
            store = ["--postgres", f"postgresql://postgres@/schedd?host={postgres.sock}", "--node", "a", "--lease", f"{int(LEASE)}s"]
            count = lambda: int(postgres.sql("SELECT count(*) FROM runs WHERE status <> 'skipped'")[0][0])  # noqa: E731
        else:
            database = os.path.join(work, "schedd.db")
            store = ["--db", database]
            count = lambda: int(subprocess.run(["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); "  # noqa: E731
                                                "print(c.execute(\"SELECT count(*) FROM runs WHERE status <> 'skipped'\").fetchone()[0])",
                                                database], capture_output=True, text=True, check=True).stdout)
        proc = subprocess.Popen([SCHEDD, *store, "--config", config, "--socket", os.path.join(work, "s.sock"), "--workers", "8",
                                 "--log-level", "notice"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "log"), "wb"),
                                start_new_session=True)
        CLEANUP.append(lambda proc=proc: (proc.poll() is None and os.killpg(proc.pid, signal.SIGKILL), proc.wait()))
        time.sleep(8)
        before, start = count(), time.time()
        time.sleep(20)
        after, end = count(), time.time()
        rates[kind] = (after - before) / (end - start)
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    verdict("one node, PostgreSQL against SQLite", rates["sqlite"] > 0,
            f"1,000 jobs every second, 8 workers: PostgreSQL {rates['postgresql']:.0f} runs/s, SQLite {rates['sqlite']:.0f} runs/s, "
            f"ratio {rates['postgresql'] / max(rates['sqlite'], 1):.2f}x")


SCENARIOS = {"steady": steady, "kill9": kill9, "freeze": freeze, "partition": partition, "skew": skew, "pgrestart": pgrestart,
             "rolling": rolling, "bench": bench, "ratio": ratio}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", choices=[*SCENARIOS, []], help="default: all but bench and ratio")
    parser.add_argument("--duration", type=int, default=300, help="seconds of steady state (default 300; bench: 60)")
    parser.add_argument("--bench-duration", type=int, default=60, help="seconds of the 1,000-job benchmark")
    parser.add_argument("--bench-jobs", type=int, default=1000, help="jobs of the benchmark (default 1,000)")
    parser.add_argument("--bench-after", action="store_true",
                        help="bench: the 1,000 jobs ordered `after` another, so that their slots do not go through the queue")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("run as root: the PostgreSQL server runs as the postgres account")
    for tool in ("socat", "faketime"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install {tool}")
    if not os.path.exists(SCHEDD):
        sys.exit("build first: scripts/build-release.sh")
    chosen = args.scenarios or [s for s in SCENARIOS if s not in ("bench", "ratio")]
    if chosen == ["bench"] and args.duration == 300:
        args.duration = 60
    bench_duration = args.bench_duration
    for name in chosen:
        try:
            if name == "bench" and chosen != ["bench"]:
                args.duration, saved = bench_duration, args.duration
                SCENARIOS[name](args)
                args.duration = saved
                continue
            SCENARIOS[name](args)
        except Exception as error:  # noqa: BLE001 - a scenario that broke is a failed verdict
            verdict(name, False, f"the scenario broke: {error}")
        finally:
            cleanup()
            CLEANUP.clear()
    print("\n| scenario | verdict | counts |\n| --- | --- | --- |")
    for name, result, detail in RESULTS:
        print(f"| {name} | {result} | {detail} |")
    sys.exit(0 if all(r == "ok" for _, r, _ in RESULTS) else 1)


if __name__ == "__main__":
    main()
