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

    /// Each route documents exactly the query parameters it takes (`ControlRoutes.queryParameters`),
    /// which are all it accepts.
    @Test func everyQueryParameterIsDocumentedAndNothingElse() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml")
        let lines = try String(contentsOf: url, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        func capture(_ line: String, _ pattern: String) -> String? {
            guard let range = line.range(of: pattern, options: .regularExpression) else { return nil }
            let match = String(line[range])
            return match.split(whereSeparator: { ": {\"/,".contains($0) }).last.map(String.init)
        }
        // components/parameters: reference name -> (name, whether it is a query parameter).
        var components: [String: (name: String, query: Bool)] = [:]
        var inComponents = false
        var current: String?
        for line in lines {
            if line.hasPrefix("  parameters:") { inComponents = true; continue }
            if inComponents && line.hasPrefix("  ") && !line.hasPrefix("    ") { inComponents = false }
            guard inComponents else { continue }
            if line.hasPrefix("    ") && !line.hasPrefix("     "), let key = line.split(separator: ":").first {
                current = key.trimmingCharacters(in: .whitespaces)
                if let name = capture(line, #"\{name: [a-z_]+"#) { components[current!] = (name, line.contains("in: query")) }
            } else if let current, let name = capture(line, #"^ +name: [a-z_]+"#) {
                components[current] = (name, components[current]?.query ?? false)
            } else if let current, line.contains("in: query") {
                components[current]?.query = true
            }
        }
        #expect(components["Prune"]?.name == "prune" && components["Prune"]?.query == true, "\(components)")
        var documented: [String: Set<String>] = [:]
        var path: String?
        var route: String?
        for line in lines {
            if line.hasPrefix("components:") { break }
            if line.hasPrefix("  /") {
                path = String(line.dropFirst(2).dropLast())
                route = nil
            } else if let path, let method = ["get", "put", "post", "delete"].first(where: { line.hasPrefix("    \($0):") }) {
                route = "\(method.uppercased()) \(path)"
                documented[route!] = []
            } else if let route {
                if line.contains("in: query"), let name = capture(line, #"\{name: [a-z_]+"#) {
                    documented[route]?.insert(name)
                } else if let reference = capture(line, ##"\$ref: "#/components/parameters/[A-Za-z]+"##),
                          let parameter = components[reference], parameter.query {
                    documented[route]?.insert(parameter.name)
                }
            }
        }
        for (method, path) in ControlRoutes.table where path != "/" {
            let key = "\(method.rawValue) \(path)"
            #expect(documented[key] == Set(ControlRoutes.queryParameters[key] ?? []), "\(key)")
        }
        #expect(documented["GET /v1/runs"] == ["job", "status", "since", "limit", "before"])
    }
}
