//! What each command does, over the library pieces.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use candle_core::{DType, Device};
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::calibration;
use cyborg_scorer::card::{
    BaseModelInfo, DataSummary, DevMetrics, ModelCard, TrainingSummary, TraitQuality,
};
use cyborg_scorer::fairness::{
    self, gates, group_stats, paired_qwk_difference, qwk_interval, Gate, GroupStats, Interval,
    SMALL_GROUP,
};
use cyborg_scorer::metrics::{agreement, Agreement, ScoreRange};
use cyborg_scorer::model::PreparedText;
use cyborg_scorer::tokenize::WindowConfig;
use cyborg_scorer::traits::{trait_result, Scale, TraitConfig, TraitResult};
use cyborg_scorer::Scorer;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use serde_json::json;

use crate::cache::StateCache;
use crate::cli::{
    BenchCommand, CheckArgs, Cli, Command, DataArgs, DataCommand, EvalArgs, InfoArgs, SampleFilter,
    ScoreArgs, SplitArgs, StudentArgs, TeachCommand, TeachGenerateArgs, TeachLabelArgs,
    TeacherKind, TrainArgs, WeightPrecision,
};
use crate::data::{read_id_list, read_table, DataError, ReadSpec, Row, Table};
use crate::output::{check_writable, write_atomically};
use crate::progress::Progress;
use crate::teacher::llm::LlmTeacher;
use crate::teacher::{provenance_csv, synthetic, LabelledPool, Source};
use crate::train::{self, Example, TrainSettings, Trained};

/// Runs the command `cli` names.
pub fn run(cli: Cli) -> Result<()> {
    let progress = Progress::new(cli.quiet);
    match cli.command {
        Command::Data(DataCommand::Check(args)) => check(args),
        Command::Train(args) => train_command(args, &progress),
        Command::Teach(TeachCommand::Label(args)) => teach_label(*args, &progress),
        Command::Teach(TeachCommand::Generate(args)) => teach_generate(*args, &progress),
        Command::Experiment(args) => crate::experiment::run(args, &progress),
        Command::Eval(args) => eval(args, &progress),
        Command::Score(args) => score(args, &progress),
        Command::Info(args) => info(args),
        Command::Bench(BenchCommand::Encode(args)) => crate::bench::encode(args, &progress),
        Command::Bench(BenchCommand::Asap(args)) => crate::bench::asap(*args, &progress),
        Command::Bench(BenchCommand::Traits(args)) => crate::trait_bench::traits(*args, &progress),
    }
}

/// The device models run on: the first CUDA GPU when built with `cuda`, else the CPU.
pub fn device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        return Device::new_cuda(0).context("the cuda build found no usable GPU");
    }
    #[cfg(not(feature = "cuda"))]
    Ok(Device::Cpu)
}

/// What [`DataArgs`] asks to read.
pub fn read_spec(data: &DataArgs, need_score: bool, command: &str) -> Result<ReadSpec> {
    if need_score && data.score.is_none() {
        bail!("{command} needs human scores: give their column with --score COL");
    }
    Ok(ReadSpec {
        format: data.format,
        no_quoting: data.no_quoting,
        text: data.text.clone(),
        score: data.score.clone(),
        id: data.id.clone(),
        filters: data.filters.clone(),
        ids_file: data.ids.clone(),
        ..ReadSpec::default()
    })
}

/// The base encoder folder: `--base`, else `$CYBORG_BASE_MODEL`, else
/// `models/all-MiniLM-L6-v2` in the working folder or beside the repository this binary was
/// built in.
pub fn base_dir(base: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = base {
        return Ok(dir.to_path_buf());
    }
    if let Some(dir) = std::env::var_os("CYBORG_BASE_MODEL") {
        return Ok(PathBuf::from(dir));
    }
    let relative = Path::new("models/all-MiniLM-L6-v2");
    let beside_repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(relative);
    [relative.to_path_buf(), beside_repo]
        .into_iter()
        .find(|d| d.is_dir())
        .with_context(|| {
            "no base model: pass --base DIR (a BERT-family model folder) or run \
             scripts/setup.sh, which installs all-MiniLM-L6-v2 into models/"
        })
}

/// Loads a model bundle from `path`.
pub fn load_bundle(path: &Path) -> Result<Scorer> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the model {}", path.display()))?;
    Ok(Scorer::from_bundle(
        &bytes,
        &path.display().to_string(),
        &device()?,
    )?)
}

fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

fn median(values: &mut [usize]) -> f64 {
    values.sort_unstable();
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}

fn check(args: CheckArgs) -> Result<()> {
    let mut spec = read_spec(&args.data, false, "data check")?;
    spec.groups = args.groups.clone();
    spec.range = args.range;
    spec.traits = args.traits.clone();
    let table = read_table(&args.file, &spec)?;
    let all_rows: Vec<&Row> = table.rows.iter().collect();
    // As `train --trait` would read each one: on levels or continuous, and where it centres.
    let traits: Vec<(&String, Scale, f64)> = table
        .traits
        .iter()
        .enumerate()
        .map(|(t, name)| {
            let mean = all_rows.iter().map(|r| r.traits[t]).sum::<f64>() / all_rows.len() as f64;
            (name, trait_scale(&all_rows, &[], t), mean)
        })
        .collect();
    let mut words: Vec<usize> = table.rows.iter().map(|r| word_count(&r.text)).collect();
    let total_words: usize = words.iter().sum();
    let median_words = median(&mut words);
    let mut groups: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for (i, name) in args.groups.iter().enumerate() {
        let counts = groups.entry(name.clone()).or_default();
        for row in &table.rows {
            let value = if row.groups[i].is_empty() {
                "(empty)"
            } else {
                &row.groups[i]
            };
            *counts.entry(value.to_string()).or_insert(0) += 1;
        }
    }
    let summary = json!({
        "file": table.path.display().to_string(),
        "rows": table.rows.len(),
        "rows_in_file": table.rows_in_file,
        "columns": table.columns,
        "score_range": table.observed_range(),
        "score_counts": table.score_counts(),
        "words": {
            "min": words.first(),
            "median": median_words,
            "mean": total_words as f64 / table.rows.len() as f64,
            "max": words.last(),
        },
        "groups": groups,
        "traits": traits
            .iter()
            .map(|(name, scale, mean)| json!({"name": name, "scale": scale, "mean": mean}))
            .collect::<Vec<_>>(),
    });
    if args.json {
        println!("{summary}");
        return Ok(());
    }
    println!(
        "{}: {} rows kept of {} · columns: {}",
        table.path.display(),
        table.rows.len(),
        table.rows_in_file,
        table.columns.join(", ")
    );
    let counts = table.score_counts();
    if let Some(range) = table.observed_range() {
        println!("scores {range}:");
        let most = counts.values().copied().max().unwrap_or(1);
        for (score, count) in &counts {
            let bar = "#".repeat((40 * count).div_ceil(most));
            println!("  {score:>4} {count:>6}  {bar}");
        }
    }
    println!(
        "words per response: min {}, median {median_words}, mean {:.0}, max {}",
        words.first().unwrap_or(&0),
        total_words as f64 / table.rows.len() as f64,
        words.last().unwrap_or(&0)
    );
    for (name, counts) in &groups {
        let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
        println!("group {name}: {}", parts.join(", "));
    }
    for (name, scale, mean) in &traits {
        let read_as = match scale {
            Scale::Levels(thresholds) => format!("levels {}", thresholds.range),
            Scale::Continuous { min, max } => format!("continuous, {min:.3} to {max:.3}"),
        };
        println!("trait {name}: {read_as}, mean {mean:.3}");
    }
    Ok(())
}

