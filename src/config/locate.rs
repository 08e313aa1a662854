//! Problems located in the environment file: the line, column and dotted key of each, with the
//! line's text, for the parse error of a file that is not TOML and for every validation problem.

use super::source::EnvironmentSource;
use serde::Serialize;
use std::fmt;

/// One problem in an environment file, located as precisely as the file allows.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: String,
    pub value: Option<String>,
    pub message: String,
    #[serde(skip)]
    pub source_line: Option<String>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors {
    pub file: String,
    pub problems: Vec<Problem>,
}

impl ConfigErrors {
    pub fn help(&self) -> String {
        "fix the environment file and run the command again; nothing was sent to AWS. \
         Every key is described in docs/environment-files.md"
            .into()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "invalid environment file {} ({n} problem{})", self.file, if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  {}", p.file)?;
            if let (Some(l), Some(c)) = (p.line, p.column) {
                write!(f, ":{l}:{c}")?;
            }
            write!(f, ": {}", p.key)?;
            if let Some(v) = &p.value {
                write!(f, " = {v}")?;
            }
            write!(f, ": {}", p.message)?;
            if let (Some(l), Some(src)) = (p.line, &p.source_line) {
                write!(f, "\n    {l:>4} | {src}")?;
            }
        }
        Ok(())
    }
}

/// A segment of a key path: `data_sources[1].name` is Key, Index, Key.
#[derive(Debug, Clone)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// The error of a file that does not parse (or does not fit the file format), located.
/// A problem serde found, located in the original text (`text` has the same offsets).
fn parse_problem(source: &EnvironmentSource, text: &str, e: &toml::de::Error) -> Problem {
    let (line, column, source_line) = match e.span() {
        Some(span) => position(&source.text, span.start),
        None => (None, None, None),
    };
    let key = key_from_toml_error(text, e.span()).unwrap_or_else(|| "(file)".into());
    Problem {
        file: source.display.clone(),
        line,
        column,
        key,
        value: None,
        message: plain_types(e.message().trim()),
        source_line,
    }
}

