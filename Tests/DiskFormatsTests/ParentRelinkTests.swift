import ChainModel
import DiskFormats
import DiskFormatsTesting
import Testing

/// `ParentRelink` in memory: each format's patches lead the reader to the new parent and keep the linkage; what cannot
/// be re-linked safely is refused.
@Suite struct ParentRelinkTests {
    static func apply(_ patches: [ParentRelink.Patch], to bytes: [UInt8]) -> [UInt8] {
        var result = bytes
        for patch in patches {
            let end = Int(patch.offset) + patch.bytes.count
            if end > result.count { result += [UInt8](repeating: 0, count: end - result.count) }
            result.replaceSubrange(Int(patch.offset)..<end, with: patch.bytes)
        }
        return result
    }

    @Test func eachFormatNamesTheNewParentAndKeepsItsLinkage() throws {
        let target = ParentRelink.Target.between(child: "/s/vm01/child", parent: "/s/base.disk")
        #expect(target.relativePath == #"..\base.disk"#)
        #expect(target.backingFile == "/s/base.disk")
        for (format, bytes) in [
            (DiskFormat.vhdx, SampleImages.vhdxChild()), (.vhd, SampleImages.vhdChild()),
            (.qcow2, SampleImages.qcow2()),
        ] {
            let before = try DiskImageReader.read(InMemoryByteSource(bytes), as: format)
            let patched = Self.apply(
                try ParentRelink.patches(InMemoryByteSource(bytes), format: format, to: target),
                to: bytes
            )
            let after = try DiskImageReader.read(InMemoryByteSource(patched), as: format)
            #expect(after.identifier == before.identifier)
            #expect(after.virtualSize == before.virtualSize)
            #expect(after.parent?.identifier == before.parent?.identifier)
            #expect(patched.count == bytes.count)
            switch format {
            case .qcow2:
                #expect(after.parent?.backingFile == "/s/base.disk")
                #expect(after.parent?.backingFormat == before.parent?.backingFormat)
            case .vhdx:
                #expect(after.parent?.relativePath == #"..\base.disk"#)
                #expect(after.parent?.volumePath == nil)
                #expect(after.parent?.absoluteWin32Path == nil)
            default:
                #expect(after.parent?.relativePath == #"..\base.disk"#)
                #expect(after.parent?.parentUnicodeName == "base.disk")
            }
        }
    }

    @Test func aLongerVHDXLocatorMovesAfterTheLastItemAndAbsolutePathsComeFromThePathMap() throws {
        let bytes = SampleImages.vhdxChild()
        let long = "/shared/" + String(repeating: "d", count: 200) + "/base.vhdx"
        let map = PathMap([.init(windowsPrefix: #"\\?\C:\ClusterStorage\Volume1"#, localDirectory: "/shared")])
        let target = ParentRelink.Target.between(child: "/shared/vm/child.avhdx", parent: long, pathMap: map)
        #expect(
            target.absoluteWin32Path == #"\\?\C:\ClusterStorage\Volume1\"# + String(repeating: "d", count: 200)
                + #"\base.vhdx"#
        )
        let patched = Self.apply(
            try ParentRelink.patches(InMemoryByteSource(bytes), format: .vhdx, to: target),
            to: bytes
        )
        let after = try DiskImageReader.read(InMemoryByteSource(patched), as: .vhdx)
        #expect(after.parent?.absoluteWin32Path == target.absoluteWin32Path)
        #expect(after.parent?.relativePath == target.relativePath)
    }

    @Test func refusals() throws {
        // A VHD locator has the room its writer gave it; a longer path is refused, never written past it.
        let far = ParentRelink.Target.between(
            child: "/a/child.avhd",
            parent: "/" + String(repeating: "x/", count: 200) + "base.vhd"
        )
        #expect(throws: DiskFormatError.self) {
            try ParentRelink.patches(InMemoryByteSource(SampleImages.vhdChild()), format: .vhd, to: far)
        }
        // A base has no parent to re-link.
        let near = ParentRelink.Target.between(child: "/a/c", parent: "/a/b")
        #expect(throws: DiskFormatError.self) {
            try ParentRelink.patches(InMemoryByteSource(SampleImages.vhdxBase()), format: .vhdx, to: near)
        }
        #expect(throws: DiskFormatError.self) {
            try ParentRelink.patches(InMemoryByteSource(SampleImages.qcow2(backing: nil)), format: .qcow2, to: near)
        }
        // A VHDX whose log must be replayed: its locator is not trusted, so it is not rewritten.
        var dirty = SampleImages.vhdxChild()
        MalformedCorpus.vhdxLogEntry(&dirty, logGuid: MalformedCorpus.otherGuid, validEntry: true)
        #expect(throws: DiskFormatError.self) {
            try ParentRelink.patches(InMemoryByteSource(dirty), format: .vhdx, to: near)
        }
    }
}
