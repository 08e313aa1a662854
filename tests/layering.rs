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

/// The files of src/ as modules: `resources::knowledge_base`, `config` (config/mod.rs), "" (lib.rs).
fn file_modules() -> BTreeMap<String, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = BTreeMap::new();
    let mut files = vec![src.clone()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else if p.extension().is_some_and(|e| e == "rs") && !p.ends_with("main.rs") {
            let rel = p.strip_prefix(&src).unwrap().to_string_lossy().trim_end_matches(".rs").replace('/', "::");
            let module = rel.trim_end_matches("mod").trim_end_matches("::").trim_end_matches("lib").to_string();
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let code: Vec<&str> = code.lines().map(|l| l.split("//").next().unwrap()).collect();
            modules.insert(module, code.join("\n"));
        }
    }
    modules
}

/// The paths of a use tree that starts at `s` (`a::{b, c::d}` gives a::b and a::c::d), after `prefix`.
fn use_tree(s: &[char], i: &mut usize, prefix: Vec<String>) -> Vec<Vec<String>> {
    let skip = |i: &mut usize| {
        while *i < s.len() && s[*i].is_whitespace() {
            *i += 1;
        }
    };
    skip(i);
    if s.get(*i) == Some(&'{') {
        *i += 1;
        let mut paths = Vec::new();
        loop {
            skip(i);
            match s.get(*i) {
                None => return paths,
                Some('}') => {
                    *i += 1;
                    return paths;
                }
                Some(',') => *i += 1,
                _ => paths.extend(use_tree(s, i, prefix.clone())),
            }
        }
    }
    let start = *i;
    while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == '_' || s[*i] == '*') {
        *i += 1;
    }
    if *i == start {
        return vec![prefix];
    }
    let mut path = prefix;
    path.push(s[start..*i].iter().collect());
    if s.get(*i) == Some(&':') && s.get(*i + 1) == Some(&':') {
        *i += 2;
        return use_tree(s, i, path);
    }
    vec![path]
}

/// Every path `file` (module `module`) names inside the crate, made absolute: `crate::…`,
/// `super::…` and its own children's `child::…`; with the `pub use` ones apart (re-exports).
fn paths_named(module: &str, code: &str, modules: &BTreeMap<String, String>) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let join = |m: &str, seg: &str| if m.is_empty() { seg.to_string() } else { format!("{m}::{seg}") };
    let parent: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
    let parent = parent[..parent.len().saturating_sub(1)].to_vec();
    let chars: Vec<char> = code.chars().collect();
    let (mut used, mut exported) = (Vec::new(), Vec::new());
    let mut at = 0;
    while at < chars.len() {
        let boundary =
            at == 0 || !(chars[at - 1].is_ascii_alphanumeric() || chars[at - 1] == '_' || chars[at - 1] == ':');
        let word: String = chars[at..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == '_').collect();
        let follows = chars.get(at + word.len()) == Some(&':') && chars.get(at + word.len() + 1) == Some(&':');
        if !boundary || word.is_empty() || !follows {
            at += word.len().max(1);
            continue;
        }
        let prefix: Option<Vec<String>> = match word.as_str() {
            "crate" => Some(Vec::new()),
            "super" => Some(parent.clone()),
            "self" => Some(module.split("::").filter(|s| !s.is_empty()).map(String::from).collect()),
            child if modules.contains_key(&join(module, child)) => {
                let mut p: Vec<String> = module.split("::").filter(|s| !s.is_empty()).map(String::from).collect();
                p.push(child.to_string());
                let reexport = chars[..at].iter().collect::<String>().trim_end().ends_with("pub use");
                at += word.len() + 2;
                let paths = use_tree(&chars, &mut at, p);
                if reexport {
                    exported.extend(paths)
                } else {
                    used.extend(paths)
                }
                continue;
            }
            _ => None,
        };
        let before: String = chars[..at].iter().collect();
        let reexport = before.trim_end().ends_with("pub use");
        at += word.len() + 2;
        if let Some(prefix) = prefix {
            let paths = use_tree(&chars, &mut at, prefix);
            if reexport { exported.extend(paths) } else { used.extend(paths) }
        }
    }
    (used, exported)
}

