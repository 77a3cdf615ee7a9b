"""The container image (deploy/Dockerfile), without a Docker engine.

- deploy/Dockerfile: a Debian build stage running scripts/deps.sh --build-only,
  cmake and strip; a bookworm-slim runtime stage that installs exactly
  ca-certificates + deploy/runtime-packages.txt, runs as a non-root user,
  ENTRYPOINT renewer, CMD run.
- deploy/runtime-packages.txt is exact: every shared library the built
  renewer and certfetch load (ldd) belongs (dpkg -S) to a listed package, and
  every listed package provides one of them.
- A root file system made of only the listed packages' files (dpkg -L) plus
  the two binaries runs `renewer --version` and `certfetch --version` under
  chroot; the same root without the libcurl package does not (so the check can
  fail). Skipped, saying why, where chroot is not permitted.
"""

import json
import os
import sys
import re
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
BUILD_DIR = os.environ.get("BUILD_DIR") or os.path.join(SOURCE_DIR, "build")
DOCKERFILE = os.path.join(SOURCE_DIR, "deploy", "Dockerfile")
PACKAGES_FILE = os.path.join(SOURCE_DIR, "deploy", "runtime-packages.txt")
BINARIES = {name: os.path.join(BUILD_DIR, "bin", name) for name in ("renewer", "certfetch")}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def listed_packages():
    """The package names; the Dockerfile feeds the file through `grep -v '^#'`
    to apt-get, so a line is a whole-line comment or one package name."""
    names = []
    for number, line in enumerate(read(PACKAGES_FILE).splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", line):
            raise AssertionError(f"deploy/runtime-packages.txt:{number}: not one package name: {line!r}")
        names.append(line)
    return names


def dockerfile_stages():
    """[(from line, [(instruction, argument), ...]), ...] with continuations joined."""
    text = re.sub(r"\\\n", " ", read(DOCKERFILE))
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, argument = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stages.append((argument.strip(), []))
        elif stages:
            stages[-1][1].append((instruction, re.sub(r"\s+", " ", argument.strip())))
    return stages


def shared_libraries(binary):
    """Paths of the shared libraries `binary` loads, from ldd."""
    r = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30, check=True)
    paths = []
    for line in r.stdout.splitlines():
        m = re.match(r"\s*(\S+)(?: => (\S+))? \(0x[0-9a-f]+\)", line)
        if not m:
            if "not found" in line:
                raise AssertionError(f"ldd {binary}: {line.strip()}")
            continue
        path = m.group(2) or m.group(1)
        if path.startswith("/"):
            paths.append(path)  # linux-vdso.so.1 has no file
    return paths


def owner_packages(paths):
    """{path: Debian package shipping it}, with one dpkg -S call. Merged /usr:
    /lib and /usr/lib are the same folder and dpkg knows one of the two
    spellings, so both are asked."""
    spellings = {}
    for path in paths:
        candidates = {path, os.path.realpath(path)}
        for p in list(candidates):
            if p.startswith("/usr/lib"):
                candidates.add(p[4:])
            elif p.startswith("/lib"):
                candidates.add("/usr" + p)
        for c in candidates:
            spellings[c] = path
    r = subprocess.run(["dpkg", "-S", *sorted(spellings)], capture_output=True, text=True, timeout=60)
    owners = {}
    for line in r.stdout.splitlines():
        package, _, shipped = line.partition(": ")
        if "diversion" in package or shipped.strip() not in spellings:
            continue
        owners[spellings[shipped.strip()]] = package.split(":")[0]  # drop :amd64
    unowned = sorted(set(paths) - set(owners))
    if unowned:
        raise AssertionError(f"no Debian package ships {unowned}")
    return owners


