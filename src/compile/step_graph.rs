//! Arazzo 1.1 step dependencies: what must complete before each step of a
//! workflow starts. A step's prerequisites are the steps its `dependsOn`
//! names and the steps its runtime expressions read (`$steps.<id>…`, the
//! implicit dependencies the 1.1 text asks tools to honour). A workflow in
//! which some step declares `dependsOn` runs as a graph (independent steps
//! concurrently); one without runs its steps in order, as in 1.0.

use std::collections::HashMap;

use super::compiler::{Compiler, Place};
use super::errors::{error, suggest, CompileError};
use super::program::CompiledStep;
use crate::expr::Expr;

/// A step's prerequisites.
#[derive(Debug, Clone, Default)]
pub struct StepDeps {
    /// Steps of the same workflow (indexes), explicit and implicit, each once.
    pub after: Vec<usize>,
    /// Steps of other workflows that must have completed in this run:
    /// (index into the program's workflows, stepId).
    pub elsewhere: Vec<(usize, String)>,
}

impl Compiler<'_> {
    /// The prerequisites of each step of the workflow at `here`, `None` when
    /// no step declares `dependsOn` (its steps run in order). Unknown steps,
    /// a step depending on itself and cycles are reported at their place.
    /// `steps` is the compiled list when every step compiled (for the
    /// implicit dependencies), else `None`.
    pub(super) fn step_graph(
        &mut self,
        here: &Place,
        steps: Option<&[CompiledStep]>,
    ) -> Option<Vec<StepDeps>> {
        let wf = here.workflow;
        if wf.steps.iter().all(|s| s.depends_on.is_empty()) {
            return None;
        }
        let index: HashMap<&str, usize> = wf
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.step_id.as_str(), i))
            .rev()
            .collect();
        let mut deps = vec![StepDeps::default(); wf.steps.len()];
        // Which `dependsOn` entry made each explicit edge, for messages.
        let mut explicit: Vec<Vec<(usize, usize)>> = vec![Vec::new(); wf.steps.len()];
        for (i, step) in wf.steps.iter().enumerate() {
            for (k, dep) in step.depends_on.iter().enumerate() {
                let ptr = here.pointer_to(&format!("steps/{i}/dependsOn/{k}"));
                if step.depends_on[..k].contains(dep) {
                    self.errors.push(
                        error(
                            "ref/duplicate-dependency",
                            format!(
                                "{here}, step `{}`: `dependsOn` lists `{dep}` twice",
                                step.step_id
                            ),
                            Some("list each step once".into()),
                        )
                        .at(&ptr),
                    );
                    continue;
                }
                match self.dependency(here, &index, &step.step_id, dep) {
                    Ok(Dep::Local(j)) => {
                        deps[i].after.push(j);
                        explicit[i].push((j, k));
                    }
                    Ok(Dep::Elsewhere(w, s)) => deps[i].elsewhere.push((w, s)),
                    Err(e) => self.errors.push(e.at(&ptr)),
                }
            }
        }
        if let Some(steps) = steps {
            for (i, s) in steps.iter().enumerate() {
                for e in s.expressions() {
                    let Expr::Steps { step, .. } = e else {
                        continue;
                    };
                    let j = index.get(step.as_str()).copied();
                    if let Some(j) = j.filter(|&j| j != i && !deps[i].after.contains(&j)) {
                        deps[i].after.push(j);
                    }
                }
            }
            self.report_cycle(here, &deps, &explicit);
        }
        Some(deps)
    }

    /// Resolves one `dependsOn` entry of step `step_id`: a stepId of the
    /// workflow, `$workflows.<id>.steps.<stepId>` or
    /// `$sourceDescriptions.<name>.<id>.steps.<stepId>`.
    fn dependency(
        &mut self,
        here: &Place,
        index: &HashMap<&str, usize>,
        step_id: &str,
        dep: &str,
    ) -> Result<Dep, CompileError> {
        let wf = here.workflow;
        let qualified = dep
            .strip_prefix("$workflows.")
            .map(|rest| (None, rest))
            .or_else(|| {
                let rest = dep.strip_prefix("$sourceDescriptions.")?;
                let (source, rest) = rest.split_once('.')?;
                Some((Some(source), rest))
            });
        let Some((source, rest)) = qualified else {
            return match index.get(dep).copied() {
                Some(_) if dep == step_id => Err(error(
                    "ref/self-dependency",
                    format!("{here}, step `{step_id}`: a step cannot depend on itself"),
                    Some(format!("remove `{dep}` from its `dependsOn`")),
                )),
                Some(j) => Ok(Dep::Local(j)),
                None => Err(error(
                    "ref/unknown-step",
                    format!(
                        "{here}, step `{step_id}`: `dependsOn` names `{dep}`, which is not a step of workflow `{}`",
                        wf.workflow_id
                    ),
                    suggest(dep, wf.steps.iter().map(|s| s.step_id.as_str())).or_else(|| {
                        Some("a step of another workflow is written `$workflows.<workflowId>.steps.<stepId>`".into())
                    }),
                )),
            };
        };
        let Some((workflow, step)) = rest.split_once(".steps.") else {
            return Err(error(
                "ref/unknown-step",
                format!("{here}, step `{step_id}`: `{dep}` names no step"),
                Some("write `$workflows.<workflowId>.steps.<stepId>` or `$sourceDescriptions.<source>.<workflowId>.steps.<stepId>`".into()),
            ));
        };
        let reference = match source {
            Some(s) => format!("$sourceDescriptions.{s}.{workflow}"),
            None => workflow.to_string(),
        };
        let w = self.resolve_workflow(&reference, here)?;
        let doc = match source {
            None => here.doc,
            Some(s) => match self.loaded.docs[here.doc].source(s) {
                Some(crate::document::SourceRef::Arazzo(i)) => *i,
                _ => here.doc,
            },
        };
        let target = self.loaded.docs[doc]
            .doc
            .doc
            .workflows
            .iter()
            .find(|x| x.workflow_id == workflow);
        match target {
            Some(t) if t.steps.iter().any(|s| s.step_id == step) => {
                Ok(Dep::Elsewhere(w, step.to_string()))
            }
            Some(t) => Err(error(
                "ref/unknown-step",
                format!("{here}, step `{step_id}`: workflow `{workflow}` has no step `{step}`"),
                suggest(step, t.steps.iter().map(|s| s.step_id.as_str())),
            )),
            None => Err(error(
                "ref/unknown-workflow",
                format!("{here}, step `{step_id}`: `{dep}` names an unknown workflow"),
                None,
            )),
        }
    }

    /// Reports one cycle among the steps' prerequisites, at the `dependsOn`
    /// entry that closes it (or at the step, when only expressions make it).
    fn report_cycle(&mut self, here: &Place, deps: &[StepDeps], explicit: &[Vec<(usize, usize)>]) {
        let Some(cycle) = find_cycle(deps) else {
            return;
        };
        let wf = here.workflow;
        let names: Vec<&str> = cycle
            .iter()
            .chain(cycle.first())
            .map(|&i| wf.steps[i].step_id.as_str())
            .collect();
        // The cycle as edges `from` → `to` (from waits for to).
        let edges = cycle.iter().zip(cycle.iter().cycle().skip(1));
        let place = edges
            .clone()
            .find_map(|(&from, &to)| {
                let (_, k) = explicit[from].iter().find(|(j, _)| *j == to)?;
                Some(here.pointer_to(&format!("steps/{from}/dependsOn/{k}")))
            })
            .unwrap_or_else(|| here.pointer_to(&format!("steps/{}", cycle[0])));
        self.errors.push(
            error(
                "ref/dependency-cycle",
                format!(
                    "{here}: the steps wait for each other in a cycle ({}), so none of them can start",
                    names.join(" waits for ")
                ),
                Some("remove one of these dependencies (a `dependsOn` entry, or a `$steps` expression reading a step that waits for this one)".into()),
            )
            .at(&place),
        );
    }
}

