package disk

// Test-only access to unexported parts (this file is compiled only by go
// test).

// SetKeyCheck turns the record checksum check on or off and returns the
// previous setting; the A/B benchmark and the test that shows what the
// check prevents use it.
func SetKeyCheck(on bool) bool { return verifyKeyCheck.Swap(on) }

// RecordSum is recordSum, for the benchmark of the checksum alone.
func RecordSum(key, body []byte) uint32 { return recordSum(key, body) }
