/// One value held by reference, so that the copies of what holds it share one allocation. A
/// decoded job definition is 641 bytes inline; the decode cache, the job list read from the
/// store and the engine's entry of the job each held their own copy, and each dictionary of
/// 10,000 of them its empty slots at that size too: ~25 MiB of an idle daemon with 10,000 jobs.
package final class SharedValue<Value: Sendable>: Sendable {
    package let value: Value

    package init(_ value: Value) { self.value = value }
}

extension SharedValue: Equatable where Value: Equatable {
    package static func == (lhs: SharedValue, rhs: SharedValue) -> Bool { lhs === rhs || lhs.value == rhs.value }
}
