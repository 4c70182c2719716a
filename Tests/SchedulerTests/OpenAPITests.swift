import Foundation
import Testing
@testable import Scheduler
@testable import SchedulerControl

/// `docs/openapi.yaml` lists exactly the routes the server registers (`ControlRoutes.table`).
@Suite struct OpenAPITests {
    @Test func everyRouteIsDocumentedAndNothingElse() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml")
        let text = try String(contentsOf: url, encoding: .utf8)
        var documented: Set<String> = []
        var path: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("  /") {
                path = String(line.dropFirst(2).dropLast())
            } else if line.hasPrefix("components:") {
                path = nil
            } else if let path, let method = ["get", "put", "post", "delete"].first(where: { line.hasPrefix("    \($0):") }) {
                documented.insert("\(method.uppercased()) \(path)")
            }
        }
        let served = Set(ControlRoutes.table.map { "\($0.0.rawValue) \($0.1)" })
        #expect(documented == served)
        #expect(served.count == 22)
    }
}
