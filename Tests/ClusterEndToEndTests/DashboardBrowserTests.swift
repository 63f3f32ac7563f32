import ClusterAPI
import ClusterTestSupport
import Foundation
import Testing

extension ClusterEndToEndTests {
    static let scriptName = "<script>alert(1)</script>"
    /// A quote followed by a combining mark: one `Character` in Swift, which per-`Character` escaping lets through.
    static let combiningQuoteName = "\"\u{301} autofocus onfocus=alert(2) x=\""

    /// Issue 11: the dashboard in Debian's headless Chromium against a real coordinator and three agents.
    @Test func theDashboardInAHeadlessBrowser() async throws {
        let layout = try ClusterLayout()
        defer { layout.remove() }
        var inventories = try layout.buildScenario()
        for (index, name) in [Self.scriptName, Self.combiningQuoteName].enumerated() {
            let directory = layout.shared + "/hostile\(index)"
            try layout.chain([directory + "/disk.vhdx"])
            try layout.touch(directory + "/vm.vmcx")
            inventories["a", default: []].append(
                ClusterLayout.vm(name, configuration: directory + "/vm.vmcx", disks: [directory + "/disk.vhdx"])
            )
        }
        for (node, vms) in inventories { try layout.writeInventory(node, vms) }
        var cluster = try Cluster(layout: layout)
        defer { cluster.stopAll() }
        try await cluster.startCoordinator()
        try cluster.startAgents()
        _ = try #require(
            try await cluster.waitForAudit { audit in
                Set(audit.risks.compactMap(\.vm)) == Self.risky && audit.risks.allSatisfy { $0.vm != nil }
            }
        )
        let ids = Dictionary(
            uniqueKeysWithValues: try await cluster.json(["vms"], as: [VMSummaryJSON].self).map { ($0.name, $0.id) }
        )
        let base = cluster.url
        let shots = Self.screenshotDirectory
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)

        let browser = try HeadlessChromium()
        defer { browser.close() }
        let tab = try BrowserTab(browser)
        func strings(_ script: String) throws -> [String] { try tab.evaluate(script) as? [String] ?? [] }

        // Without credentials every page sends the browser to the log-in form.
        for path in ["/ui", "/ui/vms", "/ui/vms/safe01", "/ui/audit", "/ui/history", "/ui/whatif?node=c"] {
            try tab.open(base + path)
            let location = try tab.location()
            #expect(location.hasPrefix(base + "/ui/login?next="), "\(path) went to \(location)")
        }
        try tab.open(base + "/ui/login?next=%2Fui")
        try tab.screenshot().write(to: URL(fileURLWithPath: shots + "/login.png"))
        try tab.submit(
            "document.querySelector('input[name=token]').value = '\(Self.adminToken)';"
                + "document.querySelector('form.login').submit()"
        )
        let landed = try tab.location()
        let text = try tab.evaluate("document.body.innerText") as? String ?? ""
        #expect(landed == base + "/ui", "\(landed): \(text)")
        let cookies =
            try browser.send("Network.getCookies", ["urls": [base + "/ui"]], session: tab.session)["cookies"]
            as? [[String: Any]] ?? []
        let session = cookies.first { $0["name"] as? String == "chainkeeper_session" }
        #expect(session?["httpOnly"] as? Bool == true)
        #expect(session?["sameSite"] as? String == "Strict")
        #expect(session?["path"] as? String == "/ui")

        /// Opens a page, expects no console error, exception, failed resource or dialog, and keeps a screenshot.
        func visit(_ path: String, shot: String) throws {
            let since = browser.events.count
            try tab.open(base + path)
            #expect(try tab.location() == base + path)
            let problems = tab.problems(since: since)
            #expect(problems.isEmpty, "\(path): \(problems)")
            try tab.screenshot().write(to: URL(fileURLWithPath: shots + "/\(shot).png"))
        }

        // Overview: the three nodes and the reachability matrix.
        try visit("/ui", shot: "overview")
        #expect(
            try strings("[...document.querySelectorAll('table.nodes tr[data-node]')].map(r => r.dataset.node)") == [
                "a", "b", "c",
            ]
        )
        let matrix = try strings(
            "[...document.querySelectorAll('table.matrix tr[data-volume]')].map(r => r.dataset.volume + ':' + "
                + "[...r.querySelectorAll('td.cell')].map(c => c.classList.contains('yes') ? 'y' : '-').join(''))"
        )
        #expect(Set(matrix) == ["shared:yyy", "a-local:y--", "b-local:-y-", "c-local:--y"], "\(matrix)")

        // VMs: the stranded filter lists exactly the stranded VMs; hostile names are text.
        try visit("/ui/vms?risk=stranded", shot: "vms-stranded")
        #expect(
            Set(try strings("[...document.querySelectorAll('table.vms tr[data-vm]')].map(r => r.dataset.vm)"))
                == Self.risky
        )
        try visit("/ui/vms", shot: "vms")
        let listed = try strings("[...document.querySelectorAll('table.vms a.vm-name')].map(a => a.textContent)")
        #expect(listed.contains(Self.scriptName) && listed.contains(Self.combiningQuoteName), "\(listed)")
        let dataNames = try strings("[...document.querySelectorAll('table.vms tr[data-vm]')].map(r => r.dataset.vm)")
        #expect(dataNames.contains(Self.combiningQuoteName), "the attribute holds the whole name")
        #expect(try tab.evaluate("document.scripts.length") as? Int == 1, "only the dashboard's own script")
        #expect(try tab.evaluate("document.querySelectorAll('[autofocus], [onfocus]').length") as? Int == 0)
        try visit("/ui/vms/" + (ids[Self.scriptName] ?? ""), shot: "vm-hostile-name")
        #expect(try tab.evaluate("document.querySelector('h1').textContent") as? String == Self.scriptName)

        // One VM: every file with its volume, coloured by reach; each chain leaf to base.
        try visit("/ui/vms/" + (ids["midlocal"] ?? ""), shot: "vm-midlocal")
        let files = try strings(
            "[...document.querySelectorAll('table.files tr[data-path]')].map(r => "
                + "r.dataset.path.split('/').pop() + ':' + r.cells[2].textContent + ':' + r.className)"
        )
        #expect(
            Set(files) == [
                "base.vhdx:shared:reach-all", "mid.avhdx:c-local:reach-owner", "leaf.avhdx:shared:reach-all",
                "midlocal.vmcx:shared:reach-all",
            ],
            "\(files)"
        )
        let chain = try strings(
            "[...document.querySelectorAll('.chain[data-chain=\"current state\"] li')].map(l => l.textContent + ':' + "
                + "l.classList[1])"
        )
        #expect(chain == ["leaf.avhdx:reach-all", "mid.avhdx:reach-owner", "base.vhdx:reach-all"], "\(chain)")
        try visit("/ui/vms/" + (ids["memlocal"] ?? ""), shot: "vm-memlocal")
        #expect(
            try strings(
                "[...document.querySelectorAll('table.files tr.reach-owner')].map(r => r.dataset.path + '@' + "
                    + "r.cells[2].textContent)"
            ) == [layout.local("b") + "/memlocal/s1.vmrs@b-local"]
        )
        try visit("/ui/vms/" + (ids["safe01"] ?? ""), shot: "vm-safe01")
        #expect(
            try strings("[...document.querySelectorAll('ul.tree .snapshot')].map(s => s.textContent)") == [
                "checkpoint cp0", "checkpoint cp1",
            ]
        )

        // Audit: the same risks as `chainkeeper audit`.
        let audit = try await cluster.json(["audit"], as: AuditResponse.self)
        try visit("/ui/audit", shot: "audit")
        #expect(
            try strings("[...document.querySelectorAll('table.audit tbody tr')].map(r => r.cells[1].textContent)")
                == audit.risks.map(\.code)
        )

        // What-if: the same plan as `chainkeeper whatif fail c`.
        let plan = try await cluster.json(["whatif", "fail", "c"], as: WhatIfResponse.self)
        try visit("/ui/whatif?node=c", shot: "whatif")
        #expect(
            try strings(
                "[...document.querySelectorAll('table.moves tr[data-vm]')].map(r => r.dataset.vm + '>' + r.cells[1].textContent)"
            )
                == plan.moves.map { "\($0.vm)>\($0.target)" }
        )
        #expect(
            try strings(
                "[...document.querySelectorAll('table.blocked tr[data-vm]')].map(r => r.dataset.vm + ':' + "
                    + "[...r.querySelectorAll('code.code')].map(c => c.textContent).join(','))"
            ) == plan.blocked.map { "\($0.vm):" + $0.reasons.map(\.code).joined(separator: ",") }
        )

        // A refused migration shows its reasons and offers no button.
        let memID = ids["memlocal"] ?? ""
        try visit("/ui/vms/\(memID)/migrate?to=a", shot: "migrate-refused")
        #expect(try tab.evaluate("document.querySelector('.verdict.critical') !== null") as? Bool == true)
        #expect(try tab.evaluate("document.querySelector('form.action') === null") as? Bool == true)
        #expect(
            try strings("[...document.querySelectorAll('.reasons code.code')].map(c => c.textContent)") == [
                "file-on-local-volume"
            ]
        )

        // An allowed one shows the verdict, then moves the VM when the form is posted.
        let safeID = ids["safe01"] ?? ""
        try visit("/ui/vms/\(safeID)/migrate?to=a", shot: "migrate-confirm")
        #expect(try tab.evaluate("document.querySelector('.verdict.ok') !== null") as? Bool == true)
        try tab.submit("document.querySelector('form.action').submit()")
        let headline = try tab.evaluate("document.querySelector('.verdict').textContent") as? String ?? ""
        #expect(headline.contains("committed"), "\(headline)")
        try tab.screenshot().write(to: URL(fileURLWithPath: shots + "/migrate-result.png"))
        let moved = try await cluster.json(["vm", "show", "safe01"], as: VMDetailJSON.self)
        #expect(moved.owner == "a")
        try visit("/ui/history", shot: "history")
        #expect(
            try strings("[...document.querySelectorAll('table.history tbody tr')].map(r => r.cells[6].textContent)")
                == [
                    "admin (dashboard)"
                ]
        )

        // A form posted from another site (here a data: page) is refused, and nothing happens.
        let attack =
            "<form id=f method=post action='\(base)/ui/nodes/a/drain'><input name=csrf value=x></form>"
            + "<script>document.getElementById('f').submit()</script>"
        _ = try browser.send("Page.navigate", ["url": "data:text/html," + attack], session: tab.session)
        for _ in 0..<100 {
            if (try? tab.location()) == base + "/ui/nodes/a/drain",
                (try? tab.evaluate("document.readyState")) as? String == "complete"
            {
                break
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(try tab.location() == base + "/ui/nodes/a/drain")
        let body = try tab.evaluate("document.body.innerText") as? String ?? ""
        #expect(body.contains("forbidden"), "\(body)")
        let nodes = try await cluster.json(["nodes"], as: [NodeJSON].self)
        #expect(nodes.first { $0.name == "a" }?.state == "up", "a is not draining")

        // Log out: the session ends and pages redirect again.
        try tab.open(base + "/ui")
        try tab.submit("document.querySelector('form.viewer').submit()")
        #expect(try tab.location().hasPrefix(base + "/ui/login"))
        try tab.open(base + "/ui/audit")
        #expect(try tab.location().hasPrefix(base + "/ui/login?next="))
    }

    /// Where the run leaves a screenshot of every page (`.build/dashboard-screenshots`, or `CHAINKEEPER_SCREENSHOTS`).
    static var screenshotDirectory: String {
        if let directory = ProcessInfo.processInfo.environment["CHAINKEEPER_SCREENSHOTS"] { return directory }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/dashboard-screenshots").path
    }
}
