//! Training a student: the top layers of a BERT encoder and a regression head with one output
//! per trait, on human scores and teacher labels, with early stopping on development QWK
//! (human scores only).

use std::time::Instant;

use anyhow::{bail, Result};
use candle_core::{Tensor, Var};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use cyborg_scorer::advisory::FeatureRange;
use cyborg_scorer::base::BaseModel;
use cyborg_scorer::calibration::distribution_matching;
use cyborg_scorer::encoder::{Encoder, Linear};
use cyborg_scorer::features::{FEATURE_COUNT, FEATURE_NAMES};
use cyborg_scorer::head::{Head, HeadConfig};
use cyborg_scorer::lexical::lexical_vector;
use cyborg_scorer::metrics::{agreement, pearson, Agreement, Thresholds};
use cyborg_scorer::model::{pool_texts, PreparedText, Reading, Scorer, TextEncoder};
use cyborg_scorer::traits::{Scale, TraitConfig};
use cyborg_scorer::Precision;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::cache::StateCache;
use crate::config::{CutPoints, Tune};
use crate::error::input;
use crate::format::format_quality;
use crate::progress::{Event, Progress};
use crate::ridge::lexical::{JointDesign, LexicalDesign, WORD_PENALTIES};
use crate::ridge::{LinearFit, RidgeProblem};
use crate::screen::fit_screen;

/// Optimisation settings.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSettings {
    /// What is trained.
    #[serde(serialize_with = "crate::train::display")]
    pub tune: Tune,
    /// Most epochs to run.
    pub max_epochs: usize,
    /// Stop after this many epochs without a better development QWK.
    pub patience: usize,
    /// Responses per optimisation step.
    pub batch_size: usize,
    /// Peak learning rate of the encoder layers.
    pub learning_rate: f64,
    /// Peak learning rate of the head.
    pub head_learning_rate: f64,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f64,
    /// Share of the steps spent warming the learning rate up from 0.
    pub warmup_fraction: f64,
    /// Width of the head's hidden layer; 0 for a linear head.
    pub head_hidden: usize,
    /// Buckets of the head's lexical block ([`cyborg_scorer::lexical`]); 0 for none.
    pub lexical_buckets: usize,
    /// How levelled scores' cut points are fitted.
    #[serde(serialize_with = "crate::train::display")]
    pub cut_points: CutPoints,
    /// Seed for shuffling and initialisation.
    pub seed: u64,
    /// Keep a fine-tuned epoch even when the linear probe it started from scored better on
    /// development data: ensemble members differ only if they are fine-tuned.
    pub fine_tuned_only: bool,
}

fn display<T: std::fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// A response and the scores the student should learn for it.
pub struct Example {
    /// Windows and features.
    pub prepared: PreparedText,
    /// One target per trait, on the trait's scale: a human score, or a teacher's expected
    /// score, which need not be a whole number (a soft label keeps the teacher's uncertainty).
    pub targets: Vec<f64>,
    /// How much the response counts in the loss and the linear probe, relative to others.
    pub weight: f64,
    /// The levels a person gave it, one per trait (`None` for a teacher's or an LLM writer's
    /// row): only these place cut points, since a teacher's labels rounded would pull them
    /// towards the teacher's own.
    pub levels: Option<Vec<i64>>,
}

/// One epoch's record.
#[derive(Debug, Clone, Serialize)]
pub struct EpochLog {
    /// 1-based.
    pub epoch: usize,
    /// Mean squared error on the normalised scale, over the epoch's steps.
    pub train_loss: f64,
    /// Development QWK with thresholds fitted on the development raw scores; with several
    /// traits, the mean over them (Pearson r standing in for QWK on a continuous trait).
    pub dev_qwk: Option<f64>,
    /// Seconds the epoch took.
    pub seconds: f64,
}

/// What training produced.
pub struct Trained {
    /// The student, with thresholds fitted on the development data.
    pub scorer: Scorer,
    /// Epoch by epoch.
    pub history: Vec<EpochLog>,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// The primary trait's development agreement with the fitted thresholds (none when the
    /// primary trait is continuous).
    pub dev_fitted: Option<Agreement>,
    /// The primary trait's development agreement with plain rounding.
    pub dev_rounding: Option<Agreement>,
    /// Each trait's development QWK (Pearson r for a continuous trait).
    pub dev_quality: Vec<Option<f64>>,
    /// Seconds spent on the frozen layers (zero when all came from the cache).
    pub encode_seconds: f64,
}

impl Trained {
    /// The primary score's development QWK with the fitted thresholds.
    pub fn dev_qwk(&self) -> Option<f64> {
        self.dev_fitted.as_ref().and_then(|a| a.qwk)
    }
}

/// The trainable copy of the model: the frozen bottom, the trained top, the head.
struct Student {
    encoder: TextEncoder,
    head: Head,
    frozen: usize,
    encoder_vars: Vec<Var>,
    head_vars: Vec<Var>,
    /// The lexical block's weights: fitted with the linear probe and refitted with it, never
    /// by gradient steps (a bag of words would memorise the few hundred training responses).
    lexical_var: Option<Var>,
}

