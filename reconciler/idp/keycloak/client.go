package keycloak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/allot-dev/allot/reconciler/idp"
	"github.com/allot-dev/allot/reconciler/idp/restapi"
)

// do sends one admin API request: path is below the realm's admin URL,
// in is sent as JSON, a 2xx answer's JSON body is decoded into out. A 401
// gets a fresh token and one more try. It returns the answer's headers.
func (p *Provider) do(ctx context.Context, method, path string, query url.Values, in, out any) (http.Header, error) {
	target := p.admin + path
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return nil, err
		}
	}
	op := method + " " + path
	for attempt := 0; ; attempt++ {
		token, err := p.tokens.Get(ctx)
		if err != nil {
			return nil, err
		}
		req, err := http.NewRequestWithContext(ctx, method, target, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Accept", "application/json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := p.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("keycloak %s: %w", op, err)
		}
		data, err := restapi.ReadBody(resp)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("keycloak %s: %w", op, err)
		}
		if resp.StatusCode == http.StatusUnauthorized && attempt == 0 {
			p.tokens.Invalidate(token)
			continue
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil, statusError(op, resp, data)
		}
		if out != nil && len(data) > 0 {
			if err := json.Unmarshal(data, out); err != nil {
				return nil, fmt.Errorf("keycloak %s: decode the answer: %w", op, err)
			}
		}
		return resp.Header, nil
	}
}

// statusError turns an error answer into an error wrapping the idp error
// its status stands for.
func statusError(op string, resp *http.Response, data []byte) error {
	msg := fmt.Sprintf("keycloak %s: %s: %s", op, resp.Status, errorText(data))
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("%s: %w", msg, idp.ErrUnauthorized)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", msg, idp.ErrNotFound)
	case http.StatusConflict:
		return fmt.Errorf("%s: %w", msg, idp.ErrConflict)
	case http.StatusTooManyRequests:
		return fmt.Errorf("%s: %w", msg, &idp.RateLimitError{RetryAfter: restapi.RetryAfter(resp.Header, time.Now())})
	}
	return errors.New(msg)
}

// errorText is the message of a Keycloak error body ({"errorMessage"} or
// {"error", "error_description"}), or the start of the body.
func errorText(data []byte) string {
	var body struct {
		ErrorMessage string `json:"errorMessage"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	if json.Unmarshal(data, &body) == nil {
		switch {
		case body.ErrorMessage != "":
			return body.ErrorMessage
		case body.Description != "":
			return body.Error + ": " + body.Description
		case body.Error != "":
			return body.Error
		}
	}
	text := strings.TrimSpace(string(data))
	if len(text) > 200 {
		text = text[:200] + "..."
	}
	return text
}
