//go:build !(((linux && amd64) || darwin) && !noxla)

package backend

func xlaUsable(func(string) (string, bool)) (bool, string) {
	return false, "this binary was built without XLA (-tags noxla or an unsupported platform)"
}

func disableAutoInstall() {}
