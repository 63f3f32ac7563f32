import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// libvirt's C API (`libvirt.so.0`), loaded at run time (docs/decisions.md, "libvirt hand-off").
///
/// Loaded with `dlopen` rather than linked, so that every binary starts on a machine without libvirt (the demo, the
/// CLI, a Hyper-V node's agent): only an agent whose inventory driver is `libvirt` and a watchdog fencing through it
/// ever load the library, and a missing library is an error that says so. The signatures are libvirt's stable public
/// ABI (`libvirt-domain.h`, `libvirt-domain-snapshot.h`, `virterror.h`); every pointer type is opaque here.
struct LibvirtLibrary: @unchecked Sendable {
    typealias Pointer = OpaquePointer
    typealias CString = UnsafePointer<CChar>
    typealias PointerList = UnsafeMutablePointer<UnsafeMutablePointer<Pointer?>?>

    let connectOpen: @convention(c) (CString?) -> Pointer?
    let connectClose: @convention(c) (Pointer?) -> Int32
    let connectListAllDomains: @convention(c) (Pointer?, PointerList?, UInt32) -> Int32
    let domainLookupByUUIDString: @convention(c) (Pointer?, CString?) -> Pointer?
    let domainFree: @convention(c) (Pointer?) -> Int32
    let domainGetState:
        @convention(c) (Pointer?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?, UInt32) -> Int32
    let domainGetXMLDesc: @convention(c) (Pointer?, UInt32) -> UnsafeMutablePointer<CChar>?
    let domainGetName: @convention(c) (Pointer?) -> CString?
    let domainGetUUIDString: @convention(c) (Pointer?, UnsafeMutablePointer<CChar>?) -> Int32
    let domainIsPersistent: @convention(c) (Pointer?) -> Int32
    let domainListAllSnapshots: @convention(c) (Pointer?, PointerList?, UInt32) -> Int32
    let domainSnapshotGetName: @convention(c) (Pointer?) -> CString?
    let domainSnapshotGetXMLDesc: @convention(c) (Pointer?, UInt32) -> UnsafeMutablePointer<CChar>?
    let domainSnapshotIsCurrent: @convention(c) (Pointer?, UInt32) -> Int32
    let domainSnapshotDelete: @convention(c) (Pointer?, UInt32) -> Int32
    let domainSnapshotFree: @convention(c) (Pointer?) -> Int32
    let domainSnapshotCreateXML: @convention(c) (Pointer?, CString?, UInt32) -> Pointer?
    let domainMigrateToURI: @convention(c) (Pointer?, CString?, UInt, CString?, UInt) -> Int32
    let domainDefineXML: @convention(c) (Pointer?, CString?) -> Pointer?
    let domainCreateWithFlags: @convention(c) (Pointer?, UInt32) -> Int32
    let domainDestroy: @convention(c) (Pointer?) -> Int32
    let domainSaveFlags: @convention(c) (Pointer?, CString?, CString?, UInt32) -> Int32
    let domainRestoreFlags: @convention(c) (Pointer?, CString?, CString?, UInt32) -> Int32
    let domainUndefineFlags: @convention(c) (Pointer?, UInt32) -> Int32
    let domainBlockCommit: @convention(c) (Pointer?, CString?, CString?, CString?, UInt, UInt32) -> Int32
    let domainBlockRebase: @convention(c) (Pointer?, CString?, CString?, UInt, UInt32) -> Int32
    let domainGetBlockJobInfo: @convention(c) (Pointer?, CString?, UnsafeMutableRawPointer?, UInt32) -> Int32
    let domainBlockJobAbort: @convention(c) (Pointer?, CString?, UInt32) -> Int32
    let domainUpdateDeviceFlags: @convention(c) (Pointer?, CString?, UInt32) -> Int32
    let domainBlockCopy: @convention(c) (Pointer?, CString?, CString?, UnsafeMutableRawPointer?, Int32, UInt32) -> Int32
    let secretLookupByUUIDString: @convention(c) (Pointer?, CString?) -> Pointer?
    let secretLookupByUsage: @convention(c) (Pointer?, Int32, CString?) -> Pointer?
    let secretFree: @convention(c) (Pointer?) -> Int32
    let getLastErrorMessage: @convention(c) () -> CString?

