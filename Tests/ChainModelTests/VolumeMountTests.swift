import ChainModel
import Testing

@Suite struct VolumeMountTests {
    @Test func probeCountsForTwoIntervals() {
        let probed = Timestamp(secondsSinceEpoch: 1_000)
        let mount = VolumeMount(volume: VolumeID("v"), node: NodeName("n"), mountPath: "/mnt/v", lastProbeAt: probed)
        #expect(mount.isVerified(at: probed + .seconds(600), probeInterval: .seconds(300)))
        #expect(!mount.isVerified(at: probed + .seconds(601), probeInterval: .seconds(300)))
        let never = VolumeMount(volume: VolumeID("v"), node: NodeName("n"), mountPath: "/mnt/v")
        #expect(!never.isVerified(at: probed, probeInterval: .seconds(300)))
    }
}
