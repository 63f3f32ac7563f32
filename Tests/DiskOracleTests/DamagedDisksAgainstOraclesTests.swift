import Foundation
import Testing

/// Issue 26: disks that look fine and are not, made by qemu-img and qemu-io (independent writers) and judged against
/// qemu-img and vhdiinfo: a copy cut short, a qcow2 whose external data file is gone, a `json:` backing file.
@Suite struct DamagedDisksAgainstOraclesTests {
    /// `tool arguments…` in `directory`, which must succeed.
    func make(_ tool: String, _ arguments: [String], in directory: String) throws {
        let output = try #require(try Tools.run(tool, arguments, in: directory))
        #expect(output.status == 0, "\(tool) \(arguments): \(output.stderr)")
    }

    func truncate(_ path: String, to size: Int) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.truncate(atOffset: UInt64(size))
        try handle.close()
    }

    func size(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int)
    }

    @Test func aDynamicVHDXCutShortIsMalformedAsQemuImgSays() throws {
        let directory = try TemporaryDirectory()
        try make("qemu-img", ["create", "-q", "-f", "vhdx", "d.vhdx", "256M"], in: directory.path)
        try make("qemu-io", ["-f", "vhdx", "-c", "write -P 0xab 0 8M", "d.vhdx"], in: directory.path)
        #expect(try Tools.inspect(["d.vhdx"], in: directory.path).status == 0, "the whole file reads")
        // Cut after its metadata: the BAT names a block past the new end.
        try truncate(directory.path + "/d.vhdx", to: 4 << 20)
        let qemu = try #require(try Tools.run("qemu-img", ["info", "d.vhdx"], in: directory.path))
        #expect(qemu.status != 0 && qemu.stderr.contains("truncated"), "qemu-img: \(qemu.stderr)")
        let (status, files) = try Tools.inspect(["d.vhdx"], in: directory.path)
        #expect(status == 1)
        let error = try #require(files.first?["error"] as? [String: Any])
        #expect(error["code"] as? String == "malformed")
        #expect((error["message"] as? String)?.contains("VHDX BAT at byte") == true, "\(error)")
        #expect((error["message"] as? String)?.contains("cut short") == true, "\(error)")
    }

    @Test func aDynamicVHDCutShortIsMalformedAndOneMissingOnlyItsFooterIsNot() throws {
        let directory = try TemporaryDirectory()
        try make("qemu-img", ["create", "-q", "-f", "vpc", "v.vhd", "64M"], in: directory.path)
        try make("qemu-io", ["-f", "vpc", "-c", "write -P 1 0 8M", "v.vhd"], in: directory.path)
        let whole = try size(directory.path + "/v.vhd")
        try FileManager.default.copyItem(atPath: directory.path + "/v.vhd", toPath: directory.path + "/cut.vhd")
        try FileManager.default.copyItem(atPath: directory.path + "/v.vhd", toPath: directory.path + "/nofooter.vhd")
        // Into its data: qemu-img and libvhdi refuse it, and so does inspect.
        try truncate(directory.path + "/cut.vhd", to: whole - 512 - (1 << 20))
        let qemu = try #require(try Tools.run("qemu-img", ["info", "cut.vhd"], in: directory.path))
        #expect(qemu.status != 0, "qemu-img accepted a cut VHD")
        let vhdi = try #require(try Tools.run("vhdiinfo", ["cut.vhd"], in: directory.path))
        #expect(vhdi.status != 0, "vhdiinfo accepted a cut VHD")
        let (status, files) = try Tools.inspect(["cut.vhd"], in: directory.path)
        #expect(status == 1)
        let error = try #require(files.first?["error"] as? [String: Any])
        #expect((error["message"] as? String)?.contains("VHD block allocation table") == true, "\(error)")
        // Only the footer at the end gone, every block whole: qemu-img reads it from the copy at offset 0, and so
        // does inspect, with a warning.
        try truncate(directory.path + "/nofooter.vhd", to: whole - 512)
        let qemuFooter = try #require(try Tools.run("qemu-img", ["info", "nofooter.vhd"], in: directory.path))
        #expect(qemuFooter.status == 0, "qemu-img: \(qemuFooter.stderr)")
        let footerless = try Tools.inspect(["nofooter.vhd"], in: directory.path)
        #expect(footerless.status == 0)
        let warnings = footerless.files.first?["warnings"] as? [String] ?? []
        #expect(warnings.contains { $0.contains("using the copy at offset 0") }, "\(warnings)")
    }

    @Test func aQcow2WhoseExternalDataFileIsGoneIsAMissingFile() throws {
        let directory = try TemporaryDirectory()
        try make(
            "qemu-img",
            ["create", "-q", "-f", "qcow2", "-o", "data_file=x.raw", "x.qcow2", "64M"],
            in: directory.path
        )
        let present = try Tools.inspect(["--chain", "x.qcow2"], in: directory.path)
        #expect(present.status == 0)
        #expect(present.files.first?["externalDataFile"] as? String == "x.raw")
        try FileManager.default.removeItem(atPath: directory.path + "/x.raw")
        // qemu-img info reads only the header; opening the image for I/O fails, as a VM's start would.
        let qemu = try #require(try Tools.run("qemu-io", ["-c", "read 0 512", "x.qcow2"], in: directory.path))
        #expect(qemu.stderr.contains("Could not open 'x.raw'"), "qemu-io: \(qemu.stdout) \(qemu.stderr)")
        let check = try #require(try Tools.run("qemu-img", ["check", "x.qcow2"], in: directory.path))
        #expect(check.status != 0, "qemu-img check accepted a qcow2 without its data file")
        let (status, files) = try Tools.inspect(["--chain", "x.qcow2"], in: directory.path)
        #expect(status == 3)
        let error = try #require(files.first?["chainError"] as? [String: Any])
        #expect(error["code"] as? String == "file-missing")
        #expect((error["message"] as? String)?.contains("external data file") == true, "\(error)")
    }

    @Test func aJSONBackingFileNamingAPlainFileIsFollowedAsQemuFollowsIt() throws {
        let directory = try TemporaryDirectory()
        try make("qemu-img", ["create", "-q", "-f", "qcow2", "base.qcow2", "64M"], in: directory.path)
        let nested = #"json:{"driver":"qcow2","file":{"driver":"file","filename":"\#(directory.path)/base.qcow2"}}"#
        let flat = #"json:{"file.driver":"file","file.filename":"\#(directory.path)/base.qcow2"}"#
        for (name, backing) in [("nested.qcow2", nested), ("flat.qcow2", flat)] {
            try make(
                "qemu-img",
                ["create", "-q", "-f", "qcow2", "-b", backing, "-F", "qcow2", name],
                in: directory.path
            )
            let qemu = try #require(
                try Tools.run("qemu-img", ["info", "--backing-chain", "--output=json", name], in: directory.path)
            )
            let chain = try JSONSerialization.jsonObject(with: Data(qemu.stdout.utf8)) as? [[String: Any]]
            #expect(chain?.count == 2, "qemu-img follows \(backing)")
            let (status, files) = try Tools.inspect(["--chain", name], in: directory.path)
            #expect(status == 0, "\(files)")
            let ours = files.first?["chain"] as? [[String: Any]] ?? []
            #expect(ours.count == 2, "\(name): \(ours)")
            #expect((ours.last?["path"] as? String)?.hasSuffix("/base.qcow2") == true)
            #expect(files.first?["externalSource"] == nil || files.first?["externalSource"] is NSNull)
        }
        // A json: backing over a network protocol stays an external source.
        let nbd = #"json:{"driver":"qcow2","file":{"driver":"nbd","server":{"type":"inet","host":"h","port":"10809"}}}"#
        try make(
            "qemu-img",
            ["create", "-q", "-f", "qcow2", "-u", "-b", nbd, "-F", "qcow2", "-o", "size=64M", "net.qcow2"],
            in: directory.path
        )
        let (status, files) = try Tools.inspect(["--chain", "net.qcow2"], in: directory.path)
        #expect(status == 0)
        #expect(files.first?["externalSource"] as? String == nbd)
    }
}
