//! The batch journal: each line's report, appended the moment the line
//! finishes, so that a batch killed half-way (even by SIGKILL) loses nothing
//! that had finished, and `--each FILE --resume` knows what not to run again.
//!
//! The journal is JSON Lines: a header `{"arazzoJournal": 1, "workflowId",
//! "each", "shard"}`, then one run report per finished line (as `-o json`
//! writes them, with `line`), secrets masked. A line may appear more than once
//! (a resumed line is journaled again); the last record wins. Each record is
//! one `write` of a whole line on a file opened for appending: a process that
//! dies leaves at most a torn last line, which reading ignores.
//!
//! While a line runs, its progress is journaled too, so that a batch killed
//! outright (SIGKILL, an out-of-memory kill) knows how far each running line
//! got: `{"line", "progress": "begin", "inputs", "carried"}` when it starts
//! (`carried`: the steps a resumed line brings along), then
//! `{"line", "progress": "started", "stepId", "method", "path", "depth"}`
//! before each step's request and `{"line", "progress": "finished", "depth",
//! "report"}` after it. The line's final report supersedes them.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde_json::{json, Value};

use crate::batch::shard::Shard;
use crate::engine::outcome::RunReport;
use crate::engine::resume::Progress;
use crate::redact::Redactor;

/// The longest journal record read back (a report with large outputs).
const MAX_RECORD: usize = 64 * 1024 * 1024;

/// The journal beside the batch file when `--journal` is not given:
/// `users.jsonl.journal`, or `users.jsonl.shard-2-of-8.journal` for a shard.
///
/// For `--each -` (standard input) it is a file of its own in the system's
/// temporary folder: a pipe is usually run once, and its journal must
/// neither litter the current directory nor stop the next pipe run there.
/// It is removed when every line succeeded (see [`is_throwaway`]).
pub fn default_path(each: &Path, shard: Option<Shard>) -> PathBuf {
    let mut name = if crate::read::stdin::is_dash(each) {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir()
            .join(format!("arazzo-stdin-{}-{stamp}", std::process::id()))
            .into_os_string()
    } else {
        each.as_os_str().to_owned()
    };
    if let Some(s) = shard {
        name.push(format!(".shard-{}-of-{}", s.index, s.count));
    }
    name.push(".journal");
    PathBuf::from(name)
}

/// Whether the journal at `path` is the one [`default_path`] chose for
/// `--each -`, which is removed once every line succeeded.
pub fn is_throwaway(path: &Path) -> bool {
    path.starts_with(std::env::temp_dir())
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("arazzo-stdin-") && n.ends_with(".journal"))
}

/// What identifies a batch in its journal.
pub struct Header<'a> {
    pub workflow_id: &'a str,
    pub each: &'a Path,
    pub shard: Option<Shard>,
}

/// A journal open for appending.
pub struct Journal {
    file: File,
    path: PathBuf,
    /// The first write that failed (later ones are not attempted).
    error: Option<String>,
}

/// Where a record is in the journal file: (offset, length).
type Span = (u64, usize);

/// What the journal knows of a line.
#[derive(Default)]
struct Entry {
    /// Its last final report.
    report: Option<Span>,
    /// The progress records written since (a run that did not finish).
    progress: Vec<Span>,
}

/// What an earlier batch left of a line.
pub enum Earlier {
    /// Its report: it finished (succeeded, failed or was interrupted).
    Report(RunReport),
    /// It was running when the batch was killed: how far it got.
    Killed(Progress),
}

/// The records of an earlier batch: where each line's last report is.
pub struct Journaled {
    file: Mutex<File>,
    path: PathBuf,
    /// Line number → what is journaled of it.
    entries: HashMap<usize, Entry>,
    /// Records that could not be read (a torn last line, say).
    pub unreadable: usize,
}

