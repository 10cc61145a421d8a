//! What a caller asks of the library: typed settings, each with the defaults the CLI shows.
//!
//! Front ends build these from their own input (flags, JSON) and hand them to one library call;
//! nothing here knows where they came from.

use std::path::PathBuf;

use cyborg_scorer::metrics::ScoreRange;

use crate::data::{Filter, Format, ReadSpec};
use crate::error::input;

/// Which part of the encoder is trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tune {
    /// Only the head; the encoder stays as it is.
    Head,
    /// The top K transformer layers and the head.
    Top(usize),
    /// Every transformer layer and the head (the embedding table stays frozen).
    Full,
}

impl std::str::FromStr for Tune {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "head" => Ok(Tune::Head),
            "full" => Ok(Tune::Full),
            _ => match s.strip_prefix("top:").map(str::parse::<usize>) {
                Some(Ok(k)) if k > 0 => Ok(Tune::Top(k)),
                _ => Err(format!("\"{s}\" is not head, top:K (K ≥ 1) or full")),
            },
        }
    }
}

impl std::fmt::Display for Tune {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tune::Head => write!(f, "head"),
            Tune::Top(k) => write!(f, "top:{k}"),
            Tune::Full => write!(f, "full"),
        }
    }
}

impl Tune {
    /// How many of `layers` transformer layers stay frozen.
    pub fn frozen_layers(&self, layers: usize) -> usize {
        match self {
            Tune::Head => layers,
            Tune::Top(k) => layers.saturating_sub(*k),
            Tune::Full => 0,
        }
    }
}

/// The training a student gets where the caller does not say, chosen by how long its training
/// responses are. An essay fills several windows, and each layer tuned costs as much again:
/// the top two layers, up to three epochs, patience 1, measured best for its cost on
/// ASAP-AES. A short answer fits in part of one window, so the whole encoder costs about
/// what two layers cost on essays, and it lifted ASAP-SAS QWK by 0.03-0.04 (BENCHMARKS.md,
/// "The whole encoder tuned on short answers"): every layer, up to six epochs, patience 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseLength {
    Essays,
    ShortAnswers,
}

impl ResponseLength {
    /// The share of the training responses that must be short for short-answer training.
    pub const SHORT_SHARE: f64 = 0.9;
    /// A short response's most tokens, special tokens included: half a default window. The
    /// ASAP-SAS sets' 90th percentiles are 67-115 tokens, the shortest ASAP-AES prompts' 209
    /// and 226.
    pub const SHORT_TOKENS: usize = 128;

    /// The share of the responses (`tokens`: each one's tokens) that are short: at most
    /// [`Self::SHORT_TOKENS`] tokens (0 with no responses).
    pub fn short_share(tokens: impl ExactSizeIterator<Item = usize>) -> f64 {
        let total = tokens.len();
        let short = tokens.filter(|&n| n <= Self::SHORT_TOKENS).count();
        if total == 0 {
            0.0
        } else {
            short as f64 / total as f64
        }
    }

    /// Short answers when at least [`Self::SHORT_SHARE`] of the responses are short.
    pub fn of_share(short_share: f64) -> Self {
        if short_share >= Self::SHORT_SHARE {
            ResponseLength::ShortAnswers
        } else {
            ResponseLength::Essays
        }
    }

    pub fn tune(self) -> Tune {
        match self {
            ResponseLength::Essays => Tune::Top(2),
            ResponseLength::ShortAnswers => Tune::Full,
        }
    }

    pub fn epochs(self) -> usize {
        match self {
            ResponseLength::Essays => 3,
            ResponseLength::ShortAnswers => 6,
        }
    }

    pub fn patience(self) -> usize {
        match self {
            ResponseLength::Essays => 1,
            ResponseLength::ShortAnswers => 2,
        }
    }
}

impl std::fmt::Display for ResponseLength {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ResponseLength::Essays => "essays",
            ResponseLength::ShortAnswers => "short answers",
        })
    }
}

/// How a levelled score's cut points (raw score to level) are fitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutPoints {
    /// The cut points that maximise development QWK.
    Qwk,
    /// The cut points that give the development responses' raw scores the human levels'
    /// shares over the training and development rows people scored (distribution matching).
    Shares,
    /// The cut points that maximise QWK over the development responses and the training
    /// responses people scored, each training response scored by the linear probe fitted
    /// without it (leave-one-out), so that four times as many responses place them (a
    /// teacher's rounded labels would pull them towards its own cut points). Only a probe on
    /// the frozen encoder has such scores; for a fine-tuned student this is [`Self::Qwk`].
    Pooled,
}

impl CutPoints {
    /// Every way, as `--cut-points` names them.
    pub const ALL: [CutPoints; 3] = [CutPoints::Qwk, CutPoints::Shares, CutPoints::Pooled];

