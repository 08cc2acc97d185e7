package redisproc

import (
	"os/exec"
	"syscall"
)

// orphanProof makes the kernel kill redis-server if the test binary dies
// without cleaning up.
func orphanProof(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
