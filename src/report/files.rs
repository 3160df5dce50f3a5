//! Files for CI: a JUnit XML report of a run and a JSON trace of every HTTP
//! exchange. Both are masked by the run's redactor before they are written.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Map, Value};

use crate::compile::Program;
use crate::engine::outcome::{RunReport, Status, StepReport};
use crate::engine::Event;
use crate::redact::Redactor;

/// The exchanges in the order of the report's steps (the order they were
/// sent within one step): steps that ran at once (Arazzo 1.1 `dependsOn`)
/// finish in any order, and the trace must not depend on it. Their
/// `startedMs` and `durationMs` still show when each ran.
fn in_report_order<'x>(exchanges: &'x [Value], report: &RunReport) -> Vec<&'x Value> {
    let position = |x: &Value| {
        let wf = x["workflowId"].as_str().unwrap_or_default();
        let step = x["stepId"].as_str().unwrap_or_default();
        report.steps.iter().position(|s| {
            s.step_id == step && s.workflow_id.as_deref().unwrap_or(&report.workflow_id) == wf
        })
    };
    let mut keyed: Vec<(usize, &Value)> = exchanges
        .iter()
        .map(|x| (position(x).unwrap_or(usize::MAX), x))
        .collect();
    keyed.sort_by_key(|(k, _)| *k);
    keyed.into_iter().map(|(_, x)| x).collect()
}

/// Collects the HTTP exchanges of a run.
#[derive(Default)]
pub struct Trace {
    exchanges: Vec<Value>,
}

fn headers_json(headers: &[(String, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in headers {
        match m.get_mut(k) {
            Some(Value::String(prev)) => {
                prev.push_str(", ");
                prev.push_str(v);
            }
            _ => {
                m.insert(k.clone(), Value::String(v.clone()));
            }
        }
    }
    Value::Object(m)
}

impl Trace {
    pub fn record(&mut self, ev: &Event<'_>) {
        if let Event::Message {
            workflow_id,
            step_id,
            attempt,
            url,
            message,
            error,
            started_ms,
            duration_ms,
        } = ev
        {
            // A message step's exchange: what was sent or received, on which channel.
            self.exchanges.push(json!({
                "workflowId": workflow_id,
                "stepId": step_id,
                "attempt": attempt,
                "startedMs": started_ms,
                "durationMs": duration_ms,
                "message": {
                    "action": message.map(|m| m.action.as_str()),
                    "channel": url,
                    "headers": message.map(|m| headers_json(&m.headers)),
                    "payload": message.map(|m| m.payload.clone()),
                },
                "error": error,
            }));
            return;
        }
        let Event::Exchange {
            workflow_id,
            step_id,
            attempt,
            request,
            response,
            error,
            redirects,
            started_ms,
            duration_ms,
        } = ev
        else {
            return;
        };
        let body = request
            .body_bytes
            .as_ref()
            .map(|b| Value::String(String::from_utf8_lossy(b).into_owned()));
        self.exchanges.push(json!({
            "workflowId": workflow_id,
            "stepId": step_id,
            "attempt": attempt,
            "startedMs": started_ms,
            "durationMs": duration_ms,
            "request": {
                "method": request.method,
                "url": request.url,
                "headers": headers_json(&request.headers),
                "body": body,
            },
            "redirects": redirects.iter().map(|h| json!({
                "status": h.status,
                "location": h.location,
                "url": h.url,
            })).collect::<Vec<_>>(),
            "response": response.map(|r| json!({
                "status": r.status,
                "headers": headers_json(&r.headers),
                "body": r.body,
            })),
            "error": error,
        }));
    }

    /// The exchanges recorded so far, taken out.
    pub fn take(&mut self) -> Vec<Value> {
        std::mem::take(&mut self.exchanges)
    }

    /// Writes the trace, secrets masked.
    pub fn write(
        &self,
        path: &Path,
        report: &RunReport,
        redactor: &Redactor,
    ) -> Result<(), String> {
        let mut v = json!({
            "workflowId": report.workflow_id,
            "status": report.status,
            "durationMs": report.duration_ms,
            "exchanges": in_report_order(&self.exchanges, report),
        });
        redactor.redact_value(&mut v);
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        write_file(path, &text, "--trace")
    }
}

pub(crate) fn write_file(path: &Path, text: &str, flag: &str) -> Result<(), String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{flag}: cannot create `{}`: {e}", dir.display()))?;
    }
    std::fs::write(path, text)
        .map_err(|e| format!("{flag}: cannot write `{}`: {e}", path.display()))
}

fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => out.push(c),
        }
    }
    out
}

/// One `<testsuite>` element and its counts.
pub struct JunitSuite {
    pub xml: String,
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub skipped: usize,
    pub duration_ms: u64,
}

/// The JUnit XML of a run: one testsuite for the workflow run, one testcase per
/// step execution (steps of called workflows named `workflow.step`), a failure
/// with the criterion or error that failed, and steps that never ran as skipped.
pub fn junit(report: &RunReport, program: &Program) -> String {
    let suite = junit_suite(report, program, &report.workflow_id);
    junit_document(&[&suite], &suite.xml)
}

/// The `<testsuites>` document around already written suites.
fn junit_document(suites: &[&JunitSuite], body: &str) -> String {
    format!("{}{body}{}", junit_head(suites), JUNIT_TAIL)
}

const JUNIT_TAIL: &str = "</testsuites>\n";

fn junit_head(suites: &[&JunitSuite]) -> String {
    let sum = |f: fn(&JunitSuite) -> usize| suites.iter().map(|s| f(s)).sum::<usize>();
    let ms: u64 = suites.iter().map(|s| s.duration_ms).sum();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"arazzo\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\" time=\"{:.3}\">\n",
        sum(|s| s.tests),
        sum(|s| s.failures),
        sum(|s| s.errors),
        sum(|s| s.skipped),
        ms as f64 / 1000.0
    )
}

/// A suite for a batch line that never ran (its inputs were unusable, or
/// preflight refused it): one testcase with the error.
pub fn junit_error_suite(name: &str, kind: &str, message: &str) -> JunitSuite {
    JunitSuite {
        xml: format!(
            "  <testsuite name=\"{n}\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" time=\"0.000\">\n    <testcase name=\"({k})\" classname=\"{n}\" time=\"0.000\">\n      <error type=\"{k}\" message=\"{m}\"/>\n    </testcase>\n  </testsuite>\n",
            n = xml_escape(name),
            k = xml_escape(kind),
            m = xml_escape(message),
        ),
        tests: 1,
        failures: 0,
        errors: 1,
        skipped: 0,
        duration_ms: 0,
    }
}

/// The testsuite of one run, named `name`.
pub fn junit_suite(report: &RunReport, program: &Program, name: &str) -> JunitSuite {
    let mut cases = Cases {
        report,
        xml: String::new(),
        failures: 0,
        errors: 0,
        skipped: 0,
        error_unclaimed: true,
    };
    let mut ran: BTreeSet<&str> = BTreeSet::new();
    for s in &report.steps {
        if s.workflow_id.is_none() {
            ran.insert(s.step_id.as_str());
        }
        cases.step(s);
    }
    cases.not_run(program, &ran);
    cases.workflow_error();
    let Cases {
        xml: cases,
        failures,
        errors,
        skipped,
        ..
    } = cases;
    let tests = report.steps.len()
        + skipped
        + usize::from(report.error.as_ref().is_some_and(|e| e.step_id.is_none()));
    JunitSuite {
        xml: format!(
            "  <testsuite name=\"{name}\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\" time=\"{t}\">\n{cases}  </testsuite>\n",
            t = secs(report.duration_ms),
            name = xml_escape(name),
        ),
        tests,
        failures,
        errors,
        skipped,
        duration_ms: report.duration_ms,
    }
}

/// Milliseconds as JUnit's seconds, `1.250`.
fn secs(ms: u64) -> String {
    format!("{:.3}", ms as f64 / 1000.0)
}

/// The testcases of one run's suite as they are written, with their counts.
struct Cases<'a> {
    report: &'a RunReport,
    xml: String,
    failures: usize,
    errors: usize,
    skipped: usize,
    /// Whether the run's error still waits for the failed step it names: it
    /// explains that step's first failed execution only.
    error_unclaimed: bool,
}

