//! The command line: what each command takes, and the help that explains it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use cyborg_scorer::metrics::ScoreRange;

use crate::data::{parse_range, Filter, Format};
use crate::train::Tune;

/// Train small, private essay-scoring models from a few hundred human scores.
///
/// A typical session:
///
///   cyborg data check essays.csv --text essay --score score
///
///   cyborg train essays.csv --text essay --score score --out essays.cyborg
///
///   cyborg eval essays.cyborg held-out.csv --text essay --score score
///
///   cyborg score essays.cyborg new.csv --text essay --out scores.csv
///
/// Data files are CSV, TSV or JSONL (by extension, or --format) with a header row.
#[derive(Parser)]
#[command(name = "cyborg", version, verbatim_doc_comment, max_term_width = 100)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
    /// No progress bars or log lines on standard error.
    #[arg(long, short, global = true)]
    pub quiet: bool,
}

/// The commands.
#[derive(Subcommand)]
pub enum Command {
    /// Inspect data files.
    #[command(subcommand)]
    Data(DataCommand),
    /// Train a student model on human-scored responses and save it as a bundle.
    ///
    /// The student is a small BERT encoder (all-MiniLM-L6-v2 by default) that reads the whole
    /// response in 256-token windows, plus length features, with a regression head; its
    /// thresholds from raw score to level are fitted on development data.
    ///
    /// Without --train-ids/--dev-ids, a seeded, score-stratified 20% of the rows (--dev-fraction)
    /// is held out for early stopping and threshold fitting.
    ///
    /// Example (one ASAP-AES prompt, the NEA fold 0 split):
    ///
    ///   cyborg train training_set_rel3.utf8.tsv --no-quoting --text essay --score domain1_score
    ///   --id essay_id --where essay_set=3 --train-ids fold_0/train_ids.txt --dev-ids
    ///   fold_0/dev_ids.txt --out set3.cyborg
    #[command(verbatim_doc_comment)]
    Train(TrainArgs),
    /// Measure agreement between a model and human scores: QWK (with a bootstrap 95%
    /// interval), linear kappa, exact and adjacent agreement, Pearson and Spearman r, RMSE, the
    /// confusion matrix, standardised mean difference (SMD), per-group statistics, and the
    /// operational gates of Williamson, Xi & Breyer (2012).
    ///
    /// Gates: QWK ≥ 0.70; human-human QWK minus QWK < 0.10 (needs --second-score);
    /// |SMD| ≤ 0.15 overall; |SMD| ≤ 0.10 in every subgroup (needs --group). SMD is the mean
    /// difference (machine − human) over the pooled population SD of human and machine scores
    /// over all responses; a subgroup's SMD uses that same overall SD. DSM is RSMTool's
    /// difference of standardised means. Groups under 30 responses are flagged as small.
    ///
    /// Example (PERSUADE 2.0 sample):
    ///
    ///   cyborg eval model.cyborg persuade.csv --text full_text --score holistic_essay_score
    ///   --group gender --group race_ethnicity --report report.html
    #[command(verbatim_doc_comment)]
    Eval(EvalArgs),
    /// Score responses with a model; writes CSV with id, score and raw score.
    ///
    /// Reads FILE (CSV, TSV or JSONL; --text names the response column) or, with `-`, standard
    /// input: a table when --text is given, otherwise the whole input as one response.
    Score(ScoreArgs),
    /// Show a model bundle's card: data, training settings, development metrics.
    Info(InfoArgs),
    /// Benchmarks (not tests): speed and accuracy measured on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),
}

/// `cyborg data …`
#[derive(Subcommand)]
pub enum DataCommand {
    /// Validate a data file and summarise it: rows, score distribution, lengths, groups.
    ///
    /// Every problem (missing column, empty response, bad or out-of-range score, duplicate id,
    /// ragged row, bytes that are not UTF-8) is reported with its file, line and column.
    Check(CheckArgs),
}

