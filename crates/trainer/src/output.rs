//! Writing output files so that a crash never leaves a half-written one.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Writes `bytes` to `path` through a temporary file in the same folder, synced and then
/// renamed over `path`: readers see the old file or the whole new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    remove_stale_temporaries(path);
    let temporary = temporary_path(path);
    let result = (|| -> Result<()> {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

/// A sibling of `path` no other process writes: `.{name}.{pid}.tmp`.
fn temporary_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "output".into());
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Removes the temporary files of writes to `path` by processes that no longer run (killed
/// mid-write), so that a crash leaves no large hidden file behind for long. Only where
/// `/proc` says which processes run; elsewhere they stay.
fn remove_stale_temporaries(path: &Path) {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    if !Path::new("/proc/self").exists() {
        return;
    }
    let prefix = format!(".{}.", name.to_string_lossy());
    let folder = if folder.as_os_str().is_empty() {
        Path::new(".")
    } else {
        folder
    };
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let pid = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Fails early, before any work, when an output cannot or must not be written: it is a folder,
/// it is one of `inputs` (the same file by any name, a hard link included: writing it would
/// destroy the input), two outputs are one file, or its folder is missing or read-only.
pub fn check_outputs(outputs: &[&Path], inputs: &[&Path]) -> Result<()> {
    for (i, out) in outputs.iter().enumerate() {
        if out.is_dir() {
            bail!(
                "cannot write {}: it is a folder; give a file name",
                out.display()
            );
        }
        if let Some(input) = inputs.iter().find(|input| same_file(out, input)) {
            bail!(
                "refusing to write {}: it is the input {}, which it would replace; give another \
                 output file",
                out.display(),
                input.display()
            );
        }
        if let Some(other) = outputs[..i].iter().find(|other| same_file(out, other)) {
            bail!(
                "{} and {} are the same file; give each output its own",
                other.display(),
                out.display()
            );
        }
        check_writable(out)?;
    }
    Ok(())
}

/// Whether `a` and `b` name one file: the same device and inode when both exist (through any
/// link), else the same absolute path.
fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    if let (Ok(a), Ok(b)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        use std::os::unix::fs::MetadataExt;
        return (a.dev(), a.ino()) == (b.dev(), b.ino());
    }
    let absolute = |p: &Path| -> Option<PathBuf> {
        let parent = match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        Some(parent.canonicalize().ok()?.join(p.file_name()?))
    };
    match (absolute(a), absolute(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a == b,
    }
}

/// Fails early, before hours of work, when `path` cannot be written later: its folder must
/// exist and be writable.
fn check_writable(path: &Path) -> Result<()> {
    let probe = temporary_path(path);
    std::fs::write(&probe, b"")
        .and_then(|_| std::fs::remove_file(&probe))
        .with_context(|| format!("cannot write {} (does its folder exist?)", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_that_is_an_input_by_any_name_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("data.csv");
        std::fs::write(&input, "id,text\n").unwrap();
        let link = dir.path().join("link.csv");
        std::fs::hard_link(&input, &link).unwrap();
        let dotted = dir.path().join(".").join("data.csv");
        for out in [&input, &link, &dotted] {
            let error = check_outputs(&[out], &[&input]).unwrap_err().to_string();
            assert!(error.starts_with("refusing to write"), "{error}");
        }
        assert_eq!(std::fs::read_to_string(&input).unwrap(), "id,text\n");
        let fresh = dir.path().join("out.csv");
        check_outputs(&[&fresh], &[&input]).unwrap();
        assert!(!fresh.exists(), "the check writes nothing");
    }

    #[test]
    fn a_write_removes_what_killed_writers_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("model.cyborg");
        let left = |name: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, b"half").unwrap();
            path
        };
        // No process has a pid this large; process 1 always runs.
        let stale = left(".model.cyborg.999999999.tmp");
        let running = left(".model.cyborg.1.tmp");
        let other = left(".notes.txt.999999999.tmp");
        write_atomically(&out, b"whole").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"whole");
        assert!(!stale.exists());
        assert!(running.exists() && other.exists());
    }

    #[test]
    fn a_folder_or_two_outputs_in_one_file_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let error = check_outputs(&[dir.path()], &[]).unwrap_err().to_string();
        assert!(error.contains("it is a folder"), "{error}");
        let out = dir.path().join("a.cyborg");
        let again = dir.path().join("./a.cyborg");
        let error = check_outputs(&[&out, &again], &[]).unwrap_err().to_string();
        assert!(error.contains("are the same file"), "{error}");
        let missing = dir.path().join("no/such/folder/a.cyborg");
        let error = check_outputs(&[&missing], &[]).unwrap_err().to_string();
        assert!(error.contains("does its folder exist"), "{error}");
    }
}
