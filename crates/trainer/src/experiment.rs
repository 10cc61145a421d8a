//! `cyborg experiment`: the grid both papers report — human fraction × augmentation ×
//! temperature × seed — one student per cell, each tested on the same held-out responses,
//! with a paired bootstrap of every arm against the human-only arm.
//!
//! Each finished cell is saved as JSON in `OUT/cells/` at once, so a stopped run resumes
//! without recomputing it; the tables and the plot are rebuilt from the cells.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use cyborg_scorer::fairness::{bootstrap, Interval};
use cyborg_scorer::metrics::{agreement, ScoreRange};
use serde::{Deserialize, Serialize};

use crate::cli::{ExperimentArgs, SampleFilter};
use crate::commands::{
    fit_score_student, format_kappa, load_base, read_spec, sample_fraction, score_fitted,
    set_aside, stratified_split, TrainingRow,
};
use crate::data::{read_id_list, read_table, Row};
use crate::output::write_atomically;
use crate::progress::Progress;
use crate::teacher::{synthetic, LabelledPool};

/// What a cell adds to its human scores.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub enum Arm {
    /// Nothing: the human scores alone.
    None,
    /// The teacher's labels for the training rows whose scores were set aside.
    Pool,
    /// LLM-written responses making up this share of the training responses.
    Synthetic(f64),
}

impl std::str::FromStr for Arm {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Arm::None),
            "pool" => Ok(Arm::Pool),
            _ => match s.strip_prefix("synthetic:").map(str::parse::<f64>) {
                Some(Ok(r)) if (0.0..1.0).contains(&r) => Ok(Arm::Synthetic(r)),
                _ => Err(format!(
                    "\"{s}\" is not none, pool or synthetic:R (R the synthetic share, 0 ≤ R < 1)"
                )),
            },
        }
    }
}

impl std::fmt::Display for Arm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arm::None => write!(f, "none"),
            Arm::Pool => write!(f, "pool"),
            Arm::Synthetic(r) => write!(f, "synthetic:{r}"),
        }
    }
}

/// One finished cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Cell {
    human_fraction: f64,
    arm: Arm,
    /// Sampling temperature of synthetic arms.
    temperature: Option<f64>,
    seed: u64,
    human_rows: usize,
    /// Teacher-labelled or synthetic rows the student also trained on.
    extra_rows: usize,
    teacher_dev_qwk: Option<f64>,
    /// The teacher's own QWK on the test responses (pool arms).
    #[serde(default)]
    teacher_test_qwk: Option<f64>,
    dev_qwk: Option<f64>,
    test_qwk: Option<f64>,
    /// The student's level for each test response, in test order (for paired comparisons).
    test_levels: Vec<i64>,
    seconds: f64,
}

impl Cell {
    fn key(fraction: f64, arm: Arm, temperature: Option<f64>, seed: u64) -> String {
        let arm = arm.to_string().replace(':', "-");
        match temperature {
            Some(t) => format!("h{fraction}_{arm}_t{t}_s{seed}"),
            None => format!("h{fraction}_{arm}_s{seed}"),
        }
    }
}

/// The cells the arguments ask for, as (fraction, arm, temperature, seed); a pool at 100%
/// human has nothing to label and is left out.
fn grid(args: &ExperimentArgs) -> Vec<(f64, Arm, Option<f64>, u64)> {
    let mut cells = Vec::new();
    for &fraction in &args.fractions {
        for &arm in &args.arms {
            let temperatures: Vec<Option<f64>> = match arm {
                Arm::Synthetic(_) => args.temperatures.iter().copied().map(Some).collect(),
                _ => vec![None],
            };
            if arm == Arm::Pool && fraction >= 1.0 {
                continue;
            }
            for temperature in temperatures {
                for &seed in &args.seeds {
                    cells.push((fraction, arm, temperature, seed));
                }
            }
        }
    }
    cells
}

