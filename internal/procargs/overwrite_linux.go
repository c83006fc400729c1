package procargs

import "unsafe"

// overwrite replaces s[from:] with 'x' in place. On Linux the Go runtime
// builds os.Args over the argument block the kernel placed on the stack
// without copying it, and /proc/PID/cmdline reads that block, so writing
// there is what hides the value. Only strings of os.Args may be passed.
func overwrite(s string, from int) bool {
	if from >= len(s) {
		return false
	}
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	for i := from; i < len(b); i++ {
		b[i] = 'x'
	}
	return true
}