    /// Its name, as `--cut-points` takes it.
    pub fn name(self) -> &'static str {
        match self {
            CutPoints::Qwk => "qwk",
            CutPoints::Shares => "shares",
            CutPoints::Pooled => "pooled",
        }
    }
}

impl std::str::FromStr for CutPoints {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CutPoints::ALL
            .into_iter()
            .find(|c| c.name() == s)
            .ok_or_else(|| format!("\"{s}\" is not qwk, shares or pooled"))
    }
}

impl std::fmt::Display for CutPoints {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which rows and columns of a data file to read.
#[derive(Debug, Clone, Default)]
pub struct DataConfig {
    /// The response column.
    pub text: String,
    /// The human score column (whole numbers).
    pub score: Option<String>,
    /// A unique id per row (default: the row number).
    pub id: Option<String>,
    /// Only rows matching every filter are kept.
    pub filters: Vec<Filter>,
    /// Only rows whose id is listed in this file (one per line) are kept.
    pub ids: Option<PathBuf>,
    /// Override of the format the file name implies.
    pub format: Option<Format>,
    /// Quotes are ordinary characters (ASAP-AES's TSV needs this).
    pub no_quoting: bool,
}

impl DataConfig {
    /// What to read; `what` names the job in the error when scores are needed and missing.
    pub fn read_spec(&self, need_score: bool, what: &str) -> anyhow::Result<ReadSpec> {
        if need_score && self.score.is_none() {
            return Err(input(format!(
                "{what} needs human scores: give their column with --score COL"
            )));
        }
        Ok(ReadSpec {
            format: self.format,
            no_quoting: self.no_quoting,
            text: self.text.clone(),
            score: self.score.clone(),
            id: self.id.clone(),
            filters: self.filters.clone(),
            ids_file: self.ids.clone(),
            ..ReadSpec::default()
        })
    }
}

/// Which rows train a student, which are held out, which keep their human scores.
#[derive(Debug, Clone)]
pub struct SplitConfig {
    /// The score range (default: the lowest and highest score in the data).
    pub range: Option<ScoreRange>,
    /// Rows (ids, one per line) to train on; with `dev_ids`.
    pub train_ids: Option<PathBuf>,
    /// Rows (ids) for early stopping and threshold fitting; with `train_ids`.
    pub dev_ids: Option<PathBuf>,
    /// Without id lists: the share of each score level held out for development.
    pub dev_fraction: f64,
    /// The share of the training rows that keep their human scores; with a teacher, the
    /// others become its pool, their scores hidden.
    pub human_fraction: f64,
}

impl Default for SplitConfig {
    fn default() -> Self {
        SplitConfig {
            range: None,
            train_ids: None,
            dev_ids: None,
            dev_fraction: 0.2,
            human_fraction: 1.0,
        }
    }
}

/// How a student is trained.
#[derive(Debug, Clone)]
pub struct StudentConfig {
    /// The base encoder folder (default: `$CYBORG_BASE_MODEL`, else models/all-MiniLM-L6-v2).
    pub base: Option<PathBuf>,
    /// What is trained: the head, the top K layers and the head, or everything (`None`: by
    /// the training responses' length, [`ResponseLength`]).
    pub tune: Option<Tune>,
    /// Most epochs (`None`: by the training responses' length).
    pub epochs: Option<usize>,
    /// Epochs without a better development result before stopping (`None`: by the training
    /// responses' length).
    pub patience: Option<usize>,
    /// Responses per optimisation step.
    pub batch_size: usize,
    /// Peak learning rate of the encoder layers.
    pub lr: f64,
    /// Peak learning rate of the head.
    pub head_lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Share of the optimisation steps over which the learning rates rise from 0 to their
    /// peak, before decaying linearly to 0.
    pub warmup: f64,
    /// Width of the head's hidden layer (0: a linear head).
    pub head_hidden: usize,
    /// Buckets of the head's lexical block of hashed words and word pairs (0: none).
    pub lexical_buckets: usize,
    /// How levelled scores' cut points are fitted on development data.
    pub cut_points: CutPoints,
    /// Tokens per encoder window, [CLS] and [SEP] included.
    pub window_tokens: usize,
    /// Most windows read per response.
    pub max_windows: usize,
    /// Seed of the split, the human-fraction sample, shuffling and initialisation.
    pub seed: u64,
    /// Where frozen-layer outputs are cached (default: `$CYBORG_CACHE`, else ~/.cache/cyborg).
    pub cache: Option<PathBuf>,
    /// Neither read nor write the cache.
    pub no_cache: bool,
    /// Keep a fine-tuned epoch even if the linear probe was better (teacher members).
    pub fine_tuned_only: bool,
}

impl Default for StudentConfig {
    /// What is tuned, and for how long, left to the responses' length ([`ResponseLength`]).
    fn default() -> Self {
        StudentConfig {
            base: None,
            tune: None,
            epochs: None,
            patience: None,
            batch_size: 16,
            lr: 5e-5,
            head_lr: 5e-4,
            weight_decay: 0.01,
            warmup: 0.1,
            head_hidden: 0,
            lexical_buckets: 0,
            cut_points: CutPoints::Pooled,
            window_tokens: 256,
            max_windows: 16,
            seed: 1,
            cache: None,
            no_cache: false,
            fine_tuned_only: false,
        }
    }
}

impl StudentConfig {
    /// The settings with where frozen-layer outputs are cached left out: they change no
    /// result, so resumed work compares settings without them.
    pub fn without_cache(&self) -> StudentConfig {
        StudentConfig {
            cache: None,
            no_cache: false,
            ..self.clone()
        }
    }

