/// What a file is to its VM (SPEC §4's file set).
public enum FileKind: String, Sendable, Codable, CaseIterable {
    /// The VM's or a checkpoint's configuration (`.vmcx`, `.xml`, libvirt domain XML).
    case configuration
    /// The VM's runtime state (`.vmrs` beside the configuration).
    case runtimeState = "runtime-state"
    /// The VM's guest state (`.vmgs`).
    case guestState = "guest-state"
    /// Saved state beside a `.bin` memory file (`.vsv`).
    case savedState = "saved-state"
    /// A checkpoint's memory file (`.vmrs` on 2016+, `.bin` before, libvirt external memory).
    case memory
    /// A disk image: a leaf the VM writes to, a checkpoint's disk, or any element of their chains.
    case disk
    /// A mounted ISO file (a DVD drive's image): a live move fails on every hypervisor when the target cannot read it.
    case media
}

/// The on-disk format of a disk image.
public enum DiskFormat: String, Sendable, Codable, CaseIterable {
    case vhdx
    case vhd
    case qcow2
    case raw
}
