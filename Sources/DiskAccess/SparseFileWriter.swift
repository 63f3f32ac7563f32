import DiskFormats

#if canImport(Glibc)
import Glibc
#endif

/// Writes a `SparseImage` as a sparse file: the length is set with `ftruncate`, and only the
/// non-zero extents are written, so a 127 GiB fixture takes a few MiB on disk.
public enum SparseFileWriter {
    public struct WriteError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Writes the image to `path`, replacing any file there unless `exclusive`.
    public static func write(_ image: SparseImage, to path: String, exclusive: Bool = false) throws(WriteError) {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (exclusive ? O_EXCL : O_TRUNC)
        let descriptor = Glibc.open(path, flags, 0o644)
        guard descriptor >= 0 else {
            throw WriteError(description: "cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { Glibc.close(descriptor) }
        guard ftruncate(descriptor, off_t(image.length)) == 0 else {
            throw WriteError(description: "cannot size \(path): \(String(cString: strerror(errno)))")
        }
        for extent in image.extents {
            var done = 0
            while done < extent.bytes.count {
                let written = extent.bytes.withUnsafeBytes { raw -> Int in
                    guard let base = raw.baseAddress else { return 0 }
                    return pwrite(descriptor, base + done, raw.count - done, off_t(extent.offset) + off_t(done))
                }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    throw WriteError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
                }
                done += written
            }
        }
    }
}