/// `cyborg experiment`
pub fn run(args: ExperimentArgs, progress: &Progress) -> Result<()> {
    if args.fractions.iter().any(|f| !(*f > 0.0 && *f <= 1.0)) {
        bail!("--fractions must each be in (0, 1]");
    }
    let cells_dir = args.out_dir.join("cells");
    std::fs::create_dir_all(&cells_dir)
        .with_context(|| format!("cannot create {}", cells_dir.display()))?;
    let mut spec = read_spec(&args.data, true, "experiment")?;
    spec.range = args.range;
    let table = read_table(&args.file, &spec)?;
    let all: Vec<&Row> = table.rows.iter().collect();
    // The test and development rows are fixed across the grid (--split-seed), so every cell
    // is judged on the same responses and cells pair up.
    let (train_all, dev, test) = match (&args.train_ids, &args.dev_ids, &args.test_ids) {
        (Some(train), Some(dev), Some(test)) => {
            let pick = |path: &Path| -> Result<Vec<&Row>> {
                let ids = read_id_list(path)?;
                Ok(all
                    .iter()
                    .copied()
                    .filter(|r| ids.contains(&r.id))
                    .collect())
            };
            (pick(train)?, pick(dev)?, pick(test)?)
        }
        _ => {
            let (rest, test) = stratified_split(&all, args.test_fraction, args.split_seed);
            let (train, dev) = stratified_split(&rest, args.dev_fraction, args.split_seed + 1);
            (train, dev, test)
        }
    };
    if train_all.len() < 2 || dev.is_empty() || test.is_empty() {
        bail!(
            "{}: {} training, {} development and {} test rows are too few for an experiment",
            args.file.display(),
            train_all.len(),
            dev.len(),
            test.len()
        );
    }
    let range = match args.range.or_else(|| table.observed_range()) {
        Some(r) if r.min < r.max => r,
        _ => bail!("every score is the same; give the scale with --range MIN:MAX"),
    };
    let test_human: Vec<i64> = test.iter().filter_map(|r| r.score).collect();
    progress.note(&format!(
        "{}: {} training rows, {} development, {} test, scores {range}",
        args.file.display(),
        train_all.len(),
        dev.len(),
        test.len()
    ));

    let plan = grid(&args);
    let mut base = None;
    let mut cells = Vec::new();
    let (mut reused, mut trained) = (0, 0);
    for (i, &(fraction, arm, temperature, seed)) in plan.iter().enumerate() {
        let path = cells_dir.join(format!(
            "{}.json",
            Cell::key(fraction, arm, temperature, seed)
        ));
        if let Some(cell) = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Cell>(&b).ok())
        {
            reused += 1;
            cells.push(cell);
            continue;
        }
        progress.note(&format!(
            "cell {} of {}: {:.0}% human, {arm}{}, seed {seed}",
            i + 1,
            plan.len(),
            fraction * 100.0,
            temperature.map_or(String::new(), |t| format!(" at temperature {t}"))
        ));
        if base.is_none() {
            base = Some(load_base(&args.student, progress)?);
        }
        let base = base.as_ref().expect("loaded");
        let start = Instant::now();
        let student = crate::cli::StudentArgs {
            seed,
            ..args.student.clone()
        };
        let human = sample_fraction(&train_all, fraction, seed)?;
        let mut teacher_dev_qwk = None;
        let mut teacher_test_qwk = None;
        let mut extra: Vec<(Row, f64)> = Vec::new();
        let labelled;
        let mut rows = TrainingRow::human(&human);
        match arm {
            Arm::None => {}
            Arm::Pool => {
                let pool = set_aside(&train_all, &human);
                labelled = LabelledPool::fit_and_label(
                    Some(base),
                    &human,
                    &dev,
                    &pool,
                    range,
                    &args.teacher,
                    &student,
                    progress,
                )?;
                teacher_dev_qwk = labelled.dev_qwk;
                let test_labels = labelled.teacher.label(Some(base), &test, progress)?;
                let (judged, levels): (Vec<i64>, Vec<i64>) = test_human
                    .iter()
                    .zip(&test_labels)
                    .filter_map(|(&h, label)| Some((h, label.as_ref().ok()?.level)))
                    .unzip();
                teacher_test_qwk = agreement(&judged, &levels, range).qwk;
                rows = labelled.training_rows(&human, args.teacher.teacher_weight);
            }
            Arm::Synthetic(ratio) => {
                let writer = synthetic::Writer::new(
                    &args.teacher.llm,
                    seed,
                    student.cache.as_deref(),
                    temperature.expect("synthetic cells have one"),
                    &human,
                    range,
                    progress,
                )?;
                let mut counts = BTreeMap::new();
                for r in &human {
                    *counts.entry(r.score.expect("scored")).or_insert(0) += 1;
                }
                let wanted = synthetic::plan(None, Some(ratio), &counts, range)?;
                let samples = synthetic::generate(
                    &writer,
                    &human,
                    &wanted,
                    args.filter == Some(SampleFilter::Consistent),
                    args.max_similarity,
                    args.teacher.llm.max_tokens,
                )?;
                extra = samples
                    .into_iter()
                    .filter(|s| s.dropped.is_none())
                    .map(|s| {
                        let row = Row {
                            id: s.id,
                            text: s.text,
                            score: None,
                            traits: Vec::new(),
                            groups: Vec::new(),
                            line: 0,
                        };
                        (row, s.level as f64)
                    })
                    .collect();
            }
        }
        rows.extend(extra.iter().map(|(row, target)| TrainingRow {
            row,
            target: *target,
            more: &[],
            weight: args.teacher.teacher_weight,
        }));
        let extra_rows = rows.len() - human.len();
        let outcome = fit_score_student(base, &rows, &dev, range, &student, progress)?;
        let test_levels: Vec<i64> = score_fitted(base, &outcome, &test, progress)?
            .iter()
            .map(|s| s.score)
            .collect();
        let cell = Cell {
            human_fraction: fraction,
            arm,
            temperature,
            seed,
            human_rows: human.len(),
            extra_rows,
            teacher_dev_qwk,
            teacher_test_qwk,
            dev_qwk: outcome.trained.dev_qwk(),
            test_qwk: agreement(&test_human, &test_levels, range).qwk,
            test_levels,
            seconds: start.elapsed().as_secs_f64(),
        };
        progress.note(&format!(
            "  test QWK {} ({} human + {} more rows), {:.0}s",
            format_kappa(cell.test_qwk),
            cell.human_rows,
            cell.extra_rows,
            cell.seconds
        ));
        write_atomically(&path, serde_json::to_string(&cell)?.as_bytes())?;
        trained += 1;
        cells.push(cell);
    }

    let summary = summarise(&cells, &test_human, range, args.bootstrap);
    let what = format!(
        "{} ({} test responses, {} development; student {}, seeds {:?})",
        args.file.display(),
        test.len(),
        dev.len(),
        args.student.tune,
        args.seeds
    );
    write_atomically(&args.out_dir.join("results.csv"), &csv_table(&cells)?)?;
    let markdown = markdown_table(&what, &summary);
    write_atomically(&args.out_dir.join("results.md"), markdown.as_bytes())?;
    write_atomically(
        &args.out_dir.join("learning-curve.svg"),
        learning_curve(&what, &summary).as_bytes(),
    )?;
    print!("{markdown}");
    println!(
        "{} cells: {trained} trained now, {reused} reused from {}; wrote results.csv, \
         results.md and learning-curve.svg there",
        cells.len(),
        cells_dir.display()
    );
    Ok(())
}

