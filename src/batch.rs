//! Batch runs: `arazzo run WORKFLOW --each FILE`, one run per line of a JSON Lines
//! or CSV file, several at once over shared connections, reports written in input
//! order as they complete. Memory stays flat: lines are read as they are needed
//! and reports are written and dropped; only a bounded window is held.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use futures_util::stream::{FuturesUnordered, StreamExt};
use serde_json::{json, Map, Value};

use crate::compile::Program;
use crate::document::Loaded;
use crate::engine::{self, RunOptions};
use crate::inputs;
use crate::plan;
use crate::redact::Redactor;

/// How a batch is run.
pub struct BatchOptions {
    pub concurrency: usize,
    pub fail_fast: bool,
    pub preflight: bool,
    /// Keep each run's report (for JUnit) and HTTP exchanges (for a trace).
    pub keep_runs: bool,
    pub keep_exchanges: bool,
}

/// What one line produced.
pub struct LineOutcome {
    /// Line number in the file (1-based).
    pub line: usize,
    pub succeeded: bool,
    /// The run report with `line` added (or an inputs/preflight failure).
    pub report: Value,
    /// The run's report, when it ran and [`BatchOptions::keep_runs`] is set.
    pub run: Option<crate::report::RunReport>,
    /// The run's HTTP exchanges, when [`BatchOptions::keep_exchanges`] is set.
    pub exchanges: Vec<Value>,
}

/// A line of the batch file: its number and its inputs (`as_text` for CSV cells,
/// which are typed like `-i` values).
struct Line {
    number: usize,
    inputs: Result<(Map<String, Value>, bool), String>,
}

/// Reads the batch file lazily: JSON Lines (`.jsonl`, `.ndjson`, or a first line
/// starting with `{`) or CSV with a header row.
struct Lines {
    reader: Box<dyn BufRead>,
    number: usize,
    csv_header: Option<Vec<String>>,
    csv: bool,
}

impl Lines {
    fn open(path: &Path) -> Result<Lines, String> {
        let file = std::fs::File::open(path)
            .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let mut reader: Box<dyn BufRead> = Box::new(BufReader::new(file));
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
            csv_header: None,
            csv,
        })
    }

    fn next_line(&mut self) -> Option<Result<String, String>> {
        let mut text = String::new();
        match self.reader.read_line(&mut text) {
            Ok(0) => None,
            Ok(_) => {
                self.number += 1;
                Some(Ok(text.trim_end_matches(['\n', '\r']).to_string()))
            }
            Err(e) => Some(Err(format!("cannot read line {}: {e}", self.number + 1))),
        }
    }
}

impl Iterator for Lines {
    type Item = Line;

    fn next(&mut self) -> Option<Line> {
        loop {
            let text = match self.next_line()? {
                Ok(t) => t,
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
            if !self.csv {
                let inputs = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Object(m)) => Ok((m, false)),
                    Ok(_) => Err("the line is not a JSON object of inputs".to_string()),
                    Err(e) => Err(format!("the line is not valid JSON: {e}")),
                };
                return Some(Line { number, inputs });
            }
            let cells = match split_csv(&text) {
                Ok(c) => c,
                Err(m) => {
                    return Some(Line {
                        number,
                        inputs: Err(m),
                    })
                }
            };
            let Some(header) = &self.csv_header else {
                self.csv_header = Some(cells.into_iter().map(|c| c.trim().to_string()).collect());
                continue;
            };
            if cells.len() != header.len() {
                return Some(Line {
                    number,
                    inputs: Err(format!(
                        "the row has {} cells, the header {}",
                        cells.len(),
                        header.len()
                    )),
                });
            }
            // An empty cell means the input is not given.
            let map = header
                .iter()
                .zip(cells)
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, v)| (k.clone(), Value::String(v)))
                .collect();
            return Some(Line {
                number,
                inputs: Ok((map, true)),
            });
        }
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

