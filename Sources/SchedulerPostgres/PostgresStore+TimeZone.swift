import Foundation
import PostgresNIO
import Scheduler
import SchedulerAPI

extension PostgresStore {
    /// What `agreeOnTimeZone` found.
    public struct ClusterTimeZone: Sendable, Equatable {
        /// The cluster's zone: the one every node reads schedules that name none in.
        public var zone: String
        /// The zone it had before this node set it; nil when it was not changed.
        public var replaced: String?
    }

    /// The zone schedules that name none are read in, across the cluster. Each node reading
    /// them in its own zone would fire `0 3 * * *` at 03:00 in each zone, so once per node's
    /// zone: the zone is one value in the database (`meta.time_zone`). The first node to ask
    /// sets it (to `proposed`: its `--timezone`, else its local zone); a node given
    /// `--timezone` (`replacing`) changes it, and the others follow at once (`NOTIFY`) or at
    /// their next poll; any other node takes it as it is.
    public func agreeOnTimeZone(proposed: String, replacing: Bool) async throws -> ClusterTimeZone {
        try await transaction("cluster time zone") { connection in
            _ = try await connection.query("INSERT INTO meta (key, value) VALUES ('time_zone', \(proposed)) ON CONFLICT (key) DO NOTHING")
            var stored = proposed
            for try await value in try await connection.query("SELECT value FROM meta WHERE key = 'time_zone' FOR UPDATE").decode(String.self) {
                stored = value
            }
            guard replacing, stored != proposed else { return ClusterTimeZone(zone: stored, replaced: nil) }
            _ = try await connection.query("UPDATE meta SET value = \(proposed) WHERE key = 'time_zone'")
            _ = try await connection.query("SELECT pg_notify(\(Self.jobsChannel), '')")
            return ClusterTimeZone(zone: proposed, replaced: stored)
        }
    }

    /// The cluster's zone as stored; nil in a database no node of this version has opened.
    public func clusterTimeZone() async throws -> String? {
        try await call("cluster time zone") { connection in
            var zone: String?
            for try await value in try await connection.query("SELECT value FROM meta WHERE key = 'time_zone'").decode(String.self) {
                zone = value
            }
            return zone
        }
    }
}
