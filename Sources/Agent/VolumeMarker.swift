import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The `.chainkeeper-volume` marker at a volume's root (SPEC §3): `{"id": "<uuid>", "name": "<name>"}`.
public struct VolumeMarker: Codable, Hashable, Sendable {
    public static let fileName = ".chainkeeper-volume"

    public var id: String
    public var name: String

    public init(id: String, name: String) {
        self.id = id
        self.name = name
    }

    public struct WriteError: Error {
        public var message: String
    }

    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255
            && !name.unicodeScalars.contains { $0.properties.generalCategory == .control }
    }

    /// The marker in `directory`, or nil if there is none or it cannot be read as one.
    public static func read(in directory: String) -> VolumeMarker? {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: path), data.count <= 64 * 1024,
            let marker = try? JSONDecoder().decode(VolumeMarker.self, from: data),
            !marker.id.isEmpty, isValidName(marker.name)
        else { return nil }
        return marker
    }

    /// Writes the marker into `directory`, refusing to replace one; returns the marker's path.
    public func write(into directory: String) throws(WriteError) -> String {
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
