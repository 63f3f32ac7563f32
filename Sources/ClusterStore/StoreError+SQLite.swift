import ChainModel
import GRDB

extension StoreError {
    /// Translates SQLite's refusal into a typed error; the schema's own RAISE messages start with
    /// their code.
    init(_ error: DatabaseError) {
        let message = error.message ?? "the database refused the write"
        if message.hasPrefix("checkpoint-cycle") {
            self.init(.checkpointCycle, "a checkpoint cannot be its own ancestor; the write was refused")
        } else if message.hasPrefix("epoch-decrease") {
            self.init(.epochDecrease, "a VM's epoch only grows; the write was refused")
        } else if message.hasPrefix("migration-transition") {
            self.init(.invalidTransition, "that is not a step of the migration state machine; the write was refused")
        } else {
            switch error.extendedResultCode {
            // SQLite's own message is left out: a CHECK constraint's quotes the schema's SQL (issue 20).
            case .SQLITE_CONSTRAINT_FOREIGNKEY:
                self.init(.danglingReference, "the write names a row that does not exist")
            case .SQLITE_CONSTRAINT_CHECK, .SQLITE_CONSTRAINT_NOTNULL:
                self.init(.invalidValue, "a value is outside what the schema allows")
            case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
                self.init(.conflict, "the row already exists")
            default:
                self.init(
                    .unavailable,
                    "the cluster database failed (SQLite error \(error.extendedResultCode.rawValue): "
                        + "\(error.resultCode.description))"
                )
            }
        }
    }
}

/// Runs `body`, turning database and model errors into `StoreError`.
func translatingErrors<T>(_ body: () throws -> T) throws(StoreError) -> T {
    do {
        return try body()
    } catch let error as StoreError {
        throw error
    } catch let error as DatabaseError {
        throw StoreError(error)
    } catch let error as ModelError {
        throw StoreError(error)
    } catch {
        throw StoreError(.unavailable, "the cluster database failed: \(error)")
    }
}
