//! Students: the base encoder, the rows a student learns from, fitting one, and scoring with
//! one just fitted (running only its trained layers, the frozen ones' outputs cached).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Device;
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::card::BaseModelInfo;
use cyborg_scorer::metrics::{agreement, Agreement, ScoreRange};
use cyborg_scorer::model::{PreparedText, Reading};
use cyborg_scorer::tokenize::WindowConfig;
use cyborg_scorer::traits::{Scale, TraitConfig};
use cyborg_scorer::{Products, Scorer};

use crate::cache::StateCache;
use crate::config::{ResponseLength, StudentConfig};
use crate::data::Row;
use crate::progress::Progress;
use crate::train::{self, Example, TrainSettings, Trained};

/// The device models run on: the first CUDA GPU when built with `cuda`, else the CPU.
pub fn device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        return Device::new_cuda(0).context("the cuda build found no usable GPU");
    }
    #[cfg(not(feature = "cuda"))]
    Ok(Device::Cpu)
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

/// Loads a model bundle from `path`, an int8 bundle's matrices multiplied as `products` says.
pub fn load_bundle(path: &Path, products: Products) -> Result<Scorer> {
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read the model {}", path.display()))?;
    Ok(Scorer::from_bundle(
        &bytes,
        &path.display().to_string(),
        &device()?,
        products,
    )?)
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
pub fn load_base(student: &StudentConfig, progress: &Progress) -> Result<BaseModel> {
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
    /// The level a person gave it on the primary score (`None` for a teacher's or an LLM
    /// writer's row): only such levels place cut points. With two raters' mean as its target,
    /// it stays the first rater's score, the level development and test rows are judged by.
    pub level: Option<i64>,
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
                level: row.score,
            })
            .collect()
    }

    /// Rows a teacher labelled or an LLM wrote, each with its soft `target`, weighing
    /// `weight`, on the primary score alone.
    pub fn labelled(
        rows: impl IntoIterator<Item = (&'a Row, f64)>,
        weight: f64,
    ) -> impl Iterator<Item = Self> {
        rows.into_iter().map(move |(row, target)| TrainingRow {
            row,
            target,
            more: &[],
            weight,
            level: None,
        })
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
    student: &StudentConfig,
    progress: &Progress,
) -> Result<FitOutcome> {
    let traits = [TraitConfig::levels("score", range)];
    let dev = TrainingRow::human(dev_rows);
    fit_student(base, train, &dev, &traits, student, progress)
}

/// The settings `student` asks for, with those it leaves unset taken from `length`.
fn train_settings(student: &StudentConfig, length: ResponseLength) -> TrainSettings {
    TrainSettings {
        tune: student.tune.unwrap_or(length.tune()),
        max_epochs: student.epochs.unwrap_or(length.epochs()),
        patience: student.patience.unwrap_or(length.patience()),
        batch_size: student.batch_size,
        learning_rate: student.lr,
        head_learning_rate: student.head_lr,
        weight_decay: student.weight_decay,
        warmup_fraction: student.warmup,
        head_hidden: student.head_hidden,
        lexical_buckets: student.lexical_buckets,
        cut_points: student.cut_points,
        seed: student.seed,
        fine_tuned_only: student.fine_tuned_only,
    }
}

/// Trains a student of `traits` (the primary score first) on `train`, with `dev` (human
/// scores) for early stopping and thresholds.
pub fn fit_student(
    base: &BaseModel,
    train: &[TrainingRow],
    dev: &[TrainingRow],
    traits: &[TraitConfig],
    student: &StudentConfig,
    progress: &Progress,
) -> Result<FitOutcome> {
    student.validate()?;
    let start = Instant::now();
    let examples = |rows: &[TrainingRow]| -> Result<Vec<Example>> {
        rows.iter()
            .map(|t| {
                if 1 + t.more.len() != traits.len() {
                    crate::bail_input!(
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
                    levels: t.level.map(|level| {
                        std::iter::once(level)
                            .chain(t.more.iter().map(|value| value.round() as i64))
                            .collect()
                    }),
                })
            })
            .collect()
    };
    let train_set = examples(train)?;
    let dev_set = examples(dev)?;
    let short_share = ResponseLength::short_share(train_set.iter().map(|e| e.prepared.tokens()));
    let length = ResponseLength::of_share(short_share);
    let settings = train_settings(student, length);
    if student.tune.is_none() || student.epochs.is_none() || student.patience.is_none() {
        progress.note(&format!(
            "{length} ({:.0}% of the {} training responses have at most {} tokens): tuning {} \
             for up to {} epochs, patience {}",
            100.0 * short_share,
            train_set.len(),
            ResponseLength::SHORT_TOKENS,
            settings.tune,
            settings.max_epochs,
            settings.patience
        ));
    }
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

/// Scores every row of `rows` (rows or references to them) with `scorer`, with a progress bar.
pub fn score_rows<R: std::borrow::Borrow<Row>>(
    scorer: &Scorer,
    rows: &[R],
    progress: &Progress,
) -> Result<Vec<cyborg_scorer::Score>> {
    let bar = progress.bar(rows.len() as u64, "scoring", "responses");
    let texts: Vec<&str> = rows.iter().map(|r| r.borrow().text.as_str()).collect();
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
    read_prepared_fitted(base, outcome, texts, progress)?
        .iter()
        .zip(texts)
        .map(|(reading, text)| Ok(scorer.score_reading(reading, text)?))
        .collect()
}

/// How a student just fitted on `base` reads each text (already prepared), running only its
/// trained layers.
pub fn read_prepared_fitted(
    base: &BaseModel,
    outcome: &FitOutcome,
    texts: &[PreparedText],
    progress: &Progress,
) -> Result<Vec<Reading>> {
    let frozen = outcome.cache.layer();
    let states = outcome
        .cache
        .states(&base.text_encoder, texts, frozen, progress)?;
    let scorer = &outcome.trained.scorer;
    train::read_in_groups(scorer, texts, &states, frozen, "scoring", progress)
}

/// The human scores of rows read with a score column.
pub fn human_scores<'a>(rows: impl IntoIterator<Item = &'a Row>) -> Vec<i64> {
    rows.into_iter()
        .map(|r| r.score.expect("scores were read"))
        .collect()
}