impl Cases<'_> {
    /// One testcase per step execution: an error when its request was in
    /// flight as the run was interrupted, a failure when it failed.
    fn step(&mut self, s: &StepReport) {
        let class = s.workflow_id.as_deref().unwrap_or(&self.report.workflow_id);
        self.xml.push_str(&format!(
            "    <testcase name=\"{}\" classname=\"{}\" time=\"{}\">\n",
            xml_escape(&s.step_id),
            xml_escape(class),
            secs(s.duration_ms)
        ));
        if s.status == Status::Uncertain {
            self.interrupted(s);
        }
        if s.status == Status::Failed {
            self.failure(s);
        }
        self.xml.push_str("    </testcase>\n");
    }

    /// The `<error>` of a step whose request was in flight when the run was
    /// interrupted.
    fn interrupted(&mut self, s: &StepReport) {
        self.errors += 1;
        let message = self
            .report
            .error
            .as_ref()
            .filter(|e| e.kind == crate::engine::outcome::ErrorKind::Interrupted)
            .map_or(
                "the run was interrupted while the step's request was in flight",
                |e| e.message.as_str(),
            );
        self.xml.push_str(&format!(
            "      <error type=\"interrupted\" message=\"{}\">{} {}</error>\n",
            xml_escape(message),
            xml_escape(&s.method),
            xml_escape(&s.url),
        ));
    }

    /// The `<failure>` of a failed step: the run's error when it names this
    /// step (the first time), else the status it failed with.
    fn failure(&mut self, s: &StepReport) {
        self.failures += 1;
        let error_step = self
            .report
            .error
            .as_ref()
            .and_then(|e| e.step_id.as_deref());
        let (kind, message) = match &self.report.error {
            Some(e)
                if self.error_unclaimed
                    && error_step == Some(s.step_id.as_str())
                    && s.workflow_id.is_none() =>
            {
                self.error_unclaimed = false;
                (format!("{:?}", e.kind).to_lowercase(), e.message.clone())
            }
            _ => (
                "failed".to_string(),
                match s.status_code {
                    Some(c) => format!("the step failed (status {c})"),
                    None => "the step failed".to_string(),
                },
            ),
        };
        self.xml.push_str(&format!(
            "      <failure type=\"{}\" message=\"{}\">{} {} (attempts: {})\n{}</failure>\n",
            xml_escape(&kind),
            xml_escape(&message),
            xml_escape(&s.method),
            xml_escape(&s.url),
            s.attempts,
            xml_escape(&message)
        ));
    }

    /// A skipped testcase for each step of the workflow that never ran.
    fn not_run(&mut self, program: &Program, ran: &BTreeSet<&str>) {
        for step in &program.entry().steps {
            if !ran.contains(step.step_id.as_str()) {
                self.skipped += 1;
                self.xml.push_str(&format!(
                    "    <testcase name=\"{}\" classname=\"{}\" time=\"0.000\">\n      <skipped message=\"the step did not run\"/>\n    </testcase>\n",
                    xml_escape(&step.step_id),
                    xml_escape(&self.report.workflow_id)
                ));
            }
        }
    }

    /// A failure that belongs to no step (a failed dependency) is an error of
    /// the suite, as a `(workflow)` testcase.
    fn workflow_error(&mut self) {
        let report = self.report;
        let Some(e) = report.error.as_ref().filter(|e| e.step_id.is_none()) else {
            return;
        };
        self.errors += 1;
        self.xml.push_str(&format!(
            "    <testcase name=\"(workflow)\" classname=\"{}\" time=\"0.000\">\n      <error type=\"{}\" message=\"{}\"/>\n    </testcase>\n",
            xml_escape(&report.workflow_id),
            xml_escape(&format!("{:?}", e.kind).to_lowercase()),
            xml_escape(&e.message)
        ));
    }
}

