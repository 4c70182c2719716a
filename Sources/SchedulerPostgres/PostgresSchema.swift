/// The versioned schema of the PostgreSQL store (docs/cluster.md documents it, beside the
/// SQLite one in docs/schema.md). `meta.schema_version` holds the version; each migration
/// moves it up by one in the same transaction as its DDL, under an advisory lock, so that
/// nodes starting together migrate once.
enum PostgresSchema {
    /// The advisory lock the migrations hold (any number; ours: "schedd" in ASCII).
    static let migrationLock: Int64 = 0x73_63_68_65_64_64

    /// The statements of each version, run one by one (the extended protocol takes one
    /// statement per query).
    static let migrations: [[String]] = [
        // 1: jobs, their state, runs (each slot of a job run at most once: a unique key; a
        // node's skip of a slot takes no part in it, so that it never keeps another node from
        // running the slot), and the
        // nodes of the cluster with their leases; counts of changes to the job set and to
        // pauses, which tell the nodes to read the jobs again.
        [
            """
            CREATE TABLE meta (
                key   text PRIMARY KEY,
                value text NOT NULL
            )
            """,
            """
            INSERT INTO meta (key, value) VALUES ('cluster_id', md5(random()::text || clock_timestamp()::text)),
                                                 ('jobs_generation', '0'), ('pauses_generation', '0')
            """,
            """
            CREATE TABLE jobs (
                name          text PRIMARY KEY,
                spec          text NOT NULL,
                enabled       boolean NOT NULL DEFAULT true,
                created_at    timestamptz NOT NULL,
                updated_at    timestamptz NOT NULL,
                origin        text NOT NULL DEFAULT 'api' CHECK (origin IN ('file', 'api')),
                origin_detail text,
                created_by    text,
                changed_by    text
            )
            """,
            """
            CREATE TABLE job_state (
                job                  text PRIMARY KEY REFERENCES jobs (name) ON DELETE CASCADE,
                paused               boolean NOT NULL DEFAULT false,
                pause_reason         text,
                consecutive_failures integer NOT NULL DEFAULT 0,
                last_run_id          bigint,
                next_run_at          timestamptz,
                last_fire_at         timestamptz
            )
            """,
            """
            CREATE TABLE nodes (
                name            text PRIMARY KEY,
                epoch           bigint NOT NULL,
                state           text NOT NULL CHECK (state IN ('up', 'left', 'dead')),
                started_at      timestamptz NOT NULL,
                heartbeat_at    timestamptz NOT NULL,
                lease_until     timestamptz NOT NULL,
                workers         integer NOT NULL DEFAULT 0,
                running         integer NOT NULL DEFAULT 0,
                clock_offset_ms integer,
                pid             integer,
                version         text
            )
            """,
            """
            CREATE TABLE runs (
                id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                job              text NOT NULL,
                trigger          text NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry', 'restart', 'boot', 'catch_up', 'dependency')),
                attempt          integer NOT NULL DEFAULT 1,
                status           text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted', 'skipped', 'lost')),
                scheduled_at     timestamptz,
                started_at       timestamptz NOT NULL,
                finished_at      timestamptz,
                duration_ms      bigint,
                exit_code        integer,
                signal           integer,
                pid              integer,
                output           text,
                output_truncated boolean NOT NULL DEFAULT false,
                output_streams   text,
                error            text,
                cpu_ms           bigint,
                triggered_by     text,
                cancelled_by     text,
                node             text NOT NULL,
                epoch            bigint NOT NULL
            )
            """,
            """
            CREATE INDEX runs_by_job ON runs (job, id DESC)
            """,
            """
            CREATE INDEX runs_by_status ON runs (status, id DESC)
            """,
            """
            CREATE INDEX runs_by_start ON runs (started_at)
            """,
            """
            CREATE INDEX runs_running_by_node ON runs (node) WHERE status = 'running'
            """,
            """
            CREATE UNIQUE INDEX runs_one_per_slot ON runs (job, scheduled_at, attempt) WHERE scheduled_at IS NOT NULL AND status <> 'skipped'
            """,
            """
            CREATE FUNCTION schedd_jobs_generation() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'jobs_generation';
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER jobs_generation AFTER INSERT OR UPDATE OR DELETE ON jobs
                FOR EACH STATEMENT EXECUTE FUNCTION schedd_jobs_generation()
            """,
            """
            CREATE FUNCTION schedd_pauses_generation() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'pauses_generation';
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER pauses_generation AFTER UPDATE OF paused, pause_reason ON job_state
                FOR EACH ROW WHEN (OLD.paused IS DISTINCT FROM NEW.paused OR OLD.pause_reason IS DISTINCT FROM NEW.pause_reason)
                EXECUTE FUNCTION schedd_pauses_generation()
            """,
            """
            CREATE TABLE service_holders (
                job   text PRIMARY KEY,
                node  text NOT NULL,
                epoch bigint NOT NULL
            )
            """,
        ],
        // 2: a slot's rows of any status by index: a skip is recorded only if no node has a
        // row for its slot yet, and the unique key leaves skipped rows out (without this, each
        // skip read every run of its job); and one skip per slot, since every node fires every
        // slot at the same moment and their skips raced past that check.
        [
            """
            CREATE INDEX runs_by_slot ON runs (job, scheduled_at) WHERE scheduled_at IS NOT NULL
            """,
            """
            CREATE UNIQUE INDEX runs_one_skip_per_slot ON runs (job, scheduled_at, attempt) WHERE scheduled_at IS NOT NULL AND status = 'skipped'
            """,
        ],
        // 3: the queue of slots: a slot is inserted once as a `queued` row, and a node with a
        // free worker claims it (oldest due first, rows another node is claiming skipped); a
        // job's runs queued or running anywhere by index, for `concurrency: forbid`; a cancel
        // asked on one node of a run on another; a manual run queued for the node its job is
        // pinned to.
        [
            """
            ALTER TABLE runs ADD COLUMN cancel_requested text, ADD COLUMN cancel_requested_by text, ADD COLUMN queue_node text
            """,
            """
            ALTER TABLE runs DROP CONSTRAINT runs_status_check
            """,
            """
            ALTER TABLE runs ADD CONSTRAINT runs_status_check
                CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted', 'skipped', 'lost', 'queued'))
            """,
            """
            CREATE INDEX runs_queued ON runs (scheduled_at, id) WHERE status = 'queued'
            """,
            """
            CREATE INDEX runs_active_by_job ON runs (job) WHERE status IN ('queued', 'running')
            """,
        ],
        // 4: a change to the job set or to a pause also wakes the other nodes (`NOTIFY`, sent
        // at commit, one per transaction however many statements changed jobs), so that they
        // read the jobs again at once instead of at their next poll.
        [
            countingAndNotifying("schedd_jobs_generation", key: "jobs_generation"),
            countingAndNotifying("schedd_pauses_generation", key: "pauses_generation"),
        ],
        // 5: a run's output followed from another node: the follower asks for it until a
        // moment (`output_wanted_until`), and while it does, the run's node writes the output
        // so far to the row with how many bytes the run had printed (`output_total`, also
        // written with the run's end). The queue indexed in the order it is claimed in, and
        // claimed through a function whose plan walks that index: by `(scheduled_at, id)`, or
        // planned with the statistics of a table that grew fast, a claim read and sorted every
        // queued row (11–45 ms a claim with a backlog of thousands, most of the server's time);
        // walked in order it stops at its limit, and skips the entries of rows claimed before
        // (marked dead by earlier scans) without visiting them.
        [
            """
            ALTER TABLE runs ADD COLUMN output_wanted_until timestamptz, ADD COLUMN output_total bigint
            """,
            """
            DROP INDEX runs_queued
            """,
            """
            CREATE INDEX runs_queued_in_order ON runs ((coalesce(scheduled_at, started_at)), id) WHERE status = 'queued'
            """,
            """
            CREATE FUNCTION schedd_claim(claimant text, claimant_epoch bigint, most bigint) RETURNS SETOF runs
            LANGUAGE plpgsql SET enable_bitmapscan = off SET enable_sort = off AS $$
            BEGIN
                -- PL/pgSQL keeps the plan from call to call (a SQL function planned it each time).
                RETURN QUERY
                UPDATE runs r SET status = 'running', node = claimant, epoch = claimant_epoch, started_at = now()
                FROM (SELECT id FROM runs WHERE status = 'queued' AND (queue_node IS NULL OR queue_node = claimant)
                      AND (scheduled_at IS NULL OR scheduled_at <= now())
                      ORDER BY coalesce(scheduled_at, started_at), id LIMIT most FOR UPDATE SKIP LOCKED) q
                WHERE r.id = q.id
                RETURNING r.*;
            END $$
            """,
        ],
        // 6: a failed run whose retry waits for its time says when it is due, so that the
        // retry outlives a restart of its node; cleared once the retry starts.
        [
            """
            ALTER TABLE runs ADD COLUMN retry_at timestamptz
            """,
            """
            CREATE INDEX runs_retry_pending ON runs (retry_at) WHERE retry_at IS NOT NULL
            """,
        ],
        // 7: the node that will run a pending retry (NULL: the run's own), so that a dead
        // node's retries are taken over with its runs, and are its new node's from then on.
        [
            """
            ALTER TABLE runs ADD COLUMN retry_node text
            """,
        ],
        // 8: the run whose end triggered a dependency run, as in SQLite.
        [
            """
            ALTER TABLE runs ADD COLUMN triggered_by_run bigint
            """,
        ],
        // 9: the failed attempt a retry follows, as in SQLite (its schema 8): a retry mark is
        // void once its own retry has a row, not any retry of the job with the next attempt.
        // One row per retry, whichever node writes it: a retry runs once in the cluster (a
        // slot's retries had that from the slot's key; a manual run's did not), and one
        // recorded skipped by another node (`schedctl cancel` there) is not started.
        [
            """
            ALTER TABLE runs ADD COLUMN retry_of bigint
            """,
            """
            CREATE UNIQUE INDEX runs_retry_of ON runs (retry_of) WHERE retry_of IS NOT NULL
            """,
        ],
        // 10: the slots of a job with `catch_up: all` under `forbid` or `replace` (its missed
        // times) run one after another across the cluster, as on one node: each is queued
        // whatever of the job is queued or running, and claimed only once no run of its job is
        // running and no such slot of its job before it is still queued. Before, a statement
        // queueing several slots of a `forbid` job (it does not see its own rows) queued them
        // all, and nodes ran them side by side.
        [
            """
            ALTER TABLE runs ADD COLUMN waits_for_job boolean NOT NULL DEFAULT false
            """,
            claimFunction(passingOverQueuedForbidding: false),
        ],
        // 11: `forbid` across the cluster held by a unique index: a job has at most one queued
        // or running row that forbids overlap (the rows of its slots under `forbid`, and the
        // starts that wait for their job). Before, two nodes inserting different slots of such
        // a job at once each found no run of it (a statement does not see another's rows
        // until they are committed) and both queued; now the second insert waits for the
        // first statement, then finds the job's row and is recorded skipped.
        [
            """
            ALTER TABLE runs ADD COLUMN forbids_overlap boolean NOT NULL DEFAULT false
            """,
            """
            CREATE UNIQUE INDEX runs_one_forbidding_run ON runs (job) WHERE forbids_overlap AND status IN ('queued', 'running')
            """,
        ],
        // 12: a run that a retry on another node waits for wakes the nodes when it ends
        // (`wake_on_end`, set by the node the retry was refused to, read by the run's end).
        // Before, the retry only asked again every `claimRetry`, and a slot of the job that
        // started in between kept it waiting again: for ever, with a job seldom idle.
        [
            """
            ALTER TABLE runs ADD COLUMN wake_on_end boolean NOT NULL DEFAULT false
            """,
        ],
        // 13: a slot that waits for its job is also passed over while a slot of its job that
        // forbids overlap is queued: that one was queued first (queued after, it would have
        // been skipped), so it runs first. Before, one claim could take both (the waiting one
        // is older), and they ran side by side.
        [
            claimFunction(passingOverQueuedForbidding: true),
        ],
        // 14: every way a run that something waits for stops being queued or running (its
        // end, its loss with its node, a skip of it while queued) wakes the nodes, by a trigger
        // rather than by each statement that can do it; a queued one skipped woke no one.
        [
            """
            CREATE FUNCTION schedd_wake_waiters() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM pg_notify('\(PostgresStore.queueChannel)', NEW.job);
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER runs_wake_waiters AFTER UPDATE OF status ON runs FOR EACH ROW
            WHEN (OLD.wake_on_end AND OLD.status IN ('queued', 'running') AND NEW.status NOT IN ('queued', 'running'))
            EXECUTE FUNCTION schedd_wake_waiters()
            """,
        ],
        // 15: a run that ended on its own while its node was stopping, with no retry: its
        // trigger's final result (failures in a row, `on_failure`/`on_success`) is applied when
        // the node starts again, as in SQLite (its schema 9). Before, it was never applied.
        [
            """
            ALTER TABLE runs ADD COLUMN policy_pending boolean
            """,
            """
            CREATE INDEX runs_policy_pending ON runs (node) WHERE policy_pending IS NOT NULL
            """,
        ],
        // 16: the mark names the node that applies the final result (the run's node at first;
        // another node takes it over once that node has left the cluster, as its retries).
        // Before, a node that never came back left it unapplied. A new column rather than a
        // change of type: that would rewrite the whole table, under its lock, within the
        // migration's deadline.
        [
            """
            ALTER TABLE runs ADD COLUMN policy_node text
            """,
            """
            UPDATE runs SET policy_node = node WHERE policy_pending IS NOT NULL AND policy_pending
            """,
            """
            DROP INDEX runs_policy_pending
            """,
            """
            ALTER TABLE runs DROP COLUMN policy_pending
            """,
            """
            ALTER TABLE runs RENAME COLUMN policy_node TO policy_pending
            """,
            """
            CREATE INDEX runs_policy_pending ON runs (policy_pending) WHERE policy_pending IS NOT NULL
            """,
        ],
        // 17: a registration's epoch comes from one sequence for the whole cluster, never
        // reused, so that a node's row can be forgotten (a dead one too): a frozen process of
        // it that wakes later cannot match the epoch of a registration made under its name
        // since. Before, epochs counted per name from 1, and a dead node's row was kept for
        // ever. The sequence starts past every epoch written so far.
        [
            """
            CREATE SEQUENCE node_epochs AS bigint
            """,
            """
            SELECT setval('node_epochs', 1 + greatest((SELECT coalesce(max(epoch), 0) FROM nodes), (SELECT coalesce(max(epoch), 0) FROM runs),
                                                      (SELECT coalesce(max(epoch), 0) FROM service_holders)), false)
            """,
        ],
        // 18: a stop, start or restart of a service asked on a node other than the one that
        // runs it goes to that node through this table (woken on `schedd_cancel`), which takes
        // it, does it and answers; the asking node reads the answer and deletes the row. Before,
        // such a command was refused ("stop, start or restart it there").
        [
            """
            CREATE TABLE service_commands (
                id            bigserial PRIMARY KEY,
                job           text NOT NULL,
                node          text NOT NULL,
                action        text NOT NULL CHECK (action IN ('stop', 'start', 'restart')),
                requested_by  text,
                asked_on      text NOT NULL,
                requested_at  timestamptz NOT NULL DEFAULT now(),
                taken_at      timestamptz,
                answer_state  text,
                answer_reason text,
                answer_error  text,
                answered_at   timestamptz
            )
            """,
            """
            CREATE INDEX service_commands_untaken ON service_commands (node) WHERE taken_at IS NULL
            """,
        ],
    ]

