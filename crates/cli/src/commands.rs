//! Each command: its flags turned into one trainer-library request, the call, and the result
//! printed (text, or one JSON object with --json). Nothing here computes what the library
//! computes.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use cyborg_scorer::card::ModelCard;
use cyborg_scorer::fairness::{Gate, SMALL_GROUP};
use cyborg_scorer::metrics::Agreement;
use cyborg_scorer::traits::Scale;
use cyborg_scorer::{Precision, Products, Scorer};
use cyborg_trainer::data::{read_table, ReadSpec, Row};
use cyborg_trainer::evaluate::CALIBRATION_FOLDS;
use cyborg_trainer::format::{format_kappa, format_signed};
use cyborg_trainer::output::{check_outputs, write_atomically};
use cyborg_trainer::pipeline::{
    DataSummary, ExportRequest, GenerateRequest, LabelRequest, TrainRequest,
};
use cyborg_trainer::student::{load_bundle, score_rows};
use cyborg_trainer::{bench, experiment, report, trait_bench, EvalRequest, Evaluation, Progress};
use serde_json::json;

use crate::args::{
    BenchAsapArgs, BenchCommand, BenchEncodeArgs, BenchTraitsArgs, CheckArgs, Cli, Command,
    DataCommand, EvalArgs, ExperimentArgs, ExportArgs, InfoArgs, ScoreArgs, ServeArgs,
    TeachCommand, TeachGenerateArgs, TeachLabelArgs, TrainArgs,
};

/// Runs the command `cli` names, reporting progress through `progress`.
pub fn run(cli: Cli, progress: &Progress) -> Result<()> {
    match cli.command {
        Command::Data(DataCommand::Check(args)) => check(args),
        Command::Train(args) => train(args, progress),
        Command::Teach(TeachCommand::Label(args)) => teach_label(*args, progress),
        Command::Teach(TeachCommand::Generate(args)) => teach_generate(*args, progress),
        Command::Experiment(args) => run_experiment(args, progress),
        Command::Eval(args) => eval(args, progress),
        Command::Score(args) => score(args, progress),
        Command::Info(args) => info(args),
        Command::Export(args) => export(args),
        Command::Bench(BenchCommand::Encode(args)) => bench_encode(args, progress),
        Command::Bench(BenchCommand::Asap(args)) => bench_asap(*args, progress),
        Command::Bench(BenchCommand::Traits(args)) => bench_traits(*args, progress),
        Command::Serve(args) => serve(args),
    }
}

/// Borrowed paths, for [`check_outputs`].
fn paths<'a>(paths: impl IntoIterator<Item = &'a std::path::PathBuf>) -> Vec<&'a Path> {
    paths.into_iter().map(|p| p.as_path()).collect()
}

/// Prints `value` as one line of JSON.
fn print_json(value: &impl serde::Serialize) -> Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

fn check(args: CheckArgs) -> Result<()> {
    let request = cyborg_trainer::CheckRequest {
        data: args.data.config(),
        groups: args.groups,
        range: args.range,
        traits: args.traits,
    };
    let summary = cyborg_trainer::check_data(&args.file, &request)?;
    if args.json {
        return print_json(&summary);
    }
    print_summary(&summary);
    Ok(())
}

fn print_summary(summary: &DataSummary) {
    println!(
        "{}: {} rows kept of {} · columns: {}",
        summary.file,
        summary.rows,
        summary.rows_in_file,
        summary.columns.join(", ")
    );
    if let Some(range) = summary.score_range {
        println!("scores {range}:");
        let most = summary.score_counts.values().copied().max().unwrap_or(1);
        for (score, count) in &summary.score_counts {
            let bar = "#".repeat((40 * count).div_ceil(most));
            println!("  {score:>4} {count:>6}  {bar}");
        }
    }
    let words = &summary.words;
    println!(
        "words per response: min {}, median {}, mean {:.0}, max {}",
        words.min.unwrap_or(0),
        words.median,
        words.mean,
        words.max.unwrap_or(0)
    );
    for (name, counts) in &summary.groups {
        let parts: Vec<String> = counts.iter().map(|(v, n)| format!("{v} {n}")).collect();
        println!("group {name}: {}", parts.join(", "));
    }
    for t in &summary.traits {
        let read_as = match &t.scale {
            Scale::Levels(thresholds) => format!("levels {}", thresholds.range),
            Scale::Continuous { min, max } => format!("continuous, {min:.3} to {max:.3}"),
        };
        println!("trait {}: {read_as}, mean {:.3}", t.name, t.mean);
    }
}

