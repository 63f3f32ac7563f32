import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Debian's Chromium, headless, driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`: commands on
/// fd 3, answers and events on fd 4, each message ending in a NUL byte), for the dashboard's browser tests.
///
/// Test support only. A missing `chromium` is an error, never a skip: `scripts/test` installs it.
public final class HeadlessChromium: @unchecked Sendable {
    /// One DevTools event, as received.
    public struct Event: @unchecked Sendable {
        public let method: String
        public let session: String?
        public let params: [String: Any]
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    let pid: pid_t
    let commands: Int32
    let answers: Int32
    let profile: String
    var nextID = 1
    var closed = false
    var pending: [UInt8] = []
    /// Every event received so far, oldest first.
    public private(set) var events: [Event] = []

    public static let executable = "/usr/bin/chromium"

    public init() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.executable) else {
            throw Failure(
                description: "\(Self.executable) is missing: run scripts/test, which installs Debian's chromium"
            )
        }
        profile = FileManager.default.temporaryDirectory.appendingPathComponent("ck-chromium-\(UUID().uuidString)").path
        var toBrowser: [Int32] = [0, 0]
        var fromBrowser: [Int32] = [0, 0]
        guard pipe(&toBrowser) == 0, pipe(&fromBrowser) == 0 else { throw Failure(description: "pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toBrowser[0], 3)
        posix_spawn_file_actions_adddup2(&actions, fromBrowser[1], 4)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, profile + ".log", O_WRONLY | O_CREAT, 0o644)
        for descriptor in [toBrowser[1], fromBrowser[0]] { posix_spawn_file_actions_addclose(&actions, descriptor) }
        let arguments = [
            Self.executable, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
            "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", "--disable-component-update",
            "--user-data-dir=\(profile)", "about:blank",
        ]
        var argv = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let status = posix_spawn(&child, Self.executable, &actions, nil, &argv, environ)
        Glibc.close(toBrowser[0])
        Glibc.close(fromBrowser[1])
        guard status == 0 else {
            throw Failure(description: "chromium did not start: \(String(cString: strerror(status)))")
        }
        pid = child
        commands = toBrowser[1]
        answers = fromBrowser[0]
    }

    deinit { close() }

    /// Ends the browser (SIGKILL after 5 s) and removes its profile.
    public func close() {
        guard !closed else { return }
        closed = true
        _ = try? send("Browser.close", timeout: .seconds(5))
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { break }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        Glibc.close(commands)
        Glibc.close(answers)
        try? FileManager.default.removeItem(atPath: profile)
    }

    /// Sends a command and waits for its answer's `result` (events that arrive meanwhile are kept in `events`).
    @discardableResult
    public func send(
        _ method: String,
        _ params: [String: Any] = [:],
        session: String? = nil,
        timeout: Duration = .seconds(30)
    ) throws -> [String: Any] {
        let id = nextID
        nextID += 1
        var message: [String: Any] = ["id": id, "method": method, "params": params]
        if let session { message["sessionId"] = session }
        var bytes = Array(try JSONSerialization.data(withJSONObject: message))
        bytes.append(0)
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(commands, $0.baseAddress, $0.count) }
            guard count > 0 else { throw Failure(description: "the browser closed its command pipe") }
            written += count
        }
        let deadline = ContinuousClock.now + timeout
        while true {
            let message = try nextMessage(until: deadline, waitingFor: method)
            if message["id"] as? Int == id {
                if let error = message["error"] as? [String: Any] {
                    throw Failure(description: "\(method): \(error["message"] ?? error)")
                }
                return message["result"] as? [String: Any] ?? [:]
            }
        }
    }

    /// Waits until an event named `method` (for `session`, when given) arrives after the first `since` events.
    @discardableResult
    public func waitForEvent(
        _ method: String,
        session: String? = nil,
        since: Int = 0,
        timeout: Duration = .seconds(30)
    ) throws -> Event {
        let deadline = ContinuousClock.now + timeout
        var index = since
        while true {
            while index < events.count {
                let event = events[index]
                index += 1
                if event.method == method, session == nil || event.session == session { return event }
            }
            _ = try nextMessage(until: deadline, waitingFor: method)
        }
    }

    /// Reads one message; events are appended to `events` and returned too.
    private func nextMessage(until deadline: ContinuousClock.Instant, waitingFor what: String) throws -> [String: Any] {
        while true {
            if let end = pending.firstIndex(of: 0) {
                let data = Data(pending[..<end])
                pending.removeSubrange(...end)
                guard let message = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { continue }
                if message["id"] == nil, let method = message["method"] as? String {
                    events.append(
                        Event(
                            method: method,
                            session: message["sessionId"] as? String,
                            params: message["params"] as? [String: Any] ?? [:]
                        )
                    )
                }
                return message
            }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Failure(description: "no answer from the browser to \(what) in time") }
            var descriptor = pollfd(fd: answers, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(min(left.components.seconds * 1000 + 1, 1000))
            guard poll(&descriptor, 1, milliseconds) >= 0 else { continue }
            if descriptor.revents == 0 { continue }
            var buffer = [UInt8](repeating: 0, count: 1 << 16)
            let count = read(answers, &buffer, buffer.count)
            guard count > 0 else { throw Failure(description: "the browser exited (see \(profile).log)") }
            pending += buffer[0..<count]
        }
    }
}

