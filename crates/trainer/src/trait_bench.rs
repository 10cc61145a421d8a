//! `cyborg bench traits`: one student of every trait (one shared encoder, one head output per
//! trait) beside one student per trait, trained the same way, judged on the same held-out
//! responses — the Cyborg Data paper's open question 2.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cyborg_scorer::metrics::ScoreRange;
use cyborg_scorer::model::Reading;
use cyborg_scorer::traits::{trait_result, Scale, TraitConfig, TraitResult};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;

use crate::bench::read_asap_prompt;
use crate::config::StudentConfig;
use crate::data::{read_id_list, read_table, ReadSpec, Row};
use crate::format::{format_kappa, markdown_table};
use crate::progress::Progress;
use crate::student::{fit_student, load_base, read_prepared_fitted, trait_scale, TrainingRow};

/// A corpus with several targets per response, split three ways.
struct Corpus {
    /// What it is, for the table's caption.
    description: String,
    /// Every response; `traits` holds all its targets, in the order of `targets`.
    rows: Vec<Row>,
    /// The targets' names.
    targets: Vec<String>,
    /// The first target's fixed score range, when it is a holistic score on levels.
    primary_range: Option<ScoreRange>,
    /// Indices into `rows`.
    train: Vec<usize>,
    dev: Vec<usize>,
    test: Vec<usize>,
}

/// ASAP-AES sets 7 and 8's trait names (SOURCE.md), in the order of trait1…trait6.
fn asap_trait_names(prompt: u32) -> &'static [&'static str] {
    match prompt {
        7 => &["ideas", "organization", "style", "conventions"],
        _ => &[
            "ideas_and_content",
            "organization",
            "voice",
            "word_choice",
            "sentence_fluency",
            "conventions",
        ],
    }
}

/// ASAP-AES set `prompt` (7 or 8): the holistic score and the trait scores, on NEA fold
/// `fold`'s split.
fn asap(data: &Path, prompt: u32, fold: usize) -> Result<Corpus> {
    let folder = data.join("asap-aes");
    let (table, range) = read_asap_prompt(&folder.join("training_set_rel3.utf8.tsv"), prompt)?;
    let mut rows = table.rows;
    let names = asap_trait_names(prompt);
    let traits_path = folder.join("asap_plus_plus_traits.csv");
    let traits = read_trait_scores(&traits_path, names.len())?;
    for row in &mut rows {
        let values = traits.get(&row.id).with_context(|| {
            format!(
                "{}: no trait scores for essay {}",
                traits_path.display(),
                row.id
            )
        })?;
        row.traits = std::iter::once(row.score.expect("scores were read") as f64)
            .chain(values.iter().copied())
            .collect();
    }
    let fold_dir = folder.join(format!("folds/fold_{fold}"));
    let ids = |name: &str| read_id_list(&fold_dir.join(name));
    let pick = |ids: &std::collections::HashSet<String>| -> Vec<usize> {
        (0..rows.len())
            .filter(|&i| ids.contains(&rows[i].id))
            .collect()
    };
    let (train, dev, test) = (
        pick(&ids("train_ids.txt")?),
        pick(&ids("dev_ids.txt")?),
        pick(&ids("test_ids.txt")?),
    );
    Ok(Corpus {
        description: format!(
            "ASAP-AES set {prompt}, NEA fold {fold}: the holistic score ({range}) and {} trait \
             scores (asap_plus_plus_traits.csv)",
            names.len()
        ),
        targets: std::iter::once("domain1_score")
            .chain(names.iter().copied())
            .map(String::from)
            .collect(),
        rows,
        primary_range: Some(range),
        train,
        dev,
        test,
    })
}