/// Splits a table's rows into training and development rows: by id lists when given, else a
/// seeded split that holds out `dev_fraction` of each score level.
fn split_rows<'a>(
    table: &'a Table,
    train_ids: Option<&Path>,
    dev_ids: Option<&Path>,
    dev_fraction: f64,
    seed: u64,
) -> Result<(Vec<&'a Row>, Vec<&'a Row>)> {
    if let (Some(train_ids), Some(dev_ids)) = (train_ids, dev_ids) {
        let train_ids = read_id_list(train_ids)?;
        let dev_ids = read_id_list(dev_ids)?;
        if let Some(both) = train_ids.intersection(&dev_ids).next() {
            bail!("id \"{both}\" is in both the training and the development id lists");
        }
        let pick = |ids: &HashSet<String>| -> Vec<&Row> {
            table.rows.iter().filter(|r| ids.contains(&r.id)).collect()
        };
        let (train, dev) = (pick(&train_ids), pick(&dev_ids));
        if train.is_empty() || dev.is_empty() {
            bail!(
                "{}: the id lists select {} training and {} development rows; check --id and \
                 the filters",
                table.path.display(),
                train.len(),
                dev.len()
            );
        }
        return Ok((train, dev));
    }
    if !(0.0..1.0).contains(&dev_fraction) || dev_fraction == 0.0 {
        bail!("--dev-fraction must be between 0 and 1 (exclusive), not {dev_fraction}");
    }
    let all: Vec<&Row> = table.rows.iter().collect();
    let (train, dev) = stratified_split(&all, dev_fraction, seed);
    if train.len() < 2 || dev.is_empty() {
        bail!(
            "{}: {} rows are too few to split into training and development data",
            table.path.display(),
            table.rows.len()
        );
    }
    Ok((train, dev))
}

/// Splits scored `rows` into those kept and a seeded random `fraction` of each score level
/// held out.
pub fn stratified_split<'a>(
    rows: &[&'a Row],
    fraction: f64,
    seed: u64,
) -> (Vec<&'a Row>, Vec<&'a Row>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut by_score: BTreeMap<i64, Vec<&Row>> = BTreeMap::new();
    for &row in rows {
        by_score
            .entry(row.score.expect("scores were read"))
            .or_default()
            .push(row);
    }
    let (mut kept, mut held_out) = (Vec::new(), Vec::new());
    for rows in by_score.values_mut() {
        rows.shuffle(&mut rng);
        let out = (rows.len() as f64 * fraction).round() as usize;
        held_out.extend_from_slice(&rows[..out]);
        kept.extend_from_slice(&rows[out..]);
    }
    (kept, held_out)
}

/// The rows of `all` that are not among `kept` (the same rows, not equal ones): those whose
/// human scores [`sample_fraction`] set aside.
pub fn set_aside<'a>(all: &[&'a Row], kept: &[&Row]) -> Vec<&'a Row> {
    let kept: HashSet<*const Row> = kept.iter().map(|&r| r as *const Row).collect();
    all.iter()
        .copied()
        .filter(|&r| !kept.contains(&(r as *const Row)))
        .collect()
}

/// Keeps a seeded random `fraction` of `rows` (at least two).
pub fn sample_fraction<'a>(rows: &[&'a Row], fraction: f64, seed: u64) -> Result<Vec<&'a Row>> {
    if !(fraction > 0.0 && fraction <= 1.0) {
        bail!("--human-fraction must be in (0, 1], not {fraction}");
    }
    if fraction == 1.0 {
        return Ok(rows.to_vec());
    }
    let keep = ((rows.len() as f64 * fraction).round() as usize)
        .max(2)
        .min(rows.len());
    let mut shuffled = rows.to_vec();
    shuffled.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5eed_f4ac));
    shuffled.truncate(keep);
    Ok(shuffled)
}

/// A trained student with what is needed for its card.
pub struct FitOutcome {
    /// The training result.
    pub trained: Trained,
    /// The base model's identity.
    pub base: BaseModelInfo,
    /// Settings used.
    pub settings: TrainSettings,
    /// Wall time of the whole fit.
    pub seconds: f64,
    /// The frozen layers' outputs the fit used.
    pub cache: StateCache,
}

/// Loads the base model that `student` names.
pub fn load_base(student: &StudentArgs, progress: &Progress) -> Result<BaseModel> {
    let dir = base_dir(student.base.as_deref())?;
    let windows = WindowConfig {
        max_tokens: student.window_tokens,
        max_windows: student.max_windows,
    };
    progress.note(&format!("base model: {}", dir.display()));
    Ok(BaseModel::load(&dir, windows, &device()?)?)
}

/// A training response and what the student learns from it.
#[derive(Clone, Copy)]
pub struct TrainingRow<'a> {
    /// The response.
    pub row: &'a Row,
    /// Its target on the primary score's scale: the human score, or a teacher's expected
    /// score.
    pub target: f64,
    /// Its human values of the further traits (empty when training on the primary score
    /// alone).
    pub more: &'a [f64],
    /// Its weight in the loss, relative to the other rows.
    pub weight: f64,
}

