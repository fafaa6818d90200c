"""How `python -m compare check FILE.py` runs your code: in a child process that this one
supervises, so that nothing your code does to its process can end the command without a verdict,
or with exit 0 and no PASS printed (docs/supervision.md). This module is the supervisor's side;
compare/cli/child.py is the child's.

    this process (the supervisor)              the child (os.fork, once the options are checked)
    checks the options, makes the report       its own process group; `os._exit` says where it
    paths absolute, forks, forwards SIGINT,    was called before it ends the process; faulthandler
    SIGTERM and SIGHUP to the child's group,   writes a fatal signal's frames to a private file;
    names a long call, ends one past           imports your file and runs the check as before,
    --step-timeout, prints the verdict the     noting in shared memory what it runs (the import,
    child sends, last, decides the exit code,  mine's step 3 ...), sending on a private pipe the
    writes the --json report when the child    verdict, then the exit code the tool chose
    could not

The rule: exit 0 only when the child sent a PASS verdict, said which exit code the tool chose,
and this process printed the verdict. A child that ends any other way (os._exit, SystemExit or a
BaseException escaping your code, a fatal signal, --step-timeout) is the implementation's failure:
one line on stderr naming your file and line where they are known, exit 1, and a --json report
whose verdict is 'error' (or 'interrupted' after a signal to this process). Once the child has
ended, what is left of its process group (a process your code forked) is ended too, before the
verdict is printed: nothing your code started prints after it.

Where the output goes: the child's standard output is this one's (your prints and the tables), and
the verdict is printed here after the child has ended, so it comes last. With `--json -` the child's
standard output is the standard error, and the report (written by the child to a private file) is
copied here to the standard output, which then holds the JSON and nothing else.

Left out: systems without os.fork (Windows: the check runs in this process, unsupervised); the
Python API (compare.check runs in the caller's process: os._exit there cannot be caught); the
recipes, which run none of the user's code.
"""
import json
import os
import select
import signal
import sys
import time

from ..engine import interrupts
from ..engine.errors import EXIT_INTERRUPTED, EXIT_MISMATCH, EXIT_OK, one_line
from ..views.text import hang
from .child import STATE_BYTES, become_child, flush_quietly, in_child, last_user_frame, read_state
from .common import seconds_from_environment

HANG_NOTICE_S = seconds_from_environment("FRAMEWORK_MIRROR_HANG_NOTICE_SECONDS", 10.0)
                            # a call into the user's code running longer than this gets a progress line
GRACE_S = 10.0              # after a forwarded signal, the child's time to write its interrupted report
ENABLED = []                # [True] in `python -m compare` (compare/__main__.py): in-process calls of
                            # compare.cli.main (tests, scripts) run the check where they are


def enable():
    ENABLED[:] = [True]


def wanted():
    """Whether a check about to run should run in a supervised child."""
    return bool(ENABLED) and not in_child() and hasattr(os, "fork") and \
        os.environ.get("FRAMEWORK_MIRROR_SUPERVISE", "1") != "0"


def run(args):
    """Fork the child that runs the check. -> the exit code here; None in the child, which goes on
    to run the check with `args` (a `--json -` report then goes to a private file)."""
    import mmap
    import tempfile

    to_stdout = args.json == "-"
    private = None
    if to_stdout:
        fd, private = tempfile.mkstemp(prefix="framework-mirror-report-", suffix=".json")
        os.close(fd)
    status_r, status_w = os.pipe()
    life_r, life_w = os.pipe()
    dump = tempfile.TemporaryFile()
    block = mmap.mmap(-1, STATE_BYTES)          # anonymous and shared: the child writes, this process reads
    supervisor = Supervisor(args, status_r, dump, block, to_stdout)
    previous = supervisor.forward_signals()
    flush_quietly()
    pid = os.fork()
    if pid == 0:
        os.close(status_r)
        os.close(life_w)
        # --json - and --quiet: the child's standard output is the standard error (the user's prints,
        # whatever a library prints); the report or the verdict, printed here, are stdout's only text
        become_child(status_w, life_r, dump, block, to_stdout or bool(args.quiet))
        if to_stdout:
            args.json, args.json_shown = private, "standard output"
        return None
    os.close(status_w)
    os.close(life_r)
    try:
        os.setpgid(pid, pid)                    # also here: no signal may reach the group before it exists
    except OSError:
        pass
    try:
        return supervisor.wait(pid, private)
    finally:
        supervisor.stop()
        interrupts.restore(previous)
        os.close(life_w)
        os.close(status_r)
        dump.close()
        block.close()
        if private:
            try:
                os.unlink(private)
            except OSError:
                pass


