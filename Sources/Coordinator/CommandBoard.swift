import ClusterAPI
import ServiceLifecycle

/// Commands waiting for agents, and the answers the coordinator waits for.
///
/// Agents open every connection (SPEC §2): each long-polls for its node's commands and posts each result back. The
/// board is memory only; after a coordinator restart the journal says what to send again (the commands are
/// idempotent).
actor CommandBoard {
    private var pending: [String: [AgentCommand]] = [:]
    private var pollers: [String: (id: Int, continuation: CheckedContinuation<[AgentCommand], Never>)] = [:]
    private var waiting: [String: (node: String, continuation: CheckedContinuation<CommandResult?, Never>)] = [:]
    private var nextPoller = 0
    private var closed = false

    /// Ends every long-poll at once (the coordinator is shutting down) and answers later polls immediately.
    func close() {
        closed = true
        for poller in pollers.values { poller.continuation.resume(returning: []) }
        pollers = [:]
    }

    /// Queues `command` for `node` and waits for its result; `nil` if none came within `timeout`.
    func send(_ command: AgentCommand, to node: String, timeout: Duration) async -> CommandResult? {
        await withCheckedContinuation { continuation in
            waiting[command.id] = (node, continuation)
            pending[node, default: []].append(command)
            wakePoller(of: node)
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(command.id, node: node)
            }
        }
    }

    /// The commands for `node`, waiting up to `wait` for one to arrive.
    func poll(node: String, wait: Duration) async -> [AgentCommand] {
        if let ready = take(node) { return ready }
        if closed { return [] }
        nextPoller += 1
        let id = nextPoller
        return await withCheckedContinuation { continuation in
            // A newer poll replaces an older one (the agent reconnected); the older gets nothing.
            pollers[node]?.continuation.resume(returning: [])
            pollers[node] = (id, continuation)
            Task {
                try? await Task.sleep(for: wait)
                self.endPoll(node: node, id: id)
            }
        }
    }

    /// Delivers an agent's answer; false if no such command is waiting for that node.
    func complete(_ commandID: String, from node: String, with result: CommandResult) -> Bool {
        guard let entry = waiting[commandID], entry.node == node else { return false }
        waiting[commandID] = nil
        entry.continuation.resume(returning: result)
        return true
    }

    private func take(_ node: String) -> [AgentCommand]? {
        guard let queued = pending[node], !queued.isEmpty else { return nil }
        pending[node] = nil
        return queued
    }

    private func wakePoller(of node: String) {
        guard let poller = pollers[node], let ready = take(node) else { return }
        pollers[node] = nil
        poller.continuation.resume(returning: ready)
    }

    private func endPoll(node: String, id: Int) {
        guard let poller = pollers[node], poller.id == id else { return }
        pollers[node] = nil
        poller.continuation.resume(returning: [])
    }

    /// Stops waiting for a command's answer now (its node was declared down): the sender gets nil, as on a timeout.
    func abandon(_ commandID: String, node: String) { expire(commandID, node: node) }

    private func expire(_ commandID: String, node: String) {
        pending[node]?.removeAll { $0.id == commandID }
        guard let entry = waiting[commandID] else { return }
        waiting[commandID] = nil
        entry.continuation.resume(returning: nil)
    }
}

/// Closes the board when the coordinator shuts down, so that agents' long-polls do not hold the HTTP server's
/// graceful shutdown for their whole wait.
struct CommandBoardCloser: Service {
    let board: CommandBoard

    func run() async throws {
        try? await gracefulShutdown()
        await board.close()
    }
}