impl<'a> TrainingRow<'a> {
    /// Human-scored rows, each with weight 1, on the primary score alone.
    pub fn human(rows: &[&'a Row]) -> Vec<Self> {
        rows.iter()
            .map(|&row| TrainingRow {
                row,
                target: row.score.expect("scores were read") as f64,
                more: &[],
                weight: 1.0,
            })
            .collect()
    }

    /// Human-scored rows, each with weight 1, on the primary score and every trait column
    /// read.
    pub fn human_with_traits(rows: &[&'a Row]) -> Vec<Self> {
        Self::human(rows)
            .into_iter()
            .map(|t| TrainingRow {
                more: &t.row.traits,
                ..t
            })
            .collect()
    }
}

/// Trains a student of the primary score alone, on `range`, with the human-scored
/// `dev_rows` for early stopping and thresholds.
pub fn fit_score_student(
    base: &BaseModel,
    train: &[TrainingRow],
    dev_rows: &[&Row],
    range: ScoreRange,
    student: &StudentArgs,
    progress: &Progress,
) -> Result<FitOutcome> {
    let traits = [TraitConfig::levels("score", range)];
    let dev = TrainingRow::human(dev_rows);
    fit_student(base, train, &dev, &traits, student, progress)
}

/// Trains a student of `traits` (the primary score first) on `train`, with `dev` (human
/// scores) for early stopping and thresholds.
pub fn fit_student(
    base: &BaseModel,
    train: &[TrainingRow],
    dev: &[TrainingRow],
    traits: &[TraitConfig],
    student: &StudentArgs,
    progress: &Progress,
) -> Result<FitOutcome> {
    let start = Instant::now();
    let settings = TrainSettings {
        tune: student.tune,
        max_epochs: student.epochs,
        patience: student.patience,
        batch_size: student.batch_size.max(1),
        learning_rate: student.lr,
        head_learning_rate: student.head_lr,
        weight_decay: student.weight_decay,
        warmup_fraction: 0.1,
        head_hidden: student.head_hidden,
        seed: student.seed,
        fine_tuned_only: student.fine_tuned_only,
    };
    let examples = |rows: &[TrainingRow]| -> Result<Vec<Example>> {
        rows.iter()
            .map(|t| {
                if 1 + t.more.len() != traits.len() {
                    bail!(
                        "row {} has scores for {} of the {} traits: a row a teacher labelled \
                         carries the primary score only, so traits cannot be combined with a \
                         teacher",
                        t.row.id,
                        1 + t.more.len(),
                        traits.len()
                    );
                }
                Ok(Example {
                    prepared: base.text_encoder.prepare(&t.row.text)?,
                    targets: std::iter::once(t.target)
                        .chain(t.more.iter().copied())
                        .collect(),
                    weight: t.weight,
                })
            })
            .collect()
    };
    let train_set = examples(train)?;
    let dev_set = examples(dev)?;
    let cache_root = if student.no_cache {
        None
    } else {
        student.cache.clone().or_else(StateCache::default_root)
    };
    let frozen = settings
        .tune
        .frozen_layers(base.text_encoder.encoder.layers().len());
    let cache = StateCache::new(cache_root.as_deref(), &base.weights_sha256, frozen);
    let trained = train::train(
        base, &train_set, &dev_set, traits, &settings, &cache, progress,
    )?;
    Ok(FitOutcome {
        trained,
        base: BaseModelInfo {
            name: base.name.clone(),
            weights_sha256: base.weights_sha256.clone(),
        },
        settings,
        seconds: start.elapsed().as_secs_f64(),
        cache,
    })
}

/// The rows a student or teacher learns from, as [`SplitArgs`] say.
pub struct Split<'a> {
    /// Training rows that keep their human scores.
    pub human: Vec<&'a Row>,
    /// Training rows whose scores `--human-fraction` set aside.
    pub set_aside: Vec<&'a Row>,
    /// Development rows (human-scored): early stopping and thresholds.
    pub dev: Vec<&'a Row>,
    /// The score range.
    pub range: ScoreRange,
}

impl<'a> Split<'a> {
    /// Splits `table` (read with scores) as `split` says, with `seed` for the random parts.
    pub fn new(table: &'a Table, split: &SplitArgs, seed: u64) -> Result<Split<'a>> {
        let (train_all, dev) = split_rows(
            table,
            split.train_ids.as_deref(),
            split.dev_ids.as_deref(),
            split.dev_fraction,
            seed,
        )?;
        let human = sample_fraction(&train_all, split.human_fraction, seed)?;
        let set_aside = set_aside(&train_all, &human);
        let scores = || human.iter().chain(&dev).filter_map(|r| r.score);
        let observed = ScoreRange {
            min: scores().min().expect("rows"),
            max: scores().max().expect("rows"),
        };
        let range = split.range.unwrap_or(observed);
        if range.min == range.max {
            bail!(
                "every score is {}: there is nothing to learn (give --range if the scale is wider)",
                range.min
            );
        }
        Ok(Split {
            human,
            set_aside,
            dev,
            range,
        })
    }

    /// What a teacher labels: the rows of `pool_file` (read as `data` says, scores ignored) and,
    /// with a teacher, the set-aside rows.
    pub fn pool<'p>(&self, pool_file: Option<&'p Table>) -> Vec<&'p Row>
    where
        'a: 'p,
    {
        let mut pool: Vec<&Row> = pool_file
            .map(|t| t.rows.iter().collect())
            .unwrap_or_default();
        pool.extend(self.set_aside.iter().copied());
        pool
    }
}

/// A provenance file read for training.
struct LabelsFile {
    /// Its human-scored rows, as a table of their own.
    human: Table,
    /// Rows a teacher or an LLM labelled, with their soft targets.
    labelled: Vec<(Row, f64)>,
    /// Failed and dropped rows.
    skipped: usize,
    /// The teachers and generators named in the file.
    teachers: Vec<String>,
}

/// Reads a `teach label` / `teach generate` output, checking every row's source and scores.
fn read_labels_file(path: &Path, data: &DataArgs, range: Option<ScoreRange>) -> Result<LabelsFile> {
    let score_column = data.score.clone().expect("checked by read_spec");
    let mut spec = read_spec(data, true, "train --from-labels")?;
    spec.score = None;
    spec.groups = vec![
        score_column.clone(),
        "expected_score".into(),
        "source".into(),
        "teacher".into(),
    ];
    let table = read_table(path, &spec)?;
    let at = |row: &Row, message: String| DataError {
        path: path.to_path_buf(),
        line: Some(row.line),
        column: None,
        message,
    };
    let mut labels = LabelsFile {
        human: Table {
            rows: Vec::new(),
            ..table.clone()
        },
        labelled: Vec::new(),
        skipped: 0,
        teachers: Vec::new(),
    };
    for row in table.rows {
        let [score, expected, source, teacher] = &row.groups[..] else {
            unreachable!("four columns were asked for")
        };
        match Source::parse(source) {
            Some(Source::Human) => {
                let score = score
                    .parse::<i64>()
                    .ok()
                    .filter(|s| range.is_none_or(|r| (r.min..=r.max).contains(s)))
                    .ok_or_else(|| {
                        at(
                            &row,
                            format!(
                                "column \"{score_column}\": \"{score}\" is not a score in range"
                            ),
                        )
                    })?;
                labels.human.rows.push(Row {
                    score: Some(score),
                    groups: Vec::new(),
                    ..row.clone()
                });
            }
            Some(Source::Teacher | Source::Synthetic) => {
                let target = expected
                    .parse::<f64>()
                    .ok()
                    .filter(|e| e.is_finite())
                    .ok_or_else(|| {
                        at(
                            &row,
                            format!("column \"expected_score\": \"{expected}\" is not a number"),
                        )
                    })?;
                if !labels.teachers.contains(teacher) {
                    labels.teachers.push(teacher.clone());
                }
                labels.labelled.push((
                    Row {
                        groups: Vec::new(),
                        ..row.clone()
                    },
                    target,
                ));
            }
            Some(Source::Failed | Source::Dropped) => labels.skipped += 1,
            None => {
                return Err(at(
                    &row,
                    format!(
                        "column \"source\": \"{source}\" is not human, teacher, synthetic, \
                         failed or dropped"
                    ),
                )
                .into())
            }
        }
    }
    if labels.human.rows.is_empty() {
        bail!(
            "{}: no row has source human; a student needs human scores to hold out",
            path.display()
        );
    }
    Ok(labels)
}

/// Reads the pool of unscored responses at `path`, if any, as `data` says for the scored
/// file, without scores.
fn read_pool(path: Option<&Path>, data: &DataArgs) -> Result<Option<Table>> {
    let Some(path) = path else {
        return Ok(None);
    };
    let mut spec = read_spec(data, false, "the pool")?;
    spec.score = None;
    Ok(Some(read_table(path, &spec)?))
}

fn train_command(args: TrainArgs, progress: &Progress) -> Result<()> {
    check_writable(&args.out)?;
    if let Some(labels) = &args.labels_out {
        if args.teacher.teacher.is_none() && args.pool.is_none() {
            bail!("--labels-out needs a teacher: give --pool FILE and/or --teacher local");
        }
        check_writable(labels)?;
    }
    let (table, from_file) = if args.from_labels {
        let labels = read_labels_file(&args.file, &args.data, args.split.range)?;
        progress.note(&format!(
            "{}: {} human rows, {} labelled by a teacher or written by an LLM, {} failed or \
             dropped (skipped)",
            args.file.display(),
            labels.human.rows.len(),
            labels.labelled.len(),
            labels.skipped
        ));
        (labels.human.clone(), Some(labels))
    } else {
        let mut spec = read_spec(&args.data, true, "train")?;
        spec.range = args.split.range;
        spec.traits = args.traits.clone();
        (read_table(&args.file, &spec)?, None)
    };
    let split = Split::new(&table, &args.split, args.student.seed)?;
    let pool_table = read_pool(args.pool.as_deref(), &args.data)?;
    let with_teacher = args.teacher.teacher.is_some() || pool_table.is_some();
    let range = split.range;
    progress.note(&format!(
        "{}: {} human-scored training rows, {} development rows, scores {range}{}",
        args.file.display(),
        split.human.len(),
        split.dev.len(),
        if with_teacher {
            format!(
                "; the teacher labels {} more",
                split.pool(pool_table.as_ref()).len()
            )
        } else {
            String::new()
        }
    ));
    let base = load_base(&args.student, progress)?;
    let labelled = if with_teacher {
        Some(LabelledPool::fit_and_label(
            Some(&base),
            &split.human,
            &split.dev,
            &split.pool(pool_table.as_ref()),
            range,
            &args.teacher,
            &args.student,
            progress,
        )?)
    } else {
        None
    };
    if let (Some(path), Some(labelled)) = (&args.labels_out, &labelled) {
        write_atomically(path, &labelled.to_csv(&split.human)?)?;
    }
    let mut training_rows = match &labelled {
        Some(l) => l.training_rows(&split.human, args.teacher.teacher_weight),
        None => TrainingRow::human_with_traits(&split.human),
    };
    if let Some(file) = &from_file {
        training_rows.extend(file.labelled.iter().map(|(row, target)| TrainingRow {
            row,
            target: *target,
            more: &[],
            weight: args.teacher.teacher_weight,
        }));
    }
    let teacher_rows = training_rows.len() - split.human.len();
    let teacher = match (&labelled, &from_file) {
        (Some(l), _) => Some(l.teacher.describe()),
        (None, Some(file)) if !file.teachers.is_empty() => Some(file.teachers.join("; ")),
        _ => None,
    };
    let (train_rows, dev_rows) = (&split.human, &split.dev);
    let score_column = args.data.score.clone().unwrap_or_default();
    let traits = trait_configs(&score_column, range, &args.traits, train_rows, dev_rows);
    let outcome = fit_student(
        &base,
        &training_rows,
        &TrainingRow::human_with_traits(dev_rows),
        &traits,
        &args.student,
        progress,
    )?;
    let mut train_counts = BTreeMap::new();
    for row in train_rows {
        *train_counts.entry(row.score.expect("scores")).or_insert(0) += 1;
    }
    let mut words: Vec<usize> = train_rows.iter().map(|r| word_count(&r.text)).collect();
    let trained = &outcome.trained;
    let (dev_fitted, dev_rounding) = (
        trained
            .dev_fitted
            .clone()
            .expect("the primary score is on levels"),
        trained
            .dev_rounding
            .clone()
            .expect("the primary score is on levels"),
    );
    let card = ModelCard {
        created: now_rfc3339(),
        cyborg_version: env!("CARGO_PKG_VERSION").to_string(),
        base_model: outcome.base.clone(),
        data: DataSummary {
            file: args
                .file
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            text_column: args.data.text.clone(),
            score_column,
            filters: args.data.filters.iter().map(|f| f.to_string()).collect(),
            train_rows: train_rows.len(),
            dev_rows: dev_rows.len(),
            human_fraction: args.split.human_fraction,
            teacher_rows,
            teacher,
            train_score_counts: train_counts,
            median_words: median(&mut words),
        },
        training: TrainingSummary {
            tune: outcome.settings.tune.to_string(),
            epochs_run: trained.history.len(),
            best_epoch: trained.best_epoch,
            learning_rate: outcome.settings.learning_rate,
            head_learning_rate: outcome.settings.head_learning_rate,
            batch_size: outcome.settings.batch_size,
            seed: outcome.settings.seed,
            wall_seconds: outcome.seconds,
        },
        dev_metrics: DevMetrics {
            gates: gates(dev_fitted.qwk, None, fairness::smd_of(&dev_fitted), &[]),
            traits: trained
                .scorer
                .traits
                .iter()
                .zip(&trained.dev_quality)
                .skip(1)
                .map(|(config, &value)| TraitQuality::new(config, value))
                .collect(),
            fitted_thresholds: dev_fitted.clone(),
            rounding: dev_rounding.clone(),
        },
    };
    let dtype = match args.weights {
        WeightPrecision::F32 => DType::F32,
        WeightPrecision::F16 => DType::F16,
    };
    let bytes = trained.scorer.to_bundle(&card, dtype)?;
    write_atomically(&args.out, &bytes)?;
    if args.json {
        println!(
            "{}",
            json!({
                "out": args.out.display().to_string(),
                "bundle_bytes": bytes.len(),
                "range": range,
                "train_rows": train_rows.len(),
                "teacher_rows": teacher_rows,
                "dev_rows": dev_rows.len(),
                "dev": dev_fitted,
                "dev_rounding": dev_rounding,
                "dev_traits": card.dev_metrics.traits,
                "best_epoch": trained.best_epoch,
                "history": trained.history,
                "settings": outcome.settings,
                "encode_seconds": trained.encode_seconds,
                "seconds": outcome.seconds,
                "teacher": labelled.as_ref().map(LabelledPool::summary),
            })
        );
    } else {
        if let Some(labelled) = &labelled {
            println!("{}", labelled.summary_line());
        }
        println!(
            "wrote {} ({:.1} MB): dev QWK {} with fitted thresholds ({} with rounding), \
             best epoch {} of {}, {:.0}s",
            args.out.display(),
            bytes.len() as f64 / 1e6,
            format_kappa(dev_fitted.qwk),
            format_kappa(dev_rounding.qwk),
            trained.best_epoch,
            trained.history.len(),
            outcome.seconds
        );
        for quality in &card.dev_metrics.traits {
            println!("  trait {quality}");
        }
    }
    Ok(())
}

/// The traits a student learns: the primary score on `range`, then each trait column, on
/// levels (its observed range) when every value is whole, else continuous (its training
/// span).
pub fn trait_configs(
    score_column: &str,
    range: ScoreRange,
    trait_columns: &[String],
    train: &[&Row],
    dev: &[&Row],
) -> Vec<TraitConfig> {
    let mut traits = vec![TraitConfig::levels(score_column, range)];
    for (t, name) in trait_columns.iter().enumerate() {
        traits.push(TraitConfig {
            name: name.clone(),
            scale: trait_scale(train, dev, t),
        });
    }
    traits
}

/// The scale of the trait whose values are `rows[..].traits[t]`: levels over the observed
/// range of `train` and `dev` when every value is whole, else continuous over `train`'s span.
pub fn trait_scale(train: &[&Row], dev: &[&Row], t: usize) -> Scale {
    let values = || train.iter().chain(dev).map(|r| r.traits[t]);
    if values().all(|v| v.fract() == 0.0) {
        let min = values().fold(f64::INFINITY, f64::min) as i64;
        let max = values().fold(f64::NEG_INFINITY, f64::max) as i64;
        Scale::levels(ScoreRange {
            min,
            max: max.max(min + 1),
        })
    } else {
        Scale::continuous(train.iter().map(|r| r.traits[t]))
    }
}

fn teach_label(args: TeachLabelArgs, progress: &Progress) -> Result<()> {
    check_writable(&args.out)?;
    let mut spec = read_spec(&args.data, true, "teach label")?;
    spec.range = args.split.range;
    let table = read_table(&args.file, &spec)?;
    let split = Split::new(&table, &args.split, args.student.seed)?;
    let pool_table = read_pool(args.pool.as_deref(), &args.data)?;
    let is_llm = args.teacher.teacher == Some(TeacherKind::Llm);
    if (args.batch_write.is_some() || args.batch_read.is_some()) && !is_llm {
        bail!("--batch-write and --batch-read are for --teacher llm");
    }
    if let Some(path) = &args.batch_write {
        let llm = LlmTeacher::new(
            args.teacher
                .llm
                .settings(args.student.seed, args.student.cache.as_deref(), 0.0)?,
            &split.human,
            split.range,
            progress,
        )?;
        let rows: Vec<&Row> = split
            .dev
            .iter()
            .copied()
            .chain(split.pool(pool_table.as_ref()))
            .collect();
        let (lines, cached) = llm.batch_requests(&rows);
        write_atomically(path, lines.as_bytes())?;
        println!(
            "wrote {} requests to {} ({cached} rows already answered in the cache); submit \
             it to the Batch API, then run this command again with --batch-read OUTPUT.jsonl \
             in place of --batch-write",
            lines.lines().count(),
            path.display()
        );
        return Ok(());
    }
    if let Some(path) = &args.batch_read {
        let settings =
            args.teacher
                .llm
                .settings(args.student.seed, args.student.cache.as_deref(), 0.0)?;
        let (stored, problems) = crate::teacher::llm::import_batch(&settings.cache, path)?;
        progress.note(&format!(
            "{}: {stored} answers put in the cache, {} without one{}",
            path.display(),
            problems.len(),
            problems
                .first()
                .map_or(String::new(), |p| format!(" (first: {p})"))
        ));
    }
    // Only the local teacher runs an encoder here.
    let base = match args.teacher.teacher {
        Some(TeacherKind::Llm) => None,
        _ => Some(load_base(&args.student, progress)?),
    };
    let labelled = LabelledPool::fit_and_label(
        base.as_ref(),
        &split.human,
        &split.dev,
        &split.pool(pool_table.as_ref()),
        split.range,
        &args.teacher,
        &args.student,
        progress,
    )?;
    write_atomically(&args.out, &labelled.to_csv(&split.human)?)?;
    if args.json {
        println!(
            "{}",
            json!({
                "out": args.out.display().to_string(),
                "human_rows": split.human.len(),
                "dev_rows": split.dev.len(),
                "teacher": labelled.summary(),
            })
        );
    } else {
        println!("{}", labelled.summary_line());
        println!(
            "wrote {}: {} human rows and {} teacher rows",
            args.out.display(),
            split.human.len(),
            labelled.rows.len()
        );
    }
    Ok(())
}

fn teach_generate(args: TeachGenerateArgs, progress: &Progress) -> Result<()> {
    check_writable(&args.out)?;
    let mut spec = read_spec(&args.data, true, "teach generate")?;
    spec.range = args.range;
    let table = read_table(&args.file, &spec)?;
    let range = match args.range.or_else(|| table.observed_range()) {
        Some(range) if range.min < range.max => range,
        _ => bail!(
            "{}: every score is the same; give the scale with --range MIN:MAX",
            args.file.display()
        ),
    };
    let human: Vec<&Row> = table.rows.iter().collect();
    let counts = synthetic::plan(
        args.per_level,
        args.synthetic_ratio,
        &table.score_counts(),
        range,
    )?;
    let writer = synthetic::Writer::new(
        &args.llm,
        args.seed,
        args.cache.as_deref(),
        args.llm.temperature.unwrap_or(0.3),
        &human,
        range,
        progress,
    )?;
    let samples = synthetic::generate(
        &writer,
        &human,
        &counts,
        args.filter == Some(SampleFilter::Consistent),
        args.max_similarity,
        args.llm.max_tokens,
    )?;
    let by = writer.describe();
    write_atomically(
        &args.out,
        &provenance_csv(&human, samples.iter().map(|s| s.provenance(&by)))?,
    )?;
    let kept = samples.iter().filter(|s| s.dropped.is_none()).count();
    let (usage, cost) = match &writer.author {
        synthetic::Author::Llm(llm) => (Some(llm.usage()), llm.cost()),
        synthetic::Author::Gguf(_) => (None, 0.0),
    };
    let dropped: Vec<serde_json::Value> = samples
        .iter()
        .filter_map(|s| Some(json!({"id": s.id, "reason": s.dropped.as_ref()?})))
        .collect();
    if args.json {
        println!(
            "{}",
            json!({
                "out": args.out.display().to_string(),
                "human_rows": human.len(),
                "requested": counts,
                "kept": kept,
                "dropped": dropped,
                "usage": usage,
                "cost_usd": cost,
            })
        );
    } else {
        let spent = usage.map_or("run here".into(), |u| {
            format!(
                "{} tokens, ${cost:.4} at the given prices",
                u.prompt_tokens + u.completion_tokens
            )
        });
        println!(
            "wrote {}: {} human rows, {kept} synthetic kept, {} dropped (reasons in its error \
             column); {spent}",
            args.out.display(),
            human.len(),
            dropped.len(),
        );
    }
    Ok(())
}

/// A kappa to three decimals, or `undefined`.
pub fn format_kappa(kappa: Option<f64>) -> String {
    kappa.map_or_else(|| "undefined".into(), |k| format!("{k:.3}"))
}

/// Scores every row of `table` with `scorer`, with a progress bar.
pub fn score_rows(
    scorer: &Scorer,
    rows: &[Row],
    progress: &Progress,
) -> Result<Vec<cyborg_scorer::Score>> {
    let bar = progress.bar(rows.len() as u64, "scoring", "responses");
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let scores = scorer.score_texts(&texts, &mut |done, _| bar.set_position(done as u64))?;
    bar.finish_and_clear();
    Ok(scores)
}

/// Agreement of a student just fitted on `base` with the human scores of `rows`.
pub fn evaluate_fitted(
    base: &BaseModel,
    outcome: &FitOutcome,
    rows: &[&Row],
    progress: &Progress,
) -> Result<Agreement> {
    let machine: Vec<i64> = score_fitted(base, outcome, rows, progress)?
        .iter()
        .map(|s| s.score)
        .collect();
    Ok(agreement(
        &human_scores(rows.iter().copied()),
        &machine,
        outcome.trained.scorer.range()?,
    ))
}

/// Scores `rows` with a student just fitted on `base`, running only its trained layers: the
/// frozen ones' outputs come from (and go to) the fit's cache.
pub fn score_fitted(
    base: &BaseModel,
    outcome: &FitOutcome,
    rows: &[&Row],
    progress: &Progress,
) -> Result<Vec<cyborg_scorer::Score>> {
    let texts = rows
        .iter()
        .map(|r| base.text_encoder.prepare(&r.text))
        .collect::<cyborg_scorer::Result<Vec<_>>>()?;
    score_prepared_fitted(base, outcome, &texts, progress)
}

/// [`score_fitted`] for texts already prepared (tokenized, with their features).
pub fn score_prepared_fitted(
    base: &BaseModel,
    outcome: &FitOutcome,
    texts: &[PreparedText],
    progress: &Progress,
) -> Result<Vec<cyborg_scorer::Score>> {
    let scorer = &outcome.trained.scorer;
    raw_prepared_fitted(base, outcome, texts, progress)?
        .iter()
        .map(|values| Ok(scorer.score_raw(values)?))
        .collect()
}

/// Each text's raw value on every trait of a student just fitted on `base` (texts already
/// prepared), running only its trained layers.
pub fn raw_prepared_fitted(
    base: &BaseModel,
    outcome: &FitOutcome,
    texts: &[PreparedText],
    progress: &Progress,
) -> Result<Vec<Vec<f64>>> {
    let scorer = &outcome.trained.scorer;
    let frozen = outcome.cache.layer();
    let states = outcome
        .cache
        .states(&base.text_encoder, texts, frozen, progress)?;
    let bar = progress.bar(texts.len() as u64, "scoring", "responses");
    let mut raw = Vec::with_capacity(texts.len());
    for (group, group_states) in texts.chunks(32).zip(states.chunks(32)) {
        let windows: Vec<_> = group_states.iter().flatten().cloned().collect();
        raw.extend(scorer.raw_states(group, &windows, frozen)?);
        bar.inc(group.len() as u64);
    }
    bar.finish_and_clear();
    Ok(raw)
}

/// The human scores of rows read with a score column.
fn human_scores<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<i64> {
    rows.into_iter()
        .map(|r| r.score.expect("scores were read"))
        .collect()
}

/// `cyborg eval`'s result: agreement, its uncertainty, and fairness.
#[derive(Serialize)]
pub struct Evaluation {
    /// Agreement with the (first) human scores.
    #[serde(flatten)]
    pub agreement: Agreement,
    /// Spearman's rank correlation.
    pub spearman: Option<f64>,
    /// Bootstrap 95% interval of QWK.
    pub qwk_ci95: Option<Interval>,
    /// Overall standardised mean difference, machine − human.
    pub smd: Option<f64>,
    /// Agreement between the first and second human raters.
    pub human_human: Option<Agreement>,
    /// Per-group statistics.
    pub groups: Vec<GroupStats>,
    /// Operational gates.
    pub gates: Vec<Gate>,
    /// Against a second model, when one was given.
    pub comparison: Option<Comparison>,
    /// A teacher's levels for these responses (`--teacher-labels`), against the human scores.
    pub teacher: Option<TeacherAgreement>,
    /// The bundle's further traits that the data has columns for.
    pub traits: Vec<TraitResult>,
    /// With further traits: the mean over the primary score and them of the raw score's RMSE.
    pub mcrmse: Option<f64>,
    /// Each way of turning raw scores into levels, fitted out-of-fold on these responses
    /// (empty when there are too few of them).
    pub calibration: Vec<CalibrationResult>,
    /// QWK-optimal thresholds with per-group offsets that hold every group of the first
    /// `--group` column within the subgroup SMD gate, and what that costs in QWK.
    pub smd_constrained: Option<SmdConstrained>,
}

/// Calibration constrained to subgroup |SMD| ≤ [`SmdConstrained::limit`] on one group
/// column, beside the unconstrained QWK-optimal thresholds, both fitted out-of-fold.
#[derive(Serialize)]
pub struct SmdConstrained {
    /// The group column.
    pub column: String,
    /// The largest |SMD| allowed per group.
    pub limit: f64,
    /// Each group's raw-score offset, fitted on all the responses.
    pub offsets: BTreeMap<String, f64>,
    /// QWK with the offsets.
    pub qwk: Option<f64>,
    /// The largest |SMD| of a group (of at least the small-group size) with the offsets.
    pub max_abs_smd: Option<f64>,
    /// QWK without them.
    pub unconstrained_qwk: Option<f64>,
    /// The largest |SMD| without them.
    pub unconstrained_max_abs_smd: Option<f64>,
}

/// Out-of-fold QWK and largest subgroup |SMD| with and without group offsets on `column`.
fn constrain_smd(
    raw: &[f64],
    human: &[i64],
    column: &(String, Vec<String>),
    range: ScoreRange,
) -> Option<SmdConstrained> {
    if raw.len() < CALIBRATION_MIN_RESPONSES {
        return None;
    }
    let limit = 0.10;
    let groups = &column.1;
    let judge = |levels: &[i64]| {
        let stats = group_stats(human, levels, range, std::slice::from_ref(column));
        let largest = stats
            .iter()
            .filter(|g| !g.small)
            .filter_map(|g| g.smd.map(f64::abs))
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        (agreement(human, levels, range).qwk, largest)
    };
    let plain = calibration::out_of_fold(
        raw,
        human,
        range,
        calibration::Method::QwkThresholds,
        CALIBRATION_FOLDS,
        1,
    );
    let constrained = calibration::out_of_fold_group_offsets(
        raw,
        human,
        groups,
        range,
        limit,
        CALIBRATION_FOLDS,
        1,
    );
    let (unconstrained_qwk, unconstrained_max_abs_smd) = judge(&plain);
    let (qwk, max_abs_smd) = judge(&constrained);
    Some(SmdConstrained {
        column: column.0.clone(),
        limit,
        offsets: calibration::GroupOffsets::fit(raw, human, groups, range, limit).offsets,
        qwk,
        max_abs_smd,
        unconstrained_qwk,
        unconstrained_max_abs_smd,
    })
}

/// One calibration method's agreement, fitted on four fifths of the evaluated responses and
/// applied to the fifth left out, in turn.
#[derive(Serialize)]
pub struct CalibrationResult {
    /// The method.
    pub method: String,
    /// QWK of its levels.
    pub qwk: Option<f64>,
    /// Exact agreement.
    pub exact: f64,
    /// Adjacent agreement.
    pub adjacent: f64,
    /// Standardised mean difference, machine − human.
    pub smd: Option<f64>,
}

/// Folds for out-of-fold calibration, and the fewest responses it is run on.
const CALIBRATION_FOLDS: usize = 5;
const CALIBRATION_MIN_RESPONSES: usize = 30;

/// Every calibration method, fitted out-of-fold on `raw` and `human`.
fn compare_calibrations(
    raw: &[f64],
    human: &[i64],
    human_values: &[f64],
    range: ScoreRange,
) -> Vec<CalibrationResult> {
    if raw.len() < CALIBRATION_MIN_RESPONSES {
        return Vec::new();
    }
    calibration::Method::ALL
        .iter()
        .map(|&method| {
            let levels = calibration::out_of_fold(raw, human, range, method, CALIBRATION_FOLDS, 1);
            let a = agreement(human, &levels, range);
            let level_values: Vec<f64> = levels.iter().map(|&l| l as f64).collect();
            CalibrationResult {
                method: method.name().to_string(),
                qwk: a.qwk,
                exact: a.exact,
                adjacent: a.adjacent,
                smd: fairness::smd(human_values, &level_values),
            }
        })
        .collect()
}

/// A teacher's labels for the evaluated responses, judged like the model's.
#[derive(Serialize)]
pub struct TeacherAgreement {
    /// The provenance file.
    pub file: String,
    /// The teacher's levels against the human scores, over the responses it labelled.
    pub agreement: Agreement,
    /// Standardised mean difference, teacher − human (pooled SD).
    pub smd: Option<f64>,
}

/// The teacher levels of `path` (a provenance file) for `rows`, joined on id; `None` for a row
/// the teacher did not label. An error when it labelled none of them.
fn teacher_levels(path: &Path, rows: &[Row], range: ScoreRange) -> Result<Vec<Option<i64>>> {
    let spec = ReadSpec {
        text: "text".into(),
        id: Some("id".into()),
        groups: vec!["score".into(), "source".into()],
        ..ReadSpec::default()
    };
    let labels = read_table(path, &spec)?;
    let mut by_id = std::collections::HashMap::new();
    for label in &labels.rows {
        if Source::parse(&label.groups[1]) != Some(Source::Teacher) {
            continue;
        }
        let level = label.groups[0]
            .parse::<i64>()
            .ok()
            .filter(|&l| range.contains(l))
            .with_context(|| {
                format!(
                    "{}:{}: teacher score \"{}\" is not a level in {range}",
                    path.display(),
                    label.line,
                    label.groups[0]
                )
            })?;
        by_id.insert(label.id.as_str(), level);
    }
    let levels: Vec<Option<i64>> = rows
        .iter()
        .map(|r| by_id.get(r.id.as_str()).copied())
        .collect();
    if levels.iter().all(Option::is_none) {
        bail!(
            "{}: none of its {} teacher rows has the id of a response evaluated here \
             (label these responses: cyborg teach label TRAIN --pool THIS_FILE)",
            path.display(),
            by_id.len()
        );
    }
    Ok(levels)
}

/// Two models on the same responses.
#[derive(Serialize)]
pub struct Comparison {
    /// The other model's bundle.
    pub model: String,
    /// Its QWK.
    pub qwk: Option<f64>,
    /// This model's QWK minus the other's.
    pub qwk_difference: Option<f64>,
    /// Paired bootstrap 95% interval of that difference.
    pub difference_ci95: Option<Interval>,
}

fn eval(args: EvalArgs, progress: &Progress) -> Result<()> {
    for out in args.report.iter().chain(&args.summary) {
        check_writable(out)?;
    }
    let learning_curve = args
        .experiment
        .as_deref()
        .map(crate::experiment::read_learning_curve)
        .transpose()?;
    let scorer = load_bundle(&args.model)?;
    let mut spec = read_spec(&args.data, true, "eval")?;
    spec.range = Some(scorer.range()?);
    spec.groups = args.groups.clone();
    spec.groups.extend(args.second_score.clone());
    // The bundle's further traits are judged where the data has their columns.
    spec.traits = scorer.traits[1..].iter().map(|t| t.name.clone()).collect();
    spec.optional_traits = true;
    let table = read_table(&args.file, &spec)?;
    let judged_traits: Vec<&TraitConfig> = scorer.traits[1..]
        .iter()
        .filter(|t| table.traits.contains(&t.name))
        .collect();
    let scores = score_rows(&scorer, &table.rows, progress)?;
    let range = scorer.range()?;
    // Human and raw values per judged trait, the primary score first.
    let mut trait_human = vec![table
        .rows
        .iter()
        .map(|r| r.score.expect("scores") as f64)
        .collect::<Vec<_>>()];
    let mut trait_raw = vec![scores.iter().map(|s| s.raw).collect::<Vec<_>>()];
    let mut traits = Vec::new();
    for (t, config) in judged_traits.iter().enumerate() {
        let at = scorer.traits[1..]
            .iter()
            .position(|c| c.name == config.name)
            .expect("a bundle trait");
        trait_human.push(table.rows.iter().map(|r| r.traits[t]).collect());
        trait_raw.push(scores.iter().map(|s| s.traits[at].raw).collect());
        traits.push(trait_result(config, &trait_human[t + 1], &trait_raw[t + 1]));
    }
    let mcrmse = (!traits.is_empty())
        .then(|| calibration::mcrmse(&trait_human, &trait_raw))
        .flatten();
    let human = human_scores(&table.rows);
    let machine: Vec<i64> = scores.iter().map(|s| s.score).collect();
    let overall = agreement(&human, &machine, range);
    let as_f64 = |v: &[i64]| v.iter().map(|&x| x as f64).collect::<Vec<_>>();
    let (human_values, machine_values) = (as_f64(&human), as_f64(&machine));
    let columns: Vec<(String, Vec<String>)> = args
        .groups
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values = table.rows.iter().map(|r| r.groups[i].clone()).collect();
            (name.clone(), values)
        })
        .collect();
    let groups = group_stats(&human, &machine, range, &columns);
    let human_human = match &args.second_score {
        Some(column) => Some(second_rater_agreement(
            &table,
            column,
            args.groups.len(),
            range,
        )?),
        None => None,
    };
    let comparison = match &args.compare {
        Some(path) => {
            let other = load_bundle(path)?;
            if other.range()? != range {
                bail!(
                    "{} scores {} but {} scores {}: only models of one score range compare",
                    path.display(),
                    other.range()?,
                    args.model.display(),
                    range
                );
            }
            let theirs: Vec<i64> = score_rows(&other, &table.rows, progress)?
                .iter()
                .map(|s| s.score)
                .collect();
            let qwk = agreement(&human, &theirs, range).qwk;
            Some(Comparison {
                model: path.display().to_string(),
                qwk,
                qwk_difference: overall.qwk.zip(qwk).map(|(a, b)| a - b),
                difference_ci95: (args.bootstrap > 0)
                    .then(|| {
                        paired_qwk_difference(&human, &machine, &theirs, range, args.bootstrap, 1)
                    })
                    .flatten(),
            })
        }
        None => None,
    };
    let teacher = match &args.teacher_labels {
        Some(path) => {
            let levels = teacher_levels(path, &table.rows, range)?;
            let (judged, taught): (Vec<i64>, Vec<i64>) = human
                .iter()
                .zip(&levels)
                .filter_map(|(&h, &t)| Some((h, t?)))
                .unzip();
            Some(TeacherAgreement {
                file: path.display().to_string(),
                smd: fairness::smd(&as_f64(&judged), &as_f64(&taught)),
                agreement: agreement(&judged, &taught, range),
            })
        }
        None => None,
    };
    let smd = fairness::smd(&human_values, &machine_values);
    let raw: Vec<f64> = scores.iter().map(|s| s.raw).collect();
    let result = Evaluation {
        calibration: compare_calibrations(&raw, &human, &human_values, range),
        smd_constrained: columns
            .first()
            .and_then(|column| constrain_smd(&raw, &human, column, range)),
        spearman: fairness::spearman(&human_values, &machine_values),
        qwk_ci95: (args.bootstrap > 0)
            .then(|| qwk_interval(&human, &machine, range, args.bootstrap, 1))
            .flatten(),
        smd,
        gates: gates(
            overall.qwk,
            human_human.as_ref().and_then(|a| a.qwk),
            smd,
            &groups,
        ),
        human_human,
        groups,
        agreement: overall,
        comparison,
        teacher,
        traits,
        mcrmse,
    };
    if let Some(report) = &args.report {
        let html = crate::report::html(
            &args.model.display().to_string(),
            &table.path.display().to_string(),
            &now_rfc3339(),
            &result,
            learning_curve.as_ref(),
        );
        write_atomically(report, html.as_bytes())?;
        progress.note(&format!("wrote {}", report.display()));
    }
    if let Some(summary) = &args.summary {
        let markdown = crate::report::markdown(
            &args.model.display().to_string(),
            &table.path.display().to_string(),
            &result,
        );
        write_atomically(summary, markdown.as_bytes())?;
        progress.note(&format!("wrote {}", summary.display()));
    }
    if args.json {
        println!("{}", serde_json::to_string(&result)?);
        return Ok(());
    }
    print_agreement(&args.model, &table.path, &result.agreement);
    print_fairness(&result);
    Ok(())
}