impl Student {
    fn new(
        base: &TextEncoder,
        frozen: usize,
        head_config: &HeadConfig,
        probes: &[LinearFit],
        rng: &mut StdRng,
    ) -> Result<Self> {
        let mut encoder = base.clone();
        let mut encoder_vars = Vec::new();
        let layers = encoder.encoder.layers().len();
        for index in frozen..layers {
            let layer = encoder.encoder.layers()[index].map_tensors(index, &mut |_, t| {
                let var = Var::from_tensor(t)?;
                encoder_vars.push(var.clone());
                Ok(var.as_tensor().clone())
            })?;
            encoder.encoder.set_layer(index, layer);
        }
        let device = &base.device;
        let inputs = base.encoder.config().hidden_size + FEATURE_COUNT;
        let mut head_vars = Vec::new();
        let mut linear = |weights: Vec<f32>, bias: Vec<f32>| -> Result<Linear> {
            let (outputs, inputs) = (bias.len(), weights.len() / bias.len());
            let weight = Var::from_vec(weights, (outputs, inputs), device)?;
            let bias = Var::from_vec(bias, outputs, device)?;
            head_vars.push(weight.clone());
            head_vars.push(bias.clone());
            Ok(Linear::new(
                weight.as_tensor().clone(),
                bias.as_tensor().clone(),
            ))
        };
        let (probe_weights, probe_biases) = head_weights_from_probes(probes, head_config);
        let (hidden, output) = if head_config.hidden > 0 {
            // Glorot-uniform weights from the seeded generator, so runs repeat exactly; the
            // probe's fit enters through the mean it starts from.
            let mut glorot = |inputs: usize, outputs: usize| -> Vec<f32> {
                let limit = (6.0 / (inputs + outputs) as f64).sqrt() as f32;
                (0..inputs * outputs)
                    .map(|_| rng.random_range(-limit..limit))
                    .collect()
            };
            let hidden_weights = glorot(inputs, head_config.hidden);
            let output_weights = glorot(head_config.hidden, probes.len());
            let hidden = linear(hidden_weights, vec![0.0; head_config.hidden])?;
            let intercepts = probes.iter().map(|p| p.intercept as f32).collect();
            (Some(hidden), linear(output_weights, intercepts)?)
        } else {
            (None, linear(probe_weights, probe_biases)?)
        };
        let lexical_var = match lexical_weights_from_probes(probes, head_config) {
            Some(weights) => Some(Var::from_vec(
                weights,
                (probes.len(), head_config.lexical_buckets),
                device,
            )?),
            None => None,
        };
        let lexical = lexical_var.as_ref().map(|v| v.as_tensor().clone());
        let head = Head::new(head_config, hidden, output, lexical, device)?;
        Ok(Student {
            encoder,
            head,
            frozen,
            encoder_vars,
            head_vars,
            lexical_var,
        })
    }

    /// Normalised predictions (texts, traits) for `texts` from their frozen-layer states.
    fn predict(&self, texts: &[&PreparedText], states: &[&[Tensor]]) -> Result<Tensor> {
        let windows: Vec<Tensor> = states.iter().flat_map(|s| s.iter().cloned()).collect();
        let counts: Vec<usize> = states.iter().map(|s| s.len()).collect();
        let pooled = pool_texts(&windows, &counts, &self.encoder.encoder, self.frozen)?;
        let features: Vec<f32> = texts.iter().flat_map(|t| t.features).collect();
        let features =
            Tensor::from_vec(features, (texts.len(), FEATURE_COUNT), &self.encoder.device)?;
        let words: Vec<&[u32]> = texts.iter().map(|t| t.words.as_slice()).collect();
        Ok(self.head.forward(&pooled, &features, &words)?)
    }

    /// Replaces a linear head's weights with those of `probes`, one per trait.
    fn set_linear_head(&self, probes: &[LinearFit], config: &HeadConfig) -> Result<()> {
        let (weights, biases) = head_weights_from_probes(probes, config);
        let [weight_var, bias_var] = &self.head_vars[..] else {
            bail!("only a linear head can be refitted");
        };
        let device = weight_var.device();
        let inputs = weights.len() / probes.len();
        weight_var.set(&Tensor::from_vec(weights, (probes.len(), inputs), device)?)?;
        bias_var.set(&Tensor::from_vec(biases, probes.len(), device)?)?;
        if let (Some(var), Some(weights)) = (
            &self.lexical_var,
            lexical_weights_from_probes(probes, config),
        ) {
            var.set(&Tensor::from_vec(weights, var.shape(), device)?)?;
        }
        Ok(())
    }

    /// Every learned tensor: the trained ones, then the lexical block's.
    fn learned(&self) -> impl Iterator<Item = &Var> {
        self.encoder_vars
            .iter()
            .chain(&self.head_vars)
            .chain(&self.lexical_var)
    }

    fn snapshot(&self) -> Result<Vec<Tensor>> {
        self.learned().map(|v| Ok(v.as_tensor().copy()?)).collect()
    }

    fn restore(&self, snapshot: &[Tensor]) -> Result<()> {
        for (var, value) in self.learned().zip(snapshot) {
            var.set(value)?;
        }
        Ok(())
    }

