import Foundation
import Testing
@testable import SchedulerAPI

@Suite struct JobInfoTests {
    /// The definition is held by reference (`SharedValue`) and still behaves as a value: copies
    /// share it until one is changed, and a change is that copy's alone.
    @Test func copiesShareTheDefinitionUntilOneChangesIt() throws {
        let info = JobInfo(spec: JobSpec(name: "a", action: .shell("true")), createdAt: Date(timeIntervalSince1970: 0),
                           updatedAt: Date(timeIntervalSince1970: 1), state: JobState(), origin: .api())
        var copy = info
        #expect(copy.sharedSpec === info.sharedSpec)
        copy.spec.description = "changed"
        #expect(copy.sharedSpec !== info.sharedSpec)
        #expect(info.spec.description == nil && copy.spec.description == "changed")
        #expect(copy != info)
        copy.spec.description = nil
        #expect(copy == info)
    }

    @Test func itEncodesAsBefore() throws {
        var spec = JobSpec(name: "a", action: .shell("true"))
        spec.schedule = "@hourly"
        let info = JobInfo(spec: spec, createdAt: Date(timeIntervalSince1970: 0), updatedAt: Date(timeIntervalSince1970: 1),
                           state: JobState(), origin: .api(), problem: "p", createdBy: "root")
        let data = try APICoding.encoder().encode(info)
        let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(Set(object.keys) == ["spec", "created_at", "updated_at", "state", "origin", "problem", "created_by"])
        #expect(try APICoding.decoder().decode(JobInfo.self, from: data) == info)
    }
}