class Supervisor:
    """Waits for the child, reading what it says; forwards signals; decides the exit code."""

    def __init__(self, args, status_r, dump, block, to_stdout):
        self.args, self.fd, self.dump, self.block, self.to_stdout = args, status_r, dump, block, to_stdout
        self.pid = None
        self.parent = os.getpid()
        self.signals, self.killed = [], None        # forwarded signals; why this process killed the child
        self.active = {}                            # impl -> (what, step, since) of a call in flight
        self.started, self.completed = False, 0       # whether a call into the user's code began; steps done
        self.words, self.verdict, self.code, self.ended = [], None, None, None
        self.noticed, self.status, self.dump_seen, self.written = {}, None, 0, set()
        self.buffer = b""

    # signals: forwarded to the child's group; a second one ends it at once
    def forward_signals(self):
        previous = {}
        for number in interrupts.SIGNALS:
            if interrupts.ignored(number):
                continue
            try:
                previous[number] = signal.signal(number, self.on_signal)
            except (ValueError, OSError):
                pass
        return previous

    def on_signal(self, signum, frame):
        if os.getpid() != self.parent:              # the child, before its own handlers are in place
            raise KeyboardInterrupt
        self.signals.append((signum, time.monotonic()))
        if self.pid is not None:
            self.kill(signal.SIGKILL if len(self.signals) > 1 else signum)

    def kill(self, signum):
        for send_to in (os.killpg, os.kill):
            try:
                send_to(self.pid, signum)
                return
            except (ProcessLookupError, PermissionError):
                continue

    def stop(self):
        """Leave no child behind (this process failed, or ends before it)."""
        if self.pid is not None and self.status is None:
            self.kill(signal.SIGKILL)
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass

    # the child's messages
    def read(self, timeout):
        if self.fd is None:
            time.sleep(min(timeout, 0.01))
            return
        try:
            ready, _, _ = select.select([self.fd], [], [], timeout)
        except InterruptedError:
            return
        if not ready:
            return
        data = os.read(self.fd, 1 << 16)
        if not data:
            self.fd = None
            return
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            try:
                self.on_message(json.loads(line))
            except (ValueError, TypeError, KeyError):
                continue                            # not ours (the user's code wrote on the pipe)

    def on_message(self, m):
        if "say" in m:
            self.words.append((m["say"], m["stream"]))
            if m.get("verdict") is not None:
                self.verdict = m["verdict"]
        elif "ended" in m:
            self.ended = m
        elif "exit" in m:
            self.code = m["exit"]
        elif "written" in m:
            self.written.add(m["written"])

    def poll_state(self):
        """What the child runs now, from the shared block (the last state read whole stays)."""
        state = read_state(self.block)
        if state is not None:
            self.completed, self.active = state
            self.started = self.started or bool(self.active) or self.completed > 0

    def wait(self, pid, private):
        self.pid, self.status = pid, None
        for signum, _ in list(self.signals):      # a signal before the fork returned
            self.kill(signum)
        while self.status is None:
            self.read(self.next_wake())
            self.poll_state()
            ending = self.fd is None and self.code is not None     # it said its exit code and closed the pipe
            done, status = os.waitpid(pid, 0 if ending else os.WNOHANG)
            if done:
                self.status = status
                self.end_group()
                while self.fd is not None and select.select([self.fd], [], [], 0)[0]:
                    self.read(0)                    # what it said last
                break
            self.watch_the_clock()
        return self.decide(private)

    def end_group(self):
        """The child has ended: end what your code started in its process group (a process it forked
        that would go on running, and printing, after the verdict), before the verdict is printed."""
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def next_wake(self):
        return 0.02 if self.fd is None else 0.5

    def watch_the_clock(self):
        now = time.monotonic()
        if self.signals and self.killed is None and now - self.signals[0][1] > GRACE_S:
            self.killed = ("interrupted", None)
            self.kill(signal.SIGKILL)
        if not self.active or self.killed is not None:
            return
        impl, (what, step, since) = min(self.active.items(), key=lambda kv: kv[1][2])
        running = now - since
        timeout = getattr(self.args, "step_timeout", None)
        if timeout is not None and running > timeout:
            where, function = self.stack()
            self.killed = ("timeout", (impl, what, step, where, function))
            self.kill(signal.SIGKILL)
            return
        notice_at = self.noticed.get((impl, since), HANG_NOTICE_S)
        if running > notice_at and not self.args.quiet:
            self.noticed[(impl, since)] = notice_at * 2
            where, function = self.stack()
            at = f" ({function} at {where})" if where else ""
            print(hang(f"{one_line(during(impl, what, step))}: still running after {running:.0f} s"
                       f"{at}; --step-timeout SECONDS ends such a call as the implementation's "
                       f"failure"),
                  file=sys.stderr, flush=True)

    def stack(self):
        """Where the child is in the user's code: faulthandler's dump on SIGUSR1. -> (place, function)"""
        self.kill_one(signal.SIGUSR1)
        deadline, size = time.monotonic() + 1.0, -1
        while time.monotonic() < deadline:            # until the dump stops growing
            time.sleep(0.03)
            now = os.fstat(self.dump.fileno()).st_size
            if now == size and now > self.dump_seen:
                break
            size = now
        return self.dumped()

    def dumped(self):
        """The user's frame in what faulthandler wrote since last read. -> (place, function)"""
        text = os.pread(self.dump.fileno(), 1 << 20, self.dump_seen).decode(errors="replace")
        self.dump_seen += len(text.encode(errors="replace"))
        return last_user_frame(text)

    def kill_one(self, signum):
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    # the end
    def decide(self, private):
        """The exit code: the tool's own (which the child sent) when it stands, else the
        implementation's failure (1) or, after a signal to this process, 'interrupted' (130)."""
        if self.code is not None and (self.code != EXIT_OK or self.verdict == "pass"):
            code = self.last_words(self.code)
            if not (self.to_stdout and self.copy_report(private)) and "json" not in self.written:
                if code == EXIT_INTERRUPTED:            # stopped before its report: say so, leave no old one
                    self.write_report("interrupted", "interrupted")
                elif code == EXIT_MISMATCH:             # the user's code failed before there was a report
                    self.write_report("error", f"{self.args.file}: your implementation failed before the check "
                                               f"could report (the line on stderr says where and why)")
            return code
        if self.signals:
            line, verdict, code = "interrupted", "interrupted", EXIT_INTERRUPTED
        else:
            line, verdict, code = self.failure(), "error", EXIT_MISMATCH
        line = one_line(line)                       # your file's path, your exception's text: one line
        print(hang(line if verdict == "interrupted" else f"error: {line}"), file=sys.stderr,
              flush=True)
        self.write_report(verdict, line)
        return code

    def last_words(self, code):
        """Print what the child left to say (the verdict last), in order. -> code"""
        for text, stream in self.words:
            out = sys.stderr if stream == "err" or self.to_stdout else sys.stdout
            try:
                print(text if stream == "out" else hang(one_line(text)), file=out, flush=True)
            except BrokenPipeError:                 # the reader left: the verdict's exit code stands
                from . import silence_stdout
                silence_stdout()
        return code

    def copy_report(self, private):
        """--json -: the child's report to the standard output. -> whether there was one"""
        try:
            with open(private) as f:
                text = f.read()
        except OSError:
            return False
        if not text:
            return False
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
        return True

    def failure(self):
        """The one line for a child that ended without the tool's verdict."""
        file = self.args.file
        status = self.status
        if self.killed and self.killed[0] == "timeout":
            impl, what, step, where, function = self.killed[1]
            inside = f"{function} " if function and function != "<module>" else ""
            message = (f"{where or file}: {inside}ran longer than --step-timeout {self.args.step_timeout:g} s "
                       f"{during(impl, what, step)}; stopped: no verdict (the implementation failed)")
            self.cause = {"ended": f"--step-timeout {self.args.step_timeout:g}", "where": where, "function": function,
                          "implementation": impl if what != "import" else None, "step": step,
                          "during": during(impl, what, step), "message": message}
            return message
        self.cause = self.explain(file, status)
        return self.cause["message"]

    def explain(self, file, status):
        """What ended the child, where, and the one line saying it. -> dict"""
        where, function, how = None, None, None
        if self.ended is not None:
            where, function, how = self.ended.get("where"), self.ended.get("function"), self.ended["ended"]
        elif os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            how = f"signal {signal.Signals(number).name} ({signal.strsignal(number)})" if number in \
                signal.Signals._value2member_map_ else f"signal {number}"
            where, function = self.dumped()
        elif self.code == EXIT_OK:                  # the tool's own exit 0 without a PASS (its output failed)
            return {"ended": None, "where": None, "function": None, "implementation": None, "step": None,
                    "during": self.during_now(), "message": f"{file}: the check ended without a verdict "
                                                            f"{self.during_now()}"}
        else:
            how = f"an exit (status {os.WEXITSTATUS(status)}) the tool did not choose"
        inside = f" in {function}" if function and function != "<module>" else ""
        message = (f"{where or file}: {how}{inside} ended the process {self.during_now()}: "
                   f"no verdict (the implementation failed)")
        impl, what, step = self.current() or (None, None, None)
        return {"ended": how, "where": where, "function": function, "implementation": impl if what != "import" else None,
                "step": step, "during": self.during_now(), "message": message}

    def current(self):
        """The call into the user's code in flight (the latest started). -> (impl, what, step) or None"""
        if not self.active:
            return None
        impl, (what, step, _) = max(self.active.items(), key=lambda kv: kv[1][2])
        return impl, what, step

    def during_now(self):
        if self.active:
            return during(*self.current())
        if not self.started:
            return f"while {self.args.file} was imported"
        return f"after {self.completed} completed step{'s' * (self.completed != 1)}"

    def write_report(self, verdict, line):
        """The --json report of a run the child could not finish: the verdict and why."""
        path = self.args.json
        if not path:
            return
        from ..views.files import write_atomic

        what = getattr(self, "cause", {})
        report = {"recipe": "check", "file": self.args.file, "config": {}, "frameworks": list(self.args.against),
                  "runners": [], "steps": [], "epochs": [], "final_outputs": {}, "evaluation_inputs": [],
                  "summary": {"verdict": verdict, "verdict_reason": line, "passed": False,
                              "steps_completed": self.completed, "interrupted": verdict == "interrupted",
                              "error": None if verdict == "interrupted" else
                              {"file": self.args.file, **what}},
                  "notes": "the check's process ended without a verdict (docs/supervision.md)",
                  "environment": {}, "timing": {}}
        text = json.dumps(report, indent=1)
        if self.to_stdout:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
            return
        try:
            write_atomic(path, lambda f: f.write(text))
        except (OSError, ValueError) as error:
            print(hang(f"error: --json {one_line(error)}"), file=sys.stderr)


def during(impl, what, step):
    names = {"step": "training step", "build": "build", "initial_params": "init_params",
             "network": "network", "predict": "predict", "end_epoch": "end of epoch", "resync": "resync"}
    if what == "import":
        return f"while {impl} was imported"
    at = f" {step}" if step else ""
    return f"in {impl}'s {names.get(what, what)}{at}"