class Dockerfile(unittest.TestCase):
    def test_stages(self):
        stages = dockerfile_stages()
        self.assertEqual(len(stages), 2, [s[0] for s in stages])
        (build_from, build), (runtime_from, runtime) = stages
        self.assertEqual(build_from, "debian:bookworm AS build")
        self.assertEqual(runtime_from, "debian:bookworm-slim")
        build_runs = " && ".join(arg for ins, arg in build if ins == "RUN")
        self.assertIn("scripts/deps.sh --build-only", build_runs)
        self.assertIn("--target renewer certfetch", build_runs)
        self.assertRegex(build_runs, r"strip \S*/renewer \S*/certfetch")

        copies = [arg for ins, arg in runtime if ins == "COPY"]
        self.assertIn("deploy/runtime-packages.txt /tmp/runtime-packages.txt", copies)
        self.assertIn("--from=build /build/bin/renewer /build/bin/certfetch /usr/local/bin/", copies)
        installs = [arg for ins, arg in runtime if ins == "RUN" and "apt-get install" in arg]
        self.assertEqual(len(installs), 1, "one apt-get install in the runtime stage")
        command = installs[0].split("apt-get install", 1)[1].split("&&", 1)[0]
        words = [w for w in re.sub(r"\$\(grep -v '\^#' /tmp/runtime-packages\.txt\)", "@LIST@", command).split()
                 if not w.startswith("-")]
        self.assertEqual(sorted(words), ["@LIST@", "ca-certificates"],
                         "the runtime stage installs exactly ca-certificates + deploy/runtime-packages.txt")
        self.assertIn("--no-install-recommends", command)

        users = [arg for ins, arg in runtime if ins == "USER"]
        self.assertEqual(len(users), 1)
        self.assertEqual(users[0], "10001:10001", "the image runs as the non-root user the tests use")
        self.assertTrue(any("useradd --system --uid 10001" in arg for ins, arg in runtime if ins == "RUN"))
        entrypoint = [json.loads(arg) for ins, arg in runtime if ins == "ENTRYPOINT"]
        cmd = [json.loads(arg) for ins, arg in runtime if ins == "CMD"]
        self.assertEqual(entrypoint, [["/usr/local/bin/renewer"]])
        self.assertEqual(cmd, [["run"]])

    def test_build_only_deps_are_a_subset(self):
        # The build stage relies on --build-only installing the compiler and
        # every -dev package the binaries need; it configures without the
        # tests, so GoogleTest is in the full list only (no flag: everything).
        deps = read(os.path.join(SOURCE_DIR, "scripts", "deps.sh"))
        build = re.search(r"build_packages=\((.*?)\)", deps, re.S).group(1).split()
        everything = re.search(r"\npackages=\((.*?)\n\)", deps, re.S).group(1).split()
        for needed in ("build-essential", "cmake", "pkg-config", "libssl-dev", "libcurl4-openssl-dev"):
            self.assertIn(needed, build)
        self.assertIn('"${build_packages[@]}"', everything)
        for test_only in ("libgtest-dev", "libgmock-dev"):
            self.assertNotIn(test_only, build)
            self.assertIn(test_only, everything)
        build_runs = " && ".join(arg for ins, arg in dockerfile_stages()[0][1] if ins == "RUN")
        self.assertIn("-DBUILD_TESTING=OFF", build_runs, "the build stage has no GoogleTest to build tests with")


