//! The modules of src/ import each other without cycles (docs/ARCHITECTURE.md, "Modules"): a
//! module's `crate::X` imports, test code and comments aside, form a graph with no cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module -> the top-level modules it imports.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        if p.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let rel = p.strip_prefix(&src).unwrap().to_string_lossy().to_string();
        let module = rel.split(['/', '.']).next().unwrap().to_string();
        let text = std::fs::read_to_string(&p).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        let deps = graph.entry(module.clone()).or_default();
        for line in code.lines().map(|l| l.split("//").next().unwrap()) {
            for (i, _) in line.match_indices("crate::") {
                let rest = &line[i + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group.split('}').next().unwrap().split(',').collect(),
                    None => vec![rest],
                };
                for n in names {
                    let name: String =
                        n.trim().chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                    if !name.is_empty() && name != module && name != "self" {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn the_modules_import_each_other_without_cycles() {
    let graph = imports();
    assert!(graph.len() > 15, "{graph:?}");
    // Depth-first search; a module met again on the current path closes a cycle.
    fn visit(m: &str, g: &BTreeMap<String, BTreeSet<String>>, path: &mut Vec<String>, done: &mut BTreeSet<String>) {
        if done.contains(m) {
            return;
        }
        if let Some(at) = path.iter().position(|p| p == m) {
            panic!("import cycle: {} -> {m}", path[at..].join(" -> "));
        }
        path.push(m.to_string());
        for d in g.get(m).into_iter().flatten() {
            visit(d, g, path, done);
        }
        path.pop();
        done.insert(m.to_string());
    }
    let mut done = BTreeSet::new();
    for m in graph.keys() {
        visit(m, &graph, &mut Vec::new(), &mut done);
    }
}

/// The engine and the commands know no resource kind by name (docs/ARCHITECTURE.md, "The
/// resource contract"): no id a kind declares (`Id::fixed("...")`) is spelled outside src/resources/.
#[test]
fn no_resource_id_is_spelled_outside_the_resource_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(src.join("resources")).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for (i, _) in text.match_indices("Id::fixed(\"") {
            let rest = &text[i + "Id::fixed(\"".len()..];
            ids.push(format!("\"{}\"", &rest[..rest.find('"').unwrap()]));
        }
    }
    assert!(ids.len() >= 12, "{ids:?}");
    for module in [
        "engine.rs",
        "plan.rs",
        "status.rs",
        "teardown.rs",
        "deploy.rs",
        "context.rs",
        "cli.rs",
        "session.rs",
        "blue_green.rs",
        "eval.rs",
    ] {
        let text = std::fs::read_to_string(src.join(module)).unwrap();
        for id in &ids {
            assert!(!text.contains(id.as_str()), "{module} spells the resource id {id}");
        }
    }
}
