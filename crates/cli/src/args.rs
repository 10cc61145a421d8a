//! The command line: what each command takes, and the help that explains it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use cyborg_scorer::metrics::ScoreRange;
use cyborg_scorer::Precision;
use cyborg_trainer::config::{CutPoints, Tune};
use cyborg_trainer::data::{parse_range, Filter, Format};
use cyborg_trainer::experiment::{Arm, ExperimentRequest};
use cyborg_trainer::{
    DataConfig, LlmConfig, SampleFilter, SplitConfig, StudentConfig, TeacherConfig, TeacherKind,
};

/// Train small, private essay-scoring models from a few hundred human scores.
///
/// A typical session:
///
///   cyborg data check essays.csv --text essay --score score
///
///   cyborg train essays.csv --text essay --score score --out essays.cyborg
///
///   (with unscored responses too, a teacher labels them for the student:
///   cyborg train essays.csv --text essay --score score --pool unscored.csv --out essays.cyborg)
///
///   cyborg eval essays.cyborg held-out.csv --text essay --score score
///
///   cyborg score essays.cyborg new.csv --text essay --out scores.csv
///
/// Or all of it in a browser: `cyborg serve` serves the app, trains from uploaded files at
/// http://127.0.0.1:8080/#train, and gives each model a share link.
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
    /// thresholds from raw score to level are fitted on development data (and, for a linear
    /// probe, on the training responses' held-out scores too: --cut-points).
    ///
    /// Without --train-ids/--dev-ids, a seeded, score-stratified 20% of the rows (--dev-fraction)
    /// is held out for early stopping and threshold fitting.
    ///
    /// Example (one ASAP-AES prompt, the NEA fold 0 split):
    ///
    ///   cyborg train training_set_rel3.utf8.tsv --no-quoting --text essay --score domain1_score
    ///   --id essay_id --where essay_set=3 --train-ids fold_0/train_ids.txt --dev-ids
    ///   fold_0/dev_ids.txt --out set3.cyborg
    ///
    /// With a teacher (Cyborg Data): --pool FILE gives responses no human scored; the teacher
    /// (an ensemble fitted on the human scores) labels them, and the student trains on the
    /// human scores and the teacher's expected scores together:
    ///
    ///   cyborg train scored.csv --text essay --score score --pool unscored.csv --teacher local
    ///   --out essays.cyborg
    ///
    /// To measure what a teacher is worth, --human-fraction 0.1 --teacher local keeps 10% of
    /// the training rows' scores and hands the other 90% to the teacher as the pool, their
    /// scores hidden.
    #[command(verbatim_doc_comment)]
    Train(TrainArgs),
    /// Teachers: label unscored responses, or write new ones, for a student.
    #[command(subcommand)]
    Teach(TeachCommand),
    /// Measure agreement between a model and human scores, and check the operational gates.
    ///
    /// Reports QWK (with a bootstrap 95% interval), unweighted and linear kappa, exact and
    /// adjacent agreement, Pearson and Spearman r, RMSE, the confusion matrix, standardised
    /// mean difference (SMD), the same for the unrounded raw scores, per-group statistics, and
    /// the operational gates of Williamson, Xi & Breyer (2012).
    ///
    /// Gates: QWK ≥ 0.70; human-human QWK minus QWK < 0.10 (needs --second-score);
    /// |SMD| ≤ 0.15 overall; |SMD| ≤ 0.10 in every subgroup (needs --group). SMD is the mean
    /// difference (machine − human) over the pooled SD of human and machine scores over all
    /// responses (Williamson's form); a subgroup's SMD uses that same overall SD. RSMTool 7's
    /// default, the difference over the human SD alone, is printed beside it. DSM is RSMTool's
    /// difference of standardised means. SDs divide by n − 1, as RSMTool's do, and raw scores
    /// are trimmed to the score range ± 0.4998 as RSMTool trims them, so each statistic RSMTool
    /// also reports has its value. Groups under 30 responses are flagged as small.
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
    /// Show a model bundle's card: data, training settings, development metrics, and the
    /// precision and size of its weights.
    Info(InfoArgs),
    /// Store a model bundle again with its encoder's matrices at another precision: a smaller
    /// download for the browser, the same model.
    ///
    ///   cyborg export essays.cyborg --weights int8 --out essays-int8.cyborg
    ///
    /// The embedding table and the layers' matrices are rounded (f16; or int8, with a scale
    /// per column and per group of 128 values of a row); biases, layer norms, the head and the
    /// thresholds stay as they were, so only responses very near a cut point can change level.
    /// On ASAP-AES (BENCHMARKS.md, "Smaller bundles") int8 is 23.7 MB instead of 91 MB, keeps
    /// the level of 99.4% of essays (all but 0.6%, one level each, most on prompts scored 0-30
    /// and 0-60) and QWK within 0.001; f16 changed none. Check an exported model on held-out
    /// responses with `cyborg eval`. Export from the f32 bundle: from an already-rounded one,
    /// the roundings add up.
    #[command(verbatim_doc_comment)]
    Export(ExportArgs),
    /// Run a grid of students and compare them: human fraction × augmentation (none, teacher
    /// pool labels, synthetic responses at ratios) × temperature × seed.
    ///
    /// Every student is tested on the same held-out responses; each arm is compared with the
    /// human-only arm at the same fraction and seeds by a paired bootstrap. Writes
    /// OUT/results.csv (one row per cell), OUT/results.md and OUT/learning-curve.svg; each
    /// finished cell is kept in OUT/cells/, so a stopped run resumes where it stopped. The
    /// grid's settings are kept there too: a run with settings that change results (the data,
    /// the split, the students', the teacher's) is refused rather than mixed with those
    /// cells; how requests are sent (concurrency, retries, timeout) may change.
    ///
    ///   cyborg experiment essays.csv --text essay --score score --id id --out-dir exp
    ///   --fractions 0.05,0.1,0.2,0.5,1 --arms none,pool --seeds 1,2,3
    ///
    /// Synthetic arms (synthetic:0.8 = 80% of the training rows written by the LLM) need
    /// --base-url and --llm-model.
    #[command(verbatim_doc_comment)]
    Experiment(ExperimentArgs),
    /// Benchmarks (not tests): speed and accuracy measured on this machine.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Serve the browser app, and train students from it: upload scored responses, follow
    /// training live, and share the model by link.
    ///
    /// Every finished job's bundle is public at /bundles/JOB_ID.cyborg and its report at
    /// /reports/JOB_ID.html, so a share link (/?bundle=/bundles/JOB_ID.cyborg) opens the scorer
    /// with that model for anyone; responses scored there never leave the reader's device.
    ///
    /// Write calls to the JSON API (/api/…) need "Authorization: Bearer TOKEN"; the token is
    /// made at the first start, printed once, and kept in DATA_DIR/token (mode 0600). Jobs run
    /// one at a time and are kept in DATA_DIR/cyborg.sqlite: a restart shows them as they were.
    ///
    ///   trunk build --release && cyborg serve --data-dir serve-data
    ///
    /// Then open http://127.0.0.1:8080/#train. The API in one line each:
    ///
    ///   curl -H "Authorization: Bearer $TOKEN" --data-binary @essays.csv
    ///   'http://127.0.0.1:8080/api/datasets?name=essays.csv'
    ///
    ///   curl -H "Authorization: Bearer $TOKEN" -d '{"dataset":"ID","text":"essay","score":"score"}'
    ///   http://127.0.0.1:8080/api/jobs
    ///
    ///   curl -N http://127.0.0.1:8080/api/jobs/JOB_ID/events
    #[command(verbatim_doc_comment)]
    Serve(ServeArgs),
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
    pub format: Option<FormatArg>,
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
    /// Trait columns to check as `train --trait` reads them (repeat, or separate by commas):
    /// every value must be a number; prints each one's range and mean.
    #[arg(long = "trait", value_name = "COL", value_delimiter = ',')]
    pub traits: Vec<String>,
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
    /// Also score these trait columns (repeat, or separate by commas), e.g. the analytic
    /// traits beside a holistic --score: one bundle, one shared encoder, one head output per
    /// trait. A trait of whole numbers is scored on levels (its observed range, thresholds
    /// fitted like the score's); any other is continuous (RMSE). Human rows only: not with a
    /// teacher.
    #[arg(long = "trait", value_name = "COL", value_delimiter = ',',
          conflicts_with_all = ["pool", "teacher", "from_labels"])]
    pub traits: Vec<String>,
    /// Column holding a second human rater's score: each training response learns the mean
    /// of its two scores (the first alone where the second is empty), so that one rater's
    /// slips count half. Development responses, cut points and every measure keep --score.
    /// On ASAP-SAS short answers, scored twice, it raised test QWK on two sets of six and
    /// lowered it on four, 0.006 on average (BENCHMARKS.md): measure it on your data.
    #[arg(long, value_name = "COL", conflicts_with = "from_labels")]
    pub second_score: Option<String>,
    /// Which rows train, which are held out, which keep their human scores.
    #[command(flatten)]
    pub split: SplitArgs,
    /// Unscored responses for the teacher to label (read with FILE's --text, --id, --where and
    /// --format; a score column there is ignored).
    #[arg(long, value_name = "FILE")]
    pub pool: Option<PathBuf>,
    /// The teacher that labels the pool.
    #[command(flatten)]
    pub teacher: TeacherArgs,
    /// Also write every training row with its provenance (human or teacher) here, as CSV.
    #[arg(long, value_name = "FILE")]
    pub labels_out: Option<PathBuf>,
    /// FILE was written by `teach label` or `teach generate`: its human rows train and are
    /// held out as usual; its teacher and synthetic rows only train, with their
    /// expected_score as a soft target, weighted by --teacher-weight; failed and dropped rows
    /// are counted and skipped. --text and --score name its text and score columns.
    #[arg(long, conflicts_with_all = ["pool", "labels_out"])]
    pub from_labels: bool,
    /// How the student is trained.
    #[command(flatten)]
    pub student: StudentArgs,
    /// Precision of the encoder's matrices in the bundle: f16 halves its size, int8 quarters
    /// it; see `cyborg export --help`.
    #[arg(long, value_enum, default_value_t = PrecisionArg::F32)]
    pub weights: PrecisionArg,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Which rows train a student and which are held out: shared by `train` and `teach label`.
