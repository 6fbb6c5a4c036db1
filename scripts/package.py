#!/usr/bin/env python3
"""The text files of scripts/package.sh, printed on stdout:

  package.py sbom BINARY          CycloneDX 1.5 JSON SBOM of BINARY, from the dependency list
                                  `cargo auditable` embedded in it (section .dep-v0), with each
                                  crate's license from `cargo metadata` and its SHA-256 from
                                  Cargo.lock
  package.py copyright SBOM       /usr/share/doc/stsexec/copyright (DEP-5), with the crates the
                                  binary links and their licenses (from SBOM)
  package.py changelog            the Debian changelog (a native package: changelog.gz)
  package.py control KB           DEBIAN/control, KB the installed size

Timestamps come from SOURCE_DATE_EPOCH, so the same commit gives the same files. The package's
fields (maintainer, copyright, section, priority) are Cargo.toml's [package.metadata.deb].
"""

import email.utils
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import tomllib
import uuid
import zlib
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRIPLE = "x86_64-unknown-linux-gnu"


def metadata(deps=True):
    args = ["cargo", "metadata", "--locked", "--format-version", "1"]
    args += ["--filter-platform", TRIPLE] if deps else ["--no-deps"]
    out = subprocess.run(args, cwd=ROOT, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def own_package(meta):
    return next(p for p in meta["packages"] if p["name"] == "stsexec" and p["source"] is None)


def deb_fields(pkg):
    fields = (pkg.get("metadata") or {}).get("deb") or {}
    for key in ("maintainer", "copyright", "section", "priority"):
        if not fields.get(key):
            sys.exit(f"package.py: Cargo.toml [package.metadata.deb] has no {key}")
    return fields


def epoch():
    return int(os.environ.get("SOURCE_DATE_EPOCH") or 0)


def commit():
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT,
                             check=True, capture_output=True, text=True).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def embedded_deps(binary):
    """The JSON `cargo auditable` put into the binary's .dep-v0 section (zlib-compressed)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "dep-v0")
        subprocess.run(["objcopy", "--dump-section", f".dep-v0={raw}", binary, os.devnull],
                       check=True, capture_output=True)
        with open(raw, "rb") as f:
            return json.loads(zlib.decompress(f.read()))


def purl(name, version):
    return f"pkg:cargo/{name}@{version}"


def sbom(binary):
    audit = embedded_deps(binary)["packages"]
    meta = metadata()
    by_id = {(p["name"], p["version"]): p for p in meta["packages"]}
    with open(os.path.join(ROOT, "Cargo.lock"), "rb") as f:
        checksums = {(p["name"], p["version"]): p.get("checksum")
                     for p in tomllib.load(f)["package"]}
    with open(binary, "rb") as f:
        binary_sha = hashlib.sha256(f.read()).hexdigest()

    def component(p, kind):
        info = by_id.get((p["name"], p["version"]), {})
        c = {
            "type": kind,
            "bom-ref": purl(p["name"], p["version"]),
            "name": p["name"],
            "version": p["version"],
            "purl": purl(p["name"], p["version"]),
        }
        if info.get("description"):
            c["description"] = " ".join(info["description"].split())
        if info.get("license"):
            c["licenses"] = [{"expression": info["license"]}]
        return c

    root = next(p for p in audit if p.get("root"))
    main = component(root, "application")
    main["hashes"] = [{"alg": "SHA-256", "content": binary_sha}]
    components = []
    for p in audit:
        if p is root:
            continue
        c = component(p, "library")
        # Build scripts and proc-macros run at build time; their code is not in the binary.
        c["scope"] = "excluded" if p.get("kind") == "build" else "required"
        c["properties"] = [{"name": "cdx:cargo:dependency_kind", "value": p.get("kind", "runtime")}]
        checksum = checksums.get((p["name"], p["version"]))
        if checksum:
            c["hashes"] = [{"alg": "SHA-256", "content": checksum}]
        if p.get("source") != "crates.io":
            c["properties"].append({"name": "cdx:cargo:source", "value": p.get("source", "")})
        components.append(c)
    dependencies = [
        {"ref": purl(p["name"], p["version"]),
         "dependsOn": sorted({purl(audit[i]["name"], audit[i]["version"])
                              for i in p.get("dependencies", [])})}
        for p in audit
    ]
    body = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {
            "timestamp": datetime.fromtimestamp(epoch(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "scripts/package.py",
                                      "description": "stsexec's SBOM writer: the binary's cargo auditable data"}]},
            "component": main,
            "properties": [{"name": "stsexec:commit", "value": commit()},
                           {"name": "stsexec:target", "value": TRIPLE}],
        },
        "components": sorted(components, key=lambda c: c["bom-ref"]),
        "dependencies": sorted(dependencies, key=lambda d: d["ref"]),
    }
    # The same build gives the same serial number.
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    body = {"bomFormat": body.pop("bomFormat"), "specVersion": body.pop("specVersion"),
            "serialNumber": f"urn:uuid:{uuid.UUID(digest[:32])}", **body}
    print(json.dumps(body, indent=2))


MIT = """Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE."""


def field_text(text):
    """A DEP-5 continuation: each line indented, empty lines as ' .'."""
    return "\n".join(f" {line}" if line.strip() else " ." for line in text.splitlines())


def copyright(sbom_path):
    pkg = own_package(metadata(deps=False))
    fields = deb_fields(pkg)
    if pkg.get("license") != "MIT OR Apache-2.0":
        sys.exit(f"package.py: the copyright file knows MIT OR Apache-2.0, not {pkg.get('license')}")
    with open(sbom_path) as f:
        bom = json.load(f)
    linked = [c for c in bom["components"] if c.get("scope") == "required"]
    crates = "\n".join(
        f"{c['name']} {c['version']}: "
        + (c["licenses"][0]["expression"] if c.get("licenses") else "see the crate")
        for c in linked)
    with open(os.path.join(ROOT, "LICENSE-MIT")) as f:
        mit_file = f.read()
    if MIT not in mit_file:
        sys.exit("package.py: LICENSE-MIT differs from the MIT text in scripts/package.py")
    print(f"""Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: stsexec
