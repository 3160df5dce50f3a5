//! (filled in by the kafka work)
