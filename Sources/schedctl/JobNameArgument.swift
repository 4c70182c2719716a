import ArgumentParser

/// A job name (or run id) given on the command line. An empty one is refused here: in a
/// request path it vanished (`/v1/jobs//run`, "no such endpoint"; `show ''` read the job list
/// as a job).
enum JobNameArgument {
    static func parse(_ text: String) throws -> String {
        guard !text.isEmpty else { throw ValidationError("the job name is empty") }
        return text
    }
}
