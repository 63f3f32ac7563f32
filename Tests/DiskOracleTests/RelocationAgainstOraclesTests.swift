import ChainModel
import DiskAccess
import DiskFormats
import Foundation
import Testing

/// `repair`'s file half (`ChainRelocator`): chains written by our writer (VHDX, VHD) and by qemu-img (qcow2) are moved
/// off a "local" directory, their copies re-linked, and the result read by the independent readers: 7-Zip follows the
/// whole moved chain, vhdiinfo reads each copy's parent identity and name, qemu-img resolves the backing chain and reads
/// the data back; the originals are byte-for-byte untouched until removed.
@Suite struct RelocationAgainstOraclesTests {
    struct Layout {
        let root: TemporaryDirectory
        var local: String { root.path + "/local" }
        var shared: String { root.path + "/shared" }
        var folder: String { root.path + "/shared/vm01" }
        /// The shared directory as Hyper-V would name it.
        var pathMap: PathMap { PathMap([.init(windowsPrefix: #"C:\ClusterStorage\Volume1"#, localDirectory: shared)]) }

        init() throws {
            root = try TemporaryDirectory()
            for directory in [root.path + "/local", root.path + "/shared"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
        }
    }

    static func checksums(_ paths: [String]) throws -> [String: Data] {
        Dictionary(uniqueKeysWithValues: try paths.map { ($0, try Data(contentsOf: URL(fileURLWithPath: $0))) })
    }

    @Test func vhdxMiddleAndLeafMovedOffLocalAreFollowedBySevenZipAndVhdiinfo() throws {
        let layout = try Layout()
        let chain = try DiskFixtures.vhdxChain(
            paths: [layout.shared + "/base.vhdx", layout.local + "/d1.avhdx", layout.local + "/d2.avhdx"]
        )
        let before = try Self.checksums(chain.map(\.path))
        let moves = [
            ChainRelocator.Move(from: chain[2].path, to: layout.folder + "/d2.avhdx"),
            ChainRelocator.Move(from: chain[1].path, to: layout.folder + "/d1.avhdx"),
        ]
        let relocator = ChainRelocator(pathMap: layout.pathMap)
        let moved = try relocator.relocate(moves)
        // Parents first, each re-linked to its parent's new (or unchanged) place.
        #expect(moved.map(\.to) == [layout.folder + "/d1.avhdx", layout.folder + "/d2.avhdx"])
        #expect(moved.map(\.parent) == [chain[0].path, layout.folder + "/d1.avhdx"])
        #expect(try Self.checksums(chain.map(\.path)) == before, "an original was written")

        // vhdiinfo: the same identity and parent identity; the absolute locator names the new place.
        for (index, name) in ["d1.avhdx", "d2.avhdx"].enumerated() {
            let fields = try #require(try Tools.vhdiinfo(name, in: layout.folder))
            #expect(fields["Identifier"] == chain[index + 1].identifier.mixedEndianText)
            #expect(fields["Parent identifier"] == chain[index].identifier.mixedEndianText)
            let parentName =
                index == 0
                ? #"\\?\C:\ClusterStorage\Volume1\base.vhdx"# : #"\\?\C:\ClusterStorage\Volume1\vm01\d1.avhdx"#
            #expect(fields["Parent filename"] == parentName)
        }

        // inspect resolves the moved chain on the shared directory alone once the originals are gone.
        #expect(try relocator.removeOriginals(moves) == [chain[2].path, chain[1].path])
        let (status, files) = try Tools.inspect(["--chain", "vm01/d2.avhdx"], in: layout.shared)
        #expect(status == 0)
        let listed = try #require(files.first?["chain"] as? [[String: Any]])
        #expect(listed.map { $0["identifier"] as? String } == chain.reversed().map { $0.identifier.mixedEndianText })
        #expect(files.first?["chainError"] is NSNull)

        // 7-Zip follows parents in the same directory only (it refuses `..\`): move the whole chain into one folder,
        // and it opens every level with the linkage and the new relative paths.
        let whole = [chain[0].path, layout.folder + "/d1.avhdx", layout.folder + "/d2.avhdx"].enumerated().map {
            ChainRelocator.Move(from: $0.1, to: layout.shared + "/vm02/" + ["base.vhdx", "d1.avhdx", "d2.avhdx"][$0.0])
        }
        _ = try relocator.relocate(whole)
        let seven = try #require(try Tools.run("7zz", ["l", "-slt", "d2.avhdx"], in: layout.shared + "/vm02"))
        #expect(seven.status == 0, "7zz: \(seven.stderr)")
        #expect(seven.stdout.contains("NumVolumeLevels: 3"), "\(seven.stdout)")
        #expect(!seven.stdout.contains("-> ?"), "7zz could not follow a parent")
        let linkages = seven.stdout.split(separator: "\n").filter { $0.contains("parent_linkage: ") }
            .map { String($0.split(separator: " ").last ?? "") }
        #expect(linkages == ["{\(chain[1].identifier.mixedEndianText)}", "{\(chain[0].identifier.mixedEndianText)}"])
        let relative = seven.stdout.split(separator: "\n").filter { $0.contains("relative_path: ") }
            .map { String($0.split(separator: " ").last ?? "") }
        #expect(relative == ["d1.avhdx", "base.vhdx"])
    }

    @Test func vhdChainMovedWholeAndInPartIsFollowedBySevenZipAndVhdiinfo() throws {
        let layout = try Layout()
        let chain = try DiskFixtures.vhdChain(in: layout.local, names: ["base.vhd", "d1.avhd", "d2.avhd"])
        let relocator = ChainRelocator(pathMap: layout.pathMap)
        // The middle and the leaf only: W2ru climbs back to the base left where it was.
        let part = [
            ChainRelocator.Move(from: chain[1].path, to: layout.folder + "/d1.avhd"),
            ChainRelocator.Move(from: chain[2].path, to: layout.folder + "/d2.avhd"),
        ]
        _ = try relocator.relocate(part)
        for (index, name) in ["d1.avhd", "d2.avhd"].enumerated() {
            let fields = try #require(try Tools.vhdiinfo(name, in: layout.folder))
            #expect(fields["Identifier"] == chain[index + 1].identifier.byteOrderText)
            #expect(fields["Parent identifier"] == chain[index].identifier.byteOrderText)
            #expect(fields["Parent filename"] == LocalPath.fileName(of: chain[index].path))
        }
        let (status, files) = try Tools.inspect(["--chain", "d2.avhd"], in: layout.folder)
        #expect(status == 0)
        #expect((files.first?["chain"] as? [[String: Any]])?.count == 3)

        // The whole chain to a second folder: every link in one directory again.
        let whole = zip(chain, ["base.vhd", "d1.avhd", "d2.avhd"]).map {
            ChainRelocator.Move(from: $0.0.path, to: layout.shared + "/vm02/" + $0.1)
        }
        _ = try relocator.relocate(whole.reversed())
        // 7-Zip follows parents in the same directory only (it refuses `..\`).
        let seven = try #require(try Tools.run("7zz", ["l", "-slt", "d2.avhd"], in: layout.shared + "/vm02"))
        #expect(seven.status == 0, "7zz: \(seven.stderr)")
        #expect(seven.stdout.contains("Volumes = 3"), "\(seven.stdout)")
        #expect(seven.stdout.contains("ID = \(WriterAgainstOraclesTests.rawHex(chain[2].identifier).uppercased())"))
        let leaf = try #require(try Tools.vhdiinfo("d2.avhd", in: layout.shared + "/vm02"))
        #expect(leaf["Parent identifier"] == chain[1].identifier.byteOrderText)
    }

    @Test func qcow2MovedOffLocalResolvesInQemuImgAndReadsTheSameData() throws {
        let layout = try Layout()
        let paths = [layout.shared + "/l0.qcow2", layout.local + "/l1.qcow2", layout.local + "/l2.qcow2"]
        #expect(try Tools.run("qemu-img", ["create", "-q", "-f", "qcow2", paths[0], "64M"])?.status == 0)
        for level in 1...2 {
            let created = try Tools.run(
                "qemu-img",
                ["create", "-q", "-f", "qcow2", "-b", paths[level - 1], "-F", "qcow2", paths[level]]
            )
            #expect(created?.status == 0)
        }
        for (level, pattern) in [(0, "0x11"), (1, "0x22"), (2, "0x33")] {
            let wrote = try Tools.run("qemu-io", ["-c", "write -P \(pattern) \(level)M 64k", paths[level]])
            #expect(wrote?.status == 0)
        }
        let moves = [
            ChainRelocator.Move(from: paths[1], to: layout.folder + "/l1.qcow2"),
            ChainRelocator.Move(from: paths[2], to: layout.folder + "/l2.qcow2"),
        ]
        let relocator = ChainRelocator()
        _ = try relocator.relocate(moves)
        _ = try relocator.removeOriginals(moves)

        let info = try #require(
            try Tools.run("qemu-img", ["info", "--output=json", "--backing-chain", layout.folder + "/l2.qcow2"])
        )
        #expect(info.status == 0, "\(info.stderr)")
        let chain = try #require(try JSONSerialization.jsonObject(with: Data(info.stdout.utf8)) as? [[String: Any]])
        #expect(
            chain.map { $0["filename"] as? String } == [
                layout.folder + "/l2.qcow2", layout.folder + "/l1.qcow2", paths[0],
            ]
        )
        #expect(chain[0]["backing-filename"] as? String == "l1.qcow2")
        #expect(chain[1]["backing-filename"] as? String == paths[0])
        #expect(chain[1]["backing-filename-format"] as? String == "qcow2")
        for (level, pattern) in [(0, "0x11"), (1, "0x22"), (2, "0x33")] {
            let read = try Tools.run(
                "qemu-io",
                ["-r", "-c", "read -P \(pattern) \(level)M 64k", layout.folder + "/l2.qcow2"]
            )
            #expect(
                read?.status == 0 && read?.stdout.contains("Pattern verification failed") == false,
                "\(read?.stdout ?? "")"
            )
        }
        let check = try Tools.run("qemu-img", ["check", layout.folder + "/l1.qcow2"])
        #expect(check?.status == 0, "\(check?.stdout ?? "")")
        let (status, files) = try Tools.inspect(["--chain", layout.folder + "/l2.qcow2"], in: layout.folder)
        #expect(status == 0)
        #expect(
            (files.first?["chain"] as? [[String: Any]])?.map { $0["path"] as? String }
                == chain.map { $0["filename"] as? String }
        )
    }