    /// The student as a plain scorer of `traits`, its tensors detached from training.
    fn into_scorer(self, traits: Vec<TraitConfig>) -> Result<Scorer> {
        let mut encoder = self.encoder;
        let detach = &mut |_: &str, t: &Tensor| Ok(t.copy()?.detach());
        for index in self.frozen..encoder.encoder.layers().len() {
            let layer = encoder.encoder.layers()[index].map_tensors(index, detach)?;
            encoder.encoder.set_layer(index, layer);
        }
        Ok(Scorer {
            head: self.head.map_tensors(detach)?,
            text_encoder: encoder,
            traits,
            card: None,
            screen: None,
            precision: Precision::F32,
        })
    }
}

/// The linear probe of every trait, as [`Session::probe`] chose it.
struct ProbeFit {
    /// The mean development quality over traits.
    quality: f64,
    /// One fit per trait.
    fits: Vec<LinearFit>,
    /// When asked for, per trait, each training response's raw score by the fit made
    /// without it ([`RidgeProblem::leave_one_out`]); none where the fit has a lexical block,
    /// whose dual fit is not left out row by row here.
    held_out: Vec<Option<Vec<f64>>>,
}

/// What every stage of training shares: the data, the frozen layers' outputs, and how
/// development raw scores are judged.
struct Session<'a> {
    train: &'a [Example],
    dev: &'a [Example],
    train_states: &'a [Vec<Tensor>],
    dev_states: &'a [Vec<Tensor>],
    /// What is learnt; only the scales matter here.
    traits: &'a [TraitConfig],
    /// Layers below the trained ones.
    frozen: usize,
    /// The training responses' lexical design, when the head has a lexical block.
    lexical: Option<LexicalDesign>,
    /// The development responses' lexical vectors (each empty without a block).
    dev_vectors: Vec<Vec<(u32, f32)>>,
}