impl Journal {
    /// Opens the journal at `path`. Resuming, an existing journal is read and
    /// then appended to. Otherwise a journal that records finished lines is
    /// refused (running them again would create everything twice), and a new
    /// one is started.
    pub fn open(
        path: &Path,
        header: &Header<'_>,
        resume: bool,
    ) -> Result<(Journal, Option<Journaled>), String> {
        let exists = path.metadata().is_ok_and(|m| m.len() > 0);
        let earlier = if exists {
            Some(Journaled::read(path, header)?)
        } else {
            None
        };
        if let Some(j) = &earlier {
            if !resume && !j.entries.is_empty() {
                return Err(format!(
                    "the journal `{}` records {} line{} of an earlier batch; pass --resume to continue it (lines that succeeded are not run again), or remove it or pass another --journal PATH to start afresh",
                    path.display(),
                    j.entries.len(),
                    if j.entries.len() == 1 { "" } else { "s" }
                ));
            }
        }
        let earlier = earlier.filter(|_| resume);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| cannot(path, e))?;
        }
        let mut file = if earlier.is_some() {
            OpenOptions::new().append(true).open(path)
        } else {
            File::create(path)
        }
        .map_err(|e| cannot(path, e))?;
        if earlier.is_some() {
            // A torn last record: start the next one on a line of its own.
            if !ends_with_newline(path) {
                file.write_all(b"\n").map_err(|e| cannot(path, e))?;
            }
        } else {
            let head = json!({
                "arazzoJournal": 1,
                "workflowId": header.workflow_id,
                "each": header.each.display().to_string(),
                "shard": header.shard.map(|s| s.to_string()),
            });
            file.write_all(format!("{head}\n").as_bytes())
                .map_err(|e| cannot(path, e))?;
        }
        Ok((
            Journal {
                file,
                path: path.to_path_buf(),
                error: None,
            },
            earlier,
        ))
    }

    /// Appends a record (a line's report, or its progress), secrets masked,
    /// in one write.
    pub fn append(&mut self, mut record: Value, redactor: &Redactor) {
        if self.error.is_some() {
            return;
        }
        redactor.redact_value(&mut record);
        let mut text = serde_json::to_string(&record).unwrap_or_default();
        text.push('\n');
        self.write_line(&text);
    }

    /// Writes one whole record in one `write`.
    fn write_line(&mut self, text: &str) {
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            self.error = Some(cannot(&self.path, e));
        }
    }

    /// A line starts running (at the entry workflow's step `from`): its
    /// inputs and the steps it brings along.
    pub fn begin(
        &mut self,
        line: usize,
        inputs: &serde_json::Map<String, Value>,
        from: usize,
        carried: &[crate::engine::outcome::StepReport],
        redactor: &Redactor,
    ) {
        let record = json!({"line": line, "progress": "begin", "inputs": inputs,
                            "from": from, "carried": carried});
        self.append(record, redactor);
    }

    /// A step of a running line starts or finishes.
    pub fn progress(&mut self, line: usize, event: &crate::engine::Event<'_>, redactor: &Redactor) {
        use crate::engine::Event;
        if self.error.is_some() {
            return;
        }
        match event {
            // Names from the document (the path is its template, as
            // `/servers/{id}`), which hold no secret: written as they are.
            Event::StepStarted {
                step_id,
                method,
                path,
                depth,
            } => {
                let text = |s: &str| serde_json::to_string(s).unwrap_or_default();
                self.write_line(&format!(
                    "{{\"line\":{line},\"progress\":\"started\",\"stepId\":{},\"method\":{},\"path\":{},\"depth\":{depth}}}\n",
                    text(step_id),
                    text(method),
                    text(path)
                ));
            }
            // Its URL and outputs are what may hold a secret.
            Event::StepFinished { report, depth } => {
                let mut report = (*report).clone();
                report.url = redactor.redact(&report.url).into_owned();
                report
                    .outputs
                    .values_mut()
                    .for_each(|v| redactor.redact_value(v));
                #[derive(serde::Serialize)]
                struct Finished<'a> {
                    line: usize,
                    progress: &'static str,
                    depth: usize,
                    report: &'a crate::engine::outcome::StepReport,
                }
                let record = Finished {
                    line,
                    progress: "finished",
                    depth: *depth,
                    report: &report,
                };
                let mut text = serde_json::to_string(&record).unwrap_or_default();
                text.push('\n');
                self.write_line(&text);
            }
            Event::Exchange { .. } | Event::Message { .. } => {}
        }
    }

    /// Flushes the journal to the disk; the first write that failed, if one did.
    pub fn finish(self) -> Result<(), String> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.file.sync_data().map_err(|e| cannot(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Journaled {
    fn read(path: &Path, header: &Header<'_>) -> Result<Journaled, String> {
        let file = File::open(path).map_err(|e| cannot(path, e))?;
        let mut reader = BufReader::new(file.try_clone().map_err(|e| cannot(path, e))?);
        let mut entries = HashMap::new();
        let mut unreadable = 0;
        let mut offset = 0u64;
        let mut seen_header = false;
        let mut buf = Vec::new();
        loop {
            buf.clear();
            let n = (&mut reader)
                .take(MAX_RECORD as u64 + 1)
                .read_until(b'\n', &mut buf)
                .map_err(|e| cannot(path, e))?;
            if n == 0 {
                break;
            }
            let at = offset;
            offset += n as u64;
            if n > MAX_RECORD {
                unreadable += 1;
                skip_line(&mut reader, &mut offset).map_err(|e| cannot(path, e))?;
                continue;
            }
            let Ok(v) = serde_json::from_slice::<Value>(&buf) else {
                unreadable += 1;
                continue;
            };
            if v.get("arazzoJournal").is_some() {
                check_header(path, &v, header)?;
                seen_header = true;
                continue;
            }
            match v.get("line").and_then(Value::as_u64) {
                Some(line) if seen_header => {
                    let entry: &mut Entry = entries.entry(line as usize).or_default();
                    match v.get("progress").and_then(Value::as_str) {
                        Some("begin") => entry.progress = vec![(at, n)],
                        Some(_) => entry.progress.push((at, n)),
                        None => {
                            entry.report = Some((at, n));
                            entry.progress.clear();
                        }
                    }
                }
                _ => unreadable += 1,
            }
        }
        if !seen_header && (unreadable > 0 || !entries.is_empty()) {
            return Err(format!(
                "`{}` is not a journal of arazzo (it has no journal header); pass another --journal PATH",
                path.display()
            ));
        }
        Ok(Journaled {
            file: Mutex::new(file),
            path: path.to_path_buf(),
            entries,
            unreadable,
        })
    }

    /// What the earlier batch left of `line`, if it journaled anything.
    pub fn earlier(&self, line: usize) -> Result<Option<Earlier>, String> {
        let Some(entry) = self.entries.get(&line) else {
            return Ok(None);
        };
        let unusable =
            |m: String| format!("the journal's record of line {line} cannot be used: {m}");
        if entry.progress.is_empty() {
            let Some(span) = entry.report else {
                return Ok(None);
            };
            let text = self.read_span(span)?;
            let report = crate::engine::resume::parse_report(&text).map_err(unusable)?;
            return Ok(Some(Earlier::Report(report)));
        }
        let mut progress = Progress {
            from: 0,
            inputs: serde_json::Map::new(),
            steps: Vec::new(),
            in_flight: None,
            inside_call: false,
        };
        for &span in &entry.progress {
            let text = self.read_span(span)?;
            let v: Value = serde_json::from_str(&text).map_err(|e| unusable(e.to_string()))?;
            progress.add(v).map_err(unusable)?;
        }
        Ok(Some(Earlier::Killed(progress)))
    }

    fn read_span(&self, (offset, len): Span) -> Result<String, String> {
        let mut bytes = vec![0; len];
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        file.seek(SeekFrom::Start(offset))
            .and_then(|_| file.read_exact(&mut bytes))
            .map_err(|e| cannot(&self.path, e))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Whether the journal records anything of `line`.
    pub fn knows(&self, line: usize) -> bool {
        self.entries.contains_key(&line)
    }

    /// How many lines the journal records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Progress {
    /// Folds one journaled progress record in.
    fn add(&mut self, v: Value) -> Result<(), String> {
        let depth = v["depth"].as_u64().unwrap_or(0);
        match v["progress"].as_str() {
            Some("begin") => {
                self.inputs = v["inputs"].as_object().cloned().unwrap_or_default();
                self.from = v["from"].as_u64().unwrap_or(0) as usize;
                self.steps = serde_json::from_value(v["carried"].clone())
                    .map_err(|e| format!("its carried steps: {e}"))?;
            }
            Some("started") => {
                let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                self.in_flight = Some((text("stepId"), text("method"), text("path"), depth));
                self.inside_call = depth > 0;
            }
            Some("finished") => {
                let report = serde_json::from_value(v["report"].clone())
                    .map_err(|e| format!("a finished step: {e}"))?;
                self.steps.push(report);
                self.in_flight = None;
                self.inside_call = depth > 0;
            }
            other => return Err(format!("an unknown progress record {other:?}")),
        }
        Ok(())
    }
}

fn check_header(path: &Path, v: &Value, header: &Header<'_>) -> Result<(), String> {
    if v["workflowId"] != header.workflow_id {
        return Err(format!(
            "the journal `{}` is of a batch of workflow `{}`, not `{}`",
            path.display(),
            v["workflowId"].as_str().unwrap_or("?"),
            header.workflow_id
        ));
    }
    let shard = header.shard.map(|s| s.to_string());
    if v["shard"].as_str() != shard.as_deref() {
        return Err(format!(
            "the journal `{}` was written by {}, and this batch is {}; resume each shard with its own journal",
            path.display(),
            v["shard"]
                .as_str()
                .map_or("a batch without --shard".to_string(), |s| format!(
                    "--shard {s}"
                )),
            shard.map_or("not sharded".to_string(), |s| format!("--shard {s}"))
        ));
    }
    Ok(())
}

/// Skips the rest of an over-long record.
fn skip_line(reader: &mut impl BufRead, offset: &mut u64) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        let (used, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        reader.consume(used);
        *offset += used as u64;
        if done {
            return Ok(());
        }
    }
}

fn ends_with_newline(path: &Path) -> bool {
    let Ok(mut f) = File::open(path) else {
        return true;
    };
    let mut last = [0u8; 1];
    f.seek(SeekFrom::End(-1)).is_err() || (f.read_exact(&mut last).is_ok() && last[0] == b'\n')
}

fn cannot(path: &Path, e: std::io::Error) -> String {
    format!("--journal: cannot write `{}`: {e}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(each: &Path) -> Header<'_> {
        Header {
            workflow_id: "w",
            each,
            shard: None,
        }
    }

    #[test]
    fn records_are_read_back_and_the_last_one_of_a_line_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal");
        let each = dir.path().join("each.jsonl");
        let r = Redactor::new();
        let report = |line: usize, status: &str| {
            json!({"line": line, "workflowId": "w", "status": status, "outputs": {},
                   "steps": [], "error": null, "durationMs": 1, "inputs": {"u": line}})
        };
        let (mut j, earlier) = Journal::open(&path, &header(&each), false).unwrap();
        assert!(earlier.is_none());
        j.append(report(1, "failed"), &r);
        j.append(report(2, "succeeded"), &r);
        j.append(report(1, "succeeded"), &r);
        j.finish().unwrap();
        // A torn record at the end, as a killed process may leave.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"line\": 3, \"sta")
            .unwrap();

        let refused = Journal::open(&path, &header(&each), false).err().unwrap();
        assert!(refused.contains("pass --resume"), "{refused}");

        let (mut j, earlier) = Journal::open(&path, &header(&each), true).unwrap();
        let earlier = earlier.unwrap();
        assert_eq!(earlier.len(), 2);
        assert_eq!(earlier.unreadable, 1);
        let succeeded = |line| match earlier.earlier(line).unwrap() {
            Some(Earlier::Report(r)) => r.succeeded(),
            _ => false,
        };
        assert!(succeeded(1) && succeeded(2));
        assert!(earlier.earlier(3).unwrap().is_none());
        j.append(report(3, "succeeded"), &r);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("\"sta\n{\"line\":3,\"workflowId\":\"w\",\"status\":\"succeeded\",\"outputs\":{},\"steps\":[],\"error\":null,\"durationMs\":1,\"inputs\":{\"u\":3}}\n"), "{text}");
    }

    #[test]
    fn another_workflow_or_shard_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("j.journal");
        let each = dir.path().join("each.jsonl");
        let (j, _) = Journal::open(&path, &header(&each), false).unwrap();
        drop(j);
        let other = Header {
            workflow_id: "v",
            each: &each,
            shard: None,
        };
        assert!(Journal::open(&path, &other, true)
            .err()
            .unwrap()
            .contains("of workflow `w`"));
        let sharded = Header {
            workflow_id: "w",
            each: &each,
            shard: Some(Shard { index: 1, count: 2 }),
        };
        assert!(Journal::open(&path, &sharded, true)
            .err()
            .unwrap()
            .contains("--shard 1/2"));
    }

    #[test]
    fn default_paths_sit_beside_the_batch_file() {
        let p = Path::new("data/users.jsonl");
        assert_eq!(default_path(p, None), Path::new("data/users.jsonl.journal"));
        assert_eq!(
            default_path(p, Some(Shard { index: 2, count: 8 })),
            Path::new("data/users.jsonl.shard-2-of-8.journal")
        );
    }
}
