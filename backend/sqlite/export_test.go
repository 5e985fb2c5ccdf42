package sqlite

// Test-only access to unexported parts (this file is compiled only by go
// test).

// SchemaV1 is the schema written by builds before the row checksum.
var SchemaV1 = schemaV1

// SetKeyCheck turns the per-row key and checksum checks on or off and
// returns the previous setting; the A/B benchmark and the test that shows
// what the check prevents use it.
func SetKeyCheck(on bool) bool { return verifyKeyCheck.Swap(on) }

// RowSum is rowSum, for the benchmark of the checksum alone.
func RowSum(key string, value []byte) uint64 { return rowSum(key, value) }
