"""Evidence of a failed faults test, kept (docs/architecture.md#crash-safety).

A faults suite runs many processes (Pebble, tests/fakeaws, renewer children
killed at a phase) whose logs live in temporary folders the cleanups remove.
A failure that shows once in several runs is then unexplainable. KeepLogs is
a unittest.TestCase mixin: when a test fails or errors (a subTest included),
it copies what the test names in evidence() -- work folders, peer logs -- and
the stderr of every child it spawned into

    $BUILD_DIR/test-logs/faults-<Class>.<test>-<pid>-<n>/

before the folders are removed, and prints that path on stderr (it shows in
`ctest --output-on-failure`). Passing tests keep nothing.
"""

import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
LOG_DIR = os.environ.get("RENEWER_TEST_LOGS") or os.path.join(BUILD_DIR, "test-logs")
# Logs bigger than this are cut to their tail (a runaway peer must not fill the disk).
MAX_FILE_BYTES = 8 << 20
_kept = [0]


def _copy_tail(src, dst):
    size = os.path.getsize(src)
    with open(src, "rb") as f_in, open(dst, "wb") as f_out:
        if size > MAX_FILE_BYTES:
            f_in.seek(size - MAX_FILE_BYTES)
            f_out.write(b"[... first %d bytes cut ...]\n" % (size - MAX_FILE_BYTES))
        shutil.copyfileobj(f_in, f_out)


def copy_tree(src, dst):
    """Copies files and folders of src (symlinks as links, sockets and fifos
    skipped), each file cut to its last MAX_FILE_BYTES."""
    if os.path.isfile(src):
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        _copy_tail(src, dst)
        return
    for root, dirs, files in os.walk(src):
        target = os.path.join(dst, os.path.relpath(root, src))
        os.makedirs(target, exist_ok=True)
        for name in dirs + files:
            path = os.path.join(root, name)
            out = os.path.join(target, name)
            try:
                if os.path.islink(path):
                    os.symlink(os.readlink(path), out)
                elif os.path.isfile(path):
                    _copy_tail(path, out)
            except OSError as e:
                print("keep_logs: cannot copy %s: %s" % (path, e), file=sys.stderr)


class KeepLogs:
    """Mixin (before unittest.TestCase in the bases). Subclasses override
    evidence(); children started with started_child() and folders given to
    defer_removal() are included and removed after the copy."""

    def evidence(self):
        """[(label, path)] to keep when this test fails."""
        return []

    def started_child(self, name, stderr_text):
        """Registers a child whose stderr (a callable returning text) is kept."""
        self._keep_children.append((name, stderr_text))

    def defer_removal(self, path):
        """Removes `path` after the test, once a failure's copy is made."""
        self._keep_remove.append(path)
        return path

    def run(self, result=None):
        self._keep_children = []
        self._keep_remove = []
        if result is None:  # run outside a runner: nothing records failures
            return super().run(result)
        before = len(result.failures) + len(result.errors)
        try:
            return super().run(result)
        finally:
            if len(result.failures) + len(result.errors) > before:
                self._keep_evidence()
            for path in self._keep_remove:
                shutil.rmtree(path, ignore_errors=True)

    def _keep_evidence(self):
        _kept[0] += 1
        folder = os.path.join(LOG_DIR, "faults-%s.%s-%d-%d" % (type(self).__name__, self._testMethodName,
                                                                os.getpid(), _kept[0]))
        try:
            os.makedirs(folder, exist_ok=True)
            for i, (name, stderr_text) in enumerate(self._keep_children):
                with open(os.path.join(folder, "child-%02d-%s.stderr" % (i, name)), "w") as f:
                    f.write(stderr_text())
            for label, path in self.evidence() + [("removed-%d" % i, p) for i, p in enumerate(self._keep_remove)]:
                if path and os.path.exists(path):
                    copy_tree(path, os.path.join(folder, label))
            with open(os.path.join(folder, "KEPT"), "w") as f:
                f.write("%s failed at %s\n" % (self.id(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        except OSError as e:
            print("keep_logs: could not keep everything in %s: %s" % (folder, e), file=sys.stderr)
        print("\nKEPT LOGS of failed %s: %s\n" % (self.id(), folder), file=sys.stderr, flush=True)
