//! Batch runs: `arazzo run WORKFLOW --each FILE`, one run per line of a JSON Lines
//! or CSV file, several at once over shared connections, reports written in input
//! order as they complete. Memory stays flat: lines are read as they are needed
//! (on a thread of their own, so a slow file never holds up the runs) and
//! reports are written and dropped; only a bounded window is held.
//!
//! A batch can be split over machines (`--shard K/N`), and continued after a
//! failure or an interruption from its journal ([`crate::batch::journal`]): lines that
//! succeeded are not run again, the others continue where they stopped.

pub mod journal;
pub mod shard;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value};

use crate::batch::journal::{Earlier, Journal, Journaled};
use crate::batch::shard::Shard;
use crate::compile::Program;
use crate::document::Loaded;
use crate::engine::inputs;
use crate::engine::interrupt::Signal;
use crate::engine::outcome::RunReport;
use crate::engine::{self, RunOptions};
use crate::plan;
use crate::redact::Redactor;

/// Longest line of a batch file, in bytes. A longer line is an error for that
/// line; it is skipped without being held in memory.
pub const MAX_LINE: usize = 1024 * 1024;

/// The most bytes skipped looking for the end of an over-long line before the
/// rest of the file is given up (a file that is one endless line).
const MAX_SKIP: u64 = 1024 * 1024 * 1024;

/// How a batch is run.
pub struct BatchOptions {
    pub concurrency: usize,
    pub fail_fast: bool,
    pub preflight: bool,
    /// Keep each run's report (for JUnit) and HTTP exchanges (for a trace).
    pub keep_runs: bool,
    pub keep_exchanges: bool,
    /// Run only the lines of this shard.
    pub shard: Option<Shard>,
    /// Resuming: send again a POST/PATCH left uncertain by an interruption.
    pub resend_uncertain: bool,
}

/// What one line produced.
pub struct LineOutcome {
    /// Line number in the file (1-based).
    pub line: usize,
    pub succeeded: bool,
    /// The run report with `line` added (or an inputs/preflight failure).
    pub report: Value,
    /// The run's report, when it ran and [`BatchOptions::keep_runs`] is set.
    pub run: Option<RunReport>,
    /// The run's HTTP exchanges, when [`BatchOptions::keep_exchanges`] is set.
    pub exchanges: Vec<Value>,
    /// The line had succeeded in the run the journal records: nothing was
    /// sent, its report is the journaled one.
    pub earlier: bool,
    /// The journal's record of the line stands: this outcome is not appended
    /// (a line that succeeded before, or one refused before it ran, whose
    /// journaled progress must not be replaced by a report without steps).
    pub keep_journal: bool,
}

/// A line of the batch file: its number and its inputs (`as_text` for CSV cells,
/// which are typed like `-i` values).
struct Line {
    number: usize,
    inputs: Result<(Map<String, Value>, bool), String>,
}

/// One line of text read with a length cap.
enum Read {
    Text(String),
    /// Longer than [`MAX_LINE`] (skipped to its end).
    TooLong,
    /// Not UTF-8.
    Binary,
}

/// Reads the batch file lazily: JSON Lines (`.jsonl`, `.ndjson`, or a first line
/// starting with `{`) or CSV with a header row.
struct Lines {
    reader: Box<dyn BufRead + Send>,
    number: usize,
    /// Data records seen so far (blank lines and the CSV header not counted).
    records: usize,
    csv_header: Option<Vec<String>>,
    csv: bool,
    shard: Option<Shard>,
    /// Reading stopped for good (an I/O error, an endless line).
    broken: bool,
}

impl Lines {
    fn open(path: &Path, shard: Option<Shard>) -> Result<Lines, String> {
        let mut reader: Box<dyn BufRead + Send> = if crate::read::stdin::is_dash(path) {
            crate::read::stdin::reader()
        } else {
            let file = std::fs::File::open(path)
                .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
            Box::new(BufReader::with_capacity(64 * 1024, file))
        };
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let csv = match ext.as_str() {
            "csv" => true,
            "jsonl" | "ndjson" | "json" => false,
            _ => {
                let buf = reader
                    .fill_buf()
                    .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
                let first = String::from_utf8_lossy(buf);
                !first.trim_start().starts_with('{')
            }
        };
        Ok(Lines {
            reader,
            number: 0,
            records: 0,
            csv_header: None,
            csv,
            shard,
            broken: false,
        })
    }

