//! The compiler's state, shared by every part: the queue of workflows to
//! compile (a reference to a workflow adds it, so the program holds every
//! workflow the entry one can reach), the problems found so far, and the
//! lookups every part makes (workflows, components).

use std::collections::{BTreeSet, HashMap};

use serde_json::Value;

use super::errors::{error, fail, suggest, CompileError};
use super::program::{CompiledWorkflow, Program};
use crate::document::{Loaded, SourceRef, Workflow};
use crate::read::display_url;

pub(super) struct Compiler<'a> {
    pub(super) loaded: &'a Loaded,
    /// (doc, workflowId) → index in the program.
    index: HashMap<(usize, String), usize>,
    queue: Vec<(usize, String)>,
    /// Problems found so far; compiling goes on past them to report them all.
    pub(super) errors: Vec<CompileError>,
    /// Text the current step means literally even though it looks like a
    /// misspelt expression (`x-arazzo-literals` of the step and its workflow).
    pub(super) literals: Vec<String>,
    /// The workflow being compiled is in an Arazzo 1.1 document: objects
    /// written as Selector Objects in its values are selectors.
    pub(super) selectors: bool,
}

/// Where in a document a piece being compiled sits, for messages.
pub(super) struct Place<'a> {
    /// Index into [`Loaded::docs`] of the document.
    pub(super) doc: usize,
    pub(super) workflow: &'a Workflow,
    pub(super) step: Option<&'a str>,
    /// JSON Pointer of the workflow or step.
    pub(super) pointer: String,
}

impl Place<'_> {
    /// The JSON Pointer of a field of the workflow or step.
    pub(super) fn pointer_to(&self, field: &str) -> String {
        format!("{}/{field}", self.pointer)
    }
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let workflow = &self.workflow.workflow_id;
        match self.step {
            Some(s) => write!(f, "workflow `{workflow}`, step `{s}`"),
            None => write!(f, "workflow `{workflow}`"),
        }
    }
}

/// Compiles the `seeds` (workflowIds of the entry document) and every workflow
/// they reach: the program, and every problem found on the way.
pub(super) fn compile_parts(loaded: &Loaded, seeds: &[&str]) -> (Program, Vec<CompileError>) {
    let mut c = Compiler {
        loaded,
        index: HashMap::new(),
        queue: Vec::new(),
        errors: Vec::new(),
        literals: Vec::new(),
        selectors: false,
    };
    for id in seeds {
        c.workflow_index(0, id);
    }
    let workflows = c.compile_queue();
    if let Some(cycle) = depends_on_cycle(&workflows) {
        c.errors.push(error(
            "ref/dependency-cycle",
            format!("`dependsOn` forms a cycle: {}", cycle.join(" → ")),
            Some(
                "a workflow cannot depend, directly or not, on itself; remove one of the links"
                    .to_string(),
            ),
        ));
    }
    // Problems in other documents are reported once, at their first mention.
    let mut errors = c.errors;
    let mut seen = BTreeSet::new();
    errors.retain(|e| seen.insert((e.message.clone(), e.pointer.clone())));
    (
        Program {
            workflows,
            source_names: source_names(loaded),
            doc_self: loaded.docs.iter().map(|d| d.doc.self_uri()).collect(),
        },
        errors,
    )
}

/// Source description names of every loaded document, each once, in the order
/// first met.
fn source_names(loaded: &Loaded) -> Vec<String> {
    let mut source_names: Vec<String> = Vec::new();
    for d in &loaded.docs {
        for (n, _) in &d.sources {
            if !source_names.contains(n) {
                source_names.push(n.clone());
            }
        }
    }
    source_names
}

/// The place of a workflow that did not compile: no steps, marked incomplete,
/// so indexes into the program stay those of the queue.
fn unfinished(doc: usize, id: String) -> CompiledWorkflow {
    CompiledWorkflow {
        workflow_id: id,
        summary: None,
        description: None,
        doc,
        inputs_schema: None,
        steps: Vec::new(),
        outputs: Vec::new(),
        secret_inputs: BTreeSet::new(),
        depends_on: Vec::new(),
        parallel: false,
        incomplete: true,
    }
}

/// Places in another document are not places in the entry one: each problem
/// found there is about the entry document as a whole, naming the other
/// (`url`), without a pointer, a needle or a fix.
fn about_other_document(errors: &mut [CompileError], url: &str) {
    for e in errors {
        if e.pointer.take().is_some() {
            e.message = format!("in `{url}`: {}", e.message);
        }
        e.needle = None;
        e.fix = None;
    }
}

