package clerksync

import (
	"encoding/json"
	"errors"

	"github.com/bytedance/sonic"
)

// jsonAPI decodes Clerk events, on the receiver and in the worker alike.
//
// It is bytedance/sonic set to behave as encoding/json does where a decoder
// may choose (strings copied out of the input, raw control characters
// refused, skipped values validated, the last of repeated keys taken), and
// it was chosen by measurement: the receiver parses each user event fully so
// that it can refuse at the door what the worker would refuse, and with
// encoding/json that parse (108 us for fixture 20, 9.5 KB) added 69 us of
// CPU to each request (184 -> 253 us per event in BenchmarkReceiver, 37%);
// sonic does the same parse in 31 us, less than the envelope-only routing
// parse it replaces (46 us). goccy/go-json was faster than encoding/json
// too but accepts invalid JSON in skipped values ([1,], tru, 01), which
// Postgres would then refuse in the raw snapshot. On an architecture or Go
// release sonic does not support it falls back to encoding/json: slower,
// same answers.
var jsonAPI = sonic.Config{CopyString: true, ValidateString: true}.Froze()

// unmarshal decodes data into v. Its error never quotes data: sonic's
// messages show the input around the fault, emails and names included, so
// on failure the error is encoding/json's for the same input, which names
// the fault and the field only (the error path alone pays for it).
func unmarshal(data []byte, v any) error {
	err := jsonAPI.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return err
	}
	return errors.New("JSON the decoder refuses (such as nesting deeper than 4096 levels)")
}

var errInvalidUTF8 = errors.New("body is not valid UTF-8")
