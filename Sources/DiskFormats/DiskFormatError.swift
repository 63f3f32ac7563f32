/// A disk file that cannot be read as what it claims to be: a code, the structure and byte offset
/// where reading stopped, and a sentence for the administrator.
public struct DiskFormatError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, Codable {
        /// The file is of a known format but a structure is wrong (bad signature, checksum, bounds…).
        case malformed
        /// The file is a disk format (or a variant) this reader does not handle.
        case unsupportedFormat = "unsupported-format"
        /// The file could not be read at all.
        case io
    }

    public let code: Code
    /// The structure being read, such as "VHDX region table 1".
    public let structure: String?
    /// The byte offset of that structure (or of the faulty field) in the file.
    public let offset: UInt64?
    public let detail: String

    public init(_ code: Code, structure: String? = nil, offset: UInt64? = nil, _ detail: String) {
        self.code = code
        self.structure = structure
        self.offset = offset
        self.detail = detail
    }

    static func malformed(_ structure: String, at offset: UInt64, _ detail: String) -> DiskFormatError {
        DiskFormatError(.malformed, structure: structure, offset: offset, detail)
    }

    static func unsupported(_ structure: String, at offset: UInt64, _ detail: String) -> DiskFormatError {
        DiskFormatError(.unsupportedFormat, structure: structure, offset: offset, detail)
    }

    /// "VHDX region table 1 at byte 196608: checksum mismatch (…)".
    public var message: String {
        switch (structure, offset) {
        case (let structure?, let offset?): "\(structure) at byte \(offset): \(detail)"
        case (let structure?, nil): "\(structure): \(detail)"
        default: detail
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }
}
