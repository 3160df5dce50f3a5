//! A temporary folder holding a test's documents (removed when the test
//! ends), and the Arazzo document most engine tests write into it: one
//! OpenAPI source `api` at `./api.yaml`, then the test's `workflows:`.
#![allow(dead_code)]

use std::path::PathBuf;

pub struct Workspace {
    dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Workspace {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `api` as `api.yaml` and an Arazzo `version` document named `title`
    /// with `workflows` as `wf.arazzo.yaml`, whose path comes back.
    pub fn with_api(
        version: &str,
        title: &str,
        api: &str,
        workflows: &str,
    ) -> (Workspace, PathBuf) {
        let ws = Workspace::new();
        ws.write("api.yaml", api);
        let doc = ws.write("wf.arazzo.yaml", &arazzo_doc(version, title, workflows));
        (ws, doc)
    }

    /// Writes `text` at `rel` (creating folders) and returns its path.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Where `rel` is (or would be) in the folder.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
}

/// An Arazzo `version` document named `title` whose one source, `api`, is
/// `./api.yaml`, with `workflows` (YAML text that goes under `workflows:`).
pub fn arazzo_doc(version: &str, title: &str, workflows: &str) -> String {
    format!(
        "arazzo: {version}\ninfo:\n  title: {title}\n  version: 1.0.0\nsourceDescriptions:\n- name: api\n  url: ./api.yaml\n  type: openapi\nworkflows:\n{workflows}"
    )
}
