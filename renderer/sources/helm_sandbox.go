package sources

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/chart/loader"
	utiljson "k8s.io/apimachinery/pkg/util/json"
)

// Defaults for the zero fields of Sandbox.
const (
	// DefaultSandboxTimeout bounds one chart render. Charts of development
	// environments render in well under a second, the vcluster chart
	// included; a chart that emits 200,000 objects is still busy after 20 s.
	DefaultSandboxTimeout = 10 * time.Second
	// DefaultSandboxMemory bounds the data (heap and stacks) of one
	// render's child process; its peak RSS is that plus the pages of the
	// binary it runs, about 200 MiB in all. With one child at a time beside
	// allot itself, a check stays within the 512 MiB of the example
	// Deployment.
	DefaultSandboxMemory = 192 << 20
	// DefaultSandboxParallel is how many children render at once.
	DefaultSandboxParallel = 1
)

// Sandbox renders Helm charts in a child process. Helm runs templates in
// the calling process, and nothing stops a template that loops or
// allocates without end ({{ range until 1500000000 }}): only ending the
// process does. The child has a memory limit (RLIMIT_DATA on Linux, and a
// matching Go memory limit), a CPU limit, no environment but Env, and is
// killed at its deadline or when its output grows past what the bundle has
// room for. Argo CD isolates its repo-server for the same reason.
//
// A Sandbox is safe for concurrent use; do not copy it once used.
type Sandbox struct {
	// Command starts the child: a program and arguments that read a job
	// from standard input and call ServeSandbox, for example the allot
	// binary and its hidden subcommand.
	Command []string
	// Env is the child's whole environment; secrets of the parent never
	// reach it.
	Env []string
	// Timeout bounds one render; 0 means DefaultSandboxTimeout.
	Timeout time.Duration
	// MaxMemoryBytes bounds the child's memory; 0 means DefaultSandboxMemory.
	MaxMemoryBytes int64
	// Parallel bounds how many children run at once; 0 means
	// DefaultSandboxParallel.
	Parallel int

	once  sync.Once
	slots chan struct{}
}

// Errors a sandboxed render fails with, each also wrapping ErrLimitExceeded.
var (
	// ErrRenderTimeout is wrapped when a chart took longer than the deadline.
	ErrRenderTimeout = errors.New("rendering took too long")
	// ErrRenderMemory is wrapped when a chart used more memory than allowed.
	ErrRenderMemory = errors.New("rendering used too much memory")
)

// sandboxJob is what the child reads: the job, with values kept as JSON so
// that the child decodes numbers as the parent has them (int64 or float64).
type sandboxJob struct {
	helmJob
	Values         json.RawMessage `json:"values"`
	MaxMemoryBytes int64           `json:"maxMemoryBytes"`
	CPUSeconds     int64           `json:"cpuSeconds"`
}

// sandboxReply is what the child writes.
type sandboxReply struct {
	Output *helmOutput `json:"output,omitempty"`
	Error  string      `json:"error,omitempty"`
	Limit  bool        `json:"limit,omitempty"`
	// OutputBytes is set instead of Output when the output is larger than
	// the job's MaxOutputBytes.
	OutputBytes int64 `json:"outputBytes,omitempty"`
}

func (s *Sandbox) run(ctx context.Context, job helmJob, budget *Budget) (*helmOutput, error) {
	if len(s.Command) == 0 {
		return nil, errors.New("the Helm sandbox has no command")
	}
	timeout := cmp.Or(s.Timeout, DefaultSandboxTimeout)
	memory := cmp.Or(s.MaxMemoryBytes, DefaultSandboxMemory)
	values, err := json.Marshal(job.Values)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	in, err := json.Marshal(sandboxJob{
		helmJob: job, Values: values, MaxMemoryBytes: memory,
		CPUSeconds: int64(timeout/time.Second) + 1,
	})
	if err != nil {
		return nil, err
	}

	s.once.Do(func() { s.slots = make(chan struct{}, cmp.Or(s.Parallel, DefaultSandboxParallel)) })
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Command[0], s.Command[1:]...)
	cmd.Env = s.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.SysProcAttr = childProcAttr()
	cmd.WaitDelay = time.Second
	cmd.Stdin = bytes.NewReader(in)
	// JSON escapes text to at most six times its size.
	outLimit := memory
	if job.MaxOutputBytes >= 0 {
		outLimit = 6*job.MaxOutputBytes + 1<<20
	}
	stdout := &cappedBuffer{max: outLimit, overflow: cancel}
	stderr := &cappedBuffer{max: 8 << 10, tail: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	runErr := cmd.Run()

	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return nil, fmt.Errorf("%w: the chart's templates ran longer than %s: %w", ErrRenderTimeout, timeout, ErrLimitExceeded)
	case stdout.overflowed:
		return nil, fmt.Errorf("the chart rendered more than %d bytes of YAML: %w", job.MaxOutputBytes, cmp.Or(budget.checkText(job.MaxOutputBytes+1), ErrLimitExceeded))
	case runErr != nil && isOutOfMemory(stderr.String()):
		return nil, fmt.Errorf("%w: the chart's templates used more than %d MiB: %w", ErrRenderMemory, memory>>20, ErrLimitExceeded)
	case ctx.Err() != nil:
		return nil, ctx.Err()
	case runErr != nil:
		return nil, fmt.Errorf("the render process failed: %w: %s", runErr, strings.TrimSpace(stderr.String()))
	}
	var reply sandboxReply
	if err := json.Unmarshal(stdout.Bytes(), &reply); err != nil {
		return nil, fmt.Errorf("the render process wrote an invalid reply: %w", err)
	}
	switch {
	case reply.OutputBytes > 0:
		return nil, fmt.Errorf("the chart rendered %d bytes of YAML: %w", reply.OutputBytes, cmp.Or(budget.checkText(reply.OutputBytes), ErrLimitExceeded))
	case reply.Error != "" && reply.Limit:
		return nil, fmt.Errorf("%s: %w", reply.Error, ErrLimitExceeded)
	case reply.Error != "":
		return nil, errors.New(reply.Error)
	case reply.Output == nil:
		return nil, errors.New("the render process wrote no output")
	}
	return reply.Output, nil
}