impl Session<'_> {
    /// The development responses' human values of trait `t`.
    fn dev_targets(&self, t: usize) -> Vec<f64> {
        self.dev.iter().map(|e| e.targets[t]).collect()
    }

    /// The development responses' human levels of trait `t`.
    fn dev_levels(&self, t: usize) -> Vec<i64> {
        self.dev
            .iter()
            .map(|e| e.targets[t].round() as i64)
            .collect()
    }

    /// Trait `t`'s levels of the development responses, then of the training responses a
    /// person scored.
    fn levels_with_training(&self, t: usize) -> Vec<i64> {
        let mut levels = self.dev_levels(t);
        levels.extend(
            self.train
                .iter()
                .filter_map(|e| Some(e.levels.as_ref()?[t])),
        );
        levels
    }

    /// Development agreement of trait `t`'s raw scores `raw` cut by `thresholds`.
    fn dev_agreement(&self, t: usize, raw: &[f64], thresholds: &Thresholds) -> Agreement {
        let levels: Vec<i64> = raw.iter().map(|&r| thresholds.level(r)).collect();
        agreement(&self.dev_levels(t), &levels, thresholds.range)
    }

    /// How well `raw` matches trait `t` on development data: QWK with thresholds fitted to
    /// it on a levelled trait, Pearson r on a continuous one.
    fn dev_quality(&self, t: usize, raw: &[f64]) -> Option<f64> {
        match &self.traits[t].scale {
            Scale::Levels(rounding) => {
                let fitted = Thresholds::fit(raw, &self.dev_levels(t), rounding.range);
                self.dev_agreement(t, raw, &fitted).qwk
            }
            Scale::Continuous { .. } => pearson(raw, &self.dev_targets(t)),
        }
    }

    /// The mean development quality over traits, from each trait's raw scores; an undefined
    /// quality counts as the worst.
    fn mean_quality(qualities: &[Option<f64>]) -> f64 {
        qualities
            .iter()
            .map(|q| q.unwrap_or(f64::NEG_INFINITY))
            .sum::<f64>()
            / qualities.len() as f64
    }

    /// `[pooled embedding ; surface features]` for each example, from `encoder`'s layers
    /// above the frozen ones.
    fn head_inputs(
        &self,
        encoder: &Encoder,
        examples: &[Example],
        states: &[Vec<Tensor>],
    ) -> Result<Vec<Vec<f32>>> {
        let mut rows = Vec::with_capacity(examples.len());
        for (chunk, chunk_states) in examples.chunks(32).zip(states.chunks(32)) {
            let windows: Vec<Tensor> = chunk_states.iter().flatten().cloned().collect();
            let counts: Vec<usize> = chunk_states.iter().map(Vec::len).collect();
            let pooled = pool_texts(&windows, &counts, encoder, self.frozen)?.detach();
            for (example, embedding) in chunk.iter().zip(pooled.to_vec2::<f32>()?) {
                let mut row = embedding;
                row.extend_from_slice(&example.prepared.features);
                rows.push(row);
            }
        }
        Ok(rows)
    }

    /// The linear probe on `encoder`: for each trait, ridge regression of its normalised
    /// scores on the head inputs (and, with a lexical block, jointly on the word buckets), the
    /// penalties chosen by the trait's development quality. Without a block, or where the
    /// block does not help on development data, a trait's bucket weights stay empty.
    /// With `leave_out`, also each training response's held-out raw score.
    fn probe(&self, encoder: &Encoder, leave_out: bool) -> Result<ProbeFit> {
        let train_inputs = self.head_inputs(encoder, self.train, self.train_states)?;
        let dev_inputs = self.head_inputs(encoder, self.dev, self.dev_states)?;
        let weights: Vec<f64> = self.train.iter().map(|e| e.weight).collect();
        let columns = train_inputs[0].len();
        let embedding = columns - FEATURE_COUNT;
        let problems: Vec<RidgeProblem> = (0..self.traits.len())
            .map(|t| {
                let targets: Vec<f64> = self
                    .train
                    .iter()
                    .map(|e| self.traits[t].scale.normalise(e.targets[t]))
                    .collect();
                RidgeProblem::weighted(&train_inputs, &targets, &weights)
            })
            .collect();
        // Every trait shares the columns, so the joint designs are made once.
        let joints: Vec<JointDesign> = match &self.lexical {
            Some(design) => (0..WORD_PENALTIES.len())
                .map(|k| JointDesign::new(design, &problems[0], k))
                .collect(),
            None => Vec::new(),
        };
        let mut qualities = Vec::with_capacity(self.traits.len());
        let mut fits = Vec::with_capacity(self.traits.len());
        let mut held_out = Vec::with_capacity(self.traits.len());
        for (t, (config, problem)) in self.traits.iter().zip(&problems).enumerate() {
            // The quality, the fit and, for a plain ridge fit, its penalty and multipliers.
            type Choice = (Option<f64>, LinearFit, Option<(f64, Vec<f64>)>);
            let mut best: Option<Choice> = None;
            for feature_share in PROBE_FEATURE_SHARES {
                let multiplier: Vec<f64> = (0..columns)
                    .map(|j| if j < embedding { 1.0 } else { feature_share })
                    .collect();
                for lambda in PROBE_PENALTIES {
                    let plain = std::iter::once((problem.solve(lambda, &multiplier), true));
                    let joint = joints
                        .iter()
                        .map(|j| (j.solve(problem, lambda, &multiplier), false));
                    for (fit, is_plain) in plain.chain(joint) {
                        let raw: Vec<f64> = dev_inputs
                            .iter()
                            .zip(&self.dev_vectors)
                            .map(|(row, v)| config.scale.denormalise(fit.predict_with(row, v)))
                            .collect();
                        let quality = self.dev_quality(t, &raw);
                        let better = |b: &Option<f64>| {
                            quality.unwrap_or(f64::NEG_INFINITY) > b.unwrap_or(f64::NEG_INFINITY)
                        };
                        if best.as_ref().is_none_or(|(b, _, _)| better(b)) {
                            let penalty = is_plain.then(|| (lambda, multiplier.clone()));
                            best = Some((quality, fit, penalty));
                        }
                    }
                }
            }
            let (quality, fit, penalty) = best.expect("penalties to try");
            qualities.push(quality);
            fits.push(fit);
            held_out.push(penalty.filter(|_| leave_out).map(|(lambda, multiplier)| {
                problem
                    .leave_one_out(&train_inputs, lambda, &multiplier)
                    .into_iter()
                    .map(|value| config.scale.denormalise(value))
                    .collect()
            }));
        }
        Ok(ProbeFit {
            quality: Self::mean_quality(&qualities),
            fits,
            held_out,
        })
    }

    /// The student's raw scores for the development responses, per trait: `raw[t][i]`.
    fn dev_raw(&self, student: &Student) -> Result<Vec<Vec<f64>>> {
        let mut raw = vec![Vec::with_capacity(self.dev.len()); self.traits.len()];
        for (chunk, states) in self.dev.chunks(32).zip(self.dev_states.chunks(32)) {
            let texts: Vec<&PreparedText> = chunk.iter().map(|e| &e.prepared).collect();
            let states: Vec<&[Tensor]> = states.iter().map(Vec::as_slice).collect();
            for row in student.predict(&texts, &states)?.to_vec2::<f32>()? {
                for ((values, config), n) in raw.iter_mut().zip(self.traits).zip(row) {
                    values.push(config.scale.denormalise(n as f64));
                }
            }
        }
        Ok(raw)
    }

    /// Each trait's development quality for per-trait raw scores `raw`.
    fn dev_qualities(&self, raw: &[Vec<f64>]) -> Vec<Option<f64>> {
        raw.iter()
            .enumerate()
            .map(|(t, values)| self.dev_quality(t, values))
            .collect()
    }
}

