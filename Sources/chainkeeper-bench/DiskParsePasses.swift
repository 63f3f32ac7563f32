import ArgumentParser
import ChainModel
import DiskAccess
import DiskFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Timed passes over the disk-parse files, and replays of the `pread` calls their parses made.
///
/// A replay opens, stats, reads and closes each file exactly as a parse did, without parsing: the cost of the system
/// calls alone, which no parser on this machine can go below.
enum DiskParsePasses {
    typealias File = (path: String, format: DiskFormat)
    typealias Reads = [(offset: UInt64, count: Int)]

    /// One pass: wall time in total and per format, and the thread's CPU split.
    struct Pass {
        var total: Double
        var byFormat: [DiskFormat: Double]
        var user: Double
        var system: Double
    }

    /// Runs `body` on every file, timing each one.
    static func timed(_ files: [File], _ body: (File) throws -> Void) throws -> Pass {
        var byFormat: [DiskFormat: Double] = [:]
        let before = ProcessTimer.threadCPU()
        let total = try ProcessTimer.seconds {
            for file in files {
                let started = ContinuousClock.now
                try body(file)
                let (seconds, attoseconds) = (ContinuousClock.now - started).components
                byFormat[file.format, default: 0] += Double(seconds) + Double(attoseconds) / 1e18
            }
        }
        let after = ProcessTimer.threadCPU()
        return Pass(
            total: total,
            byFormat: byFormat,
            user: after.user - before.user,
            system: after.system - before.system
        )
    }

    /// The recorded reads as raw system calls into one reused buffer: no allocation, no parsing.
    static func raw(_ files: [File], _ reads: [Reads]) throws -> Pass {
        let largest = reads.flatMap { $0.map(\.count) }.max() ?? 0
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(largest, 1), alignment: 4096)
        defer { buffer.deallocate() }
        // Allocated rather than `stat()`: with NIO's Foundation overlay imported, that initializer resolves through
        // CoreFoundation.
        let status = UnsafeMutablePointer<stat>.allocate(capacity: 1)
        defer { status.deallocate() }
        var index = 0
        return try timed(files) { file in
            defer { index += 1 }
            let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else { throw ValidationError("cannot open \(file.path)") }
            var failure: String?
            if fstat(descriptor, status) != 0 { failure = "cannot stat \(file.path)" }
            for read in reads[index] where failure == nil {
                if pread(descriptor, buffer, read.count, off_t(read.offset)) != read.count {
                    failure = "short read of \(file.path)"
                }
            }
            close(descriptor)
            if let failure { throw ValidationError(failure) }
        }
    }

    /// The recorded reads through `FileByteSource`: adds the arrays it returns and its page keeping, still no parsing.
    static func throughSource(_ files: [File], _ reads: [Reads]) throws -> Pass {
        var index = 0
        return try timed(files) { file in
            defer { index += 1 }
            guard let source = try FileByteSource(path: file.path) else {
                throw ValidationError("\(file.path) vanished")
            }
            for read in reads[index] { _ = try source.read(at: read.offset, count: read.count) }
        }
    }

    /// The pass with the median total.
    static func median(_ passes: [Pass]) -> Pass {
        passes.sorted { $0.total < $1.total }[passes.count / 2]
    }
}