    /// What is tuned, for a table's caption: the setting, or the rule that picks it.
    pub fn tune_label(&self) -> String {
        self.tune.map_or_else(
            || {
                format!(
                    "{} ({}; {} for {})",
                    ResponseLength::Essays.tune(),
                    ResponseLength::Essays,
                    ResponseLength::ShortAnswers.tune(),
                    ResponseLength::ShortAnswers
                )
            },
            |tune| tune.to_string(),
        )
    }

    /// Refuses settings no training can use: a non-finite or negative rate, an empty batch, no
    /// window. Checked before any work, so a bad setting never writes a bundle.
    pub fn validate(&self) -> anyhow::Result<()> {
        for (flag, value) in [
            ("--lr", self.lr),
            ("--head-lr", self.head_lr),
            ("--weight-decay", self.weight_decay),
        ] {
            check_rate(flag, value)?;
        }
        if !(0.0..=1.0).contains(&self.warmup) {
            crate::bail_input!(
                "--warmup must be a share of the steps from 0 to 1, not {}",
                self.warmup
            );
        }
        for (flag, value) in [
            ("--batch-size", self.batch_size),
            ("--max-windows", self.max_windows),
        ] {
            if value == 0 {
                crate::bail_input!("{flag} must be at least 1, not 0");
            }
        }
        let most = cyborg_scorer::lexical::MAX_BUCKETS;
        if self.lexical_buckets > most {
            crate::bail_input!(
                "--lexical-buckets must be at most {most}, not {}",
                self.lexical_buckets
            );
        }
        Ok(())
    }
}

impl TeacherConfig {
    /// Refuses an empty ensemble, a non-finite or negative weight, a teacher encoder that is
    /// not a folder or is given to a teacher other than local, and a teacher bundle missing or
    /// given without `--teacher bundle` (before anything is trained).
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.members == 0 {
            crate::bail_input!("--teacher-members must be at least 1, not 0");
        }
        let local = matches!(self.kind, None | Some(TeacherKind::Local));
        if let (Some(dir), false) = (&self.base, local) {
            crate::bail_input!(
                "--teacher-base {} is the encoder of the local teacher's students (--teacher \
                 local); the teacher named trains no students",
                dir.display()
            );
        }
        if let Some(dir) = self.base.as_ref().filter(|dir| !dir.is_dir()) {
            crate::bail_input!(
                "--teacher-base {} is not a folder; give an encoder folder holding config.json, \
                 tokenizer.json and model.safetensors (scripts/get-teacher.sh all-mpnet-base-v2 \
                 installs one in models/)",
                dir.display()
            );
        }
        match (self.kind == Some(TeacherKind::Bundle), &self.bundle) {
            (true, None) => crate::bail_input!(
                "--teacher bundle needs --teacher-bundle FILE (a bundle `cyborg train` wrote)"
            ),
            (false, Some(_)) => {
                crate::bail_input!("--teacher-bundle is for --teacher bundle")
            }
            (true, Some(file)) if !file.is_file() => crate::bail_input!(
                "--teacher-bundle {} is not a file; give a bundle `cyborg train` wrote",
                file.display()
            ),
            _ => {}
        }
        check_rate("--teacher-weight", self.weight)
    }
}

/// `value` must be a finite number, zero or more.
fn check_rate(flag: &str, value: f64) -> anyhow::Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(input(format!(
            "{flag} must be a finite number, zero or more, not {value}"
        )))
    }
}

/// The teachers there are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeacherKind {
    /// An ensemble of students and a TF-IDF ridge model fitted here; no network.
    Local,
    /// An OpenAI-compatible chat-completions endpoint.
    Llm,
    /// A quantized Llama-family chat model run here.
    Gguf,
    /// A bundle trained before, e.g. a student on a larger encoder.
    Bundle,
}