/// A JUnit report written suite by suite (a batch): the suites go to a
/// `.part` file beside the report as they come, so memory stays flat, and
/// `finish` writes the report with its totals.
pub struct JunitStream {
    path: std::path::PathBuf,
    part_path: std::path::PathBuf,
    part: std::io::BufWriter<std::fs::File>,
    totals: JunitSuite,
}

impl JunitStream {
    pub fn create(path: &Path) -> Result<JunitStream, String> {
        write_file(path, "", "--junit")?;
        let mut part_path = path.as_os_str().to_owned();
        part_path.push(".part");
        let part_path = std::path::PathBuf::from(part_path);
        let file = std::fs::File::create(&part_path)
            .map_err(|e| format!("--junit: cannot write `{}`: {e}", part_path.display()))?;
        Ok(JunitStream {
            path: path.to_path_buf(),
            part_path,
            part: std::io::BufWriter::new(file),
            totals: JunitSuite {
                xml: String::new(),
                tests: 0,
                failures: 0,
                errors: 0,
                skipped: 0,
                duration_ms: 0,
            },
        })
    }

    /// Appends a suite, secrets masked.
    pub fn suite(&mut self, suite: &JunitSuite, redactor: &Redactor) -> Result<(), String> {
        use std::io::Write;
        self.totals.tests += suite.tests;
        self.totals.failures += suite.failures;
        self.totals.errors += suite.errors;
        self.totals.skipped += suite.skipped;
        self.totals.duration_ms += suite.duration_ms;
        self.part
            .write_all(redactor.redact(&suite.xml).as_bytes())
            .map_err(|e| format!("--junit: cannot write `{}`: {e}", self.part_path.display()))
    }

    /// Writes the report: totals, then every suite.
    pub fn finish(self) -> Result<(), String> {
        use std::io::Write;
        let err =
            |e: std::io::Error| format!("--junit: cannot write `{}`: {e}", self.path.display());
        let part = self.part.into_inner().map_err(|e| err(e.into_error()))?;
        drop(part);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&self.path).map_err(err)?);
        out.write_all(junit_head(&[&self.totals]).as_bytes())
            .map_err(err)?;
        let mut part = std::fs::File::open(&self.part_path).map_err(err)?;
        std::io::copy(&mut part, &mut out).map_err(err)?;
        out.write_all(JUNIT_TAIL.as_bytes()).map_err(err)?;
        out.flush().map_err(err)?;
        let _ = std::fs::remove_file(&self.part_path);
        Ok(())
    }
}

/// A JSON Lines file written as a batch goes (`--trace`: one object per line
/// of the batch file with its exchanges; `--report`: one run report per
/// line), secrets masked, flushed once the batch ends.
pub struct JsonLinesStream {
    path: std::path::PathBuf,
    flag: &'static str,
    out: std::io::BufWriter<std::fs::File>,
}

impl JsonLinesStream {
    pub fn create(path: &Path, flag: &'static str) -> Result<JsonLinesStream, String> {
        write_file(path, "", flag)?;
        let file = std::fs::File::create(path)
            .map_err(|e| format!("{flag}: cannot write `{}`: {e}", path.display()))?;
        Ok(JsonLinesStream {
            path: path.to_path_buf(),
            flag,
            out: std::io::BufWriter::new(file),
        })
    }

    pub fn write(&mut self, mut entry: Value, redactor: &Redactor) -> Result<(), String> {
        use std::io::Write;
        redactor.redact_value(&mut entry);
        let mut text = serde_json::to_string(&entry).unwrap_or_default();
        text.push('\n');
        self.out
            .write_all(text.as_bytes())
            .map_err(|e| format!("{}: cannot write `{}`: {e}", self.flag, self.path.display()))
    }

    pub fn finish(mut self) -> Result<(), String> {
        use std::io::Write;
        self.out
            .flush()
            .map_err(|e| format!("{}: cannot write `{}`: {e}", self.flag, self.path.display()))
    }
}

/// Writes the JUnit report, secrets masked.
pub fn write_junit(
    path: &Path,
    report: &RunReport,
    program: &Program,
    redactor: &Redactor,
) -> Result<(), String> {
    let text = junit(report, program);
    write_file(path, &redactor.redact(&text), "--junit")
}