    static var currentVersion: Int { migrations.count }

    /// `schedd_claim` as versions 10 and 13 make it: it claims up to `most` queued rows due by
    /// the database's clock, oldest first, for `claimant`, and passes over a slot that waits
    /// for its job while a run of the job is running, one such slot of it before it is queued
    /// (in the statement's snapshot: a claim of that one by another node, not yet committed,
    /// still shows it queued), or (version 13) a slot of it that forbids overlap is queued.
    static func claimFunction(passingOverQueuedForbidding: Bool) -> String {
        let forbidding = passingOverQueuedForbidding ? "\n                          OR (a.status = 'queued' AND a.forbids_overlap)" : ""
        return """
            CREATE OR REPLACE FUNCTION schedd_claim(claimant text, claimant_epoch bigint, most bigint) RETURNS SETOF runs
            LANGUAGE plpgsql SET enable_bitmapscan = off SET enable_sort = off AS $$
            BEGIN
                -- PL/pgSQL keeps the plan from call to call (a SQL function planned it each time).
                RETURN QUERY
                UPDATE runs r SET status = 'running', node = claimant, epoch = claimant_epoch, started_at = now()
                FROM (SELECT w.id FROM runs w WHERE w.status = 'queued' AND (w.queue_node IS NULL OR w.queue_node = claimant)
                      AND (w.scheduled_at IS NULL OR w.scheduled_at <= now())
                      AND (NOT w.waits_for_job OR NOT EXISTS (
                          SELECT 1 FROM runs a WHERE a.job = w.job AND a.id <> w.id AND (a.status = 'running'\(forbidding)
                          OR (a.status = 'queued' AND a.waits_for_job AND (a.scheduled_at, a.id) < (w.scheduled_at, w.id)))))
                      ORDER BY coalesce(w.scheduled_at, w.started_at), w.id LIMIT most FOR UPDATE SKIP LOCKED) q
                WHERE r.id = q.id
                RETURNING r.*;
            END $$
            """
    }

    /// Version 4's body of the trigger function `function`: it counts a change in `meta`'s
    /// `key` and wakes every node.
    static func countingAndNotifying(_ function: String, key: String) -> String {
        """
        CREATE OR REPLACE FUNCTION \(function)() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE meta SET value = (value::bigint + 1)::text WHERE key = '\(key)';
            PERFORM pg_notify('\(PostgresStore.jobsChannel)', '');
            RETURN NULL;
        END $$
        """
    }
}
