import ClusterAPI
import Foundation
import Testing

@testable import Coordinator

/// A large report decoded in parts on two threads (`ReportSplit`, `ReportDecoding`) is the report decoded whole, and a
/// document the split cannot take apart with certainty is decoded whole.
@Suite struct ReportDecodingTests {
    /// Text that trips a careless scanner: quotes, backslashes, brackets, commas, a `vms` key inside a string.
    static let hostile = [
        "plain", "quote\"inside", "back\\slash", "ends with backslash\\", "{\"vms\": [1, 2]}", "],[", "}, {",
        "tab\tnew\nline", "ünïcødé ✓", "\\\"", "emoji 🧪", "\u{1}control",
    ]

    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
    }

    static func report(seed: UInt64, vms count: Int) -> AgentReport {
        var random = Random(state: seed)
        func text() -> String { hostile[random.next(hostile.count)] + "-\(random.next(1000))" }
        let vms = (0..<count).map { index in
            ReportedVM(
                id: "vm-\(index)-" + text(),
                name: text(),
                state: "Running",
                highlyAvailable: random.next(2) == 0,
                memoryMiB: random.next(65_536),
                checkpoints: (0..<random.next(4)).map { ReportedCheckpoint(id: "cp\($0)", name: text()) },
                files: (0..<random.next(30)).map { file in
                    ReportedFile(
                        path: "/mnt/csv1/" + text() + "/\(file).avhdx",
                        volumeId: "csv1",
                        relativePath: text() + "/\(file).avhdx",
                        kind: "disk",
                        format: "vhdx",
                        size: Int64(random.next(1 << 30)),
                        problemDetail: random.next(5) == 0 ? text() : nil
                    )
                },
                chains: [ReportedChain(files: [0])]
            )
        }
        var report = AgentReport(
            node: "node1",
            driver: "hyperv-json",
            memoryMiB: 16_384,
            volumes: [ReportedVolume(id: "csv1", name: text(), mountPath: "/mnt/csv1")],
            vms: vms,
            inventoryErrors: [ReportedInventoryError(vm: text(), message: text())],
            discoveredDisks: [ReportedDisk(volumeId: "csv1", relativePath: text(), path: "/mnt/csv1/" + text())]
        )
        report.hypervisorURI = random.next(2) == 0 ? "qemu+ssh://node1/system" : nil
        return report
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func aSplitReportIsTheReportDecodedWhole(seed: UInt64) throws {
        let report = Self.report(seed: seed, vms: 400 + Int(seed) * 37)
        let encoder = JSONEncoder()
        // Compact, key orders of the encoder's choosing, sorted keys (`vms` neither first nor last), pretty-printed.
        let formats: [JSONEncoder.OutputFormatting] = [
            [], [.sortedKeys], [.prettyPrinted], [.prettyPrinted, .sortedKeys],
        ]
        encoder.outputFormatting = formats[Int(seed) % formats.count]
        let body = try encoder.encode(report)
        #expect(body.count >= ReportDecoding.splitFrom, "big enough to be split: \(body.count) bytes")
        let parts = try #require(body.withUnsafeBytes { ReportSplit($0) })
        #expect(parts.entries.count == report.vms.count)
        #expect(try ReportDecoding.split(body) == report)
        #expect(try ReportDecoding.decode(body) == report)
    }

    @Test func documentsTheSplitIsNotCertainOfAreDecodedWhole() throws {
        let entry = #"{"id":"a","name":"a","state":"Running","highlyAvailable":true,"memoryMiB":1}"#
        let header = #""node":"node1","driver":"hyperv-json","volumes":[],"inventoryErrors":[],"discoveredDisks":[]"#
        let uncertain = [
            // `vms` twice: which one counts is the decoder's business.
            "{\(header),\"vms\":[\(entry),\(entry)],\"vms\":[\(entry),\(entry)]}",
            // A key written with an escape.
            "{\(header),\"v\\u006ds\":[\(entry),\(entry)]}",
            // Entries that are not objects, `vms` not an array, not an object at all, text after the object.
            "{\(header),\"vms\":[1,2]}", "{\(header),\"vms\":{}}", "[\(entry),\(entry)]",
            "{\(header),\"vms\":[\(entry),\(entry)]} trailing",
            // Unterminated string, unbalanced brackets.
            "{\(header),\"vms\":[\(entry),{\"id\":\"a]}", "{\(header),\"vms\":[\(entry),\(entry)",
        ]
        for text in uncertain {
            let body = Data(text.utf8)
            #expect(body.withUnsafeBytes { ReportSplit($0) } == nil, "\(text)")
            let whole = Result { try JSONDecoder().decode(AgentReport.self, from: body) }
            let decoded = Result { try ReportDecoding.decode(body) }
            switch (whole, decoded) {
            case (.success(let a), .success(let b)): #expect(a == b, "\(text)")
            case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)", "\(text)")
            default: Issue.record("decoded differently: \(text)")
            }
        }
        // Split, but one part does not decode (an entry's field has the wrong type): the whole document's error.
        let wrongType = Data("{\(header),\"vms\":[\(entry),{\"id\":\"b\",\"name\":3}]}".utf8)
        #expect(wrongType.withUnsafeBytes { ReportSplit($0) } != nil)
        #expect(throws: DecodingError.self) { try ReportDecoding.split(wrongType) }
    }

    @Test func entriesCheckedOnTwoThreadsGiveTheErrorACheckOfTheWholeReportGives() throws {
        var report = LiveCoordinator.report(
            "node1",
            vms: (0..<300).map { LiveCoordinator.vm("vm\($0)", node: "node1") },
            read: []
        )
        #expect(report.vms.indices.allSatisfy { report.firstVMError(in: $0..<($0 + 1)) == nil })
        report.vms[250].memoryMiB = -1
        func checked(_ report: AgentReport) -> ReportFieldError? {
            let errors = ReportDecoding.halves(of: report.vms.count) { [report] in report.firstVMError(in: $0) }
            #expect(errors.count == 2)
            do throws(ReportFieldError) {
                try report.validate(vmsChecked: errors.lazy.compactMap { $0 }.first)
                return nil
            } catch {
                return error
            }
        }
        func whole(_ report: AgentReport) -> ReportFieldError? {
            do throws(ReportFieldError) {
                try report.validate()
                return nil
            } catch {
                return error
            }
        }
        #expect(checked(report)?.field == "vms[250].memoryMiB")
        report.vms[20].name = String(repeating: "x", count: 10_000)
        #expect(checked(report)?.field == "vms[20].name")
        #expect(checked(report) == whole(report))
        report.node = ""
        #expect(checked(report)?.field == "node", "the header is checked first, as a whole check does")
        #expect(checked(report) == whole(report))
    }
}
