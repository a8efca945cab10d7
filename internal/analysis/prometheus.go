package analysis

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

// Prometheus is a Source over Prometheus's HTTP API.
type Prometheus struct{ api promv1.API }

// NewPrometheus is a Source for the Prometheus server at url.
func NewPrometheus(url string) (*Prometheus, error) {
	c, err := api.NewClient(api.Config{Address: url})
	if err != nil {
		return nil, fmt.Errorf("prometheus-url %s: %w", url, err)
	}
	return &Prometheus{api: promv1.NewAPI(c)}, nil
}

// Instant runs an instant query; a query must come down to one series or a scalar.
func (p *Prometheus) Instant(ctx context.Context, query string, at time.Time) (float64, bool, error) {
	v, _, err := p.api.Query(ctx, query, at)
	if err != nil {
		return 0, false, fmt.Errorf("query %q: %w", query, err)
	}
	switch r := v.(type) {
	case *model.Scalar:
		f := float64(r.Value)
		return f, !math.IsNaN(f), nil
	case model.Vector:
		switch len(r) {
		case 0:
			return 0, false, nil
		case 1:
			f := float64(r[0].Value)
			return f, !math.IsNaN(f), nil
		}
		return 0, false, fmt.Errorf("query %q returns %d series; aggregate it to one (e.g. sum(...))", query, len(r))
	}
	return 0, false, fmt.Errorf("query %q returns a %s, not a number", query, v.Type())
}

// Range runs a range query and returns the samples of its one series.
func (p *Prometheus) Range(ctx context.Context, query string, from, to time.Time, step time.Duration) ([]float64, error) {
	v, _, err := p.api.QueryRange(ctx, query, promv1.Range{Start: from, End: to, Step: step})
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	m, ok := v.(model.Matrix)
	if !ok {
		return nil, fmt.Errorf("query %q returns a %s, not a range", query, v.Type())
	}
	switch len(m) {
	case 0:
		return nil, nil
	case 1:
	default:
		return nil, fmt.Errorf("query %q returns %d series; aggregate it to one (e.g. sum(...))", query, len(m))
	}
	out := make([]float64, 0, len(m[0].Values))
	for _, s := range m[0].Values {
		out = append(out, float64(s.Value))
	}
	return out, nil
}
