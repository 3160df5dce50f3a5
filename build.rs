//! Records the commit the binary was built from, for `arazzo --version`.
//!
//! A build outside a git checkout (a source tarball, `cargo install` from a
//! registry) has no commit and says `unknown`; a build from a checkout with
//! uncommitted changes says so with `-modified`, so that a version line in a
//! bug report is never mistaken for a clean build.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ARAZZO_COMMIT");
    let commit = std::env::var("ARAZZO_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .unwrap_or_else(commit_from_git);
    println!("cargo:rustc-env=ARAZZO_COMMIT={commit}");
}

/// `git rev-parse --short=12 HEAD`, plus `-modified` when tracked files
/// differ from it; `unknown` when git or the repository is not there.
fn commit_from_git() -> String {
    let Some(hash) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_string();
    };
    watch_git_state();
    let changes = git(&["status", "--porcelain", "--untracked-files=no"]);
    if changes.is_none() {
        hash
    } else {
        format!("{hash}-modified")
    }
}

/// Asks cargo to run this script again when HEAD moves (a commit, a checkout),
/// the index changes, or a source file does (which may make the tree modified
/// or clean again); the crate is rebuilt then anyway.
fn watch_git_state() {
    for path in ["src", "Cargo.toml", "Cargo.lock", "build.rs"] {
        println!("cargo:rerun-if-changed={path}");
    }
    for name in ["HEAD", "index", "packed-refs"] {
        if let Some(path) = git(&["rev-parse", "--git-path", name]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        if let Some(path) = git(&["rev-parse", "--git-path", &reference]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}