#[derive(Args, Clone)]
pub struct SplitArgs {
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
    #[arg(long, default_value_t = SplitConfig::default().dev_fraction, value_name = "F")]
    pub dev_fraction: f64,
    /// Keep only this share of the training rows' human scores (e.g. 0.1 to simulate having
    /// scored 10%); the development rows stay as they are. With --teacher, the other training
    /// rows become the teacher's pool, their scores hidden.
    #[arg(long, default_value_t = SplitConfig::default().human_fraction, value_name = "F")]
    pub human_fraction: f64,
}

/// Which teacher labels a pool, and how much its labels count.
#[derive(Args, Clone)]
pub struct TeacherArgs {
    /// The teacher [default: local]. `local` needs no network: an ensemble of students (as
    /// --tune etc. say, with seeds --seed, --seed+1, …) and a TF-IDF ridge model, blended by
    /// development QWK. `llm` asks an OpenAI-compatible chat-completions endpoint
    /// (--base-url, --llm-model) to score each response, and the development rows too, to
    /// measure it; responses leave this machine. `bundle` lets a bundle trained before
    /// (--teacher-bundle) score them.
    #[arg(long, value_enum)]
    pub teacher: Option<TeacherArg>,
    /// Students in the local teacher's ensemble.
    #[arg(long, default_value_t = TeacherConfig::default().members, value_name = "N")]
    pub teacher_members: usize,
    /// The encoder the local teacher's students start from [default: the student's, --base]:
    /// a larger one teaches through its labels while the student stays small. BERT or MPNet
    /// folders; scripts/get-teacher.sh all-mpnet-base-v2 installs one in models/.
    #[arg(long, value_name = "DIR")]
    pub teacher_base: Option<PathBuf>,
    /// The bundle that scores the pool with --teacher bundle: typically a student trained on a
    /// larger encoder (`train --base models/all-mpnet-base-v2`), so that the small student
    /// learns what it knows while only the small one ships. Its score range must be the
    /// data's. Its development QWK flatters it if it trained on the development rows.
    #[arg(long, value_name = "FILE")]
    pub teacher_bundle: Option<PathBuf>,
    /// Weight of a teacher-labelled row in the student's loss (a human row weighs 1).
    #[arg(long, default_value_t = TeacherConfig::default().weight, value_name = "W")]
    pub teacher_weight: f64,
    /// How to reach the LLM, when the teacher is one.
    #[command(flatten)]
    pub llm: LlmArgs,
}

