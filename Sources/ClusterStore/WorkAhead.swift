import Foundation
import Synchronization

/// Work started on a thread of its own, at the caller's scheduling niceness, while the caller goes on; `value` waits
/// for it.
///
/// A report's next step is built this way while the writer applies the current one: on a 2-core coordinator the
/// second core builds rows while the first writes them. A thread per piece of work, not a shared pool, because the
/// niceness a thread takes on (a report's lane runs at 10, below heartbeats) cannot be lowered back without privilege.
public final class WorkAhead<Value: Sendable>: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let result = Mutex<Value?>(nil)

    public init(_ work: @escaping @Sendable () -> Value) {
        let niceness = ThreadNiceness.current
        let thread = Thread { [self] in
            ThreadNiceness.set(niceness)
            let value = work()
            result.withLock { $0 = value }
            done.signal()
        }
        thread.name = "chainkeeper-ahead"
        thread.start()
    }

    /// The work's value, once it is done.
    public var value: Value {
        done.wait()
        defer { done.signal() }
        // Signalled only after the value was stored.
        guard let value = result.withLock({ $0 }) else { preconditionFailure("work ahead signalled without a value") }
        return value
    }
}
