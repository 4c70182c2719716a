// A libFuzzer entry point for what the daemon parses from users: job files (the JSON parser,
// the decoder and its validation), schedules and their next fire times, durations, sizes and
// times. Compiled into the SchedulerAPI module by Fuzz/run.sh, never by SwiftPM.
//
// Beyond "does not crash" it checks what the daemon relies on: JSON it serializes parses back
// to the same value, a file that validates exports (`json`) to a file that validates to the
// same jobs, a schedule's next fire time is strictly later than the instant it was asked
// after, and durations and times format to text that reads back the same.

import Foundation

private let zones: [ZoneRules] = ["UTC", "America/New_York", "Australia/Lord_Howe", "Europe/Berlin"]
    .compactMap { ZoneRules.named($0) }

private let context = ValidationContext(runningAsRoot: true, existingJobs: ["other"], handlers: ["h"],
                                        checkAccounts: false, checkReferences: true)

@_cdecl("LLVMFuzzerTestOneInput")
public func schedulerAPIFuzz(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    let data = UnsafeBufferPointer(start: bytes, count: count)
    let text = String(decoding: data, as: UTF8.self)

    if let value = try? JSONParser.parse(Array(data)) {
        for pretty in [false, true] {
            let text = value.serialized(pretty: pretty)
            guard let again = try? JSONParser.parse(text) else { fatalError("serialized JSON does not parse: \(text)") }
            if again != value { fatalError("serialized JSON parses to another value: \(text)") }
        }
    }

    if let file = try? JobFile(data: Array(data), context: context) {
        let exported = file.json.serialized()
        do {
            let again = try JobFile(data: Array(exported.utf8), context: context)
            if again != file {
                fatalError("the exported file validates to other jobs:\n\(exported)")
            }
        } catch {
            fatalError("the exported file is refused: \(error)\n\(exported)")
        }
        for job in file.jobs {
            if let schedule = job.schedule { checkSchedule(schedule) }
        }
    }

    checkSchedule(text)
    if let date = Timestamp.parse(text) {
        let formatted = Timestamp.format(date)
        if Timestamp.parse(formatted) != date { fatalError("\"\(text)\" formats as \"\(formatted)\", which reads back otherwise") }
    }
    if let ms = DurationText.milliseconds(text), ms >= 0 {
        let formatted = DurationText.format(milliseconds: ms)
        if DurationText.milliseconds(formatted) != ms {
            fatalError("duration \(ms) ms formats as \"\(formatted)\", which reads back otherwise")
        }
    }
    _ = DurationText.suggestion(for: text)
    if let size = ByteSize.bytes(text), size >= 0 { _ = ByteSize.format(bytes: size) }
    return 0
}

private func checkSchedule(_ text: String) {
    guard let schedule = try? Schedule(parsing: text) else { return }
    let instants: [TimeInterval] = [0, 1_700_000_000, 1_711_846_800, 4_102_444_800]
    for zone in zones {
        for instant in instants {
            let start = Date(timeIntervalSince1970: instant)
            guard let next = schedule.next(after: start, in: zone) else { continue }
            if next <= start {
                fatalError("\"\(text)\" in \(zone.identifier): next after \(start) is \(next)")
            }
        }
    }
}