/// Trains a student of `traits` on `train`, stopping early on `dev`, starting from `base`.
/// The traits' scales say how targets are normalised; a levelled trait's thresholds are fitted
/// here on `dev` (and, by `settings.cut_points`, on `train`'s held-out scores too).
///
/// A linear head starts as the linear probe on the frozen encoder (epoch 0); a hidden head
/// starts from seeded random weights. Each epoch then trains the top layers and the head by
/// AdamW on squared error (summed over traits, each on its 0-1 scale); after it, a linear head
/// is refitted in closed form to the new features, and the epoch is judged by development QWK,
/// averaged over traits. The best epoch — possibly the start itself — is kept.
pub fn train(
    base: &BaseModel,
    train: &[Example],
    dev: &[Example],
    traits: &[TraitConfig],
    settings: &TrainSettings,
    cache: &StateCache,
    progress: &Progress,
) -> Result<Trained> {
    let layers = base.text_encoder.encoder.layers().len();
    check_inputs(train, dev, traits, settings, layers)?;
    let frozen = settings.tune.frozen_layers(layers);

    let encode_start = Instant::now();
    let all_texts: Vec<PreparedText> = train
        .iter()
        .chain(dev)
        .map(|e| e.prepared.clone())
        .collect();
    let states = cache.states(&base.text_encoder, &all_texts, frozen, progress)?;
    let encode_seconds = encode_start.elapsed().as_secs_f64();
    let (train_states, dev_states) = states.split_at(train.len());
    let lexical = lexical_design(train, settings.lexical_buckets, progress);
    let session = Session::new(
        train,
        dev,
        (train_states, dev_states),
        traits,
        frozen,
        lexical,
    );

    let head_config = head_config(train, settings.head_hidden, session.buckets());
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let linear_head = settings.head_hidden == 0;
    // Only a linear head can be the probe, and so have held-out training scores.
    let leave_out = settings.cut_points == CutPoints::Pooled && linear_head;
    let probe = session.probe(&base.text_encoder.encoder, leave_out)?;
    progress.note(&format!(
        "linear probe on the frozen encoder: {} {:.4}",
        quality_name(traits),
        probe.quality
    ));
    let student = Student::new(
        &base.text_encoder,
        frozen,
        &head_config,
        &probe.fits,
        &mut rng,
    )?;
    let (history, best_epoch) = session.fine_tune(
        &student,
        &head_config,
        probe.quality,
        settings,
        &mut rng,
        progress,
    )?;
    // Held-out scores are the kept student's only if it is the probe: a fine-tuned encoder
    // has seen the training responses' scores, and would score them as close to their
    // targets as its training brought them.
    let held_out = if best_epoch == 0 && linear_head {
        probe.held_out
    } else {
        vec![None; traits.len()]
    };
    if settings.cut_points == CutPoints::Pooled {
        session.note_pooled_cut_points(&held_out, progress);
    }
    let (fitted_traits, dev_quality, dev_fitted, dev_rounding) =
        session.fit_thresholds(&student, settings.cut_points, &held_out)?;
    let mut scorer = student.into_scorer(fitted_traits)?;
    let readings = read_in_groups(&scorer, &all_texts, &states, frozen, "screening", progress)?;
    let words: Vec<&[u32]> = all_texts.iter().map(|t| t.words.as_slice()).collect();
    scorer.screen = Some(fit_screen(&words, &readings, train.len(), settings.seed));
    Ok(Trained {
        scorer,
        history,
        best_epoch,
        dev_fitted,
        dev_rounding,
        dev_quality,
        encode_seconds,
    })
}

impl<'a> Session<'a> {
    /// A session over `train` and `dev` and their frozen layers' outputs (`states`: the
    /// training responses', then the development ones').
    fn new(
        train: &'a [Example],
        dev: &'a [Example],
        states: (&'a [Vec<Tensor>], &'a [Vec<Tensor>]),
        traits: &'a [TraitConfig],
        frozen: usize,
        lexical: Option<LexicalDesign>,
    ) -> Self {
        let mut session = Session {
            train,
            dev,
            train_states: states.0,
            dev_states: states.1,
            traits,
            frozen,
            lexical,
            dev_vectors: Vec::new(),
        };
        let buckets = session.buckets();
        session.dev_vectors = dev
            .iter()
            .map(|e| match buckets {
                0 => Vec::new(),
                _ => lexical_vector(&e.prepared.words, buckets),
            })
            .collect();
        session
    }

    /// The head's lexical buckets (0 without a block).
    fn buckets(&self) -> usize {
        self.lexical.as_ref().map_or(0, LexicalDesign::buckets)
    }
}

