//! The runs started over REST, so that `GET /runs/{id}` can tell how one is
//! going or how it ended. A run going on is always kept (there are at most
//! `--max-concurrent-runs` of them); of the finished ones, the newest
//! [`KEPT`] are.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use serde_json::Value;

/// Finished runs kept for polling.
pub const KEPT: usize = 1000;

#[derive(Default)]
pub struct RunStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    runs: HashMap<String, Entry>,
    /// Finished runs, oldest first.
    finished: VecDeque<String>,
}

#[derive(Clone)]
pub enum Entry {
    Running {
        workflow_id: String,
    },
    /// The report as served, `runId` included.
    Finished(Value),
}

impl RunStore {
    /// Records a new run and returns its id.
    pub fn start(&self, workflow_id: &str) -> String {
        let id = new_id();
        if let Ok(mut inner) = self.inner.lock() {
            let entry = Entry::Running {
                workflow_id: workflow_id.to_string(),
            };
            inner.runs.insert(id.clone(), entry);
        }
        id
    }

    pub fn finish(&self, id: &str, report: Value) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        inner.runs.insert(id.to_string(), Entry::Finished(report));
        inner.finished.push_back(id.to_string());
        while inner.finished.len() > KEPT {
            if let Some(old) = inner.finished.pop_front() {
                inner.runs.remove(&old);
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Entry> {
        self.inner.lock().ok()?.runs.get(id).cloned()
    }
}

/// 128 random bits in hex: run ids cannot be guessed.
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // No randomness from the system: the time still makes ids unique.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_runs_are_kept_up_to_the_limit() {
        let store = RunStore::default();
        let first = store.start("w");
        assert!(matches!(store.get(&first), Some(Entry::Running { .. })));
        store.finish(&first, Value::Null);
        for _ in 0..KEPT {
            let id = store.start("w");
            store.finish(&id, Value::Null);
        }
        assert!(store.get(&first).is_none());
        assert_eq!(new_id().len(), 32);
        assert_ne!(new_id(), new_id());
    }
}