/// Agreement between the first human score and a second rater's, over rows that have both.
fn second_rater_agreement(
    table: &Table,
    column: &str,
    at: usize,
    range: ScoreRange,
) -> Result<Agreement> {
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for row in &table.rows {
        let value = row.groups[at].trim();
        if value.is_empty() {
            continue;
        }
        let score: i64 = value.parse().map_err(|_| {
            anyhow::anyhow!(
                "{}:{}: column {column}: second score \"{value}\" is not a whole number",
                table.path.display(),
                row.line
            )
        })?;
        if !range.contains(score) {
            bail!(
                "{}:{}: column {column}: second score {score} is outside the model's range {range}",
                table.path.display(),
                row.line
            );
        }
        first.push(row.score.expect("scores were read"));
        second.push(score);
    }
    if first.is_empty() {
        bail!(
            "{}: column {column} has no second scores to compare with",
            table.path.display()
        );
    }
    Ok(agreement(&first, &second, range))
}

fn print_fairness(result: &Evaluation) {
    let na = |v: Option<f64>| v.map_or_else(|| "undefined".into(), |x| format!("{x:.3}"));
    let signed = |v: Option<f64>| v.map_or_else(|| "undefined".into(), |x| format!("{x:+.3}"));
    if let Some(ci) = result.qwk_ci95 {
        println!(
            "QWK 95% bootstrap interval: {:.3} to {:.3}",
            ci.low, ci.high
        );
    }
    println!("Spearman r: {}", na(result.spearman));
    println!("SMD (machine − human, pooled SD): {}", signed(result.smd));
    if let Some(c) = &result.comparison {
        println!("against {}: {}", c.model, crate::report::comparison_text(c));
    }
    if let Some(t) = &result.teacher {
        println!("teacher ({}): {}", t.file, crate::report::teacher_text(t));
    }
    if !result.traits.is_empty() {
        let [name, n, qwk, exact, rmse, pearson] = crate::report::TRAIT_HEADINGS;
        println!("{name:<20} {n:>6} {qwk:>9} {exact:>6} {rmse:>7} {pearson:>9}");
        for t in &result.traits {
            let [name, n, qwk, exact, rmse, pearson] = crate::report::trait_cells(t);
            println!("{name:<20} {n:>6} {qwk:>9} {exact:>6} {rmse:>7} {pearson:>9}");
        }
        println!("{}", crate::report::traits_note(result.mcrmse));
    }
    if !result.calibration.is_empty() {
        println!("calibration, fitted out-of-fold ({CALIBRATION_FOLDS} folds) on these responses:");
        for row in &result.calibration {
            let [method, qwk, exact, adjacent, smd] = crate::report::calibration_cells(row);
            println!("  {method:<24} QWK {qwk}  exact {exact}  adjacent {adjacent}  SMD {smd}");
        }
    }
    if let Some(c) = &result.smd_constrained {
        println!("{}", crate::report::smd_constrained_text(c));
    }
    if let Some(hh) = &result.human_human {
        println!(
            "human-human (n = {}): QWK {}, exact {:.3}",
            hh.n,
            na(hh.qwk),
            hh.exact
        );
    }
    if !result.groups.is_empty() {
        println!(
            "subgroups (SMD over the overall pooled SD; * fewer than {SMALL_GROUP} responses):"
        );
        let width = result
            .groups
            .iter()
            .map(|g| g.label().chars().count() + 2)
            .max()
            .unwrap_or(0)
            .max(5);
        println!(
            "  {:<width$} {:>6} {:>7} {:>8} {:>7} {:>7} {:>7}",
            "group", "n", "human", "machine", "SMD", "DSM", "QWK"
        );
        for g in &result.groups {
            println!(
                "  {:<width$} {:>6} {:>7.3} {:>8.3} {:>7} {:>7} {:>7}",
                format!("{}{}", g.label(), if g.small { " *" } else { "" }),
                g.n,
                g.human_mean,
                g.machine_mean,
                signed(g.smd),
                signed(g.dsm),
                na(g.qwk)
            );
        }
    }
    println!("operational gates (Williamson, Xi & Breyer 2012):");
    print_gates(&result.gates, "  ");
}

