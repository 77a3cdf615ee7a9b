"""The Debian packages (packaging/cpack.cmake, docs/deployment.md#web-hosts-certfetch).

`cpack -G DEB` on the build folder writes renewer_*.deb and certfetch_*.deb
into a temporary folder; then:

- contents (dpkg-deb -c): exactly the files each package promises, owned by
  root, the binary 0755 and stripped; the packaged units start /usr/bin/NAME;
  the version is project(VERSION) and the binary reports it;
- Depends (dpkg-deb -f): the packages of the libraries the binary itself
  links (readelf NEEDED, dpkg -S), no more, no fewer: certfetch does not drag
  in what only renewer loads;
- lintian: no error, and no warning that packaging/*.lintian-overrides does
  not name with its reason;
- the certfetch package installed with `dpkg --root` into a minimal root made
  of only its dependency closure (as test_image.py makes the image's root,
  with a dpkg database listing just those packages): dpkg accepts it there,
  `certfetch --version` runs under chroot and a fetch from a `dir:` store
  writes the three files. The same root without libcurl's package in its
  database is refused by dpkg (so the Depends check can fail).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build"))
BINARIES = {name: os.path.join(BUILD_DIR, "bin", name) for name in ("renewer", "certfetch")}
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "renewer"))
from test_image import owner_packages, shared_libraries  # noqa: E402

EXPECTED = {
    "certfetch": {"./usr/bin/certfetch", "./lib/systemd/system/certfetch.service",
                  "./lib/systemd/system/certfetch.timer", "./usr/share/doc/certfetch/changelog.gz",
                  "./usr/share/doc/certfetch/copyright",
                  "./usr/share/doc/certfetch/examples/certfetch-snippet.conf",
                  "./usr/share/lintian/overrides/certfetch"},
    "renewer": {"./usr/bin/renewer", "./lib/systemd/system/renewer.service", "./lib/systemd/system/renewer.timer",
                "./usr/share/doc/renewer/changelog.gz", "./usr/share/doc/renewer/copyright",
                "./usr/share/doc/renewer/examples/renewer.cron", "./usr/share/lintian/overrides/renewer"},
}


def run(argv, **kwargs):
    kwargs.setdefault("timeout", 120)
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def project_version():
    with open(os.path.join(SOURCE_DIR, "CMakeLists.txt"), encoding="utf-8") as f:
        return re.search(r"project\(renewer VERSION (\S+)", f.read()).group(1)


def needed(binary):
    """The sonames `binary` links directly (its NEEDED entries)."""
    out = run(["readelf", "-d", binary], check=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def depends_names(field):
    """Package names of a Depends field (first alternative, versions dropped)."""
    return {group.split("|")[0].split("(")[0].strip().split(":")[0] for group in field.split(",") if group.strip()}


def installed_graph():
    """{installed package: its Pre-Depends and Depends, each group as a list
    of alternatives}, from one dpkg-query call."""
    out = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}\t${Package}\t${Pre-Depends},${Depends}\n"],
              check=True).stdout
    graph = {}
    for line in out.splitlines():
        status, package, depends = line.split("\t")
        if not status.startswith("ii"):
            continue
        graph[package] = [[a.split("(")[0].strip().split(":")[0] for a in group.split("|")]
                          for group in depends.split(",") if group.strip()]
    return graph


def closure(packages):
    """The packages and everything they depend on, as installed here (the
    first installed alternative of each group)."""
    graph = installed_graph()
    seen, todo = set(), list(packages)
    while todo:
        package = todo.pop()
        if package in seen:
            continue
        seen.add(package)
        for group in graph[package]:
            chosen = next((a for a in group if a in graph), None)
            if chosen and chosen not in seen:
                todo.append(chosen)
    return seen


def build_root(folder, packages):
    """A root of only `packages`' files (dpkg -L), with the host's merged-/usr
    links, and a dpkg database that lists exactly those packages."""
    root = os.path.join(folder, "root")
    os.mkdir(root)
    for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        if os.path.islink("/" + top):
            os.symlink(os.readlink("/" + top), os.path.join(root, top))
    listing = run(["dpkg", "-L", *sorted(packages)], check=True).stdout
    for path in listing.splitlines():
        if not path.startswith("/") or not os.path.lexists(path):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            continue
        dest = root + os.path.realpath(os.path.dirname(path)) + "/" + os.path.basename(path)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.lexists(dest):
            continue
        if os.path.islink(path):
            os.symlink(os.readlink(path), dest)
        else:
            shutil.copy2(path, dest)
    admin = os.path.join(root, "var", "lib", "dpkg")
    for sub in ("info", "updates", "triggers"):
        os.makedirs(os.path.join(admin, sub), exist_ok=True)
    status = run(["dpkg-query", "-s", *sorted(packages)], check=True).stdout
    with open(os.path.join(admin, "status"), "w", encoding="utf-8") as f:
        f.write(status.strip() + "\n")
    os.makedirs(os.path.join(root, "tmp"), mode=0o1777, exist_ok=True)
    return root


def chroot(root, argv):
    tool = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
    attempts = [[tool, root], ["unshare", "--user", "--map-root-user", tool, root]]
    for prefix in attempts:
        r = run(prefix + argv, timeout=60, env={"PATH": "/usr/bin:/bin"})
        if r.returncode != 0 and re.search(r"(chroot|unshare): .*(not permitted|Permission denied)", r.stderr):
            continue
        return r
    raise unittest.SkipTest("cannot chroot here (needs root or user namespaces)")


class Packages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in BINARIES.values():
            if not os.access(path, os.X_OK):
                raise unittest.SkipTest(f"{path} is not built")
        for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps"):
            if not shutil.which(tool):
                raise unittest.SkipTest(f"no {tool} (not a Debian build host)")
        if any(re.search(r"lib(asan|ubsan|tsan)", p) for p in shared_libraries(BINARIES["certfetch"])):
            raise unittest.SkipTest("sanitizer build: the packages are built from a plain build")
        cls.tmp = tempfile.mkdtemp(prefix="renewer-packages-")
        started = time.monotonic()
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B", cls.tmp],
                cwd=cls.tmp, timeout=300)
        if r.returncode != 0:
            shutil.rmtree(cls.tmp)
            raise AssertionError("cpack failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
        cls.debs = {}
        for name in os.listdir(cls.tmp):
            m = re.fullmatch(r"(renewer|certfetch)_([^_]+)_([a-z0-9]+)\.deb", name)
            if m:
                cls.debs[m.group(1)] = os.path.join(cls.tmp, name)
        print(f"FIGURE packages: cpack built {sorted(os.listdir(cls.tmp))} in {time.monotonic() - started:.1f} s")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, package, name):
        return run(["dpkg-deb", "-f", self.debs[package], name], check=True).stdout.strip()

    def test_two_packages_versioned_from_the_project(self):
        self.assertEqual(sorted(self.debs), ["certfetch", "renewer"])
        version = project_version()
        for package in self.debs:
            self.assertEqual(self.field(package, "Package"), package)
            self.assertEqual(self.field(package, "Version"), version)
            self.assertIn(f"{package} {version}", run([BINARIES[package], "--version"], check=True).stdout)

    def test_contents(self):
        for package, deb in self.debs.items():
            lines = run(["dpkg-deb", "-c", deb], check=True).stdout.splitlines()
            files = {}
            for line in lines:
                mode, owner, _size, _date, _time, path = line.split(None, 5)
                self.assertEqual(owner, "root/root", line)
                if not mode.startswith("d"):
                    files[path] = mode
                else:
                    self.assertEqual(mode, "drwxr-xr-x", line)
            self.assertEqual(set(files), EXPECTED[package], package)
            self.assertEqual(files[f"./usr/bin/{package}"], "-rwxr-xr-x")
            with tempfile.TemporaryDirectory() as tmp:
                run(["dpkg-deb", "-x", deb, tmp], check=True)
                binary = os.path.join(tmp, "usr", "bin", package)
                self.assertNotIn(".debug_line", run(["readelf", "-S", binary], check=True).stdout, "not stripped")
                with open(os.path.join(tmp, "lib", "systemd", "system", package + ".service"),
                          encoding="utf-8") as f:
                    execs = re.findall(r"^ExecStart=(\S+)", f.read(), re.M)
                self.assertEqual(execs, [f"/usr/bin/{package}"], "the packaged unit starts the packaged binary")

    def test_depends_are_the_linked_libraries(self):
        for package, deb in self.debs.items():
            libraries = [p for p in shared_libraries(BINARIES[package]) if os.path.basename(p) in needed(
                BINARIES[package])]
            expected = set(owner_packages(libraries).values())
            self.assertEqual(depends_names(self.field(package, "Depends")), expected, package)
        only_renewer = depends_names(self.field("renewer", "Depends")) - depends_names(
            self.field("certfetch", "Depends"))
        print(f"FIGURE package-depends: certfetch {self.field('certfetch', 'Depends')!r}; "
              f"renewer alone also needs {sorted(only_renewer)}")

    def test_lintian(self):
        lintian = shutil.which("lintian")
        if not lintian:
            raise AssertionError("lintian is not installed (scripts/deps.sh installs it)")
        r = run([lintian, "--no-cfg", "--show-overrides", *self.debs.values()], timeout=300)
        reported = [line for line in r.stdout.splitlines() if re.match(r"[EW]: ", line)]
        self.assertEqual(reported, [], "lintian errors or warnings not overridden in packaging/*.lintian-overrides")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        overridden = re.findall(r"^O: (.*)$", r.stdout, re.M)
        print(f"FIGURE lintian: 0 errors, 0 warnings; {len(overridden)} accepted with a reason: {overridden}")

    def test_install_into_a_minimal_root_and_fetch(self):
        depends = depends_names(self.field("certfetch", "Depends"))
        packages = closure(depends)
        with tempfile.TemporaryDirectory() as tmp:
            root = build_root(tmp, packages)
            r = run(["dpkg", "--root", root, "--log=/dev/null", "--force-not-root", "-i", self.debs["certfetch"]])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            r = chroot(root, ["/usr/bin/certfetch", "--version"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("certfetch " + project_version(), r.stdout)
            self.fetch_inside(root, tmp)
        curl = {p for p in depends if p.startswith("libcurl")}
        self.assertEqual(len(curl), 1, f"certfetch depends on one libcurl package: {sorted(depends)}")
        with tempfile.TemporaryDirectory() as tmp:
            root = build_root(tmp, packages - curl)
            r = run(["dpkg", "--root", root, "--log=/dev/null", "--force-not-root", "-i", self.debs["certfetch"]])
            self.assertNotEqual(r.returncode, 0, "dpkg installed certfetch without its libcurl dependency")
            self.assertIn("dependency problems", r.stdout + r.stderr)
        print(f"FIGURE package-root: certfetch installed by dpkg into a root of {len(packages)} packages "
              f"and fetched there")

    def fetch_inside(self, root, tmp):
        from test_certfetch_e2e import Pki  # noqa: E402 - openssl-made CA and leaf
        pki_dir = os.path.join(tmp, "pki")
        os.mkdir(pki_dir)
        bundle = Pki(pki_dir).bundle(("example.com", "*.example.com"))
        store = os.path.join(root, "tmp", "store")
        os.mkdir(store, 0o700)
        for name, text in (("fullchain.pem", bundle["certificate"]), ("privkey.pem", bundle["private_key"])):
            with open(os.path.join(store, name), "w", encoding="utf-8") as f:
                f.write(text)
        r = chroot(root, ["/usr/bin/certfetch", "--store", "dir:/tmp/store", "--out", "/tmp/tls",
                          "--expect-name", "example.com", "--retry-for", "0"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(os.path.join(root, "tmp", "tls", "fullchain.pem"), encoding="utf-8") as f:
            self.assertEqual(f.read(), bundle["certificate"])
        for name in ("privkey.pem", "chain.pem"):
            self.assertGreater(os.path.getsize(os.path.join(root, "tmp", "tls", name)), 0, name)


if __name__ == "__main__":
    unittest.main()
