import DiskFormats
import DiskFormatsTesting
import Testing

@Suite struct ChainResolverTests {
    let a = GUID(bytes: [UInt8](repeating: 0xAA, count: 16))
    let b = GUID(bytes: [UInt8](repeating: 0xBB, count: 16))
    let c = GUID(bytes: [UInt8](repeating: 0xCC, count: 16))

    func child(
        of parent: GUID,
        named name: String,
        identity: GUID,
        extra: [(key: String, value: String)] = []
    ) -> [UInt8] {
        SampleImages.vhdxChild(
            parent: VHDXWriter.Parent(dataWriteGuid: parent, relativePath: name, extraEntries: extra),
            dataWriteGuid: identity
        )
    }

    /// Three levels: /vol/vm/base.vhdx ← mid.avhdx ← top.avhdx.
    func threeLevels() -> MemoryFileSystem {
        let fs = MemoryFileSystem()
        fs.add("/vol/vm/base.vhdx", SampleImages.vhdxBase(dataWriteGuid: a))
        fs.add("/vol/vm/mid.avhdx", child(of: a, named: "base.vhdx", identity: b))
        fs.add("/vol/vm/top.avhdx", child(of: b, named: "mid.avhdx", identity: c))
        return fs
    }

    @Test func followsAChainToItsBase() {
        let fs = threeLevels()
        let chain = ChainResolver(fileSystem: fs, allowedRoots: ["/vol"]).resolve("/vol/vm/top.avhdx")
        #expect(chain.error == nil)
        #expect(chain.links.map(\.path) == ["/vol/vm/top.avhdx", "/vol/vm/mid.avhdx", "/vol/vm/base.vhdx"])
        #expect(chain.links.map(\.info.identifier) == [c, b, a])
    }

    @Test func missingParentIsFileMissingNamingTheLocator() {
        let fs = threeLevels()
        fs.files["/vol/vm/base.vhdx"] = nil
        let chain = ChainResolver(fileSystem: fs).resolve("/vol/vm/top.avhdx")
        #expect(chain.error?.code == .fileMissing)
        #expect(chain.error?.path == "/vol/vm/mid.avhdx")
        #expect(chain.error?.message.contains("relative_path 'base.vhdx'") == true)
        #expect(chain.links.count == 2)
    }

    @Test func wrongLinkageIsChainBroken() {
        let fs = threeLevels()
        fs.add("/vol/vm/mid.avhdx", child(of: c, named: "base.vhdx", identity: b))
        let chain = ChainResolver(fileSystem: fs).resolve("/vol/vm/top.avhdx")
        #expect(chain.error?.code == .chainBroken)
        #expect(chain.error?.message.contains("does not match the parent's DataWriteGuid \(a.mixedEndianText)") == true)
    }

    @Test func parentLinkage2IsAcceptedDuringAMerge() {
        let fs = threeLevels()
        fs.add(
            "/vol/vm/mid.avhdx",
            child(of: c, named: "base.vhdx", identity: b, extra: [("parent_linkage2", "{\(a.mixedEndianText)}")])
        )
        #expect(ChainResolver(fileSystem: fs).resolve("/vol/vm/top.avhdx").error == nil)
    }

    @Test func uppercaseLinkageStillMatches() {
        let fs = threeLevels()
        var bytes = child(of: a, named: "base.vhdx", identity: b)
        MalformedCorpus.replaceUTF16(
            &bytes,
            "{\(a.mixedEndianText)}",
            Array("{\(a.mixedEndianText.uppercased())}".utf16)
        )
        fs.add("/vol/vm/mid.avhdx", bytes)
        #expect(ChainResolver(fileSystem: fs).resolve("/vol/vm/top.avhdx").error == nil)
    }