/// One line per gate: PASS, FAIL or n/a, its value, and why.
fn print_gates(gates: &[Gate], indent: &str) {
    for gate in gates {
        let verdict = match gate.pass {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "n/a ",
        };
        let value = gate.value.map_or(String::new(), |v| format!(" ({v:+.3})"));
        let note = if gate.note.is_empty() {
            String::new()
        } else {
            format!(": {}", gate.note)
        };
        println!("{indent}{verdict}  {}{value}{note}", gate.name);
    }
}

fn print_agreement(model: &Path, data: &Path, a: &Agreement) {
    let na = |v: Option<f64>| v.map_or_else(|| "undefined".into(), |x| format!("{x:.3}"));
    println!(
        "{} on {} (n = {}, scores {})",
        model.display(),
        data.display(),
        a.n,
        a.range
    );
    println!("  QWK            {}", na(a.qwk));
    println!("  linear kappa   {}", na(a.linear_kappa));
    println!("  exact          {:.3}", a.exact);
    println!("  adjacent       {:.3}", a.adjacent);
    println!("  Pearson r      {}", na(a.pearson));
    println!("  RMSE           {:.3}", a.rmse);
    println!(
        "  mean score     human {:.3}, machine {:.3}",
        a.human_mean, a.machine_mean
    );
    if a.qwk.is_none() {
        println!(
            "  (kappa is undefined: the scores do not vary, so there is no agreement to measure)"
        );
    }
    // Only levels that occur, so a 0-60 scale stays readable.
    let used: Vec<usize> = (0..a.confusion.len())
        .filter(|&i| a.confusion[i].iter().sum::<u64>() > 0 || a.confusion.iter().any(|r| r[i] > 0))
        .collect();
    println!("confusion matrix (rows: human, columns: machine; levels that occur):");
    let label = |i: usize| (a.range.min + i as i64).to_string();
    print!("{:>6}", "");
    for &j in &used {
        print!("{:>6}", label(j));
    }
    println!();
    for &i in &used {
        print!("{:>6}", label(i));
        for &j in &used {
            print!("{:>6}", a.confusion[i][j]);
        }
        println!();
    }
}

