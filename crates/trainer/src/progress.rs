//! Progress bars on standard error, hidden when it is not a terminal or when asked.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Makes progress bars, or hidden ones.
#[derive(Clone, Copy)]
pub struct Progress {
    visible: bool,
}

impl Progress {
    /// Bars drawn on standard error when it is a terminal and `quiet` is false.
    pub fn new(quiet: bool) -> Self {
        Progress { visible: !quiet }
    }

    /// A bar over `total` units, with a rate and an estimate of the time left.
    pub fn bar(&self, total: u64, message: &str, unit: &str) -> ProgressBar {
        let target = if self.visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let template = format!(
            "{{msg}}\n{{wide_bar}} {{human_pos}}/{{human_len}} {unit} \
             ({{per_sec}}, {{eta}} left)"
        );
        bar.set_style(
            ProgressStyle::with_template(&template)
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar.set_message(message.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        bar
    }

    /// Prints a line of log to standard error (above any bar), unless quiet.
    pub fn note(&self, line: &str) {
        if self.visible {
            eprintln!("{line}");
        }
    }
}
