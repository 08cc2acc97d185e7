package reliability_test

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel kill a gateway process if the test binary
// dies without cleaning up (a go test timeout, a crash).
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