/// How to reach and ask an OpenAI-compatible chat-completions endpoint.
#[derive(Args, Clone)]
pub struct LlmArgs {
    /// A local quantized chat model (Llama architecture, ChatML template) to run here instead
    /// of an endpoint: scripts/setup.sh installs SmolLM2-135M-Instruct, which is small enough
    /// to test the path and far too small to grade.
    #[arg(long, value_name = "FILE", help_heading = "LLM")]
    pub gguf: Option<PathBuf>,
    /// Most tokens a local model writes for one synthetic response.
    #[arg(long, default_value_t = LlmConfig::default().max_tokens, value_name = "N", help_heading = "LLM")]
    pub max_tokens: usize,
    /// The API root; `/chat/completions` is appended (OpenAI:
    /// Https://api.openai.com/v1; Ollama: http://127.0.0.1:11434/v1).
    #[arg(long, value_name = "URL", help_heading = "LLM")]
    pub base_url: Option<String>,
    /// The model name.
    #[arg(long, value_name = "NAME", help_heading = "LLM")]
    pub llm_model: Option<String>,
    /// The environment variable holding the API key (unset: no key is sent).
    #[arg(
        long,
        default_value_t = LlmConfig::default().api_key_env,
        value_name = "VAR",
        help_heading = "LLM"
    )]
    pub api_key_env: String,
    /// A text file with the scoring guide (rubric) put in the prompt.
    #[arg(long, value_name = "FILE", help_heading = "LLM")]
    pub rubric: Option<PathBuf>,
    /// Human-scored examples per score level shown in the prompt.
    #[arg(long, default_value_t = LlmConfig::default().examples_per_level, value_name = "N", help_heading = "LLM")]
    pub examples_per_level: usize,
    /// Sampling temperature [default: 0 for scoring, 0.3 for generating, which
    /// Borchers et al. found stable; 0.7 and above was noisy].
    #[arg(long, value_name = "T", help_heading = "LLM")]
    pub temperature: Option<f64>,
    /// Requests in flight at once.
    #[arg(long, default_value_t = LlmConfig::default().concurrency, value_name = "N", help_heading = "LLM")]
    pub concurrency: usize,
    /// Retries of a request after 408, 409, 429, 5xx or a reply that is not
    /// JSON (waiting as Retry-After says, else backing off exponentially).
    #[arg(long, default_value_t = LlmConfig::default().retries, value_name = "N", help_heading = "LLM")]
    pub retries: u32,
    /// Seconds to wait for one reply.
    #[arg(long, default_value_t = LlmConfig::default().request_timeout, value_name = "S", help_heading = "LLM")]
    pub request_timeout: f64,
    /// US dollars per million prompt and completion tokens, for the printed
    /// Cost estimate.
    #[arg(long, value_name = "IN:OUT", value_parser = parse_prices, default_value = "0:0", help_heading = "LLM")]
    pub prices: (f64, f64),
    /// Where answers are cached, so a rerun costs nothing for what was answered
    /// [default: llm/ in the --cache folder].
    #[arg(long, value_name = "DIR", help_heading = "LLM")]
    pub llm_cache: Option<PathBuf>,
}