Comment: /usr/bin/stsexec is linked statically. Besides stsexec's own code it
 holds these Rust crates (name, version: license), listed with their
 checksums in the release's CycloneDX SBOM, and the GNU C Library (LGPL-2.1+,
 /usr/share/common-licenses/LGPL-2.1, Debian's glibc source package):
 .
{field_text(crates)}

Files: *
Copyright: {fields['copyright']}
License: MIT or Apache-2.0

License: MIT
{field_text(MIT)}

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License"); you may not
 use this file except in compliance with the License.
 .
 On Debian systems, the complete text of the Apache License, Version 2.0 can
 be found in /usr/share/common-licenses/Apache-2.0.""")


def changelog():
    pkg = own_package(metadata(deps=False))
    fields = deb_fields(pkg)
    print(f"""stsexec ({pkg['version']}) unstable; urgency=medium

  * stsexec {pkg['version']}, packaged by scripts/package.sh from commit {commit()}.

 -- {fields['maintainer']}  {email.utils.formatdate(epoch()).replace('-0000', '+0000')}""")


def control(installed_kb):
    pkg = own_package(metadata(deps=False))
    fields = deb_fields(pkg)
    glibc = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "libc6-dev"],
                           capture_output=True, text=True).stdout.strip()
    # The static binary holds glibc's code (LGPL): Policy 7.8 names its source package here.
    static = f"Built-Using: glibc (= {glibc})\n" if glibc else ""
    print(f"""Package: stsexec
Version: {pkg['version']}
Architecture: amd64
Maintainer: {fields['maintainer']}
Installed-Size: {installed_kb}
{static}Section: {fields['section']}
Priority: {fields['priority']}
Description: run a command with AWS credentials from keys, MFA or a role
 stsexec resolves an AWS account's credentials (its long-lived IAM keys, a
 cached MFA session or an assumed role), then replaces itself with the
 command, whose environment alone holds them: not the calling shell, not a
 command line, not the shell history. Sessions are cached owner-only and
 reused while valid. Completions for bash, zsh and fish are included.""")


def main(argv):
    match argv:
        case ["sbom", binary]:
            sbom(binary)
        case ["copyright", path]:
            copyright(path)
        case ["changelog"]:
            changelog()
        case ["control", kb]:
            control(kb)
        case _:
            sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
