"""Private user-space PipeWire session for tests/CI, and a `doctor` check.

``PipewireSession`` starts dbus-daemon, pipewire and wireplumber (plus, on
request, Xvfb, xdg-permission-store, xdg-desktop-portal(-gtk) for browser
tests) in a throw-away XDG_RUNTIME_DIR/HOME, so nothing touches the user's real
session or permission store.  Every process gets its own process group; on
teardown the groups and any stray descendants (D-Bus activated services) are
killed by pid.

pytest fixture::

    @pytest.fixture(scope="module")
    def pw_session():
        with PipewireSession() as s, s.environment():   # os.environ points at it meanwhile
            yield s                                      # s.env: environment for subprocesses
"""
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time

from vcam_sharpen.io.pipewire_env import portal_dir


class SessionError(RuntimeError):
    pass


def _descendants(pids):
    """All live descendants of ``pids`` (walks /proc once)."""
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


class PipewireSession:
    def __init__(self, portal=False, display=False, timeout=15.0):
        self.portal, self.display, self.timeout = portal, display or portal, timeout
        self.procs = []          # (name, Popen)
        self.tmp = None
        self.env = None

    # ------------------------------------------------------------ helpers
    def _start(self, name, argv, log=True):
        out = open(os.path.join(self.tmp, f"{name}.log"), "wb") if log else subprocess.DEVNULL
        proc = subprocess.Popen(argv, env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        if log:
            out.close()
        self.procs.append((name, proc))
        return proc

    def _wait(self, what, check):
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    raise SessionError(f"{name} exited with {proc.returncode} while waiting for {what}: "
                                       + self.log_tail(name))
            try:
                if check():
                    return
            except subprocess.TimeoutExpired:   # a probe (pw-cli, dbus-send) hung: try again
                pass
            time.sleep(0.05)
        raise SessionError(f"timed out waiting for {what}")

    def run(self, argv, timeout=5.0, **kw):
        """subprocess.run inside the session, with a hard timeout."""
        return subprocess.run(argv, env=self.env, timeout=timeout, capture_output=True, text=True, **kw)

    def log_tail(self, name, n=800):
        try:
            with open(os.path.join(self.tmp, f"{name}.log"), "rb") as f:
                return f.read().decode(errors="replace")[-n:]
        except OSError:
            return ""

    def _bus_has(self, name):
        r = self.run(["dbus-send", "--session", "--print-reply", "--dest=org.freedesktop.DBus",
                      "/org/freedesktop/DBus", "org.freedesktop.DBus.NameHasOwner", f"string:{name}"])
        return "boolean true" in r.stdout

    # ------------------------------------------------------------ lifecycle
    def start(self):
        if self.tmp:                       # already running (e.g. started, then used in `with`)
            return self
        for tool in ["dbus-daemon", "dbus-send", "pipewire", "wireplumber", "pw-cli"] + \
                (["Xvfb"] if self.display else []):
            if not shutil.which(tool):
                raise SessionError(f"{tool} not installed (see ci-setup.sh)")
        self.tmp = tempfile.mkdtemp(prefix="vcam-pw-")
        run_dir = os.path.join(self.tmp, "run")
        os.mkdir(run_dir, 0o700)
        home = os.path.join(self.tmp, "home")
        os.mkdir(home)
        self.env = dict(os.environ)
        for var in ("PIPEWIRE_REMOTE", "PIPEWIRE_RUNTIME_DIR", "WAYLAND_DISPLAY", "DISPLAY"):
            self.env.pop(var, None)
        self.env.update(
            XDG_RUNTIME_DIR=run_dir, HOME=home,
            # private state dirs: wireplumber state, and the portal permission store db
            XDG_CONFIG_HOME=f"{home}/.config", XDG_DATA_HOME=f"{home}/.local/share",
            XDG_STATE_HOME=f"{home}/.local/state", XDG_CACHE_HOME=f"{home}/.cache",
            DBUS_SESSION_BUS_ADDRESS=f"unix:path={run_dir}/bus",
            XDG_CURRENT_DESKTOP="gnome",   # makes xdg-desktop-portal pick the gtk backend
            GTK_A11Y="none", NO_AT_BRIDGE="1",
        )
        try:
            self._start("dbus", ["dbus-daemon", "--session", "--nofork", "--nopidfile",
                                 f"--address={self.env['DBUS_SESSION_BUS_ADDRESS']}"])
            self._wait("dbus socket", lambda: os.path.exists(f"{run_dir}/bus"))
            self._start("pipewire", ["pipewire"])
            self._wait("pipewire socket", lambda: os.path.exists(f"{run_dir}/pipewire-0"))
            self._start("wireplumber", ["wireplumber"])
            # wireplumber is ready (and will link consumers) once it published the
            # "default" metadata object.
            self._wait("wireplumber", lambda: 'metadata.name = "default"' in
                       self.run(["pw-cli", "ls", "Metadata"]).stdout)
            if self.display:
                disp = self._free_display()
                self._start("xvfb", ["Xvfb", disp, "-screen", "0", "640x480x24", "-nolisten", "tcp"])
                self.env["DISPLAY"] = disp
                self._wait("Xvfb", lambda: os.path.exists(f"/tmp/.X11-unix/X{disp[1:]}"))
            if self.portal:
                self._start_portal()
        except BaseException:
            self.stop()
            raise
        return self

    @staticmethod
    def _free_display():
        for n in range(99, 199):
            if not os.path.exists(f"/tmp/.X11-unix/X{n}") and not os.path.exists(f"/tmp/.X{n}-lock"):
                return f":{n}"
        raise SessionError("no free X display number")

    def _start_portal(self):
        for exe in ("xdg-permission-store", "xdg-desktop-portal-gtk", "xdg-desktop-portal"):
            if not os.path.exists(f"{portal_dir()}/{exe}"):
                raise SessionError(f"{exe} not installed (apt install xdg-desktop-portal xdg-desktop-portal-gtk)")
        # Started explicitly (not D-Bus activated) so they are ours to kill.
        self._start("permission-store", [f"{portal_dir()}/xdg-permission-store", "--replace"])
        self._wait("permission store", lambda: self._bus_has("org.freedesktop.impl.portal.PermissionStore"))
        # Pre-grant camera access to unsandboxed apps (app id ""): otherwise the
        # portal asks through a GTK dialog nobody can click and getUserMedia hangs.
        r = self.run(["dbus-send", "--session", "--print-reply",
                      "--dest=org.freedesktop.impl.portal.PermissionStore",
                      "/org/freedesktop/impl/portal/PermissionStore",
                      "org.freedesktop.impl.portal.PermissionStore.SetPermission",
                      "string:devices", "boolean:true", "string:camera", "string:", "array:string:yes"])
        if r.returncode:
            raise SessionError("cannot pre-grant camera permission: " + r.stderr.strip())
        self._start("portal-gtk", [f"{portal_dir()}/xdg-desktop-portal-gtk", "--replace"])
        self._wait("portal gtk backend", lambda: self._bus_has("org.freedesktop.impl.portal.desktop.gtk"))
        self._start("portal", [f"{portal_dir()}/xdg-desktop-portal", "--replace"])
        self._wait("xdg-desktop-portal", lambda: self._bus_has("org.freedesktop.portal.Desktop"))

    def stop(self):
        """Kill everything we started (process groups, then stray descendants). Idempotent."""
        pids = [p.pid for _, p in self.procs]
        strays = _descendants(pids) if pids else set()
        for name, proc in reversed(self.procs):   # portal first, dbus last
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 2
        for _, proc in self.procs:
            try:
                proc.wait(timeout=max(0.05, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for pid in [p.pid for _, p in self.procs] + sorted(strays):
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for _, proc in self.procs:
            try:
                proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.procs = []
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def apply(self):
        """Export the session environment into os.environ (e.g. for PipewireSink)."""
        os.environ.clear()
        os.environ.update(self.env)

    @contextlib.contextmanager
    def environment(self):
        """apply() for the duration of a with-block, then restore os.environ."""
        saved = dict(os.environ)
        self.apply()
        try:
            yield self
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------- doctor