/// serde's type names in the words of the file: "expected i64" is "expected an integer".
fn plain_types(message: &str) -> String {
    [
        ("expected i64", "expected an integer"),
        ("expected u32", "expected a whole number"),
        ("expected u64", "expected a whole number"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
    ]
    .iter()
    .fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

/// Every problem serde finds in a file that parses as TOML, not only the first. Each section (the
/// keys before the first header, and each `[header]`) is read on its own, the others blanked
/// (offsets kept); within it, after each problem the offending lines are blanked too and the
/// section read again. A "missing field" then is a consequence of the blanking, or a problem
/// another section's reading reports: it ends that section's search unless it is the first.
/// A syntax error is reported alone, since nothing after it can be read reliably.
pub fn parse_errors<T: serde::de::DeserializeOwned>(
    source: &EnvironmentSource,
    first: &toml::de::Error,
) -> ConfigErrors {
    let mut problems = vec![parse_problem(source, &source.text, first)];
    if toml::de::DeTable::parse(&source.text).is_err() {
        return ConfigErrors { file: source.display.clone(), problems };
    }
    let sections = sections(&source.text);
    for (n, own) in sections.iter().enumerate() {
        let mut text = source.text.clone();
        for (_, range) in sections.iter().enumerate().filter(|(m, _)| *m != n) {
            blank_range(&mut text, range.clone());
        }
        let mut blanked: Vec<String> = Vec::new();
        for _ in 0..20 {
            let e = match toml::from_str::<T>(&text) {
                Ok(_) => break,
                Err(e) => e,
            };
            let Some(span) = e.span() else { break };
            let next = parse_problem(source, &text, &e);
            // A missing field of this section that was not blanked here is its problem; any
            // other is a consequence of the blanking.
            let missing = e.message().contains("missing field");
            // (The keys before the first header are the root, whose missing sections are the
            // blanked others.)
            let ours =
                n > 0 && own.contains(&span.start) && !blanked.iter().any(|k| e.message().contains(&format!("`{k}`")));
            if missing && !ours {
                break;
            }
            if !problems.iter().any(|p| p.line == next.line && p.message == next.message) {
                problems.push(next.clone());
            }
            if missing {
                break;
            }
            blanked.push(next.key.rsplit('.').next().unwrap_or_default().to_string());
            blank(&mut text, span);
        }
    }
    problems.sort_by_key(|p| p.line);
    ConfigErrors { file: source.display.clone(), problems }
}

/// `text` as a TOML table with every key of `problems` replaced by its value in `stand_in` (a
/// file that is valid, so a required key stays present) or removed when `stand_in` has none; None
/// when `text` is not TOML.
pub fn with_stand_ins(text: &str, problems: &[Problem], stand_in: &str) -> Option<toml::Table> {
    let mut table: toml::Table = toml::from_str(text).ok()?;
    let stand_in: toml::Table = toml::from_str(stand_in).ok()?;
    for p in problems {
        let path = segments(&p.key);
        let value = lookup(&stand_in, &path).cloned();
        replace(&mut table, &path, value);
    }
    Some(table)
}

/// `data_sources[1].name` as Key, Index, Key.
fn segments(key: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut pieces = part.split('[');
        out.push(Seg::Key(pieces.next().unwrap_or_default().to_string()));
        out.extend(pieces.filter_map(|i| i.trim_end_matches(']').parse().ok()).map(Seg::Index));
    }
    out
}

fn lookup<'a>(table: &'a toml::Table, path: &[Seg]) -> Option<&'a toml::Value> {
    let (Seg::Key(first), rest) = path.split_first()? else { return None };
    let mut value = table.get(first)?;
    for seg in rest {
        value = match seg {
            Seg::Key(k) => value.get(k.as_str())?,
            // A stand-in's first array element stands in for any index.
            Seg::Index(i) => value.get(*i).or_else(|| value.get(0))?,
        };
    }
    Some(value)
}

fn replace(table: &mut toml::Table, path: &[Seg], value: Option<toml::Value>) {
    let Some((Seg::Key(last), parents)) = path.split_last() else { return };
    let mut here = table;
    let mut parents = parents.iter().peekable();
    while let Some(seg) = parents.next() {
        let Seg::Key(k) = seg else { return };
        let mut next = here.get_mut(k.as_str());
        if let Some(Seg::Index(i)) = parents.peek() {
            next = next.and_then(|v| v.get_mut(*i));
            parents.next();
        }
        let Some(toml::Value::Table(t)) = next else { return };
        here = t;
    }
    match value {
        Some(v) => here.insert(last.clone(), v),
        None => here.remove(last),
    };
}

