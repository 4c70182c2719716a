import SchedulerAPI

/// Printing helpers shared by the verbs.
enum Output {
    static func printJSON(_ value: JSONValue) {
        print(value.serialized(pretty: true))
    }
}
