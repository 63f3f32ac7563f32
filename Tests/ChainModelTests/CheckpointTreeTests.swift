import ChainModel
import Testing

@Suite struct CheckpointTreeTests {
    /// root → a → a1, root → b (a branch after a revert).
    let branched = [
        Checkpoint(id: CheckpointID("root"), name: "installed"),
        Checkpoint(id: CheckpointID("a"), name: "before-upgrade", parent: CheckpointID("root")),
        Checkpoint(id: CheckpointID("a1"), name: "after-upgrade", parent: CheckpointID("a")),
        Checkpoint(id: CheckpointID("b"), name: "reverted", parent: CheckpointID("root")),
    ]

    @Test func branchedTreeKeepsEveryChildAndItsDepth() throws {
        let tree = try CheckpointTree(branched)
        #expect(tree.roots == [CheckpointID("root")])
        #expect(tree.children[CheckpointID("root")] == [CheckpointID("a"), CheckpointID("b")])
        let walk = tree.depthFirst().map { "\($0.checkpoint.id)@\($0.depth)" }
        #expect(walk == ["root@0", "a@1", "a1@2", "b@1"])
        #expect(tree.ancestry(of: CheckpointID("a1")) == ["a1", "a", "root"].map(CheckpointID.init(rawValue:)))
    }

    @Test func danglingParentIsRefusedWithItsName() {
        let list = branched + [Checkpoint(id: CheckpointID("x"), name: "orphan", parent: CheckpointID("gone"))]
        #expect {
            try CheckpointTree(list)
        } throws: { error in
            let error = error as? ModelError
            return error?.code == .danglingParent && error?.message.contains("gone") == true
        }
    }

    @Test func cycleIsRefusedNamingItsMembers() {
        let list = [
            Checkpoint(id: CheckpointID("root"), name: "root"),
            Checkpoint(id: CheckpointID("p"), name: "p", parent: CheckpointID("q")),
            Checkpoint(id: CheckpointID("q"), name: "q", parent: CheckpointID("p")),
        ]
        #expect {
            try CheckpointTree(list)
        } throws: { error in
            let error = error as? ModelError
            return error?.code == .checkpointCycle && error?.message.contains("p, q") == true
        }
    }

    @Test func duplicateIdentifierIsRefused() {
        let list = [Checkpoint(id: CheckpointID("a"), name: "one"), Checkpoint(id: CheckpointID("a"), name: "two")]
        #expect(throws: ModelError.self) { try CheckpointTree(list) }
    }
}