/// One line of the results: an arm at a fraction, over its seeds.
struct Line {
    fraction: f64,
    arm: Arm,
    temperature: Option<f64>,
    seeds: usize,
    mean_test_qwk: Option<f64>,
    /// The teacher's own test QWK, mean over seeds (pool arms).
    mean_teacher_test_qwk: Option<f64>,
    mean_extra_rows: f64,
    /// Against the human-only arm at the same fraction and seeds: the mean QWK difference
    /// and its paired bootstrap 95% interval.
    versus_none: Option<(f64, Option<Interval>)>,
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn summarise(cells: &[Cell], human: &[i64], range: ScoreRange, resamples: usize) -> Vec<Line> {
    let mut keys: Vec<(f64, Arm, Option<f64>)> = Vec::new();
    for c in cells {
        if !keys.contains(&(c.human_fraction, c.arm, c.temperature)) {
            keys.push((c.human_fraction, c.arm, c.temperature));
        }
    }
    keys.iter()
        .map(|&(fraction, arm, temperature)| {
            let mine: Vec<&Cell> = cells
                .iter()
                .filter(|c| {
                    (c.human_fraction, c.arm, c.temperature) == (fraction, arm, temperature)
                })
                .collect();
            // Pairs with the human-only cell of the same fraction and seed.
            let pairs: Vec<(&Cell, &Cell)> = mine
                .iter()
                .filter_map(|c| {
                    let none = cells.iter().find(|n| {
                        n.arm == Arm::None && n.human_fraction == fraction && n.seed == c.seed
                    })?;
                    Some((*c, none))
                })
                .collect();
            let versus_none = (arm != Arm::None && !pairs.is_empty()).then(|| {
                let qwk = |levels: &[i64], sample: &[usize]| {
                    let h: Vec<i64> = sample.iter().map(|&i| human[i]).collect();
                    let m: Vec<i64> = sample.iter().map(|&i| levels[i]).collect();
                    agreement(&h, &m, range).qwk
                };
                let difference = |sample: &[usize]| -> Option<f64> {
                    let mut total = 0.0;
                    for (cell, none) in &pairs {
                        total += qwk(&cell.test_levels, sample)? - qwk(&none.test_levels, sample)?;
                    }
                    Some(total / pairs.len() as f64)
                };
                let all: Vec<usize> = (0..human.len()).collect();
                (
                    difference(&all).unwrap_or(f64::NAN),
                    bootstrap(human.len(), resamples, 0x5eed, difference),
                )
            });
            Line {
                fraction,
                arm,
                temperature,
                seeds: mine.len(),
                mean_test_qwk: mean(mine.iter().filter_map(|c| c.test_qwk)),
                mean_teacher_test_qwk: mean(mine.iter().filter_map(|c| c.teacher_test_qwk)),
                mean_extra_rows: mean(mine.iter().map(|c| c.extra_rows as f64)).unwrap_or(0.0),
                versus_none,
            }
        })
        .collect()
}

fn csv_table(cells: &[Cell]) -> Result<Vec<u8>> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record([
        "human_fraction",
        "arm",
        "temperature",
        "seed",
        "human_rows",
        "extra_rows",
        "teacher_dev_qwk",
        "teacher_test_qwk",
        "dev_qwk",
        "test_qwk",
        "seconds",
    ])?;
    let number = |v: Option<f64>| v.map_or_else(String::new, |v| format!("{v:.4}"));
    for c in cells {
        writer.write_record([
            c.human_fraction.to_string(),
            c.arm.to_string(),
            c.temperature.map_or_else(String::new, |t| t.to_string()),
            c.seed.to_string(),
            c.human_rows.to_string(),
            c.extra_rows.to_string(),
            number(c.teacher_dev_qwk),
            number(c.teacher_test_qwk),
            number(c.dev_qwk),
            number(c.test_qwk),
            format!("{:.1}", c.seconds),
        ])?;
    }
    Ok(writer.into_inner()?)
}