fn failure(line: usize, workflow_id: &str, kind: &str, message: String) -> LineOutcome {
    LineOutcome {
        line,
        succeeded: false,
        run: None,
        exchanges: Vec::new(),
        report: json!({
            "line": line,
            "workflowId": workflow_id,
            "status": "failed",
            "outputs": {},
            "steps": [],
            "error": {"stepId": null, "kind": kind, "message": message},
            "durationMs": 0,
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_line(
    program: &Program,
    loaded: &Loaded,
    shared: &Map<String, Value>,
    line: Line,
    client: &reqwest::Client,
    opts: &RunOptions,
    redactor: &Redactor,
    batch: &BatchOptions,
) -> LineOutcome {
    let preflight = batch.preflight;
    let wf = program.entry();
    let id = &wf.workflow_id;
    let schema = wf.inputs_schema.as_ref();
    let (values, as_text) = match line.inputs {
        Ok(v) => v,
        Err(m) => return failure(line.number, id, "inputs", m),
    };
    let merged = match inputs::merge_line(id, schema, shared, values, as_text) {
        Ok(m) => m,
        Err(e) => return failure(line.number, id, "inputs", e.message),
    };
    for w in &program.workflows {
        for name in &w.secret_inputs {
            if let Some(v) = merged.get(name) {
                redactor.add_value(v);
            }
        }
    }
    let merged = match inputs::finish(id, schema, merged) {
        Ok(m) => m,
        Err(e) => return failure(line.number, id, "inputs", e.message),
    };
    if preflight {
        let problems: Vec<String> = plan::plan(program, &merged, opts, redactor)
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
    let mut trace = crate::reports::Trace::default();
    let keep_exchanges = batch.keep_exchanges;
    let report = engine::run(
        program,
        loaded,
        &merged,
        client,
        opts,
        redactor,
        &mut |ev| {
            if keep_exchanges {
                trace.record(&ev);
            }
        },
    )
    .await;
    let succeeded = report.succeeded();
    let mut v = serde_json::to_value(&report).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        let mut with_line = Map::new();
        with_line.insert("line".into(), Value::from(line.number));
        with_line.extend(std::mem::take(m));
        *m = with_line;
    }
    LineOutcome {
        line: line.number,
        succeeded,
        report: v,
        run: batch.keep_runs.then_some(report),
        exchanges: trace.take(),
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
}

/// Runs the batch, handing each outcome to `emit` in input order.
#[allow(clippy::too_many_arguments)]
pub async fn run(
    path: &Path,
    program: &Program,
    loaded: &Loaded,
    shared: &Map<String, Value>,
    client: &reqwest::Client,
    opts: &RunOptions,
    redactor: &Redactor,
    batch: &BatchOptions,
    emit: &mut dyn FnMut(&LineOutcome, &Summary),
) -> Result<Summary, String> {
    let mut lines = Lines::open(path)?;
    let window = batch.concurrency.max(1);
    let mut in_flight = FuturesUnordered::new();
    let mut done: BTreeMap<usize, LineOutcome> = BTreeMap::new();
    let mut next_seq = 0usize;
    let mut seq = 0usize;
    let mut summary = Summary::default();
    let mut stop = false;
    loop {
        // Keep `window` runs going, and never hold more than a bounded number
        // of finished reports waiting for an earlier line.
        while !stop && in_flight.len() < window && done.len() < 4 * window {
            let Some(line) = lines.next() else { break };
            let s = seq;
            seq += 1;
            in_flight.push(async move {
                (
                    s,
                    run_line(program, loaded, shared, line, client, opts, redactor, batch).await,
                )
            });
        }
        let Some((s, outcome)) = in_flight.next().await else {
            break;
        };
        if !outcome.succeeded && batch.fail_fast {
            stop = true;
            summary.stopped_early = true;
        }
        done.insert(s, outcome);
        while let Some(o) = done.remove(&next_seq) {
            next_seq += 1;
            summary.runs += 1;
            if !o.succeeded {
                summary.failed += 1;
                if summary.failed_lines.len() < 50 {
                    summary.failed_lines.push(o.line);
                }
            }
            emit(&o, &summary);
        }
    }
    Ok(summary)
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
}