fn parse_prices(s: &str) -> Result<(f64, f64), String> {
    let (input, output) = s
        .split_once(':')
        .ok_or_else(|| format!("\"{s}\" is not IN:OUT (e.g. 2.5:10)"))?;
    let price = |p: &str| {
        p.trim()
            .parse::<f64>()
            .ok()
            .filter(|v| *v >= 0.0)
            .ok_or_else(|| format!("\"{p}\" is not a price (a number ≥ 0)"))
    };
    Ok((price(input)?, price(output)?))
}

/// The teachers there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TeacherArg {
    /// An ensemble fitted here on the human scores; no network.
    Local,
    /// An OpenAI-compatible chat-completions endpoint.
    Llm,
    /// A quantized Llama-family chat model run here (--gguf FILE).
    Gguf,
    /// A bundle trained before (--teacher-bundle FILE).
    Bundle,
}

/// `cyborg teach …`
#[derive(Subcommand)]
pub enum TeachCommand {
    /// Write synthetic responses at each score level with an LLM (Borchers et al., 2025).
    ///
    /// The LLM sees --examples-per-level human responses per level (from FILE) and writes
    /// new ones at each level: --per-level N each, or --synthetic-ratio R of the human and
    /// synthetic total (0.8 was best in the paper), spread over the levels as the human
    /// scores are. --filter consistent has the LLM score each sample again and drops those
    /// it scores at another level (the paper found this did not help); near-duplicates of a
    /// human response or of an earlier sample are dropped (--max-similarity).
    ///
    /// Writes CSV in the `teach label` format: the human rows, then each sample with source
    /// `synthetic`, or `dropped` with the reason. `cyborg train FILE --from-labels` trains
    /// on it.
    ///
    ///   cyborg teach generate scored.csv --text essay --score score --base-url URL
    ///   --llm-model NAME --synthetic-ratio 0.8 --out augmented.csv
    #[command(verbatim_doc_comment)]
    Generate(Box<TeachGenerateArgs>),
    /// Fit a teacher on human-scored responses and label a pool of unscored ones.
    ///
    /// Writes CSV with every row's provenance: id, text, score (the level), expected_score
    /// (the teacher's soft label), source (human, teacher, or failed), teacher (which, with
    /// its settings), confidence (the local teacher: the share of its members that agree
    /// with the level; an LLM: the level's probability among the score token's
    /// alternatives) and error (why a failed row has no label). Human rows are included, so
    /// `cyborg train FILE --from-labels` trains on the file as it is.
    ///
    /// Examples:
    ///
    ///   cyborg teach label scored.csv --text essay --score score --pool unscored.csv
    ///   --out labelled.csv
    ///
    ///   cyborg teach label scored.csv --text essay --score score --pool unscored.csv
    ///   --teacher llm --base-url http://127.0.0.1:11434/v1 --llm-model qwen2.5:7b
    ///   --rubric rubric.txt --out labelled.csv
    ///
    /// It prints the teacher's development QWK and its cost per 1,000 pool responses
    /// (seconds here; for an LLM also tokens and dollars at --prices).
    #[command(verbatim_doc_comment)]
    Label(Box<TeachLabelArgs>),
}

/// `cyborg teach label`
#[derive(Args)]
pub struct TeachLabelArgs {
    /// Human-scored responses the teacher learns from.
    pub file: PathBuf,
    /// What to read (--score is required).
    #[command(flatten)]
    pub data: DataArgs,
    /// Which rows teach, which are held out.
    #[command(flatten)]
    pub split: SplitArgs,
    /// Unscored responses to label (read with FILE's --text, --id, --where and --format).
    #[arg(long, value_name = "FILE")]
    pub pool: Option<PathBuf>,
    /// The teacher (default: local).
    #[command(flatten)]
    pub teacher: TeacherArgs,
    /// How the teacher's students are trained.
    #[command(flatten)]
    pub student: StudentArgs,
    /// Where to write the labelled rows (CSV).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// LLM teacher, for large pools: write the requests for the development and pool rows
    /// (those not already answered) as OpenAI Batch API input here, and stop.
    #[arg(long, value_name = "FILE", conflicts_with = "batch_read")]
    pub batch_write: Option<PathBuf>,
    /// LLM teacher: read a Batch API output file (joined on custom_id) into the answer
    /// cache first; rows it does not answer are asked of the endpoint as usual.
    #[arg(long, value_name = "FILE")]
    pub batch_read: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `cyborg teach generate`
#[derive(Args)]
pub struct TeachGenerateArgs {
    /// Human-scored responses: the examples the LLM is shown, and the level proportions.
    pub file: PathBuf,
    /// What to read (--score is required).
    #[command(flatten)]
    pub data: DataArgs,
    /// Score range MIN:MAX [default: the lowest and highest score in the data].
    #[arg(long, value_parser = parse_range, value_name = "MIN:MAX")]
    pub range: Option<ScoreRange>,
    /// New responses per score level.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "synthetic_ratio",
        required_unless_present = "synthetic_ratio"
    )]
    pub per_level: Option<usize>,
    /// Synthetic share of the human and synthetic total, below 1 (0.8: four synthetic
    /// responses per human one), spread over levels in the human data's proportions.
    #[arg(long, value_name = "R")]
    pub synthetic_ratio: Option<f64>,
    /// `consistent`: the LLM scores each sample again; a sample scored at another level than
    /// it was written for is dropped.
    #[arg(long, value_enum, value_name = "FILTER")]
    pub filter: Option<FilterArg>,
    /// Drop a sample whose word-trigram Jaccard similarity to a human response or an earlier
    /// sample reaches this.
    #[arg(long, default_value_t = 0.8, value_name = "S")]
    pub max_similarity: f64,
    /// The LLM.
    #[command(flatten)]
    pub llm: LlmArgs,
    /// Seed for the examples shown and the requests.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where answers are cached is --llm-cache, else llm/ here [default: $CYBORG_CACHE, else
    /// ~/.cache/cyborg].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Where to write the human and synthetic rows (CSV).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Filters for synthetic responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FilterArg {
    /// Keep a sample only if the LLM, scoring it, gives the level it was written for.
    Consistent,
}

