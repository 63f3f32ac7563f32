import DiskAccess
import DiskFormats
import Foundation
import Testing

/// Images made by qemu-img (an independent writer) read by `inspect`, compared with
/// `qemu-img info --output=json` and `--backing-chain`.
@Suite struct QemuImgAgreementTests {
    func qemuInfo(_ arguments: [String], in directory: String) throws -> Any? {
        guard let output = try Tools.run("qemu-img", ["info", "-U", "--output=json"] + arguments, in: directory) else {
            return nil
        }
        #expect(output.status == 0, "qemu-img: \(output.stderr)")
        return try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
    }

    @Test(arguments: [
        ("vhdx", "base.vhdx", [String]()), ("vpc", "base.vhd", []), ("vpc", "fixed.vhd", ["-o", "subformat=fixed"]),
        ("vhdx", "fixed.vhdx", ["-o", "subformat=fixed"]),
    ])
    func baseImagesAgreeWithQemuImg(format: String, name: String, options: [String]) throws {
        let directory = try TemporaryDirectory()
        guard
            let created = try Tools.run(
                "qemu-img",
                ["create", "-q", "-f", format] + options + [name, "64M"],
                in: directory.path
            )
        else { return }
        #expect(created.status == 0, "qemu-img create: \(created.stderr)")
        guard let info = try qemuInfo(["-f", format, name], in: directory.path) as? [String: Any] else { return }

        let (status, files) = try Tools.inspect(["--chain", name], in: directory.path)
        #expect(status == 0)
        let report = try #require(files.first)
        #expect(report["format"] as? String == (format == "vpc" ? "vhd" : "vhdx"))
        #expect((report["virtualSize"] as? NSNumber)?.int64Value == (info["virtual-size"] as? NSNumber)?.int64Value)
        #expect(report["parent"] is NSNull)
        #expect((report["chain"] as? [[String: Any]])?.count == 1)
        let expectedType = options.isEmpty ? "dynamic" : "fixed"
        #expect(report["diskType"] as? String == expectedType)
        if let fields = try Tools.vhdiinfo(name, in: directory.path) {
            #expect(report["identifier"] as? String == fields["Identifier"])
        }
    }

    @Test(arguments: [1, 2, 3, 5])
    func qcow2ChainAgreesWithQemuImgBackingChain(depth: Int) throws {
        let directory = try TemporaryDirectory()
        guard try Tools.run("qemu-img", ["create", "-q", "-f", "qcow2", "l0.qcow2", "64M"], in: directory.path) != nil
        else { return }
        for level in 1...depth {
            let created = try Tools.run(
                "qemu-img",
                ["create", "-q", "-f", "qcow2", "-b", "l\(level - 1).qcow2", "-F", "qcow2", "l\(level).qcow2"],
                in: directory.path
            )
            #expect(created?.status == 0)
        }
        let top = "l\(depth).qcow2"
        guard let chain = try qemuInfo(["--backing-chain", top], in: directory.path) as? [[String: Any]] else { return }
        let (status, files) = try Tools.inspect(["--chain", top], in: directory.path)
        #expect(status == 0)
        let report = try #require(files.first)
        let ours = try #require(report["chain"] as? [[String: Any]])
        #expect(ours.count == chain.count)
        let qemuNames = chain.map { LocalPath.fileName(of: $0["filename"] as? String ?? "") }
        #expect(ours.map { LocalPath.fileName(of: $0["path"] as? String ?? "") } == qemuNames)
        #expect(ours.allSatisfy { $0["identifier"] is NSNull })
        #expect((report["virtualSize"] as? NSNumber)?.int64Value == (chain[0]["virtual-size"] as? NSNumber)?.int64Value)
        let parent = try #require(report["parent"] as? [String: Any])
        let paths = try #require(parent["paths"] as? [String: String])
        #expect(paths["backingFile"] == chain[0]["backing-filename"] as? String)
        #expect(paths["backingFormat"] == chain[0]["backing-filename-format"] as? String)
    }

    @Test func qcow2MissingBackingFileAndLoopAreChainErrorsLikeQemuImg() throws {
        let directory = try TemporaryDirectory()
        guard
            try Tools.run(
                "qemu-img",
                ["create", "-q", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", "orphan.qcow2", "64M"],
                in: directory.path
            ) != nil
        else { return }
        var (status, files) = try Tools.inspect(["--chain", "orphan.qcow2"], in: directory.path)
        #expect(status == 3)
        #expect((files.first?["chainError"] as? [String: Any])?["code"] as? String == "file-missing")
        let qemuMissing = try Tools.run(
            "qemu-img",
            ["info", "-U", "--backing-chain", "orphan.qcow2"],
            in: directory.path
        )
        #expect(qemuMissing?.status == 1)

        _ = try Tools.run("qemu-img", ["create", "-q", "-f", "qcow2", "a.qcow2", "64M"], in: directory.path)
        _ = try Tools.run(
            "qemu-img",
            ["create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", "b.qcow2"],
            in: directory.path
        )
        _ = try Tools.run("qemu-img", ["rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2"], in: directory.path)
        (status, files) = try Tools.inspect(["--chain", "b.qcow2"], in: directory.path)
        #expect(status == 3)
        let error = try #require(files.first?["chainError"] as? [String: Any])
        #expect(error["code"] as? String == "chain-broken")
        #expect((error["message"] as? String)?.contains("loops") == true)
        let qemuLoop = try Tools.run("qemu-img", ["info", "-U", "--backing-chain", "b.qcow2"], in: directory.path)
        #expect(qemuLoop?.status == 1)
        #expect(qemuLoop?.stderr.contains("infinite loop") == true)
    }
}