    /// The next line, at most [`MAX_LINE`] bytes of it held at once.
    fn next_line(&mut self) -> Option<Result<Read, String>> {
        if self.broken {
            return None;
        }
        let mut bytes = Vec::new();
        let mut skipped: u64 = 0;
        let mut too_long = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.broken = true;
                    return Some(Err(format!("cannot read line {}: {e}", self.number + 1)));
                }
            };
            if buf.is_empty() {
                if bytes.is_empty() && !too_long {
                    return None;
                }
                break;
            }
            let (chunk, found) = match memchr::memchr(b'\n', buf) {
                Some(i) => (&buf[..i], Some(i + 1)),
                None => (buf, None),
            };
            if !too_long && bytes.len() + chunk.len() > MAX_LINE {
                too_long = true;
                bytes = Vec::new();
            }
            if too_long {
                skipped += chunk.len() as u64;
            } else {
                bytes.extend_from_slice(chunk);
            }
            let used = found.unwrap_or(buf.len());
            self.reader.consume(used);
            if found.is_some() {
                break;
            }
            if skipped > MAX_SKIP {
                self.broken = true;
                return Some(Err(format!(
                    "line {} has no end within {} GiB; the rest of the file is not read",
                    self.number + 1,
                    MAX_SKIP >> 30
                )));
            }
        }
        self.number += 1;
        if too_long {
            return Some(Ok(Read::TooLong));
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        Some(Ok(match String::from_utf8(bytes) {
            Ok(text) => Read::Text(text),
            Err(_) => Read::Binary,
        }))
    }

    /// Whether the next record belongs to this batch's shard (and counts it).
    fn take_record(&mut self) -> bool {
        let record = self.records;
        self.records += 1;
        self.shard.is_none_or(|s| s.takes(record))
    }
}

impl Iterator for Lines {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        loop {
            let text = match self.next_line()? {
                Ok(Read::Text(t)) => t,
                Ok(other) => {
                    let number = self.number;
                    if !self.take_record() {
                        continue;
                    }
                    let why = match other {
                        Read::TooLong => format!(
                            "line {number} is longer than {} MiB (the most a batch line may hold)",
                            MAX_LINE >> 20
                        ),
                        _ => format!("line {number} is not UTF-8 text"),
                    };
                    return Some(Line {
                        number,
                        inputs: Err(why),
                    });
                }
                Err(m) => {
                    return Some(Line {
                        number: self.number + 1,
                        inputs: Err(m),
                    })
                }
            };
            if text.trim().is_empty() {
                continue;
            }
            let number = self.number;
            if self.csv && self.csv_header.is_none() {
                match split_csv(&text) {
                    Ok(cells) => {
                        self.csv_header =
                            Some(cells.into_iter().map(|c| c.trim().to_string()).collect());
                        continue;
                    }
                    Err(m) => {
                        self.broken = true;
                        return Some(Line {
                            number,
                            inputs: Err(format!("the CSV header row is unusable: {m}")),
                        });
                    }
                }
            }
            if !self.take_record() {
                continue;
            }
            let inputs = if self.csv {
                self.csv_inputs(&text)
            } else {
                match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(m)) => Ok((m, false)),
                    Ok(_) => Err("the line is not a JSON object of inputs".to_string()),
                    Err(e) => Err(format!("the line is not valid JSON: {e}")),
                }
            };
            return Some(Line { number, inputs });
        }
    }
}

impl Lines {
    fn csv_inputs(&self, text: &str) -> Result<(Map<String, Value>, bool), String> {
        let header = self.csv_header.as_deref().unwrap_or_default();
        let cells = split_csv(text)?;
        if cells.len() != header.len() {
            return Err(format!(
                "the row has {} cells, the header {}",
                cells.len(),
                header.len()
            ));
        }
        // An empty cell means the input is not given.
        let map = header
            .iter()
            .zip(cells)
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.clone(), Value::String(v)))
            .collect();
        Ok((map, true))
    }
}

/// Splits one CSV record: commas, double-quoted cells with `""` escapes.
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut cells = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', false) if at_start => quoted = true,
            ('"', true) => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            (',', false) => {
                cells.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            (c, _) => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("a quoted cell is not closed (multi-line cells are not supported)".into());
    }
    cells.push(cur);
    Ok(cells)
}