/// `essay_id → [trait1, …, trait{count}]` from the ASAP++ trait file; an essay whose first
/// `count` traits are not all whole numbers is an error naming its line.
fn read_trait_scores(path: &Path, count: usize) -> Result<HashMap<String, Vec<f64>>> {
    let mut reader =
        csv::Reader::from_path(path).with_context(|| format!("cannot read {}", path.display()))?;
    let header = reader.headers()?.clone();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}:1: no column \"{name}\"", path.display()))
    };
    let id = column("essay_id")?;
    let trait_columns = (1..=count)
        .map(|k| column(&format!("trait{k}")))
        .collect::<Result<Vec<_>>>()?;
    let mut scores = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let record = record?;
        let line = index + 2;
        let values: Option<Vec<f64>> = trait_columns
            .iter()
            .map(|&c| record.get(c)?.trim().parse::<f64>().ok())
            .collect();
        // Sets 1-6 have fewer traits; their empty cells are not this corpus's business.
        if let Some(values) = values {
            if values.iter().any(|v| v.fract() != 0.0) {
                bail!("{}:{line}: a trait score is not whole", path.display());
            }
            scores.insert(record[id].to_string(), values);
        }
    }
    Ok(scores)
}

/// CommonLit summaries: content and wording (continuous), a seeded random split.
fn commonlit(data: &Path, test_fraction: f64, dev_fraction: f64, seed: u64) -> Result<Corpus> {
    let path = data.join("commonlit-summaries/summaries_train.csv");
    let spec = ReadSpec {
        text: "text".into(),
        id: Some("student_id".into()),
        traits: vec!["content".into(), "wording".into()],
        ..ReadSpec::default()
    };
    let rows = read_table(&path, &spec)?.rows;
    let mut order: Vec<usize> = (0..rows.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    let test_count = (rows.len() as f64 * test_fraction).round() as usize;
    let dev_count = (rows.len() as f64 * dev_fraction).round() as usize;
    let test = order[..test_count].to_vec();
    let dev = order[test_count..test_count + dev_count].to_vec();
    let train = order[test_count + dev_count..].to_vec();
    Ok(Corpus {
        description: format!(
            "CommonLit summaries (4 prompts): content and wording, continuous; a random split \
             (seed {seed}) of {:.0}% test and {:.0}% development",
            test_fraction * 100.0,
            dev_fraction * 100.0
        ),
        rows,
        targets: vec!["content".into(), "wording".into()],
        primary_range: None,
        train,
        dev,
        test,
    })
}

/// One student's rows: targets `first..first + count` of every row.
fn training_rows<'a>(rows: &[&'a Row], first: usize, count: usize) -> Vec<TrainingRow<'a>> {
    rows.iter()
        .map(|&row| TrainingRow {
            row,
            target: row.traits[first],
            more: &row.traits[first + 1..first + count],
            weight: 1.0,
            level: Some(row.traits[first].round() as i64),
        })
        .collect()
}

/// One student's test results.
#[derive(Serialize)]
pub struct ModelResult {
    /// `all traits` or the one target it learnt.
    model: String,
    /// Its results, one per target it scores.
    traits: Vec<TraitResult>,
    /// Wall-clock seconds to train it, less the frozen layers' encoding (done once, by the
    /// first student, and cached for the others).
    train_seconds: f64,
}

/// A corpus with several scores per response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraitCorpus {
    /// ASAP-AES set 7: holistic 0-30; ideas, organization, style, conventions 0-6.
    Asap7,
    /// ASAP-AES set 8: holistic 0-60; six traits 2-12.
    Asap8,
    /// CommonLit summaries: content and wording (continuous).
    Commonlit,
}

/// What `bench traits` runs.
#[derive(Debug, Clone)]
pub struct TraitBenchRequest {
    /// Which corpus.
    pub corpus: TraitCorpus,
    /// The folder holding asap-aes/ and commonlit-summaries/.
    pub data: PathBuf,
    /// NEA fold (ASAP-AES).
    pub fold: usize,
    /// CommonLit: the share held out for testing (seeded by the student's seed)…
    pub test_fraction: f64,
    /// …and for development.
    pub dev_fraction: f64,
    /// How each student is trained.
    pub student: StudentConfig,
}