impl Session<'_> {
    /// Trains `student` epoch by epoch from its start (judged `probe_quality` if its head is
    /// the linear probe), stops early by `settings.patience`, and leaves it as the best epoch
    /// judged: the epochs' logs and the epoch kept (0: the start).
    fn fine_tune(
        &self,
        student: &Student,
        head_config: &HeadConfig,
        probe_quality: f64,
        settings: &TrainSettings,
        rng: &mut StdRng,
        progress: &Progress,
    ) -> Result<(Vec<EpochLog>, usize)> {
        let quality = quality_name(self.traits);
        let layers = student.encoder.encoder.layers().len();
        let max_epochs = if self.frozen == layers && head_config.hidden == 0 {
            0 // A linear head on a frozen encoder: the probe is already its least-squares fit.
        } else {
            settings.max_epochs
        };
        let mut optimizers = Optimizers::new(student, settings, self.train.len())?;
        let start_quality = if settings.fine_tuned_only && max_epochs > 0 {
            f64::NEG_INFINITY
        } else {
            self.start_quality(student, head_config, probe_quality, progress)?
        };
        let mut best: (f64, usize, Vec<Tensor>) = (start_quality, 0, student.snapshot()?);
        let mut history = Vec::new();
        let mut order: Vec<usize> = (0..self.train.len()).collect();
        for epoch in 1..=max_epochs {
            let epoch_start = Instant::now();
            order.shuffle(rng);
            let name = format!(
                "epoch {epoch}/{} ({} trains)",
                settings.max_epochs, settings.tune
            );
            let train_loss = self.run_epoch(student, &mut optimizers, &order, &name, progress)?;
            let dev_qwk = self.judge_epoch(student, head_config)?;
            let log = EpochLog {
                epoch,
                train_loss,
                dev_qwk,
                seconds: epoch_start.elapsed().as_secs_f64(),
            };
            progress.note(&format!(
                "epoch {epoch}: train loss {:.5}, {quality} {}, {:.0}s",
                log.train_loss,
                format_quality(dev_qwk),
                log.seconds
            ));
            progress.report(Event::Epoch {
                epoch,
                of: max_epochs,
                train_loss: log.train_loss,
                dev_measure: dev_qwk,
            });
            history.push(log);
            let judged = dev_qwk.unwrap_or(f64::NEG_INFINITY);
            if judged > best.0 {
                best = (judged, epoch, student.snapshot()?);
            } else if epoch - best.1 >= settings.patience {
                progress.note(&format!(
                    "no better {quality} for {} epochs: stopping early",
                    epoch - best.1
                ));
                break;
            }
        }
        let (_, best_epoch, snapshot) = best;
        student.restore(&snapshot)?;
        Ok((history, best_epoch))
    }

    /// How epoch 0, the student as it starts, is judged. With a linear head that is the
    /// probe; a hidden head starts from random weights, so it is judged by its own
    /// development scores.
    fn start_quality(
        &self,
        student: &Student,
        head_config: &HeadConfig,
        probe_quality: f64,
        progress: &Progress,
    ) -> Result<f64> {
        if head_config.hidden == 0 {
            return Ok(probe_quality);
        }
        let start = self.judge_epoch(student, head_config)?;
        progress.note(&format!(
            "the hidden head's random start: {} {}",
            quality_name(self.traits),
            format_quality(start)
        ));
        Ok(start.unwrap_or(f64::NEG_INFINITY))
    }

    /// Says where `pooled` cut points come from: the training responses too where the kept
    /// student gave them `held_out` scores, else the development responses alone.
    fn note_pooled_cut_points(&self, held_out: &[Option<Vec<f64>>], progress: &Progress) {
        if !self.traits.iter().any(|t| t.scale.thresholds().is_some()) {
            return;
        }
        progress.note(&if held_out.iter().any(Option::is_some) {
            format!(
                "cut points fitted on {} development and {} human-scored training responses, \
                 each training response scored by the probe fitted without it",
                self.dev.len(),
                self.train.iter().filter(|e| e.levels.is_some()).count()
            )
        } else {
            "cut points fitted on the development responses alone: the kept student is not the \
             plain linear probe, so it has no held-out scores of the training responses"
                .into()
        });
    }
}

/// How `scorer` reads `texts` from their windows' states after the first `frozen` layers
/// (`states[i]` holds text i's windows), a group at a time to bound memory, with a progress
/// bar called `stage`.
pub fn read_in_groups(
    scorer: &Scorer,
    texts: &[PreparedText],
    states: &[Vec<Tensor>],
    frozen: usize,
    stage: &str,
    progress: &Progress,
) -> Result<Vec<Reading>> {
    let bar = progress.bar(texts.len() as u64, stage, "responses");
    let mut readings = Vec::with_capacity(texts.len());
    for (group, group_states) in texts.chunks(32).zip(states.chunks(32)) {
        let windows: Vec<Tensor> = group_states.iter().flatten().cloned().collect();
        readings.extend(scorer.readings(group, &windows, frozen)?);
        bar.inc(group.len() as u64);
    }
    bar.finish_and_clear();
    Ok(readings)
}

/// Refuses what training cannot work with, before anything is encoded.
fn check_inputs(
    train: &[Example],
    dev: &[Example],
    traits: &[TraitConfig],
    settings: &TrainSettings,
    layers: usize,
) -> Result<()> {
    if train.is_empty() || dev.is_empty() {
        bail!("training needs at least one training and one development response");
    }
    if traits.is_empty() {
        bail!("training needs at least one trait to learn");
    }
    if let Some(e) = train
        .iter()
        .chain(dev)
        .find(|e| e.targets.len() != traits.len())
    {
        bail!(
            "a response has {} targets for {} traits",
            e.targets.len(),
            traits.len()
        );
    }
    if let Tune::Top(k) = settings.tune {
        if k > layers {
            return Err(input(format!(
                "tune top:{k} asks for more layers than the encoder's {layers}"
            )));
        }
    }
    Ok(())
}

/// AdamW for the trained encoder layers and for the head, with the learning rate warmed up
/// over the first `warmup_fraction` of the steps and then decayed linearly to zero.
struct Optimizers {
    encoder: AdamW,
    head: AdamW,
    train_encoder: bool,
    batch_size: usize,
    learning_rate: f64,
    head_learning_rate: f64,
    step: usize,
    warmup_steps: usize,
    total_steps: usize,
}

impl Optimizers {
    fn new(student: &Student, settings: &TrainSettings, train_rows: usize) -> Result<Self> {
        let adamw = |vars: Vec<Var>, lr: f64| {
            AdamW::new(
                vars,
                ParamsAdamW {
                    lr,
                    weight_decay: settings.weight_decay,
                    ..ParamsAdamW::default()
                },
            )
        };
        let total_steps = train_rows.div_ceil(settings.batch_size) * settings.max_epochs;
        Ok(Optimizers {
            encoder: adamw(student.encoder_vars.clone(), settings.learning_rate)?,
            head: adamw(student.head_vars.clone(), settings.head_learning_rate)?,
            train_encoder: !student.encoder_vars.is_empty(),
            batch_size: settings.batch_size,
            learning_rate: settings.learning_rate,
            head_learning_rate: settings.head_learning_rate,
            step: 0,
            warmup_steps: ((total_steps as f64 * settings.warmup_fraction) as usize).max(1),
            total_steps,
        })
    }