/// `cyborg experiment`
#[derive(Args)]
pub struct ExperimentArgs {
    /// Human-scored responses.
    pub file: PathBuf,
    /// What to read (--score is required).
    #[command(flatten)]
    pub data: DataArgs,
    /// Score range MIN:MAX [default: the lowest and highest score in the data].
    #[arg(long, value_parser = parse_range, value_name = "MIN:MAX")]
    pub range: Option<ScoreRange>,
    /// Training rows (ids, one per line); with --dev-ids and --test-ids.
    #[arg(long, value_name = "FILE", requires_all = ["dev_ids", "test_ids"])]
    pub train_ids: Option<PathBuf>,
    /// Development rows (ids): early stopping, thresholds, the teacher's blend.
    #[arg(long, value_name = "FILE", requires_all = ["train_ids", "test_ids"])]
    pub dev_ids: Option<PathBuf>,
    /// Test rows (ids): what every cell is judged on.
    #[arg(long, value_name = "FILE", requires_all = ["train_ids", "dev_ids"])]
    pub test_ids: Option<PathBuf>,
    /// Without id lists: the share of each score level held out for testing.
    #[arg(long, default_value_t = ExperimentRequest::default().test_fraction, value_name = "F")]
    pub test_fraction: f64,
    /// Without id lists: the share of the rest held out for development.
    #[arg(long, default_value_t = ExperimentRequest::default().dev_fraction, value_name = "F")]
    pub dev_fraction: f64,
    /// Seed of the test and development split, the same for every cell.
    #[arg(long, default_value_t = ExperimentRequest::default().split_seed, value_name = "N")]
    pub split_seed: u64,
    /// Shares of the training rows that keep their human scores.
    // As ExperimentRequest::default() (a test checks), written as it is typed.
    #[arg(long, value_delimiter = ',', default_value = "0.05,0.1,0.2,0.5,1")]
    pub fractions: Vec<f64>,
    /// Arms: none, pool (teacher labels for the other training rows) and synthetic:R.
    // As ExperimentRequest::default() (a test checks), written as it is typed.
    #[arg(long, value_delimiter = ',', default_value = "none,pool")]
    pub arms: Vec<Arm>,
    /// Seeds: each picks its own human subset and trains with its own shuffles.
    // As ExperimentRequest::default() (a test checks), written as it is typed.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub seeds: Vec<u64>,
    /// Sampling temperatures for synthetic arms.
    // As ExperimentRequest::default() (a test checks), written as it is typed.
    #[arg(long, value_delimiter = ',', default_value = "0.3")]
    pub temperatures: Vec<f64>,
    /// Synthetic arms: `consistent` drops samples the LLM scores at another level.
    #[arg(long, value_enum, value_name = "FILTER")]
    pub filter: Option<FilterArg>,
    /// Synthetic arms: drop samples this similar (word-trigram Jaccard) to another.
    #[arg(long, default_value_t = ExperimentRequest::default().max_similarity, value_name = "S")]
    pub max_similarity: f64,
    /// Bootstrap resamples for the paired comparisons.
    #[arg(long, default_value_t = ExperimentRequest::default().bootstrap, value_name = "N")]
    pub bootstrap: usize,
    /// The teacher of pool arms and the LLM of synthetic arms.
    #[command(flatten)]
    pub teacher: TeacherArgs,
    /// How every student (and the local teacher's) is trained.
    #[command(flatten)]
    pub student: StudentArgs,
    /// Where the cells, tables and plot go.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// How a student is trained: shared by `train` and `bench asap`.
#[derive(Args, Clone)]
pub struct StudentArgs {
    /// Base encoder: a BERT-family model folder with config.json, tokenizer.json and
    /// model.safetensors [default: $CYBORG_BASE_MODEL, else models/all-MiniLM-L6-v2].
    #[arg(long, value_name = "DIR")]
    pub base: Option<PathBuf>,
    /// What to train: `head` (encoder frozen), `top:K` (top K layers and the head) or `full`.
    /// By default, from the training responses' length: `top:2` for essays, measured best for
    /// its cost on 2 CPU cores, since each layer more costs about as much again per epoch;
    /// `full` for short answers (at least 90% of them 128 tokens or fewer, about 90 words),
    /// where every layer costs what two cost on essays and it raised ASAP-SAS QWK by 0.03-0.04
    /// (BENCHMARKS.md). Training notes which it chose.
    #[arg(long, value_name = "MODE")]
    pub tune: Option<Tune>,
    /// Most epochs [default: 3 for essays, 6 for short answers]. After each, the linear head
    /// is refitted in closed form (ridge) to the changed encoder, so a few epochs go a long way.
    #[arg(long, value_name = "N")]
    pub epochs: Option<usize>,
    /// Stop after N epochs without a better development QWK [default: 1 for essays, 2 for
    /// short answers].
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// Responses per optimisation step.
    #[arg(long, default_value_t = StudentConfig::default().batch_size, value_name = "N")]
    pub batch_size: usize,
    /// Peak learning rate of the encoder layers (AdamW, warm-up then linear decay).
    #[arg(long, default_value_t = StudentConfig::default().lr, value_name = "LR")]
    pub lr: f64,
    /// Peak learning rate of the head.
    #[arg(long, default_value_t = StudentConfig::default().head_lr, value_name = "LR")]
    pub head_lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = StudentConfig::default().weight_decay, value_name = "W")]
    pub weight_decay: f64,
    /// Share of the optimisation steps (over all epochs) spent raising the learning rates from
    /// 0 to their peak; they then fall linearly to 0 at the last step of the last epoch.
    #[arg(long, default_value_t = StudentConfig::default().warmup, value_name = "SHARE")]
    pub warmup: f64,
    /// Width of the head's hidden layer (0: a linear head).
    #[arg(long, default_value_t = StudentConfig::default().head_hidden, value_name = "N")]
    pub head_hidden: usize,
    /// Buckets of the head's lexical block (0: none): the words and adjacent word pairs a
    /// response uses, hashed, with a weight per bucket fitted jointly with the linear head
    /// (kept only where it raises development QWK). Try 4096 for short answers scored on
    /// content: it raised ASAP-SAS QWK a little, and lowered ASAP-AES essays' (BENCHMARKS.md).
    #[arg(long, default_value_t = StudentConfig::default().lexical_buckets, value_name = "N")]
    pub lexical_buckets: usize,
    /// How the cut points from raw score to level are fitted: `pooled` maximises QWK over the
    /// development responses and, when the kept student is the linear probe on the frozen
    /// encoder, the training responses people scored too, each scored by the probe fitted
    /// without it (otherwise the development responses alone, as `qwk`); `qwk` maximises
    /// development QWK; `shares` gives the development raw scores the human levels' shares
    /// over the training and development rows people scored. A teacher's labels never place
    /// cut points: rounded, they would pull them towards the teacher's own. Over ASAP-AES's
    /// five folds, probes' cut points fitted `pooled` gained 0.008 QWK over `qwk`; `shares`
    /// raised ASAP-SAS short answers' test QWK by 0.015 (BENCHMARKS.md, "Cut points at
    /// training time").
    #[arg(long, default_value_t = StudentConfig::default().cut_points, value_name = "RULE")]
    pub cut_points: CutPoints,
    /// Tokens per encoder window, [CLS] and [SEP] included.
    #[arg(long, default_value_t = StudentConfig::default().window_tokens, value_name = "N")]
    pub window_tokens: usize,
    /// Most windows read per response (longer responses are cut).
    #[arg(long, default_value_t = StudentConfig::default().max_windows, value_name = "N")]
    pub max_windows: usize,
    /// Seed for the split, the human-fraction sample, shuffling and initialisation.
    #[arg(long, default_value_t = StudentConfig::default().seed)]
    pub seed: u64,
    /// Where frozen-layer outputs are cached [default: $CYBORG_CACHE, else ~/.cache/cyborg].
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Do not read or write the cache.
    #[arg(long, conflicts_with = "cache")]
    pub no_cache: bool,
}