/// The byte ranges of a file's sections: the lines before the first header, then each header
/// with the lines up to the next one.
fn sections(text: &str) -> Vec<std::ops::Range<usize>> {
    let mut starts = vec![0];
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if offset > 0 && line.trim_start().starts_with('[') {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.iter().enumerate().map(|(i, s)| *s..starts.get(i + 1).copied().unwrap_or(text.len())).collect()
}

fn blank_range(text: &mut String, range: std::ops::Range<usize>) {
    let spaces: String = text[range.clone()].chars().map(|c| if c == '\n' { '\n' } else { ' ' }).collect();
    text.replace_range(range, &spaces);
}

/// Replaces the lines `span` touches with spaces; a table header takes its keys with it.
fn blank(text: &mut String, span: std::ops::Range<usize>) {
    let start = text[..span.start.min(text.len())].rfind('\n').map_or(0, |i| i + 1);
    let mut end = text[span.end.min(text.len())..].find('\n').map_or(text.len(), |i| span.end + i);
    if text[start..].trim_start().starts_with('[') {
        // Up to the next header.
        end = text[end..].find("\n[").map_or(text.len(), |i| end + i);
    }
    blank_range(text, start..end);
}

/// A validation problem at `path`, located in the file.
pub fn problem(source: &EnvironmentSource, path: &[Seg], value: Option<String>, message: String) -> Problem {
    let doc = toml::de::DeTable::parse(&source.text).ok().map(|t| toml::de::DeValue::Table(t.into_inner()));
    let offset = doc.as_ref().and_then(|d| locate(d, path));
    let (line, column, source_line) = match offset {
        Some(o) => position(&source.text, o),
        None => (None, None, None),
    };
    Problem { file: source.display.clone(), line, column, key: dotted(path), value, message, source_line }
}

fn dotted(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The byte offset of the value at `path`, or of the nearest parent that exists (a missing key is
/// reported at its table).
fn locate(doc: &toml::de::DeValue<'_>, path: &[Seg]) -> Option<usize> {
    let mut current = doc;
    let mut offset = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => current.get(k.as_str()),
            Seg::Index(i) => current.get(*i),
        };
        match next {
            Some(v) => {
                offset = Some(v.span().start);
                current = v.get_ref();
            }
            None => break,
        }
    }
    offset
}

/// 1-based line and column of a byte offset, and the text of that line.
fn position(text: &str, offset: usize) -> (Option<usize>, Option<usize>, Option<String>) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = text[line_start..offset].chars().count() + 1;
    let source_line = text[line_start..].lines().next().unwrap_or("").to_string();
    (Some(line), Some(column), Some(source_line))
}

/// toml's error spans point at the offending place; name the dotted key that holds it.
fn key_from_toml_error(text: &str, span: Option<std::ops::Range<usize>>) -> Option<String> {
    let span = span?;
    let mut path = Vec::new();
    if let Ok(doc) = toml::de::DeTable::parse(text) {
        deepest_key(&toml::de::DeValue::Table(doc.into_inner()), span.start, &mut path);
    }
    if path.is_empty() {
        // Keys under a `[table]` header lie outside the header's span: use the last header
        // before the error and the key on the error's line.
        let before = &text[..span.start.min(text.len())];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let line = text[line_start..].lines().next().unwrap_or("");
        let table = before[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string());
        let key = line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string()).filter(|k| !k.is_empty());
        let joined: Vec<String> = table.into_iter().chain(key).collect();
        return (!joined.is_empty()).then(|| joined.join("."));
    }
    Some(dotted(&path))
}

fn deepest_key(value: &toml::de::DeValue<'_>, offset: usize, path: &mut Vec<Seg>) {
    match value {
        toml::de::DeValue::Table(t) => {
            for (k, v) in t.iter() {
                if k.span().contains(&offset) || v.span().contains(&offset) {
                    path.push(Seg::Key(k.get_ref().to_string()));
                    deepest_key(v.get_ref(), offset, path);
                    return;
                }
            }
        }
        toml::de::DeValue::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                if v.span().contains(&offset) {
                    path.push(Seg::Index(i));
                    deepest_key(v.get_ref(), offset, path);
                    return;
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_is_one_based() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(position(text, 6), (Some(2), Some(1), Some("bb = 2".into())));
        assert_eq!(position(text, 11), (Some(2), Some(6), Some("bb = 2".into())));
    }

    #[test]
    fn locate_finds_nested_and_array_values() {
        let text = "[x]\ny = 5\n[[ds]]\nname = \"a\"\n[[ds]]\nname = \"b\"\n";
        let doc = toml::de::DeValue::Table(toml::de::DeTable::parse(text).unwrap().into_inner());
        let off = locate(&doc, &[Seg::Key("x".into()), Seg::Key("y".into())]).unwrap();
        assert_eq!(position(text, off).0, Some(2));
        let off = locate(&doc, &[Seg::Key("ds".into()), Seg::Index(1), Seg::Key("name".into())]).unwrap();
        assert_eq!(position(text, off).0, Some(6));
    }
}
