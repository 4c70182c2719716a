import GRDB

/// The versioned schema. `PRAGMA user_version` holds the version; each migration moves it up
/// by one inside the same transaction as its DDL, so a crash leaves either the old or the new
/// schema. `docs/schema.md` documents the result and must change with it.
enum Schema {
    static let migrations: [String] = [
        // 1: jobs, runs, job_state, and readable views.
        """
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY NOT NULL,
            value TEXT NOT NULL
        );
        INSERT INTO meta (key, value) VALUES ('instance_id', lower(hex(randomblob(16))));
        CREATE TABLE jobs (
            name        TEXT PRIMARY KEY NOT NULL,
            spec        TEXT NOT NULL CHECK (json_valid(spec)),
            enabled     INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
            created_at  TEXT NOT NULL,
            updated_at  TEXT NOT NULL
        );
        CREATE TABLE runs (
            id               INTEGER PRIMARY KEY,
            job              TEXT NOT NULL,
            trigger          TEXT NOT NULL CHECK (trigger IN ('schedule', 'manual', 'retry', 'restart', 'boot', 'catch_up', 'dependency')),
            attempt          INTEGER NOT NULL DEFAULT 1,
            status           TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'interrupted', 'skipped')),
            scheduled_at     TEXT,
            started_at       TEXT NOT NULL,
            finished_at      TEXT,
            duration_ms      INTEGER,
            exit_code        INTEGER,
            signal           INTEGER,
            pid              INTEGER,
            output           TEXT,
            output_truncated INTEGER NOT NULL DEFAULT 0 CHECK (output_truncated IN (0, 1)),
            error            TEXT
        );
        CREATE INDEX runs_by_job ON runs (job, id DESC);
        CREATE INDEX runs_by_status ON runs (status, id DESC);
        CREATE INDEX runs_by_start ON runs (started_at);
        CREATE TABLE job_state (
            job                  TEXT PRIMARY KEY NOT NULL REFERENCES jobs (name) ON DELETE CASCADE,
            paused               INTEGER NOT NULL DEFAULT 0 CHECK (paused IN (0, 1)),
            pause_reason         TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            last_run_id          INTEGER,
            next_run_at          TEXT,
            last_fire_at         TEXT
        );
        CREATE VIEW run_summary AS
            SELECT id, job, trigger, attempt, status, started_at, finished_at,
                   printf('%.3f', duration_ms / 1000.0) AS seconds,
                   exit_code, signal, error
            FROM runs ORDER BY id DESC;
        CREATE VIEW job_overview AS
            SELECT j.name AS job, j.enabled,
                   json_extract(j.spec, '$.schedule') AS schedule,
                   CASE WHEN s.paused AND s.pause_reason = 'restart_limit' THEN 'failed'
                        WHEN s.paused THEN 'paused (' || coalesce(s.pause_reason, 'manual') || ')'
                        WHEN NOT j.enabled THEN 'disabled' ELSE 'active' END AS state,
                   s.next_run_at, r.status AS last_status, r.started_at AS last_started_at,
                   s.consecutive_failures
            FROM jobs j
            LEFT JOIN job_state s ON s.job = j.name
            LEFT JOIN runs r ON r.id = s.last_run_id
            ORDER BY j.name;
        """,
        // 2: a count of changes to `jobs` kept by triggers (whoever makes them, schedd or
        // sqlite3), so that a job file applied before and unchanged since is not applied again.
        """
        INSERT INTO meta (key, value) VALUES ('jobs_generation', '0');
        CREATE TRIGGER jobs_generation_insert AFTER INSERT ON jobs BEGIN
            UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'jobs_generation';
        END;
        CREATE TRIGGER jobs_generation_update AFTER UPDATE ON jobs BEGIN
            UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'jobs_generation';
        END;
        CREATE TRIGGER jobs_generation_delete AFTER DELETE ON jobs BEGIN
            UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'jobs_generation';
        END;
        """,
        // 3: each job's owner, and which stream each part of a run's output came from
        // (`output_streams`; NULL: all stdout, as every run before). Jobs from before are taken as the API's: the next apply of the
        // --config file claims the ones it names (the skip of an unchanged file is reset so
        // that it happens at the next start), and the rest survive reloads as they did not.
        """
        ALTER TABLE jobs ADD COLUMN origin TEXT NOT NULL DEFAULT 'api' CHECK (origin IN ('file', 'api'));
        ALTER TABLE jobs ADD COLUMN origin_detail TEXT;
        ALTER TABLE runs ADD COLUMN output_streams TEXT;
        DELETE FROM meta WHERE key IN ('applied_source', 'applied_generation');
        DROP VIEW job_overview;
        CREATE VIEW job_overview AS
            SELECT j.name AS job, j.enabled,
                   json_extract(j.spec, '$.schedule') AS schedule,
                   CASE WHEN s.paused AND s.pause_reason = 'restart_limit' THEN 'failed'
                        WHEN s.paused THEN 'paused (' || coalesce(s.pause_reason, 'manual') || ')'
                        WHEN NOT j.enabled THEN 'disabled' ELSE 'active' END AS state,
                   s.next_run_at, r.status AS last_status, r.started_at AS last_started_at,
                   s.consecutive_failures, j.origin, j.origin_detail
            FROM jobs j
            LEFT JOIN job_state s ON s.job = j.name
            LEFT JOIN runs r ON r.id = s.last_run_id
            ORDER BY j.name;
        """,
        // 4: the CPU time of each run (NULL where it was not measured, and for every run before).
        """
        ALTER TABLE runs ADD COLUMN cpu_ms INTEGER;
        """,
        // 5: the audit trail. Who created and last changed each job, who started a manual
        // run and who cancelled one. Jobs from before say where they came from as far as it
        // was recorded (the file, or the API caller of their last change); runs from before
        // have no one.
        """
        ALTER TABLE jobs ADD COLUMN created_by TEXT;
        ALTER TABLE jobs ADD COLUMN changed_by TEXT;
        UPDATE jobs SET created_by = CASE origin WHEN 'file' THEN 'file ' || coalesce(origin_detail, '?')
                                                 ELSE coalesce(origin_detail, 'unknown (before schedd recorded it)') END;
        UPDATE jobs SET changed_by = created_by;
        ALTER TABLE runs ADD COLUMN triggered_by TEXT;
        ALTER TABLE runs ADD COLUMN cancelled_by TEXT;
        """,
        // 6: a failed run whose retry waits for its time says when it is due, so that the
        // retry outlives a restart; cleared once the retry starts.
        """
        ALTER TABLE runs ADD COLUMN retry_at TEXT;
        CREATE INDEX runs_retry_pending ON runs (retry_at) WHERE retry_at IS NOT NULL;
        """,
        // 7: the run whose end triggered a dependency run (`on_failure`, `on_success`), so that
        // history says which it was, and a retry of it taken up after a restart is told again.
        """
        ALTER TABLE runs ADD COLUMN triggered_by_run INTEGER;
        """,
        // 8: the failed attempt a retry follows. A mark (`retry_at`) is void once its own
        // retry has a row; before, any retry of the job with the next attempt voided it, so
        // that of two failed runs waiting for their retries, the first retry's start hid the
        // other's from the next start of schedd.
        """
        ALTER TABLE runs ADD COLUMN retry_of INTEGER;
        CREATE INDEX runs_retry_of ON runs (retry_of) WHERE retry_of IS NOT NULL;
        """,
        // 9: a run that ended on its own while schedd was stopping, with no retry: its
        // trigger's final result (its job's failures in a row, `on_failure`/`on_success`) is
        // applied at the next start, cleared once applied. Before, it was never applied.
        """
        ALTER TABLE runs ADD COLUMN policy_pending INTEGER;
        CREATE INDEX runs_policy_pending ON runs (id) WHERE policy_pending IS NOT NULL;
        """,
    ]

