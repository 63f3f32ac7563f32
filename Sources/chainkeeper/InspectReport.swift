import ChainModel
import DiskFormats
import Foundation

/// What `inspect` found about one file, printed as SPEC §7's JSON or as text.
struct InspectReport {
    enum Outcome {
        case parsed
        case missing
        case unreadable
    }

    struct Problem: Encodable {
        var code: String
        var message: String
    }

    struct ChainEntry: Encodable {
        var path: String
        var identifier: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(path, forKey: .path)
            try container.encode(identifier, forKey: .identifier)
        }

        enum CodingKeys: String, CodingKey {
            case path
            case identifier
        }
    }

    var path: String
    var outcome = Outcome.parsed
    var info: DiskImageInfo?
    var error: Problem?
    var chain: [ChainEntry]?
    var chainError: Problem?
    var externalSource: String?

    // MARK: JSON

    static func json(_ reports: [InspectReport]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(reports.map(JSONFile.init)), as: UTF8.self)
    }

    /// One element of `inspect --json`: every SPEC key present, null where it does not apply.
    private struct JSONFile: Encodable {
        var report: InspectReport

        enum CodingKeys: String, CodingKey {
            case path, format, diskType, virtualSize, identifier, parent, error, chain, chainError
            case warnings, needsLogReplay, externalSource, externalDataFile
        }

        struct Parent: Encodable {
            var identifier: String?
            var paths: [String: String]

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(identifier, forKey: .identifier)
                try container.encode(paths, forKey: .paths)
            }

            enum CodingKeys: String, CodingKey {
                case identifier
                case paths
            }
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            let info = report.info
            try container.encode(report.path, forKey: .path)
            try container.encode(info?.format.rawValue, forKey: .format)
            try container.encode(info?.diskType.rawValue, forKey: .diskType)
            try container.encode(info?.virtualSize, forKey: .virtualSize)
            try container.encode(info?.identifierText, forKey: .identifier)
            try container.encode(
                info?.parent.map(Self.parent(of:)).map { Parent(identifier: info?.parentIdentifierText, paths: $0) },
                forKey: .parent
            )
            try container.encode(report.error, forKey: .error)
            if report.chain != nil || report.chainError != nil {
                try container.encode(report.chain ?? [], forKey: .chain)
                try container.encode(report.chainError, forKey: .chainError)
            }
            if let info {
                try container.encode(info.warnings, forKey: .warnings)
                try container.encode(info.logState == .needsReplay, forKey: .needsLogReplay)
                try container.encodeIfPresent(info.externalDataFile, forKey: .externalDataFile)
            }
            try container.encodeIfPresent(report.externalSource, forKey: .externalSource)
        }

        static func parent(of reference: ParentReference) -> [String: String] {
            var paths: [String: String] = [:]
            paths["relativePath"] = reference.relativePath
            paths["volumePath"] = reference.volumePath
            paths["absoluteWin32Path"] = reference.absoluteWin32Path
            paths["backingFile"] = reference.backingFile
            paths["backingFormat"] = reference.backingFormat
            paths["parentUnicodeName"] = reference.parentUnicodeName
            paths["macURL"] = reference.macURL
            return paths
        }

        init(_ report: InspectReport) { self.report = report }
    }

    // MARK: Text

    static func text(_ reports: [InspectReport]) -> String {
        var out = ""
        for report in reports {
            guard let info = report.info else {
                out +=
                    "\(shown: report.path): \(shown: report.error?.code ?? "error"): \(shown: report.error?.message ?? "")\n"
                continue
            }
            let identifier = info.identifierText.map { "  id \($0)" } ?? ""
            out +=
                "\(shown: report.path): \(info.format.rawValue) \(info.diskType.rawValue), \(byteText(info.virtualSize))\(identifier)\n"
            for warning in info.warnings { out += "  warning: \(shown: warning)\n" }
            if let parent = info.parent {
                out += "  parent" + (info.parentIdentifierText.map { " id \($0)" } ?? "") + "\n"
                let rows = JSONFile.parent(of: parent).sorted { $0.key < $1.key }
                let width = rows.map(\.key.count).max() ?? 0
                for (key, value) in rows { out += "    \(key.padding(width))  \(shown: value)\n" }
            }
            if let chain = report.chain {
                out += "  chain\n"
                let width = chain.map { PrintableText.escape($0.path).count }.max() ?? 0
                for (index, entry) in chain.enumerated() {
                    let marker = index == 0 ? "  " : "└ "
                    out +=
                        "    \(marker)\(PrintableText.escape(entry.path).padding(width))  \(shown: entry.identifier ?? "-")\n"
                }
                if let external = report.externalSource { out += "    └ \(shown: external) (not a file)\n" }
            }
            if let error = report.chainError { out += "  chain error (\(error.code)): \(shown: error.message)\n" }
        }
        return out
    }

    static func byteText(_ bytes: UInt64) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) bytes" : String(format: "%.1f %@ (%llu bytes)", value, units[unit], bytes)
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