fn score(args: ScoreArgs, progress: &Progress) -> Result<()> {
    if let Some(out) = &args.out {
        check_writable(out)?;
    }
    let scorer = load_bundle(&args.model)?;
    let rows = match &args.text {
        Some(text) => {
            let spec = ReadSpec {
                format: args.format,
                no_quoting: args.no_quoting,
                text: text.clone(),
                id: args.id.clone(),
                filters: args.filters.clone(),
                ..ReadSpec::default()
            };
            read_table(&args.file, &spec)?.rows
        }
        None if args.file == Path::new("-") => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("standard input is not UTF-8 text")?;
            if text.trim().is_empty() {
                bail!("standard input is empty: there is no response to score");
            }
            vec![Row {
                id: "1".into(),
                text,
                score: None,
                traits: Vec::new(),
                groups: Vec::new(),
                line: 1,
            }]
        }
        None => bail!(
            "{} is a table: name its response column with --text COL",
            args.file.display()
        ),
    };
    let scores = score_rows(&scorer, &rows, progress)?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(std::iter::once("id".to_string()).chain(scorer.score_columns()))?;
    for (row, s) in rows.iter().zip(&scores) {
        writer.write_record(std::iter::once(row.id.clone()).chain(s.cells()))?;
    }
    let bytes = writer.into_inner().context("cannot format the scores")?;
    match &args.out {
        Some(out) => {
            write_atomically(out, &bytes)?;
            progress.note(&format!(
                "wrote {} scores to {}",
                scores.len(),
                out.display()
            ));
        }
        None => std::io::Write::write_all(&mut std::io::stdout(), &bytes)?,
    }
    Ok(())
}

