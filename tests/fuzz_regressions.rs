//! Every input a fuzzer (or a person) once crashed, hung or exhausted a
//! parser with, kept under `tests/fixtures/fuzz/<target>/` and fed again to
//! the same library function the fuzz target calls (`arazzo::fuzzing`), on a
//! thread with a 2 MiB stack like any test or tokio worker thread. Documents
//! also go through the binary.

mod support;

use std::path::{Path, PathBuf};

use support::cli::{arazzo, exec};

fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fuzz")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs the target's function on each of its inputs; a panic fails the test
/// with the input's name (a stack overflow would abort the whole run).
fn replay(target: &str) {
    let (_, run) = arazzo::fuzzing::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .unwrap_or_else(|| panic!("no fuzz target `{target}`"));
    let run = *run;
    let files = inputs(target);
    for file in files {
        let data = std::fs::read(&file).unwrap();
        let result = std::thread::Builder::new()
            .stack_size(2 << 20)
            .spawn(move || run(&data))
            .unwrap()
            .join();
        assert!(result.is_ok(), "{target}: {} panicked", file.display());
    }
}

#[test]
fn every_fuzz_target_has_its_regression_inputs_and_they_pass() {
    for (target, _) in arazzo::fuzzing::TARGETS {
        // The directory exists for each target, so a crash has a place to go.
        let _ = inputs(target);
        replay(target);
    }
}

#[test]
fn crashing_documents_end_in_a_message_through_the_binary() {
    for file in inputs("document") {
        for args in [vec!["validate"], vec!["run", "w", "-f"]] {
            let out = exec(arazzo().args(&args).arg(&file));
            assert!(
                matches!(out.code, 0 | 2 | 3),
                "{args:?} {}: {}",
                file.display(),
                out.context()
            );
            assert!(!out.stderr.contains("panicked"), "{}", out.context());
        }
    }
}
