// Package scripts tests the operator scripts by running them: their help,
// their refusals, and what they would do (install --dry-run against the real
// unit and environment files; verify and deploy-database against a stand-in
// oodad that records how it was called).
package scripts

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs a script of this directory with env added to a clean
// environment (no OODA_* variables leak in from the developer's shell).
func run(t *testing.T, env []string, name string, args ...string) result {
	t.Helper()
	return runCmd(t, env, append([]string{"./" + name}, args...)...)
}

func runCmd(t *testing.T, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OODA_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return result{code, out.String(), errb.String()}
}

func TestHelpNamesEveryOption(t *testing.T) {
	t.Parallel()
	for script, options := range map[string][]string{
		"verify":          {"--state", "--oodad", "--help", "OODA_STATE_DSN"},
		"deploy-database": {"--state", "--daemon-user", "--dry-run", "--oodad", "--help"},
		"install":         {"--prefix", "--binary", "--dry-run", "--help"},
		"check":           {"--help"},
	} {
		t.Run(script, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, script, "--help")
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, "Usage: scripts/"+script) {
				t.Fatalf("help does not start with the usage line:\n%s", r.stdout)
			}
			for _, o := range append(options, "Exit codes:") {
				if !strings.Contains(r.stdout, o) {
					t.Errorf("help does not mention %s", o)
				}
			}
		})
	}
}

func TestUnknownOptionIsAUsageError(t *testing.T) {
	t.Parallel()
	for _, script := range []string{"verify", "deploy-database", "install", "check"} {
		r := run(t, nil, script, "--frobnicate")
		if r.code != 2 || !strings.Contains(r.stderr, "--frobnicate") {
			t.Errorf("%s --frobnicate: exit %d, stderr %q", script, r.code, r.stderr)
		}
	}
}

func TestVerifyNeedsAState(t *testing.T) {
	t.Parallel()
	r := run(t, nil, "verify")
	if r.code != 2 || !strings.Contains(r.stderr, "--state") || !strings.Contains(r.stderr, "OODA_STATE_DSN") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
}

// fakeOodad writes an oodad stand-in that appends its arguments to a log,
// one call a line, and exits with $FAKE_EXIT_<subcommand> (default 0).
func fakeOodad(t *testing.T) (path, log string) {
	t.Helper()
	dir := t.TempDir()
	path, log = filepath.Join(dir, "oodad"), filepath.Join(dir, "calls")
	script := `#!/usr/bin/env bash
echo "$*" >> "` + log + `"
var="FAKE_EXIT_$1"
exit "${!var:-0}"
`
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path, log
}

func calls(t *testing.T, log string) []string {
	t.Helper()
	b, err := os.ReadFile(log)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

const dsn = "sqlserver://sa:secret@db:1433?database=Hartonomous"

func TestVerifyRunsOodadVerifyAndPassesItsVerdictOn(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		env    []string
		args   []string
		onPath bool
		code   int
	}{
		{"Passes", nil, []string{"--state", dsn}, false, 0},
		{"ChecksFail", []string{"FAKE_EXIT_verify=1"}, []string{"--state", dsn}, false, 1},
		{"FromEnvironmentAndPath", []string{"OODA_STATE_DSN=" + dsn}, nil, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			oodad, log := fakeOodad(t)
			env := c.env
			args := c.args
			if c.onPath {
				env = append(env, "PATH="+filepath.Dir(oodad)+":"+os.Getenv("PATH"))
			} else {
				args = append(args, "--oodad", oodad)
			}
			r := run(t, env, "verify", args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, c.code, r.stderr)
			}
			if got := calls(t, log); len(got) != 1 || got[0] != "verify --state "+dsn {
				t.Fatalf("oodad called as %q", got)
			}
		})
	}
	// A PATH with bash and no oodad.
	onlyBash := t.TempDir()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bash, filepath.Join(onlyBash, "bash")); err != nil {
		t.Fatal(err)
	}
	r := run(t, []string{"PATH=" + onlyBash}, "verify", "--state", dsn)
	if r.code != 2 || !strings.Contains(r.stderr, "--oodad") {
		t.Fatalf("no oodad on PATH: exit %d, %q", r.code, r.stderr)
	}
}

