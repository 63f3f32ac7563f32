/// Durations as administrators write them in config files and read them in messages: `"500ms"`,
/// `"10s"`, `"5m"`, `"6h"`, `"1h30m"`, `"2d"`.
public enum DurationText {
    /// Parses a duration such as `"1h30m"`; `nil` if the text is not one.
    public static func parse(_ text: String) -> Duration? {
        var total: Int64 = 0
        var number: Int64?
        var unit = ""
        var sawComponent = false

        func flush() -> Bool {
            guard let value = number else { return unit.isEmpty }
            let factor: Int64
            switch unit {
            case "ms": factor = 1
            case "s": factor = 1000
            case "m": factor = 60_000
            case "h": factor = 3_600_000
            case "d": factor = 86_400_000
            default: return false
            }
            let (product, overflow) = value.multipliedReportingOverflow(by: factor)
            guard !overflow else { return false }
            let (sum, overflowSum) = total.addingReportingOverflow(product)
            guard !overflowSum else { return false }
            total = sum
            number = nil
            unit = ""
            sawComponent = true
            return true
        }

        for character in text {
            if let digit = character.wholeNumberValue, character.isASCII {
                if !unit.isEmpty { guard flush() else { return nil } }
                let (times10, overflow) = (number ?? 0).multipliedReportingOverflow(by: 10)
                guard !overflow else { return nil }
                number = times10 + Int64(digit)
            } else if character.isLetter, character.isASCII {
                guard number != nil else { return nil }
                unit.append(character)
            } else {
                return nil
            }
        }
        guard number != nil, !unit.isEmpty, flush(), sawComponent else { return nil }
        return .milliseconds(total)
    }

    /// Formats a duration the way `parse` reads it, largest units first: `"1h30m"`, `"45s"`, `"250ms"`.
    public static func format(_ duration: Duration) -> String {
        var remaining = duration.wholeMilliseconds
        if remaining == 0 { return "0s" }
        let sign = remaining < 0 ? "-" : ""
        remaining = remaining.magnitude > Int64.max.magnitude ? Int64.max : abs(remaining)
        var parts: [String] = []
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)] {
            let count = remaining / size
            if count > 0 {
                parts.append("\(count)\(unit)")
                remaining -= count * size
            }
        }
        return sign + parts.joined()
    }
}
