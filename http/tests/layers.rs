//! The layers of `http/src` point one way (ARCHITECTURE.md): each module may use only the
//! layers it is allowed below, and inside `auth/` SigV2 and SigV4 share only what sits
//! below both. This test reads the sources and fails on any `crate::` (or sibling
//! `super::`) path that points elsewhere, so an arrow cannot turn around unnoticed.
//!
//! Not checked: `lib.rs` (it only declares the layers and re-exports old paths for
//! callers) and `tests.rs` files, which test their layer the way a caller meets it,
//! through the gate above it.

use std::path::{Path, PathBuf};

/// Each top-level module of `http/src` and the modules it may use.
const LAYERS: &[(&str, &[&str])] = &[
    ("base", &[]),
    ("message", &["base"]),
    ("route", &["base", "message"]),
    ("auth", &["base", "message", "route"]),
    ("body", &["base", "message", "route", "auth"]),
    ("xml", &["base"]),
    ("s3xml", &["base", "xml"]),
];

/// Each module of `auth/` and the `auth/` modules it may use.
const AUTH_LAYERS: &[(&str, &[&str])] = &[
    ("signing", &[]),
    ("common", &["signing"]),
    ("sigv4", &["signing", "common"]),
    ("sigv2", &["signing", "common"]),
    ("gate", &["signing", "common", "sigv4", "sigv2"]),
    ("bearer", &["common"]),
];

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

/// The module names of a file's path under `src/` (`auth/sigv2/tests.rs` →
/// `["auth", "sigv2", "tests"]`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    file.strip_prefix(src)
        .expect("under src")
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect()
}

/// The identifier `text` starts with (after spaces), possibly empty.
fn ident(text: &str) -> &str {
    let text = text.trim_start();
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The leading identifier of `text`, or each item's in a `{a, b::c}` group.
fn names_at(text: &str) -> Vec<&str> {
    match text.strip_prefix('{') {
        Some(group) => group
            .split('}')
            .next()
            .unwrap_or("")
            .split(',')
            .map(ident)
            .filter(|name| !name.is_empty())
            .collect(),
        None => Some(ident(text))
            .filter(|name| !name.is_empty())
            .into_iter()
            .collect(),
    }
}

/// For each `prefix` in `line` (not inside a longer identifier): the module it names
/// and the names one level further (`crate::auth::{gate, sigv2}` gives
/// `("auth", ["gate", "sigv2"])`).
fn uses_after<'a>(line: &'a str, prefix: &str) -> Vec<(&'a str, Vec<&'a str>)> {
    line.match_indices(prefix)
        .filter(|(at, _)| {
            let before = line[..*at].chars().next_back();
            !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .filter_map(|(at, _)| {
            let rest = &line[at + prefix.len()..];
            let first = *names_at(rest).first()?;
            let deeper = rest[first.len()..]
                .strip_prefix("::")
                .map_or_else(Vec::new, names_at);
            Some((first, deeper))
        })
        .collect()
}

fn allowed<'a>(table: &'a [(&str, &'a [&str])], module: &str, path: &Path) -> &'a [&'a str] {
    table.iter().find(|(name, _)| *name == module).map_or_else(
        || panic!("{} is in no known layer: add it here", path.display()),
        |(_, uses)| *uses,
    )
}

/// What one code line of `file` uses that its layer may not, as messages.
fn violations_of_line(modules: &[String], code: &str, file: &Path) -> Vec<String> {
    let top = modules[0].as_str();
    let mut found = Vec::new();
    for (target, deeper) in uses_after(code, "crate::") {
        if target != top && !allowed(LAYERS, top, file).contains(&target) {
            found.push(format!("{top} uses {target}"));
        }
        if top == "auth" && target == "auth" && modules.len() > 1 {
            found.extend(auth_violations(&modules[1], &deeper, file));
        }
    }
    // `super::x` in `auth/y.rs` names the sibling `auth/x` (or, from an inline test
    // module, `y` itself, which is not in the table and so never a violation).
    if top == "auth" && modules.len() == 2 {
        for (used, _) in uses_after(code, "super::") {
            if AUTH_LAYERS.iter().any(|(name, _)| *name == used) {
                found.extend(auth_violations(&modules[1], &[used], file));
            }
        }
    }
    found
}

/// What `auth/own` may not use among `used`, as messages.
fn auth_violations(own: &str, used: &[&str], file: &Path) -> Vec<String> {
    used.iter()
        .filter(|used| **used != own && !allowed(AUTH_LAYERS, own, file).contains(used))
        .map(|used| format!("auth/{own} uses auth/{used}"))
        .collect()
}

/// Every module of `http/src` uses only the layers below it, and SigV2 and SigV4 never
/// use each other.
#[test]
fn layers_point_down_only() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut violations = Vec::new();
    for file in &files {
        let modules = module_path(&src, file);
        if modules == ["lib"] || modules.last().is_some_and(|m| m == "tests") {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("read source");
        for (number, line) in text.lines().enumerate() {
            // Comments may name any module: only code is a dependency.
            let code = line.split("//").next().unwrap_or("");
            for message in violations_of_line(&modules, code, file) {
                violations.push(format!("{}:{}: {message}", file.display(), number + 1));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "arrows pointing up:\n{}",
        violations.join("\n")
    );
}

/// The check sees an upward arrow: a line in the message layer that names auth, and
/// one in SigV2 that names SigV4, are both reported.
#[test]
fn an_upward_arrow_is_reported() {
    let file = Path::new("x.rs");
    let message = ["message".to_owned(), "request".to_owned()];
    let found = violations_of_line(&message, "use crate::auth::gate::authenticate;", file);
    assert_eq!(found, ["message uses auth"]);
    let sigv2 = ["auth".to_owned(), "sigv2".to_owned()];
    let found = violations_of_line(&sigv2, "use crate::auth::sigv4::{a, b};", file);
    assert_eq!(found, ["auth/sigv2 uses auth/sigv4"]);
    let found = violations_of_line(&sigv2, "use super::sigv4::x;", file);
    assert_eq!(found, ["auth/sigv2 uses auth/sigv4"]);
    let found = violations_of_line(&sigv2, "use crate::auth::{common, gate};", file);
    assert_eq!(found, ["auth/sigv2 uses auth/gate"]);
    assert!(violations_of_line(&sigv2, "    use super::*;", file).is_empty());
    let fine = violations_of_line(&sigv2, "use crate::auth::common::PayloadMode;", file);
    assert!(fine.is_empty());
}
