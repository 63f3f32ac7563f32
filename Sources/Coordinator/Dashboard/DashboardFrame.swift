import ChainModel
import ClusterAPI
import Foundation

/// What every page's head and foot show: title, navigation, viewer, and how old the cluster state is.
struct Frame {
    struct NavItem {
        let href: String
        let label: String
        let current: Bool
    }

    struct ViewerBox {
        let name: String
        let csrf: String
        let canLogOut: Bool
    }

    let title: String
    let heading: String
    let nav: [NavItem]
    let viewer: ViewerBox?
    let asOf: String?
    /// The cluster changed after the audit this page shows; a fresh one is being computed.
    let refreshing: Bool

    static let sections = [
        ("/ui", "Overview"), ("/ui/vms", "VMs"), ("/ui/audit", "Audit"), ("/ui/history", "History"),
        ("/ui/whatif", "What if"),
    ]

    init(
        title: String,
        heading: String? = nil,
        section: String?,
        viewer: ViewerBox?,
        asOf: Timestamp? = nil,
        refreshing: Bool = false
    ) {
        self.title = title
        self.heading = heading ?? title
        nav = viewer == nil ? [] : Self.sections.map { NavItem(href: $0.0, label: $0.1, current: $0.0 == section) }
        self.viewer = viewer
        self.asOf = asOf.map(Self.time)
        self.refreshing = refreshing
    }

    /// A wall-clock time as the pages print it (ISO 8601 in UTC, to the second).
    static func time(_ timestamp: Timestamp) -> String {
        let date = Date(timeIntervalSince1970: Double(timestamp.millisecondsSinceEpoch) / 1000)
        return date.formatted(.iso8601)
    }

    static func bytes(_ count: Int64) -> String {
        ByteCountFormatter.string(fromByteCount: count, countStyle: .binary)
    }
}

/// "1–100 of 8,000" with links to the neighbouring pages.
struct Pager {
    let summary: String
    let previous: String?
    let next: String?

    static let pageSize = 100

    /// The rows of page `page` (from 1), and the pager for them; `link` makes a page's URL.
    static func slice<T>(_ rows: [T], page: Int, size: Int = pageSize, link: (Int) -> String) -> ([T], Pager?) {
        let pages = max(1, (rows.count + size - 1) / size)
        let page = min(max(page, 1), pages)
        let start = (page - 1) * size
        let slice = Array(rows[min(start, rows.count)..<min(start + size, rows.count)])
        guard rows.count > size else { return (slice, nil) }
        return (
            slice,
            Pager(
                summary: "\(start + 1)–\(start + slice.count) of \(rows.count)",
                previous: page > 1 ? link(page - 1) : nil,
                next: page < pages ? link(page + 1) : nil
            )
        )
    }

    /// `path?name=value&…` with every value percent-encoded; empty values are left out.
    static func url(_ path: String, _ query: [(String, String?)]) -> String {
        let items = query.compactMap { name, value in
            value.flatMap { $0.isEmpty ? nil : "\(name)=\(HTMLText.query($0))" }
        }
        return items.isEmpty ? path : path + "?" + items.joined(separator: "&")
    }
}

/// A select's option.
struct Option {
    let value: String
    let label: String
    let selected: Bool

    init(_ value: String, label: String? = nil, selected: String?) {
        self.value = value
        self.label = label ?? value
        self.selected = value == (selected ?? "")
    }
}

/// A reason as the `reasons` partial lists it.
struct ReasonRow {
    let code: String
    let message: String
    let path: String?
    let volume: String?

    init(_ reason: ReasonJSON) {
        code = reason.code
        message = reason.message
        path = reason.path
        volume = reason.volume
    }
}
