import Foundation
import Testing
@testable import SchedulerControl

@Suite struct DashboardPageTests {
    /// The job list served in the page cannot end its script, whatever text it holds.
    @Test func theServedListCannotCloseTheScript() {
        let page = DashboardPage.page(initialJobs: #"[{"name":"a","reason":"</script><img src=x onerror=alert(1)>"}]"#)
        #expect(!page.contains("</script><img"))
        #expect(page.contains(#"\u003c/script>\u003cimg"#))
        #expect(page.components(separatedBy: "</script>").count == 2)
        #expect(!page.contains("/*INITIAL_JOBS*/"))
    }
}
