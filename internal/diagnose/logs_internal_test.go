package diagnose

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestReadLogTail(t *testing.T) {
	big := strings.Repeat("a", 3<<20)
	tests := []struct {
		name, in, want string
		max            int
	}{
		{name: "empty", in: "", want: "", max: 8},
		{name: "short lines are kept", in: "one\ntwo\n", want: "one\ntwo", max: 8},
		{name: "no final newline", in: "one\ntwo", want: "one\ntwo", max: 8},
		{name: "a line at the cap is kept", in: "12345678\n", want: "12345678", max: 8},
		{name: "a long line keeps its head", in: "0123456789abc\nnext\n", want: "01234567 … (5 bytes cut)\nnext", max: 8},
		{name: "a 3 MiB line", in: big + "\nlast\n", want: strings.Repeat("a", 4096) + " … (3141632 bytes cut)\nlast", max: 4096},
		{name: "the cut does not split a character", in: "abcdefgé\n", want: "abcdefg … (2 bytes cut)", max: 8},
		{name: "empty lines stay", in: "a\n\nb\n", want: "a\n\nb", max: 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readLogTail(strings.NewReader(tc.in), tc.max)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			// The same through a reader that returns one byte at a time.
			got, err = readLogTail(iotest.OneByteReader(strings.NewReader(tc.in)), tc.max)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReadLogTailKeepsWhatCameBeforeAnError(t *testing.T) {
	boom := errors.New("stream reset")
	got, err := readLogTail(io.MultiReader(strings.NewReader("one\ntw"), iotest.ErrReader(boom)), 8)
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, "one\ntw", got)
}