    /// The share of the peak learning rate at the current step.
    fn schedule(&self) -> f64 {
        let (step, warmup, total) = (self.step, self.warmup_steps, self.total_steps);
        if step < warmup {
            (step + 1) as f64 / warmup as f64
        } else {
            let left = (total - step) as f64 / (total - warmup).max(1) as f64;
            left.max(0.0)
        }
    }

    /// One optimisation step with `grads`.
    fn step(&mut self, grads: &candle_core::backprop::GradStore) -> Result<()> {
        let factor = self.schedule();
        self.encoder.set_learning_rate(self.learning_rate * factor);
        self.head
            .set_learning_rate(self.head_learning_rate * factor);
        if self.train_encoder {
            self.encoder.step(grads)?;
        }
        self.head.step(grads)?;
        self.step += 1;
        Ok(())
    }
}

impl Session<'_> {
    /// One pass over the training rows in `order`, a batch per step; the mean loss per step.
    fn run_epoch(
        &self,
        student: &Student,
        optimizers: &mut Optimizers,
        order: &[usize],
        name: &str,
        progress: &Progress,
    ) -> Result<f64> {
        let batch_size = optimizers.batch_size;
        let steps = order.len().div_ceil(batch_size);
        let bar = progress.bar(steps as u64, name, "steps");
        let mut loss_sum = 0.0;
        for (step, batch) in order.chunks(batch_size).enumerate() {
            let loss = self.batch_loss(student, batch)?;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                crate::bail_input!(
                    "training diverged: the loss became {value} at step {} of {name}; lower \
                     --lr or --head-lr",
                    step + 1
                );
            }
            loss_sum += value;
            optimizers.step(&loss.backward()?)?;
            bar.inc(1);
            progress.check()?;
        }
        Ok(loss_sum / steps as f64)
    }

    /// The weighted squared error of `student` on the training rows `batch`, summed over
    /// traits (each on its 0-1 scale) and averaged over them.
    fn batch_loss(&self, student: &Student, batch: &[usize]) -> Result<Tensor> {
        let (train, traits) = (self.train, self.traits);
        let texts: Vec<&PreparedText> = batch.iter().map(|&i| &train[i].prepared).collect();
        let states: Vec<&[Tensor]> = batch
            .iter()
            .map(|&i| self.train_states[i].as_slice())
            .collect();
        let targets: Vec<f32> = batch
            .iter()
            .flat_map(|&i| {
                traits
                    .iter()
                    .zip(&train[i].targets)
                    .map(|(config, &target)| config.scale.normalise(target) as f32)
            })
            .collect();
        let weight_sum: f64 = batch.iter().map(|&i| train[i].weight).sum();
        let weights: Vec<f32> = batch
            .iter()
            .map(|&i| (train[i].weight / weight_sum) as f32)
            .collect();
        let device = &student.encoder.device;
        let targets = Tensor::from_vec(targets, (batch.len(), traits.len()), device)?;
        let weights = Tensor::from_vec(weights, (batch.len(), 1), device)?;
        let predictions = student.predict(&texts, &states)?;
        Ok(((predictions - targets)?
            .sqr()?
            .broadcast_mul(&weights)?
            .sum_all()?
            / traits.len() as f64)?)
    }

    /// The development measure after an epoch. A linear head is first refitted in closed form
    /// to the changed encoder (and judged as refitted); a hidden layer is judged as trained.
    fn judge_epoch(&self, student: &Student, head_config: &HeadConfig) -> Result<Option<f64>> {
        let quality = if head_config.hidden == 0 {
            let refit = self.probe(&student.encoder.encoder, false)?;
            student.set_linear_head(&refit.fits, head_config)?;
            refit.quality
        } else {
            Self::mean_quality(&self.dev_qualities(&self.dev_raw(student)?))
        };
        Ok(Some(quality).filter(|q| q.is_finite()))
    }

    /// The kept student's development results, with each levelled trait's thresholds fitted
    /// on its development raw scores as `cut_points` says (`held_out`: the training
    /// responses' held-out raw scores per trait, where the head gave them).
    #[allow(clippy::type_complexity)]
    fn fit_thresholds(
        &self,
        student: &Student,
        cut_points: CutPoints,
        held_out: &[Option<Vec<f64>>],
    ) -> Result<(
        Vec<TraitConfig>,
        Vec<Option<f64>>,
        Option<Agreement>,
        Option<Agreement>,
    )> {
        let raw = self.dev_raw(student)?;
        let dev_quality = self.dev_qualities(&raw);
        let mut fitted = self.traits.to_vec();
        for (t, config) in fitted.iter_mut().enumerate() {
            if let Scale::Levels(thresholds) = &mut config.scale {
                let range = thresholds.range;
                *thresholds = match cut_points {
                    CutPoints::Qwk => Thresholds::fit(&raw[t], &self.dev_levels(t), range),
                    CutPoints::Pooled => match &held_out[t] {
                        Some(train_raw) => {
                            let mut pooled = raw[t].clone();
                            pooled.extend(
                                self.train
                                    .iter()
                                    .zip(train_raw)
                                    .filter(|(e, _)| e.levels.is_some())
                                    .map(|(_, &r)| r),
                            );
                            Thresholds::fit(&pooled, &self.levels_with_training(t), range)
                        }
                        None => Thresholds::fit(&raw[t], &self.dev_levels(t), range),
                    },
                    CutPoints::Shares => {
                        distribution_matching(&raw[t], &self.levels_with_training(t), range)
                    }
                };
            }
        }
        let (dev_fitted, dev_rounding) = match &fitted[0].scale {
            Scale::Levels(thresholds) => (
                Some(self.dev_agreement(0, &raw[0], thresholds)),
                Some(self.dev_agreement(0, &raw[0], &Thresholds::rounding(thresholds.range))),
            ),
            Scale::Continuous { .. } => (None, None),
        };
        Ok((fitted, dev_quality, dev_fitted, dev_rounding))
    }
}

