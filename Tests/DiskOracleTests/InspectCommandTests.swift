import DiskAccess
import DiskFormats
import DiskFormatsTesting
import Foundation
import Testing

/// `chainkeeper inspect` as a user runs it: the built binary, real files, SPEC §7's JSON and exit codes.
@Suite struct InspectCommandTests {
    func write(_ bytes: [UInt8], _ name: String, in directory: TemporaryDirectory) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: "\(directory.path)/\(name)"))
    }

    @Test func jsonHasEveryContractFieldWithNullsWhereTheyDoNotApply() throws {
        let directory = try TemporaryDirectory()
        _ = try DiskFixtures.vhdxChain(in: directory.path, names: ["base.vhdx", "child.avhdx"])
        try write(SampleImages.qcow2(backing: nil, version: 2), "plain.qcow2", in: directory)
        let (status, files) = try Tools.inspect(["child.avhdx", "plain.qcow2"], in: directory.path)
        #expect(status == 0)
        let child = try #require(files.first)
        for key in ["path", "format", "diskType", "virtualSize", "identifier", "parent", "error"] {
            #expect(child.keys.contains(key), "missing \(key)")
        }
        #expect(child["path"] as? String == "child.avhdx")
        #expect(child["diskType"] as? String == "differencing")
        #expect(child["error"] is NSNull)
        #expect(child["chain"] == nil, "chain appears only with --chain")
        let qcow = try #require(files.last)
        #expect(qcow["identifier"] is NSNull)
        #expect(qcow["parent"] is NSNull)
        #expect(qcow["diskType"] as? String == "dynamic")
    }

    @Test func exitCodesFollowTheSpecAndTheMostSevereWins() throws {
        let directory = try TemporaryDirectory()
        let chain = try DiskFixtures.vhdxChain(in: directory.path, names: ["base.vhdx", "child.avhdx"])
        try write([UInt8](repeating: 0, count: 4096), "broken.vhdx", in: directory)
        try FileManager.default.copyItem(atPath: chain[1].path, toPath: "\(directory.path)/orphan.avhdx")
        try FileManager.default.createDirectory(
            atPath: "\(directory.path)/elsewhere",
            withIntermediateDirectories: true
        )
        try FileManager.default.moveItem(
            atPath: "\(directory.path)/orphan.avhdx",
            toPath: "\(directory.path)/elsewhere/orphan.avhdx"
        )

        #expect(try Tools.inspect(["--chain", "child.avhdx"], in: directory.path).status == 0)
        let (chainStatus, chainFiles) = try Tools.inspect(["--chain", "elsewhere/orphan.avhdx"], in: directory.path)
        #expect(chainStatus == 3)
        #expect((chainFiles.first?["chainError"] as? [String: Any])?["code"] as? String == "file-missing")
        let (parseStatus, parseFiles) = try Tools.inspect(["broken.vhdx"], in: directory.path)
        #expect(parseStatus == 1)
        let error = try #require(parseFiles.first?["error"] as? [String: Any])
        #expect(error["code"] as? String == "malformed")
        #expect((error["message"] as? String)?.contains("at byte 0") == true)
        #expect(try Tools.inspect(["nope.vhdx"], in: directory.path).status == 4)
        #expect(
            try Tools.inspect(["--chain", "nope.vhdx", "broken.vhdx", "elsewhere/orphan.avhdx"], in: directory.path)
                .status == 4
        )
        #expect(
            try Tools.inspect(["--chain", "broken.vhdx", "elsewhere/orphan.avhdx"], in: directory.path).status == 1
        )
    }

    @Test func textOutputShowsTheChainAsATree() throws {
        let directory = try TemporaryDirectory()
        let chain = try DiskFixtures.vhdxChain(in: directory.path, names: ["base.vhdx", "a.avhdx", "b.avhdx"])
        let output = try Tools.run(path: Tools.chainkeeper, ["inspect", "--chain", "b.avhdx"], in: directory.path)
        #expect(output.status == 0)
        #expect(
            output.stdout.contains(
                "b.avhdx: vhdx differencing, 64.0 MiB (67108864 bytes)  id \(chain[2].identifier.mixedEndianText)"
            )
        )
        #expect(output.stdout.contains("└ \(directory.path)/base.vhdx"))
        #expect(output.stdout.contains("relativePath       a.avhdx"))
    }

    @Test func aChainIsFollowedAcrossDirectoriesAndRootConfinesIt() throws {
        let directory = try TemporaryDirectory()
        let volume = "\(directory.path)/csv1"
        let outside = "\(directory.path)/outside"
        for path in [volume, outside] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        let marker = try Tools.run(path: Tools.chainkeeper, ["volume", "init", volume, "--name", "csv1"])
        #expect(marker.status == 0)
        // base lives outside the volume; the child's directory holds a symlink to it.
        let chain = try DiskFixtures.vhdxChain(in: outside, names: ["base.vhdx", "child.avhdx"])
        try FileManager.default.createDirectory(atPath: "\(volume)/vm", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: chain[1].path, toPath: "\(volume)/vm/child.avhdx")
        try FileManager.default.createSymbolicLink(atPath: "\(volume)/vm/base.vhdx", withDestinationPath: chain[0].path)

        // Without --root the chain is followed wherever its parent is (issue 26), as qemu-img does.
        let followed = try Tools.inspect(["--chain", "csv1/vm/child.avhdx"], in: directory.path)
        #expect(followed.status == 0)
        #expect((followed.files.first?["chain"] as? [[String: Any]])?.count == 2)
        // --root confines it: the parent outside (even through a symlink) is not read, with its own code.
        let (status, files) = try Tools.inspect(
            ["--chain", "--root", volume, "csv1/vm/child.avhdx"],
            in: directory.path
        )
        #expect(status == 3)
        let error = try #require(files.first?["chainError"] as? [String: Any])
        #expect(error["code"] as? String == "outside-roots")
        #expect((error["message"] as? String)?.contains("outside the directories the walk may read") == true)
        // A --root that covers both lets it through.
        #expect(
            try Tools.inspect(["--chain", "--root", directory.path, "csv1/vm/child.avhdx"], in: directory.path).status
                == 0
        )
    }

    @Test func pathMapResolvesAnAbsoluteOnlyLocator() throws {
        let directory = try TemporaryDirectory()
        let chain = try DiskFixtures.vhdxChain(
            in: directory.path,
            names: ["base.vhdx", "child.avhdx"],
            windowsDirectory: #"C:\ClusterStorage\Volume1\vm"#
        )
        try FileManager.default.createDirectory(atPath: "\(directory.path)/sub", withIntermediateDirectories: true)
        try FileManager.default.moveItem(atPath: chain[1].path, toPath: "\(directory.path)/sub/child.avhdx")
        #expect(
            try Tools.inspect(["--chain", "--root", directory.path, "sub/child.avhdx"], in: directory.path).status == 3
        )
        let mapped = try Tools.inspect(
            ["--chain", "--root", directory.path, "--path-map", #"C:\ClusterStorage\Volume1\vm=."#, "sub/child.avhdx"],
            in: directory.path
        )
        #expect(mapped.status == 0)
        #expect((mapped.files.first?["chain"] as? [[String: Any]])?.count == 2)
    }
}
