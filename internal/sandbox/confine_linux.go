//go:build linux

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/landlock-lsm/go-landlock/landlock"
	llsys "github.com/landlock-lsm/go-landlock/landlock/syscall"
	"golang.org/x/sys/unix"
)

// overflowID is the host user and group a root parent maps the worker's
// root to: nobody, who owns nothing of the data directory.
const overflowID = 65534

// namespaceFlags are the namespaces a confined worker starts in: its own
// user (root inside, nobody outside), PID, mount, network (no interfaces
// but a loopback that is down), IPC and UTS namespaces.
const namespaceFlags = syscall.CLONE_NEWUSER | syscall.CLONE_NEWPID | syscall.CLONE_NEWNS |
	syscall.CLONE_NEWNET | syscall.CLONE_NEWIPC | syscall.CLONE_NEWUTS

// Supported: workers run here, and are confined where the kernel allows.
func Supported() bool { return true }

// socketPair makes the socket between the server and a worker, closed on
// exec but for the end handed to the worker.
func socketPair() ([2]int, error) {
	return syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
}

func sysProcAttr(confined, _ bool) *syscall.SysProcAttr {
	// The worker dies with the parent; it also exits when its socket
	// closes, should the signal be missed.
	a := &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setsid: true}
	if !confined {
		return a
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 {
		uid, gid = overflowID, overflowID
	}
	a.Cloneflags = namespaceFlags
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	a.GidMappingsEnableSetgroups = false
	// Root inside the namespace, so that the worker holds the
	// capabilities it needs to build its root (in its namespaces only),
	// until no_new_privs and seccomp take them out of reach.
	a.Credential = &syscall.Credential{Uid: 0, Gid: 0, NoSetGroups: true}
	return a
}

// applyConfinement runs in the worker before it reads its socket. Every
// worker gets its resource limits; a confined one, which the parent
// started in new namespaces, also gets an empty read-only root in place of
// the host's file system, no_new_privs, Landlock where the kernel has it,
// and last the seccomp allowlist, which holds for every thread.
func applyConfinement(confine bool, l Limits) (Layers, error) {
	var layers Layers
	if confine {
		ok, err := inOwnUserNamespace()
		if err != nil {
			return layers, err
		}
		if !ok {
			return layers, errors.New("the worker was not started in its own user namespace")
		}
		layers.Namespaces = true
		if err := emptyRoot(); err != nil {
			return layers, err
		}
		layers.EmptyRoot = true
	}
	if err := setLimits(l); err != nil {
		if confine {
			return layers, err
		}
		// Unconfined, the limits are best effort: a service manager's
		// own filter may refuse setrlimit, and the worker must still
		// serve (the pool's status says it is unconfined).
	} else {
		layers.Rlimits = true
	}
	if !confine {
		return layers, nil
	}
	// Landlock needs no_new_privs on the thread that restricts; the
	// seccomp filter below sets it on every thread.
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return layers, fmt.Errorf("setting no_new_privs: %w", err)
	}
	if abi, err := llsys.LandlockGetABIVersion(); err == nil && abi > 0 {
		// No rule: no file access at all, no TCP bind or connect, no
		// signal or abstract socket out of the domain. Best effort, as
		// a kernel may lack it (or, with cgo, it cannot reach every
		// thread); seccomp stops the same things regardless.
		if landlock.V11.BestEffort().Restrict() == nil {
			layers.Landlock = abi
		}
	}
	if err := seccomp.LoadFilter(seccomp.Filter{NoNewPrivs: true, Flag: seccomp.FilterFlagTSync, Policy: policy()}); err != nil {
		return layers, fmt.Errorf("loading the seccomp filter: %w", err)
	}
	layers.NoNewPrivs, layers.Seccomp = true, true
	return layers, nil
}

// inOwnUserNamespace: the worker's user map is one id wide, not the
// host's whole range.
func inOwnUserNamespace() (bool, error) {
	b, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return false, fmt.Errorf("reading the worker's user map: %w", err)
	}
	f := strings.Fields(string(b))
	return len(f) == 3 && f[2] == "1", nil
}

