import ArgumentParser
import Foundation
import SchedulerAPI

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the nodes of the cluster (schedd --postgres).",
        discussion: """
            Ages and offsets are measured by the database's clock. CLOCK is the node's clock \
            against the database's; an offset over 1s is flagged (the node still fires by the \
            database's time). A node whose lease expired is dead: its running runs were marked lost.
            """)

    @OptionGroup var global: GlobalOptions

    func run() async throws {
        guard let nodes = try global.request("GET", "/v1/nodes", as: [NodeInfo].self) else { return }
        print(Self.table(nodes))
        let skewed = nodes.filter { $0.state == "up" && abs($0.clockOffsetMs ?? 0) > 1000 }
        for node in skewed {
            FileHandle.standardError.write(Data("schedctl: warning: node \(node.name)'s clock is \(Self.offset(node.clockOffsetMs)) off the database's\n".utf8))
        }
    }

    static func table(_ nodes: [NodeInfo]) -> String {
        Output.table(["NAME", "STATE", "HEARTBEAT", "RUNNING", "CLOCK", "EPOCH", "UP SINCE", "VERSION"], nodes.map { node in
            [node.name, node.state + (node.state == "up" && node.leaseRemainingMs < 0 ? " (lease expired)" : ""),
             Output.span(Double(node.heartbeatAgeMs) / 1000) + " ago", "\(node.running)/\(node.workers)",
             Self.offset(node.clockOffsetMs) + (abs(node.clockOffsetMs ?? 0) > 1000 ? " (!)" : ""), String(node.epoch),
             Output.when(node.startedAt, wide: false), node.version ?? "-"]
        })
    }

    /// `+12ms`, `-1.5s`: the node's clock against the database's (positive: the node is behind).
    static func offset(_ ms: Int?) -> String {
        guard let ms else { return "-" }
        let sign = ms < 0 ? "-" : "+"
        return abs(ms) < 1000 ? "\(sign)\(abs(ms))ms" : String(format: "%@%.1fs", sign, Double(abs(ms)) / 1000)
    }
}