/// Which rows and columns of a data file to read.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Column holding the response text.
    #[arg(long, value_name = "COL")]
    pub text: String,
    /// Column holding the human score (whole numbers).
    #[arg(long, value_name = "COL")]
    pub score: Option<String>,
    /// Column holding a unique id per row (default: the row number).
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// Keep only rows whose COL equals VALUE; repeat to require several.
    #[arg(long = "where", value_name = "COL=VALUE")]
    pub filters: Vec<Filter>,
    /// Keep only rows whose id is listed in FILE (one per line).
    #[arg(long, value_name = "FILE")]
    pub ids: Option<PathBuf>,
    /// File format (default: from the extension; .tsv → tsv, .jsonl → jsonl, else csv).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Treat `"` as an ordinary character in CSV/TSV (needed for ASAP-AES's TSV).
    #[arg(long)]
    pub no_quoting: bool,
}

/// `cyborg data check`
#[derive(Args)]
pub struct CheckArgs {
    /// The data file.
    pub file: PathBuf,
    /// What to read.
    #[command(flatten)]
    pub data: DataArgs,
    /// Subgroup column (e.g. gender); repeat for several.
    #[arg(long = "group", value_name = "COL")]
    pub groups: Vec<String>,
    /// Declared score range MIN:MAX; scores outside it are errors.
    #[arg(long, value_parser = parse_range, value_name = "MIN:MAX")]
    pub range: Option<ScoreRange>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `cyborg train`
#[derive(Args)]
pub struct TrainArgs {
    /// Human-scored responses.
    pub file: PathBuf,
    /// What to read (--score is required).
    #[command(flatten)]
    pub data: DataArgs,
    /// Where to write the model bundle (*.cyborg).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Score range MIN:MAX [default: the lowest and highest score in the data].
    #[arg(long, value_parser = parse_range, value_name = "MIN:MAX")]
    pub range: Option<ScoreRange>,
    /// Rows (ids, one per line) to train on.
    #[arg(long, value_name = "FILE", requires = "dev_ids")]
    pub train_ids: Option<PathBuf>,
    /// Rows (ids, one per line) for early stopping and threshold fitting.
    #[arg(long, value_name = "FILE", requires = "train_ids")]
    pub dev_ids: Option<PathBuf>,
    /// Without id lists: the share of rows held out for development.
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    pub dev_fraction: f64,
    /// Keep only this share of the training rows' human scores (e.g. 0.1 to simulate having
    /// scored 10%); the development rows stay as they are.
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub human_fraction: f64,
    /// How the student is trained.
    #[command(flatten)]
    pub student: StudentArgs,
    /// Precision of the weights stored in the bundle: f16 halves its size.
    #[arg(long, value_enum, default_value_t = WeightPrecision::F32)]
    pub weights: WeightPrecision,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// How a student is trained: shared by `train` and `bench asap`.
#[derive(Args, Clone)]
pub struct StudentArgs {
    /// Base encoder: a BERT-family model folder with config.json, tokenizer.json and
    /// model.safetensors [default: $CYBORG_BASE_MODEL, else models/all-MiniLM-L6-v2].
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// What to train: `head` (encoder frozen), `top:K` (top K layers and the head) or `full`.
    /// The default, top:2, measured best for its cost on 2 CPU cores (BENCHMARKS.md); each
    /// layer more costs about as much again per epoch.
    #[arg(long, default_value = "top:2", value_name = "MODE")]
    pub tune: Tune,
    /// Most epochs. After each, the linear head is refitted in closed form (ridge) to the
    /// changed encoder, so a few epochs go a long way.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub epochs: usize,
    /// Stop after N epochs without a better development QWK.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub patience: usize,
    /// Responses per optimisation step.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub batch_size: usize,
    /// Peak learning rate of the encoder layers (AdamW, warm-up then linear decay).
    #[arg(long, default_value_t = 5e-5, value_name = "LR")]
    pub lr: f64,
    /// Peak learning rate of the head.
    #[arg(long, default_value_t = 5e-4, value_name = "LR")]
    pub head_lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 0.01, value_name = "W")]
    pub weight_decay: f64,
    /// Width of the head's hidden layer (0: a linear head).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub head_hidden: usize,
    /// Tokens per encoder window, [CLS] and [SEP] included.
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub window_tokens: usize,
    /// Most windows read per response (longer responses are cut).
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_windows: usize,
    /// Seed for the split, the human-fraction sample, shuffling and initialisation.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where frozen-layer outputs are cached [default: $CYBORG_CACHE, else ~/.cache/cyborg].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
}