fn info(args: InfoArgs) -> Result<()> {
    let scorer = load_bundle(&args.model)?;
    let card = scorer.card.as_ref().expect("bundles carry a card");
    if args.json {
        println!("{}", serde_json::to_string_pretty(card)?);
        return Ok(());
    }
    let d = &card.data;
    let t = &card.training;
    println!("{}", args.model.display());
    println!(
        "  created        {} by cyborg {}",
        card.created, card.cyborg_version
    );
    println!(
        "  base model     {} (weights sha256 {}…)",
        card.base_model.name,
        &card.base_model.weights_sha256[..12]
    );
    println!("  scores         {}", scorer.range()?);
    for config in &scorer.traits[1..] {
        println!("  trait          {}: {}", config.name, config.scale);
    }
    println!(
        "  data           {} ({} → {}{}), {} training + {} development rows, human fraction {}",
        d.file,
        d.text_column,
        d.score_column,
        if d.filters.is_empty() {
            String::new()
        } else {
            format!(", where {}", d.filters.join(", "))
        },
        d.train_rows,
        d.dev_rows,
        d.human_fraction
    );
    println!(
        "  training       tune {}, best epoch {} of {}, lr {} (head {}), batch {}, seed {}, {:.0}s",
        t.tune,
        t.best_epoch,
        t.epochs_run,
        t.learning_rate,
        t.head_learning_rate,
        t.batch_size,
        t.seed,
        t.wall_seconds
    );
    println!(
        "  dev QWK        {} with fitted thresholds, {} with rounding (n = {})",
        format_kappa(card.dev_metrics.fitted_thresholds.qwk),
        format_kappa(card.dev_metrics.rounding.qwk),
        card.dev_metrics.fitted_thresholds.n
    );
    for quality in &card.dev_metrics.traits {
        println!("  trait          {quality}");
    }
    if !card.dev_metrics.gates.is_empty() {
        println!("  dev gates");
        print_gates(&card.dev_metrics.gates, "                 ");
    }
    Ok(())
}

/// The current time as RFC 3339 UTC, e.g. `2026-11-22T04:05:06Z`.
pub fn now_rfc3339() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
