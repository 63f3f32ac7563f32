import DiskAccess
import DiskFormats
import Foundation
import Testing

/// Chains written by our writer, read by independent readers: `7zz` (whole chains, linkage
/// checked), `vhdiinfo` (identifiers, parent identifier and parent name) and our own `inspect`.
@Suite struct WriterAgainstOraclesTests {
    /// 7-Zip prints GUIDs as their raw on-disk bytes; vhdiinfo and inspect as mixed-endian text.
    static func rawHex(_ guid: GUID) -> String { guid.bytes.map { String(format: "%02x", $0) }.joined() }

    @Test(arguments: 1...5)
    func vhdxChainOfDepthAgreesWithSevenZipVhdiinfoAndInspect(depth: Int) throws {
        let directory = try TemporaryDirectory()
        let names = ["base.vhdx"] + (1..<(depth + 1)).map { "disk_\($0).avhdx" }
        let chain = try DiskFixtures.vhdxChain(in: directory.path, names: Array(names.prefix(depth + 1)))
        let leaf = try #require(chain.last)
        let leafName = LocalPath.fileName(of: leaf.path)

        // inspect --chain: leaf to base, each with its DataWriteGuid.
        let (status, files) = try Tools.inspect(["--chain", leafName], in: directory.path)
        #expect(status == 0)
        let report = try #require(files.first)
        let listed = try #require(report["chain"] as? [[String: Any]])
        #expect(listed.map { $0["identifier"] as? String } == chain.reversed().map { $0.identifier.mixedEndianText })
        #expect(report["chainError"] is NSNull)

        // 7zz: the whole chain opens, and every level shows the same DataWriteGuid and linkage.
        guard let seven = try Tools.run("7zz", ["l", "-slt", leafName], in: directory.path) else { return }
        #expect(seven.status == 0, "7zz: \(seven.stderr)")
        #expect(seven.stdout.contains("NumVolumeLevels: \(chain.count)"))
        let sevenGuids = seven.stdout.split(separator: "\n").filter { $0.hasPrefix("DataWriteGuid: ") }.map {
            String($0.dropFirst(15))
        }
        #expect(sevenGuids == chain.reversed().map { Self.rawHex($0.identifier) })
        let sevenLinkages = seven.stdout.split(separator: "\n").filter { $0.contains("parent_linkage: ") }
            .map { String($0.split(separator: " ").last ?? "") }
        let leafToBase = Array(chain.reversed())
        #expect(sevenLinkages == leafToBase.dropFirst().map { "{\($0.identifier.mixedEndianText)}" })
        #expect(!seven.stdout.contains("-> ?"), "7zz could not follow a parent")
        // …and the parent paths 7-Zip read are the ones inspect reports.
        let sevenRelative = seven.stdout.split(separator: "\n").filter { $0.contains("relative_path: ") }
            .map { String($0.split(separator: " ").last ?? "") }
        #expect(sevenRelative == leafToBase.dropFirst().map { LocalPath.fileName(of: $0.path) })
        let sevenAbsolute = seven.stdout.split(separator: "\n").filter { $0.contains("absolute_win32_path: ") }
            .map { String($0.split(separator: " ").last ?? "") }
        #expect(sevenAbsolute.count == chain.count - 1)
        #expect(sevenAbsolute.allSatisfy { $0.hasPrefix(#"\\?\C:\ClusterStorage\Volume1\fixtures\"#) })

        // vhdiinfo on every file: identifier, parent identifier, parent file name.
        for (index, disk) in chain.enumerated() {
            guard let fields = try Tools.vhdiinfo(LocalPath.fileName(of: disk.path), in: directory.path) else { return }
            #expect(fields["Identifier"] == disk.identifier.mixedEndianText)
            if index == 0 {
                #expect(fields["Disk type"] == "Dynamic")
                #expect(fields["Parent identifier"] == nil)
            } else {
                #expect(fields["Disk type"] == "Differential")
                #expect(fields["Parent identifier"] == chain[index - 1].identifier.mixedEndianText)
                #expect(
                    fields["Parent filename"]
                        == "\\\\?\\C:\\ClusterStorage\\Volume1\\fixtures\\\(LocalPath.fileName(of: chain[index - 1].path))"
                )
            }
        }
        // inspect on every file agrees with vhdiinfo's parent identifier and absolute path.
        let (_, all) = try Tools.inspect(chain.map { LocalPath.fileName(of: $0.path) }, in: directory.path)
        for (index, entry) in all.enumerated() where index > 0 {
            let parent = try #require(entry["parent"] as? [String: Any])
            #expect(parent["identifier"] as? String == chain[index - 1].identifier.mixedEndianText)
            let paths = try #require(parent["paths"] as? [String: String])
            #expect(paths["relativePath"] == LocalPath.fileName(of: chain[index - 1].path))
            #expect(paths["absoluteWin32Path"]?.hasSuffix(LocalPath.fileName(of: chain[index - 1].path)) == true)
            #expect(
                paths["volumePath"]?.hasPrefix(#"\\?\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\ClusterStorage"#)
                    == true
            )
        }
    }

    @Test(arguments: 1...5)
    func vhdChainOfDepthAgreesWithSevenZipVhdiinfoAndInspect(depth: Int) throws {
        let directory = try TemporaryDirectory()
        let names = ["base.vhd"] + (1...depth).map { "disk_\($0).avhd" }
        let chain = try DiskFixtures.vhdChain(in: directory.path, names: names)
        let leafName = LocalPath.fileName(of: try #require(chain.last).path)

        let (status, files) = try Tools.inspect(["--chain", leafName], in: directory.path)
        #expect(status == 0)
        let listed = try #require(files.first?["chain"] as? [[String: Any]])
        #expect(listed.map { $0["identifier"] as? String } == chain.reversed().map { $0.identifier.byteOrderText })

        guard let seven = try Tools.run("7zz", ["l", "-slt", leafName], in: directory.path) else { return }
        #expect(seven.status == 0, "7zz: \(seven.stderr)")
        #expect(seven.stdout.contains("Volumes = \(chain.count)"))
        #expect(seven.stdout.contains("Method = Differencing -> Dynamic"))
        #expect(seven.stdout.contains("ID = \(Self.rawHex(chain[depth].identifier).uppercased())"))

        for (index, disk) in chain.enumerated() {
            guard let fields = try Tools.vhdiinfo(LocalPath.fileName(of: disk.path), in: directory.path) else { return }
            #expect(fields["Identifier"] == disk.identifier.byteOrderText)
            if index > 0 {
                #expect(fields["Disk type"] == "Differential")
                #expect(fields["Parent identifier"] == chain[index - 1].identifier.byteOrderText)
                #expect(fields["Parent filename"] == LocalPath.fileName(of: chain[index - 1].path))
            }
        }
    }

    @Test func writtenFilesAreSparse() throws {
        let directory = try TemporaryDirectory()
        let chain = try DiskFixtures.vhdxChain(
            in: directory.path,
            names: ["big.vhdx", "big.avhdx"],
            virtualSize: 1 << 40
        )
        let vhd = try DiskFixtures.vhdChain(in: directory.path, names: ["big.vhd"], virtualSize: 127 << 30)
        for path in chain.map(\.path) + vhd.map(\.path) {
            var status = stat()
            #expect(stat(path, &status) == 0)
            let allocated = Int64(status.st_blocks) * 512
            #expect(allocated < 1 << 20, "\(path): \(allocated) bytes allocated of \(status.st_size)")
            if path.hasSuffix("vhdx") {
                // The zero log, BAT and padding are holes, not written zeros.
                #expect(Int64(status.st_size) > 4 * allocated, "\(path): \(allocated) of \(status.st_size)")
            }
        }
        let (status, files) = try Tools.inspect(["--chain", "big.avhdx", "big.vhd"], in: directory.path)
        #expect(status == 0)
        #expect((files.first?["virtualSize"] as? NSNumber)?.int64Value == 1 << 40)
        #expect((files.last?["virtualSize"] as? NSNumber)?.int64Value == 127 << 30)
    }
}