func TestDeployDatabase(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name  string
		env   []string
		args  []string
		code  int
		calls []string
	}{
		{"MigrateThenVerify", nil, []string{"--daemon-user", "oodad"}, 0,
			[]string{"migrate --state " + dsn + " --daemon-user oodad", "verify --state " + dsn}},
		{"DryRunOnlyPrints", nil, []string{"--dry-run"}, 0,
			[]string{"migrate --state " + dsn + " --dry-run"}},
		{"MigrationFailsNoVerify", []string{"FAKE_EXIT_migrate=1"}, nil, 1,
			[]string{"migrate --state " + dsn}},
		{"VerifyFails", []string{"FAKE_EXIT_verify=1"}, nil, 1,
			[]string{"migrate --state " + dsn, "verify --state " + dsn}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			oodad, log := fakeOodad(t)
			r := run(t, c.env, "deploy-database", append([]string{"--state", dsn, "--oodad", oodad}, c.args...)...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %s", r.code, c.code, r.stderr)
			}
			got := calls(t, log)
			if strings.Join(got, "\n") != strings.Join(c.calls, "\n") {
				t.Fatalf("oodad calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.calls, "\n"))
			}
		})
	}
	if r := run(t, nil, "deploy-database"); r.code != 2 || !strings.Contains(r.stderr, "--state") {
		t.Fatalf("no state: exit %d, %q", r.code, r.stderr)
	}
}

// TestInstallDryRun runs the installer against the repository's real unit
// and environment file: every command is printed, nothing is installed.
func TestInstallDryRun(t *testing.T) {
	t.Parallel()
	prefix := t.TempDir()
	unitBefore := exists("/etc/systemd/system/oodad.service")
	envBefore := exists("/etc/oodad/oodad.env")

	r := run(t, nil, "install", "--dry-run", "--prefix", prefix)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	repo, _ := filepath.Abs("..")
	for _, want := range []string{
		"+ env CGO_ENABLED=0 go build -trimpath -o ", "./cmd/oodad",
		"./cmd/oodactl",
		prefix + "/bin/oodad",
		prefix + "/bin/oodactl",
		"+ install -D -m 0644 " + repo + "/systemd/oodad.service /etc/systemd/system/oodad.service",
		// A prefix other than /usr/local moves ExecStart with the binary.
		"/usr/local/bin/oodad\\|" + prefix + "/bin/oodad",
		"+ systemctl daemon-reload",
		"Dry run: nothing was changed",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if userExists(t) {
		if !strings.Contains(r.stderr, "user oodad exists") {
			t.Error("existing user not reported")
		}
	} else if !strings.Contains(r.stdout, "+ useradd --system") {
		t.Error("no useradd --system")
	}
	// The environment file is installed only where there is none.
	if envBefore {
		if strings.Contains(r.stdout, "/etc/oodad/oodad.env\n") || !strings.Contains(r.stderr, "/etc/oodad/oodad.env exists; kept") {
			t.Error("would overwrite the operator's environment file")
		}
	} else if !strings.Contains(r.stdout, "+ install -D -m 0640 -o root -g oodad "+repo+"/systemd/oodad.env.example /etc/oodad/oodad.env") {
		t.Error("would not install the environment file")
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}

	entries, err := os.ReadDir(prefix)
	if err != nil || len(entries) != 0 {
		t.Fatalf("the dry run wrote under the prefix: %v %v", entries, err)
	}
	if exists("/etc/systemd/system/oodad.service") != unitBefore || exists("/etc/oodad/oodad.env") != envBefore {
		t.Fatal("the dry run changed /etc")
	}
}

func TestInstallDryRunWithPrebuiltBinaries(t *testing.T) {
	t.Parallel()
	bin := t.TempDir()
	for _, name := range []string{"oodad", "oodactl"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := run(t, nil, "install", "--dry-run", "--prefix", "/usr/local", "--binary", filepath.Join(bin, "oodad"))
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "go build") {
		t.Error("builds although binaries were given")
	}
	for _, want := range []string{
		"+ install -D -m 0755 " + filepath.Join(bin, "oodad") + " /usr/local/bin/oodad",
		"+ install -D -m 0755 " + filepath.Join(bin, "oodactl") + " /usr/local/bin/oodactl",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// The default prefix needs no rewrite of the unit.
	if strings.Contains(r.stdout, "sed -i") {
		t.Error("rewrites the unit for the default prefix")
	}

	if r := run(t, nil, "install", "--dry-run", "--binary", filepath.Join(bin, "missing")); r.code != 2 {
		t.Errorf("missing --binary: exit %d", r.code)
	}
	if r := run(t, nil, "install", "--dry-run", "--prefix", "relative/dir"); r.code != 2 {
		t.Errorf("relative --prefix: exit %d", r.code)
	}
}

// TestInstallRefusesNonRootWithoutDryRun runs the installer as an
// unprivileged user (nobody, through setpriv, when the test runs as root).
func TestInstallRefusesNonRootWithoutDryRun(t *testing.T) {
	t.Parallel()
	argv := []string{"./install", "--prefix", t.TempDir()}
	if os.Geteuid() == 0 {
		argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}, argv...)
	}
	r := runCmd(t, nil, argv...)
	if r.code != 2 || !strings.Contains(r.stderr, "must run as root") || !strings.Contains(r.stderr, "--dry-run") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r.stdout != "" {
		t.Fatalf("printed commands before refusing: %q", r.stdout)
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func userExists(t *testing.T) bool {
	t.Helper()
	return exec.Command("id", "-u", "oodad").Run() == nil
}
