package payload

// DictFile is the dictionary Encode uses, for the benchmarks.
func DictFile() ([]byte, error) {
	return dictFiles.ReadFile("dicts/32769.zdict")
}