// isOutOfMemory reports whether a Go child's standard error says it ran out
// of memory.
func isOutOfMemory(stderr string) bool {
	for _, s := range []string{"out of memory", "cannot allocate memory", "pthread_create failed", "failed to create new OS thread"} {
		if strings.Contains(stderr, s) {
			return true
		}
	}
	return false
}

// maxSandboxJobBytes bounds the job a child reads: the chart (bounded by
// the chart limits, base64 in JSON) and its values.
const maxSandboxJobBytes = 256 << 20

// ServeSandbox is the child's side of a Sandbox: it reads one job from in,
// limits its own memory and CPU, renders the chart and writes the reply to
// out. Call it from the command a Sandbox starts; an error means the reply
// could not be written.
func ServeSandbox(in io.Reader, out io.Writer) error {
	reply := serveSandbox(in)
	return json.NewEncoder(out).Encode(reply)
}

func readSandboxJob(in io.Reader) (*sandboxJob, error) {
	data, err := io.ReadAll(io.LimitReader(in, maxSandboxJobBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	if len(data) > maxSandboxJobBytes {
		return nil, fmt.Errorf("the job is larger than %d bytes: %w", maxSandboxJobBytes, ErrLimitExceeded)
	}
	var job sandboxJob
	if err := json.Unmarshal(data, &job); err != nil {
		return nil, fmt.Errorf("read job: %w", err)
	}
	return &job, nil
}

func serveSandbox(in io.Reader) sandboxReply {
	fail := func(err error) sandboxReply {
		return sandboxReply{Error: err.Error(), Limit: errors.Is(err, ErrLimitExceeded)}
	}
	// The job's raw bytes are read in their own function, so that they are
	// garbage before the render starts.
	job, err := readSandboxJob(in)
	if err != nil {
		return fail(err)
	}
	if job.MaxMemoryBytes > 0 {
		// The Go limit makes the collector work hard before the hard
		// limit ends the process.
		debug.SetMemoryLimit(job.MaxMemoryBytes * 3 / 4)
		if err := limitSelf(job.MaxMemoryBytes, job.CPUSeconds); err != nil {
			return fail(fmt.Errorf("limit the render process: %w", err))
		}
	}
	if len(job.Values) > 0 {
		if err := utiljson.Unmarshal(job.Values, &job.helmJob.Values); err != nil {
			return fail(fmt.Errorf("read values: %w", err))
		}
	}
	chrt, err := loader.LoadFiles(job.Files)
	if err != nil {
		return fail(fmt.Errorf("load chart: %w", err))
	}
	output, err := job.render(chrt)
	if err != nil {
		return fail(err)
	}
	if job.MaxOutputBytes >= 0 && output.size() > job.MaxOutputBytes {
		return sandboxReply{OutputBytes: output.size()}
	}
	return sandboxReply{Output: output}
}

// cappedBuffer keeps what is written up to max bytes. Beyond that it keeps
// the last max bytes when tail is set (for standard error), or else fails
// and calls overflow.
type cappedBuffer struct {
	bytes.Buffer
	max        int64
	tail       bool
	overflow   func()
	overflowed bool
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	if int64(b.Len()+len(p)) <= b.max {
		return b.Buffer.Write(p)
	}
	if b.tail {
		keep := append(b.Bytes(), p...)
		keep = keep[max(0, int64(len(keep))-b.max):]
		b.Reset()
		b.Buffer.Write(keep)
		return len(p), nil
	}
	b.overflowed = true
	if b.overflow != nil {
		b.overflow()
	}
	return 0, fmt.Errorf("output is larger than %d bytes: %w", b.max, ErrLimitExceeded)
}