    @Test func aQcow2WithAnExternalDataFileIsNotMoved() throws {
        let layout = try Layout()
        let image = layout.local + "/ext.qcow2"
        let created = try Tools.run(
            "qemu-img",
            ["create", "-q", "-f", "qcow2", "-o", "data_file=ext.raw", image, "16M"],
            in: layout.local
        )
        #expect(created?.status == 0, "\(created?.stderr ?? "")")
        do {
            _ = try ChainRelocator().relocate([.init(from: image, to: layout.folder + "/ext.qcow2")])
            Issue.record("a qcow2 with an external data file was moved")
        } catch {
            #expect(error.message.contains("external file (ext.raw)"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: layout.folder + "/ext.qcow2"))
    }

    @Test func aStrangersFileAtTheDestinationIsNeverOverwritten() throws {
        let layout = try Layout()
        let chain = try DiskFixtures.vhdxChain(paths: [layout.shared + "/base.vhdx", layout.local + "/d1.avhdx"])
        try FileManager.default.createDirectory(atPath: layout.folder, withIntermediateDirectories: true)
        try Data("not a disk".utf8).write(to: URL(fileURLWithPath: layout.folder + "/d1.avhdx"))
        let relocator = ChainRelocator(pathMap: layout.pathMap)
        #expect(throws: ChainRelocator.Failure.self) {
            try relocator.relocate([.init(from: chain[1].path, to: layout.folder + "/d1.avhdx")])
        }
        #expect(try String(contentsOfFile: layout.folder + "/d1.avhdx", encoding: .utf8) == "not a disk")
        #expect(FileManager.default.fileExists(atPath: chain[1].path))
    }
}