    /// The library every caller shares, loaded on first use; the error when it cannot be.
    static let shared: Result<LibvirtLibrary, LibvirtError> = load()

    private static func load() -> Result<LibvirtLibrary, LibvirtError> {
        let names =
            ProcessInfo.processInfo.environment["CHAINKEEPER_LIBVIRT_LIBRARY"].map { [$0] } ?? [
                "libvirt.so.0", "libvirt.so",
            ]
        guard let handle = names.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_LOCAL) }).first else {
            let detail = dlerror().map { String(cString: $0) } ?? "not found"
            return .failure(
                LibvirtError(
                    code: .libraryMissing,
                    message: "libvirt's library (libvirt.so.0) cannot be loaded: \(detail); install libvirt0 "
                        + "(Debian: apt-get install libvirt0) on a node whose inventory driver is libvirt"
                )
            )
        }
        do throws(LibvirtError) {
            return .success(try LibvirtLibrary(Symbols(handle: handle)))
        } catch {
            return .failure(error)
        }
    }

    /// Resolves symbols of the loaded library; a missing one is an error that names it.
    struct Symbols {
        let handle: UnsafeMutableRawPointer

        func callAsFunction<T>(_ name: String, as type: T.Type) throws(LibvirtError) -> T {
            guard let address = dlsym(handle, name) else {
                throw LibvirtError(
                    code: .libraryMissing,
                    message: "the loaded libvirt lacks \(name); Chainkeeper needs libvirt 2.3 or later"
                )
            }
            return unsafeBitCast(address, to: type)
        }
    }

    private init(_ symbol: Symbols) throws(LibvirtError) {
        let initialize = try symbol("virInitialize", as: (@convention(c) () -> Int32).self)
        // libvirt prints every error on stderr unless a handler is set; ours keeps them for the caller to report.
        let setErrorFunc = try symbol(
            "virSetErrorFunc",
            as: (@convention(c) (
                UnsafeMutableRawPointer?, (@convention(c) (UnsafeMutableRawPointer?, Pointer?) -> Void)?
            ) -> Void).self
        )
        connectOpen = try symbol("virConnectOpen", as: (@convention(c) (CString?) -> Pointer?).self)
        connectClose = try symbol("virConnectClose", as: (@convention(c) (Pointer?) -> Int32).self)
        connectListAllDomains = try symbol(
            "virConnectListAllDomains",
            as: (@convention(c) (Pointer?, PointerList?, UInt32) -> Int32).self
        )
        domainLookupByUUIDString = try symbol(
            "virDomainLookupByUUIDString",
            as: (@convention(c) (Pointer?, CString?) -> Pointer?).self
        )
        domainFree = try symbol("virDomainFree", as: (@convention(c) (Pointer?) -> Int32).self)
        domainGetState = try symbol(
            "virDomainGetState",
            as: (@convention(c) (
                Pointer?, UnsafeMutablePointer<Int32>?, UnsafeMutablePointer<Int32>?, UInt32
            ) -> Int32).self
        )
        domainGetXMLDesc = try symbol(
            "virDomainGetXMLDesc",
            as: (@convention(c) (Pointer?, UInt32) -> UnsafeMutablePointer<CChar>?).self
        )
        domainGetName = try symbol("virDomainGetName", as: (@convention(c) (Pointer?) -> CString?).self)
        domainGetUUIDString = try symbol(
            "virDomainGetUUIDString",
            as: (@convention(c) (Pointer?, UnsafeMutablePointer<CChar>?) -> Int32).self
        )
        domainIsPersistent = try symbol("virDomainIsPersistent", as: (@convention(c) (Pointer?) -> Int32).self)
        domainListAllSnapshots = try symbol(
            "virDomainListAllSnapshots",
            as: (@convention(c) (Pointer?, PointerList?, UInt32) -> Int32).self
        )
        domainSnapshotGetName = try symbol(
            "virDomainSnapshotGetName",
            as: (@convention(c) (Pointer?) -> CString?).self
        )
        domainSnapshotGetXMLDesc = try symbol(
            "virDomainSnapshotGetXMLDesc",
            as: (@convention(c) (Pointer?, UInt32) -> UnsafeMutablePointer<CChar>?).self
        )
        domainSnapshotIsCurrent = try symbol(
            "virDomainSnapshotIsCurrent",
            as: (@convention(c) (Pointer?, UInt32) -> Int32).self
        )
        domainSnapshotDelete = try symbol(
            "virDomainSnapshotDelete",
            as: (@convention(c) (Pointer?, UInt32) -> Int32).self
        )
        domainSnapshotFree = try symbol("virDomainSnapshotFree", as: (@convention(c) (Pointer?) -> Int32).self)
        domainSnapshotCreateXML = try symbol(
            "virDomainSnapshotCreateXML",
            as: (@convention(c) (Pointer?, CString?, UInt32) -> Pointer?).self
        )
        domainMigrateToURI = try symbol(
            "virDomainMigrateToURI",
            as: (@convention(c) (Pointer?, CString?, UInt, CString?, UInt) -> Int32).self
        )
        domainDefineXML = try symbol("virDomainDefineXML", as: (@convention(c) (Pointer?, CString?) -> Pointer?).self)
        domainCreateWithFlags = try symbol(
            "virDomainCreateWithFlags",
            as: (@convention(c) (Pointer?, UInt32) -> Int32).self
        )
        domainDestroy = try symbol("virDomainDestroy", as: (@convention(c) (Pointer?) -> Int32).self)
        domainSaveFlags = try symbol(
            "virDomainSaveFlags",
            as: (@convention(c) (Pointer?, CString?, CString?, UInt32) -> Int32).self
        )
        domainRestoreFlags = try symbol(
            "virDomainRestoreFlags",
            as: (@convention(c) (Pointer?, CString?, CString?, UInt32) -> Int32).self
        )
        domainUndefineFlags = try symbol(
            "virDomainUndefineFlags",
            as: (@convention(c) (Pointer?, UInt32) -> Int32).self
        )
        domainBlockCommit = try symbol(
            "virDomainBlockCommit",
            as: (@convention(c) (Pointer?, CString?, CString?, CString?, UInt, UInt32) -> Int32).self
        )
        domainBlockRebase = try symbol(
            "virDomainBlockRebase",
            as: (@convention(c) (Pointer?, CString?, CString?, UInt, UInt32) -> Int32).self
        )
        domainGetBlockJobInfo = try symbol(
            "virDomainGetBlockJobInfo",
            as: (@convention(c) (Pointer?, CString?, UnsafeMutableRawPointer?, UInt32) -> Int32).self
        )
        domainBlockJobAbort = try symbol(
            "virDomainBlockJobAbort",
            as: (@convention(c) (Pointer?, CString?, UInt32) -> Int32).self
        )
        domainBlockCopy = try symbol(
            "virDomainBlockCopy",
            as: (@convention(c) (Pointer?, CString?, CString?, UnsafeMutableRawPointer?, Int32, UInt32) -> Int32).self
        )
        domainUpdateDeviceFlags = try symbol(
            "virDomainUpdateDeviceFlags",
            as: (@convention(c) (Pointer?, CString?, UInt32) -> Int32).self
        )
        secretLookupByUUIDString = try symbol(
            "virSecretLookupByUUIDString",
            as: (@convention(c) (Pointer?, CString?) -> Pointer?).self
        )
        secretLookupByUsage = try symbol(
            "virSecretLookupByUsage",
            as: (@convention(c) (Pointer?, Int32, CString?) -> Pointer?).self
        )
        secretFree = try symbol("virSecretFree", as: (@convention(c) (Pointer?) -> Int32).self)
        getLastErrorMessage = try symbol("virGetLastErrorMessage", as: (@convention(c) () -> CString?).self)
        guard initialize() == 0 else {
            throw LibvirtError(code: .libraryMissing, message: "virInitialize failed")
        }
        setErrorFunc(nil, { _, _ in })
    }

    /// The message of the last error on this thread.
    func lastError() -> String {
        getLastErrorMessage().map { String(cString: $0) } ?? "unknown libvirt error"
    }
}
