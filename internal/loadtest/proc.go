package loadtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat: USER_HZ,
// which Linux fixes at 100 for every architecture it exposes to user space.
const clockTick = 10 * time.Millisecond

// Proc is a server child process under measurement.
type Proc struct {
	Cmd    *exec.Cmd
	exited chan struct{}
	log    *tailBuffer
}

// Start runs bin with args and env (added to a minimal environment); the
// child is killed if the harness dies.
func Start(bin string, env []string, args ...string) (*Proc, error) {
	p := &Proc{log: &tailBuffer{max: 64 << 10}}
	p.Cmd = exec.Command(bin, args...)
	p.Cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...)
	p.Cmd.Stdout, p.Cmd.Stderr = p.log, p.log
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p.exited = make(chan struct{})
	go func() { _ = p.Cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Log returns the end of what the process wrote.
func (p *Proc) Log() string { return p.log.String() }

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.exited:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM and waits up to grace before killing.
func (p *Proc) Stop(grace time.Duration) error {
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = p.Cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.Cmd.Path, grace)
	}
}

// CPU is the user and system time the process has used so far, all its
// threads together.
func (p *Proc) CPU() (time.Duration, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Cmd.Process.Pid))
	if err != nil {
		return 0, fmt.Errorf("reading the process's CPU time: %w", err)
	}
	return parseStatCPU(raw)
}

// parseStatCPU reads utime and stime (fields 14 and 15) of a
// /proc/PID/stat line; the command name (field 2) may hold spaces and
// parentheses, so fields are counted from its closing parenthesis.
func parseStatCPU(raw []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, errors.New("short /proc stat line")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parsing /proc stat times: %w", err)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// Mem is a process's memory as /proc/PID/status shows it, in bytes.
type Mem struct {
	RSS, Peak, Anon, File int64
}

// Memory reads VmRSS, VmHWM, RssAnon and RssFile.
func (p *Proc) Memory() (Mem, error) { return ReadMemory(p.Cmd.Process.Pid) }

// ReadMemory reads VmRSS, VmHWM, RssAnon and RssFile of process pid.
func ReadMemory(pid int) (Mem, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Mem{}, fmt.Errorf("reading the process's memory: %w", err)
	}
	return parseStatus(raw)
}

func parseStatus(raw []byte) (Mem, error) {
	var m Mem
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return Mem{}, fmt.Errorf("unexpected %s line %q", k, sc.Text())
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return Mem{}, fmt.Errorf("parsing %s: %w", k, err)
		}
		*dst = n << 10
	}
	if m.RSS == 0 {
		return Mem{}, errors.New("no VmRSS in /proc status")
	}
	return m, nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

var _ io.Writer = (*tailBuffer)(nil)