fn arm_label(arm: Arm, temperature: Option<f64>) -> String {
    match (arm, temperature) {
        (Arm::Synthetic(r), Some(t)) => format!("synthetic {:.0}% at T={t}", r * 100.0),
        (Arm::Pool, _) => "teacher pool labels".into(),
        _ => "human only".into(),
    }
}

fn markdown_table(what: &str, lines: &[Line]) -> String {
    let mut out = format!(
        "Experiment on {what}. Test QWK is the mean over seeds; the difference from the \
         human-only arm at the same fraction and seeds has a paired bootstrap 95% interval; \
         the teacher's own test QWK is shown for pool arms.\n\n\
         | human | arm | seeds | extra rows | test QWK | Δ vs human only [95% CI] | teacher test QWK |\n\
         |---|---|---|---|---|---|---|\n"
    );
    for l in lines {
        let versus = match &l.versus_none {
            Some((d, Some(ci))) => format!("{d:+.3} [{:+.3}, {:+.3}]", ci.low, ci.high),
            Some((d, None)) => format!("{d:+.3}"),
            None => "-".into(),
        };
        let _ = writeln!(
            out,
            "| {:.0}% | {} | {} | {:.0} | {} | {versus} | {} |",
            l.fraction * 100.0,
            arm_label(l.arm, l.temperature),
            l.seeds,
            l.mean_extra_rows,
            format_kappa(l.mean_test_qwk),
            l.mean_teacher_test_qwk
                .map_or_else(|| "-".into(), |q| format!("{q:.3}")),
        );
    }
    out
}