/// How bundle weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightPrecision {
    /// 32-bit floats: exactly the trained weights.
    F32,
    /// 16-bit floats: half the size; scores can move by rounding.
    F16,
}

/// `cyborg eval`
#[derive(Args)]
pub struct EvalArgs {
    /// The model bundle.
    pub model: PathBuf,
    /// Human-scored responses.
    pub file: PathBuf,
    /// What to read (--score is required).
    #[command(flatten)]
    pub data: DataArgs,
    /// Subgroup column (e.g. gender); repeat for several. Empty values form their own group.
    #[arg(long = "group", value_name = "COL")]
    pub groups: Vec<String>,
    /// Column holding a second human rater's score, for human-human agreement and the
    /// degradation gate; rows where it is empty are left out of that comparison.
    #[arg(long, value_name = "COL")]
    pub second_score: Option<String>,
    /// Bootstrap resamples for the QWK interval (0: none).
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub bootstrap: usize,
    /// A second model to compare on the same responses: its QWK and a paired bootstrap 95%
    /// interval of the difference (this model minus it).
    #[arg(long, value_name = "MODEL")]
    pub compare: Option<PathBuf>,
    /// Also write a self-contained HTML report (plots inline; nothing fetched) here.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Also write a Markdown summary (gates, agreement, groups) here.
    #[arg(long, value_name = "FILE")]
    pub summary: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `cyborg score`
#[derive(Args)]
pub struct ScoreArgs {
    /// The model bundle.
    pub model: PathBuf,
    /// Responses to score, or `-` for standard input.
    pub file: PathBuf,
    /// Column holding the response text (required for a file).
    #[arg(long, value_name = "COL")]
    pub text: Option<String>,
    /// Column holding a unique id per row (default: the row number).
    #[arg(long, value_name = "COL")]
    pub id: Option<String>,
    /// Keep only rows whose COL equals VALUE; repeat to require several.
    #[arg(long = "where", value_name = "COL=VALUE")]
    pub filters: Vec<Filter>,
    /// File format (default: from the extension).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Treat `"` as an ordinary character in CSV/TSV.
    #[arg(long)]
    pub no_quoting: bool,
    /// Write the scores here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `cyborg info`
#[derive(Args)]
pub struct InfoArgs {
    /// The model bundle.
    pub model: PathBuf,
    /// Print the card as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `cyborg bench …`
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Encoder speed: texts per second at 256 and 512 tokens, batch 1 and 16.
    ///
    /// Each text is cut to its first window, as sentence-transformers truncates, so the
    /// numbers compare with scripts/bench-encode.sh's PyTorch run on the same texts.
    Encode(BenchEncodeArgs),
    /// ASAP-AES accuracy: train and test one student per prompt on an NEA fold, at 100% and
    /// 10% of the training ids, beside published and simple-peer results.
    Asap(BenchAsapArgs),
}

/// `cyborg bench encode`
#[derive(Args)]
pub struct BenchEncodeArgs {
    /// Texts to encode.
    #[arg(long, default_value = "data/demo/train.csv")]
    pub data: PathBuf,
    /// Their column.
    #[arg(long, default_value = "full_text")]
    pub text: String,
    /// How many texts.
    #[arg(long, default_value_t = 200)]
    pub texts: usize,
    /// Base encoder folder [default: as for train].
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `cyborg bench asap`
#[derive(Args)]
pub struct BenchAsapArgs {
    /// The ASAP-AES folder (holding training_set_rel3.utf8.tsv and folds/).
    #[arg(long, default_value = "../shared/data/asap-aes")]
    pub asap: PathBuf,
    /// NEA fold.
    #[arg(long, default_value_t = 0)]
    pub fold: usize,
    /// Prompts to run.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,7,8")]
    pub prompts: Vec<u32>,
    /// Human fractions of the training ids to run.
    #[arg(long, value_delimiter = ',', default_value = "1.0,0.1")]
    pub fractions: Vec<f64>,
    /// How each student is trained.
    #[command(flatten)]
    pub student: StudentArgs,
    /// Also write the results table (Markdown) here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}
