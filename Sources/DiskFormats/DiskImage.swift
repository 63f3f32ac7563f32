import ChainModel

/// How a disk image allocates its data, as the tools report it.
public enum DiskType: String, Sendable, Hashable, Codable {
    case fixed
    case dynamic
    /// Has a parent (VHDX HasParent, VHD type 4, qcow2 with a backing file).
    case differencing
}

/// Whether a VHDX's metadata can be trusted (MS-VHDX 2.3.3).
public enum LogState: String, Sendable, Hashable, Codable {
    /// LogGuid is zero: nothing to replay.
    case clean
    /// A valid log entry exists: the region table, metadata and parent locator may be stale until
    /// Hyper-V replays it.
    case needsReplay
    /// LogGuid is set but no valid entry exists; qemu treats this as clean, the spec as corrupt. We
    /// trust the metadata and warn.
    case orphanedLogGuid
}

/// What a child says about its parent: the identity the parent must have, and every path it gives.
public struct ParentReference: Hashable, Sendable, Codable {
    /// VHDX `parent_linkage` (the parent's DataWriteGuid) or VHD parent unique id.
    public var identifier: GUID?
    /// VHDX `parent_linkage2`, a second accepted identity during a merge.
    public var alternateIdentifier: GUID?
    /// VHDX `relative_path`, or VHD `W2ru`.
    public var relativePath: String?
    /// VHDX `volume_path`.
    public var volumePath: String?
    /// VHDX `absolute_win32_path`, or VHD `W2ku`.
    public var absoluteWin32Path: String?
    /// VHD parent Unicode name from the dynamic header.
    public var parentUnicodeName: String?
    /// VHD `MacX` locator (a file URL).
    public var macURL: String?
    /// qcow2 backing file name, as stored.
    public var backingFile: String?
    /// qcow2 backing file format (header extension 0xE2792ACA), if stated.
    public var backingFormat: String?

    public init(
        identifier: GUID? = nil,
        alternateIdentifier: GUID? = nil,
        relativePath: String? = nil,
        volumePath: String? = nil,
        absoluteWin32Path: String? = nil,
        parentUnicodeName: String? = nil,
        macURL: String? = nil,
        backingFile: String? = nil,
        backingFormat: String? = nil
    ) {
        self.identifier = identifier
        self.alternateIdentifier = alternateIdentifier
        self.relativePath = relativePath
        self.volumePath = volumePath
        self.absoluteWin32Path = absoluteWin32Path
        self.parentUnicodeName = parentUnicodeName
        self.macURL = macURL
        self.backingFile = backingFile
        self.backingFormat = backingFormat
    }
}

/// What a header parse learns about one disk file.
public struct DiskImageInfo: Hashable, Sendable, Codable {
    public var format: DiskFormat
    public var diskType: DiskType
    public var virtualSize: UInt64
    /// VHDX: the current header's DataWriteGuid; VHD: the footer's unique id; `nil` for qcow2 and raw.
    public var identifier: GUID?
    public var parent: ParentReference?
    public var logState: LogState
    /// Things a careful reader noticed but that do not stop the parse (a damaged second header, …).
    public var warnings: [String]
    /// qcow2 external data file (another file the VM depends on), if any.
    public var externalDataFile: String?

    public init(
        format: DiskFormat,
        diskType: DiskType,
        virtualSize: UInt64,
        identifier: GUID? = nil,
        parent: ParentReference? = nil,
        logState: LogState = .clean,
        warnings: [String] = [],
        externalDataFile: String? = nil
    ) {
        self.format = format
        self.diskType = diskType
        self.virtualSize = virtualSize
        self.identifier = identifier
        self.parent = parent
        self.logState = logState
        self.warnings = warnings
        self.externalDataFile = externalDataFile
    }

    /// The identifier as `vhdiinfo` prints it: VHDX GUIDs mixed-endian, VHD ids in stored byte order.
    public var identifierText: String? { identifier.map { Self.text($0, format) } }

    /// The parent identifier, printed the same way.
    public var parentIdentifierText: String? { parent?.identifier.map { Self.text($0, format) } }

    static func text(_ guid: GUID, _ format: DiskFormat) -> String {
        format == .vhd ? guid.byteOrderText : guid.mixedEndianText
    }
}