/// One tab of `HeadlessChromium`, attached in flat mode.
public final class BrowserTab: @unchecked Sendable {
    public let browser: HeadlessChromium
    public let session: String

    /// Opens a tab with the page, runtime and log domains enabled, at `width` CSS pixels.
    public init(_ browser: HeadlessChromium, width: Int = 1280, height: Int = 900) throws {
        self.browser = browser
        let target = try browser.send("Target.createTarget", ["url": "about:blank"])
        guard let id = target["targetId"] as? String else { throw HeadlessChromium.Failure(description: "no target") }
        let attached = try browser.send("Target.attachToTarget", ["targetId": id, "flatten": true])
        guard let session = attached["sessionId"] as? String else {
            throw HeadlessChromium.Failure(description: "no session")
        }
        self.session = session
        for domain in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] {
            try browser.send(domain, session: session)
        }
        try browser.send(
            "Emulation.setDeviceMetricsOverride",
            ["width": width, "height": height, "deviceScaleFactor": 1, "mobile": false],
            session: session
        )
    }

    /// Navigates and waits for the load event (after any redirects).
    public func open(_ url: String) throws {
        let since = browser.events.count
        let answer = try browser.send("Page.navigate", ["url": url], session: session)
        if let error = answer["errorText"] as? String {
            throw HeadlessChromium.Failure(description: "navigating to \(url): \(error)")
        }
        try browser.waitForEvent("Page.loadEventFired", session: session, since: since)
    }

    /// Runs `script` in the page (awaiting a promise) and returns its value.
    public func evaluate(_ script: String) throws -> Any? {
        let answer = try browser.send(
            "Runtime.evaluate",
            ["expression": script, "returnByValue": true, "awaitPromise": true],
            session: session
        )
        if let exception = answer["exceptionDetails"] as? [String: Any] {
            throw HeadlessChromium.Failure(description: "script failed: \(exception["text"] ?? exception)")
        }
        return (answer["result"] as? [String: Any])?["value"]
    }

    /// Runs `script`, which submits a form or follows a link, and waits for the next page's load event.
    public func submit(_ script: String) throws {
        let since = browser.events.count
        _ = try evaluate(script)
        try browser.waitForEvent("Page.loadEventFired", session: session, since: since)
    }

    /// The current URL.
    public func location() throws -> String { try evaluate("location.href") as? String ?? "" }

    /// Console errors, uncaught exceptions and browser log errors (blocked resources, CSP violations) since event
    /// `since`, and whether a JavaScript dialog opened (an `alert` from injected script would).
    public func problems(since: Int) -> [String] {
        browser.events[since...].filter { $0.session == session }.compactMap { event -> String? in
            switch event.method {
            case "Runtime.exceptionThrown":
                return "exception: \((event.params["exceptionDetails"] as? [String: Any])?["text"] ?? "")"
            case "Runtime.consoleAPICalled" where ["error", "assert"].contains(event.params["type"] as? String):
                return "console.\(event.params["type"] ?? ""): \(event.params["args"] ?? "")"
            case "Log.entryAdded":
                let entry = event.params["entry"] as? [String: Any] ?? [:]
                guard entry["level"] as? String == "error" else { return nil }
                return "log: \(entry["text"] ?? "") \(entry["url"] ?? "")"
            case "Page.javascriptDialogOpening":
                return "dialog: \(event.params["message"] ?? "")"
            default: return nil
            }
        }
    }

    /// A PNG of the whole page.
    public func screenshot() throws -> Data {
        let metrics = try browser.send("Page.getLayoutMetrics", session: session)
        let size = metrics["cssContentSize"] as? [String: Any] ?? [:]
        let width = (size["width"] as? Double) ?? 1280
        let height = min((size["height"] as? Double) ?? 900, 6000)
        let shot = try browser.send(
            "Page.captureScreenshot",
            [
                "format": "png", "captureBeyondViewport": true,
                "clip": ["x": 0, "y": 0, "width": width, "height": height, "scale": 1],
            ],
            session: session
        )
        guard let base64 = shot["data"] as? String, let data = Data(base64Encoded: base64) else {
            throw HeadlessChromium.Failure(description: "no screenshot data")
        }
        return data
    }
}
