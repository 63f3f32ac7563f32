import GRDBSQLite

/// The SQL functions `chainkeeper query` may call: an allow-list, so that a function SQLite gains in a later version,
/// or one that hands out internals (`fts3_tokenizer` returns a pointer into the library, `sqlite_*` describe the build,
/// `load_extension` loads code), is refused until someone decides it is safe.
///
/// docs/query.md lists them.
enum QueryFunctions {
    static let allowed: Set<String> = [
        // Scalar.
        "abs", "char", "coalesce", "concat", "concat_ws", "format", "glob", "hex", "ifnull", "iif", "instr", "length",
        "like", "likelihood", "likely", "lower", "ltrim", "max", "min", "nullif", "octet_length", "printf", "quote",
        "replace", "round", "rtrim", "sign", "substr", "substring", "trim", "typeof", "unhex", "unicode", "unlikely",
        "upper",
        // Aggregate and window.
        "avg", "count", "group_concat", "string_agg", "sum", "total", "row_number", "rank", "dense_rank",
        "percent_rank", "cume_dist", "ntile", "lag", "lead", "first_value", "last_value", "nth_value",
        // Date and time.
        "date", "time", "datetime", "julianday", "unixepoch", "strftime", "timediff",
        // JSON (scalar and aggregate; the table-valued json_each and json_tree are refused with other virtual tables).
        "json", "jsonb", "json_array", "jsonb_array", "json_array_length", "json_error_position", "json_extract",
        "jsonb_extract", "->", "->>", "json_insert", "jsonb_insert", "json_object", "jsonb_object", "json_patch",
        "jsonb_patch", "json_pretty", "json_quote", "json_remove", "jsonb_remove", "json_replace", "jsonb_replace",
        "json_set", "jsonb_set", "json_type", "json_valid", "json_group_array", "jsonb_group_array",
        "json_group_object", "jsonb_group_object",
        // Math (when SQLite has them).
        "acos", "asin", "atan", "atan2", "ceil", "ceiling", "cos", "degrees", "exp", "floor", "ln", "log", "log10",
        "log2", "mod", "pi", "pow", "power", "radians", "sin", "sqrt", "tan", "trunc",
    ]
}

/// SQLite's error messages as a query's answer: the ones that speak of the query's own text pass; any other
/// (which can quote the schema's own SQL, a CHECK constraint's expression say) becomes the error code's description.
enum QueryErrorText {
    /// Prefixes of messages that describe the admin's own query.
    static let passing = [
        "near \"", "no such column", "no such table", "no such function", "incomplete input", "unrecognized token",
        "wrong number of arguments", "misuse of", "ambiguous column name", "string or blob too big",
        "integer overflow", "malformed JSON", "sub-select returns", "too many", "a GROUP BY clause",
        "ORDER BY term", "1st ORDER BY", "HAVING clause", "DISTINCT aggregates", "SELECTs to the left and right",
        "argument type mismatch", "JSON cannot hold", "bad JSON path", "parser stack overflow",
        "row value misused", "circular reference", "recursive aggregate", "multiple recursive", "window function",
        "unsupported use of", "only a single result allowed", "no tables specified", "interrupted",
    ]

    static func safe(_ db: OpaquePointer) -> String {
        let message = String(cString: sqlite3_errmsg(db))
        if passing.contains(where: { message.hasPrefix($0) }) { return message }
        let code = sqlite3_extended_errcode(db)
        return "the query failed: \(String(cString: sqlite3_errstr(code))) (SQLite error \(code))"
    }
}