    @Test func selfParentAndTwoFileCyclesAreChainBroken() {
        let fs = MemoryFileSystem()
        fs.add("/vol/self.avhdx", child(of: a, named: "self.avhdx", identity: a))
        let loop = ChainResolver(fileSystem: fs).resolve("/vol/self.avhdx")
        #expect(loop.error?.code == .chainBroken)
        #expect(loop.error?.message.contains("loops") == true)

        fs.add("/vol/x.avhdx", child(of: b, named: "y.avhdx", identity: a))
        fs.add("/vol/y.avhdx", child(of: a, named: "x.avhdx", identity: b))
        let pair = ChainResolver(fileSystem: fs).resolve("/vol/x.avhdx")
        #expect(pair.error?.code == .chainBroken)
        #expect(pair.links.count == 2)
    }

    @Test func depthIsBounded() {
        let fs = MemoryFileSystem()
        var previous = GUID(bytes: [UInt8](repeating: 1, count: 16))
        fs.add("/vol/d0.vhdx", SampleImages.vhdxBase(dataWriteGuid: previous))
        for level in 1...10 {
            let identity = GUID(bytes: [UInt8](repeating: UInt8(level + 1), count: 16))
            fs.add(
                "/vol/d\(level).avhdx",
                child(of: previous, named: level == 1 ? "d0.vhdx" : "d\(level - 1).avhdx", identity: identity)
            )
            previous = identity
        }
        let bounded = ChainResolver(fileSystem: fs, maxDepth: 5).resolve("/vol/d10.avhdx")
        #expect(bounded.error?.code == .chainBroken)
        #expect(bounded.error?.message.contains("deeper than 5") == true)
        #expect(bounded.links.count == 5)
        #expect(ChainResolver(fileSystem: fs).resolve("/vol/d10.avhdx").links.count == 11)
    }