    static var currentVersion: Int { migrations.count }

    /// Why `db` is not schedd's to migrate: at version 0 (a new file, or another program's
    /// database given to `--db` by mistake) it has tables of its own. Nil when it is schedd's
    /// or empty.
    static func foreignDatabase(_ db: Database) throws -> SchedulerAPI.APIError? {
        guard try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0 == 0 else { return nil }
        let others = try String.fetchAll(db, sql: """
            SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name LIMIT 4
            """)
        guard !others.isEmpty else { return nil }
        let names = others.prefix(3).joined(separator: ", ") + (others.count > 3 ? ", …" : "")
        return SchedulerAPI.APIError(
            .databaseUnusable,
            "the file holds tables schedd did not make (\(names)): it is not a schedd database, and schedd adds its tables only to a new or empty one; give --db another path")
    }

    static func migrate(_ db: Database) throws {
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if version > currentVersion {
            throw SchedulerAPI.APIError(
                .databaseUnusable,
                "the database has schema version \(version), newer than this schedd knows (\(currentVersion)); upgrade schedd or restore a backup")
        }
        if let refusal = try foreignDatabase(db) { throw refusal }
        for next in version..<currentVersion {
            try db.inTransaction(.immediate) {
                try db.execute(sql: migrations[next])
                try db.execute(sql: "PRAGMA user_version = \(next + 1)")
                return .commit
            }
        }
    }

    /// Refuses a database whose tables lack what the migrations made: `sqlite3` lets anyone drop
    /// a table or a column, and schedd would then start and fail every request that needs it
    /// (a run not started, history answering 500) instead of saying once what is wrong. The
    /// expected shape is the migrations' own, applied to an empty in-memory database.
    static func checkShape(_ db: Database) throws {
        func columns(_ db: Database) throws -> [String: Set<String>] {
            var tables: [String: Set<String>] = [:]
            let names = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
            for name in names {
                tables[name] = Set(try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [name]))
            }
            return tables
        }
        let expected = try DatabaseQueue().writeWithoutTransaction { fresh in
            try migrate(fresh)
            return try columns(fresh)
        }
        let found = try columns(db)
        var missing: [String] = []
        for (table, wanted) in expected.sorted(by: { $0.key < $1.key }) {
            guard let have = found[table] else {
                missing.append("table \(table)")
                continue
            }
            missing += wanted.subtracting(have).sorted().map { "column \(table).\($0)" }
        }
        guard missing.isEmpty else {
            throw SchedulerAPI.APIError(
                .databaseUnusable,
                "the database lacks \(missing.joined(separator: ", ")) though its schema version is \(currentVersion): it was changed by hand; restore a backup")
        }
    }
}

import SchedulerAPI
