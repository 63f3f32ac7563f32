/// The largest values Chainkeeper accepts from the network and feeds its arithmetic.
///
/// Every number an agent or an administrator sends is checked against these at the API (a 400 naming the field), and
/// every value read back from storage is clamped to them before the engine sums or compares it, so a value stored by
/// an older version, or edited by hand, can never make a sum trap. The limits sit far above any real cluster (Hyper-V's
/// largest VM has 240 TiB of memory, a VHDX 64 TiB) and far enough below `Int64.max` that 2^24 of them still add up.
public enum ValueBounds {
    /// Memory of a VM, or offered by a node, in MiB: 2^32 MiB = 4 PiB.
    public static let memoryMiB: Int = 1 << 32
    /// A file's size, or a volume's free space, in bytes: 2^52 B = 4 PiB.
    public static let bytes: Int64 = 1 << 52
    /// An epoch: 2^53 - 1, the largest integer every JSON reader keeps exactly.
    ///
    /// At one migration a second a VM needs 285 million years to use them up.
    public static let epoch: Int64 = (1 << 53) - 1
    /// A wall-clock time in milliseconds since 1970: the year 10000.
    public static let timestampMilliseconds: Int64 = 253_402_300_800_000

    /// `value` within 0...`bound`.
    public static func clamp(_ value: Int, to bound: Int) -> Int { min(max(value, 0), bound) }
    public static func clamp(_ value: Int64, to bound: Int64) -> Int64 { min(max(value, 0), bound) }
}
