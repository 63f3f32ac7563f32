import Foundation
import ShellHooks
import Synchronization
import Testing

/// Log lines collected from another thread.
final class Lines: Sendable {
    let storage = Mutex<[String]>([])
    func append(_ line: String) { storage.withLock { $0.append(line) } }
    func contains(_ text: String) -> Bool { storage.withLock { $0.contains { $0.contains(text) } } }
}

/// The watchdog's own logic, in-process, with a real fence hook (`/bin/sh`) and a real feed file.
@Suite struct WatchdogTests {
    func scratch() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ck-wd-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func watchdog(_ directory: String, lines: Lines) -> Watchdog {
        Watchdog(
            feedPath: directory + "/watchdog.feed",
            node: "node7",
            fenceHook: "echo \"$CHAINKEEPER_OPERATION $CHAINKEEPER_NODE\" >> \(directory)/fenced",
            hookTimeout: .seconds(10)
        ) { line in lines.append(line) }
    }

    @Test func aStaleFeedRunsTheFenceHookOnceAndDisarms() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = Lines()
        try WatchdogFeed.armed(fedAt: MonotonicClock.milliseconds() - 1000, timeoutMilliseconds: 200)
            .write(to: directory + "/watchdog.feed")
        #expect(watchdog(directory, lines: lines).run() == .fenced(succeeded: true))
        #expect(try String(contentsOfFile: directory + "/fenced", encoding: .utf8) == "fence node7\n")
        #expect(WatchdogFeed.read(from: directory + "/watchdog.feed") == .disarmed)
        #expect(lines.contains("fencing node7"))
    }

    @Test func regularFeedsKeepItQuietAndExitReleasesIt() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let feed = directory + "/watchdog.feed"
        try WatchdogFeed.armed(fedAt: MonotonicClock.milliseconds(), timeoutMilliseconds: 2000).write(to: feed)
        let lines = Lines()
        let dog = watchdog(directory, lines: lines)
        // The watchdog blocks its thread (it is a process of its own in production): give it one, off the test pool.
        let ended = Mutex<Watchdog.Ending?>(nil)
        let thread = Thread { ended.withLock { $0 = dog.run() } }
        thread.start()
        for _ in 0..<12 {
            usleep(50_000)
            try WatchdogFeed.armed(fedAt: MonotonicClock.milliseconds(), timeoutMilliseconds: 2000).write(to: feed)
        }
        try WatchdogFeed.exit.write(to: feed)
        for _ in 0..<100 where ended.withLock({ $0 == nil }) { usleep(20_000) }
        #expect(ended.withLock { $0 } == .released)
        #expect(!FileManager.default.fileExists(atPath: directory + "/fenced"), "fed in time: never fenced")
    }

    @Test func aVanishedDataDirectoryEndsAnIdleWatchdogButNotAnArmedOne() throws {
        let lines = Lines()
        let idle = try scratch()
        try WatchdogFeed.disarmed.write(to: idle + "/watchdog.feed")
        let dog = watchdog(idle, lines: lines)
        let ended = Mutex<Watchdog.Ending?>(nil)
        Thread { ended.withLock { $0 = dog.run() } }.start()
        usleep(300_000)
        try FileManager.default.removeItem(atPath: idle)
        for _ in 0..<100 where ended.withLock({ $0 == nil }) { usleep(20_000) }
        #expect(ended.withLock { $0 } == .released)
        #expect(lines.contains("is gone and nothing is armed"))

        // Armed, then the feed disappears: still no feed, so it fences when the timeout passes.
        let armed = try scratch()
        defer { try? FileManager.default.removeItem(atPath: armed) }
        let fencedBy = armed + "-fenced"
        defer { try? FileManager.default.removeItem(atPath: fencedBy) }
        try WatchdogFeed.armed(fedAt: MonotonicClock.milliseconds(), timeoutMilliseconds: 600)
            .write(to: armed + "/watchdog.feed")
        let guardDog = Watchdog(
            feedPath: armed + "/watchdog.feed",
            node: "node7",
            fenceHook: "echo fenced >> \(fencedBy)",
            hookTimeout: .seconds(10)
        ) { line in lines.append(line) }
        let outcome = Mutex<Watchdog.Ending?>(nil)
        Thread { outcome.withLock { $0 = guardDog.run() } }.start()
        usleep(200_000)
        try FileManager.default.removeItem(atPath: armed + "/watchdog.feed")
        for _ in 0..<150 where outcome.withLock({ $0 == nil }) { usleep(20_000) }
        #expect(outcome.withLock { $0 } == .fenced(succeeded: true))
        #expect(FileManager.default.fileExists(atPath: fencedBy))
    }

    @Test func withoutAFenceHookItSaysSoAndFails() throws {
        let directory = try scratch()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try WatchdogFeed.armed(fedAt: 0, timeoutMilliseconds: 1).write(to: directory + "/watchdog.feed")
        let lines = Lines()
        let dog = Watchdog(
            feedPath: directory + "/watchdog.feed",
            node: "node7",
            fenceHook: nil,
            hookTimeout: .seconds(1)
        ) { line in lines.append(line) }
        #expect(dog.run() == .fenced(succeeded: false))
        #expect(lines.contains("no fence hook is configured"))
    }

    @Test func feedLinesRoundTripAndGarbageIsIgnored() {
        for feed in [WatchdogFeed.armed(fedAt: 12, timeoutMilliseconds: 5000), .disarmed, .exit] {
            #expect(WatchdogFeed(line: feed.line) == feed)
        }
        #expect(WatchdogFeed(line: "armed soon") == nil)
        #expect(WatchdogFeed(line: "") == nil)
    }
}