    @Test(arguments: [
        #"..\..\..\..\..\..\etc\base.vhdx"#,
        #"..\..\other-volume\base.vhdx"#,
    ])
    func relativeTraversalOutOfTheAllowedRootsIsRefusedAndNeverOpened(path: String) {
        let fs = MemoryFileSystem()
        fs.add("/etc/base.vhdx", SampleImages.vhdxBase(dataWriteGuid: a))
        fs.add("/vol/other-volume/base.vhdx", SampleImages.vhdxBase(dataWriteGuid: a))
        fs.add("/vol/csv1/vm/top.avhdx", child(of: a, named: path, identity: b))
        let chain = ChainResolver(fileSystem: fs, allowedRoots: ["/vol/csv1"]).resolve("/vol/csv1/vm/top.avhdx")
        // Outside, not broken (issue 26): its own code, naming the file outside.
        #expect(chain.error?.code == .outsideRoots)
        #expect(chain.error?.message.contains("outside the allowed directories") == true)
        #expect(
            chain.error?.outside?.hasSuffix("base.vhdx") == true
                && chain.error?.outside?.hasPrefix("/vol/csv1") == false
        )
        #expect(fs.opened == ["/vol/csv1/vm/top.avhdx"], "nothing outside the root was opened")
    }

    @Test func symlinkLeadingOutOfTheRootsIsRefused() {
        let fs = MemoryFileSystem()
        fs.add("/secret/base.vhdx", SampleImages.vhdxBase(dataWriteGuid: a))
        fs.links["/vol/csv1/vm/base.vhdx"] = "../../../secret/base.vhdx"
        fs.add("/vol/csv1/vm/top.avhdx", child(of: a, named: "base.vhdx", identity: b))
        let chain = ChainResolver(fileSystem: fs, allowedRoots: ["/vol/csv1"]).resolve("/vol/csv1/vm/top.avhdx")
        #expect(chain.error?.code == .outsideRoots)
        #expect(chain.error?.outside == "/secret/base.vhdx")
        #expect(chain.error?.message.contains("through a link to /secret/base.vhdx") == true)
        // Without roots the same link resolves.
        #expect(ChainResolver(fileSystem: fs).resolve("/vol/csv1/vm/top.avhdx").error == nil)
    }

    @Test func absoluteOnlyLocatorResolvesThroughThePathMap() {
        let fs = MemoryFileSystem()
        fs.add("/mnt/csv1/vm/base.vhdx", SampleImages.vhdxBase(dataWriteGuid: a))
        fs.add(
            "/mnt/csv1/vm/top.avhdx",
            SampleImages.vhdxChild(
                parent: VHDXWriter.Parent(
                    dataWriteGuid: a,
                    relativePath: nil,
                    absoluteWin32Path: #"\\?\C:\ClusterStorage\Volume1\vm\base.vhdx"#
                ),
                dataWriteGuid: b
            )
        )
        let unmapped = ChainResolver(fileSystem: fs).resolve("/mnt/csv1/vm/top.avhdx")
        #expect(unmapped.error?.code == .fileMissing)
        #expect(unmapped.error?.message.contains("no pathMap entry") == true)
        let map = PathMap([PathMap.Entry(windowsPrefix: #"C:\ClusterStorage\Volume1"#, localDirectory: "/mnt/csv1")])
        let mapped = ChainResolver(fileSystem: fs, allowedRoots: ["/mnt/csv1"], pathMap: map).resolve(
            "/mnt/csv1/vm/top.avhdx"
        )
        #expect(mapped.error == nil)
        #expect(mapped.links.last?.path == "/mnt/csv1/vm/base.vhdx")
    }

    @Test func vhdChainFallsBackFromW2ruToW2ku() {
        let fs = MemoryFileSystem()
        fs.add("/mnt/csv1/vm/base.vhd", SampleImages.vhdBase(uniqueID: a))
        fs.add("/mnt/csv1/vm/sub/child.avhd", SampleImages.vhdChild(parentName: "base.vhd", parentID: a, uniqueID: b))
        let map = PathMap([PathMap.Entry(windowsPrefix: #"C:\ClusterStorage\Volume1"#, localDirectory: "/mnt/csv1")])
        let chain = ChainResolver(fileSystem: fs, pathMap: map).resolve("/mnt/csv1/vm/sub/child.avhd")
        #expect(chain.error == nil)
        #expect(chain.links.last?.path == "/mnt/csv1/vm/base.vhd")
    }

    @Test func vhdWithWrongParentIDIsChainBroken() {
        let fs = MemoryFileSystem()
        fs.add("/v/base.vhd", SampleImages.vhdBase(uniqueID: a))
        fs.add("/v/child.avhd", SampleImages.vhdChild(parentName: "base.vhd", parentID: c, uniqueID: b))
        let chain = ChainResolver(fileSystem: fs).resolve("/v/child.avhd")
        #expect(chain.error?.code == .chainBroken)
        #expect(chain.error?.message.contains("parent unique id") == true)
    }

    @Test func dirtyLogStopsTheWalkWithNeedsLogReplay() {
        let fs = threeLevels()
        var mid = child(of: a, named: "base.vhdx", identity: b)
        MalformedCorpus.vhdxLogEntry(&mid, logGuid: c, validEntry: true)
        fs.add("/vol/vm/mid.avhdx", mid)
        let chain = ChainResolver(fileSystem: fs).resolve("/vol/vm/top.avhdx")
        #expect(chain.error?.code == .diskNeedsLogReplay)
        #expect(chain.error?.path == "/vol/vm/mid.avhdx")
        #expect(!fs.opened.contains("/vol/vm/base.vhdx"), "a stale locator is not followed")
    }

    @Test func qcow2ProtocolBackingEndsTheChainAsAnExternalSource() {
        let fs = MemoryFileSystem()
        fs.add("/v/top.qcow2", SampleImages.qcow2(backing: "rbd:pool/base"))
        let chain = ChainResolver(fileSystem: fs).resolve("/v/top.qcow2")
        #expect(chain.error == nil)
        #expect(chain.externalSource == "rbd:pool/base")
    }

    @Test func qcow2ParentIsReadAsTheDeclaredFormatNeverProbed() {
        let fs = MemoryFileSystem()
        // The backing file claims to be qcow2 but is a VHDX: refused, not silently read as VHDX.
        fs.add("/v/base.qcow2", SampleImages.vhdxBase())
        fs.add("/v/top.qcow2", SampleImages.qcow2(backing: "base.qcow2"))
        let chain = ChainResolver(fileSystem: fs).resolve("/v/top.qcow2")
        #expect(chain.error?.code == .chainBroken)
        #expect(chain.error?.message.contains("cannot be parsed as qcow2") == true)
    }
}