class RuntimePackages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for path in BINARIES.values():
            if not os.access(path, os.X_OK):
                raise unittest.SkipTest(f"{path} is not built")
        if not shutil.which("dpkg"):
            raise unittest.SkipTest("not a Debian system (no dpkg)")
        cls.libraries = {name: shared_libraries(path) for name, path in BINARIES.items()}
        if any(re.search(r"lib(asan|ubsan|tsan)", p) for paths in cls.libraries.values() for p in paths):
            raise unittest.SkipTest("sanitizer build: the image is built without sanitizers")
        cls.owners = owner_packages(sorted({p for paths in cls.libraries.values() for p in paths}))

    def test_list_is_exact(self):
        listed = listed_packages()
        self.assertEqual(len(listed), len(set(listed)), "duplicates in deploy/runtime-packages.txt")
        needed = set(self.owners.values())
        missing = {p: [lib for lib, o in self.owners.items() if o == p] for p in needed - set(listed)}
        self.assertEqual(missing, {}, "packages the binaries need but deploy/runtime-packages.txt lacks")
        self.assertEqual(sorted(set(listed) - needed), [],
                         "deploy/runtime-packages.txt lists packages no library of the binaries comes from")
        print(f"FIGURE image-libraries: renewer {len(self.libraries['renewer'])} libs, certfetch "
              f"{len(self.libraries['certfetch'])} libs, from {len(needed)} packages")

    def build_root(self, tmp, packages):
        root = os.path.join(tmp, "root")
        os.mkdir(root)
        # The merged-/usr links of the host (/lib -> usr/lib, ...), so the
        # loader's paths resolve the same way inside.
        for top in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
            if os.path.islink("/" + top):
                os.symlink(os.readlink("/" + top), os.path.join(root, top))
        copied = 0
        r = subprocess.run(["dpkg", "-L", *packages], capture_output=True, text=True, timeout=60, check=True)
        for path in r.stdout.splitlines():
            if not path.startswith("/") or (os.path.isdir(path) and not os.path.islink(path)):
                continue
            if not os.path.lexists(path):
                continue  # excluded by dpkg path-exclude (docs), or a diversion
            parent = os.path.realpath(os.path.dirname(path))
            dest = root + parent + "/" + os.path.basename(path)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.lexists(dest):
                continue
            if os.path.islink(path):
                os.symlink(os.readlink(path), dest)
            else:
                shutil.copy2(path, dest)
            copied += 1
        os.makedirs(os.path.join(root, "usr", "local", "bin"), exist_ok=True)
        for name, path in BINARIES.items():
            shutil.copy2(path, os.path.join(root, "usr", "local", "bin", name))
        return root, copied

    def image_root(self, tmp, stack):
        """The image's root (its packages, the binaries) with Pebble's TLS
        bundle and issuing root in /tmp, and the stack's AWS_* settings."""
        root, _ = self.build_root(tmp, listed_packages() + ["ca-certificates"])
        inside = os.path.join(root, "tmp")
        os.makedirs(inside, exist_ok=True)
        os.chmod(inside, 0o1777)
        shutil.copy(stack.ca.ca_bundle, os.path.join(inside, "pebble-tls.pem"))
        shutil.copy(stack.root_file, os.path.join(inside, "pebble-root.pem"))
        return root, {k: v for k, v in stack.env().items() if k.startswith("AWS_")}

    def run_in(self, root, argv, env=None, timeout=30, chroot_args=()):
        """(returncode, output) of argv inside `root`; SkipTest when chroot is
        not permitted here."""
        env = dict(env or {}, PATH="/usr/local/bin:/usr/bin:/bin")
        attempts = [["chroot", *chroot_args, root],
                    ["unshare", "--user", "--map-root-user", "chroot", *chroot_args, root]]
        errors = []
        for prefix in attempts:
            tool = shutil.which(prefix[0]) or shutil.which(prefix[0], path="/usr/sbin:/sbin:/usr/bin:/bin")
            if not tool:
                errors.append(f"{prefix[0]}: not installed")
                continue
            prefix = [tool] + prefix[1:]
            r = subprocess.run(prefix + argv, capture_output=True, text=True, timeout=timeout, env=env)
            output = r.stdout + r.stderr
            if r.returncode != 0 and re.search(r"(chroot|unshare): .*(Operation not permitted|Permission denied)",
                                               output):
                errors.append(output.strip())
                continue
            return r.returncode, output
        raise unittest.SkipTest("cannot chroot here (needs root or user namespaces): " + " | ".join(errors))

    def test_binaries_run_in_a_root_of_only_the_listed_packages(self):
        listed = listed_packages()
        with tempfile.TemporaryDirectory() as tmp:
            root, copied = self.build_root(tmp, listed)
            for name in BINARIES:
                rc, out = self.run_in(root, [f"/usr/local/bin/{name}", "--version"])
                self.assertEqual(rc, 0, f"{name} --version in the minimal root: {out}")
                self.assertIn(name, out)
            print(f"FIGURE image-root: {copied} files from {len(listed)} packages; renewer and certfetch start")
        curl = [p for p in listed if p.startswith("libcurl")]
        self.assertEqual(len(curl), 1, "the libcurl package is listed")
        with tempfile.TemporaryDirectory() as tmp:
            root, _ = self.build_root(tmp, [p for p in listed if p not in curl])
            rc, out = self.run_in(root, ["/usr/local/bin/certfetch", "--version"])
            self.assertNotEqual(rc, 0, "certfetch started without libcurl: the root is not isolated")
            self.assertIn("error while loading shared libraries", out)


    def test_a_real_run_in_the_minimal_root(self):
        """What ldd cannot see (libraries loaded at run time: NSS, OpenSSL
        providers, gconv): the ECS task's command and environment from
        deploy/cloudformation.yaml, as the image's uid 10001, a whole renewal
        against Pebble and tests/fakeaws over loopback, then certfetch of the
        stored secret."""
        sys.path.insert(0, HERE)
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
        import cfn  # noqa: E402
        from e2e_common import ZONE, Stack  # noqa: E402 - only these tests need the peers
        stack = Stack.start(self.addCleanup)
        template = cfn.load(os.path.join(SOURCE_DIR, "deploy", "cloudformation.yaml"))
        resolved = cfn.evaluate(template, {
            "Mode": "ecs", "ImageUri": "x/renewer:1", "EcrRepositoryName": "renewer",
            "Domains": f"{ZONE},*.{ZONE}", "HostedZoneIds": stack.zone_id, "Email": "ops@" + ZONE,
            "CaDirectoryUrl": stack.ca.directory, "SecretName": f"certs/{ZONE}",
            "EcsClusterArn": "arn:aws:ecs:us-east-1:111122223333:cluster/jobs", "EcsSubnets": "subnet-1",
            "EcsSecurityGroups": "sg-1"})
        container = resolved["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
        with tempfile.TemporaryDirectory() as tmp:
            root, env = self.image_root(tmp, stack)
            env.update({e["Name"]: e["Value"] for e in container["Environment"]})
            env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                        "HOME": "/nonexistent"})
            user = ["--userspec=10001:10001"]
            rc, out = self.run_in(root, [
                "/usr/local/bin/renewer", *container["Command"], "--ca-bundle", "/tmp/pebble-tls.pem",
                "--trust-root", "/tmp/pebble-root.pem", *stack.dns_args()], env=env, timeout=120, chroot_args=user)
            self.assertEqual(rc, 0, out[-6000:])
            self.assertIn('"outcome":"renewed"', out.replace(" ", ""))
            rc, out = self.run_in(root, ["/usr/local/bin/certfetch", "--secret-id", f"certs/{ZONE}", "--out",
                                         "/tmp/tls", "--expect-name", ZONE], env=env, timeout=60, chroot_args=user)
            self.assertEqual(rc, 0, out[-4000:])
            for name in ("fullchain.pem", "privkey.pem", "chain.pem"):
                self.assertTrue(os.path.getsize(os.path.join(root, "tmp", "tls", name)) > 0, name)
        print("FIGURE image-real-run: the template's ECS command renewed and certfetch wrote the files as uid 10001 "
              "inside the minimal root")

    def test_the_template_lambda_command_in_the_minimal_root(self):
        """The image as Lambda runs it: the function's command from
        deploy/cloudformation.yaml, the image's non-root user, the runtime API
        (tests/e2e/lambda_runtime_fake.py), only /tmp written; one scheduled
        event renews, SIGTERM while idle ends the process."""
        sys.path.insert(0, HERE)
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "e2e"))
        import cfn  # noqa: E402
        from e2e_common import ZONE, Stack  # noqa: E402
        from lambda_runtime_fake import FakeLambdaRuntime  # noqa: E402
        stack = Stack.start(self.addCleanup)
        runtime = FakeLambdaRuntime()
        runtime.start()
        self.addCleanup(runtime.stop)
        template = cfn.load(os.path.join(SOURCE_DIR, "deploy", "cloudformation.yaml"))
        resolved = cfn.evaluate(template, {
            "Mode": "lambda", "ImageUri": "x/renewer:1", "EcrRepositoryName": "renewer",
            "Domains": f"{ZONE},*.{ZONE}", "HostedZoneIds": stack.zone_id, "Email": "ops@" + ZONE,
            "CaDirectoryUrl": stack.ca.directory, "SecretName": f"certs/{ZONE}"})
        function = resolved["Resources"]["Function"]["Properties"]
        schedule = resolved["Resources"]["Schedule"]["Properties"]
        with tempfile.TemporaryDirectory() as tmp:
            root, env = self.image_root(tmp, stack)
            env.update(function["Environment"]["Variables"])
            env.update({"AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                        "AWS_LAMBDA_RUNTIME_API": runtime.host_port, "PATH": "/usr/local/bin:/usr/bin:/bin"})
            self.run_in(root, ["/usr/local/bin/renewer", "--version"])  # skips where chroot is not permitted
            argv = ["/usr/local/bin/renewer", *function["ImageConfig"]["Command"], "--ca-bundle",
                    "/tmp/pebble-tls.pem", "--trust-root", "/tmp/pebble-root.pem", *stack.dns_args()]
            chroot = shutil.which("chroot") or shutil.which("chroot", path="/usr/sbin:/sbin")
            # The Dockerfile's user (uid 10001): nothing but /tmp is writable for it.
            proc = subprocess.Popen([chroot, "--userspec=10001:10001", root, *argv], env=env,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

            def stop():
                if proc.poll() is None:
                    proc.kill()
                proc.communicate(timeout=10)
            self.addCleanup(stop)
            request = runtime.invoke(json.loads(schedule["Target"]["Input"]), deadline_in=600)
            try:
                result = runtime.wait_result(request, timeout=120)
            except Exception:
                proc.kill()
                raise AssertionError("no Lambda result: " + proc.communicate(timeout=10)[0].decode()[-6000:])
            self.assertEqual(result["kind"], "response", result["body"])
            report = json.loads(result["body"])
            self.assertEqual(report["exit_code"], 0, result["body"])
            self.assertEqual([c["outcome"] for c in report["certificates"]], ["renewed"], result["body"])
            runtime.wait_idle(timeout=10)
            proc.terminate()
            output = proc.communicate(timeout=20)[0].decode()
            self.assertEqual(proc.returncode, 0, output[-4000:])
            self.assertIsNotNone(stack.secret(f"certs/{ZONE}"))
        print("FIGURE image-lambda: the template's Lambda command renewed under the runtime API as uid 10001 "
              "in the minimal root")


if __name__ == "__main__":
    unittest.main()
