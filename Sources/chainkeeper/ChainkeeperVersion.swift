/// The release this binary belongs to.
enum ChainkeeperVersion {
    static let current = "0.1.0"
}
