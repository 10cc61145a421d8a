//! The trainer's layer rule, as ARCHITECTURE.md states it, checked against the code: every
//! `crate::` import points to a lower layer, and the library never prints or parses flags.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The layers listed in ARCHITECTURE.md between `<!-- trainer layers -->` and
/// `<!-- /trainer layers -->`, lowest first: each line `N. module, module…`.
fn documented_layers() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(crate_dir().join("../../ARCHITECTURE.md")).unwrap();
    let start = doc
        .find("<!-- trainer layers -->")
        .expect("the layers block");
    let end = doc
        .find("<!-- /trainer layers -->")
        .expect("the layers block's end");
    let mut layers = BTreeMap::new();
    for line in doc[start..end].lines() {
        let Some((rank, modules)) = line.trim().split_once(". ") else {
            continue;
        };
        let Ok(rank) = rank.parse::<usize>() else {
            continue;
        };
        for module in modules.split(',') {
            let module = module.trim().trim_matches('`');
            layers.insert(module.to_string(), rank);
        }
    }
    layers
}

/// Every `.rs` file under `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files
}

/// The top-level module a source file belongs to (`teacher/llm.rs` → `teacher`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).unwrap();
    let first = relative
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// The code of `text` without comments and without its `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = text.split("#[cfg(test)]").next().unwrap_or("");
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level modules named in `crate::…` paths, `use crate::{a, b::c}` groups included.
fn imports(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                found.insert(ident(item.trim()));
            }
        } else {
            found.insert(ident(rest));
        }
    }
    found.retain(|m| !m.is_empty() && m.chars().next().unwrap().is_lowercase());
    found
}

#[test]
fn every_import_points_to_a_lower_layer() {
    let layers = documented_layers();
    assert!(
        layers.len() > 10,
        "ARCHITECTURE.md lists the layers: {layers:?}"
    );
    let src = crate_dir().join("src");
    let mut problems = Vec::new();
    for file in sources(&src) {
        let module = module_of(&src, &file);
        if module == "lib" {
            continue;
        }
        let Some(&rank) = layers.get(&module) else {
            problems.push(format!("module {module} is in no layer of ARCHITECTURE.md"));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for imported in imports(&code(&text)) {
            if imported == module || imported == "bail_input" {
                continue;
            }
            match layers.get(&imported) {
                Some(&other) if other < rank => {}
                Some(&other) => problems.push(format!(
                    "{} (layer {rank}) imports {imported} (layer {other})",
                    file.strip_prefix(&src).unwrap().display()
                )),
                None => problems.push(format!("{imported} is in no layer")),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_library_never_prints_and_has_no_terminal_or_flag_crates() {
    let src = crate_dir().join("src");
    for file in sources(&src) {
        let code = code(&std::fs::read_to_string(&file).unwrap());
        for printing in [
            "println!",
            "eprintln!",
            "print!(",
            "eprint!(",
            "dbg!(",
            "std::io::stdout",
        ] {
            assert!(
                !code.contains(printing),
                "{} uses {printing}: the library reports through its Observer",
                file.display()
            );
        }
    }
    let manifest = std::fs::read_to_string(crate_dir().join("Cargo.toml")).unwrap();
    for front_end in ["clap", "indicatif", "axum", "tokio"] {
        assert!(
            !manifest
                .lines()
                .any(|l| l.starts_with(&format!("{front_end} "))),
            "the trainer library depends on {front_end}"
        );
    }
}
