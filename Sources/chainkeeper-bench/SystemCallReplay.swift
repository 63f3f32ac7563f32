import ArgumentParser
import ChainModel
import DiskFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Replays recorded `pread` calls: open, fstat, the reads into one reused buffer, close.
///
/// The cost of the system calls a parse makes, with no parsing and no allocation.
enum SystemCallReplay {
    static func run(
        _ files: [(path: String, format: DiskFormat)],
        _ reads: [[(offset: UInt64, count: Int)]]
    ) throws -> (total: Double, byFormat: [DiskFormat: Double]) {
        let largest = reads.flatMap { $0.map(\.count) }.max() ?? 0
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: max(largest, 1), alignment: 4096)
        defer { buffer.deallocate() }
        var byFormat: [DiskFormat: Double] = [:]
        var status = stat()
        let total = try ProcessTimer.seconds {
            for (file, fileReads) in zip(files, reads) {
                let started = ContinuousClock.now
                let descriptor = open(file.path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw ValidationError("cannot open \(file.path)") }
                var failure: String?
                if fstat(descriptor, &status) != 0 { failure = "cannot stat \(file.path)" }
                for read in fileReads where failure == nil {
                    if pread(descriptor, buffer, read.count, off_t(read.offset)) != read.count {
                        failure = "short read of \(file.path)"
                    }
                }
                close(descriptor)
                if let failure { throw ValidationError(failure) }
                let (seconds, attoseconds) = (ContinuousClock.now - started).components
                byFormat[file.format, default: 0] += Double(seconds) + Double(attoseconds) / 1e18
            }
        }
        return (total, byFormat)
    }
}
