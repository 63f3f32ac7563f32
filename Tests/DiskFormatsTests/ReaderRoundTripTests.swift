import ChainModel
import DiskFormats
import DiskFormatsTesting
import Testing

/// What the writer writes, the readers read back, however the bytes arrive.
@Suite struct ReaderRoundTripTests {
    @Test func vhdxBaseAndChildRoundTrip() throws {
        let base = try DiskImageReader.read(InMemoryByteSource(SampleImages.vhdxBase()), name: "base.vhdx")
        #expect(base.format == .vhdx)
        #expect(base.diskType == .dynamic)
        #expect(base.virtualSize == 64 << 20)
        #expect(base.identifier == SampleImages.parentGuid)
        #expect(base.parent == nil)
        #expect(base.logState == .clean)
        #expect(base.warnings.isEmpty)

        let child = try DiskImageReader.read(InMemoryByteSource(SampleImages.vhdxChild()), name: "child.avhdx")
        #expect(child.diskType == .differencing)
        #expect(child.identifier == SampleImages.childGuid)
        #expect(child.parent?.identifier == SampleImages.parentGuid)
        #expect(child.parent?.relativePath == "base.vhdx")
        #expect(child.parent?.absoluteWin32Path == #"\\?\C:\ClusterStorage\Volume1\vm\base.vhdx"#)
        #expect(child.parentIdentifierText == SampleImages.parentGuid.mixedEndianText)
    }

    @Test func vhdBaseAndChildRoundTrip() throws {
        let base = try DiskImageReader.read(InMemoryByteSource(SampleImages.vhdBase()), name: "base.vhd")
        #expect(base.format == .vhd)
        #expect(base.diskType == .dynamic)
        #expect(base.identifierText == SampleImages.parentGuid.byteOrderText)
        let child = try DiskImageReader.read(InMemoryByteSource(SampleImages.vhdChild()), name: "child.avhd")
        #expect(child.diskType == .differencing)
        #expect(child.parent?.identifier == SampleImages.parentGuid)
        #expect(child.parent?.relativePath == #".\base.vhd"#)
        #expect(child.parent?.absoluteWin32Path == #"C:\ClusterStorage\Volume1\vm\base.vhd"#)
        #expect(child.parent?.parentUnicodeName == "base.vhd")
    }

    @Test func qcow2HeadersRoundTrip() throws {
        let top = try DiskImageReader.read(InMemoryByteSource(SampleImages.qcow2()), name: "top.qcow2")
        #expect(top.format == .qcow2)
        #expect(top.diskType == .differencing)
        #expect(top.parent?.backingFile == "base.qcow2")
        #expect(top.parent?.backingFormat == "qcow2")
        #expect(top.identifier == nil)
        let v2 = try DiskImageReader.read(
            InMemoryByteSource(SampleImages.qcow2(backing: nil, version: 2)),
            name: "b.qcow2"
        )
        #expect(v2.diskType == .dynamic)
        #expect(v2.parent == nil)
    }

    @Test func rawIsWhatNoSignatureAndNoDiskExtensionMeans() throws {
        let info = try DiskImageReader.read(InMemoryByteSource([UInt8](repeating: 7, count: 4096)), name: "disk.img")
        #expect(info.format == .raw)
        #expect(info.virtualSize == 4096)
    }

    /// Issue 26: a file whose name promises a disk format and whose content is not one (a fixed VHD cut before its
    /// footer, an empty file, a text file) is a malformed file of that format, never `raw`.
    @Test(arguments: ["d.vhdx", "d.AVHDX", "d.vhd", "d.avhd", "d.qcow2"])
    func aNamePromisingAFormatIsNeverRaw(name: String) {
        // A fixed VHD is its data and a footer at the end: without the footer, only the data is left.
        let fixedWithoutFooter = [UInt8](repeating: 0, count: 1 << 20)
        for bytes in [[], Array("hello\n".utf8), fixedWithoutFooter] {
            #expect("\(name), \(bytes.count) bytes") {
                try DiskImageReader.read(InMemoryByteSource(bytes), name: name)
            } throws: { error in
                (error as? DiskFormatError)?.code == .malformed
            }
        }
    }

    /// The NIO `ByteToMessageDecoderVerifier` idea: whole reads, one-byte reads and seeded random
    /// chunk sizes must give identical results.
    @Test(arguments: ["vhdx", "vhd", "qcow2"])
    func resultsDoNotDependOnHowBytesArrive(kind: String) throws {
        let bytes: [UInt8]
        let name: String
        switch kind {
        case "vhdx": (bytes, name) = (SampleImages.vhdxChild(), "c.avhdx")
        case "vhd": (bytes, name) = (SampleImages.vhdChild(), "c.avhd")
        default: (bytes, name) = (SampleImages.qcow2(), "c.qcow2")
        }
        let whole = try DiskImageReader.read(InMemoryByteSource(bytes), name: name)
        let single = try DiskImageReader.read(ChunkedSource(bytes: bytes, chunks: .fixed(1)), name: name)
        let random = try DiskImageReader.read(ChunkedSource(bytes: bytes, chunks: .seeded(42)), name: name)
        #expect(single == whole)
        #expect(random == whole)
    }
}

/// Serves every read as a series of smaller reads.
struct ChunkedSource: ByteSource {
    enum Chunks {
        case fixed(Int)
        case seeded(UInt64)
    }

    let bytes: [UInt8]
    let chunks: Chunks
    var size: UInt64 { UInt64(bytes.count) }

    func read(at offset: UInt64, count: Int) throws(DiskFormatError) -> [UInt8] {
        var generator = SplitMix64(seed: offset)
        var result: [UInt8] = []
        result.reserveCapacity(count)
        var position = Int(offset)
        let end = position + count
        while position < end {
            let step: Int
            switch chunks {
            case .fixed(let size): step = size
            case .seeded(let seed):
                _ = seed
                step = Int.random(in: 1...4096, using: &generator)
            }
            let next = min(end, position + step)
            result += try InMemoryByteSource(bytes).read(at: UInt64(position), count: next - position)
            position = next
        }
        return result
    }
}
