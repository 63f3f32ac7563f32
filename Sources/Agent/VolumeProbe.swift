import DiskFormats
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The reachability probe of SPEC §3, on one volume.
///
/// Each node keeps one nonce file, `.chainkeeper/probe/<node>.nonce`, on every volume it reports; the coordinator
/// registers the nonce when the report arrives, and any node that reads a registered nonce back proves it reaches
/// the volume. A read-only mount cannot write its own nonce but still proves itself by reading another node's.
public enum VolumeProbe {
    public static let directory = ".chainkeeper/probe"
    static let maxNonces = 256

    /// Writes a fresh nonce for `node` on the volume at `root` (write to a temporary file, fsync, rename), and returns
    /// it; throws with the reason if the volume cannot be written.
    public static func write(node: String, root: String, nonce: String) throws(ProbeError) -> String {
        let directory = LocalPath.join(root, Self.directory)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw ProbeError(message: "cannot create \(directory): \(error.localizedDescription)")
        }
        let file = LocalPath.join(directory, fileName(for: node))
        let temporary = file + ".tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            throw ProbeError(message: "cannot write \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(nonce.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced, rename(temporary, file) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw ProbeError(message: "cannot write \(file): \(reason)")
        }
        return nonce
    }

    /// The nonce this node last wrote on the volume, if it is still there.
    public static func current(node: String, root: String) -> String? {
        let file = LocalPath.join(LocalPath.join(root, directory), fileName(for: node))
        return readNonce(file)
    }

    /// Every nonce on the volume (this node's and other nodes'), bounded in number and size.
    public static func readAll(root: String) -> [String] {
        let directory = LocalPath.join(root, Self.directory)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.filter { $0.hasSuffix(".nonce") }.sorted().prefix(maxNonces).compactMap {
            readNonce(LocalPath.join(directory, $0))
        }
    }

    /// A file name for a node that cannot escape the probe directory whatever the node is called.
    static func fileName(for node: String) -> String {
        let safe = node.unicodeScalars.map { scalar -> String in
            let value = scalar.value
            let plain =
                (0x30...0x39).contains(value) || (0x41...0x5A).contains(value) || (0x61...0x7A).contains(value)
                || value == 0x2D || value == 0x5F
            return plain ? String(scalar) : String(format: "%%%02X", value)
        }
        return safe.joined() + ".nonce"
    }

    static func isNonceCharacter(_ scalar: Unicode.Scalar) -> Bool {
        ("0"..."9").contains(scalar) || ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "-"
    }

    private static func readNonce(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: 129), data.count >= 8, data.count <= 128,
            let text = String(data: data, encoding: .utf8),
            text.unicodeScalars.allSatisfy(isNonceCharacter)
        else { return nil }
        return text
    }
}

/// Why a probe nonce could not be written.
public struct ProbeError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}
