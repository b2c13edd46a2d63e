package agent

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"unicode/utf8"
)

// TerminationLog is the file Kubernetes reads a container's termination
// message from (the container's terminationMessagePath, which the injector
// sets on the init container): `kubectl describe pod` shows it as the
// container's last state, so that a pod that cannot start says why.
const TerminationLog = "/dev/termination-log"

// MaxTerminationMessage is the most a termination message holds: the
// kubelet keeps 4 KiB of one container's message.
const MaxTerminationMessage = 4096

// truncatedNote ends a message cut to MaxTerminationMessage.
const truncatedNote = "\n… (cut at 4 KiB; the container's log has all of it)"

// TerminationMessage is err as a termination message: the init mode's
// error names each missing secret, its reference and the backend's answer
// (never a value: no error of the agent carries one), cut to at most
// MaxTerminationMessage bytes of valid UTF-8.
func TerminationMessage(err error) string {
	msg := strings.ToValidUTF8("secret-injector: "+err.Error(), "?")
	if len(msg) <= MaxTerminationMessage {
		return msg
	}
	cut := MaxTerminationMessage - len(truncatedNote)
	for cut > 0 && !utf8.RuneStart(msg[cut]) {
		cut--
	}
	return msg[:cut] + truncatedNote
}

// WriteTerminationMessage writes TerminationMessage(err) to path if the
// file exists, as the kubelet makes it in a container; elsewhere (a
// developer's machine) it writes nothing and returns nil. It never
// creates the file.
func WriteTerminationMessage(path string, err error) error {
	f, openErr := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if errors.Is(openErr, fs.ErrNotExist) {
		return nil
	}
	if openErr != nil {
		return openErr
	}
	_, werr := f.WriteString(TerminationMessage(err))
	return errors.Join(werr, f.Close())
}