/// The file that defines what `path` names: the deepest module on it, or, for an item that module
/// re-exports (`pub use`, also `*`), the file it comes from.
fn defining_file(path: &[String], modules: &BTreeMap<String, String>, depth: usize) -> String {
    let mut module = String::new();
    for seg in path {
        let child = if module.is_empty() { seg.clone() } else { format!("{module}::{seg}") };
        if modules.contains_key(&child) {
            module = child;
            continue;
        }
        if seg == "self" || seg == "*" || depth > 8 {
            return module;
        }
        let (_, exported) = paths_named(&module, &modules[&module], modules);
        if let Some(target) = exported.iter().find(|p| p.last() == Some(seg)) {
            return defining_file(target, modules, depth + 1);
        }
        for glob in exported.iter().filter(|p| p.last().is_some_and(|l| l == "*")) {
            let from = defining_file(&glob[..glob.len() - 1], modules, depth + 1);
            let defines = ["struct", "enum", "fn", "const", "static", "type", "trait"]
                .iter()
                .any(|k| modules[&from].contains(&format!("{k} {seg}")));
            if defines {
                return from;
            }
        }
        return module;
    }
    module
}

/// File -> the files whose items it uses or re-exports.
fn file_imports() -> BTreeMap<String, BTreeSet<String>> {
    let modules = file_modules();
    let mut graph = BTreeMap::new();
    for (module, code) in &modules {
        let (used, exported) = paths_named(module, code, &modules);
        let deps: BTreeSet<String> = used
            .iter()
            .chain(&exported)
            .filter(|p| p.last().is_none_or(|l| l != "*"))
            .map(|p| defining_file(p, &modules, 0))
            .filter(|d| d != module && !d.is_empty())
            .collect();
        graph.insert(module.clone(), deps);
    }
    graph
}

/// No two files of src/ import each other, directly or through others (docs/ARCHITECTURE.md,
/// "Modules"). A `pub use` is an import of what it re-exports, so `crate::Error` imports `error`;
/// a `mod.rs` that declares and re-exports its children makes no cycle, one that also defines
/// what its children use while it uses theirs does.
#[test]
fn the_files_import_each_other_without_cycles() {
    let graph = file_imports();
    assert!(graph.len() > 40 && graph["resources::knowledge_base"].contains("error"), "{graph:?}");
    let reach = |from: &str| {
        let (mut seen, mut todo) = (BTreeSet::new(), vec![from.to_string()]);
        while let Some(m) = todo.pop() {
            for d in graph.get(&m).into_iter().flatten() {
                if seen.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = graph.keys().map(|m| (m, reach(m))).collect();
    let mut cycles: BTreeSet<Vec<String>> = BTreeSet::new();
    for (m, r) in &reaches {
        if r.contains(*m) {
            cycles.insert(
                reaches
                    .iter()
                    .filter(|(o, or)| r.contains(**o) && or.contains(*m))
                    .map(|(o, _)| o.to_string())
                    .collect(),
            );
        }
    }
    assert!(
        cycles.is_empty(),
        "files in an import cycle, by cycle:\n{}",
        cycles.iter().map(|c| c.join(" ↔ ")).collect::<Vec<_>>().join("\n")
    );
}

/// The engine and the commands know no resource kind by name (docs/ARCHITECTURE.md, "The
/// resource contract"): no id a kind declares (`Id::fixed("...")`) is spelled outside src/resources/.
#[test]
fn no_resource_id_is_spelled_outside_the_resource_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut ids = Vec::new();
    let mut files = vec![src.join("resources")];
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for (i, _) in text.match_indices("Id::fixed(\"") {
            let rest = &text[i + "Id::fixed(\"".len()..];
            ids.push(format!("\"{}\"", &rest[..rest.find('"').unwrap()]));
        }
    }
    assert!(ids.len() >= 12, "{ids:?}");
    let mut modules: Vec<String> =
        ["engine.rs", "plan.rs", "context.rs", "cli.rs", "session.rs", "blue_green.rs", "eval.rs"]
            .map(String::from)
            .into();
    for entry in std::fs::read_dir(src.join("commands")).unwrap() {
        modules.push(format!("commands/{}", entry.unwrap().file_name().to_string_lossy()));
    }
    assert!(modules.len() > 15, "{modules:?}");
    for module in &modules {
        let text = std::fs::read_to_string(src.join(module)).unwrap();
        for id in &ids {
            // A JSON key of the same word (`"log_group": ...` in logs' output) names no resource.
            let spelled = text.match_indices(id.as_str()).any(|(i, _)| !text[i + id.len()..].starts_with(':'));
            assert!(!spelled, "{module} spells the resource id {id}");
        }
    }
}