/// How a bundle stores its encoder's matrices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats: exactly the trained weights.
    F32,
    /// 16-bit floats: half the size; scores can move by rounding.
    F16,
    /// 8-bit integers with a scale per column and per group of 128 values of a row: a quarter
    /// of the size.
    Int8,
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
    /// A --group column whose groups the SMD-constrained calibration holds within the
    /// subgroup gate (group-aware offsets, and the QWK they cost); repeat for several
    /// [default: every --group column].
    #[arg(long, value_name = "COL")]
    pub constrain: Vec<String>,
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
    /// A provenance file from `cyborg teach label` (its `--pool` being these responses): the
    /// teacher's levels, joined on --id, are judged against the human scores beside the
    /// model's, and drawn in the report's score distributions.
    #[arg(long, value_name = "FILE", requires = "id")]
    pub teacher_labels: Option<PathBuf>,
    /// The output folder of a `cyborg experiment` whose learning curve (test QWK by share of
    /// human scores, per arm) the HTML report shows too.
    #[arg(long, value_name = "DIR", requires = "report")]
    pub experiment: Option<PathBuf>,
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
    pub format: Option<FormatArg>,
    /// Treat `"` as an ordinary character in CSV/TSV.
    #[arg(long)]
    pub no_quoting: bool,
    /// Write the scores here instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Multiply an int8 bundle's matrices as 8-bit integers, each input rounded to 8 bits,
    /// where the CPU has AVX-512 VNNI: faster than f32 (BENCHMARKS.md, "Encoder speed"), but
    /// raw scores move by that rounding (levels rarely), so they no longer equal the f32
    /// path's, other machines' or the browser's exactly. Other bundles and CPUs: no effect.
    #[arg(long)]
    pub int8_products: bool,
}

