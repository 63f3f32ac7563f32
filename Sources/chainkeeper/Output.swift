import Foundation

/// Writes a message for the administrator to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data("chainkeeper: \(shown: message)\n".utf8))
}
