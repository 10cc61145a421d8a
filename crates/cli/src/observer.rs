//! The terminal's view of a library call's progress: a bar per stage on standard error, and
//! notes printed above them; nothing at all with --quiet.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cyborg_trainer::{Event, Observer};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws the library's events on standard error (hidden when it is not a terminal).
pub struct Terminal {
    bars: MultiProgress,
    open: Mutex<HashMap<u64, ProgressBar>>,
}

impl Terminal {
    /// Bars and notes on standard error.
    pub fn new() -> Self {
        Terminal {
            bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            open: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, name: &str, unit: &str, total: u64) -> ProgressBar {
        let bar = self.bars.add(ProgressBar::new(total));
        let template = format!(
            "{{msg}}\n{{wide_bar}} {{human_pos}}/{{human_len}} {unit} ({{per_sec}}, {{eta}} left)"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(name.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }
}

impl Observer for Terminal {
    fn event(&self, event: &Event) {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        match event {
            // Through the bars, so a note never tears a bar; plain stderr when none is drawn.
            Event::Note { text } => {
                if self.bars.is_hidden() {
                    eprintln!("{text}");
                } else {
                    let _ = self.bars.println(text);
                }
            }
            Event::Stage {
                id,
                name,
                unit,
                total,
            } => {
                open.insert(*id, self.bar(name, unit, *total));
            }
            Event::Step { id, done } => {
                if let Some(bar) = open.get(id) {
                    bar.set_position(*done);
                }
            }
            Event::StageEnd { id } => {
                if let Some(bar) = open.remove(id) {
                    bar.finish_and_clear();
                    self.bars.remove(&bar);
                }
            }
            // Epochs are also described by a note; the bar view needs nothing more.
            Event::Epoch { .. } => {}
        }
    }
}
