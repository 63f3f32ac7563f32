import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One connection to a libvirt daemon, through its C API (`LibvirtLibrary`).
///
/// Every call blocks until libvirt answers (a migration for seconds): callers run them off Swift's cooperative pool. libvirt connections are thread-safe; the error message of a failed call is read on the thread
/// that made it.
public final class LibvirtConnection: @unchecked Sendable {
    let library: LibvirtLibrary
    let pointer: OpaquePointer
    public let uri: String

    /// Opens `uri` (`qemu:///system`, `qemu+tcp://host/system` …).
    public init(uri: String) throws(LibvirtError) {
        let library: LibvirtLibrary
        switch LibvirtLibrary.shared {
        case .success(let loaded): library = loaded
        case .failure(let error): throw error
        }
        guard let pointer = library.connectOpen(uri) else {
            throw LibvirtError(
                code: .connectFailed,
                message: "cannot connect to libvirt at \(uri): \(library.lastError())"
            )
        }
        self.library = library
        self.pointer = pointer
        self.uri = uri
    }

    deinit { _ = library.connectClose(pointer) }

    /// Whether libvirt's library can be loaded on this machine, and why not.
    public static var libraryError: LibvirtError? {
        if case .failure(let error) = LibvirtLibrary.shared { return error }
        return nil
    }

    /// The error of the call that just failed on this thread.
    ///
    /// libvirt's message is read before `what` is built: every libvirt call resets the thread's last error, and the
    /// description may call one (a domain's name).
    func failure(_ what: @autoclosure () -> String) -> LibvirtError {
        let detail = library.lastError()
        return LibvirtError(code: .callFailed, message: "\(what()): \(detail)")
    }

    /// The domain with this UUID, or `nil` when this libvirt does not know it.
    public func domain(uuid: String) -> LibvirtDomain? {
        library.domainLookupByUUIDString(pointer, uuid).map { LibvirtDomain(connection: self, pointer: $0) }
    }

    /// Every domain this libvirt knows; `activeOnly` lists the running and paused ones.
    public func domains(activeOnly: Bool) throws(LibvirtError) -> [LibvirtDomain] {
        var list: UnsafeMutablePointer<OpaquePointer?>?
        let count = library.connectListAllDomains(pointer, &list, activeOnly ? 1 : 0)
        guard count >= 0 else { throw failure("cannot list the domains of \(uri)") }
        defer { free(list) }
        return (0..<Int(count)).compactMap { index in
            list?[index].map { LibvirtDomain(connection: self, pointer: $0) }
        }
    }

    /// Defines (or redefines) a persistent domain from its XML.
    public func define(xml: String) throws(LibvirtError) -> LibvirtDomain {
        guard let domain = library.domainDefineXML(pointer, xml) else {
            throw failure("cannot define the domain on \(uri)")
        }
        return LibvirtDomain(connection: self, pointer: domain)
    }

    /// Starts the domain saved in `path` (`virDomainRestoreFlags`), as the save asked (running or paused).
    public func restore(from path: String) throws(LibvirtError) {
        guard library.domainRestoreFlags(pointer, path, nil, 0) == 0 else {
            throw failure("cannot restore the domain saved in \(path) on \(uri)")
        }
    }

    /// Starts the domain saved in `path` with `xml` as its definition (`virDomainRestoreFlags` with a changed disk
    /// source, as a revert needs), running or paused.
    public func restore(from path: String, xml: String, paused: Bool) throws(LibvirtError) {
        guard library.domainRestoreFlags(pointer, path, xml, paused ? 1 << 2 : 1 << 1) == 0 else {
            throw failure("cannot restore the domain saved in \(path) on \(uri)")
        }
    }

    /// Whether a libvirt secret is defined here, by UUID or by usage (`volume`, `ceph`, `iscsi`, `tls`, `vtpm`).
    public func hasSecret(uuid: String?, usage: (type: String, id: String)?) -> Bool {
        var secret: OpaquePointer?
        if let uuid {
            secret = library.secretLookupByUUIDString(pointer, uuid)
        } else if let usage, let type = Self.secretUsageTypes[usage.type] {
            secret = library.secretLookupByUsage(pointer, type, usage.id)
        }
        guard let secret else { return false }
        _ = library.secretFree(secret)
        return true
    }

    /// `virSecretUsageType` by the `type` a domain's `<secret>` names (`passphrase`: a volume's encryption key).
    static let secretUsageTypes: [String: Int32] = [
        "volume": 1, "passphrase": 1, "ceph": 2, "iscsi": 3, "tls": 4, "vtpm": 5,
    ]
}