/// Reads the file on a thread of its own, handing lines over as they are
/// needed (the channel holds a few): a slow or endless file never blocks the
/// runs, and a stop is noticed while waiting for a line.
fn spawn_reader(
    mut lines: Lines,
    capacity: usize,
) -> Result<tokio::sync::mpsc::Receiver<Line>, String> {
    let (tx, rx) = tokio::sync::mpsc::channel(capacity.max(1));
    std::thread::Builder::new()
        .name("arazzo-each".into())
        .spawn(move || {
            for line in lines.by_ref() {
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| format!("cannot start reading the file: {e}"))?;
    Ok(rx)
}

fn failure(line: usize, workflow_id: &str, kind: &str, message: String) -> LineOutcome {
    LineOutcome {
        line,
        succeeded: false,
        run: None,
        exchanges: Vec::new(),
        earlier: false,
        keep_journal: false,
        report: json!({
            "line": line,
            "workflowId": workflow_id,
            "status": "failed",
            "outputs": {},
            "steps": [],
            "error": {"stepId": null, "kind": kind, "message": message},
            "durationMs": 0,
            "inputs": {},
        }),
    }
}

/// What every line of a batch shares.
pub struct Context<'a> {
    pub program: &'a Program,
    pub loaded: &'a Loaded,
    /// Inputs from `-i`, `--inputs` and the environment.
    pub shared: &'a Map<String, Value>,
    pub client: &'a reqwest::Client,
    pub opts: &'a RunOptions,
    pub redactor: &'a Redactor,
    pub batch: &'a BatchOptions,
    /// What the journal of an earlier batch holds, when resuming.
    pub earlier: Option<&'a Journaled>,
    /// The journal the lines' progress is written to as they run.
    pub journal: Option<&'a std::cell::RefCell<Journal>>,
}

async fn run_line(cx: &Context<'_>, line: Line) -> LineOutcome {
    let number = line.number;
    let known = cx.earlier.is_some_and(|j| j.knows(number));
    let mut outcome = run_or_refuse(cx, line).await;
    // Refused before it ran (inputs, preflight, resume): what the journal
    // knows of the line still stands.
    if known && outcome.run.is_none() && outcome.report["steps"] == json!([]) {
        outcome.keep_journal = true;
    }
    outcome
}

async fn run_or_refuse(cx: &Context<'_>, line: Line) -> LineOutcome {
    let program = cx.program;
    let wf = program.entry();
    let id = &wf.workflow_id;
    let schema = wf.inputs_schema.as_ref();
    let (values, as_text) = match line.inputs {
        Ok(v) => v,
        Err(m) => return failure(line.number, id, "inputs", m),
    };
    let merged = match inputs::merge_line(id, schema, cx.shared, values, as_text) {
        Ok(m) => m,
        Err(e) => return failure(line.number, id, "inputs", e.message),
    };
    for w in &program.workflows {
        for name in &w.secret_inputs {
            if let Some(v) = merged.get(name) {
                cx.redactor.add_value(v);
            }
        }
    }
    let merged = match inputs::finish(id, schema, merged) {
        Ok(m) => m,
        Err(e) => return failure(line.number, id, "inputs", e.message),
    };
    let earlier = match cx.earlier.map(|j| j.earlier(line.number)) {
        Some(Ok(earlier)) => earlier,
        None => None,
        Some(Err(m)) => return failure(line.number, id, "resume", m),
    };
    let resume = match earlier {
        Some(earlier) => match continue_line(cx, line.number, &merged, earlier) {
            Ok(Continue::Earlier(outcome)) => return *outcome,
            Ok(Continue::From(resume)) => resume,
            Err(m) => return failure(line.number, id, "resume", m),
        },
        None => None,
    };
    if cx.batch.preflight {
        let problems: Vec<String> = plan::plan(program, &merged, cx.opts, cx.redactor)
            .into_iter()
            .flat_map(|p| p.problems)
            .map(|p| p.to_string())
            .collect();
        if !problems.is_empty() {
            return failure(
                line.number,
                id,
                "preflight",
                format!("nothing was sent: {}", problems.join("; ")),
            );
        }
    }
    let mut trace = crate::report::files::Trace::default();
    let keep_exchanges = cx.batch.keep_exchanges;
    if let Some(j) = cx.journal {
        let (from, carried) = resume
            .as_ref()
            .map_or((0, &[][..]), |r| (r.step, &r.carried[..]));
        let shown = without_secrets(program, &merged);
        j.borrow_mut()
            .begin(line.number, &shown, from, carried, cx.redactor);
    }
    let report = engine::run_from(
        program,
        cx.loaded,
        &merged,
        cx.client,
        cx.opts,
        cx.redactor,
        &mut |ev| {
            if keep_exchanges {
                trace.record(&ev);
            }
            if let Some(j) = cx.journal {
                j.borrow_mut().progress(line.number, &ev, cx.redactor);
            }
        },
        resume,
    )
    .await;
    outcome(line.number, report, cx.batch.keep_runs, trace.take(), false)
}

/// A finished run as a line's outcome.
fn outcome(
    line: usize,
    report: RunReport,
    keep_run: bool,
    exchanges: Vec<Value>,
    earlier: bool,
) -> LineOutcome {
    let succeeded = report.succeeded();
    let mut v = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let mut with_line = Map::new();
        with_line.insert("line".into(), Value::from(line));
        with_line.extend(std::mem::take(m));
        *m = with_line;
    }
    LineOutcome {
        line,
        succeeded,
        report: v,
        run: keep_run.then_some(report),
        exchanges,
        earlier,
        keep_journal: earlier,
    }
}