/// `cyborg serve`
#[derive(Args)]
pub struct ServeArgs {
    /// Where to listen (port 0: any free port, printed at start). Anything but loopback
    /// exposes the app and API to the network: put it behind HTTPS.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: std::net::SocketAddr,
    /// Where datasets, jobs, bundles, reports and the token are kept (created if absent).
    #[arg(long, default_value = "serve-data", value_name = "DIR")]
    pub data_dir: PathBuf,
    /// The built browser app (`trunk build --release` makes dist/).
    #[arg(long, default_value = "dist", value_name = "DIR")]
    pub dist: PathBuf,
    /// The largest upload accepted, in megabytes.
    #[arg(long, default_value_t = 50, value_name = "MB")]
    pub max_upload_mb: usize,
    /// The encoder the local teacher's students start from in every job that asks for a
    /// local teacher [default: the student's]. A request cannot name a folder on the server,
    /// so the operator chooses it here: e.g. models/all-mpnet-base-v2, which
    /// scripts/get-teacher.sh all-mpnet-base-v2 installs.
    #[arg(long, value_name = "DIR")]
    pub teacher_base: Option<PathBuf>,
}

impl ServeArgs {
    /// The server's configuration.
    pub fn config(&self) -> cyborg_server::ServeConfig {
        cyborg_server::ServeConfig {
            addr: self.addr,
            data_dir: self.data_dir.clone(),
            dist: self.dist.clone(),
            max_upload: self.max_upload_mb << 20,
            teacher_base: self.teacher_base.clone(),
        }
    }
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

/// `cyborg export`
#[derive(Args)]
pub struct ExportArgs {
    /// The model bundle to read.
    pub model: PathBuf,
    /// The precision to store the encoder's matrices in.
    #[arg(long, value_enum)]
    pub weights: PrecisionArg,
    /// Where to write the new bundle.
    #[arg(long)]
    pub out: PathBuf,
}

/// `cyborg bench …`
#[derive(Subcommand)]
pub enum BenchCommand {
    /// Encoder speed: texts per second at 256 and 512 tokens, batch 1 and 16.
    ///
    /// Each text is cut to its first window, as sentence-transformers truncates, so the
    /// numbers compare with scripts/bench-encode.sh's PyTorch run on the same texts.
    Encode(BenchEncodeArgs),
    /// ASAP-AES accuracy: train and test one student per prompt on NEA folds, at 100% and
    /// 10% of the training ids, beside published and simple-peer results; with --teacher
    /// local, also the teacher and the student trained on its pool labels.
    ///
    /// All five folds, resumable (about 5 hours on 2 cores):
    ///   cyborg bench asap --folds 0,1,2,3,4 --cells asap-cells --out asap.md
    Asap(Box<BenchAsapArgs>),
    /// Multi-trait scoring: one student of every target (one shared encoder, one head output
    /// per trait) beside one student per target, trained the same way, on the same held-out
    /// responses: per-target QWK (levelled targets) and RMSE, and MCRMSE.
    ///
    /// Corpora, from ../shared/data: asap7 and asap8 (ASAP-AES sets 7 and 8: the holistic
    /// score and 4 or 6 trait scores from asap_plus_plus_traits.csv, NEA fold --fold), and
    /// commonlit (CommonLit summaries: content and wording, continuous, a random split).
    Traits(Box<BenchTraitsArgs>),
}

/// A corpus with several scores per response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CorpusArg {
    /// ASAP-AES set 7: holistic 0-30; ideas, organization, style, conventions 0-6.
    Asap7,
    /// ASAP-AES set 8: holistic 0-60; six traits 2-12.
    Asap8,
    /// CommonLit summaries: content and wording (continuous).
    Commonlit,
}

/// `cyborg bench traits`
#[derive(Args)]
pub struct BenchTraitsArgs {
    /// Which corpus.
    #[arg(long, value_enum)]
    pub corpus: CorpusArg,
    /// The folder holding asap-aes/ and commonlit-summaries/.
    #[arg(long, default_value = "../shared/data", value_name = "DIR")]
    pub data: PathBuf,
    /// NEA fold (ASAP-AES).
    #[arg(long, default_value_t = 0)]
    pub fold: usize,
    /// CommonLit has no official split: the share held out for testing (seeded by --seed).
    #[arg(long, default_value_t = 0.2, value_name = "F")]
    pub test_fraction: f64,
    /// CommonLit: the share held out for development.
    #[arg(long, default_value_t = 0.1, value_name = "F")]
    pub dev_fraction: f64,
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
    /// Precisions to run the encoder at, each as it runs from a bundle stored so (int8
    /// matrices are multiplied as integers where the CPU has AVX-512 VNNI).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "f32,int8")]
    pub weights: Vec<PrecisionArg>,
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
    /// NEA folds to run (0-4): with more than one, the table gives each prompt's mean ± SD
    /// over them, and each fold's own table below.
    #[arg(long, alias = "fold", value_delimiter = ',', default_value = "0")]
    pub folds: Vec<usize>,
    /// Prompts to run.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,5,6,7,8")]
    pub prompts: Vec<u32>,
    /// Human fractions of the training ids to run.
    #[arg(long, value_delimiter = ',', default_value = "1.0,0.1")]
    pub fractions: Vec<f64>,
    /// With --teacher local, each fraction below 1 also runs the teacher fitted on that
    /// fraction, and a student trained on it plus the teacher's labels for the other training
    /// ids (their scores hidden).
    #[command(flatten)]
    pub teacher: TeacherArgs,
    /// How each student is trained.
    #[command(flatten)]
    pub student: StudentArgs,
    /// Keep each finished cell (one fold, prompt and fraction) as JSON in DIR, and reuse the
    /// cells already there, so a stopped run resumes where it was. A cell trained with other
    /// settings is refused; delete the folder to measure a new build.
    #[arg(long, value_name = "DIR")]
    pub cells: Option<PathBuf>,
    /// Also write the results table (Markdown) here.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// File formats, as flags name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
    /// One JSON object per line.
    Jsonl,
}

