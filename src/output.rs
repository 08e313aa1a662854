//! Progress of a run: a live view on a terminal (indicatif, on stderr), plain lines when piped,
//! newline-delimited JSON events with `--json`. Every line carries the time since the run began.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Plain,
    Json,
}

pub struct Reporter {
    mode: Mode,
    start: Instant,
    multi: MultiProgress,
    bars: Mutex<HashMap<String, (ProgressBar, Instant)>>,
}

impl Reporter {
    /// Live when stderr is a terminal (and not `--json`), plain lines otherwise.
    pub fn new(json: bool) -> Reporter {
        let mode = if json {
            Mode::Json
        } else if std::io::stderr().is_terminal() && std::env::var_os("NO_PROGRESS").is_none() {
            Mode::Live
        } else {
            Mode::Plain
        };
        let multi = MultiProgress::with_draw_target(if mode == Mode::Live {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        Reporter { mode, start: Instant::now(), multi, bars: Mutex::new(HashMap::new()) }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// A resource changed state: `state` is one word (creating, waiting, done, failed...),
    /// `detail` says what exactly.
    pub fn resource(&self, id: &str, state: &str, detail: &str) {
        let terminal = matches!(state, "done" | "failed" | "skipped" | "unchanged");
        let mut bars = self.bars.lock().expect("progress lock");
        let since = bars.get(id).map_or_else(Instant::now, |(_, t)| *t);
        let resource_secs = since.elapsed().as_secs_f64();
        match self.mode {
            Mode::Json => self.emit(json!({
                "event": "resource",
                "resource": id,
                "state": state,
                "detail": detail,
                "resource_elapsed_s": round(resource_secs),
            })),
            Mode::Plain => {
                let took =
                    if terminal && resource_secs >= 0.05 { format!(" ({resource_secs:.1}s)") } else { String::new() };
                self.line(&format!("{id:<28} {state:<10} {detail}{took}"));
            }
            Mode::Live => {
                let (bar, _) = bars.entry(id.to_string()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new_spinner());
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {prefix:28} {msg} [{elapsed}]")
                            .expect("valid template"),
                    );
                    bar.set_prefix(id.to_string());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    (bar, Instant::now())
                });
                let msg = format!("{state:<10} {detail}");
                if terminal {
                    bar.set_style(ProgressStyle::with_template("  {prefix:28} {msg}").expect("valid template"));
                    bar.finish_with_message(format!("{msg} ({resource_secs:.1}s)"));
                } else {
                    bar.set_message(msg);
                }
                return;
            }
        }
        bars.entry(id.to_string()).or_insert_with(|| (ProgressBar::hidden(), since));
    }

    /// A byte progress bar (live mode only; hidden otherwise, where per-item lines say the same).
    pub fn bytes(&self, total: u64, what: &str) -> ProgressBar {
        if self.mode != Mode::Live {
            return ProgressBar::hidden();
        }
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(
            ProgressStyle::with_template("  {prefix:28} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
                .expect("valid template"),
        );
        bar.set_prefix(what.to_string());
        bar
    }

    /// A free-form line of the run (plain/live), or a `note` event (JSON).
    pub fn note(&self, text: &str) {
        match self.mode {
            Mode::Json => self.emit(json!({"event": "note", "message": text})),
            Mode::Plain => self.line(text),
            Mode::Live => {
                let _ = self.multi.println(text);
            }
        }
    }

    /// A structured event (JSON mode only); human modes print `text` instead when given.
    pub fn event(&self, event: Value, text: Option<&str>) {
        match (self.mode, text) {
            (Mode::Json, _) => self.emit(event),
            (_, Some(t)) => self.note(t),
            (_, None) => {}
        }
    }

    fn line(&self, text: &str) {
        println!("[{:>6.1}s] {text}", self.start.elapsed().as_secs_f64());
    }

    fn emit(&self, mut v: Value) {
        v["elapsed_s"] = round(self.start.elapsed().as_secs_f64()).into();
        println!("{v}");
    }

    /// Stops every spinner still turning (a failed run), so the summary prints below them.
    pub fn finish(&self) {
        for (bar, _) in self.bars.lock().expect("progress lock").values() {
            if !bar.is_finished() {
                bar.abandon();
            }
        }
    }
}

fn round(s: f64) -> f64 {
    (s * 1000.0).round() / 1000.0
}