enum Dep {
    Local(usize),
    Elsewhere(usize, String),
}

/// A cycle of prerequisites (step indexes, each waiting for the next, the
/// last for the first), if there is one. Iterative, so a long chain cannot
/// overflow the stack.
fn find_cycle(deps: &[StepDeps]) -> Option<Vec<usize>> {
    // 0 = not seen, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; deps.len()];
    for root in 0..deps.len() {
        if state[root] != 0 {
            continue;
        }
        let mut path: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (node, ref mut next)) = path.last_mut() {
            match deps[node].after.get(*next) {
                Some(&to) => {
                    *next += 1;
                    match state[to] {
                        0 => {
                            state[to] = 1;
                            path.push((to, 0));
                        }
                        1 => {
                            let start = path.iter().position(|(n, _)| *n == to)?;
                            return Some(path[start..].iter().map(|(n, _)| *n).collect());
                        }
                        _ => {}
                    }
                }
                None => {
                    state[node] = 2;
                    path.pop();
                }
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[&[usize]]) -> Vec<StepDeps> {
        edges
            .iter()
            .map(|a| StepDeps {
                after: a.to_vec(),
                elsewhere: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn finds_cycles_and_only_cycles() {
        assert_eq!(find_cycle(&graph(&[&[], &[0], &[0, 1]])), None);
        assert_eq!(find_cycle(&graph(&[&[1], &[2], &[0]])), Some(vec![0, 1, 2]));
        assert_eq!(find_cycle(&graph(&[&[], &[2], &[1]])), Some(vec![1, 2]));
        // A long chain is walked without recursion.
        let long: Vec<StepDeps> = (0..100_000)
            .map(|i| StepDeps {
                after: if i == 0 { vec![] } else { vec![i - 1] },
                elsewhere: Vec::new(),
            })
            .collect();
        assert_eq!(find_cycle(&long), None);
    }
}