/// `bench traits`' results.
#[derive(Serialize)]
pub struct TraitBench {
    /// The corpus and its split.
    pub corpus: String,
    /// What the students trained.
    pub tune: String,
    /// Wall time.
    pub seconds: f64,
    /// The all-traits student, then one per trait.
    pub models: Vec<ModelResult>,
    /// The Markdown table.
    #[serde(skip)]
    pub table: String,
}

/// One student of all targets beside one student per target, on the same held-out responses.
pub fn traits(request: &TraitBenchRequest, progress: &Progress) -> crate::Result<TraitBench> {
    Ok(run_traits(request, progress)?)
}

fn run_traits(args: &TraitBenchRequest, progress: &Progress) -> Result<TraitBench> {
    let start = Instant::now();
    let corpus = read_corpus(args)?;
    let rows =
        |indices: &[usize]| -> Vec<&Row> { indices.iter().map(|&i| &corpus.rows[i]).collect() };
    let (train, dev, test) = (rows(&corpus.train), rows(&corpus.dev), rows(&corpus.test));
    progress.note(&format!(
        "{}: {} train, {} dev, {} test",
        corpus.description,
        train.len(),
        dev.len(),
        test.len()
    ));
    let configs = trait_configs(&corpus, &train, &dev);
    let base = load_base(&args.student, progress)?;
    let test_texts = test
        .iter()
        .map(|r| base.text_encoder.prepare(&r.text))
        .collect::<cyborg_scorer::Result<Vec<_>>>()?;
    let all = configs.len();
    let mut models = vec![("all traits".to_string(), 0, all)];
    models.extend((0..all).map(|k| (corpus.targets[k].clone(), k, 1)));
    let mut results = Vec::new();
    for (model, first, count) in models {
        progress.check()?;
        progress.note(&format!("student of {model}"));
        let outcome = fit_student(
            &base,
            &training_rows(&train, first, count),
            &training_rows(&dev, first, count),
            &configs[first..first + count],
            &args.student,
            progress,
        )?;
        let raw = read_prepared_fitted(&base, &outcome, &test_texts, progress)?;
        let traits = test_results(&outcome.trained.scorer.traits, &test, first, &raw);
        for t in &traits {
            progress.note(&format!("  {}", result_note(t)));
        }
        results.push(ModelResult {
            model,
            traits,
            train_seconds: outcome.seconds - outcome.trained.encode_seconds,
        });
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(TraitBench {
        table: markdown(&corpus, &configs, args, &results, seconds),
        corpus: corpus.description,
        tune: args.student.tune_label(),
        seconds,
        models: results,
    })
}

fn read_corpus(args: &TraitBenchRequest) -> Result<Corpus> {
    match args.corpus {
        TraitCorpus::Asap7 => asap(&args.data, 7, args.fold),
        TraitCorpus::Asap8 => asap(&args.data, 8, args.fold),
        TraitCorpus::Commonlit => commonlit(
            &args.data,
            args.test_fraction,
            args.dev_fraction,
            args.student.seed,
        ),
    }
}

/// Each target's name and scale: the primary score's levels where the corpus has them, else
/// the scale the training and development values span.
fn trait_configs(corpus: &Corpus, train: &[&Row], dev: &[&Row]) -> Vec<TraitConfig> {
    corpus
        .targets
        .iter()
        .enumerate()
        .map(|(k, name)| TraitConfig {
            name: name.clone(),
            scale: match corpus.primary_range {
                Some(range) if k == 0 => Scale::levels(range),
                _ => trait_scale(train, dev, k),
            },
        })
        .collect()
}

/// A student's results on the `test` rows, whose targets from `first` on it was trained for
/// (`raw`: its readings of them).
fn test_results(
    traits: &[TraitConfig],
    test: &[&Row],
    first: usize,
    raw: &[Reading],
) -> Vec<TraitResult> {
    traits
        .iter()
        .enumerate()
        .map(|(j, config)| {
            let human: Vec<f64> = test.iter().map(|r| r.traits[first + j]).collect();
            let predicted: Vec<f64> = raw.iter().map(|r| r.values[j]).collect();
            trait_result(config, &human, &predicted)
        })
        .collect()
}

/// One target's test result in a line.
fn result_note(t: &TraitResult) -> String {
    let qwk = t
        .levels
        .as_ref()
        .map_or(String::new(), |a| format!("QWK {}, ", format_kappa(a.qwk)));
    format!(
        "{}: test {qwk}RMSE {:.3}, Pearson r {}",
        t.name,
        t.rmse,
        format_kappa(t.pearson)
    )
}

/// Per target: the single-trait student's and the all-traits student's test results, side
/// by side; then their averages.
fn markdown(
    corpus: &Corpus,
    configs: &[TraitConfig],
    args: &TraitBenchRequest,
    results: &[ModelResult],
    seconds: f64,
) -> String {
    let multi = &results[0];
    let qwk = |t: &TraitResult| t.levels.as_ref().and_then(|a| a.qwk);
    let cells = |t: &TraitResult| {
        let kappa = if t.levels.is_some() {
            format_kappa(qwk(t))
        } else {
            "–".into()
        };
        [kappa, format!("{:.3}", t.rmse)]
    };
    let singles: Vec<&TraitResult> = (1..results.len()).map(|k| &results[k].traits[0]).collect();
    let mut rows: Vec<Vec<String>> = configs
        .iter()
        .zip(singles.iter().zip(&multi.traits))
        .map(|(config, (single, multi))| {
            let mut row = vec![config.name.clone(), config.scale.to_string()];
            row.extend(cells(single).into_iter().chain(cells(multi)));
            row
        })
        .collect();
    let mean = |values: Vec<f64>| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let mean_qwk = |ts: &[&TraitResult]| {
        let values: Vec<f64> = ts.iter().filter_map(|t| qwk(t)).collect();
        (!values.is_empty()).then(|| mean(values))
    };
    let multi_traits: Vec<&TraitResult> = multi.traits.iter().collect();
    let mean_cells = |ts: &[&TraitResult]| {
        let rmse = mean(ts.iter().map(|t| t.rmse).collect());
        let kappa = mean_qwk(ts).map_or("–".into(), |q| format!("{q:.3}"));
        [format!("**{kappa}**"), format!("**{rmse:.3}**")]
    };
    let mut means = vec![
        "**mean** (QWK over levelled targets; RMSE = MCRMSE)".to_string(),
        String::new(),
    ];
    means.extend(
        mean_cells(&singles)
            .into_iter()
            .chain(mean_cells(&multi_traits)),
    );
    rows.push(means);
    let headings = [
        "target",
        "scale",
        "one student per trait: QWK",
        "RMSE",
        "one student of all traits: QWK",
        "RMSE",
    ];
    let mut out = format!(
        "{}. {} train, {} dev, {} test responses. Every student: {} on all-MiniLM-L6-v2, seed \
         {}, cut points `{}`. Wall time {:.1} min.\n\n{}\n",
        corpus.description,
        corpus.train.len(),
        corpus.dev.len(),
        corpus.test.len(),
        args.student.tune_label(),
        args.student.seed,
        args.student.cut_points,
        seconds / 60.0,
        markdown_table(&headings, rows)
    );
    let single_seconds: f64 = results[1..].iter().map(|r| r.train_seconds).sum();
    out.push_str(&format!(
        "Training time (the frozen layers' encoding, shared, left out): {:.1} min for the {} \
         single-trait students, {:.1} min for the one student of all traits, which is also one \
         bundle and one encoder pass per response when scoring.\n",
        single_seconds / 60.0,
        configs.len(),
        multi.train_seconds / 60.0
    ));
    out
}