// Conversions into the trainer library's requests: the flags above, and nothing else, decide
// what the library is asked.

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Csv => Format::Csv,
            FormatArg::Tsv => Format::Tsv,
            FormatArg::Jsonl => Format::Jsonl,
        }
    }
}

impl From<TeacherArg> for TeacherKind {
    fn from(teacher: TeacherArg) -> Self {
        match teacher {
            TeacherArg::Local => TeacherKind::Local,
            TeacherArg::Llm => TeacherKind::Llm,
            TeacherArg::Gguf => TeacherKind::Gguf,
            TeacherArg::Bundle => TeacherKind::Bundle,
        }
    }
}

impl From<FilterArg> for SampleFilter {
    fn from(filter: FilterArg) -> Self {
        match filter {
            FilterArg::Consistent => SampleFilter::Consistent,
        }
    }
}

impl From<PrecisionArg> for Precision {
    fn from(precision: PrecisionArg) -> Self {
        match precision {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::F16 => Precision::F16,
            PrecisionArg::Int8 => Precision::Int8,
        }
    }
}

impl From<CorpusArg> for cyborg_trainer::trait_bench::TraitCorpus {
    fn from(corpus: CorpusArg) -> Self {
        use cyborg_trainer::trait_bench::TraitCorpus;
        match corpus {
            CorpusArg::Asap7 => TraitCorpus::Asap7,
            CorpusArg::Asap8 => TraitCorpus::Asap8,
            CorpusArg::Commonlit => TraitCorpus::Commonlit,
        }
    }
}

impl DataArgs {
    /// The files these flags read, besides the data file itself.
    pub fn inputs(&self) -> impl Iterator<Item = &PathBuf> {
        self.ids.iter()
    }

    /// What to read.
    pub fn config(&self) -> DataConfig {
        DataConfig {
            text: self.text.clone(),
            score: self.score.clone(),
            id: self.id.clone(),
            filters: self.filters.clone(),
            ids: self.ids.clone(),
            format: self.format.map(Format::from),
            no_quoting: self.no_quoting,
        }
    }
}

impl SplitArgs {
    /// The id lists these flags read.
    pub fn inputs(&self) -> impl Iterator<Item = &PathBuf> {
        self.train_ids.iter().chain(&self.dev_ids)
    }

    /// Which rows train and which are held out.
    pub fn config(&self) -> SplitConfig {
        SplitConfig {
            range: self.range,
            train_ids: self.train_ids.clone(),
            dev_ids: self.dev_ids.clone(),
            dev_fraction: self.dev_fraction,
            human_fraction: self.human_fraction,
        }
    }
}

impl StudentArgs {
    /// How the student is trained.
    pub fn config(&self) -> StudentConfig {
        StudentConfig {
            base: self.base.clone(),
            tune: self.tune,
            epochs: self.epochs,
            patience: self.patience,
            batch_size: self.batch_size,
            lr: self.lr,
            head_lr: self.head_lr,
            weight_decay: self.weight_decay,
            warmup: self.warmup,
            head_hidden: self.head_hidden,
            lexical_buckets: self.lexical_buckets,
            cut_points: self.cut_points,
            window_tokens: self.window_tokens,
            max_windows: self.max_windows,
            seed: self.seed,
            cache: self.cache.clone(),
            no_cache: self.no_cache,
            fine_tuned_only: false,
        }
    }
}

impl TeacherArgs {
    /// Which teacher, how much it counts, and how to reach an LLM.
    pub fn config(&self) -> TeacherConfig {
        TeacherConfig {
            kind: self.teacher.map(TeacherKind::from),
            members: self.teacher_members,
            base: self.teacher_base.clone(),
            bundle: self.teacher_bundle.clone(),
            weight: self.teacher_weight,
            llm: self.llm.config(),
        }
    }
}

impl LlmArgs {
    /// How to reach and ask the LLM.
    pub fn config(&self) -> LlmConfig {
        LlmConfig {
            gguf: self.gguf.clone(),
            max_tokens: self.max_tokens,
            base_url: self.base_url.clone(),
            llm_model: self.llm_model.clone(),
            api_key_env: self.api_key_env.clone(),
            rubric: self.rubric.clone(),
            examples_per_level: self.examples_per_level,
            temperature: self.temperature,
            concurrency: self.concurrency,
            retries: self.retries,
            request_timeout: self.request_timeout,
            prices: self.prices,
            llm_cache: self.llm_cache.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags' defaults are the library's, where clap cannot take them from it directly.
    #[test]
    fn experiment_defaults_are_the_librarys() {
        let flags = [
            "cyborg",
            "experiment",
            "f.csv",
            "--text",
            "t",
            "--out-dir",
            "d",
        ];
        let Command::Experiment(args) = Cli::try_parse_from(flags).unwrap().command else {
            panic!("parsed as another command")
        };
        let library = ExperimentRequest::default();
        assert_eq!(args.fractions, library.fractions);
        assert_eq!(args.arms, library.arms);
        assert_eq!(args.seeds, library.seeds);
        assert_eq!(args.temperatures, library.temperatures);
    }
}
