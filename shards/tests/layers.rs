//! The layers of `shards/src` point one way (ARCHITECTURE.md): each folder may use the
//! layers below it and never one above, and only the front speaks HTTP. This test reads
//! the sources and fails on any `use` (or path) that points up, so an arrow cannot turn
//! around unnoticed.

use std::path::{Path, PathBuf};

/// Layers from the top down; a layer may use only those after it in this list.
const LAYERS: &[&str] = &[
    "front", "tools", "object", "set", "member", "record", "topology", "error",
];

/// Crates only the front may use: the object layer and below never see HTTP.
const FRONT_ONLY_CRATES: &[&str] = &["shoal_http", "monoio::net", "rustls"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read source folder") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The layer a source file belongs to: its first folder (or file stem) under `src/`.
fn layer_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let first = relative.components().next().expect("non-empty path");
    first
        .as_os_str()
        .to_string_lossy()
        .trim_end_matches(".rs")
        .to_owned()
}

/// Code without `//` comments, so a doc link does not count as a dependency.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, line)| (n + 1, line.split("//").next().unwrap_or("")))
}

/// Every layer imports only layers below it, and nothing below the front imports HTTP.
#[test]
fn layers_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in &files {
        let layer = layer_of(&src, file);
        if layer == "lib" {
            continue;
        }
        let rank = LAYERS
            .iter()
            .position(|l| *l == layer)
            .unwrap_or_else(|| panic!("{} is in no known layer: add it to LAYERS", file.display()));
        let text = std::fs::read_to_string(file).expect("read source");
        for (line_no, code) in code_lines(&text) {
            for (upper_rank, upper) in LAYERS.iter().enumerate().take(rank) {
                if code.contains(&format!("crate::{upper}::"))
                    || code.contains(&format!("crate::{upper};"))
                {
                    violations.push(format!(
                        "{}:{line_no}: layer `{layer}` uses `{upper}` above it (rank {upper_rank} < {rank})",
                        file.display()
                    ));
                }
            }
            if layer != "front" {
                for krate in FRONT_ONLY_CRATES {
                    if code.contains(krate) {
                        violations.push(format!(
                            "{}:{line_no}: layer `{layer}` uses `{krate}`, which only the front may",
                            file.display()
                        ));
                    }
                }
            }
        }
    }
    assert!(
        violations.is_empty(),
        "arrows pointing up:\n{}",
        violations.join("\n")
    );
}

/// The checker itself sees an upward arrow: a line in `object/` naming the front fails.
#[test]
fn an_upward_arrow_is_seen() {
    let line = "use crate::front::handler::Handler;";
    let (_, code) = code_lines(line).next().expect("one line");
    assert!(code.contains("crate::front::"));
    let commented = "// see crate::front::handler";
    let (_, code) = code_lines(commented).next().expect("one line");
    assert!(!code.contains("crate::front::"));
}
