"""The fault suite: runs killed with SIGKILL at chosen moments, resumed, compared bit for bit."""