/// The inputs without the secret ones, as a report holds them.
fn without_secrets(program: &Program, inputs: &Map<String, Value>) -> Map<String, Value> {
    let secret = |k: &String| {
        program
            .workflows
            .iter()
            .any(|w| w.secret_inputs.contains(k))
    };
    inputs
        .iter()
        .filter(|(k, _)| !secret(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// How a line the journal knows continues.
enum Continue {
    /// It had succeeded: its journaled report stands.
    Earlier(Box<LineOutcome>),
    /// It runs, from where it stopped (`None`: from the start).
    From(Option<engine::Resume>),
}

/// Continues a line from its journaled report. The line's inputs must be the
/// ones journaled: a file edited since would apply one user's progress to
/// another.
fn continue_line(
    cx: &Context<'_>,
    number: usize,
    inputs: &Map<String, Value>,
    earlier: Earlier,
) -> Result<Continue, String> {
    let journaled = match &earlier {
        Earlier::Report(r) => &r.inputs,
        Earlier::Killed(p) => &p.inputs,
    };
    let changed: Vec<&String> = journaled
        .iter()
        .filter(|(k, v)| inputs.get(*k) != Some(*v) && !crate::engine::resume::holds_mask(v))
        .map(|(k, _)| k)
        .collect();
    if !changed.is_empty() {
        return Err(format!(
            "the line's inputs are not the ones the journal recorded for it ({} differ); was the file changed? Resume with the file the batch started with, or start afresh with another --journal",
            changed.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    let plan = match earlier {
        Earlier::Report(prior) => {
            crate::engine::resume::plan(cx.program, prior, cx.batch.resend_uncertain)?
        }
        Earlier::Killed(progress) => {
            crate::engine::resume::plan_killed(cx.program, progress, cx.batch.resend_uncertain)?
        }
    };
    match plan {
        crate::engine::resume::Plan::Done(report) => Ok(Continue::Earlier(Box::new(outcome(
            number,
            *report,
            cx.batch.keep_runs,
            Vec::new(),
            true,
        )))),
        crate::engine::resume::Plan::Continue(c) => Ok(Continue::From(Some(c.resume))),
    }
}

/// Totals of a batch.
#[derive(Debug, Default)]
pub struct Summary {
    pub runs: usize,
    pub failed: usize,
    /// Line numbers of failed runs (the first 50).
    pub failed_lines: Vec<usize>,
    pub stopped_early: bool,
    /// Lines that had succeeded in the journaled batch (not run again).
    pub earlier: usize,
    /// Lines stopped by the signal (not counted as failed).
    pub cut: usize,
    /// The signal that stopped the batch before every line ran.
    pub interrupted: Option<Signal>,
    /// Some line failed because its credentials could not be had
    /// (`error.kind: auth`): the batch exits 4.
    pub credentials_failed: bool,
}

/// Runs the batch, handing each outcome to `finished` as soon as its line
/// completes (for the journal) and to `emit` in input order.
pub async fn run(
    path: &Path,
    cx: &Context<'_>,
    finished: &mut dyn FnMut(&LineOutcome),
    emit: &mut dyn FnMut(&LineOutcome, &Summary),
) -> Result<Summary, String> {
    let window = cx.batch.concurrency.max(1);
    let mut lines = spawn_reader(Lines::open(path, cx.batch.shard)?, window)?;
    let stop = &cx.opts.stop;
    let mut in_flight = FuturesUnordered::new();
    let mut done: BTreeMap<usize, LineOutcome> = BTreeMap::new();
    let mut next_seq = 0usize;
    let mut seq = 0usize;
    let mut summary = Summary::default();
    let mut exhausted = false;
    let mut stopping = false;
    loop {
        if in_flight.is_empty() && (exhausted || stopping) {
            break;
        }
        // Keep `window` runs going, and never hold more than a bounded number
        // of finished reports waiting for an earlier line.
        let can_start =
            !stopping && !exhausted && in_flight.len() < window && done.len() < 4 * window;
        tokio::select! {
            biased;
            signal = stop.wait(), if !stopping => {
                stopping = true;
                summary.interrupted = Some(signal);
            }
            Some((s, outcome)) = in_flight.next(), if !in_flight.is_empty() => {
                let outcome: LineOutcome = outcome;
                if !outcome.succeeded && cx.batch.fail_fast && !stopping {
                    stopping = true;
                    summary.stopped_early = true;
                }
                finished(&outcome);
                done.insert(s, outcome);
                while let Some(o) = done.remove(&next_seq) {
                    next_seq += 1;
                    summary.count(&o);
                    emit(&o, &summary);
                }
            }
            line = lines.recv(), if can_start => match line {
                Some(line) => {
                    let s = seq;
                    seq += 1;
                    in_flight.push(async move { (s, run_line(cx, line).await) });
                }
                None => exhausted = true,
            },
        }
    }
    Ok(summary)
}

impl Summary {
    fn count(&mut self, o: &LineOutcome) {
        self.runs += 1;
        if o.earlier {
            self.earlier += 1;
        }
        if o.report["status"] == "interrupted" {
            self.cut += 1;
        } else if !o.succeeded {
            self.failed += 1;
            if o.report["error"]["kind"] == "auth" {
                self.credentials_failed = true;
            }
            if self.failed_lines.len() < 50 {
                self.failed_lines.push(o.line);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells() {
        assert_eq!(split_csv("a,b").unwrap(), ["a", "b"]);
        assert_eq!(
            split_csv("\"x, y\",\"say \"\"hi\"\"\",").unwrap(),
            ["x, y", "say \"hi\"", ""]
        );
        assert!(split_csv("\"open").is_err());
    }

    fn lines_of(text: &[u8], shard: Option<Shard>) -> Vec<(usize, Result<String, String>)> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.jsonl");
        std::fs::write(&path, text).unwrap();
        Lines::open(&path, shard)
            .unwrap()
            .map(|l| {
                (
                    l.number,
                    l.inputs.map(|(m, _)| Value::Object(m).to_string()),
                )
            })
            .collect()
    }

    #[test]
    fn an_over_long_line_is_an_error_for_that_line_only() {
        let mut text = b"{\"a\": \"1\"}\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_LINE + 10));
        text.extend_from_slice(b"\n{\"a\": \"3\"}\n");
        let got = lines_of(&text, None);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (1, Ok("{\"a\":\"1\"}".into())));
        assert_eq!(got[1].0, 2);
        assert!(got[1].1.as_ref().unwrap_err().contains("longer than 1 MiB"));
        assert_eq!(got[2], (3, Ok("{\"a\":\"3\"}".into())));
    }

    #[test]
    fn shards_count_records_not_blank_lines() {
        let text = b"{\"i\":0}\n\n{\"i\":1}\n{\"i\":2}\n{\"i\":3}\n";
        let one = lines_of(text, Some(Shard { index: 1, count: 2 }));
        let two = lines_of(text, Some(Shard { index: 2, count: 2 }));
        let numbers =
            |v: &[(usize, Result<String, String>)]| v.iter().map(|(n, _)| *n).collect::<Vec<_>>();
        assert_eq!(numbers(&one), [1, 4]);
        assert_eq!(numbers(&two), [3, 5]);
    }
}