/// A `dependsOn` cycle, as workflowIds from the first to itself.
fn depends_on_cycle(workflows: &[CompiledWorkflow]) -> Option<Vec<String>> {
    fn visit(
        i: usize,
        wfs: &[CompiledWorkflow],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[i] = 1;
        path.push(i);
        for &d in &wfs[i].depends_on {
            if d >= wfs.len() {
                continue;
            }
            if state[d] == 1 {
                let start = path.iter().position(|&p| p == d).unwrap_or(0);
                let mut ids: Vec<String> = path[start..]
                    .iter()
                    .map(|&p| wfs[p].workflow_id.clone())
                    .collect();
                ids.push(wfs[d].workflow_id.clone());
                return Some(ids);
            }
            if state[d] == 0 {
                if let Some(c) = visit(d, wfs, state, path) {
                    return Some(c);
                }
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; workflows.len()];
    for i in 0..workflows.len() {
        if state[i] == 0 {
            if let Some(c) = visit(i, workflows, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

impl<'a> Compiler<'a> {
    /// Compiles the queued workflows in turn, until compiling them queues no
    /// more: one compiled workflow per queue entry, in queue order.
    fn compile_queue(&mut self) -> Vec<CompiledWorkflow> {
        let mut workflows: Vec<CompiledWorkflow> = Vec::new();
        let mut next = 0;
        while next < self.queue.len() {
            let (doc, id) = self.queue[next].clone();
            let before = self.errors.len();
            match self.workflow(doc, &id) {
                Ok(w) => workflows.push(w),
                Err(e) => {
                    self.errors.push(e);
                    workflows.push(unfinished(doc, id));
                }
            }
            if doc != 0 {
                let url = display_url(&self.loaded.docs[doc].doc.url);
                about_other_document(&mut self.errors[before..], &url);
            }
            next += 1;
        }
        workflows
    }

    /// The index in the program of workflow `id` of document `doc`, queued to
    /// be compiled the first time it is asked for.
    fn workflow_index(&mut self, doc: usize, id: &str) -> usize {
        let key = (doc, id.to_string());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.queue.len();
        self.index.insert(key.clone(), i);
        self.queue.push(key);
        i
    }

    /// Resolves a workflow reference: a bare id in the document of `at`, or
    /// `$sourceDescriptions.<name>.<workflowId>` in an `arazzo` source.
    pub(super) fn resolve_workflow(
        &mut self,
        reference: &str,
        at: &Place,
    ) -> Result<usize, CompileError> {
        let doc = at.doc;
        let d = &self.loaded.docs[doc];
        if let Some(rest) = reference.strip_prefix("$sourceDescriptions.") {
            let Some((name, id)) = rest.split_once('.') else {
                return fail(
                    "ref/unknown-workflow",
                    format!("{at}: `{reference}` names no workflow"),
                    Some("write `$sourceDescriptions.<source>.<workflowId>`".to_string()),
                );
            };
            return match d.source(name) {
                Some(SourceRef::Arazzo(i)) => {
                    let i = *i;
                    let target = &self.loaded.docs[i].doc;
                    if !target.doc.workflows.iter().any(|w| w.workflow_id == id) {
                        return fail("ref/unknown-workflow", 
                            format!("{at}: workflow `{id}` is not in source `{name}` (`{}`)", display_url(&target.url)),
                            suggest(id, target.doc.workflows.iter().map(|w| w.workflow_id.as_str())),
                        );
                    }
                    Ok(self.workflow_index(i, id))
                }
                Some(SourceRef::OpenApi(_)) => fail("ref/wrong-source-type", 
                    format!("{at}: `{reference}`: source `{name}` is an OpenAPI description, not an Arazzo document"),
                    None,
                ),
                Some(SourceRef::AsyncApi(_)) => fail("ref/wrong-source-type", 
                    format!("{at}: `{reference}`: source `{name}` is an AsyncAPI description, not an Arazzo document"),
                    None,
                ),
                None => fail("ref/unknown-source", 
                    format!("{at}: `{reference}` names the source `{name}`, which the document does not describe"),
                    suggest(name, d.sources.iter().map(|(n, _)| n.as_str())),
                ),
            };
        }
        if d.doc
            .doc
            .workflows
            .iter()
            .any(|w| w.workflow_id == reference)
        {
            return Ok(self.workflow_index(doc, reference));
        }
        fail("ref/unknown-workflow", 
            format!("{at}: there is no workflow `{reference}` in this document"),
            suggest(reference, d.doc.doc.workflows.iter().map(|w| w.workflow_id.as_str()))
                .or_else(|| Some("a workflow in another Arazzo document is named `$sourceDescriptions.<source>.<workflowId>`".into())),
        )
    }

    /// Looks up `$components.<kind>.<name>` in the components of the document
    /// of `at`.
    pub(super) fn component(
        &self,
        reference: &Value,
        kind: &str,
        at: &Place,
    ) -> Result<Value, CompileError> {
        let d = &self.loaded.docs[at.doc].doc;
        let Some(r) = reference.as_str() else {
            return fail(
                "ref/unknown-component",
                format!("{at}: a Reusable Object's `reference` must be a string"),
                None,
            );
        };
        let prefix = format!("$components.{kind}.");
        let Some(name) = r.strip_prefix(&prefix) else {
            return fail(
                "ref/unknown-component",
                format!("{at}: `reference: {r}` must point into `components.{kind}`"),
                Some(format!("write `reference: {prefix}<name>`")),
            );
        };
        let found = d
            .raw
            .get("components")
            .and_then(|c| c.get(kind))
            .and_then(|m| m.get(name));
        match found {
            Some(v) => Ok(v.clone()),
            None => {
                let names: Vec<String> = d
                    .raw
                    .get("components")
                    .and_then(|c| c.get(kind))
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                fail(
                    "ref/unknown-component",
                    format!("{at}: `{r}` does not exist in `components.{kind}`"),
                    suggest(name, names.iter().map(String::as_str)).or_else(|| {
                        Some(if names.is_empty() {
                            format!("the document defines no components.{kind}")
                        } else {
                            format!("components.{kind}: {}", names.join(", "))
                        })
                    }),
                )
            }
        }
    }
}