/// Test QWK against the human fraction (log scale), one line per arm.
fn learning_curve(what: &str, lines: &[Line]) -> String {
    let (width, height, left, right, top, bottom) = (640.0, 400.0, 60.0, 190.0, 40.0, 50.0);
    let fractions: Vec<f64> = {
        let mut f: Vec<f64> = lines.iter().map(|l| l.fraction).collect();
        f.sort_by(f64::total_cmp);
        f.dedup();
        f
    };
    let qwks: Vec<f64> = lines.iter().filter_map(|l| l.mean_test_qwk).collect();
    let low = qwks.iter().copied().fold(1.0f64, f64::min).min(0.9);
    let low = (low * 10.0).floor() / 10.0;
    let (lx, hx) = (
        fractions.first().copied().unwrap_or(0.1).ln(),
        fractions.last().copied().unwrap_or(1.0).ln(),
    );
    let x = |f: f64| {
        if hx > lx {
            left + (f.ln() - lx) / (hx - lx) * (width - left - right)
        } else {
            left + (width - left - right) / 2.0
        }
    };
    let y = |q: f64| top + (1.0 - (q - low) / (1.0 - low)) * (height - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <title>Test QWK by human fraction: {}</title>\n\
         <rect class=\"background\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        escape(what)
    );
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"20\" font-size=\"14\">Test QWK by share of human scores</text>"
    );
    let mut tick = low;
    while tick <= 1.0001 {
        let _ = writeln!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{tick:.1}</text>",
            width - right,
            left - 6.0,
            y(tick) + 4.0,
            y = y(tick)
        );
        tick += 0.1;
    }
    for &f in &fractions {
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{:.0}%</text>",
            x(f),
            height - bottom + 18.0,
            f * 100.0
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">human-scored share of the training rows</text>",
        left + (width - left - right) / 2.0,
        height - 10.0
    );
    const COLOURS: [&str; 6] = [
        "#1b6ca8", "#d1495b", "#2e933c", "#edae49", "#6a4c93", "#555",
    ];
    let mut arms: Vec<(Arm, Option<f64>)> = Vec::new();
    for l in lines {
        if !arms.contains(&(l.arm, l.temperature)) {
            arms.push((l.arm, l.temperature));
        }
    }
    for (k, &(arm, temperature)) in arms.iter().enumerate() {
        let colour = COLOURS[k % COLOURS.len()];
        let mut points: Vec<(f64, f64)> = lines
            .iter()
            .filter(|l| (l.arm, l.temperature) == (arm, temperature))
            .filter_map(|l| Some((l.fraction, l.mean_test_qwk?)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        let path: Vec<String> = points
            .iter()
            .map(|&(f, q)| format!("{:.1},{:.1}", x(f), y(q)))
            .collect();
        let label = arm_label(arm, temperature);
        let _ = writeln!(
            svg,
            "<g data-arm=\"{}\"><polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
            escape(&label),
            path.join(" ")
        );
        for &(f, q) in &points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}: {:.0}% human, QWK {q:.3}</title></circle>",
                x(f),
                y(q),
                escape(&label),
                f * 100.0
            );
        }
        let ly = top + 16.0 * k as f64;
        let _ = writeln!(
            svg,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            width - right + 10.0,
            width - right + 30.0,
            width - right + 36.0,
            ly + 4.0,
            escape(&label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// An experiment's learning curve, read back from its output folder `dir` for a report.
pub struct LearningCurve {
    /// The folder.
    pub dir: PathBuf,
    /// The plot, as `experiment` drew it.
    pub svg: String,
}

/// Reads `dir/learning-curve.svg`, checking that it is the plot `experiment` writes.
pub fn read_learning_curve(dir: &Path) -> Result<LearningCurve> {
    let path = dir.join("learning-curve.svg");
    let svg = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (is {} a `cyborg experiment` output folder?)",
            path.display(),
            dir.display()
        )
    })?;
    if !svg.starts_with("<svg ") || !svg.contains("<title>Test QWK by human fraction") {
        bail!(
            "{} is not the learning curve `cyborg experiment` writes",
            path.display()
        );
    }
    Ok(LearningCurve {
        dir: dir.to_path_buf(),
        svg,
    })
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arms_parse_and_print_back() {
        for text in ["none", "pool", "synthetic:0.8"] {
            assert_eq!(text.parse::<Arm>().unwrap().to_string(), text);
        }
        assert!("synthetic:1".parse::<Arm>().is_err());
        assert!("teacher".parse::<Arm>().is_err());
    }

    #[test]
    fn an_arm_that_matches_human_only_differs_by_exactly_zero() {
        let human = vec![1, 2, 3, 4, 1, 2, 3, 4, 2, 3];
        let levels = vec![1, 2, 3, 3, 1, 2, 4, 4, 2, 3];
        let cell = |arm| Cell {
            human_fraction: 0.1,
            arm,
            temperature: None,
            seed: 1,
            human_rows: 10,
            extra_rows: 0,
            teacher_dev_qwk: None,
            teacher_test_qwk: None,
            dev_qwk: None,
            test_qwk: None,
            test_levels: levels.clone(),
            seconds: 0.0,
        };
        let range = ScoreRange { min: 1, max: 4 };
        let lines = summarise(&[cell(Arm::None), cell(Arm::Pool)], &human, range, 200);
        let (difference, interval) = lines[1].versus_none.as_ref().unwrap();
        assert_eq!(*difference, 0.0);
        let interval = interval.as_ref().unwrap();
        assert_eq!((interval.low, interval.high), (0.0, 0.0));
        assert!(lines[0].versus_none.is_none());
    }
}
