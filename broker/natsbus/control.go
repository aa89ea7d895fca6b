package natsbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// Control service names.
const (
	ServiceName   = "hartonomous-ooda"
	ControlPrefix = "hartonomous.ooda.ctl"
)

// Errors a Controller returns to say the request was wrong, not the daemon.
var (
	ErrBadRequest = errors.New("bad request")
	ErrNotFound   = errors.New("not found")
	ErrConflict   = errors.New("conflict")
)

// Controller is what the control service asks of the daemon.
type Controller interface {
	Trigger(ctx context.Context, req TriggerRequest) (TriggerResponse, error)
	Status(ctx context.Context) (any, error)
	Cycles(ctx context.Context, limit int) (any, error)
	Cycle(ctx context.Context, id string) (any, error)
	Pause(ctx context.Context, req PauseRequest) error
	Resume(ctx context.Context, req PauseRequest) error
	DeadLetters(ctx context.Context, limit int) (any, error)
	Redrive(ctx context.Context, req RedriveRequest) error
	Approvals(ctx context.Context, limit int) (any, error)
	Approve(ctx context.Context, req ApprovalRequest) (any, error)
	Reject(ctx context.Context, req ApprovalRequest) (any, error)
	// Policy is the effective policy, every field present.
	Policy(ctx context.Context) (any, error)
	// WhatIf runs Orient and Decide on an observation with the current
	// policy and changes nothing.
	WhatIf(ctx context.Context, req WhatIfRequest) (any, error)
}

// WhatIfRequest is the body of ctl.whatif: an observation in the format
// `oodactl show --json CYCLE` prints (ooda/observation.schema.json).
type WhatIfRequest struct {
	Observation json.RawMessage `json:"observation"`
}

// RedriveRequest is the body of ctl.redrive.
type RedriveRequest struct {
	ID int64  `json:"id"`
	By string `json:"by,omitempty"`
}

// ApprovalRequest is the body of ctl.approve and ctl.reject.
type ApprovalRequest struct {
	ID     string `json:"id"`
	By     string `json:"by"`
	Reason string `json:"reason"`
}

// TriggerRequest is the body of ctl.trigger.
type TriggerRequest struct {
	Reason string `json:"reason"`
	Key    string `json:"key,omitempty"`
	By     string `json:"by,omitempty"`
}

// TriggerResponse answers ctl.trigger.
type TriggerResponse struct {
	CycleID string `json:"cycle_id"`
	Started bool   `json:"started"`
}

// PauseRequest is the body of ctl.pause and ctl.resume.
type PauseRequest struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// ListRequest is the body of the listing endpoints.
type ListRequest struct {
	Limit int `json:"limit,omitempty"`
}

// CycleRequest is the body of ctl.cycle.
type CycleRequest struct {
	ID string `json:"id"`
}

// AddControl registers the control service on nc.
func AddControl(nc *nats.Conn, version string, c Controller) (micro.Service, error) {
	svc, err := micro.AddService(nc, micro.Config{
		Name:        ServiceName,
		Version:     version,
		Description: "Hartonomous OODA daemon control: trigger cycles, read history, pause and resume",
	})
	if err != nil {
		return nil, fmt.Errorf("natsbus: control service: %w", err)
	}
	g := svc.AddGroup(ControlPrefix)
	endpoints := map[string]func(context.Context, []byte) (any, error){
		"trigger": with(c.Trigger),
		"status":  func(ctx context.Context, _ []byte) (any, error) { return c.Status(ctx) },
		"cycles":  with(func(ctx context.Context, r ListRequest) (any, error) { return c.Cycles(ctx, limit(r.Limit)) }),
		"cycle": with(func(ctx context.Context, r CycleRequest) (any, error) {
			if r.ID == "" {
				return nil, fmt.Errorf("%w: id is required", ErrBadRequest)
			}
			return c.Cycle(ctx, r.ID)
		}),
		"pause": with(func(ctx context.Context, r PauseRequest) (any, error) {
			return map[string]bool{"paused": true}, c.Pause(ctx, r)
		}),
		"resume": with(func(ctx context.Context, r PauseRequest) (any, error) {
			return map[string]bool{"paused": false}, c.Resume(ctx, r)
		}),
		"redrive": with(func(ctx context.Context, r RedriveRequest) (any, error) {
			return map[string]int64{"redriven": r.ID}, c.Redrive(ctx, r)
		}),
		"approvals":   with(func(ctx context.Context, r ListRequest) (any, error) { return c.Approvals(ctx, limit(r.Limit)) }),
		"approve":     with(c.Approve),
		"reject":      with(c.Reject),
		"deadletters": with(func(ctx context.Context, r ListRequest) (any, error) { return c.DeadLetters(ctx, limit(r.Limit)) }),
		"policy":      func(ctx context.Context, _ []byte) (any, error) { return c.Policy(ctx) },
		"whatif": with(func(ctx context.Context, r WhatIfRequest) (any, error) {
			if len(r.Observation) == 0 {
				return nil, fmt.Errorf("%w: observation is required", ErrBadRequest)
			}
			return c.WhatIf(ctx, r)
		}),
	}
	for name, fn := range endpoints {
		handler := micro.HandlerFunc(func(req micro.Request) {
			res, err := fn(context.Background(), req.Data())
			if err != nil {
				code := "500"
				switch {
				case errors.Is(err, ErrBadRequest):
					code = "400"
				case errors.Is(err, ErrNotFound):
					code = "404"
				case errors.Is(err, ErrConflict):
					code = "409"
				}
				_ = req.Error(code, err.Error(), nil)
				return
			}
			_ = req.RespondJSON(res)
		})
		if err := g.AddEndpoint(name, handler); err != nil {
			_ = svc.Stop()
			return nil, fmt.Errorf("natsbus: control endpoint %s: %w", name, err)
		}
	}
	return svc, nil
}

// with adapts a handler of a typed request to the raw request body, which
// it decodes strictly.
func with[Req, Res any](fn func(context.Context, Req) (Res, error)) func(context.Context, []byte) (any, error) {
	return func(ctx context.Context, body []byte) (any, error) {
		var r Req
		if err := decode(body, &r); err != nil {
			return nil, err
		}
		return fn(ctx, r)
	}
}

func limit(n int) int {
	if n <= 0 || n > 1000 {
		return 50
	}
	return n
}

// decode reads a request body strictly; an empty body is an empty request.
func decode(body []byte, v any) error {
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request is not valid JSON for this endpoint: %v", ErrBadRequest, err)
	}
	return nil
}
