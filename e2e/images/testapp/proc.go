package main

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// agentTokenPath is where the injected agent containers mount their
// projected service-account token (injector.TokenPath; a test keeps the two
// equal without this binary importing the injector).
const agentTokenPath = "/var/run/secrets/tradepulse.io/serviceaccount/token"

// agentComm is the comm (the first 15 bytes of the executable's name) of
// the agent processes.
const agentComm = "secret-injector"

// tokenRead is whether the app could read one agent's token; never the
// token.
type tokenRead struct {
	PID      int    `json:"pid"`
	Readable bool   `json:"readable"`
	Errno    string `json:"errno,omitempty"` // EACCES
	Error    string `json:"error,omitempty"` // permission denied
}

// readAgentTokens tries, for every process under procDir whose comm is the
// agent's, to read the agent's token through /proc/PID/root.
func readAgentTokens(procDir string) ([]tokenRead, error) {
	entries, err := os.ReadDir(procDir)
	if err != nil {
		return nil, err
	}
	res := []tokenRead{}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		comm, err := os.ReadFile(filepath.Join(procDir, e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != agentComm {
			continue
		}
		r := tokenRead{PID: pid}
		_, err = os.ReadFile(filepath.Join(procDir, e.Name(), "root", agentTokenPath))
		if err == nil {
			r.Readable = true
		} else {
			r.Errno, r.Error = errnoOf(err)
		}
		res = append(res, r)
	}
	sort.Slice(res, func(i, j int) bool { return res[i].PID < res[j].PID })
	return res, nil
}

// errnoOf returns the errno's name and text when err carries one
// ("EACCES", "permission denied"), else "" and err's text.
func errnoOf(err error) (name, text string) {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno), errno.Error()
	}
	return "", err.Error()
}

// errText is errnoOf in one string: "EACCES (permission denied)".
func errText(err error) string {
	name, text := errnoOf(err)
	if name == "" {
		return text
	}
	return name + " (" + text + ")"
}
