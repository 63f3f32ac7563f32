import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `.chainkeeper-volume` marker at a volume's root (SPEC §3).
struct VolumeMarker: Codable, Equatable {
    static let fileName = ".chainkeeper-volume"

    var id: String
    var name: String

    struct WriteError: Error {
        var message: String
    }

    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255
            && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// Writes the marker into `directory`, refusing to replace one; returns the marker's path.
    func write(into directory: String) throws(WriteError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw WriteError(message: "\(directory) is not a directory")
        }
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let body = try? encoder.encode(self) else {
            throw WriteError(message: "cannot encode the volume marker")
        }
        // O_EXCL: never overwrite another volume's identity, even if two admins race.
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else {
            let reason =
                errno == EEXIST
                ? "a volume marker already exists there; remove it only if this is not the volume it names"
                : String(cString: strerror(errno))
            throw WriteError(message: "cannot write \(path): \(reason)")
        }
        defer { close(descriptor) }
        let written = body.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == body.count, fsync(descriptor) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(path)
            throw WriteError(message: "cannot write \(path): \(reason)")
        }
        return path
    }
}
