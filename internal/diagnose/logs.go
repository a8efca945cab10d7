package diagnose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/org/erlmcp-deploy/internal/bootcause"
)

// MaxLogLine is the most bytes of one log line a report keeps. An Erlang
// crash report can be one line of megabytes, and the tail goes to the job
// log, the job summary (GitHub refuses one over 1 MiB) and Slack; its head
// holds the reason, so the head is kept.
const MaxLogLine = 4 << 10

// readLogTail reads a log tail, keeping at most maxLine bytes of each line
// (cut at a UTF-8 boundary) followed by "… (N bytes cut)". It never holds more
// than maxLine bytes of a line in memory, however long the line is.
func readLogTail(r io.Reader, maxLine int) (string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var out strings.Builder
	line := make([]byte, 0, 256)
	cut, pending := 0, false
	flush := func() {
		if cut > 0 {
			// Do not leave half a rune before the marker.
			for len(line) > 0 && !utf8.Valid(line) {
				line, cut = line[:len(line)-1], cut+1
			}
		}
		out.Write(line)
		if cut > 0 {
			fmt.Fprintf(&out, " … (%d bytes cut)", cut)
		}
		out.WriteByte('\n')
		line, cut, pending = line[:0], 0, false
	}
	for {
		chunk, err := br.ReadSlice('\n')
		data := chunk
		eol := len(data) > 0 && data[len(data)-1] == '\n'
		if eol {
			data = data[:len(data)-1]
		}
		take := min(max(maxLine-len(line), 0), len(data))
		line = append(line, data[:take]...)
		cut += len(data) - take
		pending = pending || len(data) > 0
		if eol {
			flush()
		}
		switch {
		case err == nil, errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if pending {
				flush()
			}
			return strings.TrimRight(out.String(), "\n"), nil
		default:
			if pending {
				flush()
			}
			return strings.TrimRight(out.String(), "\n"), err
		}
	}
}

// logTail streams a container's log tail with each line capped at MaxLogLine.
func logTail(ctx context.Context, client kubernetes.Interface, p *corev1.Pod, opts *corev1.PodLogOptions) (string, error) {
	rc, err := client.CoreV1().Pods(p.Namespace).GetLogs(p.Name, opts).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	return readLogTail(rc, MaxLogLine)
}

// crashTailLines is how many lines of a crashed instance's end are read
// besides its start: the runtime's last word is there.
const crashTailLines = 200

// CrashLog reads a crashed instance's log for naming its cause: its first
// bootcause.MaxRead bytes (the boot, where OTP prints the first, full
// reason) and, when the log is longer, its last crashTailLines lines, each
// capped at MaxLogLine. previous says the instance was restarted (its log is
// the previous one); otherwise it is the current, terminated container.
func CrashLog(ctx context.Context, client kubernetes.Interface, namespace, pod, container string, previous bool) ([]byte, error) {
	head, err := client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, LimitBytes: ptr.To(int64(bootcause.MaxRead))}).DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the log of %s/%s: %w", pod, container, err)
	}
	if len(head) < bootcause.MaxRead {
		return head, nil
	}
	rc, err := client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: ptr.To(int64(crashTailLines))}).Stream(ctx)
	if err != nil {
		return head, nil // the start holds the first reason; the end is a bonus
	}
	defer rc.Close()
	tail, _ := readLogTail(rc, MaxLogLine)
	return append(append(head, '\n'), tail...), nil
}
