/// One row of the results table.
struct BenchmarkResult: Codable {
    var scenario: String
    var metric: String
    var value: Double
    /// The same figure for the reference run in the same invocation, when the scenario has one.
    var reference: Double?
    var target: String
    var met: Bool
    var detail: String
}
