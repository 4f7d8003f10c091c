//! Build script of the `shoal` binary: records what `shoal --version` prints besides the
//! package version — the git commit the binary was built from, the build profile and the
//! target triple — as compile-time environment variables for `src/main.rs`.
//!
//! The commit is, in order: `$SHOAL_GIT_COMMIT` when set (a build from a source archive
//! names its commit this way); else the short hash of HEAD, with `-dirty` when tracked
//! files differ from it; else `unknown` (no git, or this source tree is not the top of a
//! git checkout, e.g. an unpacked tarball inside some other repository).
//!
//! Invariant: the script re-runs exactly when its answer may change — HEAD moves
//! (checkout), the branch it points to moves (commit), the index changes (add, reset),
//! a tracked file changes (dirty), or the override variable changes — and never
//! otherwise, so an unchanged tree rebuilds nothing. Untracked files do not make a tree
//! dirty (as in `git describe --dirty`).

use std::path::{Path, PathBuf};
use std::process::Command;

const COMMIT_OVERRIDE_VAR: &str = "SHOAL_GIT_COMMIT";
const COMMIT_OVERRIDE_LEN_MAX: usize = 64;

fn main() {
    println!("cargo:rerun-if-env-changed={COMMIT_OVERRIDE_VAR}");
    let commit = std::env::var(COMMIT_OVERRIDE_VAR).map_or_else(
        |_| commit_from_this_checkout(),
        |text| checked_override(&text).unwrap_or_else(|message| panic!("{message}")),
    );
    println!("cargo:rustc-env=SHOAL_GIT_COMMIT={commit}");
    // PROFILE is the base profile: "release" for --release, "debug" for dev and test.
    let (profile, target) = (env_or_unknown("PROFILE"), env_or_unknown("TARGET"));
    println!("cargo:rustc-env=SHOAL_BUILD_PROFILE={profile}");
    println!("cargo:rustc-env=SHOAL_BUILD_TARGET={target}");
}

/// The commit of the checkout this package is the top of (watched for changes), or
/// `unknown`.
fn commit_from_this_checkout() -> String {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let Some(commit) = commit_from_git(&manifest_dir) else {
        return "unknown".to_owned();
    };
    watch_git_state(&manifest_dir);
    commit
}

/// The override must read as one token in `--version`: a bad value fails the build
/// with a message instead of printing something misleading.
pub(crate) fn checked_override(text: &str) -> Result<String, String> {
    let valid = !text.is_empty()
        && text.len() <= COMMIT_OVERRIDE_LEN_MAX
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.+".contains(&b));
    if !valid {
        return Err(format!(
            "{COMMIT_OVERRIDE_VAR}={text:?}: use 1 to {COMMIT_OVERRIDE_LEN_MAX} letters, digits \
             or -_.+ (e.g. the short commit hash the source archive was made from)"
        ));
    }
    Ok(text.to_owned())
}

fn env_or_unknown(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| "unknown".to_owned())
}

/// Short HEAD hash (+ `-dirty`), or `None` when `dir` is not the top of a checkout
/// (or git is missing, or HEAD has no commit yet).
pub(crate) fn commit_from_git(dir: &Path) -> Option<String> {
    let top = git(dir, &["rev-parse", "--show-toplevel"])?;
    if Path::new(&top).canonicalize().ok()? != dir.canonicalize().ok()? {
        return None;
    }
    let hash = git(dir, &["rev-parse", "--short", "HEAD"])?;
    // --untracked-files=no: dirty means a tracked file differs, as `git describe --dirty`.
    let changes = git(dir, &["status", "--porcelain", "--untracked-files=no"])?;
    Some(if changes.is_empty() {
        hash
    } else {
        format!("{hash}-dirty")
    })
}

/// Tells cargo which files decide the answer. In a linked worktree HEAD and the index
/// live in the worktree's git dir, branch refs in the common dir (loose or packed).
fn watch_git_state(manifest_dir: &Path) {
    let resolve = |args: &[&str]| git(manifest_dir, args).map(|p| manifest_dir.join(p));
    if let Some(git_dir) = resolve(&["rev-parse", "--git-dir"]) {
        watch(&git_dir.join("HEAD"));
        watch(&git_dir.join("index"));
        // Every commit appends here, also one that creates a loose ref not seen before.
        watch(&git_dir.join("logs/HEAD"));
    }
    if let (Some(common_dir), Some(branch)) = (
        resolve(&["rev-parse", "--git-common-dir"]),
        git(manifest_dir, &["symbolic-ref", "-q", "HEAD"]),
    ) {
        watch(&common_dir.join(branch));
        watch(&common_dir.join("packed-refs"));
    }
    if let Some(files) = git(manifest_dir, &["ls-files", "-z"]) {
        for file in files.split('\0').filter(|f| !f.is_empty()) {
            watch(&manifest_dir.join(file));
        }
    }
}

fn watch(path: &Path) {
    // Cargo re-runs a script on every build while a watched path is missing: watch only
    // what exists (a branch ref may live only in packed-refs). A watched file deleted
    // later counts as changed, so deleting a tracked file still re-runs the script.
    if path.exists() {
        println!("cargo:rerun-if-changed={}", path.display());
    }
}

/// Runs git in `dir`; its trimmed stdout on success, `None` if git is missing or fails.
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    // --no-optional-locks: `status` must not refresh the index, which would change a
    // watched file during the run and make the next build run the script again.
    let output = Command::new("git")
        .arg("--no-optional-locks")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8(output.stdout).ok()?;
    Some(text.trim().to_owned())
}
