//! Every `ragstack ...` command shown in a code block of README.md and docs/*.md parses with the
//! command line it documents (clap's own parser): a renamed flag or command fails here, not in a
//! reader's shell. Synopsis lines with placeholders (`ENV [REGION]`) are descriptions, not
//! commands, and are skipped.

use clap::Parser;
use ragstack::cli::Cli;
use std::path::Path;

/// The words of a shell command line, quotes honoured, up to a comment, pipe or `&&`.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#' | '|' | ';' | '>') if !in_word => break,
            (None, '&') => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// A placeholder of a synopsis: ENV, [REGION], FILE, "QUESTION", bash|zsh...
fn placeholder(w: &str) -> bool {
    let core = w.trim_matches(|c| matches!(c, '[' | ']' | '.'));
    w.contains('|') || (core.len() >= 2 && core.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
}

#[test]
fn every_documented_command_parses() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    files.extend(
        std::fs::read_dir(root.join("docs"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "md")),
    );
    let (mut parsed, mut failures) = (0, Vec::new());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let mut in_block = false;
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("```") {
                in_block = !in_block;
                continue;
            }
            let command = line.trim().trim_start_matches("$ ");
            if !in_block || !command.starts_with("ragstack ") || words(command).iter().skip(1).any(|x| placeholder(x)) {
                continue;
            }
            // A description after the command is set off by a run of spaces.
            let command = command.split("   ").next().unwrap_or_default();
            let w = words(command);
            match Cli::try_parse_from(&w) {
                Ok(_) => parsed += 1,
                Err(e)
                    if matches!(
                        e.kind(),
                        clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
                    ) =>
                {
                    parsed += 1
                }
                Err(e) => failures.push(format!("{}:{}: {command}\n{}", file.display(), n + 1, e.render())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(parsed >= 10, "only {parsed} commands found in the documentation");
    println!("{parsed} documented commands parse");
}

#[test]
fn the_word_splitter_honours_quotes_and_stops_at_comments_and_pipes() {
    assert_eq!(words(r#"ragstack ask dev "What is it?"  # a comment"#), ["ragstack", "ask", "dev", "What is it?"]);
    assert_eq!(words("ragstack status dev | head -1"), ["ragstack", "status", "dev"]);
    assert!(placeholder("[REGION]") && placeholder("ENV") && placeholder("yaml|json"));
    assert!(!placeholder("dev") && !placeholder("-k"));
}