/// What development results are called in progress notes: QWK, or with several traits, or a
/// continuous one, their mean (QWK or Pearson r each).
fn quality_name(traits: &[TraitConfig]) -> &'static str {
    match traits {
        [one] if one.scale.thresholds().is_some() => "dev QWK",
        [_] => "dev Pearson r",
        _ => "dev QWK (mean over traits; Pearson r for continuous ones)",
    }
}

/// The lexical design of the training responses for `buckets` buckets (none for 0), or none
/// with a note when there are too many responses for its kernel.
fn lexical_design(train: &[Example], buckets: usize, progress: &Progress) -> Option<LexicalDesign> {
    if buckets == 0 {
        return None;
    }
    if train.len() > MAX_LEXICAL_ROWS {
        progress.note(&format!(
            "no lexical block: its kernel holds one value per pair of training responses, and \
             {} responses are more than the {MAX_LEXICAL_ROWS} it is made for",
            train.len()
        ));
        return None;
    }
    let words: Vec<&[u32]> = train.iter().map(|e| e.prepared.words.as_slice()).collect();
    let weights: Vec<f64> = train.iter().map(|e| e.weight).collect();
    Some(LexicalDesign::new(&words, &weights, buckets))
}

/// Most training responses the lexical block is fitted on: its kernel and its factors take
/// 5 × 8 bytes per pair of responses (1 GB at 5,000).
const MAX_LEXICAL_ROWS: usize = 5000;

/// The probes' bucket weights as the lexical block's (traits × buckets, row-major), zero for a
/// trait whose probe left the block out; none for a head without a block.
fn lexical_weights_from_probes(probes: &[LinearFit], config: &HeadConfig) -> Option<Vec<f32>> {
    let buckets = config.lexical_buckets;
    (buckets > 0).then(|| {
        probes
            .iter()
            .flat_map(|p| {
                let weights: Vec<f32> = match p.lexical.len() {
                    0 => vec![0.0; buckets],
                    _ => p.lexical.iter().map(|&w| w as f32).collect(),
                };
                weights
            })
            .collect()
    })
}

/// The probes' weights as the linear head's, one output row per trait: the head standardises
/// the surface features itself, so their weights scale by the deviation and their means move
/// into the bias.
fn head_weights_from_probes(probes: &[LinearFit], config: &HeadConfig) -> (Vec<f32>, Vec<f32>) {
    let mut weights = Vec::new();
    let mut biases = Vec::with_capacity(probes.len());
    for probe in probes {
        let embedding = probe.weights.len() - FEATURE_COUNT;
        weights.extend(probe.weights[..embedding].iter().map(|&w| w as f32));
        let mut bias = probe.intercept;
        for (j, &w) in probe.weights[embedding..].iter().enumerate() {
            weights.push((w * config.feature_std[j] as f64) as f32);
            bias += w * config.feature_mean[j] as f64;
        }
        biases.push(bias as f32);
    }
    (weights, biases)
}

/// Ridge penalties tried for the linear probe (per response, on standardised columns).
const PROBE_PENALTIES: [f64; 11] = [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0, 3.0, 10.0];

/// The share of the penalty the few surface features bear, against the hundreds of embedding
/// dimensions: length carries much of a score, and a small sample should not shrink it away.
const PROBE_FEATURE_SHARES: [f64; 3] = [1.0, 0.1, 0.01];

/// The head's configuration, its feature standardisation measured on `train`.
fn head_config(train: &[Example], hidden: usize, lexical_buckets: usize) -> HeadConfig {
    let n = train.len() as f32;
    let mut mean = [0f32; FEATURE_COUNT];
    for e in train {
        for (m, f) in mean.iter_mut().zip(e.prepared.features) {
            *m += f / n;
        }
    }
    let mut std = [0f32; FEATURE_COUNT];
    for e in train {
        for ((s, f), m) in std.iter_mut().zip(e.prepared.features).zip(mean) {
            *s += (f - m) * (f - m) / n;
        }
    }
    HeadConfig {
        hidden,
        features: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        feature_mean: mean.to_vec(),
        // A feature constant over the training data carries no information; scale 1 keeps it
        // harmless.
        feature_std: std
            .iter()
            .map(|v| if *v > 1e-12 { v.sqrt() } else { 1.0 })
            .collect(),
        feature_range: Some(FeatureRange::of(train.iter().map(|e| &e.prepared.features))),
        lexical_buckets,
    }
}
