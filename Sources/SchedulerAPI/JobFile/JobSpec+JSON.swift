extension JobSpec {
    /// Decodes and validates one job on its own (as stored in the database or sent to the API).
    public init(json: JSONValue, context: ValidationContext) throws(APIError) {
        self = try JobFileDecoder.decodeJob(json, context: context)
    }

    /// The job in canonical job-file form: fixed key order, durations and sizes in canonical
    /// text, unset fields left out. Two equal specs always give the same text.
    public var json: JSONValue {
        var m: [(key: String, value: JSONValue)] = [("name", .string(name))]
        func add(_ key: String, _ value: JSONValue?) {
            if let value { m.append((key, value)) }
        }
        func add(_ key: String, _ d: Duration?) {
            add(key, d.map { JSONValue.string(DurationText.format(milliseconds: $0.milliseconds)) })
        }
        add("description", description.map(JSONValue.string))
        switch action {
        case let .command(argv): add("command", .array(argv.map(JSONValue.string)))
        case let .shell(s): add("shell", .string(s))
        case let .handler(h, params):
            add("handler", .string(h))
            add("params", params)
        }
        add("schedule", schedule.map(JSONValue.string))
        add("timezone", timezone.map(JSONValue.string))
        add("enabled", enabled.map(JSONValue.bool))
        add("timeout", timeout)
        add("kill_grace", killGrace)
        add("retries", retries.map(JSONValue.int))
        add("retry_backoff", retryBackoff)
        add("retry_backoff_max", retryBackoffMax)
        add("max_consecutive_failures", maxConsecutiveFailures.map(JSONValue.int))
        add("concurrency", concurrency.map { .string($0.rawValue) })
        add("catch_up", catchUp.map { .string($0.rawValue) })
        add("jitter", jitter)
        add("on_failure", onFailure.map(JSONValue.string))
        add("on_success", onSuccess.map(JSONValue.string))
        add("env", env.map { env in .object(env.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }) })
        add("working_dir", workingDir.map(JSONValue.string))
        add("node", node.map(JSONValue.string))
        add("user", user.map(JSONValue.string))
        add("group", group.map(JSONValue.string))
        add("restart", restart.map { .string($0.rawValue) })
        add("restart_delay", restartDelay)
        add("restart_limit", restartLimit.map { limit in
            switch limit {
            case .none: .string("none")
            case let .limited(burst, interval):
                .object([("burst", .int(burst)), ("interval", .string(DurationText.format(milliseconds: interval.milliseconds)))])
            }
        })
        add("restart_delay_max", restartDelayMax)
        add("restart_reset_after", restartResetAfter)
        add("output_limit", outputLimit.map { .string(ByteSize.format(bytes: $0)) })
        add("after", after.map { .array($0.map(JSONValue.string)) })
        add("requires", requires.map { .array($0.map(JSONValue.string)) })
        add("requires_wait", requiresWait)
        add("ready_after", readyAfter)
        switch readyCheck {
        case let .command(argv)?: add("ready_check", .array(argv.map(JSONValue.string)))
        case let .shell(s)?: add("ready_check", .string(s))
        case .handler?, nil: break
        }
        add("ready_interval", readyInterval)
        add("ready_timeout", readyTimeout)
        return .object(m)
    }
}

extension JobSpec: Codable {
    /// Decodes a spec in job-file form. Only its form is checked (see `ValidationContext.stored`):
    /// it is meant for specs that were validated when they were stored.
    public init(from decoder: any Decoder) throws {
        let value = try JSONValue(from: decoder)
        do {
            self = try JobSpec(json: value, context: .stored)
        } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        try json.encode(to: encoder)
    }
}
