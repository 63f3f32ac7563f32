import DiskAccess
import DiskFormats
import DiskFormatsTesting
import Foundation
import Testing

/// `FileByteSource` keeps the pages around small reads: whatever it serves from them must be what the file holds.
@Suite struct FileByteSourceTests {
    @Test func everyReadReturnsTheFileBytesWhereverItFalls() throws {
        let directory = try TemporaryDirectory()
        var generator = SplitMix64(seed: 11)
        // Not a whole number of pages, so the last page is short.
        let bytes = (0..<(5 * 4096 + 1234)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let path = "\(directory.path)/random.bin"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let source = try #require(try FileByteSource(path: path))
        #expect(source.size == UInt64(bytes.count))

        // Page starts and ends, reads straddling two pages, the file's last bytes, whole and multi-page reads,
        // then a random walk long enough to evict kept pages and come back to them.
        var reads: [(Int, Int)] = [
            (0, 8), (0, 4096), (4090, 12), (4096, 1), (8191, 2), (bytes.count - 512, 512), (bytes.count - 1, 1),
            (100, 9000), (4096 * 5, 1234), (0, bytes.count),
        ]
        for _ in 0..<500 {
            let offset = Int.random(in: 0..<bytes.count, using: &generator)
            let count = Int.random(in: 1...min(6000, bytes.count - offset), using: &generator)
            reads.append((offset, count))
        }
        for (offset, count) in reads {
            let read = try source.read(at: UInt64(offset), count: count)
            #expect(read == Array(bytes[offset..<(offset + count)]), "read of \(count) at \(offset)")
        }
    }

    @Test func aFileThatShrankAfterOpeningIsAnIOErrorNotStaleZeros() throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/shrinking.bin"
        try Data([UInt8](repeating: 7, count: 3 * 4096)).write(to: URL(fileURLWithPath: path))
        let source = try #require(try FileByteSource(path: path))
        #expect(truncate(path, 4096) == 0)
        #expect(try source.read(at: 0, count: 16) == [UInt8](repeating: 7, count: 16))
        #expect(throws: DiskFormatError.self) { try source.read(at: 2 * 4096 + 10, count: 16) }
    }

    /// Issue 26: checking a VHDX's BAT against the file size keeps a header parse under 128 KiB of reads, however
    /// large the disk (and its BAT) is.
    @Test(arguments: [UInt64(64 << 20), 1 << 40, 4 << 40])
    func aVHDXParseReadsAtMost128KiB(virtualSize: UInt64) throws {
        let directory = try TemporaryDirectory()
        let path = "\(directory.path)/big.vhdx"
        try Data(SampleImages.vhdxBase(virtualSize: virtualSize)).write(to: URL(fileURLWithPath: path))
        let source = try #require(try FileByteSource(path: path, recordingReads: true))
        let info = try DiskImageReader.read(source, name: path)
        #expect(info.virtualSize == virtualSize)
        let bytes = source.fileReads.map(\.count).reduce(0, +)
        #expect(bytes <= 128 * 1024, "\(bytes) bytes read for a \(virtualSize)-byte disk")
    }
}
