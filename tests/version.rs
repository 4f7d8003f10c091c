//! `shoal --version` tells which build a binary is: package version, git commit (with
//! `-dirty`, or `unknown` outside git), profile and target. The built binary is checked
//! against this checkout; the build script's decisions are checked against real git
//! repositories made in temporary folders.

use std::path::Path;
use std::process::Command;

#[path = "../build.rs"]
#[allow(dead_code)]
mod build_script;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

fn git_ok(dir: &Path, args: &[&str]) {
    assert!(
        git(dir, args).is_some(),
        "git {args:?} failed in {}",
        dir.display()
    );
}

/// The commit this checkout's build must report: the override the build saw, else HEAD's
/// short hash (+ -dirty), else `unknown`.
fn expected_commit() -> String {
    if let Some(commit) = option_env!("SHOAL_GIT_COMMIT") {
        return commit.to_owned();
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(hash) = git(root, &["rev-parse", "--short", "HEAD"]) else {
        return "unknown".to_owned();
    };
    let changes = git(root, &["status", "--porcelain", "--untracked-files=no"]).unwrap();
    if changes.is_empty() {
        hash
    } else {
        format!("{hash}-dirty")
    }
}

fn version_line(flag: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg(flag)
        .output()
        .expect("run shoal");
    assert!(output.status.success(), "shoal {flag} failed: {output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .trim_end()
        .to_owned()
}

/// The binary prints its package version, this checkout's commit, profile and target.
#[test]
fn version_names_the_commit_profile_and_target() {
    let line = version_line("--version");
    let rest = line
        .strip_prefix(&format!("shoal {} (commit ", env!("CARGO_PKG_VERSION")))
        .unwrap_or_else(|| panic!("unexpected --version: {line:?}"));
    let fields: Vec<&str> = rest.trim_end_matches(')').split(", ").collect();
    assert_eq!(fields.len(), 3, "{line:?}");
    assert_eq!(fields[0], expected_commit(), "{line:?}");
    // Tests build with the dev-based test profile, whose base profile is "debug".
    assert_eq!(fields[1], "debug", "{line:?}");
    let target = fields[2];
    assert!(
        target.starts_with(std::env::consts::ARCH) && target.contains(std::env::consts::OS),
        "target {target:?} is not this machine's"
    );
    assert_eq!(version_line("-V"), line, "-V and --version differ");
}

/// A clean checkout gives the short hash, a changed tracked file adds -dirty, an
/// untracked file does not.
#[test]
fn build_script_reads_hash_and_dirty_state_from_git() {
    let repo = tempfile::tempdir().unwrap();
    let dir = repo.path();
    git_ok(dir, &["init", "-q"]);
    std::fs::write(dir.join("a.txt"), "one").unwrap();
    git_ok(dir, &["add", "a.txt"]);
    git_ok(
        dir,
        &[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "one",
        ],
    );
    let hash = git(dir, &["rev-parse", "--short", "HEAD"]).unwrap();
    assert_eq!(build_script::commit_from_git(dir), Some(hash.clone()));
    std::fs::write(dir.join("new.txt"), "untracked").unwrap();
    assert_eq!(build_script::commit_from_git(dir), Some(hash.clone()));
    std::fs::write(dir.join("a.txt"), "two").unwrap();
    assert_eq!(
        build_script::commit_from_git(dir),
        Some(format!("{hash}-dirty"))
    );
}

/// Outside git, in a folder below a checkout's top (an unpacked archive inside another
/// repository), or in a repository with no commit yet, there is no commit to report.
#[test]
fn build_script_reports_no_commit_outside_a_checkout_top() {
    let plain = tempfile::tempdir().unwrap();
    assert_eq!(build_script::commit_from_git(plain.path()), None);
    let repo = tempfile::tempdir().unwrap();
    git_ok(repo.path(), &["init", "-q"]);
    assert_eq!(
        build_script::commit_from_git(repo.path()),
        None,
        "no commit yet"
    );
    let nested = repo.path().join("unpacked-archive");
    std::fs::create_dir(&nested).unwrap();
    assert_eq!(build_script::commit_from_git(&nested), None);
}

/// SHOAL_GIT_COMMIT is taken as given when it is one short token, refused otherwise.
#[test]
fn build_script_checks_the_commit_override() {
    assert_eq!(
        build_script::checked_override("1a2b3c4"),
        Ok("1a2b3c4".to_owned())
    );
    for bad in ["", "a b", "abc)", "x\ny", &"f".repeat(65)] {
        let refused = build_script::checked_override(bad);
        assert!(refused.is_err(), "{bad:?} accepted");
        assert!(refused.unwrap_err().contains("SHOAL_GIT_COMMIT"));
    }
}