fn train(args: TrainArgs, progress: &Progress) -> Result<()> {
    let outputs: Vec<&Path> = [Some(&args.out), args.labels_out.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| p.as_path())
        .collect();
    let inputs = [Some(&args.file), args.pool.as_ref()]
        .into_iter()
        .flatten()
        .chain(args.data.inputs())
        .chain(args.split.inputs());
    check_outputs(&outputs, &paths(inputs))?;
    let request = TrainRequest {
        file: args.file.clone(),
        data: args.data.config(),
        traits: args.traits.clone(),
        second_score: args.second_score.clone(),
        split: args.split.config(),
        pool: args.pool.clone(),
        teacher: args.teacher.config(),
        labels_out: args.labels_out.clone(),
        from_labels: args.from_labels,
        student: args.student.config(),
        weights: args.weights.into(),
    };
    let outcome = cyborg_trainer::train_bundle(&request, progress)?;
    write_atomically(&args.out, &outcome.bundle)?;
    let summary = &outcome.summary;
    if args.json {
        let mut value = serde_json::to_value(summary)?;
        value["out"] = json!(args.out.display().to_string());
        value["bundle_bytes"] = json!(outcome.bundle.len());
        return print_json(&value);
    }
    if let Some(line) = &outcome.teacher_line {
        println!("{line}");
    }
    println!(
        "wrote {} ({:.1} MB): dev QWK {} with fitted thresholds ({} with rounding), \
         best epoch {} of {}, {:.0}s",
        args.out.display(),
        outcome.bundle.len() as f64 / 1e6,
        format_kappa(summary.dev.qwk),
        format_kappa(summary.dev_rounding.qwk),
        summary.best_epoch,
        summary.history.len(),
        summary.seconds
    );
    for quality in &summary.dev_traits {
        println!("  trait {quality}");
    }
    Ok(())
}

fn label_request(args: &TeachLabelArgs) -> LabelRequest {
    LabelRequest {
        file: args.file.clone(),
        data: args.data.config(),
        split: args.split.config(),
        pool: args.pool.clone(),
        teacher: args.teacher.config(),
        student: args.student.config(),
        batch_read: args.batch_read.clone(),
    }
}

