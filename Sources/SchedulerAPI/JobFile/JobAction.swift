/// What a job runs.
public enum JobAction: Sendable, Equatable {
    /// An argv array; `argv[0]` is looked up in `PATH` unless absolute.
    case command([String])
    /// A string run by `/bin/sh -c`.
    case shell(String)
    /// The name of an in-process handler registered by an embedding program, with its params.
    case handler(String, params: JSONValue?)
}
