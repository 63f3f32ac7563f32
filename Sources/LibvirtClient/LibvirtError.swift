/// A libvirt call that failed, with libvirt's own message (docs/api.md: reasons an administrator acts on).
public struct LibvirtError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable {
        /// `libvirt.so.0` is not installed, or lacks a function Chainkeeper calls.
        case libraryMissing = "libvirt-missing"
        /// The daemon at the URI did not accept the connection.
        case connectFailed = "libvirt-unreachable"
        /// Any other call libvirt refused; the message is libvirt's.
        case callFailed = "libvirt-failed"
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