fn teach_label(args: TeachLabelArgs, progress: &Progress) -> Result<()> {
    let outputs: Vec<&Path> = [Some(&args.out), args.batch_write.as_ref()]
        .into_iter()
        .flatten()
        .map(|p| p.as_path())
        .collect();
    let inputs = [
        Some(&args.file),
        args.pool.as_ref(),
        args.batch_read.as_ref(),
    ]
    .into_iter()
    .flatten()
    .chain(args.data.inputs())
    .chain(args.split.inputs());
    check_outputs(&outputs, &paths(inputs))?;
    let request = label_request(&args);
    if let Some(path) = &args.batch_write {
        let (lines, cached) = cyborg_trainer::batch_requests(&request, progress)?;
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
    let labelled = cyborg_trainer::label_pool(&request, progress)?;
    write_atomically(&args.out, &labelled.csv)?;
    if args.json {
        return print_json(&json!({
            "out": args.out.display().to_string(),
            "human_rows": labelled.human_rows,
            "dev_rows": labelled.dev_rows,
            "teacher": labelled.pool.summary(),
        }));
    }
    println!("{}", labelled.pool.summary_line());
    println!(
        "wrote {}: {} human rows and {} teacher rows",
        args.out.display(),
        labelled.human_rows,
        labelled.pool.rows.len()
    );
    Ok(())
}

fn teach_generate(args: TeachGenerateArgs, progress: &Progress) -> Result<()> {
    let inputs = std::iter::once(&args.file).chain(args.data.inputs());
    check_outputs(&[&args.out], &paths(inputs))?;
    let request = GenerateRequest {
        file: args.file.clone(),
        data: args.data.config(),
        range: args.range,
        per_level: args.per_level,
        synthetic_ratio: args.synthetic_ratio,
        filter: args.filter.map(Into::into),
        max_similarity: args.max_similarity,
        llm: args.llm.config(),
        seed: args.seed,
        cache: args.cache.clone(),
    };
    let generated = cyborg_trainer::generate(&request, progress)?;
    write_atomically(&args.out, &generated.csv)?;
    let summary = &generated.summary;
    if args.json {
        let mut value = serde_json::to_value(summary)?;
        value["out"] = json!(args.out.display().to_string());
        return print_json(&value);
    }
    let spent = summary.usage.as_ref().map_or("run here".into(), |u| {
        format!(
            "{} tokens, ${:.4} at the given prices",
            u.prompt_tokens + u.completion_tokens,
            summary.cost_usd
        )
    });
    println!(
        "wrote {}: {} human rows, {} synthetic kept, {} dropped (reasons in its error \
         column); {spent}",
        args.out.display(),
        summary.human_rows,
        summary.kept,
        summary.dropped.len(),
    );
    Ok(())
}

fn run_experiment(args: ExperimentArgs, progress: &Progress) -> Result<()> {
    let ids = match (args.train_ids, args.dev_ids, args.test_ids) {
        (Some(train), Some(dev), Some(test)) => Some([train, dev, test]),
        _ => None,
    };
    let request = experiment::ExperimentRequest {
        file: args.file,
        data: args.data.config(),
        range: args.range,
        ids,
        test_fraction: args.test_fraction,
        dev_fraction: args.dev_fraction,
        split_seed: args.split_seed,
        fractions: args.fractions,
        arms: args.arms,
        seeds: args.seeds,
        temperatures: args.temperatures,
        filter: args.filter.map(Into::into),
        max_similarity: args.max_similarity,
        bootstrap: args.bootstrap,
        teacher: args.teacher.config(),
        student: args.student.config(),
        out_dir: args.out_dir,
    };
    let outcome = experiment::run(&request, progress)?;
    print!("{}", outcome.markdown);
    println!(
        "{} cells: {} trained now, {} reused from {}; wrote results.csv, results.md and \
         learning-curve.svg there",
        outcome.cells,
        outcome.trained,
        outcome.reused,
        outcome.cells_dir.display()
    );
    Ok(())
}

fn eval(args: EvalArgs, progress: &Progress) -> Result<()> {
    let outputs: Vec<&Path> = args
        .report
        .iter()
        .chain(&args.summary)
        .map(|p| p.as_path())
        .collect();
    let inputs = [&args.model, &args.file]
        .into_iter()
        .chain(&args.compare)
        .chain(&args.teacher_labels)
        .chain(&args.experiment)
        .chain(args.data.inputs());
    check_outputs(&outputs, &paths(inputs))?;
    let request = EvalRequest {
        model: args.model.clone(),
        file: args.file.clone(),
        data: args.data.config(),
        groups: args.groups.clone(),
        constrain: args.constrain.clone(),
        second_score: args.second_score.clone(),
        bootstrap: args.bootstrap,
        compare: args.compare.clone(),
        teacher_labels: args.teacher_labels.clone(),
        experiment: args.experiment.clone(),
    };
    let evaluated = cyborg_trainer::evaluate(&request, progress)?;
    if let Some(path) = &args.report {
        write_atomically(path, report::html_of(&args.model, &evaluated).as_bytes())?;
        progress.note(&format!("wrote {}", path.display()));
    }
    if let Some(path) = &args.summary {
        write_atomically(
            path,
            report::markdown_of(&args.model, &evaluated).as_bytes(),
        )?;
        progress.note(&format!("wrote {}", path.display()));
    }
    let result = &evaluated.evaluation;
    if args.json {
        return print_json(result);
    }
    print_agreement(&args.model, &evaluated.data_path, &result.agreement);
    println!("advisories: {}", report::advisories_text(result));
    print_fairness(result);
    for warning in &result.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

fn print_fairness(result: &Evaluation) {
    let na = format_kappa;
    if let Some(ci) = result.qwk_ci95 {
        println!(
            "QWK 95% bootstrap interval: {:.3} to {:.3}",
            ci.low, ci.high
        );
    }
    println!("Spearman r: {}", na(result.spearman));
    println!(
        "SMD (machine − human): {}",
        report::smd_text(result.smd, result.smd_human_sd)
    );
    println!(
        "raw scores (unrounded, trimmed to the range ± {}, as RSMTool): {}",
        cyborg_scorer::calibration::TRIM_TOLERANCE,
        report::raw_scores_text(&result.raw_scores)
    );
    if let Some(c) = &result.comparison {
        println!("against {}: {}", c.model, report::comparison_text(c));
    }
    if let Some(t) = &result.teacher {
        println!("teacher ({}): {}", t.file, report::teacher_text(t));
    }
    print_traits(result);
    print_calibration(result);
    if let Some(c) = &result.smd_constrained {
        println!("{}", report::smd_constrained_text(c));
    }
    if let Some(hh) = &result.human_human {
        println!(
            "human-human (n = {}): QWK {}, exact {:.3}",
            hh.n,
            na(hh.qwk),
            hh.exact
        );
    }
    print_groups(result);
    println!("operational gates (Williamson, Xi & Breyer 2012):");
    print_gates(&result.gates, "  ");
}

/// Each trait's agreement, as a table.
fn print_traits(result: &Evaluation) {
    if result.traits.is_empty() {
        return;
    }
    let [name, n, qwk, exact, rmse, pearson] = report::TRAIT_HEADINGS;
    println!("{name:<20} {n:>6} {qwk:>9} {exact:>6} {rmse:>7} {pearson:>9}");
    for t in &result.traits {
        let [name, n, qwk, exact, rmse, pearson] = report::trait_cells(t);
        println!("{name:<20} {n:>6} {qwk:>9} {exact:>6} {rmse:>7} {pearson:>9}");
    }
    println!("{}", report::traits_note(result.mcrmse));
}

/// The calibrations compared out-of-fold, a line each.
fn print_calibration(result: &Evaluation) {
    if result.calibration.is_empty() {
        return;
    }
    println!("calibration, fitted out-of-fold ({CALIBRATION_FOLDS} folds) on these responses:");
    for row in &result.calibration {
        let [method, qwk, exact, adjacent, smd] = report::calibration_cells(row);
        println!("  {method:<24} QWK {qwk}  exact {exact}  adjacent {adjacent}  SMD {smd}");
    }
}

/// Each subgroup's means, SMD, DSM and QWK, as a table.
fn print_groups(result: &Evaluation) {
    if result.groups.is_empty() {
        return;
    }
    let (na, signed) = (format_kappa, format_signed);
    println!("subgroups (SMD over the overall pooled SD; * fewer than {SMALL_GROUP} responses):");
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
    let na = format_kappa;
    println!(
        "{} on {} (n = {}, scores {})",
        model.display(),
        data.display(),
        a.n,
        a.range
    );
    println!("  QWK            {}", na(a.qwk));
    println!("  kappa          {}", na(a.kappa));
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
        check_outputs(&[out], &paths([&args.model, &args.file]))?;
    }
    let products = if args.int8_products {
        Products::Integer
    } else {
        Products::Restored
    };
    let scorer = load_bundle(&args.model, products)?;
    let rows = match &args.text {
        Some(text) => {
            let spec = ReadSpec {
                format: args.format.map(Into::into),
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

fn serve(args: ServeArgs) -> Result<()> {
    let server = cyborg_server::Server::bind(&args.config())?;
    let url = format!("http://{}/", server.addr);
    let mut lines = vec![
        format!(
            "serving {url} (the app from {}, data in {})",
            args.dist.display(),
            args.data_dir.display()
        ),
        format!("train in the browser: {url}#train"),
    ];
    if !args.dist.join("index.html").is_file() {
        lines.push(format!(
            "note: {} has no index.html: build the app with `trunk build --release`",
            args.dist.display()
        ));
    }
    if let Some(dir) = &args.teacher_base {
        lines.push(format!(
            "local teachers' students start from {}",
            dir.display()
        ));
    }
    if let Some(token) = &server.new_token {
        lines.push(format!(
            "write token (shown this once; kept in {}): {token}",
            args.data_dir.join("token").display()
        ));
    }
    // The first line is the address (tests and scripts read it). A reader that stops reading
    // must not stop the server, and every line is also in the data folder or the address.
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        if writeln!(stdout, "{line}")
            .and_then(|()| stdout.flush())
            .is_err()
        {
            break;
        }
    }
    drop(stdout);
    server.run()
}

fn export(args: ExportArgs) -> Result<()> {
    check_outputs(&[&args.out], &paths([&args.model]))?;
    let request = ExportRequest {
        model: args.model.clone(),
        weights: args.weights.into(),
    };
    let exported = cyborg_trainer::export_bundle(&request)?;
    write_atomically(&args.out, &exported.bundle)?;
    eprintln!(
        "wrote {} ({:.1} MB, weights {} from {})",
        args.out.display(),
        exported.bundle.len() as f64 / 1e6,
        exported.to,
        exported.from
    );
    if let Some(note) = exported.rounding_note() {
        eprintln!("note: {note}");
    }
    Ok(())
}

fn info(args: InfoArgs) -> Result<()> {
    let scorer = load_bundle(&args.model, Products::Restored)?;
    let card = scorer.card.as_ref().expect("bundles carry a card");
    let bytes = std::fs::metadata(&args.model)?.len();
    if args.json {
        let mut value = serde_json::to_value(card)?;
        value["weights"] = json!(scorer.precision);
        value["bundle_bytes"] = json!(bytes);
        value["lexical_buckets"] = json!(scorer.head.config().lexical_buckets);
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    println!("{}", args.model.display());
    for (label, value) in info_rows(&scorer, card, bytes)? {
        println!("  {label:<15}{value}");
    }
    if !card.dev_metrics.gates.is_empty() {
        println!("  dev gates");
        print_gates(&card.dev_metrics.gates, "                 ");
    }
    match &scorer.screen {
        Some(screen) => println!("  screen         {screen}"),
        None => println!("  screen         none (made before screening: flags by length only)"),
    }
    Ok(())
}

/// `info`'s labelled lines about a bundle: where it came from, what it scores and how it was
/// trained, with its development agreement.
fn info_rows(scorer: &Scorer, card: &ModelCard, bytes: u64) -> Result<Vec<(&'static str, String)>> {
    let rounded_note = match scorer.precision {
        Precision::F32 => "",
        _ => " (the dev metrics below were measured before rounding)",
    };
    let lexical = match scorer.head.lexical() {
        Some(block) => format!(
            "{} buckets of words and word pairs, {} with a weight",
            block.buckets(),
            block.weighted_buckets()?
        ),
        None => "none".into(),
    };
    let mut rows = vec![
        (
            "created",
            format!("{} by cyborg {}", card.created, card.cyborg_version),
        ),
        (
            "base model",
            format!(
                "{} (weights sha256 {}…)",
                card.base_model.name,
                &card.base_model.weights_sha256[..12]
            ),
        ),
        ("scores", scorer.range()?.to_string()),
        (
            "weights",
            format!(
                "{}, bundle {:.1} MB{rounded_note}",
                scorer.precision,
                bytes as f64 / 1e6
            ),
        ),
        ("lexical block", lexical),
    ];
    for config in &scorer.traits[1..] {
        rows.push(("trait", format!("{}: {}", config.name, config.scale)));
    }
    rows.extend(training_rows(card));
    Ok(rows)
}

/// What `info` says of how a model was trained: on what data, with what settings, and how it
/// did on its development rows.
fn training_rows(card: &ModelCard) -> Vec<(&'static str, String)> {
    let (d, t) = (&card.data, &card.training);
    let filters = if d.filters.is_empty() {
        String::new()
    } else {
        format!(", where {}", d.filters.join(", "))
    };
    let second = d
        .second_score_column
        .as_ref()
        .map_or(String::new(), |c| format!(", trained on its mean with {c}"));
    let dev = &card.dev_metrics;
    let mut rows = vec![
        (
            "data",
            format!(
                "{} ({} → {}{second}{filters}), {} training + {} development rows, human \
                 fraction {}",
                d.file, d.text_column, d.score_column, d.train_rows, d.dev_rows, d.human_fraction
            ),
        ),
        (
            "training",
            format!(
                "tune {}, best epoch {} of {}, lr {} (head {}), batch {}, seed {}, cut points {}, \
             {:.0}s",
                t.tune,
                t.best_epoch,
                t.epochs_run,
                t.learning_rate,
                t.head_learning_rate,
                t.batch_size,
                t.seed,
                t.cut_points,
                t.wall_seconds
            ),
        ),
        (
            "dev QWK",
            format!(
                "{} with fitted thresholds, {} with rounding (n = {})",
                format_kappa(dev.fitted_thresholds.qwk),
                format_kappa(dev.rounding.qwk),
                dev.fitted_thresholds.n
            ),
        ),
    ];
    rows.extend(
        dev.traits
            .iter()
            .map(|quality| ("trait", quality.to_string())),
    );
    rows
}

fn bench_encode(args: BenchEncodeArgs, progress: &Progress) -> Result<()> {
    let request = bench::EncodeBenchRequest {
        data: args.data,
        text: args.text,
        texts: args.texts,
        base: args.base,
        precisions: args.weights.into_iter().map(Precision::from).collect(),
    };
    let result = bench::encode(&request, progress)?;
    if args.json {
        return print_json(&result);
    }
    print!("{}", result.markdown());
    Ok(())
}

fn bench_asap(args: BenchAsapArgs, progress: &Progress) -> Result<()> {
    if let Some(out) = &args.out {
        check_outputs(&[out], &[])?;
    }
    let request = bench::AsapBenchRequest {
        asap: args.asap,
        folds: args.folds,
        prompts: args.prompts,
        fractions: args.fractions,
        teacher: args.teacher.config(),
        student: args.student.config(),
        cells: args.cells,
    };
    let result = bench::asap(&request, progress)?;
    print_table(&result, &result.table, args.out.as_deref(), args.json)
}

fn bench_traits(args: BenchTraitsArgs, progress: &Progress) -> Result<()> {
    if let Some(out) = &args.out {
        check_outputs(&[out], &[&args.data])?;
    }
    let request = trait_bench::TraitBenchRequest {
        corpus: args.corpus.into(),
        data: args.data,
        fold: args.fold,
        test_fraction: args.test_fraction,
        dev_fraction: args.dev_fraction,
        student: args.student.config(),
    };
    let result = trait_bench::traits(&request, progress)?;
    print_table(&result, &result.table, args.out.as_deref(), args.json)
}

/// A benchmark's Markdown `table`, also written to `out`; with `json`, its `result` instead.
fn print_table(
    result: &impl serde::Serialize,
    table: &str,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    if let Some(out) = out {
        write_atomically(out, table.as_bytes())?;
    }
    if json {
        return print_json(result);
    }
    print!("{table}");
    Ok(())
}