/// Which teacher labels a pool, and how much its labels count.
#[derive(Clone)]
pub struct TeacherConfig {
    /// The teacher (`None`: local, when there is a pool).
    pub kind: Option<TeacherKind>,
    /// Students in the local teacher's ensemble.
    pub members: usize,
    /// The encoder the local teacher's students start from (default: the student's own), e.g.
    /// a larger one whose fine-tuned knowledge reaches the small student only through labels.
    pub base: Option<PathBuf>,
    /// The bundle that labels the pool, when the teacher is one.
    pub bundle: Option<PathBuf>,
    /// Weight of a teacher-labelled row in the student's loss (a human row weighs 1).
    pub weight: f64,
    /// How to reach the LLM, when the teacher is one.
    pub llm: LlmConfig,
}

/// As derived, except that `bundle` is shown only when one is given: bench and experiment
/// cells saved before it existed record their settings in this form, and stay reusable.
impl std::fmt::Debug for TeacherConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut debug = f.debug_struct("TeacherConfig");
        debug
            .field("kind", &self.kind)
            .field("members", &self.members)
            .field("base", &self.base);
        if let Some(bundle) = &self.bundle {
            debug.field("bundle", bundle);
        }
        debug
            .field("weight", &self.weight)
            .field("llm", &self.llm)
            .finish()
    }
}

impl Default for TeacherConfig {
    fn default() -> Self {
        TeacherConfig {
            kind: None,
            members: 3,
            base: None,
            bundle: None,
            weight: 1.0,
            llm: LlmConfig::default(),
        }
    }
}

/// How to reach and ask a chat model: an OpenAI-compatible endpoint or a local GGUF file.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    /// A local quantized chat model (Llama architecture, ChatML template) instead of an endpoint.
    pub gguf: Option<PathBuf>,
    /// Most tokens a local model writes for one synthetic response.
    pub max_tokens: usize,
    /// The API root; `/chat/completions` is appended.
    pub base_url: Option<String>,
    /// The model name.
    pub llm_model: Option<String>,
    /// The environment variable holding the API key (unset: no key is sent).
    pub api_key_env: String,
    /// A text file with the scoring guide (rubric) put in the prompt.
    pub rubric: Option<PathBuf>,
    /// Human-scored examples per score level shown in the prompt.
    pub examples_per_level: usize,
    /// Sampling temperature (default: 0 for scoring, 0.3 for writing).
    pub temperature: Option<f64>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of a request after 408, 409, 429, 5xx or a reply that is not JSON.
    pub retries: u32,
    /// Seconds to wait for one reply.
    pub request_timeout: f64,
    /// US dollars per million prompt and completion tokens, for cost estimates.
    pub prices: (f64, f64),
    /// Where answers are cached (default: llm/ in the cache folder).
    pub llm_cache: Option<PathBuf>,
}

impl Default for LlmConfig {
    fn default() -> Self {
        LlmConfig {
            gguf: None,
            max_tokens: 400,
            base_url: None,
            llm_model: None,
            api_key_env: "OPENAI_API_KEY".into(),
            rubric: None,
            examples_per_level: 1,
            temperature: None,
            concurrency: 4,
            retries: 5,
            request_timeout: 120.0,
            prices: (0.0, 0.0),
            llm_cache: None,
        }
    }
}

/// Filters for synthetic responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFilter {
    /// Keep a sample only if the LLM, scoring it, gives the level it was written for.
    Consistent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_answers_are_nine_in_ten_responses_of_half_a_window() {
        let short = ResponseLength::SHORT_TOKENS;
        let share = |tokens: &[usize]| ResponseLength::short_share(tokens.iter().copied());
        assert_eq!(share(&[]), 0.0);
        assert_eq!(share(&[short, short + 1]), 0.5);
        let nine_in_ten = [[short; 9].as_slice(), &[600]].concat();
        assert_eq!(share(&nine_in_ten), 0.9);
        let eight_in_ten = [[40; 8].as_slice(), &[short + 1, 600]].concat();
        for (tokens, length) in [
            (nine_in_ten, ResponseLength::ShortAnswers),
            (eight_in_ten, ResponseLength::Essays),
            (Vec::new(), ResponseLength::Essays),
        ] {
            assert_eq!(
                ResponseLength::of_share(share(&tokens)),
                length,
                "{tokens:?}"
            );
        }
    }

    #[test]
    fn unset_training_is_the_essays_or_the_short_answers_defaults() {
        let essays = ResponseLength::Essays;
        let short = ResponseLength::ShortAnswers;
        assert_eq!(
            (essays.tune(), essays.epochs(), essays.patience()),
            (Tune::Top(2), 3, 1)
        );
        assert_eq!(
            (short.tune(), short.epochs(), short.patience()),
            (Tune::Full, 6, 2)
        );
        assert_eq!(
            StudentConfig::default().tune_label(),
            "top:2 (essays; full for short answers)"
        );
        let set = StudentConfig {
            tune: Some(Tune::Head),
            ..StudentConfig::default()
        };
        assert_eq!(set.tune_label(), "head");
    }
}