// emptyRoot makes the worker's root an empty, read-only tmpfs: the host's
// file system (the data directory, /proc of the host, the binary itself)
// is detached from the worker's mount namespace and cannot be named.
func emptyRoot() error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making the worker's mounts private: %w", err)
	}
	dir := ""
	for _, d := range []string{"/tmp", "/mnt", "/proc"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			dir = d
			break
		}
	}
	if dir == "" {
		return errors.New("no directory to mount the worker's root on")
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "size=16k,nr_inodes=8,mode=0755"); err != nil {
		return fmt.Errorf("mounting the worker's root: %w", err)
	}
	if err := os.Mkdir(dir+"/old", 0o700); err != nil {
		return fmt.Errorf("making the worker's root: %w", err)
	}
	if err := unix.PivotRoot(dir, dir+"/old"); err != nil {
		return fmt.Errorf("switching to the worker's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("switching to the worker's root: %w", err)
	}
	if err := unix.Unmount("/old", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's file system: %w", err)
	}
	if err := os.Remove("/old"); err != nil {
		return fmt.Errorf("detaching the host's file system: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("making the worker's root read-only: %w", err)
	}
	return nil
}

func setLimits(l Limits) error {
	mem := uint64(l.Memory) * raceMemoryFactor
	cpu := cpuSeconds(l.CPU)
	for _, r := range []struct {
		what     string
		resource int
		soft     uint64
		hard     uint64
	}{
		{"memory", unix.RLIMIT_DATA, mem, mem},
		// SIGXCPU at the soft limit, SIGKILL a second later.
		{"CPU time", unix.RLIMIT_CPU, cpu, cpu + 1},
		{"open files", unix.RLIMIT_NOFILE, uint64(l.Files), uint64(l.Files)},
		{"processes", unix.RLIMIT_NPROC, uint64(l.Threads), uint64(l.Threads)},
		{"file size", unix.RLIMIT_FSIZE, 0, 0},
		{"core dumps", unix.RLIMIT_CORE, 0, 0},
		{"locked memory", unix.RLIMIT_MEMLOCK, 0, 0},
		{"message queues", unix.RLIMIT_MSGQUEUE, 0, 0},
	} {
		if err := unix.Setrlimit(r.resource, &unix.Rlimit{Cur: r.soft, Max: r.hard}); err != nil {
			return fmt.Errorf("limiting the worker's %s: %w", r.what, err)
		}
	}
	return nil
}

// policy is the seccomp allowlist: what the Go runtime and the worker's
// reads and writes on its inherited socket need, nothing more. Anything
// else fails with EPERM: no open, no socket or connect, no execve, no
// ptrace, no mount or namespace calls, and clone only for a thread of
// this process, never a new one.
func policy() seccomp.Policy {
	return seccomp.Policy{
		DefaultAction: seccomp.ActionErrno,
		Syscalls: []seccomp.SyscallGroup{
			{
				Action: seccomp.ActionAllow,
				Names: []string{
					// The socket to the parent and the runtime's own pipes.
					"read", "write", "readv", "writev", "pread64", "pwrite64", "close",
					"fstat", "newfstatat", "lseek", "fcntl", "pipe2", "eventfd2",
					"epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2", "epoll_wait",
					// Memory.
					"mmap", "munmap", "mprotect", "madvise", "mremap", "brk",
					// Signals, threads and scheduling.
					"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sigaltstack",
					"futex", "gettid", "getpid", "tgkill", "tkill", "kill",
					"sched_yield", "sched_getaffinity", "restart_syscall", "arch_prctl",
					// Time and randomness.
					"nanosleep", "clock_gettime", "clock_getres", "clock_nanosleep", "gettimeofday",
					"getrandom", "getrlimit",
					"exit", "exit_group",
					// What a C library's threads register, when cgo is in.
					"set_robust_list", "rseq",
				},
			},
			{
				// ENOSYS, not EPERM: a C library then falls back to clone,
				// which the group below allows for threads only.
				Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS),
				Names:  []string{"clone3"},
			},
			{
				Action: seccomp.ActionAllow,
				NamesWithCondtions: []seccomp.NameWithConditions{{
					Name:       "clone",
					Conditions: seccomp.ArgumentConditions{{Argument: 0, Operation: seccomp.BitsSet, Value: unix.CLONE_THREAD}},
				}},
			},
		},
	}
}

// cpuUsed is the CPU time a live process has used, from /proc/<pid>/stat
// (user and system time, in the kernel's fixed 100 ticks a second).
func cpuUsed(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	_, rest, ok := strings.Cut(string(b), ") ")
	if !ok {
		return 0
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}
